//! A report's period: one JST day, one Monday-to-Sunday JST week, or one JST month, from JST
//! midnight to JST midnight (never UTC's). Pure: dates in, instants out.

use crate::domain::calendar::Calendar;
use crate::domain::time::jst;
use chrono::{Datelike, Days, Months, NaiveDate, TimeZone};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PeriodKind {
    Daily,
    Weekly,
    Monthly,
}

impl PeriodKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PeriodKind::Daily => "daily",
            PeriodKind::Weekly => "weekly",
            PeriodKind::Monthly => "monthly",
        }
    }

    pub fn ja(self) -> &'static str {
        match self {
            PeriodKind::Daily => "日次報告",
            PeriodKind::Weekly => "週次報告",
            PeriodKind::Monthly => "月次報告",
        }
    }

    pub fn en(self) -> &'static str {
        match self {
            PeriodKind::Daily => "Daily report",
            PeriodKind::Weekly => "Weekly report",
            PeriodKind::Monthly => "Monthly report",
        }
    }
}

impl std::str::FromStr for PeriodKind {
    type Err = PeriodError;

    fn from_str(s: &str) -> Result<PeriodKind, PeriodError> {
        match s {
            "daily" => Ok(PeriodKind::Daily),
            "weekly" => Ok(PeriodKind::Weekly),
            "monthly" => Ok(PeriodKind::Monthly),
            _ => Err(PeriodError::Kind),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    #[error("報告の種類は daily, weekly, monthly のいずれかです / the report is daily, weekly or monthly")]
    Kind,
    #[error("date は 2026-11-20 の形で指定してください / date must be a date like 2026-11-20")]
    Date,
    #[error("month は 2026-11 の形で指定してください / month must be a month like 2026-11")]
    Month,
    #[error("month は月次報告だけに使えます / month is only for the monthly report")]
    MonthNotMonthly,
    #[error("date と month はどちらか一方だけ指定してください / give date or month, not both")]
    Both,
}

/// The days `first..=last` of one report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub kind: PeriodKind,
    pub first: NaiveDate,
    pub last: NaiveDate,
}

impl Period {
    pub fn day(date: NaiveDate) -> Period {
        Period { kind: PeriodKind::Daily, first: date, last: date }
    }

    /// The Monday-to-Sunday week `date` is in.
    pub fn week_of(date: NaiveDate) -> Period {
        let monday = date - Days::new(u64::from(date.weekday().num_days_from_monday()));
        Period { kind: PeriodKind::Weekly, first: monday, last: monday + Days::new(6) }
    }

    /// The month `date` is in.
    pub fn month_of(date: NaiveDate) -> Period {
        let first = date.with_day(1).unwrap_or(date);
        let last = first.checked_add_months(Months::new(1)).map_or(first, |next| next - Days::new(1));
        Period { kind: PeriodKind::Monthly, first, last }
    }

    /// The period of `kind` that `date` is in.
    pub fn containing(kind: PeriodKind, date: NaiveDate) -> Period {
        match kind {
            PeriodKind::Daily => Period::day(date),
            PeriodKind::Weekly => Period::week_of(date),
            PeriodKind::Monthly => Period::month_of(date),
        }
    }

    /// The last whole period of `kind` before `today`: yesterday, last week, last month.
    pub fn previous(kind: PeriodKind, today: NaiveDate) -> Period {
        let current = Period::containing(kind, today);
        Period::containing(kind, current.first - Days::new(1))
    }

    /// The period a request or the command line names: `date` (any day in it) or, for the
    /// monthly report, `month` (`2026-11`); neither: the last whole one before `today`.
    pub fn chosen(
        kind: PeriodKind,
        date: Option<&str>,
        month: Option<&str>,
        today: NaiveDate,
    ) -> Result<Period, PeriodError> {
        let (date, month) =
            (date.map(str::trim).filter(|d| !d.is_empty()), month.map(str::trim).filter(|m| !m.is_empty()));
        match (date, month) {
            (Some(_), Some(_)) => Err(PeriodError::Both),
            (Some(d), None) => {
                let d = NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| PeriodError::Date)?;
                Ok(Period::containing(kind, d))
            }
            (None, Some(_)) if kind != PeriodKind::Monthly => Err(PeriodError::MonthNotMonthly),
            (None, Some(m)) => {
                let d = NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").map_err(|_| PeriodError::Month)?;
                if m.len() != 7 {
                    return Err(PeriodError::Month);
                }
                Ok(Period::month_of(d))
            }
            (None, None) => Ok(Period::previous(kind, today)),
        }
    }

    /// JST midnight at the start of `date`, as UTC milliseconds.
    fn midnight(date: NaiveDate) -> i64 {
        let naive = date.and_hms_opt(0, 0, 0).expect("midnight exists");
        jst().from_local_datetime(&naive).single().map_or(0, |t| t.timestamp_millis())
    }

    /// The first instant of the period (UTC ms).
    pub fn start_ms(&self) -> i64 {
        Period::midnight(self.first)
    }

    /// The first instant after the period (UTC ms).
    pub fn end_ms(&self) -> i64 {
        Period::midnight(self.last + Days::new(1))
    }

    /// `2026-11-20`, `2026-11-16〜2026-11-22`, `2026-11`.
    pub fn label(&self) -> String {
        match self.kind {
            PeriodKind::Daily => self.first.format("%Y-%m-%d").to_string(),
            PeriodKind::Weekly => format!("{}〜{}", self.first.format("%Y-%m-%d"), self.last.format("%Y-%m-%d")),
            PeriodKind::Monthly => self.first.format("%Y-%m").to_string(),
        }
    }

    /// The period's working days on `calendar` (public holidays and 12/29–1/3 excluded).
    pub fn business_days(&self, calendar: &Calendar) -> u32 {
        self.first.iter_days().take_while(|d| *d <= self.last).filter(|d| calendar.working_day(*d)).count() as u32
    }
}

/// The first working day of the month `date` is in (the monthly report goes out on it).
pub fn first_business_day(date: NaiveDate, calendar: &Calendar) -> NaiveDate {
    let month = Period::month_of(date);
    month.first.iter_days().take_while(|d| *d <= month.last).find(|d| calendar.working_day(*d)).unwrap_or(month.first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_day_runs_from_jst_midnight_to_jst_midnight() {
        let p = Period::day(d("2026-11-20"));
        // 2026-11-20T00:00+09:00 = 2026-11-19T15:00Z.
        assert_eq!(crate::domain::time::jst_rfc3339(p.start_ms()), "2026-11-20T00:00:00+09:00");
        assert_eq!(p.start_ms(), chrono::Utc.with_ymd_and_hms(2026, 11, 19, 15, 0, 0).unwrap().timestamp_millis());
        assert_eq!(p.end_ms() - p.start_ms(), 86_400_000);
        assert_eq!(p.label(), "2026-11-20");
    }

    #[test]
    fn weeks_run_monday_to_sunday_and_months_whole() {
        // 2026-11-20 is a Friday; its week is 11/16 (Mon) to 11/22 (Sun).
        let w = Period::week_of(d("2026-11-20"));
        assert_eq!((w.first, w.last), (d("2026-11-16"), d("2026-11-22")));
        assert_eq!(Period::week_of(d("2026-11-22")), w, "a Sunday is the end of its week");
        assert_eq!(Period::week_of(d("2026-11-16")), w);
        assert_eq!(w.label(), "2026-11-16〜2026-11-22");
        let m = Period::month_of(d("2027-02-14"));
        assert_eq!((m.first, m.last, m.label()), (d("2027-02-01"), d("2027-02-28"), "2027-02".into()));
        assert_eq!(Period::month_of(d("2026-12-31")).last, d("2026-12-31"));
    }

    #[test]
    fn the_previous_period_is_yesterday_last_week_last_month() {
        let today = d("2027-01-04");
        assert_eq!(Period::previous(PeriodKind::Daily, today), Period::day(d("2027-01-03")));
        let w = Period::previous(PeriodKind::Weekly, today);
        assert_eq!((w.first, w.last), (d("2026-12-28"), d("2027-01-03")));
        let m = Period::previous(PeriodKind::Monthly, today);
        assert_eq!((m.first, m.last), (d("2026-12-01"), d("2026-12-31")));
    }

    #[test]
    fn chosen_periods_come_from_date_or_month() {
        let today = d("2026-11-22");
        let p = |k, date, month| Period::chosen(k, date, month, today);
        assert_eq!(p(PeriodKind::Daily, None, None), Ok(Period::day(d("2026-11-21"))));
        assert_eq!(p(PeriodKind::Monthly, None, Some("2026-12")), Ok(Period::month_of(d("2026-12-01"))));
        assert_eq!(p(PeriodKind::Monthly, Some("2026-12-15"), None), Ok(Period::month_of(d("2026-12-01"))));
        assert_eq!(p(PeriodKind::Weekly, Some("2026-11-20"), None), Ok(Period::week_of(d("2026-11-16"))));
        assert_eq!(p(PeriodKind::Daily, None, Some("2026-12")), Err(PeriodError::MonthNotMonthly));
        assert_eq!(p(PeriodKind::Daily, Some("2026-13-01"), None), Err(PeriodError::Date));
        assert_eq!(p(PeriodKind::Monthly, None, Some("2026-1")), Err(PeriodError::Month));
        assert_eq!(p(PeriodKind::Monthly, Some("2026-12-01"), Some("2026-12")), Err(PeriodError::Both));
        assert_eq!("yearly".parse::<PeriodKind>(), Err(PeriodError::Kind));
    }

    #[test]
    fn business_days_leave_out_holidays_and_the_year_end_closure() {
        let gov = Calendar::government();
        // December 2026: 23 weekdays, less 12/29, 12/30, 12/31 (closure) = 20.
        assert_eq!(Period::month_of(d("2026-12-01")).business_days(&gov), 20);
        // January 2027: 21 weekdays, less 1/1 (closure) and 1/11 (成人の日) = 19.
        assert_eq!(Period::month_of(d("2027-01-01")).business_days(&gov), 19);
        // November 2026: 21 weekdays, less 11/3 (文化の日) and 11/23 (勤労感謝の日) = 19.
        assert_eq!(Period::month_of(d("2026-11-01")).business_days(&gov), 19);
        assert_eq!(Period::day(d("2026-11-21")).business_days(&gov), 0, "a Saturday");
        assert_eq!(first_business_day(d("2027-01-20"), &gov), d("2027-01-04"));
        assert_eq!(first_business_day(d("2026-11-30"), &gov), d("2026-11-02"), "11/1 is a Sunday");
    }
}
