//! Commands on relation types.

use liaison_eventstore::aggregate::{self, stream_append, Retries};
use liaison_eventstore::AppendRequest;
use liaison_proto::relations::v1 as pb;
use uuid::Uuid;

use super::*;
use crate::domain::entity::Entity;
use crate::domain::relation::count_violations;
use crate::domain::relation_type::{self, normalise_side, Command, RelationType};

impl RelationsApp {
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
        let id = subject_side.id.clone();
        let created = pb::RelationTypeCreated {
            subject_side: Some(subject_side),
            object_side: Some(object_side),
            symmetric_to_itself,
            custom: !internal,
            internal,
            copiable,
        };
        let created = aggregate::execute::<RelationType>(
            self.store.as_ref(),
            &id,
            None,
            &context.event_metadata(),
            |loaded| relation_type::decide(&loaded.state, Command::Create(created.clone())),
        )
        .await?;
        Ok(created.state)
    }

    pub async fn update_type(
        &self,
        id: &str,
        expected_version: Option<u64>,
        changes: TypeChanges,
        context: &RequestContext,
    ) -> Result<RelationType, RelationsError> {
        let (known, _) = self.get_type(id).await?;
        let metadata = context.event_metadata();
        let mut retries = Retries::for_expected(expected_version);
        loop {
            let loaded = self.load_live_type(&known.id).await?;
            loaded.check_expected(&known.id, expected_version)?;
            let state = &loaded.state;
            let subject_side = normalise_side(
                "subject_side",
                changes.subject_side.clone(),
                Some(state.subject_side.id.clone()),
            )?;
            let object_side = if state.symmetric_to_itself {
                subject_side.clone()
            } else {
                normalise_side(
                    "object_side",
                    changes.object_side.clone(),
                    Some(state.object_side.id.clone()),
                )?
            };
            let events = relation_type::decide(
                state,
                Command::Change {
                    subject_side,
                    object_side,
                    copiable: changes.copiable,
                },
            )?;
            if events.is_empty() {
                return Ok(loaded.state);
            }
            let proposed = loaded.clone().after(&events, metadata.occurred_at_micros);
            let broken = self.count_broken_relations(&proposed.state).await?;
            if broken > 0 {
                return Err(RelationsError::FailedPrecondition(format!(
                    "{broken} existing relation(s) of type {:?} would break the new constraints; \
                     delete them first or keep the constraints",
                    state.id
                )));
            }
            let request = AppendRequest {
                streams: vec![stream_append(&known.id, &loaded, &events)],
                metadata: metadata.clone(),
                forget_subjects: Vec::new(),
            };
            match self.store.append(request).await {
                Ok(_) => return Ok(proposed.state),
                Err(error) if retries.again(&error) => continue,
                Err(error) => return Err(error.into()),
            }
        }
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
        let (known, _) = self.get_type(id).await?;
        if known.internal && caller(context) != Caller::System {
            return Err(RelationsError::PermissionDenied(format!(
                "relation type {:?} is internal: only the system enables or disables it",
                known.id
            )));
        }
        let changed = aggregate::execute::<RelationType>(
            self.store.as_ref(),
            &known.id,
            None,
            &context.event_metadata(),
            |loaded| relation_type::decide(&loaded.state, Command::SetEnabled(enabled)),
        )
        .await?;
        Ok(changed.state)
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
        let (known, count) = self.get_type(id).await?;
        let mut state = self.load_live_type(&known.id).await?.state;
        // Refuses a built-in type before anything else.
        relation_type::decide(
            &state,
            Command::Delete {
                relations_removed: 0,
            },
        )?;
        if count > 0 && !cascade {
            return Err(RelationsError::FailedPrecondition(format!(
                "relation type {:?} still has {count} relation(s); delete them first, or delete with cascade",
                state.id
            )));
        }
        if count > 0 && state.enabled {
            state = self.set_type_enabled(&state.id, false, context).await?;
        }
        let metadata = context.event_metadata();
        let mut retries = Retries::for_expected(None);
        let removed = loop {
            let loaded = self.load_live_type(&state.id).await?;
            let relations = self.read_model.relations_of_type(&loaded.state).await?;
            let removed = relations.len() as u64;
            let events = relation_type::decide(
                &loaded.state,
                Command::Delete {
                    relations_removed: removed,
                },
            )?;
            let mut streams: Vec<_> = relations
                .iter()
                .map(|r| deletion(r, pb::DeletionCause::TypeDeleted, None))
                .collect();
            streams.push(stream_append(&state.id, &loaded, &events));
            let request = AppendRequest {
                streams,
                metadata: metadata.clone(),
                forget_subjects: Vec::new(),
            };
            match self.store.append(request).await {
                Ok(_) => break removed,
                Err(error) if retries.again(&error) => continue,
                Err(error) => return Err(error.into()),
            }
        };
        tracing::info!(relation_type = %state.id, removed, "relation type deleted");
        Ok(removed)
    }

    /// The type `type_id` from its events, if it exists and was not deleted.
    async fn load_live_type(
        &self,
        type_id: &str,
    ) -> Result<Versioned<RelationType>, RelationsError> {
        let loaded = aggregate::load::<RelationType>(self.store.as_ref(), type_id).await?;
        if !loaded.state.is_live() {
            return Err(RelationsError::NotFound {
                kind: "relation type",
                id: type_id.to_owned(),
            });
        }
        Ok(loaded)
    }
}
