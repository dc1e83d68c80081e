//! The consumer runner: fetches deliveries, hands them to a handler, and
//! settles each by what the handler says (ack, nak with backoff, dead
//! letter); the handler that applies events to a service's store.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use liaison_eventstore::{EventStore, StoreError};
use liaison_proto::events::v1::EventEnvelope;
use tokio_util::sync::CancellationToken;

use crate::{ConsumerSpec, Delivery, EventBus, HandlerError};

/// What a consumer does with events. It must be idempotent per event: the bus
/// delivers at least once (a [`StoreHandler`] is, by its checkpoint).
#[async_trait]
pub trait EventHandler: Send + Sync + 'static {
    /// Applies a batch in order, all or nothing.
    async fn handle(&self, batch: &[EventEnvelope]) -> Result<(), HandlerError>;
}

/// Applies events to a consumer projection of a service's store; the
/// projection and the checkpoint commit together.
pub struct StoreHandler {
    store: Arc<dyn EventStore>,
    consumer: &'static str,
}

impl StoreHandler {
    pub fn new(store: Arc<dyn EventStore>, consumer: &'static str) -> Self {
        Self { store, consumer }
    }
}

#[async_trait]
impl EventHandler for StoreHandler {
    async fn handle(&self, batch: &[EventEnvelope]) -> Result<(), HandlerError> {
        match self
            .store
            .apply_consumed(self.consumer, batch.to_vec())
            .await
        {
            Ok(_) => Ok(()),
            Err(StoreError::Unavailable(reason))
            | Err(StoreError::VersionConflict {
                stream_id: reason, ..
            }) => Err(HandlerError::Transient(reason)),
            Err(other) => Err(HandlerError::Permanent(other.to_string())),
        }
    }
}

/// Feeds a durable consumer's deliveries to a handler: ack after success,
/// nak with backoff on a transient error, dead-letter on a permanent one.
pub struct ConsumerRunner {
    bus: Arc<dyn EventBus>,
    spec: ConsumerSpec,
    handler: Arc<dyn EventHandler>,
    batch_size: usize,
    stats: Arc<ConsumerStats>,
}

/// What a consumer has done so far (metrics).
#[derive(Debug, Default)]
pub struct ConsumerStats {
    /// Events handled and acknowledged.
    pub applied: AtomicU64,
    /// Deliveries that were not the first of their event.
    pub redelivered: AtomicU64,
    /// Milliseconds from the last applied event's occurrence to its
    /// application: how far behind the producer this consumer runs.
    pub lag_millis: AtomicI64,
}

impl ConsumerRunner {
    pub fn new(bus: Arc<dyn EventBus>, spec: ConsumerSpec, handler: Arc<dyn EventHandler>) -> Self {
        Self {
            bus,
            spec,
            handler,
            batch_size: 256,
            stats: Arc::default(),
        }
    }

    /// The durable consumer's name.
    pub fn name(&self) -> &str {
        &self.spec.durable_name
    }

    pub fn stats(&self) -> Arc<ConsumerStats> {
        self.stats.clone()
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let name = self.spec.durable_name.clone();
        let mut consumer = loop {
            match self.bus.consumer(self.spec.clone()).await {
                Ok(consumer) => break consumer,
                Err(error) => {
                    tracing::warn!(consumer = %name, %error, "cannot open consumer; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        };
        while !shutdown.is_cancelled() {
            let fetched = tokio::select! {
                _ = shutdown.cancelled() => return,
                fetched = consumer.fetch(self.batch_size, Duration::from_secs(1)) => fetched,
            };
            match fetched {
                Ok(deliveries) if deliveries.is_empty() => {}
                Ok(deliveries) => {
                    if let Err(error) = self.settle(deliveries).await {
                        tracing::warn!(consumer = %name, %error, "cannot settle deliveries");
                    }
                }
                Err(error) => {
                    tracing::warn!(consumer = %name, %error, "fetch failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        drop(consumer);
    }

    async fn settle(&self, deliveries: Vec<Delivery>) -> Result<(), crate::BusError> {
        let redelivered = deliveries.iter().filter(|d| d.delivered > 1).count();
        self.stats
            .redelivered
            .fetch_add(redelivered as u64, Ordering::Relaxed);
        let batch: Vec<EventEnvelope> = deliveries.iter().map(|d| d.envelope.clone()).collect();
        match self.handler.handle(&batch).await {
            Ok(()) => {
                self.applied(&batch);
                for delivery in deliveries {
                    delivery.ack().await?;
                }
                Ok(())
            }
            Err(HandlerError::Transient(reason)) => self.nak_from_first(deliveries, &reason).await,
            // Find the event at fault: apply one by one.
            Err(HandlerError::Permanent(_)) => self.settle_one_by_one(deliveries).await,
        }
    }

    /// Records the batch in the stats and closes one span per event, each a
    /// child of the span that recorded the event in its service, so a trace
    /// follows a command from its call to every consumer.
    fn applied(&self, batch: &[EventEnvelope]) {
        self.stats
            .applied
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        let now = liaison_eventstore::now_micros();
        for envelope in batch {
            let span = tracing::info_span!(
                "event.consume",
                otel.name = %format!("consume {}", envelope.event_type),
                otel.kind = "consumer",
                consumer = %self.spec.durable_name,
                event_id = %envelope.event_id,
            );
            liaison_runtime::trace::adopt_parent(&span, &envelope.traceparent);
            drop(span.enter());
        }
        if let Some(occurred) = batch.last().and_then(|e| e.occurred_at.as_ref()) {
            let lag = (now - liaison_eventstore::timestamp_to_micros(occurred)) / 1_000;
            self.stats.lag_millis.store(lag.max(0), Ordering::Relaxed);
        }
    }

    async fn settle_one_by_one(&self, deliveries: Vec<Delivery>) -> Result<(), crate::BusError> {
        let mut remaining = deliveries.into_iter();
        while let Some(delivery) = remaining.next() {
            match self
                .handler
                .handle(std::slice::from_ref(&delivery.envelope))
                .await
            {
                Ok(()) => {
                    self.applied(std::slice::from_ref(&delivery.envelope));
                    delivery.ack().await?
                }
                Err(HandlerError::Permanent(reason)) => delivery.term(&reason).await?,
                Err(HandlerError::Transient(reason)) => {
                    let rest: Vec<Delivery> = std::iter::once(delivery).chain(remaining).collect();
                    return self.nak_from_first(rest, &reason).await;
                }
            }
        }
        Ok(())
    }

    /// Naks the first delivery and drops the rest: they come again after it, in order.
    async fn nak_from_first(
        &self,
        deliveries: Vec<Delivery>,
        reason: &str,
    ) -> Result<(), crate::BusError> {
        let mut deliveries = deliveries.into_iter();
        if let Some(first) = deliveries.next() {
            let delay = backoff(first.delivered);
            tracing::info!(
                consumer = %self.spec.durable_name,
                event_id = %first.envelope.event_id,
                delivered = first.delivered,
                ?delay,
                reason,
                "handler failed for now; will retry"
            );
            first.nak(delay).await?;
        }
        for later in deliveries {
            later.nak(Duration::ZERO).await?;
        }
        Ok(())
    }
}

/// 100 ms, 200 ms, 400 ms, ... capped at 30 s.
pub(crate) fn backoff(delivered: u32) -> Duration {
    let exponent = delivered.saturating_sub(1).min(9);
    Duration::from_millis(100 * (1u64 << exponent)).min(Duration::from_secs(30))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(100));
        assert_eq!(backoff(2), Duration::from_millis(200));
        assert_eq!(backoff(4), Duration::from_millis(800));
        assert_eq!(backoff(50), Duration::from_secs(30));
    }
}
