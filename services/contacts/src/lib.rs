//! # Contacts: the address book
//!
//! Owns persons, organisations (some marked *managed*: "our" companies) and
//! the categories that qualify them.
//!
//! **Commands** (`liaison.contacts.v1.ContactService`): create and partially
//! update persons and organisations; trash, restore, purge; merge two
//! contacts of the same kind; erase a person (GDPR); create, rename and
//! delete categories.
//!
//! **Events published** (`liaison.contacts.v1.<aggregate>.<event>`):
//! `person.*` / `organisation.*` — `created`, `updated`, `trashed`,
//! `restored`, `purged`, `merged` (on the merged contact, naming the
//! survivor), `absorbed` (on the survivor), and `person.erased`, after which
//! every service must forget the person; `category.created|renamed|deleted`.
//! Payloads: `ContactEvent` and `CategoryEvent` in `events.proto`.
//!
//! **Events consumed**: none. Before a purge it asks the [`PurgeGuard`]
//! (the relations service) whether anything still holds the contact.
//!
//! A person's events are sealed with a key of their own; erasure destroys the
//! key, so their personal data is unreadable in the log as in the read models.

pub mod app;
pub mod domain;
mod error;
pub mod events;
pub mod grpc;
mod history;
pub mod purge_guard;
pub mod storage;

use std::sync::Arc;

use liaison_eventstore::{open_by_url, EventStore, ServiceStorage};
use liaison_proto::contacts::v1::contact_service_server::ContactServiceServer;

pub use app::ContactsApp;
pub use error::ContactsError;
pub use purge_guard::PurgeGuard;
use storage::ReadModel;

/// The service's name: its bus subjects, database schema and migrations.
pub const SERVICE: &str = "contacts";

/// The contacts service, opened on its storage.
pub struct ContactsService {
    app: Arc<ContactsApp>,
}

impl ContactsService {
    /// Opens (creating and migrating if needed) the database at `url`:
    /// `sqlite://<path>` or `postgres://…` (schema `contacts` unless
    /// `postgres_schema` names another).
    pub async fn open(url: &str, postgres_schema: Option<String>) -> Result<Self, ContactsError> {
        // Off the request path, so the first request does not pay for it.
        tokio::task::spawn_blocking(domain::validation::load_phone_metadata);
        let projection = Arc::new(storage::ContactsProjection);
        let (store, reader) = open_by_url(
            url,
            postgres_schema,
            ServiceStorage {
                service: SERVICE,
                entity_of: events::entity_of,
                migrations_sqlite: storage::MIGRATIONS_SQLITE,
                migrations_postgres: storage::MIGRATIONS_POSTGRES,
                projections: vec![projection],
                consumers: Vec::new(),
            },
        )
        .await?;
        let read_model = ReadModel::from(reader);
        Ok(Self {
            app: Arc::new(ContactsApp::new(store, read_model)),
        })
    }

    pub fn app(&self) -> &Arc<ContactsApp> {
        &self.app
    }

    pub fn store(&self) -> Arc<dyn EventStore> {
        self.app.store().clone()
    }

    pub fn read_model(&self) -> &ReadModel {
        self.app.read_model()
    }

    /// The gRPC service, ready to add to a server.
    pub fn grpc(&self) -> ContactServiceServer<grpc::ContactsGrpc> {
        ContactServiceServer::new(grpc::ContactsGrpc::new(self.app.clone()))
    }
}
