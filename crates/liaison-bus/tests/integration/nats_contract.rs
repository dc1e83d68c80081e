//! The bus contract suite on NATS JetStream: a private `nats-server` per
//! test, so each starts on empty storage.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use liaison_bus::contract::{envelope, BusHarness};
use liaison_bus::nats::{NatsBus, NatsOptions};
use liaison_bus::nats_server::NatsServer;
use liaison_bus::{BusError, ConsumerSpec, EventBus};

struct NatsHarness {
    server: NatsServer,
}

#[async_trait]
impl BusHarness for NatsHarness {
    async fn open(&self) -> Arc<dyn EventBus> {
        Arc::new(
            NatsBus::connect(NatsOptions::new(self.server.url()))
                .await
                .expect("connect to the test nats-server"),
        )
    }
}

fn harness() -> NatsHarness {
    NatsHarness {
        server: NatsServer::start().expect("start nats-server"),
    }
}

liaison_bus::bus_contract_tests!(harness());

#[tokio::test]
async fn unreachable_server_is_reported_with_its_address() {
    let mut options = NatsOptions::new("nats://127.0.0.1:1");
    options.connect_timeout = Duration::from_secs(2);
    let error = NatsBus::connect(options)
        .await
        .err()
        .expect("nothing listens on port 1");
    assert!(matches!(error, BusError::Unavailable(_)), "{error}");
    assert!(error.to_string().contains("127.0.0.1:1"), "{error}");
}

#[tokio::test]
async fn a_filter_without_a_service_is_refused() {
    let harness = harness();
    let bus = harness.open().await;
    let error = bus
        .consumer(ConsumerSpec::new(
            "wild",
            vec!["liaison.*.v1.person.created".to_owned()],
        ))
        .await
        .err()
        .expect("refused");
    assert!(matches!(error, BusError::InvalidConsumer(_)), "{error}");
}

/// Several filters on one service's stream: the server sends the whole
/// stream, the consumer passes on only what matches.
#[tokio::test]
async fn several_filters_on_one_stream_deliver_only_matching_events() {
    let harness = harness();
    let bus = harness.open().await;
    let mut created = envelope("contacts", "p-1", 1);
    created.event_type = "person.created".into();
    let mut merged = envelope("contacts", "p-1", 2);
    merged.event_type = "person.merged".into();
    let mut renamed = envelope("contacts", "c-1", 3);
    renamed.event_type = "category.renamed".into();
    bus.publish(&[created, merged, renamed])
        .await
        .expect("publish");
    let mut consumer = bus
        .consumer(ConsumerSpec::new(
            "picky",
            vec![
                "liaison.contacts.v1.person.created".to_owned(),
                "liaison.contacts.v1.category.>".to_owned(),
            ],
        ))
        .await
        .expect("consumer");
    let mut positions = Vec::new();
    for _ in 0..4 {
        for delivery in consumer
            .fetch(10, Duration::from_millis(300))
            .await
            .expect("fetch")
        {
            positions.push(delivery.envelope.global_position);
            delivery.ack().await.expect("ack");
        }
    }
    assert_eq!(positions, vec![1, 3]);
}
