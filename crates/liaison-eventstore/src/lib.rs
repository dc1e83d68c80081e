//! The event-sourcing kernel shared by every Liaison service.
//!
//! A service records what happened as events in its own log. Appends use
//! optimistic concurrency on `(stream, expected version)`; in the same
//! transaction the service's read models are updated by its [`Projection`]s,
//! so a caller reads its own writes. The event table has a global position and
//! doubles as the outbox that the bus relay publishes from.
//!
//! Personal data is protected by crypto-shredding: events of a subject (a
//! person) are encrypted with a per-subject key kept outside the log, and
//! forgetting the subject destroys the key, leaving the payloads unreadable.

pub mod aggregate;
mod backend;
#[cfg(feature = "testing")]
pub mod conformance;
mod crypto;
mod envelope;
mod error;
mod log_store;
pub mod migrate;
mod open;
pub mod postgres;
mod projection;
mod read_pool;
mod reader;
mod sql;
pub mod sqlite;
mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(feature = "testing")]
pub mod testing_postgres;
mod writer;

pub use envelope::{
    AppendOutcome, AppendRequest, EventMetadata, ExpectedVersion, NewEvent, RecordedEvent,
    StreamAppend,
};
pub use error::{FromStoreError, ProjectionError, StoreError};
pub use log_store::{LogStore, ReadPool};
pub use open::{
    is_postgres_url, open_by_url, AnyConsumerProjection, AnyProjection, ServiceStorage,
};
pub use projection::{no_entity, ConsumerProjection, EntityOf, Projection, StoreComponents};
pub use read_pool::ReaderPool;
pub use store::EventStore;

/// For [`service_error_from_store!`] and [`on_backend!`] in the services.
#[doc(hidden)]
pub use sqlx;

/// Microseconds since the Unix epoch, the unit every stored time uses.
pub fn now_micros() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

/// Converts stored microseconds to a protobuf timestamp.
pub fn micros_to_timestamp(micros: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: micros.div_euclid(1_000_000),
        nanos: i32::try_from(micros.rem_euclid(1_000_000) * 1_000).unwrap_or(0),
    }
}

/// Converts a protobuf timestamp to stored microseconds.
pub fn timestamp_to_micros(timestamp: &prost_types::Timestamp) -> i64 {
    timestamp
        .seconds
        .saturating_mul(1_000_000)
        .saturating_add(i64::from(timestamp.nanos) / 1_000)
}
