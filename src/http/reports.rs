//! `GET /api/reports/{daily|weekly|monthly}?date=|month=&format=json|csv`: a periodic report's
//! figures (supervisors and admins). The console's `/reports` page renders the same report.

use super::auth::Acting;
use super::extract::{ApiPath, ApiQuery};
use super::{ApiError, AppState};
use crate::domain::time::{now_millis, to_jst};
use crate::domain::user::Role;
use crate::reports::{self, Format, Period, PeriodKind, Report, ReportError};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportParams {
    /// Any day of the period, `YYYY-MM-DD` (JST).
    pub date: Option<String>,
    /// The month, `YYYY-MM` (monthly only).
    pub month: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// The period a request names, or its last whole one.
pub(crate) fn period_of(kind: PeriodKind, p: &ReportParams) -> Result<Period, ApiError> {
    let today = to_jst(now_millis()).date_naive();
    Period::chosen(kind, p.date.as_deref(), p.month.as_deref(), today).map_err(|e| ApiError::BadRequest(e.to_string()))
}

pub(crate) async fn report_of(state: &AppState, period: &Period) -> Result<Report, ApiError> {
    reports::compute(&state.store, period, now_millis()).await.map_err(|e| match e {
        ReportError::Store(e) => ApiError::from(e),
        ReportError::Format(f) => ApiError::BadRequest(format!("unknown format '{f}'")),
    })
}

#[utoipa::path(
    get,
    path = "/api/reports/{kind}",
    tag = "reports",
    operation_id = "report",
    params(("kind" = String, Path, description = "daily, weekly or monthly"), ReportParams),
    responses((status = 200, description = "the report: JSON, or CSV with format=csv", content((Object = "application/json"), (String = "text/csv"))), (status = 403, description = "supervisors only", body = super::openapi::ErrorBody), (status = 404, description = "another kind", body = super::openapi::ErrorBody))
)]
pub async fn show(
    State(state): State<AppState>,
    ApiPath(kind): ApiPath<String>,
    acting: Acting,
    ApiQuery(params): ApiQuery<ReportParams>,
) -> Result<Response, ApiError> {
    acting.require(Role::Supervisor)?;
    let kind: PeriodKind = kind.parse().map_err(|e: reports::PeriodError| ApiError::NotFound(e.to_string()))?;
    let format = match params.format.as_deref().unwrap_or("json") {
        "json" => Format::Json,
        "csv" => Format::Csv,
        _ => return Err(ApiError::BadRequest("format: json or csv".into())),
    };
    let period = period_of(kind, &params)?;
    let report = report_of(&state, &period).await?;
    if format == Format::Json {
        return Ok(Json(report).into_response());
    }
    let mut response = reports::write(&report, Format::Csv).into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    let name = format!("attachment; filename=\"report-{}-{}.csv\"", kind.as_str(), period.first);
    if let Ok(v) = HeaderValue::from_str(&name) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}
