//! The rules a new relation must pass. A relation is immutable: created with
//! its mirror in one event, deleted with it in one event.

use liaison_proto::common::v1::EntityRef;
use liaison_proto::relations::v1 as pb;
use pb::relation_event::Event;

use super::entity::Entity;
use super::relation_type::RelationType;
use super::Caller;
use crate::error::{Rule, Violation};
use crate::RelationsError;

pub fn event_type(event: &Event) -> &'static str {
    match event {
        Event::Created(_) => "relation.created",
        Event::Deleted(_) => "relation.deleted",
    }
}

/// `subject -predicate-> object`, as messages write a triple.
pub fn describe_triple(subject: &EntityRef, predicate: &str, object: &EntityRef) -> String {
    format!(
        "({} {}, {predicate}, {} {})",
        subject.kind, subject.id, object.kind, object.id
    )
}

/// Every rule of a new relation `subject -predicate-> object` of type
/// `relation_type`, except uniqueness (the read model knows the others).
pub fn check_create(
    relation_type: &RelationType,
    predicate: &str,
    subject: &Entity,
    object: &Entity,
    caller: Caller,
) -> Result<(), RelationsError> {
    if subject.reference.id == object.reference.id {
        return Err(RelationsError::SelfRelation {
            entity: subject.describe(),
        });
    }
    let Some(orientation) = relation_type.orientation(predicate) else {
        return Err(RelationsError::NotFound {
            kind: "predicate",
            id: predicate.to_owned(),
        });
    };
    if relation_type.internal && caller != Caller::System {
        return Err(RelationsError::InternalType {
            type_id: relation_type.id.clone(),
            predicate: predicate.to_owned(),
        });
    }
    if !relation_type.enabled {
        return Err(RelationsError::TypeDisabled {
            type_id: relation_type.id.clone(),
            predicate: predicate.to_owned(),
        });
    }
    subject.require_live()?;
    object.require_live()?;
    subject.require_out_of_trash()?;
    object.require_out_of_trash()?;
    check_side("subject", subject, orientation.subject)?;
    // The object's constraints are those of the symmetric predicate, which
    // the message names.
    check_side("object", object, orientation.object)
}

/// Kinds and tags an entity must have to be the subject of `side`.
pub fn check_side(
    position: &'static str,
    entity: &Entity,
    side: &pb::PredicateSide,
) -> Result<(), RelationsError> {
    let violation = |rule| {
        Err(RelationsError::Constraint(Box::new(Violation {
            side: position,
            entity: entity.describe(),
            predicate: side.id.clone(),
            label: side.label.clone(),
            rule,
        })))
    };
    if !side.kinds.is_empty() && !side.kinds.contains(&entity.reference.kind) {
        return violation(Rule::Kind {
            kind: entity.reference.kind.clone(),
            allowed: side.kinds.join(", "),
        });
    }
    if let Some(tag) = side.required_tags.iter().find(|tag| !entity.has_tag(tag)) {
        return violation(Rule::MissingTag(tag.clone()));
    }
    if let Some(tag) = side.forbidden_tags.iter().find(|tag| entity.has_tag(tag)) {
        return violation(Rule::ForbiddenTag(tag.clone()));
    }
    Ok(())
}

/// How many of `relations` (subject and object of the type's subject
/// predicate) the type's constraints, as they are now, refuse.
pub fn count_violations(relation_type: &RelationType, relations: &[(Entity, Entity)]) -> u64 {
    relations
        .iter()
        .filter(|(subject, object)| {
            check_side("subject", subject, &relation_type.subject_side).is_err()
                || check_side("object", object, &relation_type.object_side).is_err()
        })
        .count() as u64
}

/// The event creating `subject -predicate-> object` and its mirror.
pub fn created(
    relation_type: &RelationType,
    subject: EntityRef,
    predicate: &str,
    object: EntityRef,
) -> pb::RelationCreated {
    let symmetric = relation_type
        .orientation(predicate)
        .map(|orientation| orientation.object.id.clone())
        .unwrap_or_default();
    pb::RelationCreated {
        subject: Some(subject),
        predicate: predicate.to_owned(),
        object: Some(object),
        symmetric_predicate: symmetric,
        type_id: relation_type.id.clone(),
        replaces_relation_id: String::new(),
    }
}

#[cfg(test)]
#[path = "relation_tests.rs"]
mod tests;
