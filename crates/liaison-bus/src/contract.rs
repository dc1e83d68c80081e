//! The contract every [`EventBus`] implementation passes. Each backend's test
//! file instantiates [`bus_contract_tests!`] with a harness that opens a bus
//! on fresh storage.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use liaison_proto::events::v1::EventEnvelope;

use crate::{ConsumerSpec, Delivery, EventBus};

/// Opens the bus under test.
#[async_trait]
pub trait BusHarness: Send + Sync {
    /// The bus on this harness's storage (fresh on the first call).
    async fn open(&self) -> Arc<dyn EventBus>;
}

/// A test event of `service` on `stream` at `position`.
pub fn envelope(service: &str, stream: &str, position: u64) -> EventEnvelope {
    EventEnvelope {
        event_id: format!("00000000-0000-7000-8000-{position:012}"),
        stream_id: stream.to_owned(),
        stream_version: position,
        global_position: position,
        event_type: "thing.happened".to_owned(),
        schema_version: 1,
        service: service.to_owned(),
        payload: position.to_be_bytes().to_vec(),
        ..Default::default()
    }
}

fn events(count: u64) -> Vec<EventEnvelope> {
    (1..=count)
        .map(|position| envelope("contacts", &format!("s-{}", position % 3), position))
        .collect()
}

fn spec(name: &str) -> ConsumerSpec {
    let mut spec = ConsumerSpec::new(name, vec!["liaison.contacts.v1.>".to_owned()]);
    spec.ack_wait = Duration::from_secs(30);
    spec
}

fn positions(deliveries: &[Delivery]) -> Vec<u64> {
    deliveries
        .iter()
        .map(|d| d.envelope.global_position)
        .collect()
}

async fn ack_all(deliveries: Vec<Delivery>) {
    for delivery in deliveries {
        delivery.ack().await.expect("ack");
    }
}

/// Fetches until `count` deliveries arrived or 5 s passed.
async fn fetch_n(consumer: &mut dyn crate::BusConsumer, count: usize) -> Vec<Delivery> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let mut all = Vec::new();
    while all.len() < count && tokio::time::Instant::now() < deadline {
        let batch = consumer
            .fetch(count - all.len(), Duration::from_millis(500))
            .await
            .expect("fetch");
        all.extend(batch);
    }
    all
}

pub async fn delivers_in_publish_order(harness: &dyn BusHarness) {
    let bus = harness.open().await;
    let outcome = bus.publish(&events(10)).await.expect("publish");
    assert_eq!(outcome.stored, 10);
    let mut consumer = bus.consumer(spec("orders")).await.expect("consumer");
    let deliveries = fetch_n(consumer.as_mut(), 10).await;
    assert_eq!(positions(&deliveries), (1..=10).collect::<Vec<_>>());
    assert!(deliveries.iter().all(|d| d.delivered == 1));
    assert_eq!(deliveries[0].subject, "liaison.contacts.v1.thing.happened");
    assert_eq!(deliveries[3].envelope.payload, 4u64.to_be_bytes().to_vec());
    ack_all(deliveries).await;
    let more = consumer
        .fetch(10, Duration::from_millis(200))
        .await
        .expect("fetch");
    assert!(more.is_empty(), "nothing more after acking everything");
}

pub async fn drops_duplicate_event_ids(harness: &dyn BusHarness) {
    let bus = harness.open().await;
    bus.publish(&events(5)).await.expect("publish");
    let again = bus.publish(&events(7)).await.expect("publish again");
    assert_eq!(again.duplicates, 5);
    assert_eq!(again.stored, 2);
    let mut consumer = bus.consumer(spec("dedupe")).await.expect("consumer");
    let deliveries = fetch_n(consumer.as_mut(), 7).await;
    assert_eq!(positions(&deliveries), (1..=7).collect::<Vec<_>>());
    let extra = consumer
        .fetch(10, Duration::from_millis(200))
        .await
        .expect("fetch");
    assert!(
        extra.is_empty(),
        "a duplicate was delivered: {:?}",
        positions(&extra)
    );
}

pub async fn resumes_after_last_ack_when_reopened(harness: &dyn BusHarness) {
    let bus = harness.open().await;
    bus.publish(&events(10)).await.expect("publish");
    {
        let mut consumer = bus.consumer(spec("resume")).await.expect("consumer");
        let mut deliveries = fetch_n(consumer.as_mut(), 10).await;
        let unacked = deliveries.split_off(4);
        ack_all(deliveries).await;
        // Acks are durable once the next fetch has returned.
        let _ = consumer
            .fetch(1, Duration::from_millis(50))
            .await
            .expect("fetch");
        drop(unacked);
    }
    drop(bus);
    let bus = harness.open().await;
    let mut consumer = bus.consumer(spec("resume")).await.expect("consumer");
    let deliveries = fetch_n(consumer.as_mut(), 6).await;
    assert_eq!(positions(&deliveries), (5..=10).collect::<Vec<_>>());
}

pub async fn nak_redelivers_the_event_before_later_ones(harness: &dyn BusHarness) {
    let bus = harness.open().await;
    bus.publish(&events(3)).await.expect("publish");
    let mut consumer = bus.consumer(spec("nak")).await.expect("consumer");
    let mut deliveries = fetch_n(consumer.as_mut(), 3).await.into_iter();
    let first = deliveries.next().expect("first");
    first.nak(Duration::from_millis(300)).await.expect("nak");
    for later in deliveries {
        later.nak(Duration::ZERO).await.expect("nak later");
    }
    let early = consumer
        .fetch(3, Duration::from_millis(100))
        .await
        .expect("fetch");
    assert!(
        early.is_empty(),
        "redelivered before the delay: {:?}",
        positions(&early)
    );
    let again = fetch_n(consumer.as_mut(), 3).await;
    assert_eq!(positions(&again), vec![1, 2, 3]);
    assert_eq!(again[0].delivered, 2);
}

pub async fn term_dead_letters_with_reason_and_moves_on(harness: &dyn BusHarness) {
    let bus = harness.open().await;
    bus.publish(&events(3)).await.expect("publish");
    let mut consumer = bus.consumer(spec("term")).await.expect("consumer");
    let mut deliveries = fetch_n(consumer.as_mut(), 3).await.into_iter();
    let poison = deliveries.next().expect("first");
    poison
        .term("unknown person kind 'robot'")
        .await
        .expect("term");
    ack_all(deliveries.collect()).await;
    let more = consumer
        .fetch(3, Duration::from_millis(200))
        .await
        .expect("fetch");
    assert!(more.is_empty());
    let dead = bus.dead_letters("term").await.expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].envelope.global_position, 1);
    assert_eq!(dead[0].reason, "unknown person kind 'robot'");
}

pub async fn dead_letters_after_max_deliveries(harness: &dyn BusHarness) {
    let bus = harness.open().await;
    bus.publish(&events(2)).await.expect("publish");
    let mut spec = spec("maxdeliver");
    spec.max_deliver = 2;
    let mut consumer = bus.consumer(spec).await.expect("consumer");
    for _ in 0..2 {
        let first = fetch_n(consumer.as_mut(), 1)
            .await
            .into_iter()
            .next()
            .expect("first");
        assert_eq!(first.envelope.global_position, 1);
        first.nak(Duration::ZERO).await.expect("nak");
    }
    let next = fetch_n(consumer.as_mut(), 1).await;
    assert_eq!(positions(&next), vec![2]);
    let dead = bus.dead_letters("maxdeliver").await.expect("dead letters");
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].envelope.global_position, 1);
}

pub async fn unsettled_delivery_comes_again_after_ack_wait(harness: &dyn BusHarness) {
    let bus = harness.open().await;
    bus.publish(&events(2)).await.expect("publish");
    let mut spec = spec("ackwait");
    spec.ack_wait = Duration::from_millis(300);
    let mut consumer = bus.consumer(spec).await.expect("consumer");
    let first = fetch_n(consumer.as_mut(), 2).await;
    assert_eq!(positions(&first), vec![1, 2]);
    std::mem::forget(first);
    let again = fetch_n(consumer.as_mut(), 2).await;
    assert_eq!(positions(&again), vec![1, 2]);
    assert!(again.iter().all(|d| d.delivered == 2));
}

pub async fn durable_consumers_are_independent(harness: &dyn BusHarness) {
    let bus = harness.open().await;
    bus.publish(&events(4)).await.expect("publish");
    let mut one = bus.consumer(spec("one")).await.expect("one");
    ack_all(fetch_n(one.as_mut(), 4).await).await;
    let mut two = bus.consumer(spec("two")).await.expect("two");
    let deliveries = fetch_n(two.as_mut(), 4).await;
    assert_eq!(positions(&deliveries), vec![1, 2, 3, 4]);
}

pub async fn filters_by_subject(harness: &dyn BusHarness) {
    let bus = harness.open().await;
    let mixed = vec![
        envelope("billing", "i-1", 1),
        envelope("contacts", "p-1", 1),
        envelope("billing", "i-1", 2),
        envelope("contacts", "p-1", 2),
    ];
    // Distinct ids: the billing ones get a prefix of their own.
    let mixed: Vec<_> = mixed
        .into_iter()
        .map(|mut e| {
            if e.service == "billing" {
                e.event_id = format!("00000000-0000-7000-9000-{:012}", e.global_position);
            }
            e
        })
        .collect();
    bus.publish(&mixed).await.expect("publish");
    let mut consumer = bus.consumer(spec("contacts-only")).await.expect("consumer");
    let deliveries = fetch_n(consumer.as_mut(), 2).await;
    assert!(deliveries.iter().all(|d| d.envelope.service == "contacts"));
    assert_eq!(deliveries.len(), 2);
    let more = consumer
        .fetch(5, Duration::from_millis(200))
        .await
        .expect("fetch");
    assert!(more.is_empty());
}

pub async fn fetch_wakes_on_publish(harness: &dyn BusHarness) {
    let bus = harness.open().await;
    let mut consumer = bus.consumer(spec("waker")).await.expect("consumer");
    let publisher = bus.clone();
    let publish = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        publisher.publish(&events(1)).await.expect("publish");
    });
    let started = std::time::Instant::now();
    let deliveries = consumer
        .fetch(1, Duration::from_secs(10))
        .await
        .expect("fetch");
    assert_eq!(positions(&deliveries), vec![1]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "fetch did not wake on publish"
    );
    publish.await.expect("publisher");
}

/// Instantiates every contract test for a backend: `bus_contract_tests!(make_harness().await)`.
#[macro_export]
macro_rules! bus_contract_tests {
    ($harness:expr) => {
        $crate::bus_contract_tests!(@tests $harness;
            delivers_in_publish_order,
            drops_duplicate_event_ids,
            resumes_after_last_ack_when_reopened,
            nak_redelivers_the_event_before_later_ones,
            term_dead_letters_with_reason_and_moves_on,
            dead_letters_after_max_deliveries,
            unsettled_delivery_comes_again_after_ack_wait,
            durable_consumers_are_independent,
            filters_by_subject,
            fetch_wakes_on_publish
        );
    };
    (@tests $harness:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let harness = $harness;
                $crate::contract::$name(&harness).await;
            }
        )*
    };
}
