//! The bus for one process: a durable log in its own SQLite file.
//!
//! It keeps the rules of the JetStream bus: messages are stored before
//! `publish` returns, de-duplicated by event id, delivered to each durable
//! consumer in publish order, at least once; a consumer resumes after its
//! last acknowledged message, a nak redelivers from that message on after
//! the delay (so later messages never overtake it), an unsettled delivery is
//! redelivered after `ack_wait`, and a message rejected for good, or delivered
//! `max_deliver` times, goes to the dead letters.

mod consumer;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use liaison_eventstore::migrate::{self, Migration};
use liaison_eventstore::sqlite::connect_options;
use liaison_proto::events::v1::EventEnvelope;
use prost::Message;
use sqlx::sqlite::SqliteSynchronous;
use sqlx::{Row, SqlitePool};
use tokio::sync::Notify;

use crate::{subjects, BusConsumer, BusError, ConsumerSpec, DeadLetter, EventBus, PublishOutcome};

/// Messages per INSERT statement (SQLite allows 32,766 bound values).
const PUBLISH_CHUNK: usize = 500;

const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "messages, consumers, dead letters",
    sql: include_str!("schema.sql"),
}];

pub struct EmbeddedBus {
    inner: Arc<Shared>,
}

pub(crate) struct Shared {
    pool: SqlitePool,
    published: Notify,
    open_consumers: Mutex<HashSet<String>>,
}

impl EmbeddedBus {
    /// Opens (creating if needed) the bus log at `path`.
    pub async fn open(path: &Path) -> Result<Self, BusError> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| {
                BusError::Storage(format!("cannot create {}: {error}", parent.display()))
            })?;
        }
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(4)
            // Publishes reach the OS at commit and survive a crash of the
            // process; `sync` makes them survive a power loss, once a second
            // rather than once per publish.
            .connect_with(connect_options(path).synchronous(SqliteSynchronous::Normal))
            .await
            .map_err(storage)?;
        let mut conn = pool.acquire().await.map_err(storage)?;
        migrate::run_sqlite(&mut conn, "bus", MIGRATIONS)
            .await
            .map_err(|error| BusError::Storage(error.to_string()))?;
        drop(conn);
        Ok(Self {
            inner: Arc::new(Shared {
                pool,
                published: Notify::new(),
                open_consumers: Mutex::new(HashSet::new()),
            }),
        })
    }

    /// Deletes messages stored more than `max_age` ago, as JetStream's
    /// `max_age` does: the bus log stays bounded, and personal data published
    /// before an erasure does not outlive the retention period. Returns how
    /// many messages went.
    pub async fn prune(&self, max_age: std::time::Duration) -> Result<u64, BusError> {
        let max_age = i64::try_from(max_age.as_micros()).unwrap_or(i64::MAX);
        let cutoff = liaison_eventstore::now_micros().saturating_sub(max_age);
        let deleted = sqlx::query("DELETE FROM messages WHERE stored_at < ?")
            .bind(cutoff)
            .execute(&self.inner.pool)
            .await
            .map_err(storage)?
            .rows_affected();
        Ok(deleted)
    }

    pub async fn close(&self) {
        self.inner.pool.close().await;
    }
}

#[async_trait]
impl EventBus for EmbeddedBus {
    async fn publish(&self, envelopes: &[EventEnvelope]) -> Result<PublishOutcome, BusError> {
        if envelopes.is_empty() {
            return Ok(PublishOutcome::default());
        }
        let mut tx = self.inner.pool.begin().await.map_err(storage)?;
        let mut outcome = PublishOutcome::default();
        let now = liaison_eventstore::now_micros();
        // Rows go in in the order given, so sequence numbers follow the log.
        for chunk in envelopes.chunks(PUBLISH_CHUNK) {
            let mut insert =
                sqlx::QueryBuilder::new("INSERT INTO messages (msg_id, subject, data, stored_at) ");
            insert.push_values(chunk, |mut row, envelope| {
                row.push_bind(envelope.event_id.clone())
                    .push_bind(subjects::event_subject(
                        &envelope.service,
                        &envelope.event_type,
                    ))
                    .push_bind(envelope.encode_to_vec())
                    .push_bind(now);
            });
            insert.push(" ON CONFLICT (msg_id) DO NOTHING");
            let stored = insert
                .build()
                .execute(&mut *tx)
                .await
                .map_err(storage)?
                .rows_affected();
            let stored = usize::try_from(stored).unwrap_or(chunk.len());
            outcome.stored += stored;
            outcome.duplicates += chunk.len() - stored.min(chunk.len());
        }
        tx.commit().await.map_err(storage)?;
        self.inner.published.notify_waiters();
        Ok(outcome)
    }

    async fn sync(&self) -> Result<(), BusError> {
        // A FULL checkpoint syncs the WAL and copies it into the database file.
        let (busy, _, _): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(FULL)")
            .fetch_one(&self.inner.pool)
            .await
            .map_err(storage)?;
        if busy != 0 {
            return Err(BusError::Unavailable(
                "bus log busy; sync retried later".into(),
            ));
        }
        Ok(())
    }

    async fn consumer(&self, spec: ConsumerSpec) -> Result<Box<dyn BusConsumer>, BusError> {
        Ok(Box::new(
            consumer::EmbeddedConsumer::open(self.inner.clone(), spec).await?,
        ))
    }

    async fn dead_letters(&self, consumer: &str) -> Result<Vec<DeadLetter>, BusError> {
        let rows = sqlx::query(
            "SELECT subject, data, reason, delivered FROM dead_letters WHERE consumer = ? ORDER BY id",
        )
        .bind(consumer)
        .fetch_all(&self.inner.pool)
        .await
        .map_err(storage)?;
        rows.iter()
            .map(|row| {
                let subject: String = row.try_get("subject").map_err(storage)?;
                let data: Vec<u8> = row.try_get("data").map_err(storage)?;
                let delivered: i64 = row.try_get("delivered").map_err(storage)?;
                Ok(DeadLetter {
                    consumer: consumer.to_owned(),
                    envelope: decode(&subject, &data)?,
                    subject,
                    reason: row.try_get("reason").map_err(storage)?,
                    delivered: u32::try_from(delivered).unwrap_or(u32::MAX),
                })
            })
            .collect()
    }

    async fn close(&self) {
        EmbeddedBus::close(self).await;
    }
}

pub(crate) fn decode(subject: &str, data: &[u8]) -> Result<EventEnvelope, BusError> {
    EventEnvelope::decode(data).map_err(|error| BusError::BadMessage {
        subject: subject.to_owned(),
        reason: error.to_string(),
    })
}

pub(crate) fn storage(error: sqlx::Error) -> BusError {
    BusError::Storage(error.to_string())
}
