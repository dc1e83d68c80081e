//! Persons, organisations, categories and what applies to any contact
//! (trash, purge, merge, erasure, history, look-ups), over the contacts
//! service.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use liaison_proto::contacts::v1 as pb;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::contact_actions_dto::*;
use super::contacts_dto::*;
use super::{non_empty, ApiJson, ApiQuery};
use crate::auth::{Destroyer, Staff};
use crate::error::ErrorBody;
use crate::state::AppState;
use crate::GatewayError;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_persons, create_person))
        .routes(routes!(get_person, update_person))
        .routes(routes!(erase_person))
        .routes(routes!(list_organisations, create_organisation))
        .routes(routes!(get_organisation, update_organisation))
        .routes(routes!(find_contacts))
        .routes(routes!(get_contact, purge_contact))
        .routes(routes!(trash_contact))
        .routes(routes!(restore_contact))
        .routes(routes!(merge_contacts))
        .routes(routes!(duplicate_contact))
        .routes(routes!(contact_history))
        .routes(routes!(list_categories, create_category))
        .routes(routes!(rename_category, delete_category))
}

use super::Json;
type Result<T> = std::result::Result<T, GatewayError>;

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// The version read; a newer stored version gives 409.
    pub expected_version: Option<u64>,
}

/// Persons, filtered, sorted and paged.
#[utoipa::path(get, path = "/api/persons", tag = "persons", params(ListQuery),
    responses((status = 200, body = PersonPage), (status = 400, body = ErrorBody)))]
async fn list_persons(
    State(state): State<AppState>,
    Staff(caller): Staff,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<PersonPage>> {
    let request = state.backends.request(&caller, query.to_request()?);
    let page = state
        .backends
        .contacts()
        .list_persons(request)
        .await?
        .into_inner();
    Ok(Json(PersonPage {
        items: page.persons.into_iter().map(Person::from).collect(),
        next_cursor: non_empty(page.next_page_token),
        total: page.total_count,
    }))
}

#[utoipa::path(post, path = "/api/persons", tag = "persons", request_body = NewPerson,
    responses((status = 201, body = Person), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 412, body = ErrorBody)))]
async fn create_person(
    State(state): State<AppState>,
    Staff(caller): Staff,
    ApiJson(new): ApiJson<NewPerson>,
) -> Result<(StatusCode, Json<Person>)> {
    let request = state
        .backends
        .request(&caller, pb::CreatePersonRequest::from(new));
    let person = state
        .backends
        .contacts()
        .create_person(request)
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(person.into())))
}

#[utoipa::path(get, path = "/api/persons/{id}", tag = "persons", params(("id" = String, Path)),
    responses((status = 200, body = Person), (status = 404, body = ErrorBody)))]
async fn get_person(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
) -> Result<Json<Person>> {
    let request = state
        .backends
        .request(&caller, pb::GetContactRequest { id });
    let person = state
        .backends
        .contacts()
        .get_person(request)
        .await?
        .into_inner();
    Ok(Json(person.into()))
}

/// Changes the fields present; lists present replace the stored ones.
#[utoipa::path(patch, path = "/api/persons/{id}", tag = "persons", params(("id" = String, Path)),
    request_body = PersonChanges,
    responses((status = 200, body = Person), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update_person(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    ApiJson(changes): ApiJson<PersonChanges>,
) -> Result<Json<Person>> {
    let request = state.backends.request(&caller, changes.into_request(id));
    let person = state
        .backends
        .contacts()
        .update_person(request)
        .await?
        .into_inner();
    Ok(Json(person.into()))
}

/// GDPR erasure: the person's data becomes unreadable everywhere. Needs
/// the destroy permission.
#[utoipa::path(post, path = "/api/persons/{id}/erase", tag = "persons",
    params(("id" = String, Path)), request_body = ErasureRequest,
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn erase_person(
    State(state): State<AppState>,
    Destroyer(caller): Destroyer,
    Path(id): Path<String>,
    ApiJson(erasure): ApiJson<ErasureRequest>,
) -> Result<StatusCode> {
    let request = state.backends.request(
        &caller,
        pb::ErasePersonRequest {
            id,
            reason: erasure.reason,
        },
    );
    state.backends.contacts().erase_person(request).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/api/organisations", tag = "organisations", params(ListQuery),
    responses((status = 200, body = OrganisationPage), (status = 400, body = ErrorBody)))]
async fn list_organisations(
    State(state): State<AppState>,
    Staff(caller): Staff,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<OrganisationPage>> {
    let request = state.backends.request(&caller, query.to_request()?);
    let page = state
        .backends
        .contacts()
        .list_organisations(request)
        .await?
        .into_inner();
    Ok(Json(OrganisationPage {
        items: page
            .organisations
            .into_iter()
            .map(Organisation::from)
            .collect(),
        next_cursor: non_empty(page.next_page_token),
        total: page.total_count,
    }))
}

#[utoipa::path(post, path = "/api/organisations", tag = "organisations",
    request_body = NewOrganisation,
    responses((status = 201, body = Organisation), (status = 400, body = ErrorBody)))]
async fn create_organisation(
    State(state): State<AppState>,
    Staff(caller): Staff,
    ApiJson(new): ApiJson<NewOrganisation>,
) -> Result<(StatusCode, Json<Organisation>)> {
    let request = state
        .backends
        .request(&caller, pb::CreateOrganisationRequest::from(new));
    let organisation = state
        .backends
        .contacts()
        .create_organisation(request)
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(organisation.into())))
}

#[utoipa::path(get, path = "/api/organisations/{id}", tag = "organisations",
    params(("id" = String, Path)),
    responses((status = 200, body = Organisation), (status = 404, body = ErrorBody)))]
async fn get_organisation(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
) -> Result<Json<Organisation>> {
    let request = state
        .backends
        .request(&caller, pb::GetContactRequest { id });
    let organisation = state
        .backends
        .contacts()
        .get_organisation(request)
        .await?
        .into_inner();
    Ok(Json(organisation.into()))
}

#[utoipa::path(patch, path = "/api/organisations/{id}", tag = "organisations",
    params(("id" = String, Path)), request_body = OrganisationChanges,
    responses((status = 200, body = Organisation), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn update_organisation(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    ApiJson(changes): ApiJson<OrganisationChanges>,
) -> Result<Json<Organisation>> {
    let request = state.backends.request(&caller, changes.into_request(id));
    let organisation = state
        .backends
        .contacts()
        .update_organisation(request)
        .await?
        .into_inner();
    Ok(Json(organisation.into()))
}

/// Contacts by email, or by external reference (source and external_id).
#[utoipa::path(get, path = "/api/contacts", tag = "contacts", params(LookupQuery),
    responses((status = 200, body = [Contact]), (status = 400, body = ErrorBody)))]
async fn find_contacts(
    State(state): State<AppState>,
    Staff(caller): Staff,
    ApiQuery(query): ApiQuery<LookupQuery>,
) -> Result<Json<Vec<Contact>>> {
    let found = match (query.email, query.source, query.external_id) {
        (Some(email), None, None) => {
            let request = state
                .backends
                .request(&caller, pb::FindByEmailRequest { email });
            state
                .backends
                .contacts()
                .find_by_email(request)
                .await?
                .into_inner()
                .contacts
        }
        (None, Some(source), Some(external_id)) => {
            let request = state.backends.request(
                &caller,
                pb::FindByExternalRefRequest {
                    source,
                    external_id,
                },
            );
            match state
                .backends
                .contacts()
                .find_by_external_ref(request)
                .await
            {
                Ok(contact) => vec![contact.into_inner()],
                Err(status) if status.code() == tonic::Code::NotFound => Vec::new(),
                Err(status) => return Err(status.into()),
            }
        }
        _ => {
            return Err(GatewayError::InvalidArgument {
                message: "give either email, or source and external_id".into(),
                field: None,
            })
        }
    };
    found
        .into_iter()
        .map(Contact::from_proto)
        .collect::<Result<Vec<_>>>()
        .map(Json)
}

#[utoipa::path(get, path = "/api/contacts/{id}", tag = "contacts", params(("id" = String, Path)),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
async fn get_contact(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
) -> Result<Json<Contact>> {
    let request = state
        .backends
        .request(&caller, pb::GetContactRequest { id });
    let contact = state
        .backends
        .contacts()
        .get_contact(request)
        .await?
        .into_inner();
    Contact::from_proto(contact).map(Json)
}

/// A call on one contact, with the version the caller read if it gave one.
fn versioned(
    state: &AppState,
    caller: &crate::accounts::Caller,
    id: String,
    version: VersionQuery,
) -> tonic::Request<pb::ContactVersionRequest> {
    state.backends.request(
        caller,
        pb::ContactVersionRequest {
            id,
            expected_version: version.expected_version,
        },
    )
}

/// Deletes for good a contact that is in the trash. Needs the destroy
/// permission.
#[utoipa::path(delete, path = "/api/contacts/{id}", tag = "contacts",
    params(("id" = String, Path), VersionQuery),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
async fn purge_contact(
    State(state): State<AppState>,
    Destroyer(caller): Destroyer,
    Path(id): Path<String>,
    ApiQuery(version): ApiQuery<VersionQuery>,
) -> Result<StatusCode> {
    let request = versioned(&state, &caller, id, version);
    state.backends.contacts().purge_contact(request).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/contacts/{id}/trash", tag = "contacts",
    params(("id" = String, Path), VersionQuery),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
async fn trash_contact(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    ApiQuery(version): ApiQuery<VersionQuery>,
) -> Result<Json<Contact>> {
    let request = versioned(&state, &caller, id, version);
    let contact = state
        .backends
        .contacts()
        .trash_contact(request)
        .await?
        .into_inner();
    Contact::from_proto(contact).map(Json)
}

#[utoipa::path(post, path = "/api/contacts/{id}/restore", tag = "contacts",
    params(("id" = String, Path), VersionQuery),
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody)))]
async fn restore_contact(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    ApiQuery(version): ApiQuery<VersionQuery>,
) -> Result<Json<Contact>> {
    let request = versioned(&state, &caller, id, version);
    let contact = state
        .backends
        .contacts()
        .restore_contact(request)
        .await?
        .into_inner();
    Contact::from_proto(contact).map(Json)
}

/// Merges `merged_id` into the contact of the path, which keeps every
/// email, phone, reference, tag and relation of both.
#[utoipa::path(post, path = "/api/contacts/{id}/merge", tag = "contacts",
    params(("id" = String, Path, description = "the survivor")), request_body = MergeRequest,
    responses((status = 200, body = Contact), (status = 404, body = ErrorBody),
              (status = 412, body = ErrorBody)))]
async fn merge_contacts(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    ApiJson(merge): ApiJson<MergeRequest>,
) -> Result<Json<Contact>> {
    let request = state.backends.request(
        &caller,
        pb::MergeContactsRequest {
            survivor_id: id,
            merged_id: merge.merged_id,
        },
    );
    let contact = state
        .backends
        .contacts()
        .merge_contacts(request)
        .await?
        .into_inner();
    Contact::from_proto(contact).map(Json)
}

/// A new contact with the fields of this one (emails and external
/// references excepted: they name one contact only) and its relations of
/// copiable types, as Creme's clone does.
#[utoipa::path(post, path = "/api/contacts/{id}/duplicate", tag = "contacts",
    params(("id" = String, Path)),
    responses((status = 201, body = Duplicate), (status = 404, body = ErrorBody),
              (status = 412, body = ErrorBody)))]
async fn duplicate_contact(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
) -> Result<(axum::http::StatusCode, Json<Duplicate>)> {
    let duplicate = duplicate(&state, &caller, id).await?;
    Ok((axum::http::StatusCode::CREATED, Json(duplicate)))
}

/// Creates the duplicate of contact `id` (the API's and the page's).
pub(crate) async fn duplicate(
    state: &AppState,
    caller: &crate::accounts::Caller,
    id: String,
) -> Result<Duplicate> {
    use liaison_proto::kinds;
    use liaison_proto::relations::v1 as relations;
    let refused = || {
        GatewayError::FailedPrecondition(
            "only a live contact out of the trash can be duplicated".into(),
        )
    };
    let request = state
        .backends
        .request(caller, pb::GetContactRequest { id: id.clone() });
    let source = state
        .backends
        .contacts()
        .get_contact(request)
        .await?
        .into_inner();
    let mut contacts = state.backends.contacts();
    let (kind, created) = match source.contact {
        Some(pb::contact::Contact::Person(person)) => {
            if person.in_trash || !person.merged_into.is_empty() || person.erased {
                return Err(refused());
            }
            let copy = pb::CreatePersonRequest {
                title: person.title,
                given_name: person.given_name,
                family_name: person.family_name,
                job_title: person.job_title,
                phones: person.phones,
                addresses: person.addresses,
                website: person.website,
                notes: person.notes,
                tags: person.tags,
                category_id: person.category_id,
                owner: person.owner,
                ..Default::default()
            };
            let created = contacts
                .create_person(state.backends.request(caller, copy))
                .await?
                .into_inner();
            (kinds::PERSON, pb::contact::Contact::Person(created))
        }
        Some(pb::contact::Contact::Organisation(organisation)) => {
            if organisation.in_trash || !organisation.merged_into.is_empty() {
                return Err(refused());
            }
            let copy = pb::CreateOrganisationRequest {
                name: organisation.name,
                managed: organisation.managed,
                phones: organisation.phones,
                addresses: organisation.addresses,
                website: organisation.website,
                notes: organisation.notes,
                tags: organisation.tags,
                category_id: organisation.category_id,
                owner: organisation.owner,
                ..Default::default()
            };
            let created = contacts
                .create_organisation(state.backends.request(caller, copy))
                .await?
                .into_inner();
            (
                kinds::ORGANISATION,
                pb::contact::Contact::Organisation(created),
            )
        }
        None => {
            return Err(GatewayError::Internal(
                "the contacts service answered an empty contact".into(),
            ))
        }
    };
    let contact = Contact::from_proto(pb::Contact {
        contact: Some(created),
    })?;
    let end = |id: String| liaison_proto::common::v1::EntityRef {
        kind: kind.to_owned(),
        id,
    };
    let request = state.backends.request(
        caller,
        relations::CopyRelationsRequest {
            source: Some(end(id)),
            target: Some(end(contact.id().to_owned())),
        },
    );
    let copied = state
        .backends
        .relations()
        .copy_relations(request)
        .await?
        .into_inner();
    Ok(Duplicate {
        contact,
        relations_copied: u32::try_from(copied.relations.len()).unwrap_or(u32::MAX),
        relations_left_out: copied.left_out,
    })
}

/// What changed, when and by whom, newest first.
#[utoipa::path(get, path = "/api/contacts/{id}/history", tag = "contacts",
    params(("id" = String, Path), PageQuery),
    responses((status = 200, body = HistoryPage), (status = 404, body = ErrorBody)))]
async fn contact_history(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    ApiQuery(page): ApiQuery<PageQuery>,
) -> Result<Json<HistoryPage>> {
    let request = state.backends.request(
        &caller,
        pb::GetHistoryRequest {
            id,
            page_size: page.limit.unwrap_or(0),
            page_token: page.cursor,
        },
    );
    let history = state
        .backends
        .contacts()
        .get_history(request)
        .await?
        .into_inner();
    Ok(Json(HistoryPage {
        items: history
            .entries
            .into_iter()
            .map(HistoryEntry::from)
            .collect(),
        next_cursor: non_empty(history.next_page_token),
    }))
}

#[utoipa::path(get, path = "/api/categories", tag = "categories",
    responses((status = 200, body = [Category])))]
async fn list_categories(
    State(state): State<AppState>,
    Staff(caller): Staff,
) -> Result<Json<Vec<Category>>> {
    let request = state
        .backends
        .request(&caller, pb::ListCategoriesRequest {});
    let categories = state
        .backends
        .contacts()
        .list_categories(request)
        .await?
        .into_inner()
        .categories;
    Ok(Json(categories.into_iter().map(Category::from).collect()))
}

#[utoipa::path(post, path = "/api/categories", tag = "categories", request_body = NewCategory,
    responses((status = 201, body = Category), (status = 400, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
async fn create_category(
    State(state): State<AppState>,
    Staff(caller): Staff,
    ApiJson(new): ApiJson<NewCategory>,
) -> Result<(StatusCode, Json<Category>)> {
    let request = state.backends.request(
        &caller,
        pb::CreateCategoryRequest {
            name: new.name,
            description: new.description,
        },
    );
    let category = state
        .backends
        .contacts()
        .create_category(request)
        .await?
        .into_inner();
    Ok((StatusCode::CREATED, Json(category.into())))
}

#[utoipa::path(patch, path = "/api/categories/{id}", tag = "categories",
    params(("id" = String, Path)), request_body = CategoryRename,
    responses((status = 200, body = Category), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
async fn rename_category(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
    ApiJson(rename): ApiJson<CategoryRename>,
) -> Result<Json<Category>> {
    let request = state.backends.request(
        &caller,
        pb::RenameCategoryRequest {
            id,
            name: rename.name,
            expected_version: rename.expected_version,
        },
    );
    let category = state
        .backends
        .contacts()
        .rename_category(request)
        .await?
        .into_inner();
    Ok(Json(category.into()))
}

#[utoipa::path(delete, path = "/api/categories/{id}", tag = "categories",
    params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 412, body = ErrorBody)))]
async fn delete_category(
    State(state): State<AppState>,
    Staff(caller): Staff,
    Path(id): Path<String>,
) -> Result<StatusCode> {
    let request = state
        .backends
        .request(&caller, pb::DeleteCategoryRequest { id });
    state.backends.contacts().delete_category(request).await?;
    Ok(StatusCode::NO_CONTENT)
}
