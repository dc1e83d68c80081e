//! The bus contract suite on the embedded bus.

use std::sync::Arc;

use async_trait::async_trait;
use liaison_bus::contract::BusHarness;
use liaison_bus::embedded::EmbeddedBus;
use liaison_bus::EventBus;

struct EmbeddedHarness {
    dir: tempfile::TempDir,
}

#[async_trait]
impl BusHarness for EmbeddedHarness {
    async fn open(&self) -> Arc<dyn EventBus> {
        Arc::new(
            EmbeddedBus::open(&self.dir.path().join("bus.sqlite"))
                .await
                .expect("open embedded bus"),
        )
    }
}

fn harness() -> EmbeddedHarness {
    EmbeddedHarness {
        dir: tempfile::tempdir().expect("temp dir"),
    }
}

liaison_bus::bus_contract_tests!(harness());

#[tokio::test]
async fn retention_removes_messages_older_than_the_maximum_age() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = EmbeddedBus::open(&dir.path().join("bus.sqlite"))
        .await
        .expect("open");
    let batch: Vec<_> = (1..=3)
        .map(|position| liaison_bus::contract::envelope("contacts", "s", position))
        .collect();
    bus.publish(&batch).await.expect("publish");
    assert_eq!(
        bus.prune(std::time::Duration::from_secs(3600))
            .await
            .expect("prune"),
        0,
        "young messages stay"
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(
        bus.prune(std::time::Duration::from_millis(1))
            .await
            .expect("prune"),
        3
    );

    let mut consumer = bus
        .consumer(liaison_bus::ConsumerSpec::new(
            "late",
            vec!["liaison.contacts.v1.>".into()],
        ))
        .await
        .expect("consumer");
    let nothing = consumer
        .fetch(10, std::time::Duration::from_millis(100))
        .await
        .expect("fetch");
    assert!(nothing.is_empty());
    bus.publish(&[liaison_bus::contract::envelope("contacts", "s", 4)])
        .await
        .expect("publish");
    let fresh = consumer
        .fetch(10, std::time::Duration::from_secs(2))
        .await
        .expect("fetch");
    assert_eq!(fresh.len(), 1);
}
