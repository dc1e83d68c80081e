//! Contacts: the address book. It asks relations before a purge.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use liaison_contacts::ContactsService;
use liaison_relations::grpc::RelationsGrpc;
use liaison_relations::RelationsService;
use liaison_runtime::settings::{mask_url_password, Settings, SettingsError, StorageSettings};

use super::{effective_storage, GrpcRoutes, Opened, Process, ServiceTarget, Started};
use crate::peers::RelationsPeer;
use crate::target::Target;

pub struct ContactsTarget;

#[async_trait]
impl ServiceTarget for ContactsTarget {
    fn target(&self) -> Target {
        Target::Contacts
    }

    fn peers(&self) -> &'static [Target] {
        &[Target::Relations]
    }

    fn check_settings(&self, settings: &Settings) -> Result<(), SettingsError> {
        settings.service::<StorageSettings>(liaison_contacts::SERVICE)?;
        settings.storage(liaison_contacts::SERVICE).map(|_| ())
    }

    fn effective_settings(&self, settings: &Settings) -> Result<toml::Value, SettingsError> {
        effective_storage(settings, liaison_contacts::SERVICE)
    }

    async fn open(&self, settings: &Settings) -> anyhow::Result<Opened> {
        let (url, schema) = settings.storage(liaison_contacts::SERVICE)?;
        let service = ContactsService::open(&url, schema).await.with_context(|| {
            format!(
                "cannot open the contacts database {}",
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

    async fn start(&self, opened: &Opened, process: &Process<'_>) -> anyhow::Result<Started> {
        let service = process
            .local::<ContactsService>(Target::Contacts)
            .context("contacts is not open in this process")?;
        debug_assert!(Arc::ptr_eq(&opened.store, &service.store()));
        let peer = match process.local::<RelationsService>(Target::Relations) {
            Some(relations) => {
                RelationsPeer::Local(Arc::new(RelationsGrpc::new(relations.app().clone())))
            }
            None => match process.settings.peer(Target::Relations.name()) {
                Some(url) => RelationsPeer::remote(
                    url,
                    &process.settings.security.internal_token,
                    process.identity_key.clone(),
                )?,
                None => {
                    tracing::warn!("peers.relations is not set: contacts will refuse purges");
                    RelationsPeer::Unconfigured
                }
            },
        };
        service.app().set_purge_guard(Arc::new(peer));
        Ok(Started {
            grpc: Some(GrpcRoutes::of(service.grpc())),
            ..Started::default()
        })
    }
}
