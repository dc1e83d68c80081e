use std::sync::Arc;
use std::time::Duration;

use liaison_eventstore::EventStore;
use tokio_util::sync::CancellationToken;

use crate::EventBus;

/// Publishes a service's committed events to the bus in position order.
///
/// The checkpoint is saved only after the bus acknowledged the batch, so a
/// crash republishes at most one batch, which the bus drops as duplicates.
pub struct Relay {
    store: Arc<dyn EventStore>,
    bus: Arc<dyn EventBus>,
    batch_size: u32,
    max_backoff: Duration,
}

impl Relay {
    pub fn new(store: Arc<dyn EventStore>, bus: Arc<dyn EventBus>) -> Self {
        Self {
            store,
            bus,
            batch_size: 1_000,
            max_backoff: Duration::from_secs(5),
        }
    }

    /// Runs until `shutdown` is cancelled. Errors are logged and retried with
    /// backoff: the events wait in the log, nothing is lost.
    pub async fn run(self, shutdown: CancellationToken) {
        let service = self.store.service().to_owned();
        let mut head = self.store.watch_head();
        let mut backoff = Duration::from_millis(50);
        let mut checkpoint = loop {
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
        tracing::debug!(%service, checkpoint, "relay started");
        loop {
            if shutdown.is_cancelled() {
                return;
            }
            match self.publish_next(&service, checkpoint).await {
                Ok(Some(position)) => {
                    checkpoint = position;
                    backoff = Duration::from_millis(50);
                }
                Ok(None) => {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = head.changed() => {}
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Err(error) => {
                    tracing::warn!(%service, %error, "relay could not publish; retrying");
                    if sleep_or_cancel(&shutdown, backoff).await {
                        return;
                    }
                    backoff = (backoff * 2).min(self.max_backoff);
                }
            }
        }
    }

    /// Publishes the next batch after `checkpoint`; the new checkpoint, or
    /// `None` when caught up.
    async fn publish_next(
        &self,
        service: &str,
        checkpoint: u64,
    ) -> Result<Option<u64>, Box<dyn std::error::Error + Send + Sync>> {
        let events = self.store.read_all(checkpoint, self.batch_size).await?;
        let Some(last) = events.last().map(|event| event.position) else {
            return Ok(None);
        };
        let envelopes: Vec<_> = events
            .iter()
            .map(|event| event.to_envelope(service))
            .collect();
        let outcome = self.bus.publish(&envelopes).await?;
        if outcome.duplicates > 0 {
            tracing::debug!(
                service,
                duplicates = outcome.duplicates,
                "relay republished after restart"
            );
        }
        self.store.save_relay_checkpoint(last).await?;
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
