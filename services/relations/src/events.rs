//! How the service's events are encoded in its log.

use liaison_eventstore::NewEvent;
use liaison_proto::relations::v1 as pb;
use prost::Message;
use uuid::Uuid;

use crate::domain::{relation, relation_type};

pub const SCHEMA_VERSION: u32 = 1;

pub fn relation_event(event: pb::relation_event::Event) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: relation::event_type(&event).to_owned(),
        schema_version: SCHEMA_VERSION,
        payload: pb::RelationEvent { event: Some(event) }.encode_to_vec(),
    }
}

pub fn relation_type_event(event: pb::relation_type_event::Event) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: relation_type::event_type(&event).to_owned(),
        schema_version: SCHEMA_VERSION,
        payload: pb::RelationTypeEvent { event: Some(event) }.encode_to_vec(),
    }
}
