//! The conversions between the gRPC messages and the application's types.

use liaison_eventstore::micros_to_timestamp;
use liaison_proto::common::v1::EntityRef;
use liaison_proto::relations::v1 as pb;
use liaison_runtime::paging;

use crate::app::CreatedRelations;
use crate::domain::entity::{Entity, EntityState};
use crate::domain::entity_ref;
use crate::domain::relation_type::RelationType;
use crate::storage::StoredRelation;
use crate::RelationsError;

/// The token continuing `listing` after the row whose key is `key`.
pub(super) fn next_token(listing: &str, key: Option<Vec<String>>) -> String {
    key.map(|key| {
        let parts: Vec<&str> = key.iter().map(String::as_str).collect();
        paging::encode_token(listing, &parts)
    })
    .unwrap_or_default()
}

/// An end of a pattern: absent or with an empty id means open.
pub(super) fn pattern_end(
    field: &str,
    end: Option<EntityRef>,
) -> Result<Option<EntityRef>, RelationsError> {
    match end {
        Some(end) if !end.id.trim().is_empty() || !end.kind.trim().is_empty() => {
            entity_ref(field, Some(end)).map(Some)
        }
        _ => Ok(None),
    }
}

pub(super) fn type_to_proto((relation_type, count): (RelationType, u64)) -> pb::RelationType {
    relation_type.to_proto(count)
}

pub(super) fn relation_to_proto(relation: StoredRelation) -> pb::Relation {
    pb::Relation {
        id: relation.id,
        subject: Some(relation.subject),
        predicate: relation.predicate,
        object: Some(relation.object),
        symmetric_predicate: relation.symmetric_predicate,
        type_id: relation.type_id,
        created_at: Some(micros_to_timestamp(relation.created_at)),
    }
}

pub(super) fn entity_to_proto(entity: Entity) -> pb::Entity {
    let state = match entity.state {
        EntityState::Live => pb::EntityState::Live,
        EntityState::Purged => pb::EntityState::Purged,
        EntityState::Erased => pb::EntityState::Erased,
        EntityState::Merged => pb::EntityState::Merged,
    };
    pb::Entity {
        entity: Some(entity.reference),
        label: entity.label,
        tags: entity.tags,
        in_trash: entity.in_trash,
        state: state as i32,
        merged_into: entity.merged_into,
    }
}

pub(super) fn created_response(outcome: CreatedRelations) -> pb::CreateRelationsResponse {
    let CreatedRelations {
        created,
        skipped,
        existing,
    } = outcome;
    pb::CreateRelationsResponse {
        relations: created.into_iter().map(relation_to_proto).collect(),
        skipped,
        existing: existing.into_iter().map(relation_to_proto).collect(),
    }
}
