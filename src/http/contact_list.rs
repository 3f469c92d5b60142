//! The contact list (連絡先一覧) as a document admins edit in the console: `GET
//! /api/contact-list` (the TOML in force, where it comes from, the saved versions) for every
//! signed-in role, `PUT /api/contact-list` for admins. A save is validated exactly as `check`
//! validates the file, stored as a new version, audited, and in force at once on this node and
//! within seconds on the others.

use super::auth::Acting;
use super::extract::ApiJson;
use super::{ApiError, AppState};
use crate::domain::time::now_millis;
use crate::domain::user::Role;
use crate::escalation::{ContactList, parse_contacts};
use crate::store::{ContactListSave, ContactListVersion};
use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;

/// Larger than any real contact list; a paste of something else is refused before parsing.
const MAX_SOURCE_BYTES: usize = 256 * 1024;
/// Saved versions listed.
const VERSIONS_SHOWN: i64 = 50;

/// `GET /api/contact-list`: `{"from": "console"|"file"|"built-in", "file", "version", "source",
/// "editable", "versions": [...]}`.
pub async fn show(State(state): State<AppState>, acting: Acting) -> Result<Json<Value>, ApiError> {
    let escalation = state.store.escalation();
    let saved: Vec<ContactListVersion> = state.store.contact_list_versions(VERSIONS_SHOWN).await?;
    let versions: Vec<Value> = saved
        .into_iter()
        .map(|v| {
            json!({"version": v.version, "source": v.source, "edited_by": v.edited_by,
                   "edited_at": crate::domain::time::jst_rfc3339(v.edited_at), "reason": v.reason})
        })
        .collect();
    let from = match (&escalation.contacts_version, &escalation.contacts_file) {
        (Some(_), _) => "console",
        (None, Some(_)) => "file",
        (None, None) => "built-in",
    };
    Ok(Json(json!({
        "from": from,
        "file": escalation.contacts_file,
        "version": escalation.contacts_version,
        "source": &*escalation.contacts_source,
        "groups": escalation.contacts.groups.len(),
        "editable": acting.0.role.allows(Role::Admin),
        "versions": versions,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaveBody {
    source: String,
    reason: String,
    /// The version the editor started from (`null`: the file's or the built-in list); a save on
    /// top of someone else's newer one is refused.
    base_version: Option<i64>,
}

/// `PUT /api/contact-list` (admins): 200 `{"version", "groups"}`; 422 naming each line that is
/// wrong (nothing stored); 409 if another version was saved since `base_version`.
pub async fn save(
    State(state): State<AppState>,
    acting: Acting,
    ApiJson(body): ApiJson<SaveBody>,
) -> Result<Json<Value>, ApiError> {
    let who = acting.require(Role::Admin)?;
    if body.reason.trim().is_empty() {
        return Err(ApiError::Invalid("reason: 変更理由を入力してください / say why the list changes".into()));
    }
    if body.reason.chars().count() > 500 {
        return Err(ApiError::Invalid("reason: 500 文字までです / at most 500 characters".into()));
    }
    if body.source.len() > MAX_SOURCE_BYTES {
        return Err(ApiError::Invalid(format!(
            "source: {} KiB までです / the list may be at most {} KiB",
            MAX_SOURCE_BYTES / 1024,
            MAX_SOURCE_BYTES / 1024
        )));
    }
    let list =
        parse_contacts("contacts.toml", &body.source).map_err(|problems| ApiError::Invalid(problems.to_string()))?;
    let before = state.store.escalation();
    let detail = changes(&before.contacts, &list);
    let now = now_millis();
    let saved =
        state.store.save_contact_list(&body.source, &who.login, body.reason.trim(), body.base_version, &detail, now);
    let version = match saved.await? {
        ContactListSave::Saved(version) => version,
        ContactListSave::Stale { current } => {
            return Err(ApiError::Conflict(format!(
                "ほかの人が連絡先一覧を更新しました（版 {}）。読み込み直してから編集してください / someone saved \
                 version {} since you opened the list; reload and edit again",
                current.unwrap_or(0),
                current.unwrap_or(0)
            )));
        }
    };
    tracing::info!(version, by = %who.login, groups = list.groups.len(), "contact list saved in the console");
    let groups = list.groups.len();
    let mut escalation = before;
    escalation.contacts = Arc::new(list);
    escalation.contacts_version = Some(version);
    escalation.contacts_source = Arc::from(body.source);
    state.store.set_escalation(escalation);
    Ok(Json(json!({ "version": version, "groups": groups })))
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
