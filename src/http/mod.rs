//! The HTTP side: the JSON API (documented in README.md) and the operator console (`console/`).
//! Handlers are thin: they turn requests into domain values, call the intake or the store, and
//! map each typed failure to a status code in [`error`].

pub(crate) mod access;
mod auth;
mod callbacks;
mod calls;
mod console;
mod contacts;
mod cookie;
mod documents;
mod error;
mod escalation;
mod events;
mod extract;
mod facts;
mod faq;
mod faq_public;
mod health;
mod interviews;
mod merge;
mod metrics;
mod notices;
mod notices_public;
mod pages;
mod prompts;
mod rate;
mod replies;
mod reports;
pub(crate) mod server;
mod suggest;
mod survey;
mod survey_public;
mod tickets;
mod users;

pub use error::ApiError;
pub use replies::ReplySetup;

use crate::intake::Intake;
use crate::store::{AttachmentFiles, Store};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub intake: Intake,
    pub files: AttachmentFiles,
    pub limits: Limits,
    pub replies: ReplySetup,
    /// Told after an announcement version is requested, decided or rolled back to.
    pub announcements: crate::ivr::announcer::Announcements,
    /// `[[status_sources]]` and what fetches them (system facts).
    pub facts: crate::facts::Collector,
}

/// What no request may exceed, from the settings.
#[derive(Debug, Clone)]
pub struct Limits {
    /// `[http] hostnames`: the names a Host header may carry besides addresses and localhost.
    pub hostnames: std::sync::Arc<Vec<String>>,
    /// `[intake] max_attachments_per_contact`.
    pub max_attachments: usize,
    /// `[http] query_timeout_ms`: a read that takes longer is stopped and answered 503.
    pub query_timeout: std::time::Duration,
    /// `[http] requests_per_minute` of one credential; 0 is no limit.
    pub requests_per_minute: u32,
    /// Cookies are marked `Secure`: served over TLS (`[http] tls_cert`, `tls_key`), or
    /// `[http] secure_cookies` (a TLS proxy in front).
    pub secure: bool,
    /// `[http] session_idle_minutes` and `session_max_hours`.
    pub session: crate::domain::session::SessionPolicy,
    /// `[prompts] max_upload_bytes` and `max_seconds`.
    pub upload: crate::media::upload::UploadLimits,
    /// `[prompts] tts_command`.
    pub tts_command: std::sync::Arc<Vec<String>>,
    /// `[http] public_url`, without a trailing slash; empty: each request's own.
    pub public_url: std::sync::Arc<str>,
    /// `[faq] approvals`: the steps every FAQ entry is approved in, in order.
    pub faq_steps: std::sync::Arc<crate::domain::faq::Steps>,
    /// `[survey] max_comment_chars`: the longest comment a survey answer may carry.
    pub survey_max_comment_chars: usize,
    /// `[metrics] token`: a bearer token that may read `/metrics`.
    pub metrics_token: crate::config::Secret,
    /// `[log] access`: one log line per request.
    pub access_log: bool,
}

impl Limits {
    pub fn of(settings: &crate::config::Settings) -> Limits {
        Limits {
            hostnames: std::sync::Arc::new(settings.http.hostnames.clone()),
            max_attachments: settings.intake.max_attachments_per_contact as usize,
            query_timeout: std::time::Duration::from_millis(settings.http.query_timeout_ms),
            requests_per_minute: settings.http.requests_per_minute,
            secure: settings.http.secure_cookies
                || (!settings.http.tls_cert.is_empty() && !settings.http.tls_key.is_empty()),
            session: crate::domain::session::SessionPolicy::from_settings(
                settings.http.session_idle_minutes,
                settings.http.session_max_hours,
            ),
            upload: crate::media::upload::UploadLimits {
                max_bytes: usize::try_from(settings.prompts.max_upload_bytes).unwrap_or(usize::MAX),
                max_seconds: settings.prompts.max_seconds,
            },
            tts_command: std::sync::Arc::new(settings.prompts.tts_command.clone()),
            public_url: settings.http.public_url.trim_end_matches('/').into(),
            faq_steps: std::sync::Arc::new(crate::domain::faq::Steps::new(&settings.faq.approvals)),
            survey_max_comment_chars: settings.survey.max_comment_chars as usize,
            metrics_token: settings.metrics.token.clone(),
            access_log: settings.log.access,
        }
    }
}

pub fn router(mut state: AppState, max_body_bytes: usize) -> Router {
    state.store = state.store.with_read_timeout(state.limits.query_timeout);
    // Every route but /healthz, the sign-in page and the console's assets needs an identity.
    let authenticated = Router::new()
        .route("/api/tickets", get(tickets::list))
        .route("/api/tickets/{number}", get(tickets::show).patch(tickets::update))
        .route("/api/tickets/{number}/contacts", get(tickets::contacts))
        .route("/api/tickets/{number}/contacts/{id}/attachments", get(tickets::contact_attachments))
        .route("/api/tickets/{number}/attachments", get(tickets::attachments))
        .route("/api/tickets/{number}/history", get(tickets::history))
        .route("/api/tickets/{number}/merge", axum::routing::post(merge::merge))
        .route("/api/me/tickets", get(tickets::mine))
        .route("/api/attachments/{id}", get(tickets::attachment))
        .route("/api/contacts", axum::routing::post(contacts::create))
        .route("/api/events", get(events::stream))
        .route("/api/operators", get(users::operators))
        .route("/api/users", get(users::list).post(users::add))
        .route("/api/users/{login}/disable", axum::routing::post(users::disable))
        .route("/api/tokens", get(users::tokens).post(users::add_token))
        .route("/api/tokens/{id}", axum::routing::delete(users::revoke_token))
        .route("/api/tickets/{number}/replies", axum::routing::post(replies::create))
        .route("/api/attachments/{id}/pages", get(pages::count))
        .route("/api/attachments/{id}/pages/{page}", get(pages::page))
        .route("/api/calls", get(calls::list))
        .route("/api/callbacks", get(callbacks::list))
        .route("/api/callbacks/{id}", get(callbacks::show))
        .route("/api/callbacks/{id}/attempts", axum::routing::post(callbacks::attempt))
        .route("/api/prompts", get(prompts::list))
        .route("/api/prompts/{slot}/versions", axum::routing::post(prompts::request))
        .route("/api/prompts/{slot}/versions/{version}/approve", axum::routing::post(prompts::approve))
        .route("/api/prompts/{slot}/versions/{version}/reject", axum::routing::post(prompts::reject))
        .route("/api/prompts/{slot}/versions/{version}/rollback", axum::routing::post(prompts::roll_back))
        .route("/api/prompts/{slot}/versions/{version}/audio", get(prompts::audio))
        .route("/api/groups", get(escalation::groups))
        .route("/api/contact-list", get(documents::show_contact_list).put(documents::save_contact_list))
        .route("/api/interview-templates", get(documents::show_interviews).put(documents::save_interviews))
        .route("/api/tickets/{number}/escalate", axum::routing::post(escalation::escalate))
        .route("/api/tickets/{number}/relays", axum::routing::post(escalation::log_relay))
        .route("/api/tickets/{number}/sla", get(escalation::clocks))
        .route("/api/tickets/{number}/suggestions", get(suggest::suggestions))
        .route("/api/interviews", get(interviews::templates))
        .route("/api/tickets/{number}/interview", get(interviews::show).put(interviews::put).patch(interviews::patch))
        .route("/api/tickets/{number}/answered-from", axum::routing::post(suggest::answered_from))
        .route("/api/tickets/{number}/system-facts", get(facts::list).post(facts::fetch))
        .route("/api/tickets/{number}/survey", get(survey::show))
        .route("/api/notices", get(notices::list).post(notices::draft))
        .route("/api/notices/{id}/approve", axum::routing::post(notices::approve))
        .route("/api/notices/{id}/reject", axum::routing::post(notices::reject))
        .route("/api/notices/{id}/withdraw", axum::routing::post(notices::withdraw))
        .route("/api/notices/{id}/audio", get(notices::audio))
        .route("/api/faq", get(faq::list).post(faq::draft))
        .route("/api/faq/candidates", get(faq::candidates))
        .route("/api/faq/{id}", get(faq::show).patch(faq::edit))
        .route("/api/faq/{id}/submit", axum::routing::post(faq::submit))
        .route("/api/faq/{id}/approve", axum::routing::post(faq::approve))
        .route("/api/faq/{id}/reject", axum::routing::post(faq::reject))
        .route("/api/faq/{id}/publish", axum::routing::post(faq::publish))
        .route("/api/faq/{id}/withdraw", axum::routing::post(faq::withdraw))
        .route("/api/reports/{kind}", get(reports::show))
        .route_layer(axum::middleware::from_fn_with_state(
            rate::RateLimiter::new(state.limits.requests_per_minute),
            rate::limit,
        ))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate));
    let access_log = state.limits.access_log;
    let app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::scrape))
        .merge(authenticated)
        .merge(console::routes(&state))
        .merge(notices_public::routes())
        .merge(faq_public::routes())
        .merge(survey_public::routes())
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::known_host))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::Extension(extract::BodyLimit(max_body_bytes)));
    // Outermost, so that every answer is logged, refusals by the layers above included.
    let app = if access_log { app.layer(axum::middleware::from_fn(access::log)) } else { app };
    app.with_state(state)
}

/// What `[metrics] listen` serves: `GET /metrics`, nothing else, without authentication (and
/// without an access line per scrape).
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::open))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .with_state(state)
}
