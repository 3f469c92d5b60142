#!/usr/bin/env bash
# Telephony load with sipp (Debian's sip-tester) as the callers: CALLS calls at RATE calls/s,
# at most CALLS at once, each held HOLD seconds hearing a long announcement, then BYE. Prints
# sipp's count of successful and failed calls and madoguchi's CPU time and peak memory.
# (RTP pacing is measured at the receivers by `cargo bench --bench sip_load`.)
#
#   bash benches/sip-load-sipp.sh            # CALLS=1000 RATE=200 HOLD=30
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS="${CALLS:-1000}"
RATE="${RATE:-200}"
HOLD="${HOLD:-30}"
PORT="${PORT:-25060}"
command -v sipp >/dev/null && command -v sox >/dev/null || {
  apt-get update -qq; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester sox; }
ulimit -n 65536 2>/dev/null || true

work=$(mktemp -d)
mkdir -p "$work/dialplans" "$work/prompts" "$work/data"
for p in menu invalid transfer closed holiday voicemail goodbye; do
  sox -n -r 8000 -c 1 -b 16 "$work/prompts/$p.wav" synth 0.3 sine 600
done
sox -n -r 8000 -c 1 -b 16 "$work/prompts/welcome.wav" synth $((HOLD + 30)) sine 440
sed -e 's/^days = .*/days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]/' \
    -e 's/^open = "08:30"/open = "00:00"/' -e 's/^close = "17:15"/close = "23:59"/' \
    -e 's/^public_holidays = true/public_holidays = false/' -e 's/^year_end = true/year_end = false/' \
    dialplans/helpdesk.toml > "$work/dialplans/helpdesk.toml"

cargo build --release --quiet
MADOGUCHI_DATA_DIR="$work/data" MADOGUCHI_HTTP_LISTEN=127.0.0.1:0 MADOGUCHI_MAIL_LISTEN=127.0.0.1:0 \
  MADOGUCHI_SIP_LISTEN="127.0.0.1:${PORT}" MADOGUCHI_SIP_DIALPLANS="$work/dialplans" \
  MADOGUCHI_SIP_PROMPTS="$work/prompts" RUST_LOG=warn ./target/release/madoguchi serve >"$work/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 50); do (echo > "/dev/tcp/127.0.0.1/${PORT}") 2>/dev/null && break; sleep 0.1; done

cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
before=$(cpu)
start=$(date +%s.%N)
sipp -sn uac -s 0120000111 -d $((HOLD * 1000)) -r "$RATE" -m "$CALLS" -l "$CALLS" -i 127.0.0.1 \
  -nostdin -timeout $((HOLD + 120))s -trace_stat -stf "$work/stat.csv" "127.0.0.1:${PORT}" >"$work/sipp.out" 2>&1 || true
end=$(date +%s.%N)
after=$(cpu)
summary=$(tail -1 "$work/stat.csv")
header=$(head -1 "$work/stat.csv")
col() { echo "$header" | tr ';' '\n' | grep -nx "$1" | head -1 | cut -d: -f1; }
ok=$(echo "$summary" | cut -d';' -f"$(col SuccessfulCall\(C\))")
failed=$(echo "$summary" | cut -d';' -f"$(col FailedCall\(C\))")
echo "sipp: $CALLS calls offered at $RATE/s, held ${HOLD} s: $ok successful, $failed failed"
awk -v b="$before" -v a="$after" -v s="$start" -v e="$end" \
  'BEGIN { printf "madoguchi: %.1f CPU-seconds over %.1f s (%.0f%% of one core)\n", (a-b)/100, e-s, (a-b)/100/(e-s)*100 }'
grep VmHWM "/proc/$pid/status" | awk '{ printf "madoguchi peak RSS: %.1f MB\n", $2/1024 }'
