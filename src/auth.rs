//! Credentials: passwords hashed with argon2id (a PHC string with its own salt and parameters),
//! API tokens and console session ids of 256 random bits of which only a SHA-256 is stored (a
//! token is a key, not a password: nothing to guess, so no slow hash is needed to protect it).

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// Every token starts so, to be recognised in a leaked file or a secret scanner.
const TOKEN_PREFIX: &str = "mdg_";

#[derive(Debug, thiserror::Error)]
#[error("the password could not be hashed")]
pub struct HashError;

/// The argon2id PHC string of `password` (about 20 ms in a release build: run it off the async
/// threads).
pub fn hash_password(password: &str) -> Result<String, HashError> {
    Argon2::default().hash_password(password.as_bytes()).map(|h| h.to_string()).map_err(|_| HashError)
}

/// Whether `password` matches the stored PHC string; a malformed hash matches nothing.
pub fn verify_password(password: &str, stored: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), stored).is_ok()
}

/// A new API token and the hash to store for it. The token is shown once and never stored.
pub fn new_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    // The OS generator does not fail on Linux once booted.
    let _ = getrandom::fill(&mut bytes);
    let token = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
    let hash = token_hash(&token);
    (token, hash)
}

pub fn token_hash(token: &str) -> String {
    crate::store::sha256_hex(token.as_bytes())
}

/// A new console session id (the cookie's value) and the hash to store for it.
pub fn new_session_id() -> (String, String) {
    let id = random_hex();
    let hash = token_hash(&id);
    (id, hash)
}

/// 256 random bits as hex: a CSRF token.
pub fn random_hex() -> String {
    let mut bytes = [0u8; 32];
    let _ = getrandom::fill(&mut bytes);
    hex::encode(bytes)
}

/// Whether a secret a client sent equals ours, in time that does not depend on where they differ.
pub fn same_secret(sent: &str, ours: &str) -> bool {
    use subtle::ConstantTimeEq;
    !ours.is_empty() && bool::from(sent.as_bytes().ct_eq(ours.as_bytes()))
}

/// Verifies `password` against `stored`, or, when there is no such user, against a hash of
/// nothing, so that an unknown login takes as long to refuse as a wrong password.
pub fn verify_or_waste(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    match stored {
        Some(stored) => verify_password(password, stored),
        None => {
            let dummy = DUMMY.get_or_init(|| hash_password("no such user, no such password").unwrap_or_default());
            let _ = verify_password(password, dummy);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_themselves() {
        let stored = hash_password("correct horse battery").unwrap();
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify_password("correct horse battery", &stored));
        assert!(!verify_password("correct horse batterY", &stored));
        assert!(!verify_password("anything", "not a hash"));
        assert_ne!(hash_password("correct horse battery").unwrap(), stored, "each hash has its own salt");
    }

    #[test]
    fn tokens_are_random_and_stored_as_a_hash() {
        let (a, hash) = new_token();
        assert!(a.starts_with("mdg_") && a.len() == 68, "{a}");
        assert_eq!(token_hash(&a), hash);
        assert_ne!(new_token().0, a);
        let (id, hash) = new_session_id();
        assert_eq!((id.len(), token_hash(&id)), (64, hash));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret("abc", "abc"));
        assert!(!same_secret("abd", "abc"));
        assert!(!same_secret("ab", "abc"));
        assert!(!same_secret("", ""), "an empty secret is none");
        assert!(!verify_or_waste("anything", None));
    }
}
