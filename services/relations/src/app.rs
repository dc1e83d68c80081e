//! The application layer: commands on relation types and relations,
//! checked against the read models and the entity registry, appended with
//! optimistic concurrency; queries answered from the read models.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use liaison_eventstore::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, StoreError, StreamAppend,
};
use liaison_proto::common::v1::EntityRef;
use liaison_proto::relations::v1 as pb;
use prost::Message;
use tokio::sync::watch;
use uuid::Uuid;

use crate::domain::entity::Entity;
use crate::domain::relation::{self, check_create, count_violations, describe_triple};
use crate::domain::relation_type::{self, normalise_side, Command, RelationType};
use crate::domain::{describe, relation_stream, relation_type_stream, Caller};
use crate::events::{relation_event, relation_type_event};
use crate::storage::{
    EntityRelationRow, EntityRelationsFilter, Page, ReadModel, RowPattern, StoredRelation,
    TripleRow,
};
use crate::RelationsError;

/// How long a command waits for an entity it does not know yet: one just
/// created in its own service reaches this one through the bus.
pub const DEFAULT_ARRIVAL_WAIT: Duration = Duration::from_secs(2);

pub use liaison_runtime::RequestContext;

fn caller(context: &RequestContext) -> Caller {
    Caller::from_actor(&context.actor)
}

/// What the events of a call record of it.
fn metadata(context: &RequestContext) -> EventMetadata {
    EventMetadata {
        actor: context.actor.clone(),
        correlation_id: context.correlation_id.clone(),
        causation_id: String::new(),
        traceparent: context.traceparent.clone(),
        occurred_at_micros: liaison_eventstore::now_micros(),
    }
}

/// One triple of a create request, and the request field it came from.
#[derive(Debug, Clone)]
pub struct TripleRequest {
    /// `triples[3]`; empty for a single relation.
    pub field: String,
    pub subject: Option<EntityRef>,
    pub predicate: String,
    pub object: Option<EntityRef>,
}

/// What a type edit sets.
#[derive(Debug, Clone)]
pub struct TypeChanges {
    pub subject_side: Option<pb::PredicateSide>,
    pub object_side: Option<pb::PredicateSide>,
    pub copiable: bool,
}

pub struct RelationsApp {
    store: Arc<dyn EventStore>,
    read_model: ReadModel,
    /// Moves each time the registry applied events.
    arrivals: watch::Receiver<u64>,
    arrival_wait: Duration,
}

/// A field name inside an item of a bulk request.
fn field_in(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_owned()
    } else {
        format!("{prefix}.{name}")
    }
}

impl RelationsApp {
    pub fn new(
        store: Arc<dyn EventStore>,
        read_model: ReadModel,
        arrivals: watch::Receiver<u64>,
    ) -> Self {
        Self {
            store,
            read_model,
            arrivals,
            arrival_wait: DEFAULT_ARRIVAL_WAIT,
        }
    }

    pub fn set_arrival_wait(&mut self, wait: Duration) {
        self.arrival_wait = wait;
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    pub fn read_model(&self) -> &ReadModel {
        &self.read_model
    }

    /// Installs the built-in types that are missing; several processes may
    /// race, the store keeps one.
    pub async fn install_builtins(&self) -> Result<usize, RelationsError> {
        let mut installed = 0;
        for created in relation_type::builtins() {
            let id = created
                .subject_side
                .as_ref()
                .map(|side| side.id.clone())
                .unwrap_or_default();
            if self.read_model.relation_type(&id).await?.is_some() {
                continue;
            }
            let request = AppendRequest {
                streams: vec![StreamAppend {
                    stream_id: relation_type_stream(&id),
                    expected: ExpectedVersion::NoStream,
                    events: vec![relation_type_event(
                        pb::relation_type_event::Event::Created(created),
                    )],
                    encrypt_for_subject: None,
                }],
                metadata: metadata(&system_context()),
                forget_subjects: Vec::new(),
            };
            match self.store.append(request).await {
                Ok(_) => installed += 1,
                Err(StoreError::VersionConflict { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
        if installed > 0 {
            tracing::info!(installed, "built-in relation types installed");
        }
        Ok(installed)
    }

    // ---- relation types -------------------------------------------------

    pub async fn list_types(
        &self,
        include_disabled: bool,
        include_internal: bool,
    ) -> Result<Vec<(RelationType, u64)>, RelationsError> {
        Ok(self
            .read_model
            .relation_types()
            .await?
            .into_iter()
            .filter(|(t, _)| include_disabled || t.enabled)
            .filter(|(t, _)| include_internal || !t.internal)
            .collect())
    }

    /// The type of a predicate (either side's id).
    pub async fn get_type(&self, predicate: &str) -> Result<(RelationType, u64), RelationsError> {
        let predicate = crate::domain::predicate_id("id", predicate)?;
        self.read_model
            .type_of_predicate(&predicate)
            .await?
            .ok_or(RelationsError::NotFound {
                kind: "relation type",
                id: predicate,
            })
    }

    pub async fn create_type(
        &self,
        request: pb::CreateRelationTypeRequest,
        context: &RequestContext,
    ) -> Result<RelationType, RelationsError> {
        let pb::CreateRelationTypeRequest {
            subject_side,
            object_side,
            symmetric_to_itself,
            copiable,
            internal,
        } = request;
        if internal && caller(context) != Caller::System {
            return Err(RelationsError::PermissionDenied(
                "only the system creates internal relation types".into(),
            ));
        }
        let generated = |side: &Option<pb::PredicateSide>| {
            side.as_ref()
                .filter(|side| side.id.trim().is_empty())
                .map(|_| format!("custom-{}", Uuid::now_v7().simple()))
        };
        let subject_id = generated(&subject_side);
        let subject_side = normalise_side("subject_side", subject_side, subject_id)?;
        let object_side = if symmetric_to_itself {
            if object_side
                .as_ref()
                .is_some_and(|side| *side != pb::PredicateSide::default())
            {
                return Err(RelationsError::invalid(
                    "object_side",
                    "a type that is its own symmetric has one side: leave object_side empty",
                ));
            }
            subject_side.clone()
        } else {
            let object_id = generated(&object_side);
            let object_side = normalise_side("object_side", object_side, object_id)?;
            if object_side.id == subject_side.id {
                return Err(RelationsError::invalid(
                    "object_side.id",
                    "both predicates have the same id: set symmetric_to_itself for such a type",
                ));
            }
            object_side
        };
        let owners = self.read_model.predicate_owners().await?;
        for id in [&subject_side.id, &object_side.id] {
            if let Some(owner) = owners.get(id) {
                return Err(RelationsError::PredicateTaken {
                    id: id.clone(),
                    type_id: owner.clone(),
                });
            }
        }
        let state = self.load_type(&subject_side.id).await?;
        let events = relation_type::decide(
            &state,
            Command::Create(pb::RelationTypeCreated {
                subject_side: Some(subject_side),
                object_side: Some(object_side),
                symmetric_to_itself,
                custom: !internal,
                internal,
                copiable,
            }),
        )?;
        self.append_type(state, ExpectedVersion::NoStream, events, context)
            .await
    }

    pub async fn update_type(
        &self,
        id: &str,
        expected_version: Option<u64>,
        changes: TypeChanges,
        context: &RequestContext,
    ) -> Result<RelationType, RelationsError> {
        let state = self.load_live_type(id).await?;
        check_expected(&state, expected_version)?;
        let subject_side = normalise_side(
            "subject_side",
            changes.subject_side,
            Some(state.subject_side.id.clone()),
        )?;
        let object_side = if state.symmetric_to_itself {
            subject_side.clone()
        } else {
            normalise_side(
                "object_side",
                changes.object_side,
                Some(state.object_side.id.clone()),
            )?
        };
        let events = relation_type::decide(
            &state,
            Command::Change {
                subject_side,
                object_side,
                copiable: changes.copiable,
            },
        )?;
        let proposed = events.iter().fold(state.clone(), relation_type::evolve);
        let broken = self.count_broken_relations(&proposed).await?;
        if broken > 0 {
            return Err(RelationsError::FailedPrecondition(format!(
                "{broken} existing relation(s) of type {:?} would break the new constraints; \
                 delete them first or keep the constraints",
                state.id
            )));
        }
        let expected = ExpectedVersion::Exactly(state.version);
        self.append_type(state, expected, events, context).await
    }

    async fn count_broken_relations(&self, proposed: &RelationType) -> Result<u64, RelationsError> {
        let relations = self.read_model.relations_of_type(proposed).await?;
        if relations.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = relations
            .iter()
            .flat_map(|r| [r.subject.id.as_str(), r.object.id.as_str()])
            .collect();
        let entities = self.read_model.entities(&ids).await?;
        let pairs: Vec<(Entity, Entity)> = relations
            .iter()
            .filter_map(|r| {
                let subject = entities.get(&r.subject.id)?.clone();
                let object = entities.get(&r.object.id)?.clone();
                // Oriented on the type's subject predicate.
                Some(if r.predicate == proposed.subject_side.id {
                    (subject, object)
                } else {
                    (object, subject)
                })
            })
            .collect();
        Ok(count_violations(proposed, &pairs))
    }

    pub async fn set_type_enabled(
        &self,
        id: &str,
        enabled: bool,
        context: &RequestContext,
    ) -> Result<RelationType, RelationsError> {
        let state = self.load_live_type(id).await?;
        let events = relation_type::decide(&state, Command::SetEnabled(enabled))?;
        let expected = ExpectedVersion::Exactly(state.version);
        self.append_type(state, expected, events, context).await
    }

    /// Deletes a custom type. With relations, refused unless `cascade`:
    /// then the type is disabled first (no new relation can slip in), and
    /// its relations are deleted with it in one append.
    pub async fn delete_type(
        &self,
        id: &str,
        cascade: bool,
        context: &RequestContext,
    ) -> Result<u64, RelationsError> {
        let mut state = self.load_live_type(id).await?;
        // Refuses a built-in type before anything else.
        relation_type::decide(
            &state,
            Command::Delete {
                relations_removed: 0,
            },
        )?;
        let (_, count) = self.get_type(&state.id).await?;
        if count > 0 && !cascade {
            return Err(RelationsError::FailedPrecondition(format!(
                "relation type {:?} still has {count} relation(s); delete them first, or delete with cascade",
                state.id
            )));
        }
        if count > 0 && state.enabled {
            state = self.set_type_enabled(&state.id, false, context).await?;
        }
        let relations = self.read_model.relations_of_type(&state).await?;
        let removed = relations.len() as u64;
        let events = relation_type::decide(
            &state,
            Command::Delete {
                relations_removed: removed,
            },
        )?;
        let mut streams: Vec<StreamAppend> = relations
            .iter()
            .map(|r| deletion(r, pb::DeletionCause::TypeDeleted, None))
            .collect();
        streams.push(StreamAppend {
            stream_id: relation_type_stream(&state.id),
            expected: ExpectedVersion::Exactly(state.version),
            events: events.into_iter().map(relation_type_event).collect(),
            encrypt_for_subject: None,
        });
        self.store
            .append(AppendRequest {
                streams,
                metadata: metadata(context),
                forget_subjects: Vec::new(),
            })
            .await?;
        tracing::info!(relation_type = %state.id, removed, "relation type deleted");
        Ok(removed)
    }

    async fn load_type(&self, type_id: &str) -> Result<RelationType, RelationsError> {
        let mut state = RelationType::new(type_id);
        for event in self
            .store
            .read_stream(&relation_type_stream(type_id), 0, u32::MAX)
            .await?
        {
            let decoded =
                pb::RelationTypeEvent::decode(event.payload.as_slice()).map_err(|error| {
                    RelationsError::Internal(format!(
                        "event {} does not decode: {error}",
                        event.event_id
                    ))
                })?;
            if let Some(domain_event) = decoded.event {
                state = relation_type::evolve(state, &domain_event);
            }
        }
        Ok(state)
    }

    /// The type of `predicate` (either side), from its events.
    async fn load_live_type(&self, predicate: &str) -> Result<RelationType, RelationsError> {
        let (known, _) = self.get_type(predicate).await?;
        let state = self.load_type(&known.id).await?;
        if !state.is_live() {
            return Err(RelationsError::NotFound {
                kind: "relation type",
                id: predicate.to_owned(),
            });
        }
        Ok(state)
    }

    async fn append_type(
        &self,
        state: RelationType,
        expected: ExpectedVersion,
        events: Vec<pb::relation_type_event::Event>,
        context: &RequestContext,
    ) -> Result<RelationType, RelationsError> {
        if events.is_empty() {
            return Ok(state);
        }
        self.store
            .append(AppendRequest {
                streams: vec![StreamAppend {
                    stream_id: relation_type_stream(&state.id),
                    expected,
                    events: events.iter().cloned().map(relation_type_event).collect(),
                    encrypt_for_subject: None,
                }],
                metadata: metadata(context),
                forget_subjects: Vec::new(),
            })
            .await?;
        Ok(events.iter().fold(state, relation_type::evolve))
    }

    // ---- relations ------------------------------------------------------

    /// Creates every triple or none. With `skip_existing`, triples that
    /// exist (or whose mirror does) are left out instead of refused;
    /// returns the relations created and how many were skipped.
    pub async fn create_relations(
        &self,
        triples: Vec<TripleRequest>,
        skip_existing: bool,
        context: &RequestContext,
    ) -> Result<(Vec<StoredRelation>, u32), RelationsError> {
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
        let mut created = Vec::new();
        let mut streams = Vec::new();
        let mut skipped = 0u32;
        let metadata = metadata(context);
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
                    continue;
                }
                let (relation_id, mirror) = match existing {
                    Some((id, true)) => (id, ""),
                    Some((id, false)) => (id, ", as the mirror of the triple created"),
                    None => (String::new(), ", repeated in this request"),
                };
                return Err(at(
                    &prefix,
                    RelationsError::RelationExists {
                        triple: describe_triple(&subject, &predicate, &object),
                        relation_id,
                        mirror,
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
        if streams.is_empty() {
            return Ok((created, skipped));
        }
        self.store
            .append(AppendRequest {
                streams,
                metadata,
                forget_subjects: Vec::new(),
            })
            .await?;
        Ok((created, skipped))
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
                metadata: metadata(context),
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

    // ---- queries ---------------------------------------------------------

    pub async fn entity_relations(
        &self,
        filter: &EntityRelationsFilter,
    ) -> Result<Page<EntityRelationRow>, RelationsError> {
        self.read_model.entity_relations(filter).await
    }

    /// Triples matching `subject`, `predicate`, `object`, each possibly open.
    pub async fn triples(
        &self,
        subject: Option<EntityRef>,
        predicate: Option<String>,
        object: Option<EntityRef>,
        after: Option<(String, String, String)>,
        limit: u32,
    ) -> Result<Page<TripleRow>, RelationsError> {
        let mut pattern = RowPattern {
            after,
            limit,
            ..Default::default()
        };
        match (subject, object) {
            (Some(subject), object) => {
                pattern.row_subject = Some(subject.id);
                pattern.row_predicate = predicate;
                pattern.row_object = object.map(|o| o.id);
            }
            (None, Some(object)) => {
                // Read from the object: the mirrors answer.
                pattern.row_subject = Some(object.id);
                pattern.row_predicate = match predicate {
                    Some(predicate) => Some(self.symmetric_of(&predicate).await?),
                    None => None,
                };
                pattern.flip = true;
            }
            (None, None) => pattern.row_predicate = predicate,
        }
        self.read_model.triples(&pattern).await
    }

    async fn symmetric_of(&self, predicate: &str) -> Result<String, RelationsError> {
        let (relation_type, _) = self.get_type(predicate).await?;
        Ok(relation_type
            .orientation(predicate)
            .map(|o| o.object.id.clone())
            .unwrap_or_default())
    }

    /// Paths from `start` along `predicates`, with the label of every step.
    pub async fn paths(
        &self,
        start: &EntityRef,
        predicates: &[String],
        limit: u32,
    ) -> Result<(Vec<Vec<Entity>>, bool), RelationsError> {
        for (index, predicate) in predicates.iter().enumerate() {
            self.get_type(predicate)
                .await
                .map_err(|error| at(&format!("predicates[{index}]"), error))?;
        }
        let mut paths = self.read_model.paths(&start.id, predicates, limit).await?;
        let truncated = paths.len() > limit as usize;
        paths.truncate(limit as usize);
        let ids: Vec<&str> = paths.iter().flatten().map(|e| e.id.as_str()).collect();
        let entities = self.read_model.entities(&ids).await?;
        let labelled = paths
            .into_iter()
            .map(|path| {
                path.into_iter()
                    .map(|reference| match entities.get(&reference.id) {
                        Some(entity) => entity.clone(),
                        None => unknown_entity(reference),
                    })
                    .collect()
            })
            .collect();
        Ok((labelled, truncated))
    }

    pub async fn predicate_counts(
        &self,
        entity: &EntityRef,
    ) -> Result<Vec<(String, String, u64)>, RelationsError> {
        self.read_model.predicate_counts(&entity.id).await
    }

    pub async fn entity(&self, entity: &EntityRef) -> Result<Entity, RelationsError> {
        self.read_model
            .entities(&[entity.id.as_str()])
            .await?
            .remove(&entity.id)
            .ok_or_else(|| RelationsError::UnknownEntity {
                entity: describe(entity),
            })
    }

    /// Refuses a purge while internal relations hold the entity: returns
    /// their count and why.
    pub async fn check_purge(&self, entity: &EntityRef) -> Result<(u64, String), RelationsError> {
        let internal = self.read_model.internal_relations(&entity.id).await?;
        let count: u64 = internal.iter().map(|(_, n)| n).sum();
        if count == 0 {
            return Ok((0, String::new()));
        }
        let by_predicate = internal
            .iter()
            .map(|(predicate, n)| format!("{predicate}: {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        Ok((
            count,
            format!(
                "{} still has {count} internal relation(s) ({by_predicate}); the service that made them must remove them first",
                describe(entity)
            ),
        ))
    }

    /// The registry's entities among `ids`; waits a little for those it
    /// does not know yet, as their creation may still be on its way.
    async fn entities_arrived(
        &self,
        ids: &[&str],
    ) -> Result<HashMap<String, Entity>, RelationsError> {
        let wanted: HashSet<&str> = ids.iter().copied().collect();
        let deadline = tokio::time::Instant::now() + self.arrival_wait;
        let mut arrivals = self.arrivals.clone();
        loop {
            arrivals.borrow_and_update();
            let found = self.read_model.entities(ids).await?;
            if found.len() >= wanted.len() || tokio::time::Instant::now() >= deadline {
                return Ok(found);
            }
            match tokio::time::timeout_at(deadline, arrivals.changed()).await {
                Ok(Ok(())) => {}
                // The registry stopped, or time is up: answer with what is known.
                Ok(Err(_)) | Err(_) => return self.read_model.entities(ids).await,
            }
        }
    }
}

/// Bulk calls are one transaction; this keeps it reasonable.
pub const MAX_TRIPLES_PER_CALL: usize = 1_000;

fn at(prefix: &str, error: RelationsError) -> RelationsError {
    if prefix.is_empty() {
        error
    } else {
        error.at(prefix)
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

fn unknown_entity(reference: EntityRef) -> Entity {
    Entity {
        reference,
        label: String::new(),
        tags: Vec::new(),
        in_trash: false,
        state: crate::domain::entity::EntityState::Live,
        merged_into: String::new(),
    }
}

/// The event deleting `relation` (and its mirror).
fn deletion(
    relation: &StoredRelation,
    cause: pb::DeletionCause,
    cause_entity: Option<EntityRef>,
) -> StreamAppend {
    StreamAppend {
        stream_id: relation_stream(&relation.id),
        expected: ExpectedVersion::Exactly(1),
        events: vec![relation_event(pb::relation_event::Event::Deleted(
            pb::RelationDeleted {
                subject: Some(relation.subject.clone()),
                predicate: relation.predicate.clone(),
                object: Some(relation.object.clone()),
                symmetric_predicate: relation.symmetric_predicate.clone(),
                cause: cause as i32,
                cause_entity,
            },
        ))],
        encrypt_for_subject: None,
    }
}

fn check_expected(state: &RelationType, expected: Option<u64>) -> Result<(), RelationsError> {
    match expected {
        Some(expected) if expected != state.version => Err(RelationsError::VersionConflict {
            id: state.id.clone(),
            expected,
            actual: state.version,
        }),
        _ => Ok(()),
    }
}

fn system_context() -> RequestContext {
    RequestContext {
        actor: crate::reactions::SYSTEM_ACTOR.to_owned(),
        correlation_id: Uuid::now_v7().to_string(),
        traceparent: String::new(),
    }
}
