//! Opening a service's store from its database URL, whichever backend the
//! URL names: every service starts the same way, on SQLite or PostgreSQL.

use std::sync::Arc;

use sqlx::{Postgres, Sqlite};

use crate::migrate::Migration;
use crate::postgres::{PgEventStore, PgStoreOptions};
use crate::projection::EntityOf;
use crate::sqlite::{self, SqliteEventStore, SqliteStoreOptions};
use crate::{ConsumerProjection, EventStore, Projection, ReaderPool, StoreComponents, StoreError};

/// A projection written for both backends.
pub trait AnyProjection: Projection<Sqlite> + Projection<Postgres> {}
impl<T: Projection<Sqlite> + Projection<Postgres>> AnyProjection for T {}

/// A consumer projection written for both backends.
pub trait AnyConsumerProjection: ConsumerProjection<Sqlite> + ConsumerProjection<Postgres> {}
impl<T: ConsumerProjection<Sqlite> + ConsumerProjection<Postgres>> AnyConsumerProjection for T {}

/// What a service keeps in its database.
pub struct ServiceStorage {
    pub service: &'static str,
    /// The entity each event concerns, named in its envelope.
    pub entity_of: EntityOf,
    pub migrations_sqlite: &'static [Migration],
    pub migrations_postgres: &'static [Migration],
    pub projections: Vec<Arc<dyn AnyProjection>>,
    pub consumers: Vec<Arc<dyn AnyConsumerProjection>>,
}

/// Whether `url` names a PostgreSQL database (otherwise SQLite).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens (creating and migrating if needed) the store at `url`:
/// `sqlite://<path>` or `postgres://…`, in `postgres_schema` (default: the
/// service's name).
pub async fn open_by_url(
    url: &str,
    postgres_schema: Option<String>,
    storage: ServiceStorage,
) -> Result<(Arc<dyn EventStore>, ReaderPool), StoreError> {
    if is_postgres_url(url) {
        let mut options = PgStoreOptions::new(url);
        options.schema = postgres_schema;
        let store = PgEventStore::open(
            options,
            StoreComponents {
                service: storage.service,
                entity_of: storage.entity_of,
                migrations: storage.migrations_postgres,
                projections: storage
                    .projections
                    .into_iter()
                    .map(|p| p as Arc<dyn Projection<Postgres>>)
                    .collect(),
                consumers: storage
                    .consumers
                    .into_iter()
                    .map(|c| c as Arc<dyn ConsumerProjection<Postgres>>)
                    .collect(),
            },
        )
        .await?;
        let reader = ReaderPool::Postgres(store.reader().clone());
        Ok((Arc::new(store), reader))
    } else {
        let store = SqliteEventStore::open(
            SqliteStoreOptions::new(sqlite::path_from_url(url)?),
            StoreComponents {
                service: storage.service,
                entity_of: storage.entity_of,
                migrations: storage.migrations_sqlite,
                projections: storage
                    .projections
                    .into_iter()
                    .map(|p| p as Arc<dyn Projection<Sqlite>>)
                    .collect(),
                consumers: storage
                    .consumers
                    .into_iter()
                    .map(|c| c as Arc<dyn ConsumerProjection<Sqlite>>)
                    .collect(),
            },
        )
        .await?;
        let reader = ReaderPool::Sqlite(store.reader().clone());
        Ok((Arc::new(store), reader))
    }
}
