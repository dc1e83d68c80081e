//! The relay publishes the outbox exactly once in order; the runner settles
//! deliveries by what the handler says.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use liaison_bus::embedded::EmbeddedBus;
use liaison_bus::{ConsumerRunner, ConsumerSpec, EventBus, EventHandler, HandlerError, Relay};
use liaison_eventstore::conformance::{append, event};
use liaison_eventstore::sqlite::{SqliteEventStore, SqliteStoreOptions};
use liaison_eventstore::StoreComponents;
use liaison_eventstore::{EventStore, ExpectedVersion};
use liaison_proto::events::v1::EventEnvelope;
use tokio_util::sync::CancellationToken;

async fn store(dir: &std::path::Path) -> Arc<SqliteEventStore> {
    Arc::new(
        SqliteEventStore::open(
            SqliteStoreOptions::new(dir.join("producer.sqlite")),
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
    )
}

async fn drain(bus: &Arc<EmbeddedBus>, name: &str, expected: usize) -> Vec<EventEnvelope> {
    let mut consumer = bus
        .consumer(ConsumerSpec::new(
            name,
            vec!["liaison.contacts.v1.>".into()],
        ))
        .await
        .expect("consumer");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        let batch = consumer
            .fetch(500, Duration::from_millis(300))
            .await
            .expect("fetch");
        if batch.is_empty() && seen.len() >= expected {
            break;
        }
        for delivery in batch {
            seen.push(delivery.envelope.clone());
            delivery.ack().await.expect("ack");
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn relay_publishes_each_event_once_in_order_even_when_it_repeats_itself() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(dir.path()).await;
    let bus = Arc::new(
        EmbeddedBus::open(&dir.path().join("bus.sqlite"))
            .await
            .expect("bus"),
    );
    for index in 0..50 {
        store
            .append(append(
                &format!("contact-{}", index % 7),
                ExpectedVersion::Any,
                vec![event("person.created", &[index])],
            ))
            .await
            .expect("append");
    }

    let first = CancellationToken::new();
    let relay = tokio::spawn(Relay::new(store.clone(), bus.clone()).run(first.clone()));
    tokio::time::timeout(Duration::from_secs(10), async {
        while store.relay_checkpoint().await.expect("checkpoint") < 50 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("relay caught up");
    first.cancel();
    relay.await.expect("relay stopped");

    // A crash before the checkpoint was saved: the relay starts over.
    store.save_relay_checkpoint(0).await.expect("rewind");
    for index in 50..60 {
        store
            .append(append(
                "contact-late",
                ExpectedVersion::Any,
                vec![event("person.updated", &[index])],
            ))
            .await
            .expect("append");
    }
    let second = CancellationToken::new();
    let relay = tokio::spawn(Relay::new(store.clone(), bus.clone()).run(second.clone()));

    let seen = drain(&bus, "auditor", 60).await;
    second.cancel();
    relay.await.expect("relay stopped");
    let positions: Vec<u64> = seen.iter().map(|e| e.global_position).collect();
    assert_eq!(
        positions,
        (1..=60).collect::<Vec<_>>(),
        "each event once, in log order"
    );
    assert_eq!(seen[0].service, "contacts");
    assert_eq!(seen[59].event_type, "person.updated");
}

/// Records what it applied; refuses `thing.poison` for good and fails the
/// first attempt at `thing.flaky` for now.
#[derive(Default)]
struct Recorder {
    applied: Mutex<Vec<u64>>,
    flaky_attempts: Mutex<u32>,
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, batch: &[EventEnvelope]) -> Result<(), HandlerError> {
        for envelope in batch {
            if envelope.event_type == "thing.poison" {
                return Err(HandlerError::Permanent(format!(
                    "cannot apply event {}",
                    envelope.global_position
                )));
            }
            if envelope.event_type == "thing.flaky" {
                let mut attempts = self.flaky_attempts.lock().expect("lock");
                *attempts += 1;
                if *attempts == 1 {
                    return Err(HandlerError::Transient("database busy".into()));
                }
            }
        }
        self.applied
            .lock()
            .expect("lock")
            .extend(batch.iter().map(|e| e.global_position));
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_retries_transient_failures_in_order_and_dead_letters_poison() {
    let dir = tempfile::tempdir().expect("dir");
    let bus = Arc::new(
        EmbeddedBus::open(&dir.path().join("bus.sqlite"))
            .await
            .expect("bus"),
    );
    runner_settles_by_what_the_handler_says(bus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runner_on_nats_retries_transient_failures_in_order_and_dead_letters_poison() {
    let server = liaison_bus::nats_server::NatsServer::start().expect("nats-server");
    let bus = Arc::new(
        liaison_bus::nats::NatsBus::connect(liaison_bus::nats::NatsOptions::new(server.url()))
            .await
            .expect("bus"),
    );
    runner_settles_by_what_the_handler_says(bus).await;
}

async fn runner_settles_by_what_the_handler_says(bus: Arc<dyn EventBus>) {
    let kinds = [
        "thing.ok",
        "thing.flaky",
        "thing.ok",
        "thing.poison",
        "thing.ok",
    ];
    let envelopes: Vec<EventEnvelope> = kinds
        .iter()
        .enumerate()
        .map(|(index, kind)| {
            let mut envelope = liaison_bus::contract::envelope("contacts", "s", index as u64 + 1);
            envelope.event_type = (*kind).into();
            envelope
        })
        .collect();
    bus.publish(&envelopes).await.expect("publish");

    let recorder = Arc::new(Recorder::default());
    let shutdown = CancellationToken::new();
    let runner = ConsumerRunner::new(
        bus.clone(),
        ConsumerSpec::new("recorder", vec!["liaison.contacts.v1.>".into()]),
        recorder.clone(),
    );
    let stats = runner.stats();
    let task = tokio::spawn(runner.run(shutdown.clone()));
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if recorder.applied.lock().expect("lock").len() >= 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("runner applied the good events");
    shutdown.cancel();
    task.await.expect("runner stopped");

    let applied = recorder.applied.lock().expect("lock").clone();
    assert_eq!(
        applied,
        vec![1, 2, 3, 5],
        "in order, the poison skipped, nothing twice"
    );
    let dead = bus.dead_letters("recorder").await.expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].envelope.global_position, 4);
    assert_eq!(dead[0].reason, "cannot apply event 4");
    assert_eq!(stats.applied.load(Ordering::Relaxed), 4);
    assert!(
        stats.redelivered.load(Ordering::Relaxed) >= 4,
        "the transient failure made the batch come again"
    );
}
