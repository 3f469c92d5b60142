//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the JSON API. It is generated from the
//! code, so it cannot drift from the routing: every `/api/` route is registered through
//! utoipa-axum's `routes!` from a handler's `#[utoipa::path]` annotation, which names its path,
//! method, parameters, body and answers, and the router and this document are both split from
//! that one `OpenApiRouter` (see [`super::router`]).
//!
//! The answers every route shares are added here by rule ([`complete`]) rather than repeated on
//! each handler: 401 and 503 for every signed-in route (the credential is looked up in the
//! store), 429 for the rate-limited ones, 403 for every change (a console session's CSRF and
//! origin checks), 400 for a route with path or query parameters (one that does not parse), and
//! 400/413/415/422 for a route with a JSON body. The document is public: it describes the API
//! and holds no data.

use axum::Extension;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use utoipa::openapi::path::{HttpMethod, Operation};
use utoipa::openapi::response::{Response as ApiResponse, ResponseBuilder};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// Every error: `{"error": {"code": "not_found", "message": "..."}}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ErrorDetail {
    /// What happened, for programs: `bad_request`, `invalid`, `not_found`, `conflict`,
    /// `forbidden`, `csrf`, `unauthenticated`, `too_many_requests`, `busy`, ...
    code: String,
    /// What happened, for people (Japanese and English where the refusal is the caller's to fix).
    message: String,
}

/// The operation ids of the routes outside the per-credential rate limit.
const NOT_RATE_LIMITED: &[&str] = &["session", "openapi"];

/// The document before the routes are added: what it is, and how to sign in.
pub fn base() -> OpenApi {
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("madoguchi")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The JSON API of the helpdesk's single window (窓口): tickets, contacts, calls, \
                     callbacks, announcements, notices, FAQ, reports. Described in README.md, section HTTP API.",
                ))
                .build(),
        )
        .build();
    let components = doc.components.get_or_insert_with(Default::default);
    components
        .add_security_scheme("bearer", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            super::cookie::SESSION,
            "the console's session (sign in at /login); changes also send X-CSRF-Token",
        ))),
    );
    let (name, schema) = (ErrorBody::name(), ErrorBody::schema());
    components.schemas.insert(name.into(), schema);
    let (name, schema) = (ErrorDetail::name(), ErrorDetail::schema());
    components.schemas.insert(name.into(), schema);
    doc.security = Some(vec![
        SecurityRequirement::new("bearer", Vec::<String>::new()),
        SecurityRequirement::new("session", Vec::<String>::new()),
    ]);
    doc
}

/// Adds the answers the routes share (see the module's comment).
pub fn complete(mut doc: OpenApi) -> OpenApi {
    for (path, item) in doc.paths.paths.iter_mut() {
        let has_path_params = path.contains('{');
        for (method, op) in operations(item) {
            let public = op.security.as_ref().is_some_and(|s| s.iter().all(|r| r == &SecurityRequirement::default()));
            let id = op.operation_id.clone().unwrap_or_default();
            let has_query = op.parameters.iter().flatten().any(
                |p| matches!(p, RefOr::T(p) if matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query)),
            );
            let has_body = op.request_body.is_some();
            if let Some(RefOr::T(body)) = op.request_body.as_mut() {
                optional_body(body);
            }
            let mut add = |status: &str, why: &str| {
                op.responses.responses.entry(status.to_owned()).or_insert_with(|| error(why));
            };
            if has_path_params || has_query || has_body {
                add("400", "a path parameter, the query string or the body does not parse");
            }
            if has_body {
                add("413", "the body is larger than [http] max_body_bytes");
                add("415", "the body is not sent as application/json");
                add("422", "the body is JSON but a field is missing, unknown or of the wrong type");
            }
            if !public {
                add("401", "no credential, or a made-up, revoked or disabled user's");
                add("503", "the store did not answer in time or the write queue is full (Retry-After)");
                if method != HttpMethod::Get {
                    add("403", "a console session without the CSRF token or from another site");
                }
                if !NOT_RATE_LIMITED.contains(&id.as_str()) {
                    add("429", "the credential is past [http] requests_per_minute (Retry-After)");
                }
            }
            add("421", "the Host header names a host not in [http] hostnames");
        }
    }
    doc
}

/// A handler's `Option<Body>` is rendered as a required body that may be JSON `null`; the
/// handlers take no body (or an empty one) instead, and refuse `null`: the body's own schema,
/// not required.
fn optional_body(body: &mut utoipa::openapi::request_body::RequestBody) {
    let null = serde_json::json!({"type": "null"});
    for content in body.content.values_mut() {
        let RefOr::T(content) = content else { continue };
        let Some(RefOr::T(utoipa::openapi::schema::Schema::OneOf(one))) = &content.schema else { continue };
        let (nulls, rest): (Vec<_>, Vec<_>) =
            one.items.iter().cloned().partition(|s| serde_json::to_value(s).is_ok_and(|v| v == null));
        if let ([_], [schema]) = (nulls.as_slice(), rest.as_slice()) {
            content.schema = Some(schema.clone());
            body.required = Some(utoipa::openapi::Required::False);
        }
    }
}

fn operations(item: &mut utoipa::openapi::PathItem) -> Vec<(HttpMethod, &mut Operation)> {
    let mut ops = Vec::new();
    for (method, op) in [
        (HttpMethod::Get, &mut item.get),
        (HttpMethod::Put, &mut item.put),
        (HttpMethod::Post, &mut item.post),
        (HttpMethod::Delete, &mut item.delete),
        (HttpMethod::Patch, &mut item.patch),
    ] {
        if let Some(op) = op.as_mut() {
            ops.push((method, op));
        }
    }
    ops
}

fn error(description: &str) -> RefOr<ApiResponse> {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name(ErrorBody::name()))).build(),
        )
        .build()
        .into()
}

/// The document as served, serialised once when the router is built.
#[derive(Clone)]
pub struct Document(pub Arc<str>);

impl Document {
    pub fn of(doc: &OpenApi) -> Document {
        Document(doc.to_json().unwrap_or_else(|_| "{}".into()).into())
    }
}

/// `GET /api/openapi.json`
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "api",
    operation_id = "openapi",
    security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1)", body = Object))
)]
pub async fn serve(Extension(doc): Extension<Document>) -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], doc.0.to_string()).into_response()
}
