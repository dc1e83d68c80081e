//! The event-store conformance suite on SQLite.

use std::sync::Arc;

use async_trait::async_trait;
use liaison_eventstore::conformance::StoreHarness;
use liaison_eventstore::migrate::Migration;
use liaison_eventstore::sqlite::{connect_options, SqliteEventStore, SqliteStoreOptions};
use liaison_eventstore::{EventStore, StoreComponents};
use sqlx::Sqlite;

const SCHEMA: &[Migration] = &[Migration {
    version: 1,
    description: "counters",
    sql: crate::support::SCHEMA_SQL,
}];

crate::counting_projections!(Sqlite);

struct SqliteHarness {
    dir: tempfile::TempDir,
}

impl SqliteHarness {
    /// Reads the counters through a connection of its own, as any reader would.
    async fn count(&self, kind: &str) -> u64 {
        let pool =
            sqlx::SqlitePool::connect_with(connect_options(&self.dir.path().join("store.sqlite")))
                .await
                .expect("reader");
        let n: i64 = sqlx::query_scalar(&crate::support::count_sql(kind, ""))
            .fetch_one(&pool)
            .await
            .expect("count");
        pool.close().await;
        u64::try_from(n).unwrap_or(0)
    }
}

#[async_trait]
impl StoreHarness for SqliteHarness {
    async fn open(&self) -> Arc<dyn EventStore> {
        Arc::new(
            SqliteEventStore::open(
                SqliteStoreOptions::new(self.dir.path().join("store.sqlite")),
                StoreComponents {
                    service: "conformance",
                    entity_of: liaison_eventstore::no_entity,
                    migrations: SCHEMA,
                    projections: vec![Arc::new(Counter)],
                    consumers: vec![Arc::new(Consumed)],
                },
            )
            .await
            .expect("open store"),
        )
    }
    async fn projected(&self, _store: &Arc<dyn EventStore>) -> u64 {
        self.count("projected").await
    }
    async fn consumed(&self, _store: &Arc<dyn EventStore>) -> u64 {
        self.count("consumed").await
    }
}

fn harness() -> SqliteHarness {
    SqliteHarness {
        dir: tempfile::tempdir().expect("temp dir"),
    }
}

liaison_eventstore::store_conformance_tests!(harness());
