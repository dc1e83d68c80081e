//! What a service plugs into its store: inline projections (its read
//! models, in the append's transaction), consumer projections (other
//! services' events), and the entity each of its events concerns.

use std::sync::Arc;

use async_trait::async_trait;
use liaison_proto::common::v1::EntityRef;
use liaison_proto::events::v1::EventEnvelope;

use crate::{AppendRequest, ProjectionError, RecordedEvent};

/// A read model of the service that owns the log, updated in the append's
/// transaction. The same code rebuilds it from the log, so a rebuilt model
/// equals the live one.
#[async_trait]
pub trait Projection<DB: sqlx::Database>: Send + Sync + 'static {
    /// Stable name, used in logs.
    fn name(&self) -> &'static str;
    /// Applies one event. A shredded event (erased subject) has no payload.
    async fn apply(
        &self,
        conn: &mut DB::Connection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError>;
    /// Applies events in order; what several commands committed together
    /// gives. A projection that can apply them with fewer statements than
    /// one by one overrides it; a refusal fails the whole batch (the store
    /// then finds the refused command by applying them one by one).
    async fn apply_batch(
        &self,
        conn: &mut DB::Connection,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        for event in events {
            self.apply(conn, event).await?;
        }
        Ok(())
    }
    /// Checks rules that hold only when events are new, not when the log
    /// is replayed: rules on state the log does not own (another service's
    /// entities, as known now). Called in the append's transaction before
    /// the events are applied; a refusal refuses the append.
    async fn check_new(
        &self,
        _conn: &mut DB::Connection,
        _events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        Ok(())
    }
    /// The tables of this read model: emptied before a rebuild replays the
    /// log, and compared with a snapshot after one.
    fn tables(&self) -> &'static [&'static str];
}

/// A read model or reaction fed by another service's events from the bus.
/// The store applies it and records the consumer's checkpoint in one
/// transaction, so a redelivered event is never applied twice.
#[async_trait]
pub trait ConsumerProjection<DB: sqlx::Database>: Send + Sync + 'static {
    /// Durable consumer name, e.g. `relations`.
    fn consumer_name(&self) -> &'static str;
    async fn apply(
        &self,
        conn: &mut DB::Connection,
        envelope: &EventEnvelope,
    ) -> Result<(), ProjectionError>;
    /// Applies a batch in order (only events not applied before). A
    /// projection that can do it with fewer statements overrides it.
    async fn apply_batch(
        &self,
        conn: &mut DB::Connection,
        envelopes: &[EventEnvelope],
    ) -> Result<(), ProjectionError> {
        for envelope in envelopes {
            self.apply(conn, envelope).await?;
        }
        Ok(())
    }
    /// Whether `envelope` calls for a reaction: events this service records
    /// in its own log because of it (e.g. relations removed because their
    /// entity was purged).
    fn reacts_to(&self, _envelope: &EventEnvelope) -> bool {
        false
    }
    /// The reaction to `envelope`, decided inside the transaction once it is
    /// applied. The store appends it (through the service's own inline
    /// projections) before the next event, in the same transaction as the
    /// checkpoint: an event and its reaction commit together or not at all.
    async fn react(
        &self,
        _conn: &mut DB::Connection,
        _envelope: &EventEnvelope,
    ) -> Result<Vec<AppendRequest>, ProjectionError> {
        Ok(Vec::new())
    }
}

/// The entity an event of a service concerns, as that service names its
/// streams: published in the envelope, so that consumers never parse another
/// service's stream ids.
pub type EntityOf = fn(&RecordedEvent) -> Option<EntityRef>;

/// For a log whose events concern no entity other services know.
pub fn no_entity(_event: &RecordedEvent) -> Option<EntityRef> {
    None
}

/// What a service plugs into its store on database `DB`.
pub struct StoreComponents<DB: sqlx::Database> {
    /// Name of the owning service, used for its migrations and envelopes.
    pub service: &'static str,
    pub entity_of: EntityOf,
    /// The service's read-model schema for this database, applied after the
    /// store's own.
    pub migrations: &'static [crate::migrate::Migration],
    pub projections: Vec<Arc<dyn Projection<DB>>>,
    pub consumers: Vec<Arc<dyn ConsumerProjection<DB>>>,
}
