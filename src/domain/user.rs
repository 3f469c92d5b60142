//! The people who work the tickets: roles, what each may do, and who is acting.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Each role may do what the roles below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Works tickets: reads them, logs contacts, changes status, notes, escalates.
    Operator,
    /// Also approves (announcements, FAQ) and sees reports.
    Supervisor,
    /// Also manages users, tokens, rules and dialplans.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Operator, Role::Supervisor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    /// Whether this role may do what `needed` may.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| "a role is operator, supervisor or admin".to_owned())
    }
}

impl TryFrom<String> for Role {
    type Error = String;

    fn try_from(s: String) -> Result<Role, String> {
        s.parse()
    }
}

/// Who is acting: the signed-in user or the owner of an API token. Every change is recorded
/// under `login`; nothing a client sends can name someone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Identity {
    pub user_id: i64,
    pub login: String,
    pub name: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
}

/// Why a login name cannot be used.
pub fn login_problem(login: &str) -> Option<&'static str> {
    if login.is_empty() || login.chars().count() > 64 {
        return Some("a login is 1 to 64 characters");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._-@".contains(c);
    (!login.chars().all(allowed)).then_some("a login is letters, digits and . _ - @ only")
}

/// Why a password is too weak to set, if it is.
pub fn password_problem(password: &str) -> Option<&'static str> {
    if password.chars().count() < 12 {
        return Some("a password has at least 12 characters");
    }
    if password.chars().count() > 1024 {
        return Some("a password has at most 1024 characters");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_allows_what_the_roles_below_it_allow() {
        let table = [
            (Role::Operator, Role::Operator, true),
            (Role::Operator, Role::Supervisor, false),
            (Role::Operator, Role::Admin, false),
            (Role::Supervisor, Role::Operator, true),
            (Role::Supervisor, Role::Supervisor, true),
            (Role::Supervisor, Role::Admin, false),
            (Role::Admin, Role::Operator, true),
            (Role::Admin, Role::Supervisor, true),
            (Role::Admin, Role::Admin, true),
        ];
        for (role, needed, allowed) in table {
            assert_eq!(role.allows(needed), allowed, "{role} for {needed}");
        }
        assert_eq!("Admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn logins_and_passwords() {
        for (login, ok) in [("sato", true), ("y.tanaka@mhlw", true), ("", false), ("a b", false), ("佐藤", false)] {
            assert_eq!(login_problem(login).is_none(), ok, "{login}");
        }
        assert!(password_problem("short").is_some());
        assert!(password_problem("correct horse battery").is_none());
    }
}
