//! What the writer does differently on PostgreSQL. Several processes may
//! write one log, so each batch takes the log's advisory lock and reads the
//! head inside its transaction; a broken connection is replaced on the next
//! batch, so the service recovers from a database restart by itself.

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Executor, Postgres, Row};

use crate::backend::InsertConflict;
use crate::reader::to_u64;
use crate::StoreError;

pub(super) struct PgBackend {
    pub(super) conn: PgConnection,
    pub(super) connect: PgConnectOptions,
    pub(super) connect_timeout: Duration,
    /// Advisory lock key of this log (one per schema).
    pub(super) lock_key: i64,
    /// Channel that learns of every commit (see `super::HEAD_CHANNEL`).
    pub(super) notify_channel: String,
    pub(super) suspect: bool,
}

impl PgBackend {
    /// Each statement is a network round trip; the extended protocol takes
    /// one statement per query.
    const MULTI_STATEMENT: bool = false;

    fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    async fn begin_batch(&mut self, _known_head: u64) -> Result<u64, StoreError> {
        if self.suspect {
            self.reconnect_if_broken().await?;
        }
        // One round trip; READ COMMITTED gives the MAX its own snapshot,
        // taken after the lock is granted, so it sees every earlier commit.
        let sql = format!(
            "BEGIN; SELECT pg_advisory_xact_lock({}); \
             SELECT COALESCE(MAX(position), 0) AS head FROM events",
            self.lock_key
        );
        let rows = self
            .conn
            .fetch_all(sql.as_str())
            .await
            .map_err(StoreError::from_sqlx)?;
        let head: i64 = rows
            .last()
            .ok_or_else(|| StoreError::Corrupt("no head position returned".into()))?
            .try_get("head")
            .map_err(StoreError::from_sqlx)?;
        Ok(to_u64(head))
    }

    async fn end_batch(&mut self, commit: Option<u64>) -> Result<(), StoreError> {
        let sql = match commit {
            // Delivered at commit, to every process tailing this log.
            Some(head) => format!(
                "SELECT pg_notify('{}', '{head}'); COMMIT",
                self.notify_channel
            ),
            None => "ROLLBACK".to_owned(),
        };
        self.conn
            .execute(sql.as_str())
            .await
            .map(|_| ())
            .map_err(StoreError::from_sqlx)
    }

    fn suspect(&mut self) {
        self.suspect = true;
    }

    async fn reconnect_if_broken(&mut self) -> Result<(), StoreError> {
        let alive = tokio::time::timeout(self.connect_timeout, self.conn.ping())
            .await
            .is_ok_and(|pinged| pinged.is_ok());
        if !alive {
            let connect = self.connect.connect();
            self.conn = match tokio::time::timeout(self.connect_timeout, connect).await {
                Ok(Ok(conn)) => conn,
                Ok(Err(error)) => return Err(super::unreachable(&self.connect, &error)),
                Err(_) => {
                    return Err(StoreError::Unavailable(format!(
                        "postgres at {}:{} did not answer within {:?}",
                        self.connect.get_host(),
                        self.connect.get_port(),
                        self.connect_timeout
                    )))
                }
            };
            tracing::info!("event store reconnected to postgres");
        }
        self.suspect = false;
        Ok(())
    }

    async fn after_erasure_batch(&mut self) -> Result<(), StoreError> {
        // Reclaim the deleted key rows now rather than at the next autovacuum.
        self.conn
            .execute("VACUUM subject_keys")
            .await
            .map(|_| ())
            .map_err(StoreError::from_sqlx)
    }

    async fn close_connection(self) {
        let _ = self.conn.close().await;
    }

    fn unique_conflict(error: &dyn sqlx::error::DatabaseError) -> InsertConflict {
        match error.constraint() {
            Some("subject_keys_pkey") => InsertConflict::SubjectKey,
            Some("events_event_id_key") => InsertConflict::EventId,
            _ => InsertConflict::StreamVersion,
        }
    }
}

crate::sql::backend_impl!(PgBackend, Postgres);
