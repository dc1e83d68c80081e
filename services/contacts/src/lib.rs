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
//! **Events consumed**: none.
//!
//! A person's events are sealed with a key of their own; erasure destroys the
//! key, so their personal data is unreadable in the log as in the read models.

pub mod app;
pub mod domain;
mod error;
pub mod grpc;
mod history;
pub mod storage;

use std::path::Path;
use std::sync::Arc;

use liaison_eventstore::sqlite::{SqliteEventStore, SqliteStoreOptions};
use liaison_eventstore::StoreComponents;
use liaison_proto::contacts::v1::contact_service_server::ContactServiceServer;

pub use app::ContactsApp;
pub use error::ContactsError;

/// The service's name: its bus subjects, database and migrations.
pub const SERVICE: &str = "contacts";

/// The contacts service, opened on its storage.
pub struct ContactsService {
    app: Arc<ContactsApp>,
}

impl ContactsService {
    /// Opens (creating and migrating if needed) the SQLite database at `path`.
    pub async fn open_sqlite(path: &Path) -> Result<Self, ContactsError> {
        domain::validation::warm_up_in_background();
        let store = SqliteEventStore::open(
            SqliteStoreOptions::new(path),
            StoreComponents {
                service: SERVICE,
                migrations: storage::MIGRATIONS,
                projections: vec![Arc::new(storage::ContactsProjection)],
                consumers: Vec::new(),
            },
        )
        .await?;
        Ok(Self {
            app: Arc::new(ContactsApp::new(Arc::new(store))),
        })
    }

    pub fn app(&self) -> &Arc<ContactsApp> {
        &self.app
    }

    pub fn store(&self) -> Arc<SqliteEventStore> {
        self.app.store().clone()
    }

    /// The gRPC service, ready to add to a server.
    pub fn grpc(&self) -> ContactServiceServer<grpc::ContactsGrpc> {
        ContactServiceServer::new(grpc::ContactsGrpc::new(self.app.clone()))
    }
}
