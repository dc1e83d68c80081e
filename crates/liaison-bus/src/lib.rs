//! The event bus between Liaison services.
//!
//! Services never publish from a request: the [`Relay`] tails each service's
//! event log (the outbox) in position order and publishes with the event id
//! as de-duplication id. Consumers are durable and named after the consuming
//! service; the [`ConsumerRunner`] acks only after the handler committed, naks
//! with backoff on transient errors, and dead-letters events a handler rejects
//! permanently.
//!
//! Two implementations pass the same contract suite ([`contract`], feature
//! `testing`): the [`embedded`] bus for one process and the NATS JetStream bus
//! for deployments.

pub mod embedded;
mod error;
pub mod nats;
mod relay;
mod runner;
pub mod subjects;

#[cfg(feature = "testing")]
pub mod contract;
#[cfg(feature = "testing")]
pub mod nats_server;

use std::time::Duration;

use async_trait::async_trait;
use liaison_proto::events::v1::EventEnvelope;

pub use error::{BusError, HandlerError};
pub use relay::Relay;
pub use runner::{ConsumerRunner, ConsumerStats, EventHandler, StoreHandler};

/// How many messages a publish stored and how many it dropped as duplicates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PublishOutcome {
    pub stored: usize,
    pub duplicates: usize,
}

/// A durable consumer's definition.
#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Durable name, the consuming service's (`relations`, ...).
    pub durable_name: String,
    /// Subject filters with NATS wildcards (`liaison.contacts.v1.>`).
    pub filter_subjects: Vec<String>,
    /// Deliveries before an event is dead-lettered.
    pub max_deliver: u32,
    /// A delivery neither acked nor naked within this time is redelivered.
    pub ack_wait: Duration,
}

impl ConsumerSpec {
    pub fn new(durable_name: impl Into<String>, filter_subjects: Vec<String>) -> Self {
        Self {
            durable_name: durable_name.into(),
            filter_subjects,
            max_deliver: 10,
            ack_wait: Duration::from_secs(30),
        }
    }
}

#[async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Stores the messages durably, in order; a message whose event id was
    /// already published is dropped. Returns once all are stored.
    async fn publish(&self, envelopes: &[EventEnvelope]) -> Result<PublishOutcome, BusError>;

    /// Makes every message published so far survive a power loss. The relay
    /// calls it before saving its checkpoint, so the checkpoint never names
    /// a message that could still be lost.
    async fn sync(&self) -> Result<(), BusError>;

    /// Opens (creating if needed) a durable consumer. It resumes after the
    /// last event it acknowledged.
    async fn consumer(&self, spec: ConsumerSpec) -> Result<Box<dyn BusConsumer>, BusError>;

    /// Events dead-lettered by `consumer`, oldest first.
    async fn dead_letters(&self, consumer: &str) -> Result<Vec<DeadLetter>, BusError>;

    /// Flushes what is in flight and closes the connection or file.
    async fn close(&self);
}

#[async_trait]
pub trait BusConsumer: Send {
    /// Up to `max` deliveries in publish order, waiting up to `wait` for the
    /// first one. Empty when nothing arrived in time.
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError>;
}

/// One delivery of an event to a consumer. Exactly one of ack, nak or term
/// should be called; a delivery dropped without any is redelivered.
pub struct Delivery {
    pub envelope: EventEnvelope,
    pub subject: String,
    /// 1 on first delivery.
    pub delivered: u32,
    acker: Box<dyn Acknowledge>,
}

impl Delivery {
    pub fn new(
        envelope: EventEnvelope,
        subject: String,
        delivered: u32,
        acker: Box<dyn Acknowledge>,
    ) -> Self {
        Self {
            envelope,
            subject,
            delivered,
            acker,
        }
    }

    /// Done: never deliver again.
    pub async fn ack(self) -> Result<(), BusError> {
        self.acker.ack().await
    }

    /// Failed for now: deliver this event again after `delay`, before any later one.
    pub async fn nak(self, delay: Duration) -> Result<(), BusError> {
        self.acker.nak(delay).await
    }

    /// Rejected for good: move it to the dead letters with `reason`.
    pub async fn term(self, reason: &str) -> Result<(), BusError> {
        self.acker.term(reason).await
    }
}

/// The bus-specific way to settle a delivery.
#[async_trait]
pub trait Acknowledge: Send + Sync {
    async fn ack(self: Box<Self>) -> Result<(), BusError>;
    async fn nak(self: Box<Self>, delay: Duration) -> Result<(), BusError>;
    async fn term(self: Box<Self>, reason: &str) -> Result<(), BusError>;
}

/// An event a consumer rejected for good, with why.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub consumer: String,
    pub subject: String,
    pub envelope: EventEnvelope,
    pub reason: String,
    pub delivered: u32,
}
