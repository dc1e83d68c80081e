//! How users live in the gateway's log: stream `user-<id>`, events
//! `user.*`, payload `UserEvent`. The log holds credentials' hashes and is
//! never published (ADR 0006).

use liaison_eventstore::aggregate::{Aggregate, Recorded};
use liaison_proto::gateway::v1 as pb;

use super::user::{self, User, UserCommand};
use crate::GatewayError;

/// A user account's stream: the user, once created.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Account {
    pub user: Option<User>,
}

impl Aggregate for Account {
    type Event = pb::user_event::Event;
    type Payload = pb::UserEvent;
    type Command = UserCommand;
    type Error = GatewayError;

    const STREAM_PREFIX: &'static str = "user";

    fn initial(_id: &str) -> Self {
        Account::default()
    }

    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error> {
        user::decide(self.user.as_ref(), command)
    }

    fn evolve(self, event: &Self::Event, _recorded: &Recorded) -> Self {
        Account {
            user: user::evolve(self.user, event),
        }
    }

    fn event_type(&self, event: &Self::Event) -> String {
        user::event_type(event).to_owned()
    }

    fn to_payload(event: Self::Event) -> Self::Payload {
        pb::UserEvent { event: Some(event) }
    }

    fn from_payload(payload: Self::Payload) -> Option<Self::Event> {
        payload.event
    }
}
