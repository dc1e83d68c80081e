//! The bus for deployments: NATS JetStream.
//!
//! One stream per producing service (`LIAISON_<SERVICE>`, subjects
//! `liaison.<service>.v1.>`, file storage, a de-duplication window), each
//! event published with its id as `Nats-Msg-Id` and its trace context as
//! `traceparent` header, acks pipelined. Consumers are durable pull consumers
//! named after the consuming service, with explicit acks. What JetStream
//! does not do the way the bus contract says is done here, client side:
//! a nak holds back later messages of the stream until the naked one comes
//! again (JetStream would deliver them first), `max_deliver` is counted here
//! so that the last failure goes to the dead letters with its reason, and
//! dead letters are a stream of their own (`LIAISON_DEAD_LETTERS`).

mod consumer;

use std::collections::HashSet;
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use async_nats::HeaderMap;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::StreamExt;
use liaison_proto::events::v1::EventEnvelope;
use prost::Message;
use tokio::sync::Mutex;

use crate::{subjects, BusConsumer, BusError, ConsumerSpec, DeadLetter, EventBus, PublishOutcome};

/// How long a stop waits for NATS to take the last acks.
const CLOSE_FLUSH_WAIT: Duration = Duration::from_secs(2);

/// Header names of the messages this bus writes.
pub(crate) mod headers {
    pub const MSG_ID: &str = "Nats-Msg-Id";
    pub const TRACEPARENT: &str = "traceparent";
    pub const REASON: &str = "Liaison-Dead-Reason";
    pub const SUBJECT: &str = "Liaison-Dead-Subject";
    pub const DELIVERED: &str = "Liaison-Dead-Delivered";
}

/// How to reach and configure JetStream.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    pub url: String,
    /// How long connecting may take before the bus reports NATS unreachable.
    pub connect_timeout: Duration,
    /// Messages older than this are removed from the streams.
    pub max_age: Duration,
    /// A message id seen within this window is dropped as a duplicate.
    pub duplicate_window: Duration,
    /// Name of this process in NATS monitoring.
    pub client_name: String,
}

impl NatsOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            connect_timeout: Duration::from_secs(3),
            max_age: Duration::from_secs(7 * 24 * 3600),
            duplicate_window: Duration::from_secs(10 * 60),
            client_name: "liaison".to_owned(),
        }
    }
}

pub struct NatsBus {
    client: async_nats::Client,
    jetstream: jetstream::Context,
    options: NatsOptions,
    /// Streams known to exist, so a publish does not ask each time.
    ready_streams: Mutex<HashSet<String>>,
}

impl NatsBus {
    /// Connects, failing with the address when NATS does not answer in time.
    /// Once connected, the client reconnects by itself after an outage.
    pub async fn connect(options: NatsOptions) -> Result<Self, BusError> {
        let connect = async_nats::ConnectOptions::new()
            .name(&options.client_name)
            .connection_timeout(options.connect_timeout)
            .max_reconnects(None)
            .connect(options.url.as_str());
        let client = match tokio::time::timeout(options.connect_timeout, connect).await {
            Ok(Ok(client)) => client,
            Ok(Err(error)) => {
                return Err(BusError::Unavailable(format!(
                    "cannot reach NATS at {}: {error}",
                    options.url
                )))
            }
            Err(_) => {
                return Err(BusError::Unavailable(format!(
                    "NATS at {} did not answer within {:?}",
                    options.url, options.connect_timeout
                )))
            }
        };
        let jetstream = jetstream::new(client.clone());
        Ok(Self {
            client,
            jetstream,
            options,
            ready_streams: Mutex::new(HashSet::new()),
        })
    }

    /// Whether the connection is up (readiness).
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Creates the stream of `service` unless it is known to exist.
    async fn ensure_service_stream(&self, service: &str) -> Result<stream::Stream, BusError> {
        let name = subjects::stream_name(service);
        let stream = self
            .jetstream
            .get_or_create_stream(stream::Config {
                name: name.clone(),
                subjects: vec![subjects::service_filter(service)],
                storage: stream::StorageType::File,
                max_age: self.options.max_age,
                duplicate_window: self.options.duplicate_window,
                ..Default::default()
            })
            .await
            .map_err(|error| unavailable(&format!("cannot open stream {name}"), error))?;
        self.ready_streams.lock().await.insert(name);
        Ok(stream)
    }

    async fn dead_letter_stream(&self) -> Result<stream::Stream, BusError> {
        dead_letter_stream(&self.jetstream, self.options.max_age).await
    }
}

async fn dead_letter_stream(
    jetstream: &jetstream::Context,
    max_age: Duration,
) -> Result<stream::Stream, BusError> {
    jetstream
        .get_or_create_stream(stream::Config {
            name: subjects::DEAD_LETTER_STREAM.to_owned(),
            subjects: vec![subjects::dead_letter_filter()],
            storage: stream::StorageType::File,
            max_age,
            ..Default::default()
        })
        .await
        .map_err(|error| unavailable("cannot open the dead-letter stream", error))
}

/// Publishes awaiting their acks at once; below the client's limit of 5,000.
const ACK_WINDOW: usize = 4_096;

async fn count_ack(
    outcome: &mut PublishOutcome,
    ack: jetstream::context::PublishAckFuture,
) -> Result<(), BusError> {
    let ack = ack
        .await
        .map_err(|error| unavailable("NATS did not confirm a publish", error))?;
    if ack.duplicate {
        outcome.duplicates += 1;
    } else {
        outcome.stored += 1;
    }
    Ok(())
}

pub(crate) fn unavailable(what: &str, error: impl std::fmt::Display) -> BusError {
    BusError::Unavailable(format!("{what}: {error}"))
}

#[async_trait]
impl EventBus for NatsBus {
    async fn publish(&self, envelopes: &[EventEnvelope]) -> Result<PublishOutcome, BusError> {
        let services: HashSet<&str> = envelopes.iter().map(|e| e.service.as_str()).collect();
        for service in services {
            let known = self
                .ready_streams
                .lock()
                .await
                .contains(&subjects::stream_name(service));
            if !known {
                self.ensure_service_stream(service).await?;
            }
        }
        // Pipelined: up to ACK_WINDOW messages go out before an ack is
        // awaited (the client holds at most 5,000 acks in flight).
        let mut outcome = PublishOutcome::default();
        let mut pending = std::collections::VecDeque::with_capacity(ACK_WINDOW);
        for envelope in envelopes {
            if pending.len() >= ACK_WINDOW {
                if let Some(ack) = pending.pop_front() {
                    count_ack(&mut outcome, ack).await?;
                }
            }
            let mut headers = HeaderMap::new();
            headers.insert(headers::MSG_ID, envelope.event_id.as_str());
            if !envelope.traceparent.is_empty() {
                headers.insert(headers::TRACEPARENT, envelope.traceparent.as_str());
            }
            let subject = subjects::event_subject(&envelope.service, &envelope.event_type);
            let ack = self
                .jetstream
                .publish_with_headers(subject, headers, Bytes::from(envelope.encode_to_vec()))
                .await
                .map_err(|error| unavailable("cannot publish to NATS", error))?;
            pending.push_back(ack);
        }
        for ack in pending {
            count_ack(&mut outcome, ack).await?;
        }
        Ok(outcome)
    }

    async fn sync(&self) -> Result<(), BusError> {
        // A publish ack means JetStream stored the message (and replicated
        // it, in a cluster); how often it reaches the disk is the server's
        // `sync_interval`.
        Ok(())
    }

    async fn consumer(&self, spec: ConsumerSpec) -> Result<Box<dyn BusConsumer>, BusError> {
        let consumer = consumer::NatsConsumer::open(self, spec).await?;
        Ok(Box::new(consumer))
    }

    async fn dead_letters(&self, consumer: &str) -> Result<Vec<DeadLetter>, BusError> {
        let stream = self.dead_letter_stream().await?;
        let reader = stream
            .create_consumer(pull::Config {
                filter_subject: subjects::dead_letter_subject(consumer),
                deliver_policy: jetstream::consumer::DeliverPolicy::All,
                ack_policy: jetstream::consumer::AckPolicy::None,
                inactive_threshold: Duration::from_secs(30),
                ..Default::default()
            })
            .await
            .map_err(|error| unavailable("cannot read the dead letters", error))?;
        let mut reader = reader;
        let count = reader
            .info()
            .await
            .map_err(|error| unavailable("cannot read the dead letters", error))?
            .num_pending;
        let mut letters = Vec::new();
        if count == 0 {
            return Ok(letters);
        }
        let mut messages = reader
            .fetch()
            .max_messages(usize::try_from(count).unwrap_or(usize::MAX))
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .map_err(|error| unavailable("cannot read the dead letters", error))?;
        while let Some(message) = messages.next().await {
            let message =
                message.map_err(|error| unavailable("cannot read a dead letter", error))?;
            let header = |name: &str| {
                message
                    .headers
                    .as_ref()
                    .and_then(|headers| headers.get(name))
                    .map(|value| value.as_str().to_owned())
                    .unwrap_or_default()
            };
            let envelope = EventEnvelope::decode(message.payload.as_ref()).map_err(|error| {
                BusError::BadMessage {
                    subject: message.subject.to_string(),
                    reason: error.to_string(),
                }
            })?;
            letters.push(DeadLetter {
                consumer: consumer.to_owned(),
                subject: header(headers::SUBJECT),
                envelope,
                reason: header(headers::REASON),
                delivered: header(headers::DELIVERED).parse().unwrap_or(0),
            });
            if letters.len() as u64 >= count {
                break;
            }
        }
        Ok(letters)
    }

    async fn close(&self) {
        // While NATS is unreachable a flush waits for the reconnection:
        // bounded, so that a stop never hangs on it. An ack lost here is a
        // redelivery, which consumers tolerate.
        match tokio::time::timeout(CLOSE_FLUSH_WAIT, self.client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "cannot flush the last acks to NATS"),
            Err(_) => tracing::warn!(
                "NATS did not take the last acks within {CLOSE_FLUSH_WAIT:?}; they will be redelivered"
            ),
        }
    }
}
