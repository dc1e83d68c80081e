//! Commands on relations.

use std::collections::{HashMap, HashSet};

use liaison_eventstore::{AppendRequest, ExpectedVersion, StoreError, StreamAppend};
use liaison_proto::common::v1::EntityRef;
use liaison_proto::relations::v1 as pb;
use uuid::Uuid;

use super::*;
use crate::domain::entity::Entity;
use crate::domain::relation::{self, check_create};
use crate::domain::relation_type::RelationType;
use crate::domain::{describe, Caller};
use crate::events::{relation_event, relation_stream};
use crate::storage::StoredRelation;

impl RelationsApp {
    // ---- relations ------------------------------------------------------

    /// Creates every triple or none. With `skip_existing`, triples that
    /// exist (or whose mirror does) are left out instead of refused, and
    /// the relations holding them are returned as `existing`.
    pub async fn create_relations(
        &self,
        triples: Vec<TripleRequest>,
        skip_existing: bool,
        context: &RequestContext,
    ) -> Result<CreatedRelations, RelationsError> {
        if triples.is_empty() {
            return Err(RelationsError::invalid(
                "triples",
                "at least one relation is required",
            ));
        }
        if triples.len() > MAX_TRIPLES_PER_CALL {
            return Err(RelationsError::invalid(
                "triples",
                format!("at most {MAX_TRIPLES_PER_CALL} relations per call"),
            ));
        }
        let mut checked = Vec::with_capacity(triples.len());
        for triple in triples {
            let prefix = triple.field.clone();
            let subject = crate::domain::entity_ref(&field_in(&prefix, "subject"), triple.subject)?;
            let object = crate::domain::entity_ref(&field_in(&prefix, "object"), triple.object)?;
            let predicate =
                crate::domain::predicate_id(&field_in(&prefix, "predicate"), &triple.predicate)?;
            checked.push((prefix, subject, predicate, object));
        }
        let mut types: HashMap<String, RelationType> = HashMap::new();
        for (prefix, _, predicate, _) in &checked {
            if types.contains_key(predicate) {
                continue;
            }
            let found = self.read_model.type_of_predicate(predicate).await?;
            let Some((found, _)) = found else {
                return Err(at(
                    prefix,
                    RelationsError::NotFound {
                        kind: "predicate",
                        id: predicate.clone(),
                    },
                ));
            };
            types.insert(predicate.clone(), found);
        }
        let ids: Vec<&str> = checked
            .iter()
            .flat_map(|(_, s, _, o)| [s.id.as_str(), o.id.as_str()])
            .collect();
        let entities = self.entities_arrived(&ids).await?;
        let caller = caller(context);
        let mut seen: HashSet<(String, String, String)> = HashSet::new();
        let mut created: Vec<StoredRelation> = Vec::new();
        let mut existing_relations: Vec<StoredRelation> = Vec::new();
        let mut streams = Vec::new();
        let mut skipped = 0u32;
        let metadata = context.event_metadata();
        for (prefix, subject, predicate, object) in checked {
            let relation_type = &types[&predicate];
            let subject_entity = known_entity(&entities, &subject, &prefix)?;
            let object_entity = known_entity(&entities, &object, &prefix)?;
            check_create(
                relation_type,
                &predicate,
                subject_entity,
                object_entity,
                caller,
            )
            .map_err(|error| at(&prefix, error))?;
            // Subject and object as the registry knows them (their kinds are its own).
            let subject = subject_entity.reference.clone();
            let object = object_entity.reference.clone();
            let event =
                relation::created(relation_type, subject.clone(), &predicate, object.clone());
            let forward = (subject.id.clone(), predicate.clone(), object.id.clone());
            let mirror = (
                object.id.clone(),
                event.symmetric_predicate.clone(),
                subject.id.clone(),
            );
            let repeated = seen.contains(&forward) || seen.contains(&mirror);
            let existing = if repeated {
                None
            } else {
                self.read_model
                    .triple(&subject.id, &predicate, &object.id)
                    .await?
            };
            if repeated || existing.is_some() {
                if skip_existing {
                    skipped += 1;
                    let holder = match &existing {
                        Some((id, _)) => self.read_model.relation(id).await?,
                        // Asked twice: the one this request creates.
                        None => created
                            .iter()
                            .find(|relation| {
                                let key = (
                                    relation.subject.id.clone(),
                                    relation.predicate.clone(),
                                    relation.object.id.clone(),
                                );
                                key == forward || key == mirror
                            })
                            .cloned(),
                    };
                    if let Some(holder) = holder {
                        if !existing_relations.iter().any(|known| known.id == holder.id) {
                            existing_relations.push(holder);
                        }
                    }
                    continue;
                }
                let detail = match &existing {
                    Some((id, true)) => format!(" (relation {id})"),
                    Some((id, false)) => {
                        format!(" (relation {id}, created from the other side)")
                    }
                    None => " (asked twice in this request)".to_owned(),
                };
                let label = relation_type
                    .orientation(&predicate)
                    .map(|orientation| orientation.subject.label.clone())
                    .unwrap_or_else(|| predicate.clone());
                return Err(at(
                    &prefix,
                    RelationsError::RelationExists {
                        statement: format!(
                            "{} {label} {} already",
                            subject_entity.describe(),
                            object_entity.describe()
                        ),
                        relation_id: existing.map(|(id, _)| id).unwrap_or_default(),
                        detail,
                    },
                ));
            }
            seen.insert(forward);
            seen.insert(mirror);
            let id = Uuid::now_v7().to_string();
            created.push(StoredRelation {
                id: id.clone(),
                subject,
                predicate: predicate.clone(),
                object,
                symmetric_predicate: event.symmetric_predicate.clone(),
                type_id: relation_type.id.clone(),
                created_at: metadata.occurred_at_micros,
            });
            streams.push(StreamAppend {
                stream_id: relation_stream(&id),
                expected: ExpectedVersion::NoStream,
                events: vec![relation_event(pb::relation_event::Event::Created(event))],
                encrypt_for_subject: None,
            });
        }
        let outcome = CreatedRelations {
            created,
            skipped,
            existing: existing_relations,
        };
        if streams.is_empty() {
            return Ok(outcome);
        }
        self.store
            .append(AppendRequest {
                streams,
                metadata,
                forget_subjects: Vec::new(),
            })
            .await?;
        Ok(outcome)
    }

    /// Deletes the relation holding `subject -predicate-> object` (as
    /// created or as its mirror); returns its id.
    pub async fn delete_triple(
        &self,
        subject: Option<EntityRef>,
        predicate: &str,
        object: Option<EntityRef>,
        context: &RequestContext,
    ) -> Result<String, RelationsError> {
        let subject = crate::domain::entity_ref("subject", subject)?;
        let object = crate::domain::entity_ref("object", object)?;
        let predicate = crate::domain::predicate_id("predicate", predicate)?;
        let (relation_type, _) = self.get_type(&predicate).await?;
        let found = self
            .read_model
            .triple(&subject.id, &predicate, &object.id)
            .await?;
        let Some((id, _)) = found else {
            let entities = self.read_model.entities(&[&subject.id, &object.id]).await?;
            let name = |reference: &EntityRef| {
                entities
                    .get(&reference.id)
                    .map_or_else(|| describe(reference), Entity::describe)
            };
            let label = relation_type
                .orientation(&predicate)
                .map_or(predicate.as_str(), |o| o.subject.label.as_str())
                .to_owned();
            return Err(RelationsError::NotFound {
                kind: "relation",
                id: format!("\"{} {label} {}\"", name(&subject), name(&object)),
            });
        };
        self.delete_relation(&id, context).await?;
        Ok(id)
    }

    /// Deletes every relation of `entity` by `predicate` (seen from it),
    /// only those whose other end is of `other_kinds` when given; returns
    /// how many. Each chunk is one append; a relation deleted meanwhile by
    /// someone else is read again and skipped.
    pub async fn delete_relations_from(
        &self,
        entity: Option<EntityRef>,
        predicate: &str,
        other_kinds: &[String],
        context: &RequestContext,
    ) -> Result<u64, RelationsError> {
        const CHUNK: u32 = 500;
        let entity = crate::domain::entity_ref("entity", entity)?;
        let predicate = crate::domain::predicate_id("predicate", predicate)?;
        for (index, kind) in other_kinds.iter().enumerate() {
            crate::domain::entity_kind(&format!("other_kinds[{index}]"), kind)?;
        }
        let (relation_type, _) = self.get_type(&predicate).await?;
        if relation_type.internal && caller(context) != Caller::System {
            return Err(RelationsError::InternalType {
                type_id: relation_type.id,
                predicate,
            });
        }
        let metadata = context.event_metadata();
        let mut deleted = 0u64;
        let mut conflicts = 0;
        loop {
            let relations = self
                .read_model
                .relations_from(&entity.id, &predicate, other_kinds, CHUNK)
                .await?;
            if relations.is_empty() {
                return Ok(deleted);
            }
            let count = relations.len() as u64;
            let request = AppendRequest {
                streams: relations
                    .iter()
                    .map(|relation| deletion(relation, pb::DeletionCause::Requested, None))
                    .collect(),
                metadata: metadata.clone(),
                forget_subjects: Vec::new(),
            };
            match self.store.append(request).await {
                Ok(_) => deleted += count,
                Err(StoreError::VersionConflict { .. }) if conflicts < 3 => conflicts += 1,
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Gives `target` (a duplicate of `source`) the relations of `source`
    /// whose type is copiable, as `source` sees them, in one append; those
    /// that could not be made now (existing, type disabled, other end gone,
    /// in the trash, the target itself, or no longer fitting) are counted
    /// as left out. Internal types are copied only for the system.
    pub async fn copy_relations(
        &self,
        source: Option<EntityRef>,
        target: Option<EntityRef>,
        context: &RequestContext,
    ) -> Result<(Vec<StoredRelation>, u32), RelationsError> {
        const PAGE: u32 = 500;
        let source = crate::domain::entity_ref("source", source)?;
        let target = crate::domain::entity_ref("target", target)?;
        if source.kind != target.kind {
            return Err(RelationsError::invalid(
                "target.kind",
                format!("a copy of a {} must be one too", source.kind),
            ));
        }
        if source.id == target.id {
            return Err(RelationsError::invalid(
                "target.id",
                "the copy must be another entity than its source",
            ));
        }
        let arrived = self
            .entities_arrived(&[source.id.as_str(), target.id.as_str()])
            .await?;
        known_entity(&arrived, &source, "source")?;
        let target_entity = known_entity(&arrived, &target, "target")?.clone();
        target_entity.require_live()?;
        target_entity.require_out_of_trash()?;
        let caller = caller(context);
        let mut types: HashMap<String, Option<RelationType>> = HashMap::new();
        let mut rows = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .read_model
                .entity_relations(&EntityRelationsFilter {
                    entity_id: source.id.clone(),
                    after: after.clone(),
                    limit: PAGE,
                    ..Default::default()
                })
                .await?;
            after = page
                .next
                .map(|key| (key[0].clone(), key.get(1).cloned().unwrap_or_default()));
            rows.extend(page.items);
            if after.is_none() {
                break;
            }
        }
        let mut copies = Vec::new();
        for row in &rows {
            if !types.contains_key(&row.predicate) {
                let found = self.read_model.type_of_predicate(&row.predicate).await?;
                let copiable = found
                    .map(|(relation_type, _)| relation_type)
                    .filter(|t| t.copiable && (!t.internal || caller == Caller::System));
                types.insert(row.predicate.clone(), copiable);
            }
            if types[&row.predicate].is_some() {
                copies.push(row);
            }
        }
        let others: Vec<&str> = copies.iter().map(|row| row.other.id.as_str()).collect();
        let others = self.read_model.entities(&others).await?;
        let mut left_out = 0u32;
        let mut triples = Vec::new();
        for row in copies {
            let Some(relation_type) = &types[&row.predicate] else {
                continue;
            };
            let fits = others.get(&row.other.id).is_some_and(|other| {
                check_create(relation_type, &row.predicate, &target_entity, other, caller).is_ok()
            });
            let exists = fits
                && self
                    .read_model
                    .triple(&target.id, &row.predicate, &row.other.id)
                    .await?
                    .is_some();
            if fits && !exists {
                triples.push(TripleRequest {
                    field: String::new(),
                    subject: Some(target.clone()),
                    predicate: row.predicate.clone(),
                    object: Some(row.other.clone()),
                });
            } else {
                left_out += 1;
            }
        }
        if triples.is_empty() {
            return Ok((Vec::new(), left_out));
        }
        let outcome = self.create_relations(triples, true, context).await?;
        Ok((outcome.created, left_out + outcome.skipped))
    }

    /// Entities that `subject` could take as objects of `predicate`: of the
    /// kinds and tags its object side asks, live, out of the trash, not
    /// `subject` itself and not related to it so already; by label, at most
    /// `limit`, after `after` (label, id). A subject the predicate refuses
    /// gets that refusal instead of an empty list.
    pub async fn candidate_objects(
        &self,
        subject: Option<EntityRef>,
        predicate: &str,
        label: &str,
        after: Option<(String, String)>,
        limit: u32,
    ) -> Result<(Vec<Entity>, bool), RelationsError> {
        const BATCH: u32 = 200;
        let subject = crate::domain::entity_ref("subject", subject)?;
        let predicate = crate::domain::predicate_id("predicate", predicate)?;
        let (relation_type, _) = self.get_type(&predicate).await?;
        let Some(orientation) = relation_type.orientation(&predicate) else {
            return Err(RelationsError::NotFound {
                kind: "predicate",
                id: predicate,
            });
        };
        let entities = self.entities_arrived(&[subject.id.as_str()]).await?;
        let subject_entity = known_entity(&entities, &subject, "subject")?;
        subject_entity.require_live()?;
        relation::check_side("subject", subject_entity, orientation.subject)?;
        let wanted = orientation.object;
        let mut found = Vec::new();
        let mut cursor = after;
        loop {
            let batch = self
                .read_model
                .unrelated_entities(
                    &subject.id,
                    &predicate,
                    &wanted.kinds,
                    label.trim(),
                    cursor.as_ref(),
                    BATCH,
                )
                .await?;
            let exhausted = (batch.len() as u32) < BATCH;
            for entity in batch {
                cursor = Some((entity.label.clone(), entity.reference.id.clone()));
                if relation::check_side("object", &entity, wanted).is_ok() {
                    found.push(entity);
                    if found.len() > limit as usize {
                        found.truncate(limit as usize);
                        return Ok((found, true));
                    }
                }
            }
            if exhausted {
                return Ok((found, false));
            }
        }
    }

    pub async fn delete_relation(
        &self,
        id: &str,
        context: &RequestContext,
    ) -> Result<(), RelationsError> {
        let id = crate::domain::relation_id("id", id)?;
        let relation = self.get_relation(&id).await?;
        let (relation_type, _) = self.get_type(&relation.predicate).await?;
        if relation_type.internal && caller(context) != Caller::System {
            return Err(RelationsError::InternalType {
                type_id: relation_type.id,
                predicate: relation.predicate,
            });
        }
        let result = self
            .store
            .append(AppendRequest {
                streams: vec![deletion(&relation, pb::DeletionCause::Requested, None)],
                metadata: context.event_metadata(),
                forget_subjects: Vec::new(),
            })
            .await;
        match result {
            Ok(_) => Ok(()),
            // Deleted meanwhile, by someone else or by a purge.
            Err(StoreError::VersionConflict { .. }) => Err(RelationsError::NotFound {
                kind: "relation",
                id,
            }),
            Err(other) => Err(other.into()),
        }
    }

    pub async fn get_relation(&self, id: &str) -> Result<StoredRelation, RelationsError> {
        let id = crate::domain::relation_id("id", id)?;
        self.read_model
            .relation(&id)
            .await?
            .ok_or(RelationsError::NotFound {
                kind: "relation",
                id,
            })
    }
}

fn known_entity<'a>(
    entities: &'a HashMap<String, Entity>,
    reference: &EntityRef,
    prefix: &str,
) -> Result<&'a Entity, RelationsError> {
    let entity = entities.get(&reference.id).ok_or_else(|| {
        at(
            prefix,
            RelationsError::UnknownEntity {
                entity: describe(reference),
            },
        )
    })?;
    if entity.reference.kind != reference.kind {
        return Err(at(
            prefix,
            RelationsError::invalid(
                "kind",
                format!(
                    "{} is a {}, not a {}",
                    reference.id, entity.reference.kind, reference.kind
                ),
            ),
        ));
    }
    Ok(entity)
}
