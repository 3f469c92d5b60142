//! Periodic reports (定期報告): the daily report the helpdesk sends, the monthly one operations
//! sends, and a weekly one, over JST days, Monday-to-Sunday weeks and months.
//!
//! - `period`: which days a report covers, and their instants (JST midnight to JST midnight).
//! - `figures`: the figures from the store's counts (pure); `stats`: median, p90, percentages.
//! - `render`: text, CSV, JSON and HTML with `svg` charts: one renderer for the console, the
//!   command line and the mail.
//! - `schedule`: the daily and monthly mail, each claimed once among every service.

pub mod figures;
pub mod period;
pub mod render;
pub mod schedule;
mod stats;
mod svg;

pub use figures::Report;
pub use period::{Period, PeriodError, PeriodKind};

use crate::domain::calendar::Calendar;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("unknown format '{0}': text, csv, json or html")]
    Format(String),
}

/// How a report is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Csv,
    Json,
    Html,
}

impl std::str::FromStr for Format {
    type Err = ReportError;

    fn from_str(s: &str) -> Result<Format, ReportError> {
        match s {
            "text" => Ok(Format::Text),
            "csv" => Ok(Format::Csv),
            "json" => Ok(Format::Json),
            "html" => Ok(Format::Html),
            other => Err(ReportError::Format(other.to_owned())),
        }
    }
}

/// The report of `period` as the store holds it at `now`.
pub async fn compute(store: &Store, period: &Period, now: i64) -> Result<Report, ReportError> {
    let (start, end) = (period.start_ms(), period.end_ms());
    let facts = store.report_facts(start, end).await?;
    let faq = faq_use(store, start, end).await;
    let business_days = period.business_days(&Calendar::government());
    Ok(figures::report(period, business_days, &facts, faq.as_ref(), now))
}

/// The FAQ's use in the period, or `None` ("not available") when the FAQ's tables are not in
/// this database or cannot be read as expected: the rest of the report stands either way.
async fn faq_use(store: &Store, start: i64, end: i64) -> Option<crate::store::FaqFacts> {
    match store.report_faq(start, end).await {
        Ok(faq) => faq,
        Err(e) => {
            tracing::warn!(error = %e, "FAQ use not read for the report");
            None
        }
    }
}

/// The report written out as `format`.
pub fn write(report: &Report, format: Format) -> String {
    match format {
        Format::Text => render::text(report),
        Format::Csv => render::csv(report),
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default(),
        Format::Html => render::html_document(report),
    }
}
