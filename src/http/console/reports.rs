//! `GET /reports?kind=daily|weekly|monthly&date=YYYY-MM-DD`: a periodic report with its charts
//! (SVG drawn on the server, no script), for supervisors and admins. A period picker on top;
//! the same figures as CSV or JSON from `/api/reports/…`.

use super::layout::{Nav, Viewer, layout, page, t};
use crate::domain::user::Role;
use crate::http::extract::ApiQuery;
use crate::http::reports::{ReportParams, period_of, report_of};
use crate::http::{ApiError, AppState};
use crate::reports::{PeriodKind, render};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub(super) struct PageParams {
    kind: Option<String>,
    date: Option<String>,
    month: Option<String>,
}

pub(super) async fn reports(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiQuery(p): ApiQuery<PageParams>,
) -> Result<Response, ApiError> {
    let lang = viewer.lang;
    let title = t(lang, "報告", "Reports");
    if !viewer.identity.role.allows(Role::Supervisor) {
        let text =
            t(lang, "報告はスーパーバイザーと管理者だけが見られます。", "Only supervisors and admins may see reports.");
        let body = html! { h1 { (title) } p.error { (text) } };
        return Ok(page(StatusCode::FORBIDDEN, layout(&viewer, title, Nav::Reports, body)));
    }
    let kind = match p.kind.as_deref().unwrap_or("daily").parse::<PeriodKind>() {
        Ok(kind) => kind,
        Err(e) => return Ok(refused(&viewer, PeriodKind::Daily, &e.to_string())),
    };
    let params = ReportParams { date: p.date, month: p.month, format: None };
    let period = match period_of(kind, &params) {
        Ok(period) => period,
        Err(e) => return Ok(refused(&viewer, kind, &e.to_string())),
    };
    let report = report_of(&state, &period).await?;
    let query = format!("date={}", period.first);
    let body = html! {
        h1 { (title) }
        (picker(&viewer, kind, &period.first.to_string()))
        p.report-downloads {
            a href=(format!("/api/reports/{}?{query}&format=csv", kind.as_str())) download { "CSV" }
            " "
            a href=(format!("/api/reports/{}?{query}", kind.as_str())) { "JSON" }
        }
        (render::html(&report))
    };
    Ok(page(StatusCode::OK, layout(&viewer, title, Nav::Reports, body)))
}

fn refused(viewer: &Viewer, kind: PeriodKind, why: &str) -> Response {
    let title = t(viewer.lang, "報告", "Reports");
    let body = html! { h1 { (title) } (picker(viewer, kind, "")) p.error { (why) } };
    page(StatusCode::BAD_REQUEST, layout(viewer, title, Nav::Reports, body))
}

/// The period picker: a plain GET form, no script.
fn picker(viewer: &Viewer, kind: PeriodKind, date: &str) -> maud::Markup {
    let lang = viewer.lang;
    let kinds = [
        (PeriodKind::Daily, t(lang, "日次（1日）", "Daily (a day)")),
        (PeriodKind::Weekly, t(lang, "週次（月〜日）", "Weekly (Mon–Sun)")),
        (PeriodKind::Monthly, t(lang, "月次（1か月）", "Monthly (a month)")),
    ];
    html! {
        form.report-picker method="get" action="/reports" {
            label {
                (t(lang, "種類", "Report")) " "
                select name="kind" {
                    @for (k, label) in kinds {
                        option value=(k.as_str()) selected[k == kind] { (label) }
                    }
                }
            }
            " "
            label {
                (t(lang, "期間内の日付（JST）", "A day in the period (JST)")) " "
                input type="date" name="date" value=(date);
            }
            " "
            button type="submit" { (t(lang, "表示", "Show")) }
        }
    }
}
