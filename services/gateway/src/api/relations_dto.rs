//! JSON shapes of relation types and relations, and their conversions to
//! and from the relations service's messages.

use liaison_proto::common::v1 as common;
use liaison_proto::relations::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{non_empty, rfc3339};
use crate::GatewayError;

/// An entity of any service: `contacts.person`, `contacts.organisation`, ...
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct EntityRef {
    #[schema(
        required = true,
        pattern = "^[a-z0-9_]+[.][a-z0-9_]+$",
        max_length = 64
    )]
    pub kind: String,
    #[schema(
        required = true,
        pattern = "^[A-Za-z0-9_-]+$",
        min_length = 1,
        max_length = 64
    )]
    pub id: String,
}

impl From<common::EntityRef> for EntityRef {
    fn from(common::EntityRef { kind, id }: common::EntityRef) -> Self {
        EntityRef { kind, id }
    }
}

impl From<EntityRef> for common::EntityRef {
    fn from(EntityRef { kind, id }: EntityRef) -> Self {
        common::EntityRef { kind, id }
    }
}

fn entity(value: Option<common::EntityRef>) -> EntityRef {
    value.map(EntityRef::from).unwrap_or_default()
}

/// Reads `kind:id` (`contacts.organisation:0190…`) given in `field`.
pub fn parse_entity(field: &str, value: &str) -> Result<common::EntityRef, GatewayError> {
    match value.split_once(':') {
        Some((kind, id)) if !kind.is_empty() && !id.is_empty() => Ok(common::EntityRef {
            kind: kind.to_owned(),
            id: id.to_owned(),
        }),
        _ => Err(GatewayError::invalid(
            field,
            format!("{value:?} is not an entity: write kind:id, e.g. contacts.organisation:0190f…"),
        )),
    }
}

/// Comma-separated values, blanks dropped.
pub fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// One predicate of a type, with what its subject must be.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PredicateSide {
    /// Stable id, e.g. "employed_by"; generated for a new type when empty.
    #[schema(pattern = "^$|^[a-z0-9_.-]+$", max_length = 64)]
    pub id: String,
    /// Read from the subject: "is employed by".
    pub label: String,
    /// Kinds allowed as its subject; empty: any.
    pub kinds: Vec<String>,
    pub required_tags: Vec<String>,
    pub forbidden_tags: Vec<String>,
}

impl From<pb::PredicateSide> for PredicateSide {
    fn from(side: pb::PredicateSide) -> Self {
        PredicateSide {
            id: side.id,
            label: side.label,
            kinds: side.kinds,
            required_tags: side.required_tags,
            forbidden_tags: side.forbidden_tags,
        }
    }
}

impl From<PredicateSide> for pb::PredicateSide {
    fn from(side: PredicateSide) -> Self {
        pb::PredicateSide {
            id: side.id,
            label: side.label,
            kinds: side.kinds,
            required_tags: side.required_tags,
            forbidden_tags: side.forbidden_tags,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RelationType {
    /// The id of its subject predicate.
    pub id: String,
    pub subject_side: PredicateSide,
    /// The symmetric predicate; its constraints are the object's.
    pub object_side: PredicateSide,
    pub symmetric_to_itself: bool,
    pub enabled: bool,
    /// Made by users; only those can be edited or deleted.
    pub custom: bool,
    /// Set by the system only.
    pub internal: bool,
    pub copiable: bool,
    pub version: u64,
    pub relation_count: u64,
}

impl From<pb::RelationType> for RelationType {
    fn from(t: pb::RelationType) -> Self {
        RelationType {
            id: t.id,
            subject_side: t.subject_side.map(PredicateSide::from).unwrap_or_default(),
            object_side: t.object_side.map(PredicateSide::from).unwrap_or_default(),
            symmetric_to_itself: t.symmetric_to_itself,
            enabled: t.enabled,
            custom: t.custom,
            internal: t.internal,
            copiable: t.copiable,
            version: t.version,
            relation_count: t.relation_count,
        }
    }
}

/// A predicate an entity of the asked kind can take as subject.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PredicateChoice {
    pub predicate: String,
    pub label: String,
    pub type_id: String,
    /// Kinds allowed at the other end; empty: any.
    pub object_kinds: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RelationTypeList {
    pub types: Vec<RelationType>,
    /// With `subject_kind`: the predicates such an entity can take.
    pub predicates: Vec<PredicateChoice>,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TypeListQuery {
    pub include_disabled: bool,
    pub include_internal: bool,
    /// List the predicates an entity of this kind can take as subject.
    pub subject_kind: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NewRelationType {
    pub subject_side: PredicateSide,
    /// Ignored when `symmetric_to_itself`.
    pub object_side: PredicateSide,
    pub symmetric_to_itself: bool,
    pub copiable: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RelationTypeChanges {
    /// The version read; a newer stored version gives 409. Absent: no check.
    pub expected_version: Option<u64>,
    pub subject_side: PredicateSide,
    pub object_side: PredicateSide,
    pub copiable: bool,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CascadeQuery {
    /// Delete the type's relations too (otherwise refused while it has some).
    pub cascade: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeletedType {
    pub relations_removed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Relation {
    pub id: String,
    pub subject: EntityRef,
    pub predicate: String,
    pub object: EntityRef,
    pub symmetric_predicate: String,
    pub type_id: String,
    pub created_at: String,
}

impl From<pb::Relation> for Relation {
    fn from(r: pb::Relation) -> Self {
        Relation {
            id: r.id,
            subject: entity(r.subject),
            predicate: r.predicate,
            object: entity(r.object),
            symmetric_predicate: r.symmetric_predicate,
            type_id: r.type_id,
            created_at: rfc3339(r.created_at.as_ref()),
        }
    }
}

/// subject -predicate-> object; its mirror is created with it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NewRelation {
    #[schema(required = true)]
    pub subject: EntityRef,
    #[schema(
        required = true,
        pattern = "^[a-z0-9_.-]+$",
        min_length = 1,
        max_length = 64
    )]
    pub predicate: String,
    #[schema(required = true)]
    pub object: EntityRef,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NewRelations {
    /// Up to 1,000; all are created or none.
    #[schema(required = true, min_items = 1, max_items = 1000)]
    pub triples: Vec<NewRelation>,
    /// Skip triples that exist instead of refusing them.
    pub skip_existing: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PredicateObject {
    pub predicate: String,
    pub object: EntityRef,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RelationsForSubjects {
    pub subjects: Vec<EntityRef>,
    pub relations: Vec<PredicateObject>,
    pub skip_existing: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreatedRelations {
    pub relations: Vec<Relation>,
    /// Existing triples skipped.
    pub skipped: u32,
    /// The relations holding the skipped triples, once each.
    pub existing: Vec<Relation>,
}

/// A relation added to or removed from an entity, seen from it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RelationChange {
    pub relation_id: String,
    /// `added` or `removed`.
    pub change: String,
    pub predicate: String,
    pub predicate_label: String,
    pub other: EntityRef,
    pub other_label: String,
    /// For a removal: `requested`, `type_deleted`, `entity_purged`,
    /// `entity_erased` or `entity_merged`.
    pub cause: String,
    pub actor: String,
    pub occurred_at: String,
}

impl From<pb::RelationChange> for RelationChange {
    fn from(change: pb::RelationChange) -> Self {
        RelationChange {
            relation_id: change.relation_id,
            change: change.change,
            predicate: change.predicate,
            predicate_label: change.predicate_label,
            other: entity(change.other),
            other_label: change.other_label,
            cause: change.cause,
            actor: change.actor,
            occurred_at: crate::api::rfc3339(change.occurred_at.as_ref()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RelationHistoryPage {
    pub items: Vec<RelationChange>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TripleToDelete {
    /// `kind:id`.
    #[param(required = true, min_length = 3, max_length = 200)]
    pub subject: String,
    /// As created, or its symmetric with the ends swapped.
    #[param(required = true, min_length = 1, max_length = 64)]
    pub predicate: String,
    /// `kind:id`.
    #[param(required = true, min_length = 3, max_length = 200)]
    pub object: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeletedTriple {
    /// The relation deleted, with its mirror.
    pub relation_id: String,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RelationsToDelete {
    /// As seen from the entity.
    #[param(required = true, min_length = 1, max_length = 64)]
    pub predicate: String,
    /// Comma-separated kinds of the other end; empty: all.
    #[param(max_length = 1000)]
    pub other_kinds: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeletedRelations {
    pub deleted: u64,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CandidatesQuery {
    /// The predicate the entity would be the subject of.
    #[param(required = true, min_length = 1, max_length = 64)]
    pub predicate: String,
    /// Only entities whose label contains this (any case).
    #[param(max_length = 200)]
    pub label: String,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    pub cursor: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CandidatePage {
    pub items: Vec<Entity>,
    pub next_cursor: Option<String>,
}

/// A relation seen from one of its ends.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntityRelation {
    pub relation_id: String,
    pub predicate: String,
    pub predicate_label: String,
    pub other: EntityRef,
    pub other_label: String,
    pub other_in_trash: bool,
    pub created_at: String,
    pub internal: bool,
}

impl From<pb::EntityRelation> for EntityRelation {
    fn from(r: pb::EntityRelation) -> Self {
        EntityRelation {
            relation_id: r.relation_id,
            predicate: r.predicate,
            predicate_label: r.predicate_label,
            other: entity(r.other),
            other_label: r.other_label,
            other_in_trash: r.other_in_trash,
            created_at: rfc3339(r.created_at.as_ref()),
            internal: r.internal,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EntityRelationPage {
    pub items: Vec<EntityRelation>,
    pub next_cursor: Option<String>,
    pub total: u64,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EntityRelationsQuery {
    /// Comma-separated predicates; empty: all.
    pub predicates: String,
    /// Comma-separated kinds of the other end; empty: all.
    pub other_kinds: String,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    pub cursor: String,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TripleQuery {
    /// `kind:id`; empty: any subject.
    pub subject: String,
    /// Empty: any predicate.
    pub predicate: String,
    /// `kind:id`; empty: any object.
    pub object: String,
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    pub cursor: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TripleMatch {
    pub relation_id: String,
    pub subject: EntityRef,
    pub subject_label: String,
    pub predicate: String,
    pub object: EntityRef,
    pub object_label: String,
}

impl From<pb::TripleMatch> for TripleMatch {
    fn from(t: pb::TripleMatch) -> Self {
        TripleMatch {
            relation_id: t.relation_id,
            subject: entity(t.subject),
            subject_label: t.subject_label,
            predicate: t.predicate,
            object: entity(t.object),
            object_label: t.object_label,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TriplePage {
    pub items: Vec<TripleMatch>,
    pub next_cursor: Option<String>,
    pub total: u64,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PathQuery {
    /// Where paths start: `kind:id`.
    #[param(required = true, min_length = 1)]
    pub start: String,
    /// Comma-separated predicates, one per hop (1 to 4).
    #[param(required = true, min_length = 1)]
    pub predicates: String,
    /// At most this many paths (default 100, at most 1,000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PathStep {
    pub entity: EntityRef,
    pub label: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Paths {
    /// Each path lists its entities from the start.
    pub paths: Vec<Vec<PathStep>>,
    /// More paths exist than `limit`.
    pub truncated: bool,
}

impl From<pb::FindPathsResponse> for Paths {
    fn from(found: pb::FindPathsResponse) -> Self {
        Paths {
            paths: found
                .paths
                .into_iter()
                .map(|path| {
                    path.steps
                        .into_iter()
                        .map(|step| PathStep {
                            entity: entity(step.entity),
                            label: step.label,
                        })
                        .collect()
                })
                .collect(),
            truncated: found.truncated,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PredicateCount {
    pub predicate: String,
    pub label: String,
    pub count: u64,
}

/// What the relations service knows of an entity.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Entity {
    pub entity: EntityRef,
    pub label: String,
    pub tags: Vec<String>,
    pub in_trash: bool,
    /// `live`, `purged`, `erased` or `merged`.
    pub state: String,
    pub merged_into: Option<String>,
}

impl From<pb::Entity> for Entity {
    fn from(e: pb::Entity) -> Self {
        let state = match pb::EntityState::try_from(e.state) {
            Ok(pb::EntityState::Live) => "live",
            Ok(pb::EntityState::Purged) => "purged",
            Ok(pb::EntityState::Erased) => "erased",
            Ok(pb::EntityState::Merged) => "merged",
            _ => "unknown",
        };
        Entity {
            entity: entity(e.entity),
            label: e.label,
            tags: e.tags,
            in_trash: e.in_trash,
            state: state.to_owned(),
            merged_into: non_empty(e.merged_into),
        }
    }
}
