//! What can go wrong on the bus, and how a handler says whether an event
//! may succeed later or never will.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum BusError {
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    #[error("consumer {0} is already open in this process")]
    ConsumerBusy(String),
    #[error("bad message on subject {subject}: {reason}")]
    BadMessage { subject: String, reason: String },
    #[error("event bus storage error: {0}")]
    Storage(String),
    #[error("invalid consumer: {0}")]
    InvalidConsumer(String),
}

/// How a handler failed, which decides what the runner does with the event.
#[derive(Debug, Error)]
pub enum HandlerError {
    /// Try again later (a dependency is down, a conflict): nak with backoff.
    #[error("transient: {0}")]
    Transient(String),
    /// The event can never be applied: dead-letter it with this reason.
    #[error("permanent: {0}")]
    Permanent(String),
}
