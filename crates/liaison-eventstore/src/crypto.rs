//! Per-subject payload encryption for crypto-shredding.
//!
//! A payload is sealed with ChaCha20-Poly1305 under its subject's key, with
//! the event id as associated data so a sealed payload cannot be moved to
//! another event. Stored form: 12-byte nonce followed by the ciphertext.

use std::collections::HashMap;
use std::sync::Mutex;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use uuid::Uuid;

use crate::StoreError;

pub(crate) const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// Beyond this many cached keys the cache starts over; the database stays
/// the authority, so this only bounds memory.
const MAX_CACHED_KEYS: usize = 50_000;

pub(crate) type SubjectKey = [u8; KEY_LEN];

pub(crate) fn generate_key() -> SubjectKey {
    ChaCha20Poly1305::generate_key(&mut OsRng).into()
}

pub(crate) fn seal(
    key: &SubjectKey,
    event_id: Uuid,
    plaintext: &[u8],
) -> Result<Vec<u8>, StoreError> {
    let cipher = ChaCha20Poly1305::new(Key::from_slice(key));
    let nonce = ChaCha20Poly1305::generate_nonce(&mut OsRng);
    let ciphertext = cipher
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: event_id.as_bytes(),
            },
        )
        .map_err(|_| StoreError::Corrupt("payload encryption failed".into()))?;
    let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
    sealed.extend_from_slice(&nonce);
    sealed.extend_from_slice(&ciphertext);
    Ok(sealed)
}

pub(crate) fn open(key: &SubjectKey, event_id: Uuid, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
    if sealed.len() < NONCE_LEN {
        return Err(StoreError::Corrupt(format!(
            "sealed payload of event {event_id} is too short"
        )));
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    ChaCha20Poly1305::new(Key::from_slice(key))
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: event_id.as_bytes(),
            },
        )
        .map_err(|_| StoreError::Corrupt(format!("payload of event {event_id} does not decrypt")))
}

pub(crate) fn key_from_bytes(bytes: &[u8]) -> Result<SubjectKey, StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Corrupt("subject key has the wrong length".into()))
}

/// Keys by subject; `None` marks a subject known to be forgotten. A tombstone
/// is never overwritten by a reader that fetched the key just before erasure.
pub(crate) struct KeyCache {
    keys: Mutex<HashMap<String, Option<SubjectKey>>>,
    /// Off when other processes write the same log: an erasure there must
    /// take effect here at once, so the database is asked every time.
    enabled: bool,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self {
            keys: Mutex::default(),
            enabled: true,
        }
    }
}

pub(crate) enum CachedKey {
    Unknown,
    Present(SubjectKey),
    Forgotten,
}

impl KeyCache {
    /// A cache that remembers nothing.
    pub(crate) fn disabled() -> Self {
        Self {
            keys: Mutex::default(),
            enabled: false,
        }
    }

    pub(crate) fn get(&self, subject: &str) -> CachedKey {
        if !self.enabled {
            return CachedKey::Unknown;
        }
        let keys = self
            .keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match keys.get(subject) {
            None => CachedKey::Unknown,
            Some(Some(key)) => CachedKey::Present(*key),
            Some(None) => CachedKey::Forgotten,
        }
    }

    /// Remembers a key read from the database, unless the subject was
    /// forgotten in the meantime.
    pub(crate) fn remember(&self, subject: &str, key: Option<SubjectKey>) {
        if !self.enabled {
            return;
        }
        let mut keys = self
            .keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if keys.len() >= MAX_CACHED_KEYS {
            keys.clear();
        }
        keys.entry(subject.to_owned()).or_insert(key);
    }

    pub(crate) fn forget(&self, subject: &str) {
        if !self.enabled {
            return;
        }
        let mut keys = self
            .keys
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        keys.insert(subject.to_owned(), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_payload_opens_with_its_key_and_event_only() {
        let key = generate_key();
        let event = Uuid::now_v7();
        let sealed = seal(&key, event, b"Marcel Dupont").expect("seal");
        assert!(!sealed.windows(6).any(|w| w == b"Marcel"));
        assert_eq!(open(&key, event, &sealed).expect("open"), b"Marcel Dupont");
        assert!(open(&key, Uuid::now_v7(), &sealed).is_err());
        assert!(open(&generate_key(), event, &sealed).is_err());
    }

    #[test]
    fn forgotten_subject_is_not_revived_by_a_late_reader() {
        let cache = KeyCache::default();
        cache.forget("p1");
        cache.remember("p1", Some(generate_key()));
        assert!(matches!(cache.get("p1"), CachedKey::Forgotten));
    }

    #[test]
    fn disabled_cache_always_sends_readers_to_the_database() {
        let cache = KeyCache::disabled();
        cache.remember("p1", Some(generate_key()));
        assert!(matches!(cache.get("p1"), CachedKey::Unknown));
        cache.forget("p1");
        assert!(matches!(cache.get("p1"), CachedKey::Unknown));
    }
}
