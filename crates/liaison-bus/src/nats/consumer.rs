//! A durable JetStream pull consumer that keeps the bus contract's order:
//! a naked message is delivered again before any later one of its stream.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, AckKind};
use async_nats::HeaderMap;
use async_trait::async_trait;
use bytes::Bytes;
use futures_util::stream::{select_all, SelectAll};
use futures_util::StreamExt;
use liaison_proto::events::v1::EventEnvelope;
use prost::Message;

use super::{dead_letter_stream, headers, unavailable, NatsBus};
use crate::{subjects, Acknowledge, BusConsumer, BusError, ConsumerSpec, Delivery};

/// Messages a consumer may have unsettled at once, per stream.
const MAX_ACK_PENDING: i64 = 20_000;

/// Per stream: the sequence of a naked message not yet delivered again.
/// Later messages wait until it is.
#[derive(Default)]
struct Gate {
    blocked_at: Option<u64>,
}

type SharedGate = Arc<Mutex<Gate>>;

fn lock(gate: &SharedGate) -> std::sync::MutexGuard<'_, Gate> {
    gate.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One JetStream consumer: this durable on one producing service's stream.
struct StreamConsumer {
    consumer: jetstream::consumer::PullConsumer,
    /// Filters this stream's messages must match, when the server-side
    /// filter is broader (several filters on one stream).
    client_filters: Option<Vec<String>>,
    gate: SharedGate,
}

pub(super) struct NatsConsumer {
    spec: ConsumerSpec,
    client: async_nats::Client,
    jetstream: jetstream::Context,
    max_age: Duration,
    streams: HashMap<String, StreamConsumer>,
    messages: Option<SelectAll<pull::Stream>>,
    /// Messages that came while their stream's gate was closed, by stream
    /// and sequence (a redelivery replaces the older copy).
    held: BTreeMap<(String, u64), jetstream::Message>,
    /// Set by acks; the next fetch flushes them to the server first.
    settled: Arc<AtomicBool>,
}

impl NatsConsumer {
    pub(super) async fn open(bus: &NatsBus, spec: ConsumerSpec) -> Result<Self, BusError> {
        let mut filters_by_service: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for filter in &spec.filter_subjects {
            let service = subjects::service_of(filter).ok_or_else(|| {
                BusError::InvalidConsumer(format!(
                    "filter {filter:?} must name one service (liaison.<service>.v1...)"
                ))
            })?;
            filters_by_service
                .entry(service.to_owned())
                .or_default()
                .push(filter.clone());
        }
        if filters_by_service.is_empty() {
            return Err(BusError::InvalidConsumer(format!(
                "consumer {} has no subject filter",
                spec.durable_name
            )));
        }
        let mut streams = HashMap::new();
        for (service, filters) in filters_by_service {
            let stream = bus.ensure_service_stream(&service).await?;
            let (server_filter, client_filters) = match filters.as_slice() {
                [only] => (only.clone(), None),
                _ => (subjects::service_filter(&service), Some(filters.clone())),
            };
            let consumer = durable_at_ack_floor(&stream, &spec, server_filter).await?;
            streams.insert(
                subjects::stream_name(&service),
                StreamConsumer {
                    consumer,
                    client_filters,
                    gate: SharedGate::default(),
                },
            );
        }
        Ok(Self {
            spec,
            client: bus.client.clone(),
            jetstream: bus.jetstream.clone(),
            max_age: bus.options.max_age,
            streams,
            messages: None,
            held: BTreeMap::new(),
            settled: Arc::new(AtomicBool::new(false)),
        })
    }

    async fn message_streams(&mut self, batch: usize) -> Result<(), BusError> {
        if self.messages.is_some() {
            return Ok(());
        }
        let mut all = Vec::with_capacity(self.streams.len());
        for stream in self.streams.values() {
            let messages = stream
                .consumer
                .stream()
                .max_messages_per_batch(batch.clamp(1, 1_000))
                .heartbeat(Duration::from_secs(5))
                .expires(Duration::from_secs(30))
                .messages()
                .await
                .map_err(|error| unavailable("cannot pull from NATS", error))?;
            all.push(messages);
        }
        self.messages = Some(select_all(all));
        Ok(())
    }

    /// The next held message whose stream's gate is open, oldest first.
    fn take_releasable(&mut self) -> Option<jetstream::Message> {
        let key = self
            .held
            .keys()
            .find(|(stream, _)| {
                self.streams
                    .get(stream)
                    .is_none_or(|s| lock(&s.gate).blocked_at.is_none())
            })?
            .clone();
        self.held.remove(&key)
    }

    /// Decides what to do with a message that came from the server.
    async fn admit(&mut self, message: jetstream::Message) -> Option<Delivery> {
        let (stream, sequence, delivered) = match message.info() {
            Ok(info) => (
                info.stream.to_owned(),
                info.stream_sequence,
                u32::try_from(info.delivered).unwrap_or(u32::MAX),
            ),
            Err(error) => {
                tracing::warn!(%error, "message without jetstream metadata; dropped");
                return None;
            }
        };
        let stream_consumer = self.streams.get(&stream)?;
        let gate = stream_consumer.gate.clone();
        if let Some(filters) = &stream_consumer.client_filters {
            let subject = message.subject.as_str();
            if !filters
                .iter()
                .any(|filter| subjects::subject_matches(filter, subject))
            {
                let _ = message.ack().await;
                return None;
            }
        }
        {
            let mut gate = lock(&gate);
            match gate.blocked_at {
                Some(blocked) if sequence > blocked => {
                    drop(gate);
                    self.held.insert((stream, sequence), message);
                    return None;
                }
                Some(blocked) if sequence == blocked => gate.blocked_at = None,
                _ => {}
            }
        }
        let subject = message.subject.to_string();
        let envelope = match EventEnvelope::decode(message.payload.as_ref()) {
            Ok(envelope) => envelope,
            Err(error) => {
                let reason = format!("payload is not an event envelope: {error}");
                let letter = self.dead_letterer(&subject, sequence, delivered, &gate);
                let (message, acker) = message.split();
                letter.bury(&message.payload, &reason, acker).await;
                return None;
            }
        };
        if delivered > self.spec.max_deliver {
            // Left unsettled past its last allowed delivery (a crashed handler).
            let reason = format!(
                "delivered {delivered} times without being settled (max_deliver {})",
                self.spec.max_deliver
            );
            let letter = self.dead_letterer(&subject, sequence, delivered, &gate);
            let (message, acker) = message.split();
            letter.bury(&message.payload, &reason, acker).await;
            return None;
        }
        let (_, acker) = message.split();
        let acker = NatsAcker {
            acker,
            letter: self.dead_letterer(&subject, sequence, delivered, &gate),
            max_deliver: self.spec.max_deliver,
            settled: self.settled.clone(),
            envelope_bytes: envelope.encode_to_vec(),
        };
        Some(Delivery::new(envelope, subject, delivered, Box::new(acker)))
    }

    fn dead_letterer(
        &self,
        subject: &str,
        sequence: u64,
        delivered: u32,
        gate: &SharedGate,
    ) -> DeadLetterer {
        DeadLetterer {
            jetstream: self.jetstream.clone(),
            max_age: self.max_age,
            consumer: self.spec.durable_name.clone(),
            subject: subject.to_owned(),
            sequence,
            delivered,
            gate: gate.clone(),
        }
    }
}

/// This consumer's durable on `stream`, resuming after its ack floor. A
/// durable that still has unsettled deliveries (its last holder stopped
/// without settling them) or another configuration is recreated there, so
/// the new holder gets them now, in order, rather than after `ack_wait`.
async fn durable_at_ack_floor(
    stream: &jetstream::stream::Stream,
    spec: &ConsumerSpec,
    filter_subject: String,
) -> Result<jetstream::consumer::PullConsumer, BusError> {
    let name = spec.durable_name.as_str();
    let config = |deliver_policy| pull::Config {
        durable_name: Some(name.to_owned()),
        filter_subject: filter_subject.clone(),
        deliver_policy,
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: spec.ack_wait,
        // Counted here, so the last failure is dead-lettered with its reason.
        max_deliver: -1,
        max_ack_pending: MAX_ACK_PENDING,
        ..Default::default()
    };
    let failed = |error| unavailable(&format!("cannot open consumer {name}"), error);
    let start = match stream.consumer_info(name).await {
        Ok(info) => {
            let same_config = info.config.filter_subject == filter_subject
                && info.config.ack_wait == spec.ack_wait;
            if same_config && info.num_ack_pending == 0 {
                return stream
                    .get_consumer(name)
                    .await
                    .map_err(|error| failed(error.to_string()));
            }
            stream
                .delete_consumer(name)
                .await
                .map_err(|error| failed(error.to_string()))?;
            Some(info.ack_floor.stream_sequence + 1)
        }
        Err(_) => None,
    };
    let policy = match start {
        Some(start_sequence) => {
            jetstream::consumer::DeliverPolicy::ByStartSequence { start_sequence }
        }
        None => jetstream::consumer::DeliverPolicy::All,
    };
    stream
        .create_consumer(config(policy))
        .await
        .map_err(|error| failed(error.to_string()))
}

#[async_trait]
impl BusConsumer for NatsConsumer {
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        if self.settled.swap(false, Ordering::AcqRel) {
            // Acks are fire-and-forget; make them reach the server now.
            self.client
                .flush()
                .await
                .map_err(|error| unavailable("cannot flush acks to NATS", error))?;
        }
        self.message_streams(max).await?;
        let deadline = tokio::time::Instant::now() + wait;
        let mut out: Vec<Delivery> = Vec::new();
        while out.len() < max {
            if let Some(message) = self.take_releasable() {
                if let Some(delivery) = self.admit(message).await {
                    out.push(delivery);
                }
                continue;
            }
            let Some(messages) = self.messages.as_mut() else {
                break;
            };
            // Wait for the first delivery; after that take only what is there.
            let until = if out.is_empty() {
                deadline
            } else {
                tokio::time::Instant::now()
            };
            match tokio::time::timeout_at(until, messages.next()).await {
                Err(_) => break,
                Ok(None) => {
                    self.messages = None;
                    break;
                }
                Ok(Some(Err(error))) => {
                    tracing::debug!(consumer = %self.spec.durable_name, %error, "pull interrupted");
                    if out.is_empty() && tokio::time::Instant::now() >= deadline {
                        break;
                    }
                }
                Ok(Some(Ok(message))) => {
                    if let Some(delivery) = self.admit(message).await {
                        out.push(delivery);
                    }
                }
            }
        }
        out.sort_by_key(|delivery| {
            (
                delivery.envelope.service.clone(),
                delivery.envelope.global_position,
            )
        });
        Ok(out)
    }
}

/// Moves one message to the dead letters.
struct DeadLetterer {
    jetstream: jetstream::Context,
    max_age: Duration,
    consumer: String,
    subject: String,
    sequence: u64,
    delivered: u32,
    gate: SharedGate,
}

impl DeadLetterer {
    async fn publish(&self, payload: &[u8], reason: &str) -> Result<(), BusError> {
        dead_letter_stream(&self.jetstream, self.max_age).await?;
        let mut headers = HeaderMap::new();
        headers.insert(
            headers::MSG_ID,
            format!("{}:{}:{}", self.consumer, self.subject, self.sequence).as_str(),
        );
        headers.insert(headers::REASON, reason);
        headers.insert(headers::SUBJECT, self.subject.as_str());
        headers.insert(headers::DELIVERED, self.delivered.to_string().as_str());
        self.jetstream
            .publish_with_headers(
                subjects::dead_letter_subject(&self.consumer),
                headers,
                Bytes::copy_from_slice(payload),
            )
            .await
            .map_err(|error| unavailable("cannot publish a dead letter", error))?
            .await
            .map_err(|error| unavailable("NATS did not confirm a dead letter", error))?;
        Ok(())
    }

    /// Dead-letters, then terminates the delivery; opens the gate if this
    /// message held it.
    async fn bury(&self, payload: &[u8], reason: &str, acker: jetstream::message::Acker) {
        match self.publish(payload, reason).await {
            Ok(()) => {
                if let Err(error) = acker.ack_with(AckKind::Term).await {
                    tracing::warn!(%error, "cannot terminate a dead-lettered message");
                }
                self.open_gate();
                tracing::warn!(consumer = %self.consumer, subject = %self.subject, reason, "event dead-lettered");
            }
            // Left unsettled, it comes again after ack_wait.
            Err(error) => tracing::warn!(%error, "cannot dead-letter; will retry"),
        }
    }

    fn open_gate(&self) {
        let mut gate = lock(&self.gate);
        if gate.blocked_at == Some(self.sequence) {
            gate.blocked_at = None;
        }
    }
}

struct NatsAcker {
    acker: jetstream::message::Acker,
    letter: DeadLetterer,
    max_deliver: u32,
    settled: Arc<AtomicBool>,
    envelope_bytes: Vec<u8>,
}

#[async_trait]
impl Acknowledge for NatsAcker {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        self.acker
            .ack()
            .await
            .map_err(|error| unavailable("cannot ack", error))?;
        self.settled.store(true, Ordering::Release);
        Ok(())
    }

    async fn nak(self: Box<Self>, delay: Duration) -> Result<(), BusError> {
        if self.letter.delivered >= self.max_deliver {
            let reason = format!(
                "not processed after {} deliveries (max_deliver {})",
                self.letter.delivered, self.max_deliver
            );
            self.letter.publish(&self.envelope_bytes, &reason).await?;
            self.acker
                .ack_with(AckKind::Term)
                .await
                .map_err(|error| unavailable("cannot terminate", error))?;
            self.letter.open_gate();
            self.settled.store(true, Ordering::Release);
            return Ok(());
        }
        {
            let mut gate = lock(&self.letter.gate);
            let sequence = self.letter.sequence;
            gate.blocked_at = Some(gate.blocked_at.map_or(sequence, |b| b.min(sequence)));
        }
        let delay = (!delay.is_zero()).then_some(delay);
        self.acker
            .ack_with(AckKind::Nak(delay))
            .await
            .map_err(|error| unavailable("cannot nak", error))?;
        self.settled.store(true, Ordering::Release);
        Ok(())
    }

    async fn term(self: Box<Self>, reason: &str) -> Result<(), BusError> {
        self.letter.publish(&self.envelope_bytes, reason).await?;
        self.acker
            .ack_with(AckKind::Term)
            .await
            .map_err(|error| unavailable("cannot terminate", error))?;
        self.letter.open_gate();
        self.settled.store(true, Ordering::Release);
        Ok(())
    }
}
