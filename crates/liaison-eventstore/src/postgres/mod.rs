//! PostgreSQL event store, for deployments where several processes share a
//! database.
//!
//! Each service's log and read models live in a schema of their own (named
//! after the service unless configured), created on first start; one
//! database per service works the same way. Appends go through one writer
//! task per process that commits whatever has queued in one transaction
//! (group commit), under an advisory lock of the log: positions are gapless
//! and commit in order, whichever process writes, so the relay can trust a
//! plain `position > checkpoint`. Every commit notifies a channel that each
//! process listens on, so `watch_head` moves for writes of other processes too.

mod backend;
mod statistics;

use std::str::FromStr;
use std::sync::{Arc, Weak};
use std::time::Duration;

pub use sqlx::postgres::PgPool;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{ConnectOptions, Postgres};
use tokio::sync::watch;

use crate::crypto::KeyCache;
use crate::migrate::{self, Migration};
use crate::reader::LogReader;
use crate::writer;
use crate::{LogStore, StoreComponents, StoreError};
use backend::PgBackend;

/// The store's own schema; a service's read models follow as its migrations.
const STORE_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "event log, subject keys, forgotten subjects, checkpoints",
    sql: include_str!("schema.sql"),
}];

/// The log of one service on PostgreSQL.
pub type PgEventStore = LogStore<PgPool>;

/// The read pool, answering the log's queries.
pub(crate) struct PgReader(PgPool);
crate::sql::log_reader_impl!(PgReader);
impl crate::sql::PoolOf for PgReader {
    type Db = sqlx::Postgres;
}

/// How to open a PostgreSQL store.
#[derive(Debug, Clone)]
pub struct PgStoreOptions {
    /// `postgres://user:password@host:port/database`
    pub url: String,
    /// Schema holding the log and read models; the service's name if unset.
    pub schema: Option<String>,
    /// Connections for queries.
    pub read_connections: u32,
    /// Most appends committed in one transaction.
    pub max_batch: usize,
    /// How long to wait for the server before reporting it unavailable.
    pub connect_timeout: Duration,
}

impl PgStoreOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            schema: None,
            read_connections: 8,
            max_batch: 256,
            connect_timeout: Duration::from_secs(3),
        }
    }
}

impl LogStore<PgPool> {
    pub async fn open(
        options: PgStoreOptions,
        components: StoreComponents<Postgres>,
    ) -> Result<Self, StoreError> {
        let schema = options
            .schema
            .clone()
            .unwrap_or_else(|| components.service.to_owned());
        validate_schema_name(&schema)?;
        let base = PgConnectOptions::from_str(&options.url).map_err(|error| {
            StoreError::InvalidAppend(format!("database url is not a valid postgres url: {error}"))
        })?;
        let connect = base
            .clone()
            .options([("search_path", schema.as_str())])
            .log_statements(tracing::log::LevelFilter::Trace);

        // The writer's statements are a batch's few index probes and
        // inserts. Before the planner has statistics it may estimate a probe
        // at dozens of rows and start parallel workers for it: milliseconds
        // of process start-up inside the transaction every batch waits on.
        let write_connect = connect
            .clone()
            .options([("max_parallel_workers_per_gather", "0")]);
        let mut write_conn = connect_within(&write_connect, options.connect_timeout).await?;
        // The schema must exist before a connection can use it as search path.
        sqlx::Executor::execute(
            &mut write_conn,
            format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"").as_str(),
        )
        .await
        .map_err(StoreError::from_sqlx)?;
        migrate::run_postgres(&mut write_conn, "eventstore", STORE_MIGRATIONS).await?;
        migrate::run_postgres(&mut write_conn, components.service, components.migrations).await?;

        let pool = PgPoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .min_connections(1)
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|error| unreachable(&connect, &error))?;

        let head_position = PgReader(pool.clone()).head_position().await?;
        let notify_channel = format!("liaison_events_{schema}");
        let lock_key = lock_key_of(&schema);
        // Another process may erase a subject at any time: no key cache.
        let keys = Arc::new(KeyCache::disabled());
        let appended: Arc<std::sync::atomic::AtomicU64> = Arc::default();
        let (writer, head) = writer::spawn(
            PgBackend {
                conn: write_conn,
                connect: write_connect,
                connect_timeout: options.connect_timeout,
                lock_key,
                notify_channel: notify_channel.clone(),
                suspect: false,
            },
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
        let store = LogStore::new(
            components.service,
            components.entity_of,
            pool.clone(),
            Box::new(PgReader(pool.clone())),
            writer,
            head,
            keys,
            appended,
        );
        tokio::spawn(statistics::keep_fresh(pool.clone()));
        tokio::spawn(follow_other_writers(
            pool,
            notify_channel,
            Arc::downgrade(&store.head_sender()),
        ));
        Ok(store)
    }
}

/// Moves the head watch when any process commits to this log. Listens for
/// commit notifications and, as a safety net for notifications lost while
/// reconnecting, reads the head once a second.
async fn follow_other_writers(pool: PgPool, channel: String, head: Weak<watch::Sender<u64>>) {
    let reader = PgReader(pool.clone());
    let mut listener = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        if head.strong_count() == 0 || pool.is_closed() {
            return;
        }
        if listener.is_none() {
            if let Ok(mut new_listener) = PgListener::connect_with(&pool).await {
                if new_listener.listen(&channel).await.is_ok() {
                    listener = Some(new_listener);
                }
            }
        }
        let notified = async {
            match listener.as_mut() {
                Some(listener) => listener.try_recv().await,
                None => std::future::pending().await,
            }
        };
        let announced = tokio::select! {
            received = notified => match received {
                Ok(Some(notification)) => notification.payload().parse::<u64>().ok(),
                // Disconnected or failed: listen again on the next round.
                Ok(None) | Err(_) => {
                    listener = None;
                    None
                }
            },
            _ = tick.tick() => None,
        };
        if let Some(position) = announced {
            // The committing process said where the log ends: no query.
            if let Some(head) = head.upgrade() {
                writer::advance_head(&head, position);
            }
            continue;
        }
        let (Ok(position), Some(head)) = (reader.head_position().await, head.upgrade()) else {
            continue;
        };
        writer::advance_head(&head, position);
    }
}

async fn connect_within(
    connect: &PgConnectOptions,
    timeout: Duration,
) -> Result<sqlx::PgConnection, StoreError> {
    match tokio::time::timeout(timeout, connect.connect()).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(error)) => Err(unreachable(connect, &error)),
        Err(_) => Err(StoreError::Unavailable(format!(
            "postgres at {}:{} did not answer within {timeout:?}",
            connect.get_host(),
            connect.get_port()
        ))),
    }
}

pub(crate) fn unreachable(connect: &PgConnectOptions, error: &sqlx::Error) -> StoreError {
    StoreError::Unavailable(format!(
        "cannot reach postgres at {}:{} (database {}): {error}",
        connect.get_host(),
        connect.get_port(),
        connect.get_database().unwrap_or("default")
    ))
}

fn validate_schema_name(schema: &str) -> Result<(), StoreError> {
    let valid = schema.len() <= 48
        && schema.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidAppend(format!(
            "schema name {schema:?} must be lowercase letters, digits and underscores (at most 48)"
        )))
    }
}

/// A stable advisory-lock key per schema (FNV-1a), the same in every process.
fn lock_key_of(schema: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in "liaison.eventstore.".bytes().chain(schema.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(validate_schema_name("contacts").is_ok());
        assert!(validate_schema_name("t_01h2").is_ok());
        assert!(validate_schema_name("Contacts").is_err());
        assert!(validate_schema_name("a\"; DROP TABLE x; --").is_err());
        assert!(validate_schema_name("").is_err());
        assert!(validate_schema_name("1abc").is_err());
    }

    #[test]
    fn lock_keys_differ_per_schema_and_are_stable() {
        assert_eq!(lock_key_of("contacts"), lock_key_of("contacts"));
        assert_ne!(lock_key_of("contacts"), lock_key_of("relations"));
    }
}
