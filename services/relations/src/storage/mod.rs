//! The service's read models and the entity registry: schema, the inline
//! projection, the consumer of other services' events, and the queries, on
//! SQLite or PostgreSQL. The SQL is written once (`projection_sql.rs`,
//! `registry_sql.rs`, `queries_sql.rs`, included by `sqlite.rs` and
//! `postgres.rs`); what differs lives in those two files and the two schema
//! files (ADR 0007).

mod postgres;
mod sqlite;

use std::collections::HashMap;

use liaison_eventstore::migrate::Migration;
use liaison_eventstore::on_backend;
use liaison_proto::common::v1::EntityRef;

use crate::domain::entity::Entity;
use crate::domain::relation_type::RelationType;
use crate::RelationsError;

/// Maintains relation types and relations in the append's transaction. It
/// also enforces what spans relations: a triple (or its mirror) exists once,
/// and, for new relations, both entities are live and the type enabled.
pub struct RelationsProjection;

/// Keeps the registry of other services' entities from their events, and
/// reacts to purges, erasures and merges by deleting or moving relations.
pub struct EntityRegistry;

/// Durable consumer name of the registry.
pub const CONSUMER: &str = "relations";

/// Read-model tables of the relations log, as reset before a rebuild and
/// compared after one. The registry is fed by the bus, not rebuilt.
pub const READ_MODEL_TABLES: &[&str] = &[
    "relation_types",
    "predicates",
    "relations",
    "relation_history",
];

pub const MIGRATIONS_SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        description: "relation types, predicates, relations, entity registry",
        sql: include_str!("schema_sqlite.sql"),
    },
    Migration {
        version: 2,
        description: "the history of each entity's relations",
        sql: include_str!("history_sqlite.sql"),
    },
];

pub const MIGRATIONS_POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        description: "relation types, predicates, relations, entity registry",
        sql: include_str!("schema_postgres.sql"),
    },
    Migration {
        version: 2,
        description: "the history of each entity's relations",
        sql: include_str!("history_postgres.sql"),
    },
];

/// A change to one of an entity's relations, as its history shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RelationHistoryRow {
    pub position: u64,
    pub relation_id: String,
    /// `added` or `removed`.
    pub change: String,
    /// As seen from the entity.
    pub predicate: String,
    pub predicate_label: String,
    pub other: EntityRef,
    pub other_label: String,
    /// For a removal: `requested`, `type_deleted`, `entity_purged`,
    /// `entity_erased` or `entity_merged`.
    pub cause: String,
    pub actor: String,
    pub occurred_at: i64,
}

/// A relation as created (its forward triple).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRelation {
    pub id: String,
    pub subject: EntityRef,
    pub predicate: String,
    pub object: EntityRef,
    pub symmetric_predicate: String,
    pub type_id: String,
    pub created_at: i64,
}

/// A relation seen from one end.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityRelationRow {
    pub relation_id: String,
    pub predicate: String,
    pub predicate_label: String,
    pub other: EntityRef,
    pub other_label: String,
    pub other_in_trash: bool,
    pub created_at: i64,
    pub internal: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TripleRow {
    pub relation_id: String,
    pub subject: EntityRef,
    pub subject_label: String,
    pub predicate: String,
    pub object: EntityRef,
    pub object_label: String,
}

/// One page of a query: `next`, the key of its last row, when a page follows.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Vec<String>>,
    pub total: u64,
}

#[derive(Debug, Clone, Default)]
pub struct EntityRelationsFilter {
    pub entity_id: String,
    pub predicates: Vec<String>,
    pub other_kinds: Vec<String>,
    /// Continue after this (predicate, other id).
    pub after: Option<(String, String)>,
    pub limit: u32,
}

/// A pattern resolved to the rows that answer it: rows whose subject is
/// `row_subject` (and predicate, object when given). When the pattern's
/// subject is open and its object given, the rows are the mirrors, read
/// from the object, and `flip` turns them back.
#[derive(Debug, Clone, Default)]
pub struct RowPattern {
    pub row_subject: Option<String>,
    pub row_predicate: Option<String>,
    pub row_object: Option<String>,
    /// Only the rows of relations as created, not their mirrors: for a
    /// self-symmetric predicate with both ends open, where each relation
    /// would match twice.
    pub forward_only: bool,
    pub flip: bool,
    /// Continue after this row key (subject, predicate, object of the row).
    pub after: Option<(String, String, String)>,
    pub limit: u32,
}

/// A relation of an entity, as its reactions need it.
#[derive(Debug, Clone)]
pub(crate) struct EntityRow {
    pub relation_id: String,
    pub predicate: String,
    pub symmetric_predicate: String,
    pub type_id: String,
    pub other: EntityRef,
    /// The row is the triple as created (the entity was its subject).
    pub forward: bool,
}

liaison_eventstore::read_model!(ReadModel, READ_MODEL_TABLES);

impl ReadModel {
    pub async fn relation_type(
        &self,
        type_id: &str,
    ) -> Result<Option<(RelationType, u64)>, RelationsError> {
        on_backend!(&self.0, relation_type(type_id))
    }

    /// The type a predicate belongs to.
    pub async fn type_of_predicate(
        &self,
        predicate: &str,
    ) -> Result<Option<(RelationType, u64)>, RelationsError> {
        on_backend!(&self.0, type_of_predicate(predicate))
    }

    pub async fn relation_types(&self) -> Result<Vec<(RelationType, u64)>, RelationsError> {
        on_backend!(&self.0, relation_types())
    }

    /// The type owning each predicate id used by a live type.
    pub async fn predicate_owners(&self) -> Result<HashMap<String, String>, RelationsError> {
        on_backend!(&self.0, predicate_owners())
    }

    pub async fn entities(&self, ids: &[&str]) -> Result<HashMap<String, Entity>, RelationsError> {
        on_backend!(&self.0, entities(ids))
    }

    /// The relation holding the row `subject -predicate-> object`, and
    /// whether that row is the triple as created (not its mirror).
    pub async fn triple(
        &self,
        subject: &str,
        predicate: &str,
        object: &str,
    ) -> Result<Option<(String, bool)>, RelationsError> {
        on_backend!(&self.0, triple(subject, predicate, object))
    }

    pub async fn relation(
        &self,
        relation_id: &str,
    ) -> Result<Option<StoredRelation>, RelationsError> {
        on_backend!(&self.0, relation(relation_id))
    }

    pub async fn entity_relations(
        &self,
        filter: &EntityRelationsFilter,
    ) -> Result<Page<EntityRelationRow>, RelationsError> {
        on_backend!(&self.0, entity_relations(filter))
    }

    pub async fn triples(&self, pattern: &RowPattern) -> Result<Page<TripleRow>, RelationsError> {
        on_backend!(&self.0, triples(pattern))
    }

    /// Paths from `start` along `predicates`, one per hop, no entity twice;
    /// at most `limit` of them.
    pub async fn paths(
        &self,
        start: &str,
        predicates: &[String],
        limit: u32,
    ) -> Result<Vec<Vec<EntityRef>>, RelationsError> {
        on_backend!(&self.0, paths(start, predicates, limit))
    }

    /// Relations per predicate (seen from the entity), with the label.
    pub async fn predicate_counts(
        &self,
        entity_id: &str,
    ) -> Result<Vec<(String, String, u64)>, RelationsError> {
        on_backend!(&self.0, predicate_counts(entity_id))
    }

    /// The changes to an entity's relations, newest first, before log
    /// position `before` when given; at most `limit`.
    pub async fn relation_history(
        &self,
        entity_id: &str,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<RelationHistoryRow>, RelationsError> {
        on_backend!(&self.0, relation_history(entity_id, before, limit))
    }

    /// Relations of an entity by one predicate seen from it, narrowed by
    /// the other end's kind; at most `limit`.
    pub async fn relations_from(
        &self,
        entity_id: &str,
        predicate: &str,
        other_kinds: &[String],
        limit: u32,
    ) -> Result<Vec<StoredRelation>, RelationsError> {
        on_backend!(
            &self.0,
            relations_from(entity_id, predicate, other_kinds, limit)
        )
    }

    /// Entities `subject_id` could take as objects of `predicate`, before
    /// tags are checked (see `RelationsApp::candidate_objects`).
    #[allow(clippy::too_many_arguments)]
    pub async fn unrelated_entities(
        &self,
        subject_id: &str,
        predicate: &str,
        kinds: &[String],
        label: &str,
        after: Option<&(String, String)>,
        limit: u32,
    ) -> Result<Vec<Entity>, RelationsError> {
        on_backend!(
            &self.0,
            unrelated_entities(subject_id, predicate, kinds, label, after, limit)
        )
    }

    /// Every relation of a type, forward, with both ends as the registry knows them.
    pub async fn relations_of_type(
        &self,
        relation_type: &RelationType,
    ) -> Result<Vec<StoredRelation>, RelationsError> {
        on_backend!(&self.0, relations_of_type(relation_type))
    }

    /// Relations of the entity whose type is internal, by predicate.
    pub async fn internal_relations(
        &self,
        entity_id: &str,
    ) -> Result<Vec<(String, u64)>, RelationsError> {
        on_backend!(&self.0, internal_relations(entity_id))
    }
}

/// Tags are stored one per line.
fn join_tags(tags: &[String]) -> String {
    tags.join("\n")
}

fn split_tags(stored: &str) -> Vec<String> {
    stored
        .split('\n')
        .filter(|tag| !tag.is_empty())
        .map(str::to_owned)
        .collect()
}
