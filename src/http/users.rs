//! Users and tokens: admins list, add and disable users, issue and revoke tokens (as `madoguchi
//! user …` / `token …` do); every signed-in user may list who tickets can be assigned to.

use super::auth::Acting;
use super::extract::{ApiJson, ApiPath};
use super::{ApiError, AppState};
use crate::domain::user::{Role, login_problem, password_problem};
use crate::store::{TokenRecord, UserRecord};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

#[utoipa::path(
    get,
    path = "/api/users",
    tag = "users",
    operation_id = "list_users",
    responses((status = 200, description = "{users}", body = Object), (status = 403, description = "admins only", body = super::openapi::ErrorBody))
)]
pub async fn list(State(state): State<AppState>, acting: Acting) -> Result<Json<Value>, ApiError> {
    acting.require(Role::Admin)?;
    let users: Vec<UserRecord> = state.store.users().await?;
    Ok(Json(json!({ "users": users })))
}

/// `GET /api/operators`: the enabled users a ticket can be assigned to (login, name, role).
#[utoipa::path(
    get,
    path = "/api/operators",
    tag = "users",
    operation_id = "operators",
    responses((status = 200, description = "{users: [{login, name, role}]}: the enabled users", body = Object))
)]
pub async fn operators(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let users: Vec<Value> = state
        .store
        .users()
        .await?
        .into_iter()
        .filter(|u| !u.disabled.0)
        .map(|u| json!({"login": u.login, "name": u.name, "role": u.role}))
        .collect();
    Ok(Json(json!({ "users": users })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    login: String,
    name: Option<String>,
    role: Role,
    password: String,
}

/// `POST /api/users` (admin): 201, or 409 when the login is taken.
#[utoipa::path(
    post,
    path = "/api/users",
    tag = "users",
    operation_id = "add_user",
    request_body = NewUser,
    responses((status = 201, description = "{login, name, role}", body = Object), (status = 403, description = "admins only", body = super::openapi::ErrorBody), (status = 409, description = "the login is taken", body = super::openapi::ErrorBody), (status = 422, description = "a field that does not fit (the message names it)", body = super::openapi::ErrorBody))
)]
pub async fn add(
    State(state): State<AppState>,
    acting: Acting,
    ApiJson(body): ApiJson<NewUser>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    acting.require(Role::Admin)?;
    let login = body.login.trim().to_owned();
    if let Some(problem) = login_problem(&login).or_else(|| password_problem(&body.password)) {
        return Err(ApiError::Invalid(problem.into()));
    }
    let name = body.name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).unwrap_or_else(|| login.clone());
    let password = body.password;
    let hash = tokio::task::spawn_blocking(move || crate::auth::hash_password(&password))
        .await
        .map_err(|_| ApiError::Internal)?
        .map_err(|_| ApiError::Internal)?;
    if state.store.add_user(&login, &name, body.role, &hash).await?.is_none() {
        return Err(ApiError::Conflict(format!("ログインID {login} は使用済みです / login {login} is taken")));
    }
    audit(&state, &acting, "user_added", &login, json!({"role": body.role})).await;
    tracing::info!(actor = %acting.0.login, role = %body.role, "user added");
    Ok((StatusCode::CREATED, Json(json!({"login": login, "name": name, "role": body.role}))))
}

/// `POST /api/users/{login}/disable` (admin): the user's tokens and sessions stop working at once.
#[utoipa::path(
    post,
    path = "/api/users/{login}/disable",
    tag = "users",
    operation_id = "disable_user",
    params(("login" = String, Path, description = "the user's login")),
    responses((status = 200, description = "{login, disabled}", body = Object), (status = 403, description = "admins only", body = super::openapi::ErrorBody), (status = 404, description = "no such user", body = super::openapi::ErrorBody))
)]
pub async fn disable(
    State(state): State<AppState>,
    acting: Acting,
    ApiPath(login): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    acting.require(Role::Admin)?;
    if !state.store.disable_user(&login).await? {
        return Err(ApiError::NotFound("no such user".into()));
    }
    audit(&state, &acting, "user_disabled", &login, json!({})).await;
    tracing::info!(actor = %acting.0.login, "user disabled");
    Ok(Json(json!({"login": login, "disabled": true})))
}

#[utoipa::path(
    get,
    path = "/api/tokens",
    tag = "users",
    operation_id = "list_tokens",
    responses((status = 200, description = "{tokens}", body = Object), (status = 403, description = "admins only", body = super::openapi::ErrorBody))
)]
pub async fn tokens(State(state): State<AppState>, acting: Acting) -> Result<Json<Value>, ApiError> {
    acting.require(Role::Admin)?;
    let tokens: Vec<TokenRecord> = state.store.tokens(None).await?;
    Ok(Json(json!({ "tokens": tokens })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    login: String,
    label: String,
}

/// `POST /api/tokens` (admin): the new token, shown this once (only its hash is stored).
#[utoipa::path(
    post,
    path = "/api/tokens",
    tag = "users",
    operation_id = "add_token",
    request_body = NewToken,
    responses((status = 201, description = "{id, login, label, token}: the token, shown once", body = Object), (status = 403, description = "admins only", body = super::openapi::ErrorBody), (status = 404, description = "no such user", body = super::openapi::ErrorBody), (status = 422, description = "a field that does not fit (the message names it)", body = super::openapi::ErrorBody))
)]
pub async fn add_token(
    State(state): State<AppState>,
    acting: Acting,
    ApiJson(body): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    acting.require(Role::Admin)?;
    let label = body.label.trim();
    if label.is_empty() || label.chars().count() > 200 {
        return Err(ApiError::Invalid("label: 1 to 200 characters".into()));
    }
    let (token, hash) = crate::auth::new_token();
    let Some(id) = state.store.add_token(&body.login, label, &hash).await? else {
        return Err(ApiError::NotFound("no such user".into()));
    };
    audit(&state, &acting, "token_added", &body.login, json!({"token": id, "label": label})).await;
    tracing::info!(actor = %acting.0.login, token = id, "token issued");
    Ok((StatusCode::CREATED, Json(json!({"id": id, "login": body.login, "label": label, "token": token}))))
}

/// `DELETE /api/tokens/{id}` (admin).
#[utoipa::path(
    delete,
    path = "/api/tokens/{id}",
    tag = "users",
    operation_id = "revoke_token",
    params(("id" = i64, Path, description = "the token's id")),
    responses((status = 200, description = "{id, revoked}", body = Object), (status = 403, description = "admins only", body = super::openapi::ErrorBody), (status = 404, description = "no such token, or revoked already", body = super::openapi::ErrorBody))
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    acting: Acting,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Value>, ApiError> {
    acting.require(Role::Admin)?;
    if !state.store.revoke_token(id).await? {
        return Err(ApiError::NotFound(format!("token {id} does not exist or is already revoked")));
    }
    audit(&state, &acting, "token_revoked", &id.to_string(), json!({})).await;
    tracing::info!(actor = %acting.0.login, token = id, "token revoked");
    Ok(Json(json!({"id": id, "revoked": true})))
}

async fn audit(state: &AppState, acting: &Acting, action: &str, subject: &str, detail: Value) {
    if let Err(e) = state.store.audit(&acting.0.login, action, subject, &detail).await {
        tracing::error!(error = %e, action, "audit not written");
    }
}
