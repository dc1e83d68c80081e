//! The event-store conformance suite on PostgreSQL (a real server: the URL in
//! `LIAISON_TEST_POSTGRES_URL`, by default the local one). Each test gets a
//! schema of its own, dropped afterwards.

use std::sync::Arc;

use async_trait::async_trait;
use liaison_eventstore::conformance::{self, StoreHarness};
use liaison_eventstore::migrate::Migration;
use liaison_eventstore::postgres::{PgEventStore, PgStoreOptions};
use liaison_eventstore::testing_postgres::{postgres_url, TemporarySchema};
use liaison_eventstore::{EventStore, ExpectedVersion, StoreComponents, StoreError};
use sqlx::Postgres;

const SCHEMA: &[Migration] = &[Migration {
    version: 1,
    description: "counters",
    sql: crate::support::SCHEMA_SQL,
}];

crate::counting_projections!(Postgres);

struct PgHarness {
    schema: TemporarySchema,
}

impl PgHarness {
    fn options(&self) -> PgStoreOptions {
        let mut options = PgStoreOptions::new(&self.schema.url);
        options.schema = Some(self.schema.name.clone());
        options.read_connections = 2;
        options
    }

    async fn open_store(&self) -> PgEventStore {
        PgEventStore::open(
            self.options(),
            StoreComponents {
                service: "conformance",
                entity_of: liaison_eventstore::no_entity,
                migrations: SCHEMA,
                projections: vec![Arc::new(Counter)],
                consumers: vec![Arc::new(Consumed)],
            },
        )
        .await
        .expect("open store (is PostgreSQL running? set LIAISON_TEST_POSTGRES_URL)")
    }

    async fn count(&self, kind: &str) -> u64 {
        let pool = sqlx::PgPool::connect(&self.schema.url).await.expect("pool");
        let n: i64 = sqlx::query_scalar(&crate::support::count_sql(
            kind,
            &format!("{}.", self.schema.name),
        ))
        .fetch_one(&pool)
        .await
        .expect("count");
        pool.close().await;
        u64::try_from(n).unwrap_or(0)
    }
}

#[async_trait]
impl StoreHarness for PgHarness {
    async fn open(&self) -> Arc<dyn EventStore> {
        Arc::new(self.open_store().await)
    }
    async fn projected(&self, _store: &Arc<dyn EventStore>) -> u64 {
        self.count("projected").await
    }
    async fn consumed(&self, _store: &Arc<dyn EventStore>) -> u64 {
        self.count("consumed").await
    }
}

fn harness() -> PgHarness {
    PgHarness {
        schema: TemporarySchema::new(&postgres_url(), "test"),
    }
}

liaison_eventstore::store_conformance_tests!(harness());

/// Two stores on one schema stand for two processes of one service: their
/// writers race for the same versions and exactly one wins each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_of_two_processes_keep_one_winner_per_version() {
    let harness = harness();
    let first = Arc::new(harness.open_store().await);
    let second = Arc::new(harness.open_store().await);
    first
        .append(conformance::append(
            "order-1",
            ExpectedVersion::NoStream,
            vec![conformance::event("order.placed", b"1")],
        ))
        .await
        .expect("create the stream");

    let mut racers = Vec::new();
    for index in 0..16 {
        let store = if index % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        racers.push(tokio::spawn(async move {
            store
                .append(conformance::append(
                    "order-1",
                    ExpectedVersion::Exactly(1),
                    vec![conformance::event("order.changed", &[index])],
                ))
                .await
        }));
    }
    let mut winners = 0;
    for racer in racers {
        match racer.await.expect("task") {
            Ok(outcome) => {
                winners += 1;
                assert_eq!(outcome.version_of("order-1"), Some(2));
            }
            Err(StoreError::VersionConflict { actual, .. }) => assert_eq!(actual, 2),
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(winners, 1, "exactly one writer wins version 2");

    // Positions stay gapless and ordered across both writers.
    for round in 0..20u8 {
        let store = if round % 2 == 0 { &first } else { &second };
        store
            .append(conformance::append(
                &format!("other-{round}"),
                ExpectedVersion::NoStream,
                vec![conformance::event("order.placed", &[round])],
            ))
            .await
            .expect("append");
    }
    let all = first.read_all(0, 100).await.expect("read all");
    let positions: Vec<u64> = all.iter().map(|event| event.position).collect();
    assert_eq!(positions, (1..=22).collect::<Vec<_>>());
    assert_eq!(harness.count("projected").await, 22);
}

/// A commit by another process moves this process's head watch, so its relay
/// wakes for events it did not write itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_watch_follows_commits_of_other_processes() {
    let harness = harness();
    let watcher = harness.open_store().await;
    let writer = harness.open_store().await;
    let mut head = watcher.watch_head();
    writer
        .append(conformance::append(
            "order-9",
            ExpectedVersion::NoStream,
            vec![conformance::event("order.placed", b"9")],
        ))
        .await
        .expect("append");
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        head.wait_for(|h| *h >= 1),
    )
    .await
    .expect("the head watch moved within 5 s")
    .expect("watch open");
}

#[tokio::test]
async fn unreachable_server_is_reported_as_unavailable_with_its_address() {
    let mut options = PgStoreOptions::new("postgres://postgres@127.0.0.1:1/postgres");
    options.connect_timeout = std::time::Duration::from_secs(2);
    let error = PgEventStore::open(
        options,
        StoreComponents {
            service: "conformance",
            entity_of: liaison_eventstore::no_entity,
            migrations: SCHEMA,
            projections: vec![],
            consumers: vec![],
        },
    )
    .await
    .err()
    .expect("no server listens on port 1");
    let message = error.to_string();
    assert!(matches!(error, StoreError::Unavailable(_)), "{message}");
    assert!(message.contains("127.0.0.1:1"), "{message}");
}

/// What the writer's connection says of parallel query while it applies.
struct ParallelSetting(std::sync::Mutex<Vec<String>>);

#[async_trait]
impl liaison_eventstore::Projection<Postgres> for ParallelSetting {
    fn name(&self) -> &'static str {
        "parallel_setting"
    }

    async fn apply(
        &self,
        conn: &mut sqlx::PgConnection,
        _event: &liaison_eventstore::RecordedEvent,
    ) -> Result<(), liaison_eventstore::ProjectionError> {
        let setting: String = sqlx::query_scalar("SHOW max_parallel_workers_per_gather")
            .fetch_one(conn)
            .await?;
        self.0.lock().expect("not poisoned").push(setting);
        Ok(())
    }

    fn tables(&self) -> &'static [&'static str] {
        &[]
    }
}

/// The writer's statements never start parallel workers: before the planner
/// has statistics it can estimate an index probe at dozens of rows and
/// launch workers for it, milliseconds inside every batch's transaction.
#[tokio::test]
async fn the_writer_never_plans_parallel_workers() {
    let harness = harness();
    let seen = Arc::new(ParallelSetting(std::sync::Mutex::default()));
    let store = PgEventStore::open(
        harness.options(),
        StoreComponents {
            service: "conformance",
            entity_of: liaison_eventstore::no_entity,
            migrations: SCHEMA,
            projections: vec![seen.clone()],
            consumers: vec![],
        },
    )
    .await
    .expect("open store");
    store
        .append(conformance::append(
            "order-1",
            ExpectedVersion::NoStream,
            vec![conformance::event("order.placed", b"1")],
        ))
        .await
        .expect("append");
    assert_eq!(*seen.0.lock().expect("not poisoned"), vec!["0".to_owned()]);
    store.close().await;
}
