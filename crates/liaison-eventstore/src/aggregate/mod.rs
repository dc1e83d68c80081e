//! The command side every service repeats, written once.
//!
//! An aggregate's state is its stream's events folded by a pure
//! [`Aggregate::evolve`]; a command is judged by a pure
//! [`Aggregate::decide`]. [`load`] reads a stream and folds it; [`execute`]
//! loads, decides and appends with optimistic concurrency. When another
//! writer got there first, the command is judged again on the new state,
//! unless the caller named the version it expects: then the conflict is
//! the caller's to see ([`Retries`], one policy for every service).
//!
//! Streams are named `<prefix>-<id>` ([`stream_id`], [`id_of_stream`]).

use prost::Message;
use uuid::Uuid;

use crate::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError,
    StreamAppend,
};

/// How many times a command is judged again after a version conflict when
/// the caller did not name the version it expects.
pub const RETRIES: usize = 5;

/// Events read from a stream per query while loading it.
const LOAD_PAGE: u32 = 1_000;

/// A consistency boundary: one stream of events and the state they fold to.
pub trait Aggregate: Clone + Send + Sync + Sized + 'static {
    /// One event as `decide` emits it and `evolve` applies it: the oneof of
    /// the aggregate's event payload.
    type Event: Clone + Send + Sync + 'static;
    /// The proto message stored as each event's payload (it wraps `Event`).
    type Payload: Message + Default;
    type Command;
    /// The owning service's error.
    type Error: From<StoreError> + Send + 'static;

    /// Streams of this aggregate are `<STREAM_PREFIX>-<id>`.
    const STREAM_PREFIX: &'static str;
    /// The schema version of the payloads written now.
    const SCHEMA_VERSION: u32 = 1;

    /// The state before any event.
    fn initial(id: &str) -> Self;
    /// Judges a command: the events it causes, or why it is refused. Pure:
    /// ids and times come in with the command.
    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error>;
    /// Applies one event.
    fn evolve(self, event: &Self::Event, recorded: &Recorded) -> Self;
    /// `<aggregate>.<event>`, the type an event emitted from this state is
    /// recorded and published under.
    fn event_type(&self, event: &Self::Event) -> String;
    fn to_payload(event: Self::Event) -> Self::Payload;
    fn from_payload(payload: Self::Payload) -> Option<Self::Event>;
    /// The subject whose key seals this aggregate's events (crypto-shredding):
    /// a person's own id; none by default.
    fn sealed_for(&self) -> Option<String> {
        None
    }
    /// What an event whose payload was destroyed by erasure leaves.
    fn shredded(self, _event: &RecordedEvent) -> Self {
        self
    }
}

/// When and at which version an event was recorded, for `evolve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recorded {
    /// The stream's version once this event is applied.
    pub version: u64,
    pub occurred_at_micros: i64,
}

/// An aggregate's state and the version of the stream it was folded from.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<A> {
    pub state: A,
    /// 0: the stream does not exist.
    pub version: u64,
}

impl<A: Aggregate> Versioned<A> {
    pub fn initial(id: &str) -> Self {
        Versioned {
            state: A::initial(id),
            version: 0,
        }
    }

    /// Refuses, as a conflict, a caller that expected another version.
    pub fn check_expected(&self, id: &str, expected: Option<u64>) -> Result<(), A::Error> {
        match expected {
            Some(expected) if expected != self.version => {
                Err(conflict::<A>(id, expected, self.version))
            }
            _ => Ok(()),
        }
    }

    /// The state after `events`, recorded now.
    pub fn after(self, events: &[A::Event], occurred_at_micros: i64) -> Self {
        events.iter().fold(self, |folded, event| {
            let version = folded.version + 1;
            Versioned {
                state: folded.state.evolve(
                    event,
                    &Recorded {
                        version,
                        occurred_at_micros,
                    },
                ),
                version,
            }
        })
    }
}

/// The stream of aggregate `id`.
pub fn stream_id<A: Aggregate>(id: &str) -> String {
    format!("{}-{id}", A::STREAM_PREFIX)
}

/// The aggregate id inside a stream id (`contact-0190…` gives `0190…`).
pub fn id_of_stream(stream_id: &str) -> &str {
    stream_id
        .split_once('-')
        .map(|(_, id)| id)
        .unwrap_or(stream_id)
}

/// Encodes events decided on `state`, each with the type the state it
/// applies to gives it.
pub fn encode<A: Aggregate>(state: &Versioned<A>, events: &[A::Event]) -> Vec<NewEvent> {
    let mut moved: Option<Versioned<A>> = None;
    let mut encoded = Vec::with_capacity(events.len());
    for (index, event) in events.iter().enumerate() {
        let current = moved.as_ref().unwrap_or(state);
        encoded.push(NewEvent::from_proto(
            current.state.event_type(event),
            A::SCHEMA_VERSION,
            &A::to_payload(event.clone()),
        ));
        if index + 1 < events.len() {
            moved = Some(current.clone().after(std::slice::from_ref(event), 0));
        }
    }
    encoded
}

/// The append of `events` decided on `state`, expecting its version.
pub fn stream_append<A: Aggregate>(
    id: &str,
    state: &Versioned<A>,
    events: &[A::Event],
) -> StreamAppend {
    let sealed_for = match events.first() {
        // A creation names its subject only once applied (a person's kind).
        Some(first) if state.version == 0 => state
            .clone()
            .after(std::slice::from_ref(first), 0)
            .state
            .sealed_for(),
        _ => state.state.sealed_for(),
    };
    StreamAppend {
        stream_id: stream_id::<A>(id),
        expected: match state.version {
            0 => ExpectedVersion::NoStream,
            version => ExpectedVersion::Exactly(version),
        },
        events: encode(state, events),
        encrypt_for_subject: sealed_for,
    }
}

/// Folds the stream of aggregate `id`; version 0 when it does not exist.
pub async fn load<A: Aggregate>(
    store: &dyn EventStore,
    id: &str,
) -> Result<Versioned<A>, A::Error> {
    let stream = stream_id::<A>(id);
    let mut loaded = Versioned::<A>::initial(id);
    loop {
        let events = store
            .read_stream(&stream, loaded.version, LOAD_PAGE)
            .await?;
        let Some(last) = events.last() else {
            return Ok(loaded);
        };
        let full_page = events.len() == LOAD_PAGE as usize;
        let last_version = last.stream_version;
        for event in &events {
            loaded = apply_recorded(loaded, event)?;
        }
        debug_assert_eq!(loaded.version, last_version, "stream versions are gapless");
        if !full_page {
            return Ok(loaded);
        }
    }
}

fn apply_recorded<A: Aggregate>(
    loaded: Versioned<A>,
    event: &RecordedEvent,
) -> Result<Versioned<A>, A::Error> {
    let recorded = Recorded {
        version: event.stream_version,
        occurred_at_micros: event.metadata.occurred_at_micros,
    };
    if event.shredded {
        return Ok(Versioned {
            state: loaded.state.shredded(event),
            version: recorded.version,
        });
    }
    let payload = A::Payload::decode(event.payload.as_slice()).map_err(|error| {
        StoreError::Corrupt(format!(
            "event {} ({}) of {} does not decode: {error}",
            event.event_id, event.event_type, event.stream_id
        ))
    })?;
    let state = match A::from_payload(payload) {
        Some(domain_event) => loaded.state.evolve(&domain_event, &recorded),
        // Written by a newer version with an event this one does not know.
        None => loaded.state,
    };
    Ok(Versioned {
        state,
        version: recorded.version,
    })
}

/// Loads aggregate `id`, judges the command `decide` makes of its state and
/// appends the events; returns the state they lead to. With
/// `expected_version`, a stream at another version is refused as a
/// conflict; without, a conflict makes the command judged again on the new
/// state ([`Retries`]).
pub async fn execute<A: Aggregate>(
    store: &dyn EventStore,
    id: &str,
    expected_version: Option<u64>,
    metadata: &EventMetadata,
    mut decide: impl FnMut(&Versioned<A>) -> Result<Vec<A::Event>, A::Error>,
) -> Result<Versioned<A>, A::Error> {
    let mut retries = Retries::for_expected(expected_version);
    loop {
        let loaded = load::<A>(store, id).await?;
        if loaded.version == 0 && expected_version.is_some() {
            // A stream that does not exist: the decision says why (not found).
            decide(&loaded)?;
        }
        loaded.check_expected(id, expected_version)?;
        let events = decide(&loaded)?;
        if events.is_empty() {
            return Ok(loaded);
        }
        let request = AppendRequest {
            streams: vec![stream_append(id, &loaded, &events)],
            metadata: metadata.clone(),
            forget_subjects: Vec::new(),
        };
        match store.append(request).await {
            Ok(_) => return Ok(loaded.after(&events, metadata.occurred_at_micros)),
            Err(error) if retries.again(&error) => continue,
            Err(error) => return Err(error.into()),
        }
    }
}

/// Judges a command on a new aggregate `id` (no stream yet, nothing to
/// load) and appends its events. A stream that exists after all is a
/// conflict, never retried: the id was not new.
pub async fn execute_new<A: Aggregate>(
    store: &dyn EventStore,
    id: &str,
    metadata: &EventMetadata,
    command: A::Command,
) -> Result<Versioned<A>, A::Error> {
    let initial = Versioned::<A>::initial(id);
    let events = initial.state.decide(command)?;
    if events.is_empty() {
        return Ok(initial);
    }
    store
        .append(AppendRequest {
            streams: vec![stream_append(id, &initial, &events)],
            metadata: metadata.clone(),
            forget_subjects: Vec::new(),
        })
        .await?;
    Ok(initial.after(&events, metadata.occurred_at_micros))
}

fn conflict<A: Aggregate>(id: &str, expected: u64, actual: u64) -> A::Error {
    A::Error::from(StoreError::VersionConflict {
        stream_id: stream_id::<A>(id),
        expected,
        actual,
    })
}

/// The one policy on version conflicts, for every command: when another
/// writer got there first, the command is judged again on the new state,
/// up to [`RETRIES`] times; unless the caller named the version it expects,
/// then the conflict is the caller's to see. A command spanning several
/// streams (a merge) loops on it itself:
///
/// ```ignore
/// let mut retries = Retries::for_expected(expected_version);
/// loop {
///     let request = /* load, decide */;
///     match store.append(request).await {
///         Ok(_) => break,
///         Err(error) if retries.again(&error) => continue,
///         Err(error) => return Err(error.into()),
///     }
/// }
/// ```
#[derive(Debug)]
pub struct Retries {
    left: usize,
}

impl Retries {
    pub fn for_expected(expected_version: Option<u64>) -> Self {
        Retries {
            left: if expected_version.is_some() {
                0
            } else {
                RETRIES
            },
        }
    }

    /// Whether to judge the command again after `error`: a version
    /// conflict, with retries left.
    pub fn again(&mut self, error: &StoreError) -> bool {
        if !matches!(error, StoreError::VersionConflict { .. }) || self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }
}

impl NewEvent {
    /// A new event of type `event_type` (`<aggregate>.<event>`) whose
    /// payload is `payload`, with a fresh UUIDv7.
    pub fn from_proto(
        event_type: impl Into<String>,
        schema_version: u32,
        payload: &impl Message,
    ) -> Self {
        NewEvent {
            event_id: Uuid::now_v7(),
            event_type: event_type.into(),
            schema_version,
            payload: payload.encode_to_vec(),
        }
    }
}

#[cfg(test)]
mod tests;
