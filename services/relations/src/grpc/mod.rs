//! Thin gRPC handlers: convert the request (destructuring it whole, so a new
//! proto field does not compile until handled), call the application, map
//! errors in one place. The conversions are in [`convert`].

mod convert;

use std::sync::Arc;

use liaison_eventstore::micros_to_timestamp;
use liaison_proto::relations::v1 as pb;
use liaison_proto::relations::v1::relation_service_server::RelationService;
use liaison_runtime::errors::to_status;
use liaison_runtime::paging::{self, page_size};
use tonic::{Request, Response, Status};

use crate::app::{RelationsApp, RequestContext, TripleRequest, TypeChanges};
use crate::domain::{entity_kind, entity_ref, predicate_id};
use crate::storage::EntityRelationsFilter;
use crate::RelationsError;

/// The listings whose pages continue with a token.
const ENTITY_RELATIONS: &str = "relations.entity_relations";
const TRIPLES: &str = "relations.triples";
const CANDIDATES: &str = "relations.candidate_objects";
const HISTORY: &str = "relations.relation_history";
const DEFAULT_PATH_LIMIT: u32 = 100;
const MAX_PATH_LIMIT: u32 = 1_000;
const MAX_HOPS: usize = 4;

/// The routable server type, e.g. for health reporting.
pub type RelationsGrpcServer = pb::relation_service_server::RelationServiceServer<RelationsGrpc>;

pub struct RelationsGrpc {
    app: Arc<RelationsApp>,
}

impl RelationsGrpc {
    pub fn new(app: Arc<RelationsApp>) -> Self {
        Self { app }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(result: Result<T, RelationsError>) -> Reply<T> {
    result.map(Response::new).map_err(|error| to_status(&error))
}

fn context<T>(request: &Request<T>) -> RequestContext {
    RequestContext::of(request)
}
use convert::{
    created_response, entity_to_proto, next_token, pattern_end, relation_to_proto, type_to_proto,
};

#[tonic::async_trait]
impl RelationService for RelationsGrpc {
    async fn list_relation_types(
        &self,
        request: Request<pb::ListRelationTypesRequest>,
    ) -> Reply<pb::ListRelationTypesResponse> {
        let pb::ListRelationTypesRequest {
            include_disabled,
            include_internal,
            subject_kind,
        } = request.into_inner();
        let result = async {
            let subject_kind = match subject_kind.trim() {
                "" => None,
                kind => Some(entity_kind("subject_kind", kind)?),
            };
            let mut types = self
                .app
                .list_types(include_disabled, include_internal)
                .await?;
            let mut predicates = Vec::new();
            if let Some(kind) = &subject_kind {
                for (relation_type, _) in &types {
                    let mut sides = vec![(&relation_type.subject_side, &relation_type.object_side)];
                    if !relation_type.symmetric_to_itself {
                        sides.push((&relation_type.object_side, &relation_type.subject_side));
                    }
                    for (side, other) in sides {
                        if side.kinds.is_empty() || side.kinds.contains(kind) {
                            predicates.push(pb::PredicateChoice {
                                predicate: side.id.clone(),
                                label: side.label.clone(),
                                type_id: relation_type.id.clone(),
                                object_kinds: other.kinds.clone(),
                            });
                        }
                    }
                }
                predicates.sort_by(|a, b| a.label.cmp(&b.label));
                // The types offering one of these predicates, not every type.
                types.retain(|(relation_type, _)| {
                    predicates
                        .iter()
                        .any(|choice| choice.type_id == relation_type.id)
                });
            }
            Ok(pb::ListRelationTypesResponse {
                types: types.into_iter().map(type_to_proto).collect(),
                predicates,
            })
        }
        .await;
        reply(result)
    }

    async fn get_relation_type(
        &self,
        request: Request<pb::GetRelationTypeRequest>,
    ) -> Reply<pb::RelationType> {
        let pb::GetRelationTypeRequest { id } = request.into_inner();
        reply(self.app.get_type(&id).await.map(type_to_proto))
    }

    async fn create_relation_type(
        &self,
        request: Request<pb::CreateRelationTypeRequest>,
    ) -> Reply<pb::RelationType> {
        let context = context(&request);
        let result = self.app.create_type(request.into_inner(), &context).await;
        reply(result.map(|created| created.to_proto(0)))
    }

    async fn update_relation_type(
        &self,
        request: Request<pb::UpdateRelationTypeRequest>,
    ) -> Reply<pb::RelationType> {
        let context = context(&request);
        let pb::UpdateRelationTypeRequest {
            id,
            expected_version,
            subject_side,
            object_side,
            copiable,
        } = request.into_inner();
        let result = async {
            let changes = TypeChanges {
                subject_side,
                object_side,
                copiable,
            };
            let updated = self
                .app
                .update_type(&id, expected_version, changes, &context)
                .await?;
            self.app.get_type(&updated.id).await
        }
        .await;
        reply(result.map(type_to_proto))
    }

    async fn set_relation_type_enabled(
        &self,
        request: Request<pb::SetRelationTypeEnabledRequest>,
    ) -> Reply<pb::RelationType> {
        let context = context(&request);
        let pb::SetRelationTypeEnabledRequest { id, enabled } = request.into_inner();
        let result = async {
            let updated = self.app.set_type_enabled(&id, enabled, &context).await?;
            self.app.get_type(&updated.id).await
        }
        .await;
        reply(result.map(type_to_proto))
    }

    async fn delete_relation_type(
        &self,
        request: Request<pb::DeleteRelationTypeRequest>,
    ) -> Reply<pb::DeleteRelationTypeResponse> {
        let context = context(&request);
        let pb::DeleteRelationTypeRequest { id, cascade } = request.into_inner();
        let result = self.app.delete_type(&id, cascade, &context).await;
        reply(result.map(|relations_removed| pb::DeleteRelationTypeResponse { relations_removed }))
    }

    async fn create_relation(
        &self,
        request: Request<pb::CreateRelationRequest>,
    ) -> Reply<pb::Relation> {
        let context = context(&request);
        let pb::CreateRelationRequest {
            subject,
            predicate,
            object,
        } = request.into_inner();
        let triple = TripleRequest {
            field: String::new(),
            subject,
            predicate,
            object,
        };
        let result = self
            .app
            .create_relations(vec![triple], false, &context)
            .await;
        reply(result.and_then(|mut outcome| {
            outcome
                .created
                .pop()
                .map(relation_to_proto)
                .ok_or_else(|| RelationsError::Internal("no relation created".into()))
        }))
    }

    async fn create_relations(
        &self,
        request: Request<pb::CreateRelationsRequest>,
    ) -> Reply<pb::CreateRelationsResponse> {
        let context = context(&request);
        let pb::CreateRelationsRequest {
            triples,
            skip_existing,
        } = request.into_inner();
        let triples = triples
            .into_iter()
            .enumerate()
            .map(
                |(
                    index,
                    pb::Triple {
                        subject,
                        predicate,
                        object,
                    },
                )| TripleRequest {
                    field: format!("triples[{index}]"),
                    subject,
                    predicate,
                    object,
                },
            )
            .collect();
        let result = self
            .app
            .create_relations(triples, skip_existing, &context)
            .await;
        reply(result.map(created_response))
    }

    async fn add_relations_to_subjects(
        &self,
        request: Request<pb::AddRelationsToSubjectsRequest>,
    ) -> Reply<pb::CreateRelationsResponse> {
        let context = context(&request);
        let pb::AddRelationsToSubjectsRequest {
            subjects,
            relations,
            skip_existing,
        } = request.into_inner();
        let result = async {
            if subjects.is_empty() || relations.is_empty() {
                return Err(RelationsError::invalid(
                    if subjects.is_empty() {
                        "subjects"
                    } else {
                        "relations"
                    },
                    "at least one is required",
                ));
            }
            let mut triples = Vec::with_capacity(subjects.len() * relations.len());
            for (s, subject) in subjects.iter().enumerate() {
                for (r, pb::PredicateObject { predicate, object }) in relations.iter().enumerate() {
                    triples.push(TripleRequest {
                        field: format!("subjects[{s}].relations[{r}]"),
                        subject: Some(subject.clone()),
                        predicate: predicate.clone(),
                        object: object.clone(),
                    });
                }
            }
            self.app
                .create_relations(triples, skip_existing, &context)
                .await
        }
        .await;
        reply(result.map(created_response))
    }

    async fn get_relation(&self, request: Request<pb::GetRelationRequest>) -> Reply<pb::Relation> {
        let pb::GetRelationRequest { id } = request.into_inner();
        reply(self.app.get_relation(&id).await.map(relation_to_proto))
    }

    async fn delete_relation(
        &self,
        request: Request<pb::DeleteRelationRequest>,
    ) -> Reply<pb::DeleteRelationResponse> {
        let context = context(&request);
        let pb::DeleteRelationRequest { id } = request.into_inner();
        let result = self.app.delete_relation(&id, &context).await;
        reply(result.map(|()| pb::DeleteRelationResponse {}))
    }

    async fn delete_triple(
        &self,
        request: Request<pb::DeleteTripleRequest>,
    ) -> Reply<pb::DeleteTripleResponse> {
        let context = context(&request);
        let pb::DeleteTripleRequest {
            subject,
            predicate,
            object,
        } = request.into_inner();
        let result = self
            .app
            .delete_triple(subject, &predicate, object, &context)
            .await;
        reply(result.map(|relation_id| pb::DeleteTripleResponse { relation_id }))
    }

    async fn delete_entity_relations(
        &self,
        request: Request<pb::DeleteEntityRelationsRequest>,
    ) -> Reply<pb::DeleteEntityRelationsResponse> {
        let context = context(&request);
        let pb::DeleteEntityRelationsRequest {
            entity,
            predicate,
            other_kinds,
        } = request.into_inner();
        let result = self
            .app
            .delete_relations_from(entity, &predicate, &other_kinds, &context)
            .await;
        reply(result.map(|deleted| pb::DeleteEntityRelationsResponse { deleted }))
    }

    async fn list_relation_history(
        &self,
        request: Request<pb::ListRelationHistoryRequest>,
    ) -> Reply<pb::ListRelationHistoryResponse> {
        let pb::ListRelationHistoryRequest {
            entity,
            page_size: requested,
            page_token: token,
        } = request.into_inner();
        let result = async {
            let before = match paging::decode_token(HISTORY, &token, 1)? {
                Some(key) => Some(key[0].parse::<u64>().map_err(|_| {
                    RelationsError::invalid("page_token", "not a token of this listing")
                })?),
                None => None,
            };
            let limit = page_size(requested)?;
            let mut rows = self.app.relation_history(entity, before, limit + 1).await?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let next = rows
                .last()
                .filter(|_| more)
                .map(|last| vec![last.position.to_string()]);
            Ok(pb::ListRelationHistoryResponse {
                changes: rows
                    .into_iter()
                    .map(|row| pb::RelationChange {
                        relation_id: row.relation_id,
                        change: row.change,
                        predicate: row.predicate,
                        predicate_label: row.predicate_label,
                        other: Some(row.other),
                        other_label: row.other_label,
                        cause: row.cause,
                        actor: row.actor,
                        occurred_at: Some(micros_to_timestamp(row.occurred_at)),
                    })
                    .collect(),
                next_page_token: next_token(HISTORY, next),
            })
        }
        .await;
        reply(result)
    }

    async fn copy_relations(
        &self,
        request: Request<pb::CopyRelationsRequest>,
    ) -> Reply<pb::CopyRelationsResponse> {
        let context = context(&request);
        let pb::CopyRelationsRequest { source, target } = request.into_inner();
        let result = self.app.copy_relations(source, target, &context).await;
        reply(result.map(|(copied, left_out)| pb::CopyRelationsResponse {
            relations: copied.into_iter().map(relation_to_proto).collect(),
            left_out,
        }))
    }

    async fn list_candidate_objects(
        &self,
        request: Request<pb::ListCandidateObjectsRequest>,
    ) -> Reply<pb::ListCandidateObjectsResponse> {
        let pb::ListCandidateObjectsRequest {
            subject,
            predicate,
            label,
            page_size: requested,
            page_token: token,
        } = request.into_inner();
        let result = async {
            if label.chars().count() > 200 {
                return Err(RelationsError::invalid("label", "at most 200 characters"));
            }
            let after = paging::decode_token(CANDIDATES, &token, 2)?
                .map(|key| (key[0].clone(), key[1].clone()));
            let (entities, more) = self
                .app
                .candidate_objects(subject, &predicate, &label, after, page_size(requested)?)
                .await?;
            let next = entities
                .last()
                .filter(|_| more)
                .map(|last| vec![last.label.clone(), last.reference.id.clone()]);
            Ok(pb::ListCandidateObjectsResponse {
                entities: entities.into_iter().map(entity_to_proto).collect(),
                next_page_token: next_token(CANDIDATES, next),
            })
        }
        .await;
        reply(result)
    }

    async fn list_entity_relations(
        &self,
        request: Request<pb::ListEntityRelationsRequest>,
    ) -> Reply<pb::ListEntityRelationsResponse> {
        let pb::ListEntityRelationsRequest {
            entity,
            predicates,
            other_kinds,
            page_size: requested,
            page_token: token,
        } = request.into_inner();
        let result = async {
            let entity = entity_ref("entity", entity)?;
            let predicates = predicates
                .iter()
                .enumerate()
                .map(|(i, p)| predicate_id(&format!("predicates[{i}]"), p))
                .collect::<Result<Vec<_>, _>>()?;
            let other_kinds = other_kinds
                .iter()
                .enumerate()
                .map(|(i, k)| entity_kind(&format!("other_kinds[{i}]"), k))
                .collect::<Result<Vec<_>, _>>()?;
            let after = paging::decode_token(ENTITY_RELATIONS, &token, 2)?
                .map(|key| (key[0].clone(), key[1].clone()));
            let filter = EntityRelationsFilter {
                entity_id: entity.id,
                predicates,
                other_kinds,
                after,
                limit: page_size(requested)?,
            };
            let page = self.app.entity_relations(&filter).await?;
            Ok(pb::ListEntityRelationsResponse {
                relations: page
                    .items
                    .into_iter()
                    .map(|row| pb::EntityRelation {
                        relation_id: row.relation_id,
                        predicate: row.predicate,
                        predicate_label: row.predicate_label,
                        other: Some(row.other),
                        other_label: row.other_label,
                        other_in_trash: row.other_in_trash,
                        created_at: Some(micros_to_timestamp(row.created_at)),
                        internal: row.internal,
                    })
                    .collect(),
                next_page_token: next_token(ENTITY_RELATIONS, page.next),
                total: page.total,
            })
        }
        .await;
        reply(result)
    }

    async fn find_triples(
        &self,
        request: Request<pb::FindTriplesRequest>,
    ) -> Reply<pb::FindTriplesResponse> {
        let pb::FindTriplesRequest {
            subject,
            predicate,
            object,
            page_size: requested,
            page_token: token,
        } = request.into_inner();
        let result = async {
            let subject = pattern_end("subject", subject)?;
            let object = pattern_end("object", object)?;
            let predicate = match predicate.trim() {
                "" => None,
                given => Some(predicate_id("predicate", given)?),
            };
            let after = paging::decode_token(TRIPLES, &token, 3)?
                .map(|key| (key[0].clone(), key[1].clone(), key[2].clone()));
            let page = self
                .app
                .triples(subject, predicate, object, after, page_size(requested)?)
                .await?;
            Ok(pb::FindTriplesResponse {
                triples: page
                    .items
                    .into_iter()
                    .map(|row| pb::TripleMatch {
                        relation_id: row.relation_id,
                        subject: Some(row.subject),
                        subject_label: row.subject_label,
                        predicate: row.predicate,
                        object: Some(row.object),
                        object_label: row.object_label,
                    })
                    .collect(),
                next_page_token: next_token(TRIPLES, page.next),
                total: page.total,
            })
        }
        .await;
        reply(result)
    }

    async fn find_paths(
        &self,
        request: Request<pb::FindPathsRequest>,
    ) -> Reply<pb::FindPathsResponse> {
        let pb::FindPathsRequest {
            start,
            predicates,
            limit,
        } = request.into_inner();
        let result = async {
            let start = entity_ref("start", start)?;
            if predicates.is_empty() || predicates.len() > MAX_HOPS {
                return Err(RelationsError::invalid(
                    "predicates",
                    format!("one predicate per hop, 1 to {MAX_HOPS} hops"),
                ));
            }
            let predicates = predicates
                .iter()
                .enumerate()
                .map(|(i, p)| predicate_id(&format!("predicates[{i}]"), p))
                .collect::<Result<Vec<_>, _>>()?;
            let limit = match limit {
                0 => DEFAULT_PATH_LIMIT,
                limit if limit > MAX_PATH_LIMIT => {
                    return Err(RelationsError::invalid(
                        "limit",
                        format!("at most {MAX_PATH_LIMIT}"),
                    ))
                }
                limit => limit,
            };
            let (paths, truncated) = self.app.paths(&start, &predicates, limit).await?;
            Ok(pb::FindPathsResponse {
                paths: paths
                    .into_iter()
                    .map(|steps| pb::Path {
                        steps: steps
                            .into_iter()
                            .map(|entity| pb::PathStep {
                                entity: Some(entity.reference),
                                label: entity.label,
                            })
                            .collect(),
                    })
                    .collect(),
                truncated,
            })
        }
        .await;
        reply(result)
    }

    async fn count_predicates(
        &self,
        request: Request<pb::CountPredicatesRequest>,
    ) -> Reply<pb::CountPredicatesResponse> {
        let pb::CountPredicatesRequest { entity } = request.into_inner();
        let result = async {
            let entity = entity_ref("entity", entity)?;
            let counts = self.app.predicate_counts(&entity).await?;
            Ok(pb::CountPredicatesResponse {
                counts: counts
                    .into_iter()
                    .map(|(predicate, label, count)| pb::PredicateCount {
                        predicate,
                        label,
                        count,
                    })
                    .collect(),
            })
        }
        .await;
        reply(result)
    }

    async fn get_entity(&self, request: Request<pb::GetEntityRequest>) -> Reply<pb::Entity> {
        let pb::GetEntityRequest { entity } = request.into_inner();
        let result = async {
            let entity = entity_ref("entity", entity)?;
            self.app.entity(&entity).await
        }
        .await;
        reply(result.map(entity_to_proto))
    }

    async fn check_purge(
        &self,
        request: Request<pb::CheckPurgeRequest>,
    ) -> Reply<pb::CheckPurgeResponse> {
        let pb::CheckPurgeRequest { entity } = request.into_inner();
        let result = async {
            let entity = entity_ref("entity", entity)?;
            let (internal_relations, reason) = self.app.check_purge(&entity).await?;
            Ok(pb::CheckPurgeResponse {
                allowed: internal_relations == 0,
                internal_relations,
                reason,
            })
        }
        .await;
        reply(result)
    }
}
