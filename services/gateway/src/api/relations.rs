//! Relation types, relations, an entity's relations, patterns and paths,
//! over the relations service.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use liaison_proto::common::v1 as common;
use liaison_proto::relations::v1 as pb;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::contact_actions_dto::PageQuery;
use super::relations_dto::*;
use super::{non_empty, ApiJson, ApiQuery};
use crate::accounts::user::Permission;
use crate::auth::Staff;
use crate::error::ErrorBody;
use crate::state::AppState;
use crate::GatewayError;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_relation_types, create_relation_type))
        .routes(routes!(
            get_relation_type,
            update_relation_type,
            delete_relation_type
        ))
        .routes(routes!(enable_relation_type))
        .routes(routes!(disable_relation_type))
        .routes(routes!(create_relation))
        .routes(routes!(create_relations))
        .routes(routes!(add_relations_to_subjects))
        .routes(routes!(get_relation, delete_relation))
        .routes(routes!(entity_relations, delete_entity_relations))
        .routes(routes!(candidate_objects))
        .routes(routes!(relation_history))
        .routes(routes!(entity_predicate_counts))
        .routes(routes!(get_entity))
        .routes(routes!(find_triples, delete_triple))
        .routes(routes!(find_paths))
}

use super::Json;
type Result<T> = std::result::Result<T, GatewayError>;

fn entity_of_path(kind: String, id: String) -> common::EntityRef {
    common::EntityRef { kind, id }
}

/// Relation types; with `subject_kind`, also the predicates such an entity
/// can take.
#[utoipa::path(get, path = "/api/relation-types", tag = "relation types", params(TypeListQuery),
    responses((status = 200, body = RelationTypeList)))]
async fn list_relation_types(
    State(state): State<AppState>,
    Staff(caller): Staff,
    ApiQuery(query): ApiQuery<TypeListQuery>,
) -> Result<Json<RelationTypeList>> {
    let request = state.backends.request(
        &caller,
        pb::ListRelationTypesRequest {
            include_disabled: query.include_disabled,
            include_internal: query.include_internal,
            subject_kind: query.subject_kind,
        },
    );
    let listed = state
        .backends
        .relations()
        .list_relation_types(request)
        .await?
        .into_inner();
    Ok(Json(RelationTypeList {
        types: listed.types.into_iter().map(RelationType::from).collect(),
        predicates: listed
            .predicates
            .into_iter()
            .map(|choice| PredicateChoice {
                predicate: choice.predicate,
                label: choice.label,
                type_id: choice.type_id,
                object_kinds: choice.object_kinds,
            })
            .collect(),
    }))
}

/// Creates a custom type: a verb and its symmetric verb.
#[utoipa::path(post, path = "/api/relation-types", tag = "relation types",
    request_body = NewRelationType,
    responses((status = 201, body = RelationType), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
async fn create_relation_type(
    State(state): State<AppState>,
    Staff(caller): Staff,
    ApiJson(new): ApiJson<NewRelationType>,
) -> Result<(StatusCode, Json<RelationType>)> {
    let request = state.backends.request(
        &caller,
        pb::CreateRelationTypeRequest {
            subject_side: Some(new.subject_side.into()),
            object_side: Some(new.object_side.into()),
            symmetric_to_itself: new.symmetric_to_itself,
            copiable: new.copiable,
            internal: false,
        },
    );
    let created = state
        .backends
        .relations()
        .create_relation_type(request)
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// A type, by its id or either predicate's id.
#[utoipa::path(get, path = "/api/relation-types/{id}", tag = "relation types",
    params(("id" = String, Path)),
    responses((status = 200, body = RelationType), (status = 404, body = ErrorBody)))]
async fn get_relation_type(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
) -> Result<Json<RelationType>> {
    let request = state
        .backends
        .request(&caller, pb::GetRelationTypeRequest { id });
    let found = state
        .backends
        .relations()
        .get_relation_type(request)
        .await?
        .into_inner();
    Ok(Json(found.into()))
}

/// Edits a custom type; refused when existing relations would break.
#[utoipa::path(put, path = "/api/relation-types/{id}", tag = "relation types",
    params(("id" = String, Path)), request_body = RelationTypeChanges,
    responses((status = 200, body = RelationType), (status = 409, body = ErrorBody),
              (status = 412, body = ErrorBody)))]
async fn update_relation_type(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    ApiJson(changes): ApiJson<RelationTypeChanges>,
) -> Result<Json<RelationType>> {
    let request = state.backends.request(
        &caller,
        pb::UpdateRelationTypeRequest {
            id,
            expected_version: changes.expected_version,
            subject_side: Some(changes.subject_side.into()),
            object_side: Some(changes.object_side.into()),
            copiable: changes.copiable,
        },
    );
    let updated = state
        .backends
        .relations()
        .update_relation_type(request)
        .await?
        .into_inner();
    Ok(Json(updated.into()))
}

/// Deletes a custom type (with `cascade`, its relations too, which needs
/// the destroy permission).
#[utoipa::path(delete, path = "/api/relation-types/{id}", tag = "relation types",
    params(("id" = String, Path), CascadeQuery),
    responses((status = 200, body = DeletedType), (status = 403, body = ErrorBody), (status = 412, body = ErrorBody)))]
async fn delete_relation_type(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<CascadeQuery>,
) -> Result<Json<DeletedType>> {
    if query.cascade {
        crate::auth::require(&caller, Permission::Destroy)?;
    }
    let request = state.backends.request(
        &caller,
        pb::DeleteRelationTypeRequest {
            id,
            cascade: query.cascade,
        },
    );
    let deleted = state
        .backends
        .relations()
        .delete_relation_type(request)
        .await?
        .into_inner();
    Ok(Json(DeletedType {
        relations_removed: deleted.relations_removed,
    }))
}

async fn set_enabled(
    state: &AppState,
    caller: &crate::accounts::Caller,
    id: String,
    enabled: bool,
) -> Result<Json<RelationType>> {
    let request = state
        .backends
        .request(caller, pb::SetRelationTypeEnabledRequest { id, enabled });
    let changed = state
        .backends
        .relations()
        .set_relation_type_enabled(request)
        .await?
        .into_inner();
    Ok(Json(changed.into()))
}

#[utoipa::path(post, path = "/api/relation-types/{id}/enable", tag = "relation types",
    params(("id" = String, Path)),
    responses((status = 200, body = RelationType), (status = 404, body = ErrorBody)))]
async fn enable_relation_type(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
) -> Result<Json<RelationType>> {
    set_enabled(&state, &caller, id, true).await
}

/// Disables both predicates of a type; existing relations stay.
#[utoipa::path(post, path = "/api/relation-types/{id}/disable", tag = "relation types",
    params(("id" = String, Path)),
    responses((status = 200, body = RelationType), (status = 404, body = ErrorBody)))]
async fn disable_relation_type(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
) -> Result<Json<RelationType>> {
    set_enabled(&state, &caller, id, false).await
}

/// Creates a relation and its mirror.
#[utoipa::path(post, path = "/api/relations", tag = "relations", request_body = NewRelation,
    responses((status = 201, body = Relation), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 412, body = ErrorBody)))]
async fn create_relation(
    State(state): State<AppState>,
    Staff(caller): Staff,
    ApiJson(new): ApiJson<NewRelation>,
) -> Result<(StatusCode, Json<Relation>)> {
    let request = state.backends.request(
        &caller,
        pb::CreateRelationRequest {
            subject: Some(new.subject.into()),
            predicate: new.predicate,
            object: Some(new.object.into()),
        },
    );
    let created = state
        .backends
        .relations()
        .create_relation(request)
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Many relations at once: all or none.
#[utoipa::path(post, path = "/api/relations/batch", tag = "relations", request_body = NewRelations,
    responses((status = 201, body = CreatedRelations), (status = 400, body = ErrorBody),
              (status = 412, body = ErrorBody)))]
async fn create_relations(
    State(state): State<AppState>,
    Staff(caller): Staff,
    ApiJson(new): ApiJson<NewRelations>,
) -> Result<(StatusCode, Json<CreatedRelations>)> {
    let request = state.backends.request(
        &caller,
        pb::CreateRelationsRequest {
            triples: new
                .triples
                .into_iter()
                .map(|triple| pb::Triple {
                    subject: Some(triple.subject.into()),
                    predicate: triple.predicate,
                    object: Some(triple.object.into()),
                })
                .collect(),
            skip_existing: new.skip_existing,
        },
    );
    let created = state
        .backends
        .relations()
        .create_relations(request)
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(created_relations(created))))
}

/// The same relations added to several subjects: all or none.
#[utoipa::path(post, path = "/api/relations/to-subjects", tag = "relations",
    request_body = RelationsForSubjects,
    responses((status = 201, body = CreatedRelations), (status = 400, body = ErrorBody)))]
async fn add_relations_to_subjects(
    State(state): State<AppState>,
    Staff(caller): Staff,
    ApiJson(new): ApiJson<RelationsForSubjects>,
) -> Result<(StatusCode, Json<CreatedRelations>)> {
    let request = state.backends.request(
        &caller,
        pb::AddRelationsToSubjectsRequest {
            subjects: new.subjects.into_iter().map(Into::into).collect(),
            relations: new
                .relations
                .into_iter()
                .map(|relation| pb::PredicateObject {
                    predicate: relation.predicate,
                    object: Some(relation.object.into()),
                })
                .collect(),
            skip_existing: new.skip_existing,
        },
    );
    let created = state
        .backends
        .relations()
        .add_relations_to_subjects(request)
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(created_relations(created))))
}

fn created_relations(created: pb::CreateRelationsResponse) -> CreatedRelations {
    CreatedRelations {
        relations: created.relations.into_iter().map(Relation::from).collect(),
        skipped: created.skipped,
        existing: created.existing.into_iter().map(Relation::from).collect(),
    }
}

#[utoipa::path(get, path = "/api/relations/{id}", tag = "relations",
    params(("id" = String, Path)),
    responses((status = 200, body = Relation), (status = 404, body = ErrorBody)))]
async fn get_relation(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
) -> Result<Json<Relation>> {
    let request = state
        .backends
        .request(&caller, pb::GetRelationRequest { id });
    let found = state
        .backends
        .relations()
        .get_relation(request)
        .await?
        .into_inner();
    Ok(Json(found.into()))
}

/// Deletes a relation and its mirror.
#[utoipa::path(delete, path = "/api/relations/{id}", tag = "relations",
    params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_relation(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let request = state
        .backends
        .request(&caller, pb::DeleteRelationRequest { id });
    state.backends.relations().delete_relation(request).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The relations of an entity, in either direction, seen from it.
#[utoipa::path(get, path = "/api/entities/{kind}/{id}/relations", tag = "relations",
    params(("kind" = String, Path, example = "contacts.organisation"), ("id" = String, Path),
           EntityRelationsQuery),
    responses((status = 200, body = EntityRelationPage), (status = 400, body = ErrorBody)))]
async fn entity_relations(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path((kind, id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<EntityRelationsQuery>,
) -> Result<Json<EntityRelationPage>> {
    let request = state.backends.request(
        &caller,
        pb::ListEntityRelationsRequest {
            entity: Some(entity_of_path(kind, id)),
            predicates: split_list(&query.predicates),
            other_kinds: split_list(&query.other_kinds),
            page_size: query.limit.unwrap_or(0),
            page_token: query.cursor,
        },
    );
    let page = state
        .backends
        .relations()
        .list_entity_relations(request)
        .await?
        .into_inner();
    Ok(Json(EntityRelationPage {
        items: page
            .relations
            .into_iter()
            .map(EntityRelation::from)
            .collect(),
        next_cursor: non_empty(page.next_page_token),
        total: page.total,
    }))
}

/// Deletes every relation of one predicate from an entity (as seen from
/// it), only those whose other end is of `other_kinds` when given.
#[utoipa::path(delete, path = "/api/entities/{kind}/{id}/relations", tag = "relations",
    params(("kind" = String, Path, example = "contacts.organisation"), ("id" = String, Path),
           RelationsToDelete),
    responses((status = 200, body = DeletedRelations), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_entity_relations(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path((kind, id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<RelationsToDelete>,
) -> Result<Json<DeletedRelations>> {
    let request = state.backends.request(
        &caller,
        pb::DeleteEntityRelationsRequest {
            entity: Some(entity_of_path(kind, id)),
            predicate: query.predicate,
            other_kinds: split_list(&query.other_kinds),
        },
    );
    let deleted = state
        .backends
        .relations()
        .delete_entity_relations(request)
        .await?
        .into_inner();
    Ok(Json(DeletedRelations {
        deleted: deleted.deleted,
    }))
}

/// The entities this one could take as objects of a predicate: of the
/// kinds and tags it asks, live, out of the trash, not related so yet.
#[utoipa::path(get, path = "/api/entities/{kind}/{id}/candidates", tag = "relations",
    params(("kind" = String, Path, example = "contacts.organisation"), ("id" = String, Path),
           CandidatesQuery),
    responses((status = 200, body = CandidatePage), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
async fn candidate_objects(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path((kind, id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<CandidatesQuery>,
) -> Result<Json<CandidatePage>> {
    let request = state.backends.request(
        &caller,
        pb::ListCandidateObjectsRequest {
            subject: Some(entity_of_path(kind, id)),
            predicate: query.predicate,
            label: query.label,
            page_size: query.limit.unwrap_or(0),
            page_token: query.cursor,
        },
    );
    let page = state
        .backends
        .relations()
        .list_candidate_objects(request)
        .await?
        .into_inner();
    Ok(Json(CandidatePage {
        items: page.entities.into_iter().map(Entity::from).collect(),
        next_cursor: non_empty(page.next_page_token),
    }))
}

/// The relations added to and removed from an entity, newest first, with
/// who did it and why.
#[utoipa::path(get, path = "/api/entities/{kind}/{id}/history", tag = "relations",
    params(("kind" = String, Path, example = "contacts.organisation"), ("id" = String, Path),
           PageQuery),
    responses((status = 200, body = RelationHistoryPage), (status = 400, body = ErrorBody)))]
async fn relation_history(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path((kind, id)): Path<(String, String)>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Json<RelationHistoryPage>> {
    let request = state.backends.request(
        &caller,
        pb::ListRelationHistoryRequest {
            entity: Some(entity_of_path(kind, id)),
            page_size: query.limit.unwrap_or(0),
            page_token: query.cursor,
        },
    );
    let page = state
        .backends
        .relations()
        .list_relation_history(request)
        .await?
        .into_inner();
    Ok(Json(RelationHistoryPage {
        items: page.changes.into_iter().map(RelationChange::from).collect(),
        next_cursor: non_empty(page.next_page_token),
    }))
}

/// How many relations an entity has per predicate.
#[utoipa::path(get, path = "/api/entities/{kind}/{id}/predicate-counts", tag = "relations",
    params(("kind" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = [PredicateCount])))]
async fn entity_predicate_counts(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<Vec<PredicateCount>>> {
    let request = state.backends.request(
        &caller,
        pb::CountPredicatesRequest {
            entity: Some(entity_of_path(kind, id)),
        },
    );
    let counts = state
        .backends
        .relations()
        .count_predicates(request)
        .await?
        .into_inner();
    Ok(Json(
        counts
            .counts
            .into_iter()
            .map(|count| PredicateCount {
                predicate: count.predicate,
                label: count.label,
                count: count.count,
            })
            .collect(),
    ))
}

/// What the relations service knows of an entity.
#[utoipa::path(get, path = "/api/entities/{kind}/{id}", tag = "relations",
    params(("kind" = String, Path), ("id" = String, Path)),
    responses((status = 200, body = Entity), (status = 404, body = ErrorBody)))]
async fn get_entity(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path((kind, id)): Path<(String, String)>,
) -> Result<Json<Entity>> {
    let request = state.backends.request(
        &caller,
        pb::GetEntityRequest {
            entity: Some(entity_of_path(kind, id)),
        },
    );
    let found = state
        .backends
        .relations()
        .get_entity(request)
        .await?
        .into_inner();
    Ok(Json(found.into()))
}

/// Triples matching a pattern: any of subject, predicate, object open.
#[utoipa::path(get, path = "/api/triples", tag = "relations", params(TripleQuery),
    responses((status = 200, body = TriplePage), (status = 400, body = ErrorBody)))]
async fn find_triples(
    State(state): State<AppState>,
    Staff(caller): Staff,
    ApiQuery(query): ApiQuery<TripleQuery>,
) -> Result<Json<TriplePage>> {
    let optional_entity = |field: &str, value: &str| {
        if value.is_empty() {
            Ok(None)
        } else {
            parse_entity(field, value).map(Some)
        }
    };
    let request = state.backends.request(
        &caller,
        pb::FindTriplesRequest {
            subject: optional_entity("subject", &query.subject)?,
            predicate: query.predicate,
            object: optional_entity("object", &query.object)?,
            page_size: query.limit.unwrap_or(0),
            page_token: query.cursor,
        },
    );
    let page = state
        .backends
        .relations()
        .find_triples(request)
        .await?
        .into_inner();
    Ok(Json(TriplePage {
        items: page.triples.into_iter().map(TripleMatch::from).collect(),
        next_cursor: non_empty(page.next_page_token),
        total: page.total,
    }))
}

/// Deletes the relation holding a triple, named as created or as its
/// mirror (`has_prospect` with the ends swapped).
#[utoipa::path(delete, path = "/api/triples", tag = "relations", params(TripleToDelete),
    responses((status = 200, body = DeletedTriple), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn delete_triple(
    State(state): State<AppState>,
    Staff(caller): Staff,
    ApiQuery(query): ApiQuery<TripleToDelete>,
) -> Result<Json<DeletedTriple>> {
    let request = state.backends.request(
        &caller,
        pb::DeleteTripleRequest {
            subject: Some(parse_entity("subject", &query.subject)?),
            predicate: query.predicate,
            object: Some(parse_entity("object", &query.object)?),
        },
    );
    let deleted = state
        .backends
        .relations()
        .delete_triple(request)
        .await?
        .into_inner();
    Ok(Json(DeletedTriple {
        relation_id: deleted.relation_id,
    }))
}

/// Entities reached from `start` by following the predicates hop by hop.
#[utoipa::path(get, path = "/api/paths", tag = "relations", params(PathQuery),
    responses((status = 200, body = Paths), (status = 400, body = ErrorBody)))]
async fn find_paths(
    State(state): State<AppState>,
    Staff(caller): Staff,
    ApiQuery(query): ApiQuery<PathQuery>,
) -> Result<Json<Paths>> {
    let request = state.backends.request(
        &caller,
        pb::FindPathsRequest {
            start: Some(parse_entity("start", &query.start)?),
            predicates: split_list(&query.predicates),
            limit: query.limit.unwrap_or(0),
        },
    );
    let found = state
        .backends
        .relations()
        .find_paths(request)
        .await?
        .into_inner();
    Ok(Json(found.into()))
}
