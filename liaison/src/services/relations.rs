//! Relations: typed, bidirectional triples. Its registry follows contacts'
//! events.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use liaison_relations::RelationsService;
use liaison_runtime::settings::{mask_url_password, Settings, SettingsError, StorageSettings};

use super::{effective_storage, GrpcRoutes, Opened, Process, ServiceTarget, Started};
use crate::target::Target;

pub struct RelationsTarget;

#[async_trait]
impl ServiceTarget for RelationsTarget {
    fn target(&self) -> Target {
        Target::Relations
    }

    fn check_settings(&self, settings: &Settings) -> Result<(), SettingsError> {
        settings.service::<StorageSettings>(liaison_relations::SERVICE)?;
        settings.storage(liaison_relations::SERVICE).map(|_| ())
    }

    fn effective_settings(&self, settings: &Settings) -> Result<toml::Value, SettingsError> {
        effective_storage(settings, liaison_relations::SERVICE)
    }

    async fn open(&self, settings: &Settings) -> anyhow::Result<Opened> {
        let (url, schema) = settings.storage(liaison_relations::SERVICE)?;
        let service = RelationsService::open(&url, schema)
            .await
            .with_context(|| {
                format!(
                    "cannot open the relations database {}",
                    mask_url_password(&url)
                )
            })?;
        Ok(Opened {
            store: service.store(),
            publishes_events: true,
            read_pool: service.read_model().pool().clone(),
            service: Arc::new(service),
        })
    }

    async fn start(&self, _opened: &Opened, process: &Process<'_>) -> anyhow::Result<Started> {
        let service = process
            .local::<RelationsService>(Target::Relations)
            .context("relations is not open in this process")?;
        Ok(Started {
            grpc: Some(GrpcRoutes::of(service.grpc())),
            consumers: vec![service.registry_consumer(process.bus.clone())],
            http: None,
        })
    }
}
