//! Given events, when a command, then events or an error: how every
//! aggregate's rules are tested, without a store.
//!
//! ```ignore
//! given::<Contact>(ID, [created(marcel())])
//!     .when(Command::Trash)
//!     .then([Event::Trashed(ContactTrashed {})]);
//! ```

use std::fmt::Debug;

use crate::aggregate::{Aggregate, Versioned};

/// The state `events` fold to, the `n`th recorded at `n` microseconds.
pub fn given<A: Aggregate>(id: &str, events: impl IntoIterator<Item = A::Event>) -> Given<A> {
    let state = events.into_iter().enumerate().fold(
        Versioned::<A>::initial(id),
        |state, (index, event)| {
            let at = i64::try_from(index + 1).unwrap_or(i64::MAX);
            state.after(std::slice::from_ref(&event), at)
        },
    );
    Given { state }
}

/// An aggregate in the state its past events left it in.
pub struct Given<A: Aggregate> {
    state: Versioned<A>,
}

impl<A: Aggregate> Given<A> {
    pub fn state(&self) -> &A {
        &self.state.state
    }

    pub fn version(&self) -> u64 {
        self.state.version
    }

    /// Judges `command` on this state (which stays, for other commands).
    pub fn when(&self, command: A::Command) -> Then<A> {
        Then {
            state: self.state.clone(),
            decision: self.state.state.decide(command),
        }
    }
}

/// What a command decided.
pub struct Then<A: Aggregate> {
    state: Versioned<A>,
    decision: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> Then<A>
where
    A::Event: PartialEq + Debug,
    A::Error: Debug,
{
    /// Asserts the command was accepted with exactly `expected`; returns the
    /// state they lead to, for what follows.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = A::Event>) -> A {
        let expected: Vec<A::Event> = expected.into_iter().collect();
        match self.decision {
            Ok(events) => {
                assert_eq!(events, expected, "the events decided");
                self.state.after(&events, 0).state
            }
            Err(error) => panic!("expected {expected:?}, the command was refused: {error:?}"),
        }
    }

    /// Asserts the command was accepted and changed nothing.
    #[track_caller]
    pub fn then_nothing(self) {
        self.then([]);
    }

    /// Asserts the command was refused; returns why.
    #[track_caller]
    pub fn then_err(self) -> A::Error {
        match self.decision {
            Ok(events) => panic!("expected a refusal, the command decided {events:?}"),
            Err(error) => error,
        }
    }

    /// The events decided, for assertions `then` does not make.
    #[track_caller]
    pub fn events(self) -> Vec<A::Event> {
        match self.decision {
            Ok(events) => events,
            Err(error) => panic!("expected events, the command was refused: {error:?}"),
        }
    }
}

/// Event payloads of past versions, as a fixture file holds them: one
/// `<event type> <payload in hex>` per line, `#` comments. Events already
/// in users' logs must stay readable whatever the proto becomes.
pub struct Fixtures(Vec<(String, Vec<u8>)>);

impl Fixtures {
    #[track_caller]
    pub fn parse(text: &str) -> Self {
        Fixtures(
            text.lines()
                .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
                .map(|line| {
                    let (event_type, hex) = line.split_once(' ').expect("type and payload");
                    let bytes = (0..hex.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                        .collect();
                    (event_type.to_owned(), bytes)
                })
                .collect(),
        )
    }

    /// The payload of `event_type`'s fixture.
    #[track_caller]
    pub fn payload(&self, event_type: &str) -> &[u8] {
        self.0
            .iter()
            .find(|(fixture_type, _)| fixture_type == event_type)
            .map(|(_, bytes)| bytes.as_slice())
            .unwrap_or_else(|| panic!("no fixture of {event_type}"))
    }

    /// The event of `event_type`'s fixture, decoded as aggregate `A`'s.
    #[track_caller]
    pub fn event<A: Aggregate>(&self, event_type: &str) -> A::Event {
        let payload = <A::Payload as prost::Message>::decode(self.payload(event_type))
            .unwrap_or_else(|error| panic!("{event_type} does not decode: {error}"));
        A::from_payload(payload).unwrap_or_else(|| panic!("{event_type} holds no event"))
    }

    /// Every event type with a fixture.
    pub fn event_types(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(event_type, _)| event_type.as_str())
    }
}
