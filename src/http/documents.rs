//! The files admins edit in the console, as documents: the contact list (連絡先一覧, `GET|PUT
//! /api/contact-list`) and the interview templates (問診, `GET|PUT /api/interview-templates`).
//! Every signed-in role reads them (the TOML in force, where it comes from, the saved versions);
//! admins save them. A save is validated exactly as `check` validates the file, stored as a new
//! version, audited with what it changed, and in force at once on this node and within seconds
//! on the others.

use super::auth::Acting;
use super::extract::ApiJson;
use super::{ApiError, AppState};
use crate::domain::interview::Templates;
use crate::domain::time::now_millis;
use crate::domain::user::Role;
use crate::escalation::{ContactList, parse_contacts};
use crate::interviews::parse_interviews;
use crate::store::{ContactListSave, Document, DocumentVersion, InterviewSet};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Larger than any real file of these; a paste of something else is refused before parsing.
const MAX_SOURCE_BYTES: usize = 256 * 1024;
/// Saved versions listed.
const VERSIONS_SHOWN: i64 = 50;

/// What is in force: (version saved in the console, configured file, source, a count to show).
fn in_force(state: &AppState, doc: Document) -> (Option<i64>, Option<String>, Arc<str>, usize) {
    match doc {
        Document::ContactList => {
            let e = state.store.escalation();
            (e.contacts_version, e.contacts_file.clone(), e.contacts_source.clone(), e.contacts.groups.len())
        }
        Document::Interviews => {
            let s = state.store.interview_set();
            (s.version, s.file.clone(), s.source.clone(), s.templates.templates.len())
        }
    }
}

async fn show(state: AppState, acting: Acting, doc: Document) -> Result<Json<Value>, ApiError> {
    let saved: Vec<DocumentVersion> = state.store.document_versions(doc, VERSIONS_SHOWN).await?;
    let versions: Vec<Value> = saved
        .into_iter()
        .map(|v| {
            json!({"version": v.version, "source": v.source, "edited_by": v.edited_by,
                   "edited_at": crate::domain::time::jst_rfc3339(v.edited_at), "reason": v.reason})
        })
        .collect();
    let (version, file, source, count) = in_force(&state, doc);
    let from = match (&version, &file) {
        (Some(_), _) => "console",
        (None, Some(_)) => "file",
        (None, None) => "built-in",
    };
    Ok(Json(json!({
        "from": from,
        "file": file,
        "version": version,
        "source": &*source,
        "count": count,
        "editable": acting.0.role.allows(Role::Admin),
        "versions": versions,
    })))
}

/// `GET /api/contact-list`: `{"from": "console"|"file"|"built-in", "file", "version", "source",
/// "count" (groups), "editable", "versions": [...]}`.
#[utoipa::path(
    get,
    path = "/api/contact-list",
    tag = "escalation",
    operation_id = "show_contact_list",
    responses((status = 200, description = "{from, file, version, source, count, editable, versions}: the contact list in force", body = Object))
)]
pub async fn show_contact_list(State(state): State<AppState>, acting: Acting) -> Result<Json<Value>, ApiError> {
    show(state, acting, Document::ContactList).await
}

/// `GET /api/interview-templates`: the same for the interview templates (`count`: templates).
#[utoipa::path(
    get,
    path = "/api/interview-templates",
    tag = "interviews",
    operation_id = "show_interview_templates",
    responses((status = 200, description = "{from, file, version, source, count, editable, versions}: the interview templates in force", body = Object))
)]
pub async fn show_interviews(State(state): State<AppState>, acting: Acting) -> Result<Json<Value>, ApiError> {
    show(state, acting, Document::Interviews).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SaveBody {
    source: String,
    reason: String,
    /// The version the editor started from (`null`: the file's or the built-in one); a save on
    /// top of someone else's newer one is refused.
    base_version: Option<i64>,
}

/// A document parsed, ready to put in force.
enum Parsed {
    Contacts(ContactList),
    Interviews(Templates),
}

/// `PUT /api/contact-list` (admins): 200 `{"version", "count"}`; 422 naming each line that is
/// wrong (nothing stored); 409 if another version was saved since `base_version`.
#[utoipa::path(
    put,
    path = "/api/contact-list",
    tag = "escalation",
    operation_id = "save_contact_list",
    request_body = SaveBody,
    responses((status = 200, description = "{version, count}", body = Object), (status = 403, description = "admins only", body = super::openapi::ErrorBody), (status = 409, description = "another version was saved since base_version", body = super::openapi::ErrorBody), (status = 422, description = "a wrong line (the message names each)", body = super::openapi::ErrorBody))
)]
pub async fn save_contact_list(
    State(state): State<AppState>,
    acting: Acting,
    ApiJson(body): ApiJson<SaveBody>,
) -> Result<Json<Value>, ApiError> {
    save(state, acting, body, Document::ContactList).await
}

/// `PUT /api/interview-templates` (admins): the same for the interview templates.
#[utoipa::path(
    put,
    path = "/api/interview-templates",
    tag = "interviews",
    operation_id = "save_interview_templates",
    request_body = SaveBody,
    responses((status = 200, description = "{version, count}", body = Object), (status = 403, description = "admins only", body = super::openapi::ErrorBody), (status = 409, description = "another version was saved since base_version", body = super::openapi::ErrorBody), (status = 422, description = "a wrong line (the message names each)", body = super::openapi::ErrorBody))
)]
pub async fn save_interviews(
    State(state): State<AppState>,
    acting: Acting,
    ApiJson(body): ApiJson<SaveBody>,
) -> Result<Json<Value>, ApiError> {
    save(state, acting, body, Document::Interviews).await
}

async fn save(state: AppState, acting: Acting, body: SaveBody, doc: Document) -> Result<Json<Value>, ApiError> {
    let who = acting.require(Role::Admin)?;
    if body.reason.trim().is_empty() {
        return Err(ApiError::Invalid("reason: 変更理由を入力してください / say why it changes".into()));
    }
    if body.reason.chars().count() > 500 {
        return Err(ApiError::Invalid("reason: 500 文字までです / at most 500 characters".into()));
    }
    if body.source.len() > MAX_SOURCE_BYTES {
        return Err(ApiError::Invalid(format!(
            "source: {} KiB までです / at most {} KiB",
            MAX_SOURCE_BYTES / 1024,
            MAX_SOURCE_BYTES / 1024
        )));
    }
    let invalid = |problems: crate::diagnostic::Problems| ApiError::Invalid(problems.to_string());
    let (parsed, detail, count) = match doc {
        Document::ContactList => {
            let list = parse_contacts("contacts.toml", &body.source).map_err(invalid)?;
            let detail = changes(&state.store.escalation().contacts, &list);
            let count = list.groups.len();
            (Parsed::Contacts(list), detail, count)
        }
        Document::Interviews => {
            let templates = parse_interviews("interviews.toml", &body.source).map_err(invalid)?;
            let before = state.store.interviews();
            let detail = template_changes(&before, &templates);
            let count = templates.templates.len();
            (Parsed::Interviews(templates), detail, count)
        }
    };
    let now = now_millis();
    let reason = body.reason.trim();
    let saved = state.store.save_document(doc, &body.source, &who.login, reason, body.base_version, &detail, now);
    let version = match saved.await? {
        ContactListSave::Saved(version) => version,
        ContactListSave::Stale { current } => {
            return Err(ApiError::Conflict(format!(
                "ほかの人が更新しました（版 {}）。読み込み直してから編集してください / someone saved version {} since \
                 you opened it; reload and edit again",
                current.unwrap_or(0),
                current.unwrap_or(0)
            )));
        }
    };
    tracing::info!(version, by = %who.login, count, document = ?doc, "saved in the console");
    match parsed {
        Parsed::Contacts(list) => {
            let mut escalation = state.store.escalation();
            escalation.contacts = Arc::new(list);
            escalation.contacts_version = Some(version);
            escalation.contacts_source = Arc::from(body.source);
            state.store.set_escalation(escalation);
        }
        Parsed::Interviews(templates) => {
            let before = state.store.interview_set();
            state.store.set_interviews(InterviewSet {
                templates: Arc::new(templates),
                version: Some(version),
                file: before.file,
                source: Arc::from(body.source),
            });
        }
    }
    Ok(Json(json!({ "version": version, "count": count })))
}

/// Which groups a save adds, removes and changes (for the audit line).
fn changes(before: &ContactList, after: &ContactList) -> Value {
    let ids = |list: &ContactList| list.groups.iter().map(|g| g.id.clone()).collect::<Vec<_>>();
    let added: Vec<String> = ids(after).into_iter().filter(|id| before.group(id).is_none()).collect();
    let removed: Vec<String> = ids(before).into_iter().filter(|id| after.group(id).is_none()).collect();
    let changed: Vec<String> = after
        .groups
        .iter()
        .filter(|g| before.group(&g.id).is_some_and(|old| old != *g))
        .map(|g| g.id.clone())
        .collect();
    json!({ "groups": after.groups.len(), "added": added, "removed": removed, "changed": changed })
}

/// Which templates a save adds, removes and changes (for the audit line).
fn template_changes(before: &Templates, after: &Templates) -> Value {
    let added: Vec<&str> =
        after.templates.iter().filter(|t| before.get(&t.id).is_none()).map(|t| t.id.as_str()).collect();
    let removed: Vec<&str> =
        before.templates.iter().filter(|t| after.get(&t.id).is_none()).map(|t| t.id.as_str()).collect();
    let changed: Vec<&str> = after
        .templates
        .iter()
        .filter(|t| before.get(&t.id).is_some_and(|old| old != *t))
        .map(|t| t.id.as_str())
        .collect();
    json!({ "templates": after.templates.len(), "added": added, "removed": removed, "changed": changed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::escalation::BUILTIN_CONTACTS;

    #[test]
    fn the_audit_names_the_groups_a_save_touches() {
        let before = ContactList::builtin();
        let source = BUILTIN_CONTACTS.replace("ops@example.go.jp", "ops2@example.go.jp");
        let after = parse_contacts("c.toml", &source).unwrap();
        let d = changes(&before, &after);
        assert_eq!(d["changed"], json!(["operations"]));
        assert_eq!((d["added"].as_array().unwrap().len(), d["removed"].as_array().unwrap().len()), (0, 0));
        let extra =
            format!("{source}\n[[group]]\nid = \"network\"\ntier = 2\nname = \"ネットワーク\"\nhours = \"24x7\"\n");
        let after = parse_contacts("c.toml", &extra).unwrap();
        assert_eq!(changes(&before, &after)["added"], json!(["network"]));
        assert_eq!(changes(&after, &before)["removed"], json!(["network"]));
    }
}
