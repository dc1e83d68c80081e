//! The signed identity a caller presents to a service: who acts, in which
//! role, until when, under an HMAC-SHA256 of a key every process of one
//! deployment shares. The gateway signs for the people it authenticated;
//! a service signs as `system:<service>` when it calls another.
//!
//! Wire form (gRPC metadata `liaison-identity`):
//! `v1;<actor>;<role>;<expires unix seconds>;<signature, base64url>`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Metadata key of the signed identity.
pub const IDENTITY_METADATA_KEY: &str = "liaison-identity";
/// Metadata keys a caller might use to claim an actor or a role. Nothing
/// reads them: a call that sends them without a signed identity is refused,
/// so no local process can pass for the system by naming it.
pub const ACTOR_METADATA_KEY: &str = "liaison-actor";
pub const ROLE_METADATA_KEY: &str = "liaison-role";

/// How long a signature is good for: long enough for clock skew between
/// machines, short enough that a leaked header is soon useless.
pub const IDENTITY_LIFETIME: Duration = Duration::from_secs(300);

/// Shortest key accepted from configuration.
pub const MIN_KEY_LENGTH: usize = 32;

/// The shared secret that signs and verifies identities.
#[derive(Clone)]
pub struct IdentityKey(Arc<[u8]>);

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityKey(********)")
    }
}

/// Who a verified identity says is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    pub actor: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the signed identity is malformed: {0}")]
    Malformed(&'static str),
    #[error("the signed identity's signature does not match: signed with another key, or altered")]
    BadSignature,
    #[error("the signed identity expired {0} s ago")]
    Expired(u64),
}

impl IdentityKey {
    /// A key from configured secret bytes.
    pub fn new(secret: &[u8]) -> Self {
        IdentityKey(Arc::from(secret))
    }

    /// A fresh key, for a process whose services all run in it.
    pub fn random() -> Self {
        let bytes: [u8; 32] = rand::random();
        IdentityKey(Arc::from(&bytes[..]))
    }

    /// Signs `actor` in `role`, good until `now + IDENTITY_LIFETIME`.
    /// `actor` and `role` must not contain `;` (ids and role names never do).
    pub fn sign(&self, actor: &str, role: &str, now: SystemTime) -> String {
        debug_assert!(!actor.contains(';') && !role.contains(';'));
        let expires = unix_seconds(now) + IDENTITY_LIFETIME.as_secs();
        let claims = format!("v1;{actor};{role};{expires}");
        let signature = URL_SAFE_NO_PAD.encode(self.mac(claims.as_bytes()).finalize().into_bytes());
        format!("{claims};{signature}")
    }

    pub fn verify(&self, value: &str, now: SystemTime) -> Result<VerifiedIdentity, IdentityError> {
        let (claims, signature) = value
            .rsplit_once(';')
            .ok_or(IdentityError::Malformed("no signature"))?;
        let mut parts = claims.split(';');
        let (Some("v1"), Some(actor), Some(role), Some(expires), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(IdentityError::Malformed(
                "expected v1;<actor>;<role>;<expires>;<signature>",
            ));
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| IdentityError::Malformed("the signature is not base64url"))?;
        self.mac(claims.as_bytes())
            .verify_slice(&signature)
            .map_err(|_| IdentityError::BadSignature)?;
        let expires: u64 = expires
            .parse()
            .map_err(|_| IdentityError::Malformed("the expiry is not a number"))?;
        let now = unix_seconds(now);
        if expires < now {
            return Err(IdentityError::Expired(now - expires));
        }
        if actor.is_empty() || role.is_empty() {
            return Err(IdentityError::Malformed("empty actor or role"));
        }
        Ok(VerifiedIdentity {
            actor: actor.to_owned(),
            role: role.to_owned(),
        })
    }

    /// A key for another use (`purpose` names it), derived from this one:
    /// every process sharing this key derives the same, and knowing it
    /// tells nothing of this key nor lets one sign identities.
    pub fn derive(&self, purpose: &[u8]) -> Vec<u8> {
        let mut mac = self.mac(b"derive;");
        mac.update(purpose);
        mac.finalize().into_bytes().to_vec()
    }

    fn mac(&self, claims: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("hmac accepts every key length"));
        mac.update(claims);
        mac
    }
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_identity_verifies_with_the_same_key_only() {
        let key = IdentityKey::new(b"0123456789abcdef0123456789abcdef");
        let now = SystemTime::now();
        let signed = key.sign("user:42", "staff", now);
        assert_eq!(
            key.verify(&signed, now),
            Ok(VerifiedIdentity {
                actor: "user:42".into(),
                role: "staff".into()
            })
        );
        let other = IdentityKey::new(b"another key, another deployment!");
        assert_eq!(other.verify(&signed, now), Err(IdentityError::BadSignature));
    }

    #[test]
    fn an_altered_identity_is_refused() {
        let key = IdentityKey::random();
        let now = SystemTime::now();
        let signed = key.sign("user:42", "staff", now);
        let promoted = signed.replacen(";staff;", ";admin;", 1);
        assert_eq!(key.verify(&promoted, now), Err(IdentityError::BadSignature));
        for malformed in ["", "v1;user:42", "v2;a;b;1;c", "v1;a;b;1;%%%"] {
            assert!(
                matches!(key.verify(malformed, now), Err(IdentityError::Malformed(_))),
                "{malformed:?}"
            );
        }
    }

    #[test]
    fn an_expired_identity_is_refused() {
        let key = IdentityKey::random();
        let signed_at = SystemTime::now();
        let signed = key.sign("system:contacts", "system", signed_at);
        let later = signed_at + IDENTITY_LIFETIME + Duration::from_secs(61);
        assert!(matches!(
            key.verify(&signed, later),
            Err(IdentityError::Expired(seconds)) if seconds >= 60
        ));
    }
}
