//! The shapes of an append (streams, expected versions, metadata) and of
//! an event as stored and as published.

use uuid::Uuid;

/// What a caller wants the stream's version to be before its events go in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be exactly at this version.
    Exactly(u64),
    /// No check (the store still keeps versions gapless).
    Any,
}

impl ExpectedVersion {
    /// The version the stream is expected to be at, if the caller said.
    pub fn as_version(self) -> Option<u64> {
        match self {
            ExpectedVersion::NoStream => Some(0),
            ExpectedVersion::Exactly(version) => Some(version),
            ExpectedVersion::Any => None,
        }
    }
}

/// An event to record. Ids and times are given by the caller, never made up here.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub event_id: Uuid,
    /// `<aggregate>.<event>`, e.g. `person.created`.
    pub event_type: String,
    pub schema_version: u32,
    pub payload: Vec<u8>,
}

/// Events for one stream inside an append.
#[derive(Debug, Clone)]
pub struct StreamAppend {
    pub stream_id: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    /// Encrypt the payloads with this subject's key (created on first use).
    pub encrypt_for_subject: Option<String>,
}

/// Who and what caused a command, copied onto each of its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventMetadata {
    pub actor: String,
    pub correlation_id: String,
    pub causation_id: String,
    pub traceparent: String,
    pub occurred_at_micros: i64,
}

/// One atomic append: every stream's events go in together or none does.
#[derive(Debug, Clone, Default)]
pub struct AppendRequest {
    pub streams: Vec<StreamAppend>,
    pub metadata: EventMetadata,
    /// Destroy these subjects' keys in the same transaction (erasure).
    pub forget_subjects: Vec<String>,
}

/// The versions the appended streams reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendOutcome {
    /// `(stream_id, new version)` in the order of the request.
    pub stream_versions: Vec<(String, u64)>,
    /// Global position of the last event written.
    pub last_position: u64,
}

impl AppendOutcome {
    /// New version of `stream_id`, if it was part of the append.
    pub fn version_of(&self, stream_id: &str) -> Option<u64> {
        self.stream_versions
            .iter()
            .find(|(id, _)| id == stream_id)
            .map(|(_, version)| *version)
    }
}

/// An event as stored, with its payload decrypted when it was encrypted.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    pub position: u64,
    pub event_id: Uuid,
    pub stream_id: String,
    pub stream_version: u64,
    pub event_type: String,
    pub schema_version: u32,
    pub metadata: EventMetadata,
    pub payload: Vec<u8>,
    /// The payload was destroyed by erasure; `payload` is empty.
    pub shredded: bool,
}

impl RecordedEvent {
    /// The wire envelope of this event as published by `service`, naming
    /// the `entity` it concerns.
    pub fn to_envelope(
        &self,
        service: &str,
        entity: Option<liaison_proto::common::v1::EntityRef>,
    ) -> liaison_proto::events::v1::EventEnvelope {
        liaison_proto::events::v1::EventEnvelope {
            event_id: self.event_id.to_string(),
            stream_id: self.stream_id.clone(),
            stream_version: self.stream_version,
            global_position: self.position,
            event_type: self.event_type.clone(),
            schema_version: self.schema_version,
            occurred_at: Some(crate::micros_to_timestamp(self.metadata.occurred_at_micros)),
            actor: self.metadata.actor.clone(),
            correlation_id: self.metadata.correlation_id.clone(),
            causation_id: self.metadata.causation_id.clone(),
            traceparent: self.metadata.traceparent.clone(),
            payload: self.payload.clone(),
            service: service.to_owned(),
            shredded: self.shredded,
            entity,
        }
    }
}
