//! What other services' events mean here: changes to the entity registry,
//! and the relations a purge, an erasure or a merge removes or moves.

use liaison_eventstore::{
    AppendRequest, EventMetadata, ExpectedVersion, ProjectionError, StreamAppend,
};
use liaison_proto::common::v1::EntityRef;
use liaison_proto::contacts::v1::{contact_event, ContactEvent};
use liaison_proto::events::v1::EventEnvelope;
use liaison_proto::relations::v1 as pb;
use prost::Message;

use liaison_proto::kinds;

use crate::domain::entity::{Entity, EntityState};
use crate::events::{relation_event, relation_stream};
use crate::storage::EntityRow;

/// Who records the reactions.
pub const SYSTEM_ACTOR: &str = "system:relations";

#[derive(Debug, Clone, PartialEq)]
pub enum RegistryChange {
    Created {
        entity: Entity,
        person_name: Option<(String, String)>,
    },
    Renamed {
        id: String,
        label: String,
    },
    PersonRenamed {
        id: String,
        given: Option<String>,
        family: Option<String>,
    },
    Retagged {
        id: String,
        tags: Vec<String>,
    },
    TagsAdded {
        id: String,
        tags: Vec<String>,
    },
    Trash {
        id: String,
        in_trash: bool,
    },
    Gone {
        id: String,
        state: EntityState,
        merged_into: String,
    },
}

/// `Given Family`, or a placeholder for a person without a name.
pub fn person_label(given: &str, family: &str) -> String {
    let label = format!("{} {}", given.trim(), family.trim())
        .trim()
        .to_owned();
    if label.is_empty() {
        "(no name)".to_owned()
    } else {
        label
    }
}

/// The person or organisation an event of the contacts service concerns,
/// as its envelope names it; `None` for any other event. An envelope of
/// contacts that names no entity cannot be placed: it is refused (and so
/// dead-lettered), never skipped.
fn contact_of(envelope: &EventEnvelope) -> Result<Option<&EntityRef>, ProjectionError> {
    if envelope.service != "contacts" {
        return Ok(None);
    }
    match &envelope.entity {
        Some(entity) if entity.kind == kinds::PERSON || entity.kind == kinds::ORGANISATION => {
            Ok(Some(entity))
        }
        Some(_) => Ok(None),
        None => Err(ProjectionError::Decode {
            event_type: envelope.event_type.clone(),
            reason: format!(
                "event {} of contacts names no entity in its envelope",
                envelope.event_id
            ),
        }),
    }
}

pub fn registry_changes(envelope: &EventEnvelope) -> Result<Vec<RegistryChange>, ProjectionError> {
    let Some(contact) = contact_of(envelope)? else {
        return Ok(Vec::new());
    };
    let id = contact.id.clone();
    let created = |label: String, tags: Vec<String>, person_name| RegistryChange::Created {
        entity: Entity {
            reference: contact.clone(),
            label,
            tags,
            in_trash: false,
            state: EntityState::Live,
            merged_into: String::new(),
        },
        person_name,
    };
    if envelope.shredded {
        // An erased person's events: only that it existed is left.
        return Ok(match envelope.event_type.ends_with(".created") {
            true => vec![created(String::new(), Vec::new(), None)],
            false => Vec::new(),
        });
    }
    let decoded = ContactEvent::decode(envelope.payload.as_slice()).map_err(|error| {
        ProjectionError::Decode {
            event_type: envelope.event_type.clone(),
            reason: error.to_string(),
        }
    })?;
    let Some(event) = decoded.event else {
        return Ok(Vec::new());
    };
    let is_person = contact.kind == kinds::PERSON;
    Ok(match event {
        contact_event::Event::Created(created_event) => {
            let data = created_event.data.unwrap_or_default();
            if is_person {
                let label = person_label(&data.given_name, &data.family_name);
                vec![created(
                    label,
                    data.tags,
                    Some((data.given_name, data.family_name)),
                )]
            } else {
                vec![created(data.organisation_name, data.tags, None)]
            }
        }
        contact_event::Event::Updated(updated) => {
            let data = updated.data.unwrap_or_default();
            let changed = |field: &str| updated.changed.iter().any(|c| c == field);
            let mut changes = Vec::new();
            if is_person && (changed("given_name") || changed("family_name")) {
                changes.push(RegistryChange::PersonRenamed {
                    id: id.clone(),
                    given: changed("given_name").then(|| data.given_name.clone()),
                    family: changed("family_name").then(|| data.family_name.clone()),
                });
            }
            if !is_person && changed("organisation_name") {
                changes.push(RegistryChange::Renamed {
                    id: id.clone(),
                    label: data.organisation_name.clone(),
                });
            }
            if changed("tags") {
                changes.push(RegistryChange::Retagged {
                    id: id.clone(),
                    tags: data.tags,
                });
            }
            changes
        }
        contact_event::Event::Absorbed(absorbed) => vec![RegistryChange::TagsAdded {
            id,
            tags: absorbed.tags,
        }],
        contact_event::Event::Trashed(_) => vec![RegistryChange::Trash { id, in_trash: true }],
        contact_event::Event::Restored(_) => vec![RegistryChange::Trash {
            id,
            in_trash: false,
        }],
        contact_event::Event::Purged(_) => vec![gone(id, EntityState::Purged, String::new())],
        contact_event::Event::Erased(_) => vec![gone(id, EntityState::Erased, String::new())],
        contact_event::Event::Merged(merged) => {
            vec![gone(id, EntityState::Merged, merged.survivor_id)]
        }
    })
}

fn gone(id: String, state: EntityState, merged_into: String) -> RegistryChange {
    RegistryChange::Gone {
        id,
        state,
        merged_into,
    }
}

/// Events after which the entity's relations are removed or moved.
pub fn may_react(envelope: &EventEnvelope) -> bool {
    matches!(contact_of(envelope), Ok(Some(_)))
        && [".purged", ".erased", ".merged"]
            .iter()
            .any(|suffix| envelope.event_type.ends_with(suffix))
}

pub fn entity_of(envelope: &EventEnvelope) -> Option<String> {
    contact_of(envelope)
        .ok()
        .flatten()
        .map(|contact| contact.id.clone())
}

/// The relations of a purged, erased or merged `entity` (its `rows`), as
/// events: each deleted, and for a merge each moved to the survivor unless
/// the survivor has it already or it would link the survivor to itself.
pub fn react(
    envelope: &EventEnvelope,
    entity: Option<&Entity>,
    rows: &[EntityRow],
    survivor: Option<&(Entity, Vec<EntityRow>)>,
) -> Vec<AppendRequest> {
    let Some(entity) = entity else {
        return Vec::new();
    };
    let cause = match entity.state {
        EntityState::Purged => pb::DeletionCause::EntityPurged,
        EntityState::Erased => pb::DeletionCause::EntityErased,
        EntityState::Merged => pb::DeletionCause::EntityMerged,
        EntityState::Live => return Vec::new(),
    };
    let mut streams = Vec::with_capacity(rows.len());
    let mut survivor_has: std::collections::HashSet<(String, String)> = survivor
        .map(|(_, survivor_rows)| {
            survivor_rows
                .iter()
                .map(|row| (row.predicate.clone(), row.other.id.clone()))
                .collect()
        })
        .unwrap_or_default();
    for row in rows {
        let (subject, predicate, object, symmetric) = forward_of(&entity.reference, row);
        streams.push(StreamAppend {
            stream_id: relation_stream(&row.relation_id),
            expected: ExpectedVersion::Exactly(1),
            events: vec![relation_event(pb::relation_event::Event::Deleted(
                pb::RelationDeleted {
                    subject: Some(subject),
                    predicate,
                    object: Some(object),
                    symmetric_predicate: symmetric,
                    cause: cause as i32,
                    cause_entity: Some(entity.reference.clone()),
                },
            ))],
            encrypt_for_subject: None,
        });
        let Some((survivor, _)) = survivor else {
            continue;
        };
        let moved_key = (row.predicate.clone(), row.other.id.clone());
        if row.other.id == survivor.reference.id || !survivor_has.insert(moved_key) {
            continue;
        }
        let (subject, predicate, object, symmetric) = forward_of(&survivor.reference, row);
        let new_id = uuid::Uuid::now_v7().to_string();
        streams.push(StreamAppend {
            stream_id: relation_stream(&new_id),
            expected: ExpectedVersion::NoStream,
            events: vec![relation_event(pb::relation_event::Event::Created(
                pb::RelationCreated {
                    subject: Some(subject),
                    predicate,
                    object: Some(object),
                    symmetric_predicate: symmetric,
                    type_id: row.type_id.clone(),
                    replaces_relation_id: row.relation_id.clone(),
                },
            ))],
            encrypt_for_subject: None,
        });
    }
    vec![AppendRequest {
        streams,
        metadata: EventMetadata {
            // Done because someone purged, erased or merged: theirs, so the
            // histories say who (the cause says why).
            actor: if envelope.actor.is_empty() {
                SYSTEM_ACTOR.to_owned()
            } else {
                envelope.actor.clone()
            },
            correlation_id: envelope.correlation_id.clone(),
            causation_id: envelope.event_id.clone(),
            traceparent: envelope.traceparent.clone(),
            occurred_at_micros: liaison_eventstore::now_micros(),
        },
        forget_subjects: Vec::new(),
    }]
}

/// The relation of `row` as created, with `end` at the row's end.
fn forward_of(end: &EntityRef, row: &EntityRow) -> (EntityRef, String, EntityRef, String) {
    if row.forward {
        (
            end.clone(),
            row.predicate.clone(),
            row.other.clone(),
            row.symmetric_predicate.clone(),
        )
    } else {
        (
            row.other.clone(),
            row.symmetric_predicate.clone(),
            end.clone(),
            row.predicate.clone(),
        )
    }
}
