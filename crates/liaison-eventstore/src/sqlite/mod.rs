//! SQLite event store (WAL), the embedded default.
//!
//! All writes go through one writer task that owns the only write connection.
//! Concurrent appends queue on a channel and the writer commits whatever has
//! queued in one transaction (group commit): one fsync for many commands.
//! Each append keeps its own outcome: when one is refused (version conflict,
//! projection rule), the transaction is rolled back and re-run without it, so
//! no refused append leaves a trace and no accepted one is lost.

mod reader;
mod writer;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use liaison_proto::events::v1::EventEnvelope;
pub use sqlx::sqlite::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Sqlite};
use tokio::sync::{mpsc, oneshot, watch};

use crate::crypto::KeyCache;
use crate::migrate::{self, Migration};
use crate::{
    AppendOutcome, AppendRequest, ConsumerProjection, EventStore, Projection, RecordedEvent,
    StoreError,
};

use writer::{Job, WriterCommand};

const STORE_MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "event log, subject keys, checkpoints",
        sql: include_str!("schema.sql"),
    },
    Migration {
        version: 2,
        description: "forgotten subjects",
        sql: "CREATE TABLE forgotten_subjects (
                  subject_id TEXT PRIMARY KEY,
                  forgotten_at INTEGER NOT NULL
              ) WITHOUT ROWID;",
    },
];

/// How to open a SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStoreOptions {
    pub path: PathBuf,
    /// Connections for queries; WAL lets them read while the writer writes.
    pub read_connections: u32,
    /// Most appends committed in one transaction.
    pub max_batch: usize,
}

impl SqliteStoreOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            read_connections: 4,
            max_batch: 256,
        }
    }
}

/// What a service plugs into its store.
pub struct StoreComponents {
    /// Name of the owning service, used for its migrations and envelopes.
    pub service: &'static str,
    /// The service's read-model schema, applied after the store's own.
    pub migrations: &'static [Migration],
    pub projections: Vec<Arc<dyn Projection<Sqlite>>>,
    pub consumers: Vec<Arc<dyn ConsumerProjection<Sqlite>>>,
}

pub struct SqliteEventStore {
    service: &'static str,
    reader: SqlitePool,
    writer: mpsc::Sender<WriterCommand>,
    head: watch::Receiver<u64>,
    keys: Arc<KeyCache>,
}

/// Connection settings shared by the writer and the readers.
pub fn connect_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: an acknowledged command survives a power loss, not only a crash.
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(5))
        .foreign_keys(true)
        // Erased data must not linger in free pages.
        .pragma("secure_delete", "ON")
        .log_statements(tracing::log::LevelFilter::Trace)
}

impl SqliteEventStore {
    pub async fn open(
        options: SqliteStoreOptions,
        components: StoreComponents,
    ) -> Result<Self, StoreError> {
        if let Some(parent) = options.path.parent() {
            std::fs::create_dir_all(parent).map_err(|error| {
                StoreError::Unavailable(format!(
                    "cannot create data directory {}: {error}",
                    parent.display()
                ))
            })?;
        }
        let connect = connect_options(&options.path);
        let mut write_conn = connect.connect().await.map_err(|error| {
            StoreError::Unavailable(format!(
                "cannot open database {}: {error}",
                options.path.display()
            ))
        })?;
        migrate::run_sqlite(&mut write_conn, "eventstore", STORE_MIGRATIONS).await?;
        migrate::run_sqlite(&mut write_conn, components.service, components.migrations).await?;

        let reader = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .min_connections(1)
            .connect_with(connect)
            .await
            .map_err(StoreError::from_sqlx)?;

        let keys = Arc::new(KeyCache::default());
        let (writer, head) = writer::spawn(
            write_conn,
            writer::WriterConfig {
                service: components.service,
                max_batch: options.max_batch.max(1),
                projections: components.projections,
                consumers: components.consumers,
                keys: keys.clone(),
            },
        )
        .await?;
        Ok(Self {
            service: components.service,
            reader,
            writer,
            head,
            keys,
        })
    }

    /// Pool for the service's read-model queries.
    pub fn reader(&self) -> &SqlitePool {
        &self.reader
    }

    async fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> WriterCommand,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(make(reply))
            .await
            .map_err(|_| StoreError::Unavailable("event store writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("event store writer has stopped".into()))?
    }

    /// Stops the writer after the queued work and closes the connections.
    pub async fn close(&self) {
        let (reply, answer) = oneshot::channel();
        if self.writer.send(WriterCommand::Close(reply)).await.is_ok() {
            let _ = answer.await;
        }
        self.reader.close().await;
    }
}

#[async_trait]
impl EventStore for SqliteEventStore {
    fn service(&self) -> &str {
        self.service
    }

    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        writer::validate_append(&request)?;
        self.submit(|reply| WriterCommand::Job(Job::Append { request, reply }))
            .await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        reader::read_stream(&self.reader, &self.keys, stream_id, after_version, limit).await
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        reader::read_all(&self.reader, &self.keys, after_position, limit).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        reader::head_position(&self.reader).await
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.head.clone()
    }

    async fn relay_checkpoint(&self) -> Result<u64, StoreError> {
        reader::relay_checkpoint(&self.reader).await
    }

    async fn save_relay_checkpoint(&self, position: u64) -> Result<(), StoreError> {
        self.submit(|reply| WriterCommand::Job(Job::RelayCheckpoint { position, reply }))
            .await
    }

    async fn rebuild_projections(&self) -> Result<u64, StoreError> {
        self.submit(WriterCommand::Rebuild).await
    }

    async fn apply_consumed(
        &self,
        consumer: &'static str,
        envelopes: Vec<EventEnvelope>,
    ) -> Result<usize, StoreError> {
        if envelopes.is_empty() {
            return Ok(0);
        }
        self.submit(|reply| {
            WriterCommand::Job(Job::Consume {
                consumer,
                envelopes,
                reply,
            })
        })
        .await
    }
}

/// Checks that the database answers (readiness).
pub async fn ping(pool: &SqlitePool) -> Result<(), StoreError> {
    sqlx::query("SELECT 1")
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(StoreError::from_sqlx)
}

/// Parses `sqlite://path` or a bare path into a file path.
pub fn path_from_url(url: &str) -> Result<PathBuf, StoreError> {
    let stripped = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url);
    if stripped.is_empty() {
        return Err(StoreError::InvalidAppend(format!(
            "database url {url:?} names no file"
        )));
    }
    PathBuf::from_str(stripped)
        .map_err(|_| StoreError::InvalidAppend(format!("database url {url:?} is not a path")))
}
