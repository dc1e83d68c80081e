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
