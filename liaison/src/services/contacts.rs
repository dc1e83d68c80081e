//! Contacts: the address book. It asks relations before a purge.

use std::sync::Arc;

use async_trait::async_trait;
use liaison_contacts::ContactsService;
use liaison_relations::grpc::RelationsGrpc;
use liaison_relations::RelationsService;
use liaison_runtime::settings::Settings;

use super::{open_storage, GrpcRoutes, Opened, Process, ServiceTarget, Started};
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

    async fn open(&self, settings: &Settings) -> anyhow::Result<Opened> {
        let service = open_storage(settings, liaison_contacts::SERVICE, async |url, schema| {
            ContactsService::open(&url, schema).await
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
        let service = process.own::<ContactsService>(Target::Contacts)?;
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
