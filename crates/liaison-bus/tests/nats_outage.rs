//! NATS stops while a service keeps recording events: the relay keeps them
//! in the outbox and publishes them when NATS is back, in order, each once.

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
                migrations: &[],
                projections: Vec::new(),
                consumers: Vec::new(),
            },
        )
        .await
        .expect("store"),
    );
    let bus: Arc<dyn EventBus> = Arc::new(
        NatsBus::connect(NatsOptions::new(server.url()))
            .await
            .expect("bus"),
    );
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
    tokio::time::sleep(Duration::from_secs(1)).await;
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
