#!/usr/bin/env bash
# Durable SMTP acceptance, madoguchi against Postfix, on this machine, both loaded by Postfix's
# own smtp-source. Postfix answers 250 once the message is safely in its queue; madoguchi once
# the ticket is committed. Postfix then discards the mail (default_transport = discard), so only
# acceptance is measured. Run as root: it installs and (re)configures the machine's Postfix.
#
#   bash benches/postfix-compare.sh          # MSGS=5000 SESSIONS=32 SIZE=5120 ROUNDS=3 by default
#   BASELINE=/path/to/older/madoguchi bash benches/postfix-compare.sh   # before/after, interleaved
#
# The rounds interleave the servers, so that a noisy machine (a VM's neighbours) affects them alike.
set -euo pipefail
cd "$(dirname "$0")/.."
MSGS="${MSGS:-5000}"
SESSIONS="${SESSIONS:-32}"
SIZE="${SIZE:-5120}"
ROUNDS="${ROUNDS:-3}"
BASELINE="${BASELINE:-}"
PF_PORT=2526
MG_PORT=2527

command -v postfix >/dev/null || { apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix; }

postconf -e inet_interfaces=loopback-only mydestination=example.jp default_transport=discard \
  local_transport=discard "smtpd_recipient_restrictions=permit_mynetworks,reject" \
  maillog_file=/var/log/postfix-bench.log local_recipient_maps=
postconf -M "${PF_PORT}/inet=${PF_PORT} inet n - n - - smtpd"
postfix stop >/dev/null 2>&1 || true
postfix start >/dev/null 2>&1
cargo build --release --quiet
trap 'postfix stop >/dev/null 2>&1 || true' EXIT

# One run of smtp-source against 127.0.0.1:$2; prints a line named $1.
load() {
  local name=$1 port=$2 start end
  start=$(date +%s.%N)
  smtp-source -s "$SESSIONS" -m "$MSGS" -l "$SIZE" -f sender@example.go.jp -t helpdesk@example.jp "127.0.0.1:${port}"
  end=$(date +%s.%N)
  awk -v n="$MSGS" -v s="$start" -v e="$end" -v name="$name" -v size="$SIZE" -v sessions="$SESSIONS" \
    'BEGIN { printf "%-10s %d messages of %d bytes over %d sessions in %.2f s = %.0f messages/s\n", name, n, size, sessions, e - s, n / (e - s) }'
}

# A fresh madoguchi (binary $2, empty data directory) loaded once.
madoguchi() {
  local name=$1 binary=$2 work pid
  work=$(mktemp -d)
  MADOGUCHI_DATA_DIR="$work" MADOGUCHI_HTTP_LISTEN=127.0.0.1:0 MADOGUCHI_MAIL_LISTEN="127.0.0.1:${MG_PORT}" \
    MADOGUCHI_MAIL_ACKNOWLEDGE=false RUST_LOG=warn "$binary" serve >"$work/log" 2>&1 &
  pid=$!
  for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/${MG_PORT}") 2>/dev/null && break; sleep 0.1; done
  load "$name" "$MG_PORT"
  kill "$pid"; wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}

for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/${PF_PORT}") 2>/dev/null && break; sleep 0.1; done
for round in $(seq "$ROUNDS"); do
  echo "round $round"
  load postfix "$PF_PORT"
  [ -n "$BASELINE" ] && madoguchi baseline "$BASELINE"
  madoguchi madoguchi ./target/release/madoguchi
done
