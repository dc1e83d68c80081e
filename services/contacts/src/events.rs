//! How the service's aggregates live in its log: their streams, the types
//! and payloads of their events, and the entity each event concerns.

use liaison_eventstore::aggregate::{id_of_stream, Aggregate, Recorded};
use liaison_eventstore::RecordedEvent;
use liaison_proto::common::v1::EntityRef;
use liaison_proto::contacts::v1::{
    category_event, contact_event, CategoryEvent, ContactData, ContactEvent,
};
use liaison_proto::kinds;

use crate::domain::category::{self, Category};
use crate::domain::contact::{self, Contact, Kind, Lifecycle};
use crate::ContactsError;

/// A person or an organisation: stream `contact-<id>`, events
/// `person.*` or `organisation.*`, a person's sealed with a key of its own.
impl Aggregate for Contact {
    type Event = contact_event::Event;
    type Payload = ContactEvent;
    type Command = contact::Command;
    type Error = ContactsError;

    const STREAM_PREFIX: &'static str = "contact";

    fn initial(id: &str) -> Self {
        Contact::new(id)
    }

    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error> {
        contact::decide(self, command)
    }

    fn evolve(self, event: &Self::Event, recorded: &Recorded) -> Self {
        contact::evolve(self, event, recorded.occurred_at_micros)
    }

    fn event_type(&self, event: &Self::Event) -> String {
        let kind = match event {
            contact_event::Event::Created(created) => Kind::from_proto(created.kind),
            _ => self.kind,
        };
        debug_assert!(kind.is_some(), "an event of a contact of no kind");
        contact::event_type(kind.unwrap_or(Kind::Person), event)
    }

    fn to_payload(event: Self::Event) -> Self::Payload {
        ContactEvent { event: Some(event) }
    }

    fn from_payload(payload: Self::Payload) -> Option<Self::Event> {
        payload.event
    }

    fn sealed_for(&self) -> Option<String> {
        (self.kind == Some(Kind::Person)).then(|| self.id.clone())
    }

    /// An erased person's events: it is known only as erased.
    fn shredded(mut self, event: &RecordedEvent) -> Self {
        self.version = event.stream_version;
        self.lifecycle = Lifecycle::Erased;
        self.kind = Kind::from_aggregate(aggregate_of(event));
        self.data = ContactData::default();
        self
    }
}

/// A category: stream `category-<id>`, events `category.*`.
impl Aggregate for Category {
    type Event = category_event::Event;
    type Payload = CategoryEvent;
    type Command = category::Command;
    type Error = ContactsError;

    const STREAM_PREFIX: &'static str = "category";

    fn initial(id: &str) -> Self {
        Category {
            id: id.to_owned(),
            ..Default::default()
        }
    }

    fn decide(&self, command: Self::Command) -> Result<Vec<Self::Event>, Self::Error> {
        category::decide(self, command)
    }

    fn evolve(self, event: &Self::Event, _recorded: &Recorded) -> Self {
        category::evolve(self, event)
    }

    fn event_type(&self, event: &Self::Event) -> String {
        category::event_type(event).to_owned()
    }

    fn to_payload(event: Self::Event) -> Self::Payload {
        CategoryEvent { event: Some(event) }
    }

    fn from_payload(payload: Self::Payload) -> Option<Self::Event> {
        payload.event
    }
}

/// The entity an event concerns, named in its envelope for other services.
pub fn entity_of(event: &RecordedEvent) -> Option<EntityRef> {
    let kind = match aggregate_of(event) {
        "person" => kinds::PERSON,
        "organisation" => kinds::ORGANISATION,
        "category" => kinds::CATEGORY,
        _ => return None,
    };
    Some(EntityRef::new(kind, id_of_stream(&event.stream_id)))
}

/// `person` of `person.created`.
pub fn aggregate_of(event: &RecordedEvent) -> &str {
    event
        .event_type
        .split_once('.')
        .map_or(event.event_type.as_str(), |(aggregate, _)| aggregate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(stream_id: &str, event_type: &str) -> RecordedEvent {
        RecordedEvent {
            position: 1,
            event_id: uuid::Uuid::now_v7(),
            stream_id: stream_id.into(),
            stream_version: 1,
            event_type: event_type.into(),
            schema_version: 1,
            metadata: Default::default(),
            payload: Vec::new(),
            shredded: false,
        }
    }

    #[test]
    fn each_event_names_its_entity() {
        let person = entity_of(&recorded("contact-0190-a", "person.created")).expect("person");
        assert_eq!(
            (person.kind.as_str(), person.id.as_str()),
            (kinds::PERSON, "0190-a")
        );
        let organisation =
            entity_of(&recorded("contact-0190-b", "organisation.merged")).expect("organisation");
        assert_eq!(organisation.kind, kinds::ORGANISATION);
        let category =
            entity_of(&recorded("category-0190-c", "category.renamed")).expect("category");
        assert_eq!(category.kind, kinds::CATEGORY);
        assert_eq!(entity_of(&recorded("other-1", "other.happened")), None);
    }

    #[test]
    fn only_persons_are_sealed() {
        let mut contact = Contact::new("p1");
        assert_eq!(contact.sealed_for(), None);
        contact.kind = Some(Kind::Person);
        assert_eq!(contact.sealed_for(), Some("p1".to_owned()));
        contact.kind = Some(Kind::Organisation);
        assert_eq!(contact.sealed_for(), None);
    }
}
