//! The log of one service, as every part of Liaison uses it.

use async_trait::async_trait;
use liaison_proto::events::v1::EventEnvelope;
use tokio::sync::watch;

use crate::{AppendOutcome, AppendRequest, RecordedEvent, StoreError};

/// The log of one service. Implemented for SQLite (embedded) and PostgreSQL.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    /// Name of the owning service (`contacts`, ...).
    fn service(&self) -> &str;

    /// The envelope `event` is published in: the service and the entity it
    /// concerns are named.
    fn envelope(&self, event: &RecordedEvent) -> EventEnvelope;

    /// Appends atomically with optimistic concurrency and runs the inline
    /// projections in the same transaction.
    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError>;

    /// Events of one stream with version > `after_version`, oldest first.
    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Events with position > `after_position`, in position order.
    async fn read_all(
        &self,
        after_position: u64,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Position of the newest committed event (0 for an empty log).
    async fn head_position(&self) -> Result<u64, StoreError>;

    /// Changes whenever events commit; carries the newest position.
    fn watch_head(&self) -> watch::Receiver<u64>;

    /// Events this process appended since it opened the store.
    fn appended_events(&self) -> u64;

    /// The relay's durable checkpoint: everything up to it is published.
    async fn relay_checkpoint(&self) -> Result<u64, StoreError>;
    async fn save_relay_checkpoint(&self, position: u64) -> Result<(), StoreError>;

    /// Empties every read model and replays the whole log through the
    /// projections, in one transaction. Returns the number of events replayed.
    async fn rebuild_projections(&self) -> Result<u64, StoreError>;

    /// Stops the writer after the work already queued, and closes the
    /// connections.
    async fn close(&self);

    /// Applies bus events to this service's consumer projection, skipping
    /// those already applied; the checkpoint moves in the same transaction.
    /// Returns how many were applied (not skipped).
    async fn apply_consumed(
        &self,
        consumer: &'static str,
        envelopes: Vec<EventEnvelope>,
    ) -> Result<usize, StoreError>;
}
