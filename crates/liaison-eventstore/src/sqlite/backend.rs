//! What the writer does differently on SQLite. The writer task owns the only
//! write connection of the file, so it may trust the head it last committed.

use sqlx::{Connection, Sqlite, SqliteConnection};

use crate::backend::InsertConflict;
use crate::StoreError;

pub(super) struct SqliteBackend {
    pub(super) conn: SqliteConnection,
}

impl SqliteBackend {
    /// Each statement wakes sqlx's worker thread: batch them where we can.
    const MULTI_STATEMENT: bool = true;

    fn conn(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }

    async fn execute(&mut self, sql: &'static str) -> Result<(), StoreError> {
        sqlx::query(sql)
            .execute(&mut self.conn)
            .await
            .map(|_| ())
            .map_err(StoreError::from_sqlx)
    }

    async fn begin_batch(&mut self, known_head: u64) -> Result<u64, StoreError> {
        self.execute("BEGIN IMMEDIATE").await?;
        Ok(known_head)
    }

    async fn end_batch(&mut self, commit: Option<u64>) -> Result<(), StoreError> {
        self.execute(if commit.is_some() {
            "COMMIT"
        } else {
            "ROLLBACK"
        })
        .await
    }

    fn suspect(&mut self) {
        // A file connection does not drop; the next BEGIN reports any failure.
    }

    async fn after_erasure_batch(&mut self) -> Result<(), StoreError> {
        // Old page images of erased rows must not linger in the WAL.
        self.execute("PRAGMA wal_checkpoint(TRUNCATE)").await
    }

    async fn close_connection(self) {
        let _ = self.conn.close_hard().await;
    }

    fn unique_conflict(error: &dyn sqlx::error::DatabaseError) -> InsertConflict {
        let message = error.message();
        if message.contains("subject_keys") {
            InsertConflict::SubjectKey
        } else if message.contains("event_id") {
            InsertConflict::EventId
        } else {
            InsertConflict::StreamVersion
        }
    }
}

crate::sql::backend_impl!(SqliteBackend, Sqlite);
