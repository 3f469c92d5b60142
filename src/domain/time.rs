//! Times: stored as UTC milliseconds, shown in JST (UTC+9, no daylight saving).

use chrono::{DateTime, FixedOffset, TimeZone, Utc};

pub fn jst() -> FixedOffset {
    FixedOffset::east_opt(9 * 3600).expect("JST offset is valid")
}

pub fn to_jst(millis: i64) -> DateTime<FixedOffset> {
    jst().timestamp_millis_opt(millis).single().unwrap_or_else(|| Utc::now().with_timezone(&jst()))
}

/// `2026-11-21T14:03:00+09:00`
pub fn jst_rfc3339(millis: i64) -> String {
    to_jst(millis).to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// The JST calendar day of an instant, as the ticket number's prefix `20261121`.
pub fn jst_day(millis: i64) -> String {
    to_jst(millis).format("%Y%m%d").to_string()
}

pub fn now_millis() -> i64 {
    Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jst_day_rolls_over_at_15_utc() {
        let before = Utc.with_ymd_and_hms(2026, 11, 21, 14, 59, 59).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 11, 21, 15, 0, 0).unwrap();
        assert_eq!(jst_day(before.timestamp_millis()), "20261121");
        assert_eq!(jst_day(after.timestamp_millis()), "20261122");
        assert_eq!(jst_rfc3339(after.timestamp_millis()), "2026-11-22T00:00:00+09:00");
    }
}
