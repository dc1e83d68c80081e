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
