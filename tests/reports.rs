//! Periodic reports over a known data set, on SQLite and PostgreSQL: every figure worked out by
//! hand below (JST throughout). The data is written with SQL at chosen times, since the API
//! stamps tickets and history with the time of the request. Then the scheduled mail: nothing
//! before 07:30, the daily report once however many ticks and services, the monthly one on the
//! month's first business day, received by a real SMTP socket.

mod common;

use chrono::TimeZone;
use common::{Db, TestDb, authorised, grant};
use madoguchi::config::{ClockTime, ReportSettings};
use madoguchi::domain::user::Role;
use madoguchi::reports::{self, Format, Period, PeriodKind, schedule};
use madoguchi::store::Store;
use serde_json::{Value, json};
use sqlx::AnyPool;
use std::time::Duration;

const MIN: i64 = 60_000;

/// A JST wall-clock time as UTC milliseconds.
fn jst(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> i64 {
    madoguchi::domain::time::jst().with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap().timestamp_millis()
}

fn day(s: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
}

/// Rows written straight into the incident database, at chosen times.
struct Fixture {
    pool: AnyPool,
    seq: i64,
}

impl Fixture {
    async fn open(url: &str) -> (Store, Fixture) {
        let store = Store::connect(url, 4).await.unwrap();
        store.migrate().await.unwrap();
        let pool = sqlx::any::AnyPoolOptions::new().max_connections(2).connect(url).await.unwrap();
        (store, Fixture { pool, seq: 0 })
    }

    async fn ticket(&mut self, channel: &str, category: &str, tier: i64, status: &str, created: i64) -> i64 {
        self.seq += 1;
        sqlx::query_scalar(
            "INSERT INTO tickets (number, subject, channel, category, priority, tier, status, contact_count, \
             created_at, updated_at, search_text) VALUES ($1, '件名', $2, $3, 'normal', $4, $5, 1, $6, $6, '') RETURNING id",
        )
        .bind(format!("20990101-{:04}", self.seq))
        .bind(channel)
        .bind(category)
        .bind(tier)
        .bind(status)
        .bind(created)
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }

    async fn contact(&self, ticket: i64, channel: &str, at: i64, actor: &str, source_ref: Option<&str>) {
        sqlx::query(
            "INSERT INTO contacts (ticket_id, channel, received_at, recorded_at, body, caller_number, display_name, \
             actor, source_ref) VALUES ($1, $2, $3, $3, 'アカウントがロックされました', '03-1234-5678', '山田 太郎', $4, $5)",
        )
        .bind(ticket)
        .bind(channel)
        .bind(at)
        .bind(actor)
        .bind(source_ref)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    async fn history(&self, ticket: i64, at: i64, actor: &str, action: &str, detail: Value) {
        sqlx::query("INSERT INTO history (ticket_id, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5)")
            .bind(ticket)
            .bind(at)
            .bind(actor)
            .bind(action)
            .bind(detail.to_string())
            .execute(&self.pool)
            .await
            .unwrap();
    }

    async fn moved(&self, ticket: i64, at: i64, actor: &str, to: &str) {
        self.history(ticket, at, actor, "status_changed", json!({"from": "new", "to": to})).await;
    }

    async fn clock(&self, ticket: i64, kind: &str, state: &str, ended: i64) {
        sqlx::query(
            "INSERT INTO sla_clocks (ticket_id, kind, policy, state, target_ms, ended_at, breached_at) \
             VALUES ($1, $2, 'standard', $3, 7200000, $4, $5)",
        )
        .bind(ticket)
        .bind(kind)
        .bind(state)
        .bind(ended)
        .bind((state == "breached").then_some(ended))
        .execute(&self.pool)
        .await
        .unwrap();
    }

    async fn callback(&self, ticket: i64, call: &str, reason: &str, created: i64, closed: Option<i64>) {
        sqlx::query(
            "INSERT INTO callbacks (ticket_id, tier, call_id, caller_number, reason, state, created_at, closed_at) \
             VALUES ($1, 1, $2, '03-1234-5678', $3, $4, $5, $6)",
        )
        .bind(ticket)
        .bind(call)
        .bind(reason)
        .bind(if closed.is_some() { "done" } else { "open" })
        .bind(created)
        .bind(closed)
        .execute(&self.pool)
        .await
        .unwrap();
    }

    /// November 2026 around Friday the 20th and Saturday the 21st, and December 2026 with the
    /// year-end closure; every figure the tests expect is worked out in their comments.
    async fn seed(&mut self) {
        // Older tickets, for the backlog's ages (and the weekly report).
        let t0a = self.ticket("phone", "account_unlock", 1, "in_progress", jst(2026, 11, 18, 10, 0)).await;
        self.contact(t0a, "phone", jst(2026, 11, 18, 10, 0), "sip", Some("call-0a")).await;
        self.moved(t0a, jst(2026, 11, 18, 10, 30), "sato", "in_progress").await;
        let t0b = self.ticket("email", "fault_report", 2, "escalated", jst(2026, 11, 10, 9, 0)).await;
        self.contact(t0b, "email", jst(2026, 11, 10, 9, 0), "mail", None).await;
        self.moved(t0b, jst(2026, 11, 10, 9, 30), "sato", "escalated").await;
        let t0c = self.ticket("email", "password_reset", 1, "resolved", jst(2026, 11, 16, 9, 0)).await;
        self.contact(t0c, "email", jst(2026, 11, 16, 9, 0), "mail", None).await;
        self.moved(t0c, jst(2026, 11, 21, 10, 0), "sato", "resolved").await;
        let t0d = self.ticket("email", "password_reset", 1, "closed", jst(2026, 11, 12, 9, 0)).await;
        self.contact(t0d, "email", jst(2026, 11, 12, 9, 0), "mail", None).await;
        self.moved(t0d, jst(2026, 11, 19, 9, 0), "sato", "resolved").await;
        self.moved(t0d, jst(2026, 11, 19, 9, 5), "sato", "closed").await;

        // T1: a call at 09:00 transferred, worked at 09:10, resolved at 10:00; a mail joins at 17:45.
        let t1 = self.ticket("phone", "account_unlock", 1, "resolved", jst(2026, 11, 20, 9, 0)).await;
        self.contact(t1, "phone", jst(2026, 11, 20, 9, 0), "sip", Some("call-1")).await;
        self.history(t1, jst(2026, 11, 20, 9, 0), "sip", "created", json!({"channel": "phone"})).await;
        self.history(t1, jst(2026, 11, 20, 9, 2), "routing", "category_changed", json!({"to": "x"})).await;
        self.history(t1, jst(2026, 11, 20, 9, 5), "ivr", "call_ended", json!({"ending": "transferred"})).await;
        self.history(t1, jst(2026, 11, 20, 9, 10), "sato", "note_added", json!({"note": "確認"})).await;
        self.moved(t1, jst(2026, 11, 20, 9, 10), "sato", "in_progress").await;
        self.moved(t1, jst(2026, 11, 20, 10, 0), "sato", "resolved").await;
        self.contact(t1, "email", jst(2026, 11, 20, 17, 45), "mail", None).await;
        self.clock(t1, "first_response", "met", jst(2026, 11, 20, 9, 10)).await;
        self.clock(t1, "resolution", "met", jst(2026, 11, 20, 10, 0)).await;

        // T2: a mail at 10:30, replied to at 11:00, resolved at 13:30.
        let t2 = self.ticket("email", "password_reset", 1, "resolved", jst(2026, 11, 20, 10, 30)).await;
        self.contact(t2, "email", jst(2026, 11, 20, 10, 30), "mail", None).await;
        self.history(t2, jst(2026, 11, 20, 11, 0), "suzuki", "reply_sent", json!({"to": "a@example.go.jp"})).await;
        self.moved(t2, jst(2026, 11, 20, 13, 30), "suzuki", "resolved").await;
        self.clock(t2, "first_response", "met", jst(2026, 11, 20, 11, 0)).await;
        self.clock(t2, "resolution", "met", jst(2026, 11, 20, 13, 30)).await;

        // T3: a fax at 13:00 (tier 2): warned, then escalated by the SLA at 15:00, noted at 16:00.
        let t3 = self.ticket("fax", "fault_report", 2, "escalated", jst(2026, 11, 20, 13, 0)).await;
        self.contact(t3, "fax", jst(2026, 11, 20, 13, 0), "mail", None).await;
        let warning =
            json!({"group": "helpdesk", "group_name": "ヘルプデスク", "reason": "sla_warning:first_response"});
        self.history(t3, jst(2026, 11, 20, 14, 30), "sla", "relay", warning).await;
        let breach = json!({"group": "operations", "group_name": "運用担当", "reason": "sla_breach:first_response"});
        self.history(t3, jst(2026, 11, 20, 15, 0), "sla", "relay", breach).await;
        self.moved(t3, jst(2026, 11, 20, 15, 0), "sla", "escalated").await;
        self.history(t3, jst(2026, 11, 20, 16, 0), "tanaka", "note_added", json!({"note": "調査中"})).await;
        self.clock(t3, "first_response", "breached", jst(2026, 11, 20, 15, 0)).await;

        // An operator relays the old T0a to a vendor at 16:30.
        let relay = json!({"group": "app_vendor", "group_name": "アプリケーション保守業者", "reason": "調査依頼"});
        self.history(t0a, jst(2026, 11, 20, 16, 30), "sato", "relay", relay).await;

        // T4: logged by hand at 23:30 JST (14:30 UTC): the 20th in Japan, untouched since.
        let t4 = self.ticket("manual", "account_unlock", 1, "new", jst(2026, 11, 20, 23, 30)).await;
        self.contact(t4, "manual", jst(2026, 11, 20, 23, 30), "sato", None).await;
        self.history(t4, jst(2026, 11, 20, 23, 30), "sato", "created", json!({"channel": "manual"})).await;

        // T5: a call at 20:00 out of hours leaves a voicemail (its recording is no contact of its
        // own) and a callback task, done the next morning when the ticket is resolved.
        let t5 = self.ticket("phone", "how_to", 1, "resolved", jst(2026, 11, 20, 20, 0)).await;
        self.contact(t5, "phone", jst(2026, 11, 20, 20, 0), "sip", Some("call-5")).await;
        self.contact(t5, "phone", jst(2026, 11, 20, 20, 1), "ivr", Some("call-5#voicemail")).await;
        self.history(t5, jst(2026, 11, 20, 20, 5), "ivr", "call_ended", json!({"ending": "voicemail"})).await;
        self.callback(t5, "call-5", "voicemail", jst(2026, 11, 20, 20, 2), Some(jst(2026, 11, 21, 9, 30))).await;
        self.moved(t5, jst(2026, 11, 21, 9, 35), "sato", "resolved").await;

        // T6: a call at 12:15 hung up in the menu: abandoned, its callback still open.
        let t6 = self.ticket("phone", "account_unlock", 1, "new", jst(2026, 11, 20, 12, 15)).await;
        self.contact(t6, "phone", jst(2026, 11, 20, 12, 15), "sip", Some("call-6")).await;
        self.history(t6, jst(2026, 11, 20, 12, 16), "ivr", "call_ended", json!({"ending": "caller hung up"})).await;
        self.callback(t6, "call-6", "abandoned", jst(2026, 11, 20, 12, 16), None).await;

        // T7: a call at 00:30 JST on the 21st (15:30 UTC on the 20th): the 21st in Japan.
        let t7 = self.ticket("phone", "password_reset", 1, "new", jst(2026, 11, 21, 0, 30)).await;
        self.contact(t7, "phone", jst(2026, 11, 21, 0, 30), "sip", Some("call-7")).await;
        self.history(t7, jst(2026, 11, 21, 0, 31), "ivr", "call_ended", json!({"ending": "transferred"})).await;

        // December 2026: D1–D5, first responses 5, 10, 20, 40, 120 min; resolutions of D1–D4
        // 60, 90, 150, 600 min. D6 is logged at 00:00 on 1 January: January's.
        let december = [
            ("phone", jst(2026, 12, 1, 9, 0), 5, Some(60)),
            ("email", jst(2026, 12, 15, 14, 0), 10, Some(90)),
            ("email", jst(2026, 12, 28, 17, 0), 40, Some(150)),
            ("phone", jst(2026, 12, 29, 10, 0), 120, Some(600)),
            ("fax", jst(2026, 12, 31, 23, 59), 20, None),
        ];
        let mut d2 = 0;
        for (i, (channel, at, response, resolution)) in december.into_iter().enumerate() {
            let status = if resolution.is_some() { "resolved" } else { "in_progress" };
            let t = self.ticket(channel, "account_unlock", 1, status, at).await;
            self.contact(t, channel, at, "mail", None).await;
            self.history(t, at + response * MIN, "kato", "note_added", json!({"note": "対応"})).await;
            if let Some(r) = resolution {
                self.moved(t, at + r * MIN, "kato", "resolved").await;
            }
            if i == 1 {
                d2 = t;
            }
        }
        self.contact(d2, "email", jst(2026, 12, 16, 9, 0), "mail", None).await;
        let d6 = self.ticket("manual", "account_unlock", 1, "new", jst(2027, 1, 1, 0, 0)).await;
        self.contact(d6, "manual", jst(2027, 1, 1, 0, 0), "kato", None).await;
    }
}

fn counts(v: &Value) -> Vec<(String, i64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"].as_str().unwrap().to_owned(), c["count"].as_i64().unwrap()))
        .collect()
}

fn pairs(items: &[(&str, i64)]) -> Vec<(String, i64)> {
    items.iter().map(|(k, n)| (k.to_string(), *n)).collect()
}

async fn figures(store: &Store, period: Period) -> Value {
    let r = reports::compute(store, &period, jst(2026, 11, 22, 12, 0)).await.unwrap();
    serde_json::to_value(&r).unwrap()
}

async fn the_figures_of_a_known_data_set(db: Db) {
    let Some(db) = TestDb::new(db, "reports_figures").await else { return };
    let (store, mut f) = Fixture::open(&db.url).await;
    f.seed().await;

    let r = figures(&store, Period::day(day("2026-11-20"))).await;
    assert_eq!(r["period"]["start"], "2026-11-20T00:00:00+09:00");
    assert_eq!(r["period"]["end"], "2026-11-21T00:00:00+09:00");
    assert_eq!(r["business_days"], 1, "a Friday");
    // Contacts on the 20th (JST): T1 phone 09:00 and mail 17:45, T2 mail 10:30, T3 fax 13:00,
    // T6 phone 12:15, T5 phone 20:00 (its voicemail recording is not a contact), T4 by hand
    // 23:30 (14:30 UTC) = 7. T7 at 00:30 on the 21st (15:30 UTC on the 20th) is not.
    let c = &r["contacts"];
    assert_eq!(c["total"], 7, "{r}");
    assert_eq!(counts(&c["by_channel"]), pairs(&[("phone", 3), ("email", 2), ("fax", 1), ("manual", 1)]));
    // Categories are the tickets': account_unlock T1 ×2, T4, T6 = 4; then one each, by name.
    assert_eq!(
        counts(&c["by_category"]),
        pairs(&[("account_unlock", 4), ("fault_report", 1), ("how_to", 1), ("password_reset", 1)])
    );
    // Tier 2 is T3 alone; the other six contacts are tier 1.
    assert_eq!(counts(&c["by_tier"]), pairs(&[("tier1", 6), ("tier2", 1), ("tier3", 0)]));
    let mut hours = vec![0; 24];
    for h in [9, 10, 12, 13, 17, 20, 23] {
        hours[h] = 1;
    }
    assert_eq!(c["by_hour"], json!(hours), "JST hours, 23:30 in hour 23");
    assert_eq!(c["per_business_day"], 7.0);
    // Tickets made on the 20th: T1–T6 = 6.
    assert_eq!(r["tickets_created"], 6);
    // First response by a person (the routing's, the line's and the SLA's entries are not):
    // T1 09:00→09:10 = 10 min, T2 10:30→11:00 = 30 min, T3 13:00→16:00 = 180 min, T5 20:00→09:35
    // the next day = 815 min; T4 and T6 none. Sorted 10, 30, 180, 815: median (30 + 180) / 2 =
    // 105 min; p90 at rank ⌈0.9 × 4⌉ = 4: 815 min.
    assert_eq!(r["first_response"], json!({"measured": 4, "pending": 2, "median_ms": 105 * MIN, "p90_ms": 815 * MIN}));
    // Resolution (the first move to resolved): T1 09:00→10:00 = 60 min, T2 10:30→13:30 = 180 min,
    // T5 815 min; T3, T4, T6 not yet. Sorted 60, 180, 815: median 180; p90 rank ⌈2.7⌉ = 3: 815.
    assert_eq!(r["resolution"], json!({"measured": 3, "pending": 3, "median_ms": 180 * MIN, "p90_ms": 815 * MIN}));
    // SLA clocks ended on the 20th: first response met T1, T2, breached T3 (2 of 3 = 66.7 %);
    // resolution met T1, T2 (100 %); overall 4 of 5 = 80 %.
    assert_eq!((r["sla"]["met"].as_i64(), r["sla"]["breached"].as_i64()), (Some(4), Some(1)));
    assert_eq!(r["sla"]["compliance_percent"], 80.0);
    assert_eq!(
        r["sla"]["by_kind"][0],
        json!({"kind": "first_response", "met": 2, "breached": 1, "compliance_percent": 66.7})
    );
    assert_eq!(r["sla"]["by_kind"][1]["compliance_percent"], 100.0);
    // Open at 2026-11-21 00:00 JST: T3 (11 h), T6 (11 h 45 min), T5 (4 h, resolved only the next
    // day), T4 (30 min) under a day; T0a (2 days 14 h); T0c (4 days 15 h, resolved the 21st);
    // T0b (10 days 15 h). T1, T2 were resolved; T0d closed on the 19th.
    assert_eq!(r["backlog"]["total"], 7);
    let by_age = pairs(&[("under_1d", 4), ("1d_3d", 1), ("3d_7d", 1), ("over_7d", 1)]);
    assert_eq!(counts(&r["backlog"]["by_age"]), by_age);
    // Calls ended: T1 transferred, T6 hung up in the menu (abandoned), T5 to voicemail.
    assert_eq!(
        r["calls"],
        json!({"ended": 3, "transferred": 1, "abandoned": 1, "voicemails": 1, "callbacks_created": 2, "callbacks_done": 0})
    );
    // Escalations: T3 to operations by the SLA, T0a to the vendor by an operator; the SLA's
    // warning to the helpdesk is not one.
    assert_eq!(r["escalations"]["total"], 2);
    assert_eq!(counts(&r["escalations"]["by_group"]), pairs(&[("app_vendor", 1), ("operations", 1)]));
    assert_eq!(r["faq"], json!({"available": true, "total": 0, "top": []}), "no entry used yet");

    // Saturday the 21st: T7 at 00:30 JST counts here; no SLA clock ended.
    let r = figures(&store, Period::day(day("2026-11-21"))).await;
    assert_eq!((r["contacts"]["total"].as_i64(), r["business_days"].as_i64()), (Some(1), Some(0)));
    assert_eq!(r["contacts"]["by_hour"][0], 1);
    assert_eq!(r["contacts"]["per_business_day"], Value::Null, "no business day to divide by");
    assert_eq!(r["sla"]["compliance_percent"], Value::Null);
    assert_eq!(r["sla"]["by_kind"], json!([]));
    // T5's callback closed at 09:30; T7's call transferred.
    assert_eq!((r["calls"]["callbacks_done"].as_i64(), r["calls"]["transferred"].as_i64()), (Some(1), Some(1)));
    // Open at 2026-11-22 00:00: T7 (23 h 30 min); T4 (24 h 30 min), T3 (35 h), T6 (35 h 45 min);
    // T0a (3 days 14 h); T0b (11 days 15 h). T5 and T0c were resolved on the 21st.
    let by_age = pairs(&[("under_1d", 1), ("1d_3d", 3), ("3d_7d", 1), ("over_7d", 1)]);
    assert_eq!(counts(&r["backlog"]["by_age"]), by_age);

    // The week 11/16 (Mon)–11/22 (Sun): the 20th's 7, T7 on the 21st, T0a (18th), T0c (16th).
    let r = figures(&store, Period::week_of(day("2026-11-18"))).await;
    assert_eq!(r["period"]["label"], "2026-11-16〜2026-11-22");
    assert_eq!(r["contacts"]["total"], 10);
    assert_eq!(counts(&r["contacts"]["by_channel"]), pairs(&[("phone", 5), ("email", 3), ("fax", 1), ("manual", 1)]));
    // 11/16–11/20 are working days, the weekend is not: 5.
    assert_eq!(r["business_days"], 5);
    assert_eq!(r["contacts"]["per_business_day"], 2.0);

    // December 2026: 23 weekdays less 12/29, 12/30, 12/31 (year-end closure) = 20 business
    // days. Contacts D1–D5 and D2's second mail = 6 (D5 at 23:59 on the 31st; D6 at 00:00 on
    // 1 January is January's): 6 / 20 = 0.3 a business day.
    let r = figures(&store, Period::month_of(day("2026-12-01"))).await;
    assert_eq!((r["business_days"].as_i64(), r["contacts"]["total"].as_i64()), (Some(20), Some(6)));
    assert_eq!(r["contacts"]["per_business_day"], 0.3);
    assert_eq!(counts(&r["contacts"]["by_channel"]), pairs(&[("phone", 2), ("email", 3), ("fax", 1), ("manual", 0)]));
    assert_eq!(r["contacts"]["by_hour"][23], 1, "23:59 JST is hour 23");
    // First responses 5, 10, 20, 40, 120 min: median the 3rd, 20; p90 rank ⌈4.5⌉ = 5: 120.
    assert_eq!(r["first_response"], json!({"measured": 5, "pending": 0, "median_ms": 20 * MIN, "p90_ms": 120 * MIN}));
    // Resolutions 60, 90, 150, 600 min: median (90 + 150) / 2 = 120; p90 rank ⌈3.6⌉ = 4: 600.
    assert_eq!(r["resolution"], json!({"measured": 4, "pending": 1, "median_ms": 120 * MIN, "p90_ms": 600 * MIN}));
    // January 2027: 21 weekdays less 1/1 (closure) and 1/11 (成人の日) = 19; D6 alone: 1 / 19 = 0.1.
    let r = figures(&store, Period::month_of(day("2027-01-15"))).await;
    assert_eq!((r["business_days"].as_i64(), r["contacts"]["total"].as_i64()), (Some(19), Some(1)));
    assert_eq!(r["contacts"]["per_business_day"], 0.1);

    // CSV and JSON of the 20th.
    let report = reports::compute(&store, &Period::day(day("2026-11-20")), jst(2026, 11, 22, 12, 0)).await.unwrap();
    let csv = reports::write(&report, Format::Csv);
    let rows: Vec<Vec<String>> = csv::Reader::from_reader(csv.as_bytes())
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let value = |section: &str, key: &str| {
        rows.iter()
            .find(|r| r[0] == section && r[1] == key)
            .map(|r| r[4].clone())
            .unwrap_or_else(|| panic!("{section},{key} in {csv}"))
    };
    assert!(csv.starts_with("section,key,ja,en,value\n"), "{csv}");
    assert_eq!(value("period", "label"), "2026-11-20");
    assert_eq!(value("contacts", "total"), "7");
    assert_eq!(value("contacts_by_channel", "phone"), "3");
    assert_eq!(value("contacts_by_hour", "23"), "1");
    assert_eq!(value("first_response", "median_minutes"), "105.0");
    assert_eq!(value("resolution", "p90_minutes"), "815.0");
    assert_eq!(value("sla", "compliance_percent"), "80.0");
    assert_eq!(value("backlog", "under_1d"), "4");
    assert_eq!(value("calls", "abandoned"), "1");
    assert_eq!(value("escalations_by_group", "operations"), "1");
    assert_eq!(value("faq", "available"), "yes");
    assert_eq!(rows.iter().filter(|r| r[0] == "contacts_by_hour").count(), 24);
    let json: Value = serde_json::from_str(&reports::write(&report, Format::Json)).unwrap();
    assert_eq!(json["contacts"]["total"], 7);
    assert_eq!(json["period"]["kind"], "daily");
    for written in [csv.clone(), reports::write(&report, Format::Text), reports::write(&report, Format::Html)] {
        assert!(!written.contains("山田") && !written.contains("1234-5678"), "counts only: {written}");
    }

    // Answers taken from FAQ entries are counted by the day of their use (JST).
    for (id, q) in [(1i64, "アカウントロックの解除方法"), (2, "パスワードの再設定"), (3, "仮パスワード")]
    {
        sqlx::query(
            "INSERT INTO faq_entries (id, question, answer, category, audience, state, author, edited_by, search_text, \
             created_at, updated_at) VALUES ($1, $2, '回答', 'howto', 'internal', 'published', 'kacho', 'kacho', '', 0, 0)",
        )
        .bind(id)
        .bind(q)
        .execute(&f.pool)
        .await
        .unwrap();
    }
    let ticket_ids: Vec<i64> = sqlx::query_as::<_, (i64,)>("SELECT id FROM tickets ORDER BY id LIMIT 5")
        .fetch_all(&f.pool)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.0)
        .collect();
    for (n, (entry, at)) in [
        (1i64, jst(2026, 11, 20, 9, 0)),
        (1, jst(2026, 11, 20, 12, 0)),
        (2, jst(2026, 11, 20, 13, 0)),
        (1, jst(2026, 11, 20, 23, 59)),
        (3, jst(2026, 11, 21, 0, 0)),
    ]
    .into_iter()
    .enumerate()
    {
        sqlx::query("INSERT INTO faq_uses (entry_id, ticket_id, used_by, used_at) VALUES ($1, $2, 'sato', $3)")
            .bind(entry)
            .bind(ticket_ids[n])
            .bind(at)
            .execute(&f.pool)
            .await
            .unwrap();
    }
    let r = figures(&store, Period::day(day("2026-11-20"))).await;
    assert_eq!(
        r["faq"],
        json!({"available": true, "total": 4, "top": [
            {"id": "1", "question": "アカウントロックの解除方法", "uses": 3},
            {"id": "2", "question": "パスワードの再設定", "uses": 1}]})
    );
    store.close().await;
    db.cleanup().await;
}

async fn the_api_and_the_command_line_give_the_same_report(db: Db) {
    let Some(app) = common::spawn_app(db, "reports_api").await else { return };
    let (store, mut f) = Fixture::open(&app.db.url).await;
    f.seed().await;
    let url = app.db.settings().database_url();
    let supervisor = authorised(&grant(&url, "kacho", Role::Supervisor).await);
    let operator = authorised(&grant(&url, "sato", Role::Operator).await);

    let r = supervisor.get(app.url("/api/reports/daily?date=2026-11-20")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let json: Value = r.json().await.unwrap();
    assert_eq!((json["contacts"]["total"].as_i64(), json["period"]["label"].as_str()), (Some(7), Some("2026-11-20")));
    let r = supervisor.get(app.url("/api/reports/monthly?month=2026-12&format=csv")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = r.text().await.unwrap();
    assert!(csv.contains("period,business_days,営業日数,business days,20\n"), "{csv}");
    assert!(csv.contains("contacts,total,受付件数,contacts,6\n"), "{csv}");
    for (path, status) in [
        ("/api/reports/yearly", 404),
        ("/api/reports/daily?month=2026-12", 400),
        ("/api/reports/monthly?month=2026-13", 400),
        ("/api/reports/daily?date=20261120", 400),
        ("/api/reports/daily?format=xml", 400),
    ] {
        assert_eq!(supervisor.get(app.url(path)).send().await.unwrap().status(), status, "{path}");
    }
    let refused = operator.get(app.url("/api/reports/daily?date=2026-11-20")).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    let page = supervisor.get(app.url("/reports?kind=weekly&date=2026-11-18")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("data-chart=\"channel\"") && page.contains("data-chart=\"hours\""), "{page}");
    assert_eq!(operator.get(app.url("/reports")).send().await.unwrap().status(), 403);

    let out = common::cli::run(&app.db, &["report", "monthly", "--month", "2026-12", "--format", "json"], "").await;
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((cli["business_days"].as_i64(), cli["contacts"]["total"].as_i64()), (Some(20), Some(6)));
    let out = common::cli::run(&app.db, &["report", "daily", "--date", "2026-11-20"], "").await;
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("日次報告 / Daily report: 2026-11-20\n"), "{text}");
    assert!(text.contains("受付件数 / contacts: 7"), "{text}");
    let out = common::cli::try_run(&app.db, &["report", "weekly", "--month", "2026-12"], "").await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("month is only for the monthly report"));
    store.close().await;
    app.stop().await;
}

/// Waits until the sink has received `n` messages (at most 20 s).
async fn received(sink: &mut tokio::sync::mpsc::UnboundedReceiver<String>, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        match tokio::time::timeout(Duration::from_secs(20), sink.recv()).await {
            Ok(Some(m)) => got.push(m),
            _ => panic!("only {} of {n} mails arrived", got.len()),
        }
    }
    got
}

async fn the_daily_and_monthly_reports_are_mailed_once(db: Db) {
    let Some(db) = TestDb::new(db, "reports_schedule").await else { return };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let relay = listener.local_addr().unwrap().to_string();
    let mut sink = common::smtp::sink(listener).await;
    // The service sends the outbox; the ticks below stand for its scheduler at chosen times.
    let app = common::spawn_with(db, move |s| {
        s.notify.relay = relay;
        s.escalation.scheduler = false;
    })
    .await;
    let (store, mut f) = Fixture::open(&app.db.url).await;
    f.seed().await;
    let (other, _) = Fixture::open(&app.db.url).await;
    let settings = ReportSettings {
        daily_to: vec!["desk@example.go.jp".into(), "lead@example.go.jp".into()],
        monthly_to: vec!["ops@example.go.jp".into()],
        send_at: ClockTime::new(7, 30),
    };
    let labels = |queued: Vec<Period>| queued.iter().map(|p| p.label()).collect::<Vec<_>>();

    assert!(schedule::tick(&store, &settings, jst(2026, 11, 21, 7, 29)).await.is_empty(), "not before 07:30");
    // The first look after 07:30 queues yesterday's report, and October's, whose first business
    // day (11/2) no service saw: it catches up once.
    assert_eq!(labels(schedule::tick(&store, &settings, jst(2026, 11, 21, 7, 30)).await), ["2026-11-20", "2026-10"]);
    assert!(schedule::tick(&store, &settings, jst(2026, 11, 21, 7, 31)).await.is_empty(), "once");
    assert!(schedule::tick(&other, &settings, jst(2026, 11, 21, 8, 0)).await.is_empty(), "not by another service");
    // Two services at the same instant: one of them queues it.
    let at = jst(2026, 11, 22, 7, 30);
    let (a, b) = tokio::join!(schedule::tick(&store, &settings, at), schedule::tick(&other, &settings, at));
    assert_eq!([a, b].concat().iter().map(Period::label).collect::<Vec<_>>(), ["2026-11-21"]);

    let mails = received(&mut sink, 5).await;
    let parser = mail_parser::MessageParser::default();
    let mut subjects: Vec<(String, String)> = mails
        .iter()
        .map(|m| {
            let parsed = parser.parse(m.as_bytes()).unwrap();
            let to = parsed.to().and_then(|a| a.first()).and_then(|a| a.address()).unwrap_or_default().to_owned();
            (parsed.subject().unwrap_or_default().to_owned(), to)
        })
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        [
            ("[日次報告 / Daily report] 2026-11-20".to_owned(), "desk@example.go.jp".to_owned()),
            ("[日次報告 / Daily report] 2026-11-20".to_owned(), "lead@example.go.jp".to_owned()),
            ("[日次報告 / Daily report] 2026-11-21".to_owned(), "desk@example.go.jp".to_owned()),
            ("[日次報告 / Daily report] 2026-11-21".to_owned(), "lead@example.go.jp".to_owned()),
            ("[月次報告 / Monthly report] 2026-10".to_owned(), "ops@example.go.jp".to_owned()),
        ]
    );
    let first = mails.iter().find(|m| m.contains("2026-11-20")).unwrap();
    let body = parser.parse(first.as_bytes()).unwrap().body_text(0).unwrap().into_owned();
    assert!(body.starts_with("日次報告 / Daily report: 2026-11-20"), "{body}");
    assert!(body.contains("受付件数 / contacts: 7"), "{body}");
    assert!(!body.contains("山田") && !body.contains("1234-5678"), "no caller's data in the mail: {body}");

    // January 2027: 1/1–1/3 are closed, so the monthly report for December waits for Monday 1/4.
    assert_eq!(labels(schedule::tick(&store, &settings, jst(2027, 1, 1, 9, 0)).await), ["2026-12-31"]);
    assert_eq!(labels(schedule::tick(&store, &settings, jst(2027, 1, 3, 9, 0)).await), ["2027-01-02"]);
    assert!(schedule::tick(&store, &settings, jst(2027, 1, 4, 7, 29)).await.is_empty());
    assert_eq!(labels(schedule::tick(&other, &settings, jst(2027, 1, 4, 7, 30)).await), ["2027-01-03", "2026-12"]);
    assert!(
        schedule::tick(&store, &settings, jst(2027, 1, 5, 7, 30)).await.iter().all(|p| p.kind != PeriodKind::Monthly)
    );
    // 12/31, 1/2, 1/3 and 1/4 to two addresses each, and December's monthly report.
    let mails = received(&mut sink, 4 * 2 + 1).await;
    let monthly: Vec<&String> = mails.iter().filter(|m| m.contains("To: ops@example.go.jp")).collect();
    assert_eq!(monthly.len(), 1, "{mails:?}");
    let parsed = parser.parse(monthly[0].as_bytes()).unwrap();
    assert_eq!(parsed.subject(), Some("[月次報告 / Monthly report] 2026-12"));
    let body = parsed.body_text(0).unwrap().into_owned();
    assert!(body.contains("営業日数 / business days: 20") && body.contains("受付件数 / contacts: 6"), "{body}");

    let (rows,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE kind = 'report'").fetch_one(&f.pool).await.unwrap();
    // Daily 11/20, 11/21, 12/31, 1/2, 1/3, 1/4 to two addresses each; October's and December's
    // monthly reports to one.
    assert_eq!(rows, 6 * 2 + 2, "each report queued once per recipient");
    store.close().await;
    other.close().await;
    app.stop().await;
}

/// One survey, sent at `sent` and answered at `answered` with `rating` and `comment`.
async fn survey(f: &Fixture, ticket: i64, sent: i64, answer: Option<(i64, i64, &str)>) {
    sqlx::query(
        "INSERT INTO surveys (ticket_id, token_hash, sent_to, created_at, expires_at, answered_at, rating, comment) \
         VALUES ($1, $2, 'yamada@example.go.jp', $3, $4, $5, $6, $7)",
    )
    .bind(ticket)
    .bind(format!("hash-{ticket}"))
    .bind(sent)
    .bind(sent + 14 * 24 * 60 * MIN)
    .bind(answer.map(|a| a.0))
    .bind(answer.map(|a| a.1))
    .bind(answer.map(|a| a.2))
    .execute(&f.pool)
    .await
    .unwrap();
}

async fn survey_figures_of_a_known_data_set(db: Db) {
    let Some(db) = TestDb::new(db, "reports_survey").await else { return };
    let (store, mut f) = Fixture::open(&db.url).await;
    let at = |d: u32, h: u32, m: u32| jst(2026, 11, d, h, m);
    let mut ticket =
        async |category: &str, tier: i64| f.ticket("email", category, tier, "resolved", at(18, 9, 0)).await;
    let a = ticket("account_unlock", 1).await;
    let b = ticket("account_unlock", 1).await;
    let c = ticket("fault_report", 2).await;
    let d = ticket("password_reset", 1).await;
    let e = ticket("how_to", 1).await;
    let earlier = ticket("account_unlock", 1).await;
    let later = ticket("how_to", 1).await;
    // Sent on the 20th (JST): A, B, C, D, E and G; F the day before. Answered on the 20th: F at
    // 00:00 (the first instant of the day) rated 1, A at 10:00 rated 5, B at 15:00 rated 2, C at
    // 18:00 rated 4; G at 00:00 on the 21st (the next day's) rated 3; D and E not at all.
    survey(&f, earlier, at(19, 16, 0), Some((at(20, 0, 0), 1, "電話がつながらない"))).await;
    survey(&f, a, at(20, 9, 0), Some((at(20, 10, 0), 5, "丁寧でした"))).await;
    survey(&f, b, at(20, 9, 30), Some((at(20, 15, 0), 2, "<b>ひどい</b> 遅い"))).await;
    survey(&f, c, at(20, 11, 0), Some((at(20, 18, 0), 4, ""))).await;
    survey(&f, d, at(20, 12, 0), None).await;
    survey(&f, e, at(20, 23, 59), None).await;
    survey(&f, later, at(20, 13, 0), Some((at(21, 0, 0), 3, "普通"))).await;

    let r = figures(&store, Period::day(day("2026-11-20"))).await;
    let s = &r["survey"];
    // Sent 6 (A–E, G); answered 4 (F, A, B, C): 4 / 6 = 66.7 %. Mean (1 + 5 + 2 + 4) / 4 = 3.
    assert_eq!((s["sent"].as_i64(), s["answered"].as_i64()), (Some(6), Some(4)), "{s}");
    assert_eq!((s["response_rate_percent"].as_f64(), s["mean_rating"].as_f64()), (Some(66.7), Some(3.0)), "{s}");
    // account_unlock: F 1, A 5, B 2 = 8 / 3 = 2.67; fault_report: C 4. Most answers first.
    let groups = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|g| {
                (g["key"].as_str().unwrap().to_owned(), g["answered"].as_i64().unwrap(), g["mean_rating"].as_f64())
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        groups(&s["by_category"]),
        [("account_unlock".to_owned(), 3, Some(2.67)), ("fault_report".to_owned(), 1, Some(4.0))]
    );
    // Tier 1: F, A, B = 2.67; tier 2: C = 4; tier 3: none.
    assert_eq!(
        groups(&s["by_tier"]),
        [("tier1".to_owned(), 3, Some(2.67)), ("tier2".to_owned(), 1, Some(4.0)), ("tier3".to_owned(), 0, None)]
    );
    // Low ratings (1–2) in the order they came: F at 00:00, B at 15:00.
    let number = |id: i64| format!("20990101-{id:04}");
    let (f_no, b_no) = (number(6), number(2));
    assert_eq!(s["low_ratings"], json!([{"ticket": f_no, "rating": 1}, {"ticket": b_no, "rating": 2}]));

    // The month: sent 7 (F on the 19th too); answered 5 (G on the 21st too): 5 / 7 = 71.4 %;
    // mean (1 + 5 + 2 + 4 + 3) / 5 = 3.
    let r = figures(&store, Period::month_of(day("2026-11-01"))).await;
    let s = &r["survey"];
    assert_eq!(
        (s["sent"].as_i64(), s["answered"].as_i64(), s["response_rate_percent"].as_f64()),
        (Some(7), Some(5), Some(71.4))
    );
    assert_eq!(s["mean_rating"].as_f64(), Some(3.0));
    // The 21st: nothing sent, G answered: no rate to give, mean 3.
    let r = figures(&store, Period::day(day("2026-11-21"))).await;
    assert_eq!((&r["survey"]["response_rate_percent"], r["survey"]["mean_rating"].as_f64()), (&Value::Null, Some(3.0)));

    // Every format says the same, with ticket numbers and ratings, and no comment.
    let report = reports::compute(&store, &Period::day(day("2026-11-20")), jst(2026, 11, 22, 12, 0)).await.unwrap();
    let csv = reports::write(&report, Format::Csv);
    for line in [
        "survey,sent,満足度調査 送信,surveys sent,6".to_owned(),
        "survey,answered,満足度調査 回答,surveys answered,4".into(),
        "survey,response_rate_percent,回答率（%）,response rate (%),66.7".into(),
        "survey,mean_rating,平均満足度,mean rating,3.00".into(),
        "survey_by_category,account_unlock_mean_rating,account_unlock 平均,account_unlock mean,2.67".into(),
        "survey_by_tier,tier2_answered,2次 運用担当・テクニカルサポート 回答,tier 2 (operations) answers,1".into(),
        format!("survey_low_ratings,{f_no},低評価,low rating,1"),
        format!("survey_low_ratings,{b_no},低評価,low rating,2"),
    ] {
        assert!(csv.contains(&format!("{line}\n")), "{line} in {csv}");
    }
    let text = reports::write(&report, Format::Text);
    assert!(text.contains("送信 sent 6, 回答 answered 4, 回答率 response rate 66.7%, 平均 mean rating 3.00"), "{text}");
    assert!(text.contains(&format!("低評価 (1–2) / low ratings: {f_no} (1), {b_no} (2)")), "{text}");
    let html = reports::write(&report, Format::Html);
    assert!(html.contains("<tr data-key=\"survey_response_rate\">") && html.contains("66.7%"), "{html}");
    assert!(html.contains(&format!("<tr data-key=\"{b_no}\"><th>{b_no}</th><td>2</td></tr>")), "{html}");
    let json = reports::write(&report, Format::Json);
    for written in [csv, text, html, json] {
        for words in ["電話がつながらない", "ひどい", "丁寧", "yamada"] {
            assert!(!written.contains(words), "no comment or address in a report: {words} in {written}");
        }
    }
    store.close().await;
    db.cleanup().await;
}

/// A ticket's interview of `template` with `answers`, as the console saves it.
async fn interview(f: &Fixture, ticket: i64, template: &str, answers: Value) {
    sqlx::query(
        "INSERT INTO interviews (ticket_id, template, answers, complete, updated_by, updated_at) \
         VALUES ($1, $2, $3, 1, 'sato', 0)",
    )
    .bind(ticket)
    .bind(template)
    .bind(answers.to_string())
    .execute(&f.pool)
    .await
    .unwrap();
}

async fn faults_by_system_and_screen_of_a_known_data_set(db: Db) {
    let Some(db) = TestDb::new(db, "reports_faults").await else { return };
    let (store, mut f) = Fixture::open(&db.url).await;
    let at = |d: u32, h: u32| jst(2026, 11, d, h, 0);
    let rosai = json!({"system": "労災保険業務システム", "screen_id": "A-12", "reproducible": "no"});
    // On the 20th (JST): three faults in 労災保険業務システム, two of them on screen A-12 and one
    // on B-03, the third spelt in full width (ＡＢ widths fold to one system, one screen);
    // two in 人事給与システム, one on screen P-1 and one without a screen ID; one without the
    // system; an account-unlock interview that mentions a system (not a fault); a merged
    // duplicate of the first fault (left out); a fault ticket opened on the 21st at 00:00.
    for (template, answers, created) in [
        ("fault_report", rosai.clone(), at(20, 9)),
        ("fault_report", json!({"system": "労災保険業務システム", "screen_id": "B-03"}), at(20, 10)),
        ("fault_report", json!({"system": "労災保険業務システム", "screen_id": "Ａ-１２"}), at(20, 11)),
        ("fault_report", json!({"system": "人事給与システム", "screen_id": "P-1"}), at(20, 12)),
        ("fault_report", json!({"system": "人事給与システム"}), at(20, 13)),
        ("fault_report", json!({"error_message": "E1234"}), at(20, 14)),
        ("account_unlock", json!({"system": "労災保険業務システム"}), at(20, 15)),
        ("fault_report", json!({"system": "人事給与システム", "screen_id": "P-1"}), at(21, 0)),
    ] {
        let t = f.ticket("phone", "fault_report", 1, "in_progress", created).await;
        interview(&f, t, template, answers).await;
    }
    let merged = f.ticket("phone", "fault_report", 1, "closed", at(20, 16)).await;
    interview(&f, merged, "fault_report", rosai).await;
    sqlx::query("UPDATE tickets SET merged_into = '20990101-0001' WHERE id = $1")
        .bind(merged)
        .execute(&f.pool)
        .await
        .unwrap();

    let r = figures(&store, Period::day(day("2026-11-20"))).await;
    let faults = &r["faults"];
    // Six fault interviews on the 20th: 労災 3, 人事給与 2, no system 1.
    assert_eq!(faults["total"].as_i64(), Some(6), "{faults}");
    let systems: Vec<(String, i64)> = faults["by_system"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["ja"].as_str().unwrap().to_owned(), c["count"].as_i64().unwrap()))
        .collect();
    assert_eq!(systems, pairs(&[("労災保険業務システム", 3), ("人事給与システム", 2), ("（システム未回答）", 1)]));
    let screens: Vec<(String, String, i64)> = faults["by_screen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["system"].as_str().unwrap().to_owned(),
                s["screen_id"].as_str().unwrap().to_owned(),
                s["count"].as_i64().unwrap(),
            )
        })
        .collect();
    let screen = |s: &str, id: &str, n: i64| (s.to_owned(), id.to_owned(), n);
    assert_eq!(
        screens,
        [
            screen("労災保険業務システム", "A-12", 2),
            screen("人事給与システム", "P-1", 1),
            screen("労災保険業務システム", "B-03", 1)
        ]
    );
    // The month has the 21st's fault too: 人事給与 3, P-1 2.
    let r = figures(&store, Period::month_of(day("2026-11-01"))).await;
    assert_eq!(r["faults"]["total"].as_i64(), Some(7));
    assert_eq!(r["faults"]["by_screen"][0]["count"].as_i64(), Some(2));

    let report = reports::compute(&store, &Period::day(day("2026-11-20")), jst(2026, 11, 22, 12, 0)).await.unwrap();
    let csv = reports::write(&report, Format::Csv);
    for line in [
        "faults,total,障害（問診）,faults (interviews),6",
        "faults_by_system,人事給与システム,人事給与システム,人事給与システム,2",
        "faults_by_screen,A-12,労災保険業務システム A-12,労災保険業務システム A-12,2",
    ] {
        assert!(csv.contains(&format!("{line}\n")), "{line} in {csv}");
    }
    let text = reports::write(&report, Format::Text);
    assert!(text.contains("障害（問診） / faults (from interviews): 6\n"), "{text}");
    assert!(text.contains("    労災保険業務システム A-12: 2\n"), "{text}");
    let html = reports::write(&report, Format::Html);
    assert!(
        html.contains("<tr data-screen=\"A-12\"><td>労災保険業務システム</td><td>A-12</td><td>2</td></tr>"),
        "{html}"
    );
    store.close().await;
    db.cleanup().await;
}

on_both_backends!(
    faults_by_system_and_screen_of_a_known_data_set,
    survey_figures_of_a_known_data_set,
    the_figures_of_a_known_data_set,
    the_api_and_the_command_line_give_the_same_report,
    the_daily_and_monthly_reports_are_mailed_once
);
