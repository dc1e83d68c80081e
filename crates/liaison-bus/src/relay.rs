//! The relay: a service's committed events, read from its log (the outbox)
//! in position order, published to the bus once each.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use liaison_eventstore::EventStore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::EventBus;

/// Publishes a service's committed events to the bus in position order.
///
/// The checkpoint only ever names events the bus has acknowledged. It is
/// saved at most once per `checkpoint_interval` (and on shutdown): a crash
/// republishes at most that much, which the bus drops as duplicates, and
/// commands do not pay a second fsync each for the relay's bookkeeping.
pub struct Relay {
    store: Arc<dyn EventStore>,
    bus: Arc<dyn EventBus>,
    published_position: Arc<AtomicU64>,
    batch_size: u32,
    /// After a wake-up, wait this long so a burst goes out as one batch.
    linger: Duration,
    checkpoint_interval: Duration,
    max_backoff: Duration,
}

impl Relay {
    pub fn new(store: Arc<dyn EventStore>, bus: Arc<dyn EventBus>) -> Self {
        Self {
            store,
            bus,
            published_position: Arc::default(),
            batch_size: 1_000,
            linger: Duration::from_millis(5),
            checkpoint_interval: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
        }
    }

    /// Position of the last event this relay published (a metric: the
    /// backlog is the store's head minus this).
    pub fn published_position(&self) -> Arc<AtomicU64> {
        self.published_position.clone()
    }

    /// Runs until `shutdown` is cancelled. Errors are logged and retried with
    /// backoff: the events wait in the log, nothing is lost.
    pub async fn run(self, shutdown: CancellationToken) {
        let service = self.store.service().to_owned();
        let mut head = self.store.watch_head();
        let mut backoff = Duration::from_millis(50);
        let mut published = loop {
            match self.store.relay_checkpoint().await {
                Ok(checkpoint) => break checkpoint,
                Err(error) => {
                    tracing::warn!(%service, %error, "relay cannot read its checkpoint; retrying");
                    if sleep_or_cancel(&shutdown, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        };
        self.published_position.store(published, Ordering::Relaxed);
        let mut saved = published;
        let mut saved_at = Instant::now();
        tracing::debug!(%service, checkpoint = published, "relay started");
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if published > saved && saved_at.elapsed() >= self.checkpoint_interval {
                match self.save_checkpoint(published).await {
                    Ok(()) => saved = published,
                    Err(error) => {
                        tracing::warn!(%service, %error, "relay cannot save its checkpoint")
                    }
                }
                saved_at = Instant::now();
            }
            // A publish NATS does not confirm waits for its timeout; a
            // shutdown meanwhile drops it: the batch stays after the
            // checkpoint and is published again on the next start.
            let next = tokio::select! {
                _ = shutdown.cancelled() => break,
                next = self.publish_next(&service, published) => next,
            };
            match next {
                Ok(Some(position)) => {
                    published = position;
                    self.published_position.store(position, Ordering::Relaxed);
                    backoff = Duration::from_millis(50);
                }
                Ok(None) => {
                    let wait = if published > saved {
                        self.checkpoint_interval.saturating_sub(saved_at.elapsed())
                    } else {
                        Duration::from_secs(1)
                    };
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        changed = head.changed() => {
                            if changed.is_ok() {
                                tokio::time::sleep(self.linger).await;
                            }
                        }
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(%service, %error, "relay could not publish; retrying");
                    if sleep_or_cancel(&shutdown, backoff).await {
                        break;
                    }
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
        if published > saved {
            if let Err(error) = self.save_checkpoint(published).await {
                tracing::warn!(%service, %error, "relay cannot save its checkpoint at shutdown");
            }
        }
    }

    /// Saves the checkpoint once what it names is durable on the bus.
    async fn save_checkpoint(
        &self,
        published: u64,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.bus.sync().await?;
        self.store.save_relay_checkpoint(published).await?;
        Ok(())
    }

    /// Publishes the next batch after `published`; the new position, or
    /// `None` when caught up.
    async fn publish_next(
        &self,
        service: &str,
        published: u64,
    ) -> Result<Option<u64>, Box<dyn std::error::Error + Send + Sync>> {
        let events = self.store.read_all(published, self.batch_size).await?;
        let Some(last) = events.last().map(|event| event.position) else {
            return Ok(None);
        };
        let envelopes: Vec<_> = events
            .iter()
            .map(|event| self.store.envelope(event))
            .collect();
        let outcome = self.bus.publish(&envelopes).await?;
        if outcome.duplicates > 0 {
            tracing::debug!(
                service,
                duplicates = outcome.duplicates,
                "relay republished after restart"
            );
        }
        Ok(Some(last))
    }
}

/// Sleeps; true when shutdown came first.
async fn sleep_or_cancel(shutdown: &CancellationToken, duration: Duration) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => true,
        _ = tokio::time::sleep(duration) => false,
    }
}
