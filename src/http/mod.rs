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
pub(crate) mod openapi;
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
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    // Every /api/ route is registered from its handler's `#[utoipa::path]` (path, method,
    // parameters, answers), so the router and the OpenAPI document come from the same place.
    // Every route but /healthz, the sign-in page and the console's assets needs an identity.
    let authenticated = OpenApiRouter::new()
        .routes(routes!(tickets::list))
        .routes(routes!(tickets::show, tickets::update))
        .routes(routes!(tickets::contacts))
        .routes(routes!(tickets::contact_attachments))
        .routes(routes!(tickets::attachments))
        .routes(routes!(tickets::history))
        .routes(routes!(merge::merge))
        .routes(routes!(tickets::mine))
        .routes(routes!(tickets::attachment))
        .routes(routes!(contacts::create))
        .routes(routes!(events::stream))
        .routes(routes!(users::operators))
        .routes(routes!(users::list, users::add))
        .routes(routes!(users::disable))
        .routes(routes!(users::tokens, users::add_token))
        .routes(routes!(users::revoke_token))
        .routes(routes!(replies::create))
        .routes(routes!(pages::count))
        .routes(routes!(pages::page))
        .routes(routes!(calls::list))
        .routes(routes!(callbacks::list))
        .routes(routes!(callbacks::show))
        .routes(routes!(callbacks::attempt))
        .routes(routes!(prompts::list))
        .routes(routes!(prompts::request))
        .routes(routes!(prompts::approve))
        .routes(routes!(prompts::reject))
        .routes(routes!(prompts::roll_back))
        .routes(routes!(prompts::audio))
        .routes(routes!(escalation::groups))
        .routes(routes!(documents::show_contact_list, documents::save_contact_list))
        .routes(routes!(documents::show_interviews, documents::save_interviews))
        .routes(routes!(escalation::escalate))
        .routes(routes!(escalation::log_relay))
        .routes(routes!(escalation::clocks))
        .routes(routes!(suggest::suggestions))
        .routes(routes!(interviews::templates))
        .routes(routes!(interviews::show, interviews::put, interviews::patch))
        .routes(routes!(suggest::answered_from))
        .routes(routes!(facts::list, facts::fetch))
        .routes(routes!(survey::show))
        .routes(routes!(notices::list, notices::draft))
        .routes(routes!(notices::approve))
        .routes(routes!(notices::reject))
        .routes(routes!(notices::withdraw))
        .routes(routes!(notices::audio))
        .routes(routes!(faq::list, faq::draft))
        .routes(routes!(faq::candidates))
        .routes(routes!(faq::show, faq::edit))
        .routes(routes!(faq::submit))
        .routes(routes!(faq::approve))
        .routes(routes!(faq::reject))
        .routes(routes!(faq::publish))
        .routes(routes!(faq::withdraw))
        .routes(routes!(reports::show))
        .route_layer(axum::middleware::from_fn_with_state(
            rate::RateLimiter::new(state.limits.requests_per_minute),
            rate::limit,
        ))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate));
    let access_log = state.limits.access_log;
    let (api, doc) = OpenApiRouter::with_openapi(openapi::base())
        .merge(authenticated)
        .merge(console::api_routes(&state))
        .routes(routes!(openapi::serve))
        .split_for_parts();
    let api = api.layer(axum::Extension(openapi::Document::of(&openapi::complete(doc))));
    let app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics::scrape))
        .merge(api)
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
