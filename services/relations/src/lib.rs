//! # Relations: typed, bidirectional triples between entities
//!
//! Owns relation types (pairs of predicates with the kinds and tags each
//! end must have) and relations. Every relation is a triple and its mirror
//! (`A customer_of B` / `B supplier_of A`), created and deleted together in
//! one event; there is never a half relation.
//!
//! **Commands** (`liaison.relations.v1.RelationService`): create, edit,
//! enable, disable and delete custom relation types; create relations (one,
//! many at once, the same for several subjects), delete them.
//!
//! **Events published** (`liaison.relations.v1.<aggregate>.<event>`):
//! `relation_type.created|changed|disabled|enabled|deleted`,
//! `relation.created|deleted` (both endpoints; a deletion says why).
//! Payloads: `RelationTypeEvent` and `RelationEvent` in `events.proto`.
//!
//! **Events consumed** (durable consumer `relations`): `contacts` person and
//! organisation events feed a registry of entities (kind, label, tags, in
//! the trash, purged / erased / merged). A purge or an erasure deletes the
//! entity's relations; a merge moves them to the survivor, dropping those
//! the survivor has already. Both are recorded as relation events in the
//! same transaction as the consumer's checkpoint.
//!
//! Built-in types are installed at start, idempotently, with stable ids.

pub mod app;
pub mod domain;
mod error;
pub mod events;
pub mod grpc;
mod reactions;
pub mod storage;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use liaison_bus::{
    ConsumerRunner, ConsumerSpec, EventBus, EventHandler, HandlerError, StoreHandler,
};
use liaison_eventstore::{open_by_url, EventStore, ServiceStorage};
use liaison_proto::events::v1::EventEnvelope;
use liaison_proto::relations::v1::relation_service_server::RelationServiceServer;
use tokio::sync::watch;

pub use app::RelationsApp;
pub use error::RelationsError;
use storage::ReadModel;

/// The service's name: its bus subjects, database schema and migrations.
pub const SERVICE: &str = "relations";

/// The relations service, opened on its storage.
pub struct RelationsService {
    app: Arc<RelationsApp>,
    arrivals: Arc<watch::Sender<u64>>,
}

impl RelationsService {
    /// Opens (creating and migrating if needed) the database at `url`:
    /// `sqlite://<path>` or `postgres://…` (schema `relations` unless
    /// `postgres_schema` names another), and installs the built-in types.
    pub async fn open(url: &str, postgres_schema: Option<String>) -> Result<Self, RelationsError> {
        Self::open_with_arrival_wait(url, postgres_schema, app::DEFAULT_ARRIVAL_WAIT).await
    }

    /// As [`Self::open`]; a command waits up to `arrival_wait` for an
    /// entity the registry does not know yet.
    pub async fn open_with_arrival_wait(
        url: &str,
        postgres_schema: Option<String>,
        arrival_wait: Duration,
    ) -> Result<Self, RelationsError> {
        let projection = Arc::new(storage::RelationsProjection);
        let registry = Arc::new(storage::EntityRegistry);
        let (store, reader) = open_by_url(
            url,
            postgres_schema,
            ServiceStorage {
                service: SERVICE,
                entity_of: events::entity_of,
                migrations_sqlite: storage::MIGRATIONS_SQLITE,
                migrations_postgres: storage::MIGRATIONS_POSTGRES,
                projections: vec![projection],
                consumers: vec![registry],
            },
        )
        .await?;
        let read_model = ReadModel::from(reader);
        let (arrivals, arrived) = watch::channel(0u64);
        let mut app = RelationsApp::new(store, read_model, arrived);
        app.set_arrival_wait(arrival_wait);
        app.install_builtins().await?;
        Ok(Self {
            app: Arc::new(app),
            arrivals: Arc::new(arrivals),
        })
    }

    pub fn app(&self) -> &Arc<RelationsApp> {
        &self.app
    }

    pub fn store(&self) -> Arc<dyn EventStore> {
        self.app.store().clone()
    }

    pub fn read_model(&self) -> &ReadModel {
        self.app.read_model()
    }

    /// The gRPC service, ready to add to a server.
    pub fn grpc(&self) -> RelationServiceServer<grpc::RelationsGrpc> {
        RelationServiceServer::new(grpc::RelationsGrpc::new(self.app.clone()))
    }

    /// What the registry consumes: contacts' persons and organisations.
    pub fn consumer_spec() -> ConsumerSpec {
        ConsumerSpec::new(
            storage::CONSUMER,
            vec![
                "liaison.contacts.v1.person.>".to_owned(),
                "liaison.contacts.v1.organisation.>".to_owned(),
            ],
        )
    }

    /// Applies other services' events to the registry (and its reactions);
    /// what the consumer runs, and what tests feed directly.
    pub fn registry_handler(&self) -> Arc<dyn EventHandler> {
        Arc::new(RegistryHandler {
            inner: StoreHandler::new(self.store(), storage::CONSUMER),
            arrivals: self.arrivals.clone(),
        })
    }

    /// The registry's durable consumer on `bus`.
    pub fn registry_consumer(&self, bus: Arc<dyn EventBus>) -> ConsumerRunner {
        ConsumerRunner::new(bus, Self::consumer_spec(), self.registry_handler())
    }
}

/// Wakes commands waiting for an entity each time the registry moves.
struct RegistryHandler {
    inner: StoreHandler,
    arrivals: Arc<watch::Sender<u64>>,
}

#[async_trait]
impl EventHandler for RegistryHandler {
    async fn handle(&self, batch: &[EventEnvelope]) -> Result<(), HandlerError> {
        self.inner.handle(batch).await?;
        self.arrivals
            .send_modify(|applied| *applied += batch.len() as u64);
        Ok(())
    }
}
