//! What the writer needs from a database: the SQL that differs between
//! SQLite and PostgreSQL, behind one trait, so the group-commit logic of
//! [`crate::writer`] is written once.

use async_trait::async_trait;

use crate::crypto::SubjectKey;
use crate::{RecordedEvent, StoreError};

/// An event row about to be inserted: the event, and its sealed payload and
/// subject when it is encrypted.
pub(crate) struct EventRow<'a> {
    pub event: &'a RecordedEvent,
    pub sealed: Option<(&'a str, &'a [u8])>,
}

impl EventRow<'_> {
    pub fn subject(&self) -> Option<&str> {
        self.sealed.map(|(subject, _)| subject)
    }

    pub fn stored_payload(&self) -> &[u8] {
        match self.sealed {
            Some((_, payload)) => payload,
            None => &self.event.payload,
        }
    }
}

/// Keys by subject, and the subjects that were forgotten.
#[derive(Debug, Default)]
pub(crate) struct SubjectKeys {
    pub keys: std::collections::HashMap<String, Vec<u8>>,
    pub forgotten: std::collections::HashSet<String>,
}

/// Which unique key refused an insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InsertConflict {
    SubjectKey,
    EventId,
    StreamVersion,
}

#[derive(Debug)]
pub(crate) enum InsertError {
    Conflict(InsertConflict),
    Database(sqlx::Error),
}

/// The write connection of one store, inside or outside a transaction.
#[async_trait]
pub(crate) trait Backend: Send + 'static {
    type Db: sqlx::Database;

    /// The connection the projections run on, inside the open transaction.
    fn connection(&mut self) -> &mut <Self::Db as sqlx::Database>::Connection;

    /// Opens a transaction that excludes every other writer of this log and
    /// returns the newest committed position. `known_head` is what this
    /// process last committed (a backend that is the only writer may trust it).
    async fn begin(&mut self, known_head: u64) -> Result<u64, StoreError>;
    /// Commits; `head` is the newest position the transaction wrote.
    async fn commit(&mut self, head: u64) -> Result<(), StoreError>;
    async fn rollback(&mut self) -> Result<(), StoreError>;
    /// Called after a batch failed on the database: the connection may be
    /// gone, so the next `begin` must check it (and reconnect if it can).
    fn connection_suspect(&mut self);

    async fn stream_version(&mut self, stream_id: &str) -> Result<u64, sqlx::Error>;
    /// The versions of the streams that exist among `stream_ids`.
    async fn stream_versions(
        &mut self,
        stream_ids: &[&str],
    ) -> Result<std::collections::HashMap<String, u64>, sqlx::Error>;
    /// The stored keys of `subjects` (those that have one) and which of
    /// them were forgotten.
    async fn subject_keys(&mut self, subjects: &[&str]) -> Result<SubjectKeys, sqlx::Error>;
    /// Inserts the new subject keys, then the events.
    async fn insert_events(
        &mut self,
        rows: &[EventRow<'_>],
        new_keys: &[(String, SubjectKey)],
    ) -> Result<(), InsertError>;
    /// Deletes the subject's key and records it as forgotten.
    async fn forget_subject(&mut self, subject: &str, at_micros: i64) -> Result<(), sqlx::Error>;
    /// The subject's stored key, and whether it was forgotten.
    async fn subject_key(&mut self, subject: &str) -> Result<(Option<Vec<u8>>, bool), sqlx::Error>;

    async fn save_relay_checkpoint(&mut self, position: u64) -> Result<(), sqlx::Error>;
    async fn consumer_checkpoint(
        &mut self,
        consumer: &str,
        source_service: &str,
    ) -> Result<u64, sqlx::Error>;
    async fn save_consumer_checkpoint(
        &mut self,
        consumer: &str,
        source_service: &str,
        position: u64,
    ) -> Result<(), sqlx::Error>;

    /// Events after `position`, payloads still sealed, with their subjects.
    async fn events_after(
        &mut self,
        position: u64,
        limit: u32,
    ) -> Result<Vec<(RecordedEvent, Option<String>)>, StoreError>;

    /// Deletes every row of a read-model table (before a rebuild).
    async fn clear_table(&mut self, table: &str) -> Result<(), sqlx::Error>;

    /// Runs once a transaction that erased subjects has committed.
    async fn after_erasure(&mut self) -> Result<(), StoreError>;
    async fn close(self);
}
