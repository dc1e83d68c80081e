//! The application layer: commands on relation types and relations,
//! checked against the read models and the entity registry, appended with
//! optimistic concurrency; queries answered from the read models.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use liaison_eventstore::aggregate::{self, Versioned};
use liaison_eventstore::{EventStore, ExpectedVersion, StreamAppend};
use liaison_proto::common::v1::EntityRef;
use liaison_proto::relations::v1 as pb;
use tokio::sync::watch;

use crate::domain::entity::Entity;
use crate::domain::relation_type::{self, RelationType};
use crate::domain::{describe, Caller};
use crate::events::{relation_event, relation_stream};
use crate::storage::{
    EntityRelationRow, EntityRelationsFilter, Page, ReadModel, RowPattern, StoredRelation,
    TripleRow,
};
use crate::RelationsError;

/// How long a command waits for an entity it does not know yet: one just
/// created in its own service reaches this one through the bus.
pub const DEFAULT_ARRIVAL_WAIT: Duration = Duration::from_secs(2);

pub use liaison_runtime::RequestContext;

/// The system is a caller whose identity says so: one signed by another
/// service, or a call from inside this process.
fn caller(context: &RequestContext) -> Caller {
    if context.is_system() {
        Caller::System
    } else {
        Caller::User
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

/// What a create did: the relations created, and with `skip_existing`
/// how many triples existed and the relations holding them.
#[derive(Debug, Clone, Default)]
pub struct CreatedRelations {
    pub created: Vec<StoredRelation>,
    pub skipped: u32,
    pub existing: Vec<StoredRelation>,
}

/// What a type edit sets.
#[derive(Debug, Clone)]
pub struct TypeChanges {
    pub subject_side: Option<pb::PredicateSide>,
    pub object_side: Option<pb::PredicateSide>,
    pub copiable: bool,
}

mod relations;
mod types;

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
            let installing = aggregate::execute_new::<RelationType>(
                self.store.as_ref(),
                &id,
                &system_context().event_metadata(),
                relation_type::Command::Create(created),
            )
            .await;
            match installing {
                Ok(_) => installed += 1,
                // Another process installed it meanwhile.
                Err(RelationsError::VersionConflict { .. }) => {}
                Err(other) => return Err(other),
            }
        }
        if installed > 0 {
            tracing::info!(installed, "built-in relation types installed");
        }
        Ok(installed)
    }

    // ---- queries ---------------------------------------------------------

    /// The changes to `entity`'s relations, newest first.
    pub async fn relation_history(
        &self,
        entity: Option<EntityRef>,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<crate::storage::RelationHistoryRow>, RelationsError> {
        let entity = crate::domain::entity_ref("entity", entity)?;
        self.read_model
            .relation_history(&entity.id, before, limit)
            .await
    }

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
            (None, None) => {
                if let Some(predicate) = &predicate {
                    let (relation_type, _) = self.get_type(predicate).await?;
                    pattern.forward_only = relation_type.symmetric_to_itself;
                }
                pattern.row_predicate = predicate;
            }
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

fn system_context() -> RequestContext {
    RequestContext::system(crate::SERVICE)
}
