//! Admin reads of users and tokens (changes are made with `madoguchi user …` / `token …`).

use super::auth::Acting;
use super::{ApiError, AppState};
use crate::domain::user::Role;
use crate::store::{TokenRecord, UserRecord};
use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

pub async fn list(State(state): State<AppState>, acting: Acting) -> Result<Json<Value>, ApiError> {
    acting.require(Role::Admin)?;
    let users: Vec<UserRecord> = state.store.users().await?;
    Ok(Json(json!({ "users": users })))
}

pub async fn tokens(State(state): State<AppState>, acting: Acting) -> Result<Json<Value>, ApiError> {
    acting.require(Role::Admin)?;
    let tokens: Vec<TokenRecord> = state.store.tokens(None).await?;
    Ok(Json(json!({ "tokens": tokens })))
}
