//! The subject keys an append seals with, found once for both ways of
//! appending: the keys made earlier in the transaction, the cache, then
//! the stored keys looked up in one query.

use super::Writer;
use crate::backend::{Backend, SubjectKeys};
use crate::crypto::{self, CachedKey, SubjectKey};
use crate::{AppendRequest, ExpectedVersion, StoreError};

/// The key for a subject's events.
pub(super) enum KeyFor {
    /// Stored, cached, or made earlier in this transaction.
    Known(SubjectKey),
    /// Made now: it goes in with the events.
    New(SubjectKey),
    /// The subject was erased: nothing more is recorded for it.
    Forgotten,
}

impl<B: Backend> Writer<B> {
    /// The stored keys (and forgotten subjects) among the subjects of
    /// `requests` the cache does not know, in one query. A new stream's
    /// subject is new too (its id was just made): if a key exists after
    /// all, inserting the new one fails and the append is refused.
    pub(super) async fn stored_keys(
        &mut self,
        requests: &[&AppendRequest],
    ) -> Result<SubjectKeys, sqlx::Error> {
        let mut lookups: Vec<&str> = requests
            .iter()
            .flat_map(|request| &request.streams)
            .filter(|stream| stream.expected != ExpectedVersion::NoStream)
            .filter_map(|stream| stream.encrypt_for_subject.as_deref())
            .filter(|subject| matches!(self.config.keys.get(subject), CachedKey::Unknown))
            .collect();
        lookups.sort_unstable();
        lookups.dedup();
        if lookups.is_empty() {
            return Ok(SubjectKeys::default());
        }
        self.backend.subject_keys(&lookups).await
    }

    /// The key sealing `subject`'s events: one made earlier in this
    /// transaction (`pending`), the cached one, the `stored` one, or else
    /// a new one.
    pub(super) fn key_for(
        &self,
        subject: &str,
        stored: &SubjectKeys,
        pending: &[(String, SubjectKey)],
    ) -> Result<KeyFor, StoreError> {
        if let Some((_, key)) = pending.iter().find(|(made, _)| made == subject) {
            return Ok(KeyFor::Known(*key));
        }
        match self.config.keys.get(subject) {
            CachedKey::Present(key) => return Ok(KeyFor::Known(key)),
            CachedKey::Forgotten => return Ok(KeyFor::Forgotten),
            CachedKey::Unknown => {}
        }
        if stored.forgotten.contains(subject) {
            return Ok(KeyFor::Forgotten);
        }
        match stored.keys.get(subject) {
            Some(bytes) => Ok(KeyFor::Known(crypto::key_from_bytes(bytes)?)),
            None => Ok(KeyFor::New(crypto::generate_key())),
        }
    }
}

/// Why an append for an erased subject is refused.
pub(super) fn erased(subject: &str) -> StoreError {
    StoreError::InvalidAppend(format!(
        "subject {subject} was erased; nothing more can be recorded for it"
    ))
}
