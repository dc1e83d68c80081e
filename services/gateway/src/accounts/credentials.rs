//! Passwords (argon2id), session secrets, API tokens and CSRF tokens.
//! Only hashes are stored: a session secret or a token is known to its
//! holder alone.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::GatewayError;

/// Prefix of every API token, so a leaked one is recognisable (secret
/// scanners, logs).
pub const TOKEN_PREFIX: &str = "lia_";
pub const MIN_PASSWORD_CHARS: usize = 10;
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// An argon2id hash (PHC string) of `password`, with the library's
/// recommended cost (19 MiB, 2 passes). Slow on purpose: call it off the
/// async threads.
pub fn hash_password(password: &str) -> Result<String, GatewayError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|error| GatewayError::Internal(format!("cannot encode a salt: {error}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| GatewayError::Internal(format!("cannot hash a password: {error}")))
}

/// Whether `password` matches `hash`; a malformed hash never matches.
pub fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Costs what a real verification costs, for logins of unknown accounts,
/// so response times do not tell which accounts exist.
pub fn verify_against_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = DUMMY.get_or_init(|| hash_password("not a real password").unwrap_or_default());
    let _ = verify_password(hash, password);
}

/// Checks a new password against the rules people are told.
pub fn check_new_password(field: &str, password: &str) -> Result<(), GatewayError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(GatewayError::invalid(
            field,
            format!("the password must have at least {MIN_PASSWORD_CHARS} characters"),
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(GatewayError::invalid(
            field,
            format!("the password must have at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    Ok(())
}

/// 256 random bits, URL-safe.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new API token: `lia_` and a secret.
pub fn new_api_token() -> String {
    format!("{TOKEN_PREFIX}{}", new_secret())
}

/// What a list shows of a token: its first characters.
pub fn token_display_prefix(token: &str) -> String {
    token.chars().take(TOKEN_PREFIX.len() + 6).collect()
}

/// The stored form of a session secret or a token.
pub fn secret_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// The CSRF token of a session: derived from its secret, which only the
/// browser holds (HttpOnly cookie), so another site cannot compute it.
pub fn csrf_token_for(session_secret: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"liaison-csrf:");
    digest.update(session_secret.as_bytes());
    URL_SAFE_NO_PAD.encode(digest.finalize())
}

/// Compares without stopping at the first difference.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, byte| {
            let _ = write!(out, "{byte:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password(&hash, "correct horse battery"));
        assert!(!verify_password(&hash, "correct horse batterY"));
        assert!(!verify_password("not a hash", "correct horse battery"));
    }

    #[test]
    fn short_and_huge_passwords_are_refused() {
        assert!(check_new_password("password", "short").is_err());
        assert!(check_new_password("password", &"x".repeat(2000)).is_err());
        assert!(check_new_password("password", "long enough!").is_ok());
    }

    #[test]
    fn secrets_are_fresh_and_their_hashes_stable() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert_eq!(secret_hash(&a), secret_hash(&a));
        assert_eq!(secret_hash(&a).len(), 64);
        assert_ne!(csrf_token_for(&a), csrf_token_for(&b));
        let token = new_api_token();
        assert!(token.starts_with("lia_") && token.len() > 40);
        assert!(same_secret(&a, &a.clone()) && !same_secret(&a, &b));
    }
}
