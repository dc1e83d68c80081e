//! The [`EventStore`] over any backend: commands go to the backend's single
//! writer task, reads to its pool.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use liaison_proto::events::v1::EventEnvelope;
use tokio::sync::{mpsc, oneshot, watch};

use crate::crypto::KeyCache;
use crate::projection::EntityOf;
use crate::reader::{self, LogReader};
use crate::writer::{self, Job, WriterCommand};
use crate::{AppendOutcome, AppendRequest, EventStore, RecordedEvent, StoreError};

/// A service's log on a database whose read pool is `P`
/// ([`crate::sqlite::SqliteEventStore`], [`crate::postgres::PgEventStore`]).
pub struct LogStore<P> {
    service: &'static str,
    entity_of: EntityOf,
    pool: P,
    reader: Box<dyn LogReader>,
    writer: mpsc::Sender<WriterCommand>,
    head: Arc<watch::Sender<u64>>,
    keys: Arc<KeyCache>,
    appended: Arc<AtomicU64>,
}

impl<P> LogStore<P> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        service: &'static str,
        entity_of: EntityOf,
        pool: P,
        reader: Box<dyn LogReader>,
        writer: mpsc::Sender<WriterCommand>,
        head: Arc<watch::Sender<u64>>,
        keys: Arc<KeyCache>,
        appended: Arc<AtomicU64>,
    ) -> Self {
        Self {
            service,
            entity_of,
            pool,
            reader,
            writer,
            head,
            keys,
            appended,
        }
    }

    pub(crate) fn head_sender(&self) -> Arc<watch::Sender<u64>> {
        self.head.clone()
    }

    /// Pool for the service's read-model queries.
    pub fn reader(&self) -> &P {
        &self.pool
    }

    async fn submit<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<T, StoreError>>) -> WriterCommand,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(make(reply))
            .await
            .map_err(|_| StoreError::Unavailable("event store writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("event store writer has stopped".into()))?
    }

    /// Stops the writer after the queued work.
    async fn stop_writer(&self) {
        let (reply, answer) = oneshot::channel();
        if self.writer.send(WriterCommand::Close(reply)).await.is_ok() {
            let _ = answer.await;
        }
    }
}

/// A backend's read pool, as the store needs it.
#[async_trait]
pub trait ReadPool: Send + Sync + 'static {
    async fn close(&self);
}

#[async_trait]
impl ReadPool for sqlx::SqlitePool {
    async fn close(&self) {
        sqlx::SqlitePool::close(self).await;
    }
}

#[async_trait]
impl ReadPool for sqlx::PgPool {
    async fn close(&self) {
        sqlx::PgPool::close(self).await;
    }
}

#[async_trait]
impl<P: ReadPool> EventStore for LogStore<P> {
    fn service(&self) -> &str {
        self.service
    }

    fn envelope(&self, event: &RecordedEvent) -> EventEnvelope {
        event.to_envelope(self.service, (self.entity_of)(event))
    }

    async fn append(&self, request: AppendRequest) -> Result<AppendOutcome, StoreError> {
        writer::validate_append(&request)?;
        self.submit(|reply| WriterCommand::Job(Job::Append { request, reply }))
            .await
    }

    async fn read_stream(
        &self,
        stream_id: &str,
        after_version: u64,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        reader::read_stream(
            self.reader.as_ref(),
            &self.keys,
            stream_id,
            after_version,
            limit,
        )
        .await
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: u32,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        reader::read_all(self.reader.as_ref(), &self.keys, after_position, limit).await
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.reader.head_position().await
    }

    fn watch_head(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    fn appended_events(&self) -> u64 {
        self.appended.load(Ordering::Relaxed)
    }

    async fn relay_checkpoint(&self) -> Result<u64, StoreError> {
        self.reader.relay_checkpoint().await
    }

    async fn save_relay_checkpoint(&self, position: u64) -> Result<(), StoreError> {
        self.submit(|reply| WriterCommand::Job(Job::RelayCheckpoint { position, reply }))
            .await
    }

    async fn close(&self) {
        self.stop_writer().await;
        ReadPool::close(&self.pool).await;
    }

    async fn rebuild_projections(&self) -> Result<u64, StoreError> {
        self.submit(WriterCommand::Rebuild).await
    }

    async fn apply_consumed(
        &self,
        consumer: &'static str,
        envelopes: Vec<EventEnvelope>,
    ) -> Result<usize, StoreError> {
        if envelopes.is_empty() {
            return Ok(0);
        }
        self.submit(|reply| {
            WriterCommand::Job(Job::Consume {
                consumer,
                envelopes,
                reply,
            })
        })
        .await
    }
}
