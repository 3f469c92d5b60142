//! The reports mailed out: each morning at `[reports] send_at` (JST) the daily report for the day
//! before, and from the month's first business day the monthly report for the month before.
//! Each is claimed in `report_runs` in the transaction that queues its mail, so among several
//! services on one database, and across restarts, it goes out once. Looks once a minute.

use super::period::{Period, PeriodKind, first_business_day};
use super::{compute, render};
use crate::config::ReportSettings;
use crate::domain::calendar::Calendar;
use crate::domain::time::{now_millis, to_jst};
use crate::store::{ReportRun, Store};
use chrono::Days;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const LOOK_EVERY: Duration = Duration::from_secs(60);

/// The periods whose report is due at `now`, with their recipients: nothing before `send_at`;
/// then yesterday's to `daily_to`, and, on or after the month's first business day, last
/// month's to `monthly_to`.
pub fn due<'s>(settings: &'s ReportSettings, calendar: &Calendar, now: i64) -> Vec<(Period, &'s [String])> {
    let local = to_jst(now);
    if local.time() < settings.send_at.0 {
        return Vec::new();
    }
    let today = local.date_naive();
    let mut due = Vec::new();
    if !settings.daily_to.is_empty() {
        due.push((Period::day(today - Days::new(1)), settings.daily_to.as_slice()));
    }
    if !settings.monthly_to.is_empty() && today >= first_business_day(today, calendar) {
        due.push((Period::previous(PeriodKind::Monthly, today), settings.monthly_to.as_slice()));
    }
    due
}

/// Queues every report due at `now` that no service has queued yet; the periods it queued.
pub async fn tick(store: &Store, settings: &ReportSettings, now: i64) -> Vec<Period> {
    let mut queued = Vec::new();
    for (period, to) in due(settings, &Calendar::government(), now) {
        let kind = period.kind.as_str();
        match send(store, &period, to, now).await {
            Ok(true) => {
                tracing::info!(report = kind, period = %period.label(), recipients = to.len(), "report queued");
                queued.push(period);
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(report = kind, error = %e, "report not queued; trying again"),
        }
    }
    queued
}

async fn send(store: &Store, period: &Period, to: &[String], now: i64) -> Result<bool, super::ReportError> {
    let kind = period.kind.as_str();
    if store.report_sent(kind, period.start_ms()).await? {
        return Ok(false);
    }
    let report = compute(store, period, now).await?;
    let (subject, body) = (render::subject(&report), render::mail_body(&report));
    let run = ReportRun {
        kind,
        period_start: period.start_ms(),
        period_end: period.end_ms(),
        subject: &subject,
        body: &body,
    };
    Ok(store.queue_report(&run, to, now).await?)
}

/// Looks every minute until `stop`.
pub async fn run(store: Store, settings: ReportSettings, stop: CancellationToken) {
    loop {
        tick(&store, &settings, now_millis()).await;
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(LOOK_EVERY) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ClockTime;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        crate::domain::time::jst().with_ymd_and_hms(y, m, d, h, min, 0).unwrap().timestamp_millis()
    }

    fn settings() -> ReportSettings {
        ReportSettings {
            daily_to: vec!["desk@example.go.jp".into()],
            monthly_to: vec!["ops@example.go.jp".into()],
            send_at: ClockTime::new(7, 30),
        }
    }

    fn labels(due: &[(Period, &[String])]) -> Vec<String> {
        due.iter().map(|(p, _)| format!("{} {}", p.kind.as_str(), p.label())).collect::<Vec<_>>()
    }

    #[test]
    fn the_daily_report_is_due_from_send_at_for_the_day_before() {
        let (s, gov) = (ReportSettings { monthly_to: vec![], ..settings() }, Calendar::government());
        assert!(due(&s, &gov, at(2026, 11, 21, 7, 29)).is_empty());
        assert_eq!(labels(&due(&s, &gov, at(2026, 11, 21, 7, 30))), ["daily 2026-11-20"]);
        assert_eq!(labels(&due(&s, &gov, at(2026, 11, 21, 23, 59))), ["daily 2026-11-20"]);
        let none = ReportSettings { daily_to: vec![], monthly_to: vec![], ..s };
        assert!(due(&none, &gov, at(2026, 11, 21, 9, 0)).is_empty(), "no recipients, no report");
    }

    #[test]
    fn the_monthly_report_waits_for_the_first_business_day() {
        let (s, gov) = (settings(), Calendar::government());
        // 1/1–1/3 are the year-end closure: January 2027's first business day is Monday 1/4.
        assert_eq!(labels(&due(&s, &gov, at(2027, 1, 1, 8, 0))), ["daily 2026-12-31"]);
        assert_eq!(labels(&due(&s, &gov, at(2027, 1, 3, 8, 0))), ["daily 2027-01-02"]);
        assert_eq!(labels(&due(&s, &gov, at(2027, 1, 4, 7, 30))), ["daily 2027-01-03", "monthly 2026-12"]);
        // Later in the month too (a service that was down on the 4th catches up; sent once).
        assert_eq!(labels(&due(&s, &gov, at(2027, 1, 20, 9, 0))), ["daily 2027-01-19", "monthly 2026-12"]);
    }
}
