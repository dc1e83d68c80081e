//! SQLite event store (WAL), the embedded default.
//!
//! All writes go through one writer task that owns the only write connection.
//! Concurrent appends queue on a channel and the writer commits whatever has
//! queued in one transaction (group commit): one fsync for many commands.
//! Each append keeps its own outcome: when one is refused (version conflict,
//! projection rule), the transaction is rolled back and re-run without it, so
//! no refused append leaves a trace and no accepted one is lost.

mod backend;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

pub use sqlx::sqlite::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Sqlite};

use crate::crypto::KeyCache;
use crate::migrate::{self, Migration};
use crate::reader::LogReader;
use crate::writer;
use crate::{LogStore, StoreComponents, StoreError};
use backend::SqliteBackend;

/// The read pool, answering the log's queries.
pub(crate) struct SqliteReader(SqlitePool);
crate::sql::log_reader_impl!(SqliteReader);
impl crate::sql::PoolOf for SqliteReader {
    type Db = sqlx::Sqlite;
}

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

/// The embedded event store.
pub type SqliteEventStore = LogStore<SqlitePool>;

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

impl LogStore<SqlitePool> {
    pub async fn open(
        options: SqliteStoreOptions,
        components: StoreComponents<Sqlite>,
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

        let head_position = SqliteReader(reader.clone()).head_position().await?;
        let keys = Arc::new(KeyCache::default());
        let appended: Arc<std::sync::atomic::AtomicU64> = Arc::default();
        let (writer, head) = writer::spawn(
            SqliteBackend { conn: write_conn },
            head_position,
            writer::WriterConfig {
                service: components.service,
                appended: appended.clone(),
                max_batch: options.max_batch.max(1),
                projections: components.projections,
                consumers: components.consumers,
                keys: keys.clone(),
            },
        );
        Ok(LogStore::new(
            components.service,
            components.entity_of,
            reader.clone(),
            Box::new(SqliteReader(reader)),
            writer,
            head,
            keys,
            appended,
        ))
    }
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
