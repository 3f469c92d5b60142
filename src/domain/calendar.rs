//! The government's working calendar in JST: opening hours on working days, Japanese public
//! holidays (振替休日 and 国民の休日 included), the year-end closure 12/29–1/3 and special closed
//! days; or around the clock (24×7, for urgent security incidents). Dialplans ask it whether the
//! line is open; SLA clocks count business time on it. Pure: instants in, instants out.

use super::time::jst;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Weekday};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    pub open_at: NaiveTime,
    pub close_at: NaiveTime,
    pub days: Vec<Weekday>,
    pub public_holidays: bool,
    pub year_end: bool,
    pub closed_dates: Vec<NaiveDate>,
    /// Around the clock, every day: nothing above applies.
    pub always: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    Open,
    /// Outside the hours of a working day.
    AfterHours,
    /// A public holiday, the year-end closure, a special closed day, or a day not in `days`.
    ClosedDay,
}

const DAY_MS: i64 = 86_400_000;

/// A business calendar as configuration files write it (`[hours]` of a dialplan, `[calendar]`
/// of `sla.toml`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    pub open: String,
    pub close: String,
    pub days: Vec<String>,
    #[serde(default = "yes")]
    pub public_holidays: bool,
    #[serde(default = "yes")]
    pub year_end: bool,
    #[serde(default)]
    pub closed_dates: Vec<String>,
}

fn yes() -> bool {
    true
}

impl CalendarSpec {
    /// The calendar, or each problem as (the key it is in, what is wrong).
    pub fn build(&self) -> Result<Calendar, Vec<(&'static str, String)>> {
        let mut problems = Vec::new();
        let time = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").ok();
        let (open_at, close_at) = (time(&self.open), time(&self.close));
        if open_at.is_none() {
            problems.push(("open", format!("'{}' is not a time like 08:30", self.open)));
        }
        if close_at.is_none() {
            problems.push(("close", format!("'{}' is not a time like 17:15", self.close)));
        }
        if let (Some(o), Some(c)) = (open_at, close_at)
            && o >= c
        {
            problems.push(("close", "close must be after open".into()));
        }
        let mut days = Vec::new();
        for d in &self.days {
            match d.parse::<Weekday>() {
                Ok(w) => days.push(w),
                Err(_) => problems.push(("days", format!("'{d}' is not a day (mon, tue, …)"))),
            }
        }
        let mut closed_dates = Vec::new();
        for d in &self.closed_dates {
            match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
                Ok(date) => closed_dates.push(date),
                Err(_) => problems.push(("closed_dates", format!("'{d}' is not a date like 2026-12-28"))),
            }
        }
        match (open_at, close_at) {
            (Some(open_at), Some(close_at)) if problems.is_empty() => Ok(Calendar {
                open_at,
                close_at,
                days,
                public_holidays: self.public_holidays,
                year_end: self.year_end,
                closed_dates,
                always: false,
            }),
            _ => Err(problems),
        }
    }
}

impl Calendar {
    /// 08:30–17:15, Monday to Friday, closed on public holidays and 12/29–1/3.
    pub fn government() -> Calendar {
        use Weekday::*;
        Calendar {
            open_at: NaiveTime::from_hms_opt(8, 30, 0).expect("a time"),
            close_at: NaiveTime::from_hms_opt(17, 15, 0).expect("a time"),
            days: vec![Mon, Tue, Wed, Thu, Fri],
            public_holidays: true,
            year_end: true,
            closed_dates: Vec::new(),
            always: false,
        }
    }

    pub fn around_the_clock() -> Calendar {
        Calendar { always: true, ..Calendar::government() }
    }

    /// Whether `date` is a working day (its hours count).
    pub fn working_day(&self, date: NaiveDate) -> bool {
        if self.always {
            return true;
        }
        let (m, d) = (date.month(), date.day());
        let year_end = self.year_end && ((m == 12 && d >= 29) || (m == 1 && d <= 3));
        let holiday = self.public_holidays
            && jpholiday::chrono::NaiveDate::from_ymd_opt(date.year(), m, d)
                .is_some_and(|day| jpholiday::jpholiday::JPHoliday::new().is_holiday(&day));
        !(year_end || holiday || self.closed_dates.contains(&date) || !self.days.contains(&date.weekday()))
    }

    /// Whether the helpdesk is open at a JST date and time.
    pub fn opening(&self, date: NaiveDate, time: NaiveTime) -> Opening {
        if !self.working_day(date) {
            return Opening::ClosedDay;
        }
        if self.always {
            return Opening::Open;
        }
        let t = NaiveTime::from_hms_opt(time.hour(), time.minute(), time.second()).unwrap_or(time);
        if t >= self.open_at && t < self.close_at { Opening::Open } else { Opening::AfterHours }
    }

    /// The open interval of `date` in milliseconds since the epoch, if it is a working day.
    fn hours_of(&self, date: NaiveDate) -> Option<(i64, i64)> {
        if !self.working_day(date) {
            return None;
        }
        let at = |t: NaiveTime| jst().from_local_datetime(&date.and_time(t)).single().map(|d| d.timestamp_millis());
        if self.always {
            let start = at(NaiveTime::MIN)?;
            return Some((start, start + DAY_MS));
        }
        Some((at(self.open_at)?, at(self.close_at)?))
    }

    fn date_of(millis: i64) -> NaiveDate {
        DateTime::from_timestamp_millis(millis).unwrap_or_default().with_timezone(&jst()).date_naive()
    }

    /// Business milliseconds between two instants (0 when `to` is not after `from`).
    pub fn business_ms(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let mut total = 0;
        let mut date = Self::date_of(from);
        let last = Self::date_of(to);
        while date <= last {
            if let Some((open, close)) = self.hours_of(date) {
                total += (close.min(to) - open.max(from)).max(0);
            }
            date += Duration::days(1);
        }
        total
    }

    /// The instant `business` milliseconds of open time after `from`. Looks at most ten years
    /// ahead (a calendar with no working days never reaches it: `i64::MAX`).
    pub fn add_business(&self, from: i64, business: i64) -> i64 {
        let mut left = business.max(0);
        let mut date = Self::date_of(from);
        for _ in 0..3660 {
            if let Some((open, close)) = self.hours_of(date) {
                let start = open.max(from);
                if start < close {
                    if left == 0 {
                        return start;
                    }
                    let available = close - start;
                    if left <= available {
                        return start + left;
                    }
                    left -= available;
                }
            }
            date += Duration::days(1);
        }
        i64::MAX
    }

    /// The first instant at or after `from` when the helpdesk is open.
    pub fn next_open(&self, from: i64) -> i64 {
        self.add_business(from, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        jst().with_ymd_and_hms(y, m, d, h, min, 0).single().unwrap().timestamp_millis()
    }

    const HOUR: i64 = 3_600_000;
    const DAY: i64 = 8 * HOUR + 45 * 60_000;

    #[test]
    fn working_days_know_weekends_holidays_and_the_year_end() {
        let cal = Calendar::government();
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        let table = [
            (d(2026, 11, 20), true),  // Friday
            (d(2026, 11, 21), false), // Saturday
            (d(2026, 11, 23), false), // 勤労感謝の日
            (d(2026, 5, 6), false),   // 振替休日
            (d(2026, 9, 21), false),  // 敬老の日
            (d(2026, 9, 22), false),  // 国民の休日
            (d(2026, 9, 23), false),  // 秋分の日
            (d(2026, 9, 24), true),   // Thursday
            (d(2026, 12, 28), true),  // the last working day of the year
            (d(2026, 12, 29), false), // year-end closure
            (d(2027, 1, 3), false),   // still closed
            (d(2027, 1, 4), true),    // Monday after the closure
        ];
        for (date, want) in table {
            assert_eq!(cal.working_day(date), want, "{date}");
        }
        assert!(Calendar::around_the_clock().working_day(d(2027, 1, 1)));
        let special = Calendar { closed_dates: vec![d(2026, 11, 20)], ..Calendar::government() };
        assert!(!special.working_day(d(2026, 11, 20)));
    }

    #[test]
    fn business_time_is_counted_on_open_hours_only() {
        let cal = Calendar::government();
        let table = [
            // Within one day.
            (at(2026, 11, 20, 9, 0), at(2026, 11, 20, 10, 30), 90 * 60_000),
            // Before opening and after closing count nothing.
            (at(2026, 11, 20, 7, 0), at(2026, 11, 20, 8, 30), 0),
            (at(2026, 11, 20, 17, 15), at(2026, 11, 20, 23, 0), 0),
            // Friday 16:15 to Monday 09:30: one hour on Friday, an hour on Monday (11/23 is a holiday: Tuesday).
            (at(2026, 11, 20, 16, 15), at(2026, 11, 24, 9, 30), 2 * HOUR),
            // Over the silver week: Friday 9/18 17:00 to Thursday 9/24 9:00 — 15 min + 30 min.
            (at(2026, 9, 18, 17, 0), at(2026, 9, 24, 9, 0), 45 * 60_000),
            // Over the year-end closure: 12/28 16:15 to 1/4 9:30.
            (at(2026, 12, 28, 16, 15), at(2027, 1, 4, 9, 30), 2 * HOUR),
            // Whole working days.
            (at(2026, 11, 16, 0, 0), at(2026, 11, 21, 0, 0), 5 * DAY),
            (at(2026, 11, 20, 10, 0), at(2026, 11, 20, 9, 0), 0),
        ];
        for (from, to, want) in table {
            assert_eq!(cal.business_ms(from, to), want, "{from} → {to}");
        }
        let always = Calendar::around_the_clock();
        assert_eq!(always.business_ms(at(2026, 12, 31, 22, 0), at(2027, 1, 1, 2, 0)), 4 * HOUR);
    }

    #[test]
    fn a_deadline_lands_on_open_time() {
        let cal = Calendar::government();
        let table = [
            // Four business hours from Friday 15:00: 2h15 on Friday, then Tuesday (Monday 11/23 is a holiday).
            (at(2026, 11, 20, 15, 0), 4 * HOUR, at(2026, 11, 24, 10, 15)),
            // From a Saturday night: counted from Monday's opening.
            (at(2026, 11, 14, 22, 0), HOUR, at(2026, 11, 16, 9, 30)),
            // Over the year-end closure.
            (at(2026, 12, 28, 17, 0), 30 * 60_000, at(2027, 1, 4, 8, 45)),
            // Zero business time: the next opening (or now, when open).
            (at(2026, 11, 20, 18, 0), 0, at(2026, 11, 24, 8, 30)),
            (at(2026, 11, 20, 10, 0), 0, at(2026, 11, 20, 10, 0)),
            // Exactly at closing: the rest falls on the next working day.
            (at(2026, 11, 20, 9, 15), 8 * HOUR, at(2026, 11, 20, 17, 15)),
            (at(2026, 11, 20, 9, 15), 8 * HOUR + 60_000, at(2026, 11, 24, 8, 31)),
        ];
        for (from, business, want) in table {
            let due = cal.add_business(from, business);
            assert_eq!(due, want, "{from} + {business}");
            assert_eq!(cal.business_ms(from, due), business, "round trip from {from}");
        }
        let always = Calendar::around_the_clock();
        assert_eq!(always.add_business(at(2026, 12, 31, 23, 0), 2 * HOUR), at(2027, 1, 1, 1, 0));
        let never = Calendar { days: vec![], ..Calendar::government() };
        assert_eq!(never.add_business(at(2026, 11, 20, 10, 0), HOUR), i64::MAX);
    }

    #[test]
    fn opening_hours() {
        let cal = Calendar::government();
        let d = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        let t = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        assert_eq!(cal.opening(d, t(8, 29)), Opening::AfterHours);
        assert_eq!(cal.opening(d, t(8, 30)), Opening::Open);
        assert_eq!(cal.opening(d, t(17, 15)), Opening::AfterHours);
        assert_eq!(cal.opening(d + Duration::days(1), t(10, 0)), Opening::ClosedDay);
    }
}
