//! The history of a contact, read from its event stream: who changed what, when.

use liaison_eventstore::{micros_to_timestamp, RecordedEvent};
use liaison_proto::contacts::v1::{contact_event::Event, ContactEvent, FieldChange, HistoryEntry};
use prost::Message;

use crate::domain::contact::{self, Contact};
use crate::domain::fields::Field;
use crate::ContactsError;

/// One entry per event, oldest first.
pub fn entries(id: &str, events: &[RecordedEvent]) -> Result<Vec<HistoryEntry>, ContactsError> {
    let mut state = Contact::new(id);
    let mut entries = Vec::with_capacity(events.len());
    for event in events {
        let mut entry = HistoryEntry {
            version: event.stream_version,
            event_type: event.event_type.clone(),
            occurred_at: Some(micros_to_timestamp(event.metadata.occurred_at_micros)),
            actor: event.metadata.actor.clone(),
            changes: Vec::new(),
            detail: String::new(),
        };
        if event.shredded {
            entry.detail = "personal data erased".to_owned();
            entries.push(entry);
            continue;
        }
        let decoded = ContactEvent::decode(event.payload.as_slice()).map_err(|error| {
            ContactsError::Internal(format!("event {} does not decode: {error}", event.event_id))
        })?;
        let Some(domain_event) = decoded.event else {
            entries.push(entry);
            continue;
        };
        let after = contact::evolve(
            state.clone(),
            &domain_event,
            event.metadata.occurred_at_micros,
        );
        let changed: Vec<Field> = match &domain_event {
            Event::Created(_) => Field::ALL
                .into_iter()
                .filter(|field| field.is_set(&after.data))
                .collect(),
            Event::Updated(updated) => updated
                .changed
                .iter()
                .filter_map(|name| Field::from_name(name))
                .collect(),
            Event::Absorbed(_) => Field::ALL
                .into_iter()
                .filter(|field| field.differs(&state.data, &after.data))
                .collect(),
            _ => Vec::new(),
        };
        entry.changes = changed
            .into_iter()
            .map(|field| FieldChange {
                field: field.name().to_owned(),
                old_value: field.render(&state.data),
                new_value: field.render(&after.data),
            })
            .collect();
        entry.detail = match &domain_event {
            Event::Merged(merged) => format!("merged into {}", merged.survivor_id),
            Event::Absorbed(absorbed) => format!("absorbed {}", absorbed.merged_id),
            Event::Trashed(_) => "moved to the trash".to_owned(),
            Event::Restored(_) => "restored from the trash".to_owned(),
            Event::Purged(_) => "deleted for good".to_owned(),
            Event::Erased(erased) => format!("erased: {}", erased.reason),
            Event::Created(_) | Event::Updated(_) => String::new(),
        };
        state = after;
        entries.push(entry);
    }
    Ok(entries)
}
