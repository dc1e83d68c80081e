// The inline projection's SQL, compiled once per backend: `sqlite.rs` and
// `postgres.rs` define `Db`, `Conn`, `DbRow` and `DbPool`, then `include!`
// this file. Placeholders are `$N`, which SQLite accepts too.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use liaison_eventstore::{Projection, ProjectionError, RecordedEvent};
use liaison_proto::common::v1::EntityRef;
use liaison_proto::relations::v1 as pb;
use prost::Message;
use sqlx::{QueryBuilder, Row};

use super::{join_tags, split_tags, EntityRegistry, RelationsProjection};
use crate::domain::describe;
use crate::domain::entity::{Entity, EntityState};
use crate::domain::relation::describe_triple;
use crate::domain::relation_type::{self, RelationType};
use crate::RelationsError;
use liaison_eventstore::aggregate::id_of_stream;

/// Relations inserted per statement (each is two rows of eight values).
const INSERT_CHUNK: usize = 500;

#[async_trait]
impl Projection<Db> for RelationsProjection {
    fn name(&self) -> &'static str {
        "relations"
    }

    async fn apply(&self, conn: &mut Conn, event: &RecordedEvent) -> Result<(), ProjectionError> {
        apply_events(conn, std::slice::from_ref(event)).await
    }

    async fn apply_batch(
        &self,
        conn: &mut Conn,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        apply_events(conn, events).await
    }

    async fn check_new(
        &self,
        conn: &mut Conn,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        check_new_relations(conn, events).await
    }

    fn tables(&self) -> &'static [&'static str] {
        super::READ_MODEL_TABLES
    }
}

fn refused(error: RelationsError) -> ProjectionError {
    ProjectionError::Rejected(Box::new(error))
}

fn decode_relation(
    event: &RecordedEvent,
) -> Result<Option<pb::relation_event::Event>, ProjectionError> {
    pb::RelationEvent::decode(event.payload.as_slice())
        .map(|decoded| decoded.event)
        .map_err(|error| ProjectionError::Decode {
            event_type: event.event_type.clone(),
            reason: error.to_string(),
        })
}

/// Applies events in order; each run of creations is inserted with one
/// statement per chunk.
async fn apply_events(conn: &mut Conn, events: &[RecordedEvent]) -> Result<(), ProjectionError> {
    let mut creations: Vec<(&RecordedEvent, pb::RelationCreated)> = Vec::new();
    for event in events {
        let aggregate = event.event_type.split('.').next().unwrap_or_default();
        if aggregate == "relation" {
            if let Some(pb::relation_event::Event::Created(created)) = decode_relation(event)? {
                creations.push((event, created));
                continue;
            }
        }
        insert_relations(conn, &creations).await?;
        creations.clear();
        match aggregate {
            "relation_type" => apply_type_event(conn, event).await?,
            "relation" => {
                if let Some(pb::relation_event::Event::Deleted(deleted)) = decode_relation(event)? {
                    delete_relation(conn, event, &deleted).await?;
                }
            }
            _ => {}
        }
    }
    insert_relations(conn, &creations).await
}

/// Inserts both rows of each relation; a row that exists already (the
/// triple, or its mirror, twice) refuses the batch.
async fn insert_relations(
    conn: &mut Conn,
    creations: &[(&RecordedEvent, pb::RelationCreated)],
) -> Result<(), ProjectionError> {
    for chunk in creations.chunks(INSERT_CHUNK) {
        let mut insert = QueryBuilder::<Db>::new(
            "INSERT INTO relations (subject_id, predicate_id, object_id, relation_id, \
             subject_kind, object_kind, forward, created_at) ",
        );
        insert.push_values(
            chunk.iter().flat_map(|(event, created)| {
                let subject = created.subject.clone().unwrap_or_default();
                let object = created.object.clone().unwrap_or_default();
                let id = id_of_stream(&event.stream_id).to_owned();
                let at = event.metadata.occurred_at_micros;
                [
                    (
                        subject.clone(),
                        created.predicate.clone(),
                        object.clone(),
                        id.clone(),
                        true,
                        at,
                    ),
                    (
                        object,
                        created.symmetric_predicate.clone(),
                        subject,
                        id,
                        false,
                        at,
                    ),
                ]
            }),
            |mut row, (subject, predicate, object, id, forward, at)| {
                row.push_bind(subject.id)
                    .push_bind(predicate)
                    .push_bind(object.id)
                    .push_bind(id)
                    .push_bind(subject.kind)
                    .push_bind(object.kind)
                    .push_bind(forward)
                    .push_bind(at);
            },
        );
        insert.push(" ON CONFLICT DO NOTHING");
        let inserted = insert.build().execute(&mut *conn).await?.rows_affected();
        if inserted != 2 * chunk.len() as u64 {
            return Err(refused(duplicate_among(chunk)));
        }
        let ends = chunk.iter().flat_map(|(event, created)| {
            let subject = created.subject.clone().unwrap_or_default();
            let object = created.object.clone().unwrap_or_default();
            [
                HistoryEnd {
                    event,
                    entity: subject.clone(),
                    predicate: created.predicate.clone(),
                    other: object.clone(),
                },
                HistoryEnd {
                    event,
                    entity: object,
                    predicate: created.symmetric_predicate.clone(),
                    other: subject,
                },
            ]
        });
        record_history(conn, ends, "added", "").await?;
    }
    let mut per_type: HashMap<&str, i64> = HashMap::new();
    for (_, created) in creations {
        *per_type.entry(created.type_id.as_str()).or_default() += 1;
    }
    for (type_id, count) in per_type {
        count_relations(conn, type_id, count).await?;
    }
    Ok(())
}

/// Names a triple of the refused chunk: one repeated inside it, or else the first.
fn duplicate_among(chunk: &[(&RecordedEvent, pb::RelationCreated)]) -> RelationsError {
    let mut seen = HashSet::new();
    let first = &chunk[0];
    let (event, created) = chunk
        .iter()
        .find(|(_, created)| {
            let key = |s: &Option<EntityRef>| s.as_ref().map(|e| e.id.clone()).unwrap_or_default();
            let forward = (
                key(&created.subject),
                created.predicate.clone(),
                key(&created.object),
            );
            let mirror = (
                key(&created.object),
                created.symmetric_predicate.clone(),
                key(&created.subject),
            );
            !seen.insert(forward) || !seen.insert(mirror)
        })
        .unwrap_or(first);
    let relation_id = id_of_stream(&event.stream_id).to_owned();
    RelationsError::RelationExists {
        statement: format!(
            "{} already exists",
            describe_triple(
                &created.subject.clone().unwrap_or_default(),
                &created.predicate,
                &created.object.clone().unwrap_or_default(),
            )
        ),
        detail: format!(" (relation {relation_id}, created concurrently)"),
        relation_id,
    }
}

async fn count_relations(conn: &mut Conn, type_id: &str, change: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE relation_types SET relation_count = relation_count + $2 WHERE id = $1")
        .bind(type_id)
        .bind(change)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One end of a relation event, as the history of that end records it.
struct HistoryEnd<'e> {
    event: &'e RecordedEvent,
    entity: EntityRef,
    predicate: String,
    other: EntityRef,
}

async fn record_history(
    conn: &mut Conn,
    ends: impl Iterator<Item = HistoryEnd<'_>>,
    change: &str,
    cause: &str,
) -> Result<(), ProjectionError> {
    let mut insert = QueryBuilder::<Db>::new(
        "INSERT INTO relation_history (entity_id, position, relation_id, change, predicate_id, \
         other_id, other_kind, cause, actor, occurred_at) ",
    );
    let mut any = false;
    insert.push_values(ends, |mut row, end| {
        any = true;
        row.push_bind(end.entity.id)
            .push_bind(i64::try_from(end.event.position).unwrap_or(i64::MAX))
            .push_bind(id_of_stream(&end.event.stream_id).to_owned())
            .push_bind(change.to_owned())
            .push_bind(end.predicate)
            .push_bind(end.other.id)
            .push_bind(end.other.kind)
            .push_bind(cause.to_owned())
            .push_bind(end.event.metadata.actor.clone())
            .push_bind(end.event.metadata.occurred_at_micros);
    });
    if any {
        insert.push(" ON CONFLICT DO NOTHING");
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}

fn cause_name(cause: i32) -> &'static str {
    match pb::DeletionCause::try_from(cause) {
        Ok(pb::DeletionCause::Requested) => "requested",
        Ok(pb::DeletionCause::TypeDeleted) => "type_deleted",
        Ok(pb::DeletionCause::EntityPurged) => "entity_purged",
        Ok(pb::DeletionCause::EntityErased) => "entity_erased",
        Ok(pb::DeletionCause::EntityMerged) => "entity_merged",
        _ => "",
    }
}

async fn delete_relation(
    conn: &mut Conn,
    event: &RecordedEvent,
    deleted: &pb::RelationDeleted,
) -> Result<(), ProjectionError> {
    let relation_id = id_of_stream(&event.stream_id);
    let subject = deleted.subject.clone().unwrap_or_default();
    let object = deleted.object.clone().unwrap_or_default();
    let ends = [
        HistoryEnd {
            event,
            entity: subject.clone(),
            predicate: deleted.predicate.clone(),
            other: object.clone(),
        },
        HistoryEnd {
            event,
            entity: object,
            predicate: deleted.symmetric_predicate.clone(),
            other: subject,
        },
    ];
    record_history(conn, ends.into_iter(), "removed", cause_name(deleted.cause)).await?;
    let removed = sqlx::query("DELETE FROM relations WHERE relation_id = $1")
        .bind(relation_id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    if removed > 0 {
        let type_id: Option<String> =
            sqlx::query_scalar("SELECT type_id FROM predicates WHERE id = $1")
                .bind(&deleted.predicate)
                .fetch_optional(&mut *conn)
                .await?;
        if let Some(type_id) = type_id {
            count_relations(conn, &type_id, -1).await?;
        }
    }
    Ok(())
}

async fn apply_type_event(conn: &mut Conn, event: &RecordedEvent) -> Result<(), ProjectionError> {
    let decoded = pb::RelationTypeEvent::decode(event.payload.as_slice()).map_err(|error| {
        ProjectionError::Decode {
            event_type: event.event_type.clone(),
            reason: error.to_string(),
        }
    })?;
    let Some(domain_event) = decoded.event else {
        return Ok(());
    };
    let type_id = id_of_stream(&event.stream_id);
    let current = stored_type(&mut *conn, type_id)
        .await?
        .map(|(stored, _)| stored)
        .unwrap_or_else(|| RelationType::new(type_id));
    let next = relation_type::evolve(current, &domain_event);
    if next.deleted {
        sqlx::query("DELETE FROM predicates WHERE type_id = $1")
            .bind(type_id)
            .execute(&mut *conn)
            .await?;
        sqlx::query("DELETE FROM relation_types WHERE id = $1")
            .bind(type_id)
            .execute(&mut *conn)
            .await?;
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO relation_types (id, definition, enabled, internal, relation_count) \
         VALUES ($1, $2, $3, $4, 0) ON CONFLICT (id) DO UPDATE SET \
         definition = excluded.definition, enabled = excluded.enabled, internal = excluded.internal",
    )
    .bind(type_id)
    .bind(next.to_proto(0).encode_to_vec())
    .bind(next.enabled)
    .bind(next.internal)
    .execute(&mut *conn)
    .await?;
    let sides = [
        (&next.subject_side, &next.object_side),
        (&next.object_side, &next.subject_side),
    ];
    for (side, symmetric) in sides {
        sqlx::query(
            "INSERT INTO predicates (id, type_id, label, symmetric_id) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (id) DO UPDATE SET type_id = excluded.type_id, label = excluded.label, \
             symmetric_id = excluded.symmetric_id",
        )
        .bind(&side.id)
        .bind(type_id)
        .bind(&side.label)
        .bind(&symmetric.id)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// A stored type and its relation count.
async fn stored_type(
    conn: &mut Conn,
    type_id: &str,
) -> Result<Option<(RelationType, u64)>, sqlx::Error> {
    let row: Option<DbRow> =
        sqlx::query("SELECT definition, relation_count FROM relation_types WHERE id = $1")
            .bind(type_id)
            .fetch_optional(&mut *conn)
            .await?;
    row.map(|row| type_from_row(&row)).transpose()
}

fn type_from_row(row: &DbRow) -> Result<(RelationType, u64), sqlx::Error> {
    let definition: Vec<u8> = row.try_get("definition")?;
    let count: i64 = row.try_get("relation_count")?;
    let stored = pb::RelationType::decode(definition.as_slice())
        .map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
    Ok((
        relation_type::from_proto(stored),
        u64::try_from(count).unwrap_or(0),
    ))
}

/// For relations being created now (not replayed, not moved by a merge):
/// both ends are live and the type enabled, as of this transaction.
async fn check_new_relations(
    conn: &mut Conn,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    let mut creations = Vec::new();
    for event in events {
        if event.event_type != "relation.created" {
            continue;
        }
        if let Some(pb::relation_event::Event::Created(created)) = decode_relation(event)? {
            if created.replaces_relation_id.is_empty() {
                creations.push(created);
            }
        }
    }
    if creations.is_empty() {
        return Ok(());
    }
    let ends: Vec<&str> = creations
        .iter()
        .flat_map(|created| [&created.subject, &created.object])
        .filter_map(|end| end.as_ref().map(|end| end.id.as_str()))
        .collect();
    let entities = entities_on(&mut *conn, &ends).await?;
    let type_ids: Vec<&str> = creations
        .iter()
        .map(|created| created.type_id.as_str())
        .collect();
    let enabled = types_enabled(&mut *conn, &type_ids).await?;
    for created in &creations {
        for end in [&created.subject, &created.object].into_iter().flatten() {
            match entities.get(&end.id) {
                Some(entity) => entity.require_live().map_err(refused)?,
                None => {
                    return Err(refused(RelationsError::UnknownEntity {
                        entity: describe(end),
                    }))
                }
            }
        }
        if enabled.get(&created.type_id) != Some(&true) {
            return Err(refused(RelationsError::TypeDisabled {
                type_id: created.type_id.clone(),
                predicate: created.predicate.clone(),
            }));
        }
    }
    Ok(())
}

async fn types_enabled(
    conn: &mut Conn,
    ids: &[&str],
) -> Result<HashMap<String, bool>, sqlx::Error> {
    let mut query = QueryBuilder::<Db>::new("SELECT id, enabled FROM relation_types WHERE id IN (");
    push_list(&mut query, ids);
    let rows = query.build().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get::<String, _>("id")?,
                row.try_get::<bool, _>("enabled")?,
            ))
        })
        .collect()
}

/// `a, b, c)` for an `IN (` list (never empty: SQL has no empty list).
fn push_list<'q>(query: &mut QueryBuilder<'q, Db>, items: &[&str]) {
    if items.is_empty() {
        query.push("NULL)");
        return;
    }
    let mut list = query.separated(", ");
    for item in items {
        list.push_bind(item.to_string());
    }
    query.push(")");
}

async fn entities_on(
    conn: &mut Conn,
    ids: &[&str],
) -> Result<HashMap<String, Entity>, sqlx::Error> {
    let mut query = QueryBuilder::<Db>::new(
        "SELECT id, kind, label, tags, in_trash, state, merged_into FROM entities WHERE id IN (",
    );
    push_list(&mut query, ids);
    let rows = query.build().fetch_all(&mut *conn).await?;
    rows.iter()
        .map(|row| {
            let entity = entity_from_row(row)?;
            Ok((entity.reference.id.clone(), entity))
        })
        .collect()
}

fn entity_from_row(row: &DbRow) -> Result<Entity, sqlx::Error> {
    let state: String = row.try_get("state")?;
    Ok(Entity {
        reference: EntityRef {
            kind: row.try_get("kind")?,
            id: row.try_get("id")?,
        },
        label: row.try_get("label")?,
        tags: split_tags(&row.try_get::<String, _>("tags")?),
        in_trash: row.try_get("in_trash")?,
        state: EntityState::parse(&state)
            .ok_or_else(|| sqlx::Error::Decode(format!("unknown entity state {state:?}").into()))?,
        merged_into: row.try_get("merged_into")?,
    })
}
