//! Faults around NATS: the server stops while a service keeps recording
//! events; a consumer process dies between applying a batch and acking it.

use std::sync::Arc;
use std::time::Duration;

use liaison_bus::nats::{NatsBus, NatsOptions};
use liaison_bus::nats_server::NatsServer;
use liaison_bus::{ConsumerSpec, EventBus, Relay};
use liaison_eventstore::conformance::{append, event};
use liaison_eventstore::sqlite::{SqliteEventStore, SqliteStoreOptions};
use liaison_eventstore::{EventStore, ExpectedVersion, StoreComponents};
use tokio_util::sync::CancellationToken;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_recorded_while_nats_is_down_are_published_once_in_order_when_it_returns() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut server = NatsServer::start().expect("nats-server");
    let store = Arc::new(
        SqliteEventStore::open(
            SqliteStoreOptions::new(dir.path().join("producer.sqlite")),
            StoreComponents {
                service: "contacts",
                entity_of: liaison_eventstore::no_entity,
                migrations: &[],
                projections: Vec::new(),
                consumers: Vec::new(),
            },
        )
        .await
        .expect("store"),
    );
    let nats = Arc::new(
        NatsBus::connect(NatsOptions::new(server.url()))
            .await
            .expect("bus"),
    );
    let bus: Arc<dyn EventBus> = nats.clone();
    let shutdown = CancellationToken::new();
    let relay = tokio::spawn(Relay::new(store.clone(), bus.clone()).run(shutdown.clone()));

    let record = |index: u32| {
        let store = store.clone();
        async move {
            store
                .append(append(
                    &format!("person-{index}"),
                    ExpectedVersion::NoStream,
                    vec![event("person.created", &index.to_be_bytes())],
                ))
                .await
                .expect("commands go on while NATS is down")
        }
    };
    for index in 0..50 {
        record(index).await;
    }
    server.kill();
    for index in 50..150 {
        record(index).await;
        if index % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    // The relay has met the outage: the client knows NATS is gone.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while nats.is_connected() {
        assert!(tokio::time::Instant::now() < deadline, "NATS still seen up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.resume().expect("nats-server back");
    for index in 150..200 {
        record(index).await;
    }

    let mut consumer = bus
        .consumer(ConsumerSpec::new(
            "auditor",
            vec!["liaison.contacts.v1.>".into()],
        ))
        .await
        .expect("consumer once NATS is back");
    let mut positions = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while positions.len() < 200 && tokio::time::Instant::now() < deadline {
        for delivery in consumer
            .fetch(500, Duration::from_millis(500))
            .await
            .unwrap_or_default()
        {
            positions.push(delivery.envelope.global_position);
            delivery.ack().await.expect("ack");
        }
    }
    // Anything late would be a duplicate.
    for delivery in consumer
        .fetch(500, Duration::from_millis(500))
        .await
        .unwrap_or_default()
    {
        positions.push(delivery.envelope.global_position);
    }
    shutdown.cancel();
    relay.await.expect("relay");
    assert_eq!(positions, (1..=200).collect::<Vec<u64>>());
}

/// Records each applied position; a second application of one would break
/// the primary key and fail the batch.
struct RecordApplied;

#[async_trait::async_trait]
impl liaison_eventstore::ConsumerProjection<sqlx::Sqlite> for RecordApplied {
    fn consumer_name(&self) -> &'static str {
        "auditor"
    }
    async fn apply(
        &self,
        conn: &mut sqlx::SqliteConnection,
        envelope: &liaison_proto::events::v1::EventEnvelope,
    ) -> Result<(), liaison_eventstore::ProjectionError> {
        sqlx::query("INSERT INTO applied (position) VALUES ($1)")
            .bind(i64::try_from(envelope.global_position).unwrap_or(i64::MAX))
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// Applies like the store handler, then, at batch `crash_on`, never returns:
/// the process "dies" with the batch committed but not acknowledged.
struct DiesAfterApplying {
    inner: liaison_bus::StoreHandler,
    batches: std::sync::atomic::AtomicU32,
    crash_on: u32,
    died: Arc<tokio::sync::Notify>,
}

#[async_trait::async_trait]
impl liaison_bus::EventHandler for DiesAfterApplying {
    async fn handle(
        &self,
        batch: &[liaison_proto::events::v1::EventEnvelope],
    ) -> Result<(), liaison_bus::HandlerError> {
        self.inner.handle(batch).await?;
        let batch_number = self
            .batches
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        if batch_number == self.crash_on {
            self.died.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_dies_mid_batch_resumes_without_skipping_or_applying_twice() {
    const EVENTS: u64 = 1_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let server = NatsServer::start().expect("nats-server");
    let bus: Arc<dyn EventBus> = Arc::new(
        NatsBus::connect(NatsOptions::new(server.url()))
            .await
            .expect("bus"),
    );
    let events: Vec<_> = (1..=EVENTS)
        .map(|position| liaison_bus::contract::envelope("contacts", "s", position))
        .collect();
    bus.publish(&events).await.expect("publish");

    const SCHEMA: &[liaison_eventstore::migrate::Migration] =
        &[liaison_eventstore::migrate::Migration {
            version: 1,
            description: "applied positions",
            sql: "CREATE TABLE applied (position INTEGER PRIMARY KEY)",
        }];
    let consumer_store = Arc::new(
        SqliteEventStore::open(
            SqliteStoreOptions::new(dir.path().join("relations.sqlite")),
            StoreComponents {
                service: "relations",
                entity_of: liaison_eventstore::no_entity,
                migrations: SCHEMA,
                projections: Vec::new(),
                consumers: vec![Arc::new(RecordApplied)],
            },
        )
        .await
        .expect("consumer store"),
    );
    let spec = ConsumerSpec::new("relations", vec!["liaison.contacts.v1.>".into()]);

    // First life: dies holding its second batch, applied but not acked.
    let died = Arc::new(tokio::sync::Notify::new());
    let first = liaison_bus::ConsumerRunner::new(
        bus.clone(),
        spec.clone(),
        Arc::new(DiesAfterApplying {
            inner: liaison_bus::StoreHandler::new(consumer_store.clone(), "auditor"),
            batches: Default::default(),
            crash_on: 2,
            died: died.clone(),
        }),
    );
    let shutdown = CancellationToken::new();
    let first = tokio::spawn(first.run(shutdown.clone()));
    tokio::time::timeout(Duration::from_secs(20), died.notified())
        .await
        .expect("the first consumer reached its second batch");
    first.abort();
    let _ = first.await;
    let applied_by_first = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM applied")
        .fetch_one(consumer_store.reader())
        .await
        .expect("count");

    // Second life: the same durable consumer, a new process.
    let second = liaison_bus::ConsumerRunner::new(
        bus.clone(),
        spec,
        Arc::new(liaison_bus::StoreHandler::new(
            consumer_store.clone(),
            "auditor",
        )),
    );
    let stats = second.stats();
    let second = tokio::spawn(second.run(shutdown.clone()));
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM applied")
            .fetch_one(consumer_store.reader())
            .await
            .expect("count")
    };
    let caught_up = async {
        while count().await < EVENTS as i64 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), caught_up)
        .await
        .expect("the second consumer caught up");
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    let _ = second.await;

    let positions: Vec<i64> = sqlx::query_scalar("SELECT position FROM applied ORDER BY position")
        .fetch_all(consumer_store.reader())
        .await
        .expect("positions");
    assert_eq!(
        positions,
        (1..=EVENTS as i64).collect::<Vec<_>>(),
        "none skipped"
    );
    assert!(
        bus.dead_letters("relations")
            .await
            .expect("dead letters")
            .is_empty(),
        "nothing was applied twice (that would have failed a batch)"
    );
    // The second life was handed more than what was left: the batch the
    // first applied without acking came again, and was skipped.
    let handled_by_second = stats.applied.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        handled_by_second > EVENTS - applied_by_first as u64,
        "the unacked batch came again: {handled_by_second} handled after {applied_by_first}"
    );
}
