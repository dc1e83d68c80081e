//! How the service's aggregates live in its log: their streams, the types
//! and payloads of their events, and the entity each event concerns.

use liaison_eventstore::aggregate::{id_of_stream, Aggregate, Recorded};
use liaison_eventstore::{NewEvent, RecordedEvent};
use liaison_proto::common::v1::EntityRef;
use liaison_proto::kinds;
use liaison_proto::relations::v1 as pb;

use crate::domain::relation;
use crate::domain::relation_type::{self, RelationType};
use crate::RelationsError;

/// Schema version of the payloads written now.
pub const SCHEMA_VERSION: u32 = 1;

/// Streams of relations: `relation-<id>`, one `relation.created` and at most
/// one `relation.deleted` each (a relation is immutable).
pub const RELATION_STREAM_PREFIX: &str = "relation";

/// A relation type: stream `relation_type-<subject predicate id>`, events
/// `relation_type.*`.
impl Aggregate for RelationType {
    type Event = pb::relation_type_event::Event;
    type Payload = pb::RelationTypeEvent;
    type Command = relation_type::Command;
    type Error = RelationsError;

    const STREAM_PREFIX: &'static str = "relation_type";
    const SCHEMA_VERSION: u32 = SCHEMA_VERSION;

    fn initial(id: &str) -> Self {
        RelationType::new(id)
    }

    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error> {
        relation_type::decide(self, command)
    }

    fn evolve(self, event: &Self::Event, _recorded: &Recorded) -> Self {
        relation_type::evolve(self, event)
    }

    fn event_type(&self, event: &Self::Event) -> String {
        relation_type::event_type(event).to_owned()
    }

    fn to_payload(event: Self::Event) -> Self::Payload {
        pb::RelationTypeEvent { event: Some(event) }
    }

    fn from_payload(payload: Self::Payload) -> Option<Self::Event> {
        payload.event
    }
}

/// The stream of relation `relation_id`.
pub fn relation_stream(relation_id: &str) -> String {
    format!("{RELATION_STREAM_PREFIX}-{relation_id}")
}

/// A relation event, encoded for the log.
pub fn relation_event(event: pb::relation_event::Event) -> NewEvent {
    NewEvent::from_proto(
        relation::event_type(&event),
        SCHEMA_VERSION,
        &pb::RelationEvent { event: Some(event) },
    )
}

/// The entity an event concerns, named in its envelope for other services.
pub fn entity_of(event: &RecordedEvent) -> Option<EntityRef> {
    let (prefix, id) = event.stream_id.split_once('-')?;
    let kind = match prefix {
        RELATION_STREAM_PREFIX => kinds::RELATION,
        RelationType::STREAM_PREFIX => kinds::RELATION_TYPE,
        _ => return None,
    };
    debug_assert_eq!(id, id_of_stream(&event.stream_id));
    Some(EntityRef::new(kind, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_event_names_its_entity() {
        let event = |stream_id: &str| RecordedEvent {
            position: 1,
            event_id: uuid::Uuid::now_v7(),
            stream_id: stream_id.into(),
            stream_version: 1,
            event_type: "relation.created".into(),
            schema_version: 1,
            metadata: Default::default(),
            payload: Vec::new(),
            shredded: false,
        };
        let relation = entity_of(&event(&relation_stream("0190-r"))).expect("relation");
        assert_eq!(
            (relation.kind.as_str(), relation.id.as_str()),
            (kinds::RELATION, "0190-r")
        );
        let relation_type = entity_of(&event("relation_type-customer_of")).expect("type");
        assert_eq!(
            (relation_type.kind.as_str(), relation_type.id.as_str()),
            (kinds::RELATION_TYPE, "customer_of")
        );
        assert_eq!(entity_of(&event("elsewhere")), None);
    }
}
