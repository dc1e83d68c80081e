//! Relations: typed, bidirectional triples. Its registry follows contacts'
//! events.

use std::sync::Arc;

use async_trait::async_trait;
use liaison_relations::RelationsService;
use liaison_runtime::settings::Settings;

use super::{open_storage, GrpcRoutes, Opened, Process, ServiceTarget, Started};
use crate::target::Target;

pub struct RelationsTarget;

#[async_trait]
impl ServiceTarget for RelationsTarget {
    fn target(&self) -> Target {
        Target::Relations
    }

    async fn open(&self, settings: &Settings) -> anyhow::Result<Opened> {
        let service = open_storage(settings, liaison_relations::SERVICE, async |url, schema| {
            RelationsService::open(&url, schema).await
        })
        .await?;
        Ok(Opened {
            store: service.store(),
            publishes_events: true,
            read_pool: service.read_model().pool().clone(),
            service: Arc::new(service),
        })
    }

    async fn start(&self, _opened: &Opened, process: &Process<'_>) -> anyhow::Result<Started> {
        let service = process.own::<RelationsService>(Target::Relations)?;
        Ok(Started {
            grpc: Some(GrpcRoutes::of(service.grpc())),
            consumers: vec![service.registry_consumer(process.bus.clone())],
            http: None,
        })
    }
}
