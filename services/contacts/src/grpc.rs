//! Thin gRPC handlers: convert the request (destructuring it whole, so a new
//! proto field does not compile until handled), call the application, map
//! errors in one place.

use std::sync::Arc;

use liaison_eventstore::{micros_to_timestamp, timestamp_to_micros};
use liaison_proto::contacts::v1 as pb;
use liaison_proto::contacts::v1::contact_service_server::ContactService;
use liaison_runtime::errors::to_status;
use tonic::{Request, Response, Status};

use crate::app::{ContactsApp, FieldChanges, RequestContext};
use crate::domain::category::Category;
use crate::domain::contact::{Command, Contact, Kind, Lifecycle};
use crate::domain::parse_id;
use crate::storage::queries::{Cursor, ListFilter, SortBy, TrashFilter};
use crate::ContactsError;

const DEFAULT_PAGE_SIZE: u32 = 50;
const MAX_PAGE_SIZE: u32 = 500;

/// The routable server type, e.g. for health reporting.
pub type ContactsGrpcServer =
    liaison_proto::contacts::v1::contact_service_server::ContactServiceServer<ContactsGrpc>;

pub struct ContactsGrpc {
    app: Arc<ContactsApp>,
}

impl ContactsGrpc {
    pub fn new(app: Arc<ContactsApp>) -> Self {
        Self { app }
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn reply<T>(result: Result<T, ContactsError>) -> Reply<T> {
    result.map(Response::new).map_err(|error| to_status(&error))
}

fn context<T>(request: &Request<T>) -> RequestContext {
    RequestContext::of(request)
}

#[tonic::async_trait]
impl ContactService for ContactsGrpc {
    async fn create_person(&self, request: Request<pb::CreatePersonRequest>) -> Reply<pb::Person> {
        let context = context(&request);
        let pb::CreatePersonRequest {
            title,
            given_name,
            family_name,
            job_title,
            emails,
            phones,
            addresses,
            website,
            notes,
            tags,
            category_id,
            owner,
            external_refs,
            allow_shared_email,
        } = request.into_inner();
        let data = pb::ContactData {
            title,
            given_name,
            family_name,
            job_title,
            organisation_name: String::new(),
            managed: false,
            emails,
            phones,
            addresses,
            website,
            notes,
            tags,
            category_id,
            owner,
            external_refs,
        };
        let result = self
            .app
            .create(Kind::Person, data, allow_shared_email, &context)
            .await;
        reply(result.and_then(to_person))
    }

    async fn update_person(&self, request: Request<pb::UpdatePersonRequest>) -> Reply<pb::Person> {
        let context = context(&request);
        let pb::UpdatePersonRequest {
            id,
            expected_version,
            title,
            given_name,
            family_name,
            job_title,
            emails,
            phones,
            addresses,
            website,
            notes,
            tags,
            category_id,
            owner,
            external_refs,
            allow_shared_email,
        } = request.into_inner();
        let result = async {
            let id = parse_id("id", &id)?;
            let mut changes = FieldChanges::default();
            let values = &mut changes.values;
            let set = &mut changes.fields;
            set_opt(set, "title", title, &mut values.title);
            set_opt(set, "given_name", given_name, &mut values.given_name);
            set_opt(set, "family_name", family_name, &mut values.family_name);
            set_opt(set, "job_title", job_title, &mut values.job_title);
            set_common(
                set,
                values,
                emails,
                phones,
                addresses,
                website,
                notes,
                tags,
                category_id,
                owner,
                external_refs,
            );
            self.require_kind(&id, Kind::Person).await?;
            self.app
                .update(&id, expected_version, changes, allow_shared_email, &context)
                .await
        }
        .await;
        reply(result.and_then(to_person))
    }

    async fn get_person(&self, request: Request<pb::GetContactRequest>) -> Reply<pb::Person> {
        let pb::GetContactRequest { id } = request.into_inner();
        reply(
            self.get_of_kind(&id, Kind::Person)
                .await
                .and_then(to_person),
        )
    }

    async fn list_persons(
        &self,
        request: Request<pb::ListContactsRequest>,
    ) -> Reply<pb::ListPersonsResponse> {
        let result = self
            .list_of_kind(Kind::Person, request.into_inner(), to_person)
            .await;
        reply(result.map(
            |(persons, next_page_token, total_count)| pb::ListPersonsResponse {
                persons,
                next_page_token,
                total_count,
            },
        ))
    }

    async fn create_organisation(
        &self,
        request: Request<pb::CreateOrganisationRequest>,
    ) -> Reply<pb::Organisation> {
        let context = context(&request);
        let pb::CreateOrganisationRequest {
            name,
            managed,
            emails,
            phones,
            addresses,
            website,
            notes,
            tags,
            category_id,
            owner,
            external_refs,
        } = request.into_inner();
        let data = pb::ContactData {
            organisation_name: name,
            managed,
            emails,
            phones,
            addresses,
            website,
            notes,
            tags,
            category_id,
            owner,
            external_refs,
            ..Default::default()
        };
        let result = self
            .app
            .create(Kind::Organisation, data, false, &context)
            .await;
        reply(result.and_then(to_organisation))
    }

    async fn update_organisation(
        &self,
        request: Request<pb::UpdateOrganisationRequest>,
    ) -> Reply<pb::Organisation> {
        let context = context(&request);
        let pb::UpdateOrganisationRequest {
            id,
            expected_version,
            name,
            managed,
            emails,
            phones,
            addresses,
            website,
            notes,
            tags,
            category_id,
            owner,
            external_refs,
        } = request.into_inner();
        let result = async {
            let id = parse_id("id", &id)?;
            let mut changes = FieldChanges::default();
            let values = &mut changes.values;
            let set = &mut changes.fields;
            set_opt(
                set,
                "organisation_name",
                name,
                &mut values.organisation_name,
            );
            if let Some(managed) = managed {
                values.managed = managed;
                set.push("managed");
            }
            set_common(
                set,
                values,
                emails,
                phones,
                addresses,
                website,
                notes,
                tags,
                category_id,
                owner,
                external_refs,
            );
            self.require_kind(&id, Kind::Organisation).await?;
            self.app
                .update(&id, expected_version, changes, false, &context)
                .await
        }
        .await;
        reply(result.and_then(to_organisation))
    }

    async fn get_organisation(
        &self,
        request: Request<pb::GetContactRequest>,
    ) -> Reply<pb::Organisation> {
        let pb::GetContactRequest { id } = request.into_inner();
        reply(
            self.get_of_kind(&id, Kind::Organisation)
                .await
                .and_then(to_organisation),
        )
    }

    async fn list_organisations(
        &self,
        request: Request<pb::ListContactsRequest>,
    ) -> Reply<pb::ListOrganisationsResponse> {
        let result = self
            .list_of_kind(Kind::Organisation, request.into_inner(), to_organisation)
            .await;
        reply(result.map(|(organisations, next_page_token, total_count)| {
            pb::ListOrganisationsResponse {
                organisations,
                next_page_token,
                total_count,
            }
        }))
    }

    async fn get_contact(&self, request: Request<pb::GetContactRequest>) -> Reply<pb::Contact> {
        let pb::GetContactRequest { id } = request.into_inner();
        let result = async { self.app.get(&parse_id("id", &id)?).await }.await;
        reply(result.and_then(to_contact))
    }

    async fn trash_contact(
        &self,
        request: Request<pb::ContactVersionRequest>,
    ) -> Reply<pb::Contact> {
        self.lifecycle(request, Command::Trash).await
    }

    async fn restore_contact(
        &self,
        request: Request<pb::ContactVersionRequest>,
    ) -> Reply<pb::Contact> {
        self.lifecycle(request, Command::Restore).await
    }

    async fn purge_contact(
        &self,
        request: Request<pb::ContactVersionRequest>,
    ) -> Reply<pb::PurgeContactResponse> {
        let context = context(&request);
        let pb::ContactVersionRequest {
            id,
            expected_version,
        } = request.into_inner();
        let result = async {
            let id = parse_id("id", &id)?;
            self.app
                .lifecycle(&id, expected_version, Command::Purge, &context)
                .await?;
            Ok(pb::PurgeContactResponse { id })
        }
        .await;
        reply(result)
    }

    async fn merge_contacts(
        &self,
        request: Request<pb::MergeContactsRequest>,
    ) -> Reply<pb::Contact> {
        let context = context(&request);
        let pb::MergeContactsRequest {
            survivor_id,
            merged_id,
        } = request.into_inner();
        let result = async {
            let survivor_id = parse_id("survivor_id", &survivor_id)?;
            let merged_id = parse_id("merged_id", &merged_id)?;
            self.app.merge(&survivor_id, &merged_id, &context).await
        }
        .await;
        reply(result.and_then(to_contact))
    }

    async fn erase_person(
        &self,
        request: Request<pb::ErasePersonRequest>,
    ) -> Reply<pb::ErasePersonResponse> {
        let context = context(&request);
        let pb::ErasePersonRequest { id, reason } = request.into_inner();
        let result = async {
            let id = parse_id("id", &id)?;
            self.app.erase(&id, &reason, &context).await?;
            Ok(pb::ErasePersonResponse { id })
        }
        .await;
        reply(result)
    }

    async fn get_history(
        &self,
        request: Request<pb::GetHistoryRequest>,
    ) -> Reply<pb::GetHistoryResponse> {
        let pb::GetHistoryRequest {
            id,
            page_size,
            page_token,
        } = request.into_inner();
        let result = async {
            let id = parse_id("id", &id)?;
            let page_size = page_size_or_default(page_size)?;
            let before = if page_token.is_empty() {
                None
            } else {
                Some(page_token.parse::<u64>().map_err(|_| {
                    ContactsError::invalid(
                        "page_token",
                        format!("{page_token:?} is not a page token of this history"),
                    )
                })?)
            };
            let (entries, next) = self.app.history(&id, page_size as usize, before).await?;
            Ok(pb::GetHistoryResponse {
                entries,
                next_page_token: next.map(|v| v.to_string()).unwrap_or_default(),
            })
        }
        .await;
        reply(result)
    }

    async fn find_by_email(
        &self,
        request: Request<pb::FindByEmailRequest>,
    ) -> Reply<pb::FindContactsResponse> {
        let pb::FindByEmailRequest { email } = request.into_inner();
        let result = async {
            let contacts = self.app.find_by_email(&email).await?;
            Ok(pb::FindContactsResponse {
                contacts: contacts
                    .into_iter()
                    .map(to_contact)
                    .collect::<Result<_, _>>()?,
            })
        }
        .await;
        reply(result)
    }

    async fn find_by_external_ref(
        &self,
        request: Request<pb::FindByExternalRefRequest>,
    ) -> Reply<pb::Contact> {
        let pb::FindByExternalRefRequest {
            source,
            external_id,
        } = request.into_inner();
        let result = async {
            if source.trim().is_empty() {
                return Err(ContactsError::invalid("source", "a source is required"));
            }
            if external_id.trim().is_empty() {
                return Err(ContactsError::invalid(
                    "external_id",
                    "an external id is required",
                ));
            }
            self.app.find_by_external_ref(&source, &external_id).await
        }
        .await;
        reply(result.and_then(to_contact))
    }

    async fn create_category(
        &self,
        request: Request<pb::CreateCategoryRequest>,
    ) -> Reply<pb::Category> {
        let context = context(&request);
        let pb::CreateCategoryRequest { name, description } = request.into_inner();
        reply(
            self.app
                .create_category(&name, &description, &context)
                .await
                .map(to_category),
        )
    }

    async fn rename_category(
        &self,
        request: Request<pb::RenameCategoryRequest>,
    ) -> Reply<pb::Category> {
        let context = context(&request);
        let pb::RenameCategoryRequest {
            id,
            name,
            expected_version,
        } = request.into_inner();
        let result = async {
            let id = parse_id("id", &id)?;
            self.app
                .rename_category(&id, &name, expected_version, &context)
                .await
        }
        .await;
        reply(result.map(to_category))
    }

    async fn delete_category(
        &self,
        request: Request<pb::DeleteCategoryRequest>,
    ) -> Reply<pb::DeleteCategoryResponse> {
        let context = context(&request);
        let pb::DeleteCategoryRequest { id } = request.into_inner();
        let result = async {
            let id = parse_id("id", &id)?;
            self.app.delete_category(&id, &context).await?;
            Ok(pb::DeleteCategoryResponse { id })
        }
        .await;
        reply(result)
    }

    async fn list_categories(
        &self,
        _request: Request<pb::ListCategoriesRequest>,
    ) -> Reply<pb::ListCategoriesResponse> {
        let result =
            self.app
                .list_categories()
                .await
                .map(|categories| pb::ListCategoriesResponse {
                    categories: categories.into_iter().map(to_category).collect(),
                });
        reply(result)
    }
}

impl ContactsGrpc {
    async fn lifecycle(
        &self,
        request: Request<pb::ContactVersionRequest>,
        command: Command,
    ) -> Reply<pb::Contact> {
        let context = context(&request);
        let pb::ContactVersionRequest {
            id,
            expected_version,
        } = request.into_inner();
        let result = async {
            let id = parse_id("id", &id)?;
            self.app
                .lifecycle(&id, expected_version, command, &context)
                .await
        }
        .await;
        reply(result.and_then(to_contact))
    }

    /// A contact of the given kind; one of the other kind is not found.
    async fn get_of_kind(&self, id: &str, kind: Kind) -> Result<Contact, ContactsError> {
        let contact = self.app.get(&parse_id("id", id)?).await?;
        expect_kind(&contact, kind)?;
        Ok(contact)
    }

    /// One page of contacts of a kind: items, next page token, total.
    async fn list_of_kind<T>(
        &self,
        kind: Kind,
        request: pb::ListContactsRequest,
        convert: fn(Contact) -> Result<T, ContactsError>,
    ) -> Result<(Vec<T>, String, u64), ContactsError> {
        let filter = list_filter(kind, request)?;
        let page = self.app.list(&filter).await?;
        let items = page
            .contacts
            .into_iter()
            .map(convert)
            .collect::<Result<_, _>>()?;
        let token = page.next.map(|c| c.encode(filter.sort)).unwrap_or_default();
        Ok((items, token, page.total))
    }

    /// Updating a person through the organisation call (or back) is refused.
    async fn require_kind(&self, id: &str, kind: Kind) -> Result<(), ContactsError> {
        let contact = self.app.load_contact(id).await?;
        if contact.version == 0 {
            return Err(ContactsError::NotFound {
                kind: kind.as_str(),
                id: id.to_owned(),
            });
        }
        expect_kind(&contact, kind)
    }
}

fn expect_kind(contact: &Contact, kind: Kind) -> Result<(), ContactsError> {
    if contact.kind == Some(kind) {
        return Ok(());
    }
    Err(ContactsError::NotFound {
        kind: kind.as_str(),
        id: contact.id.clone(),
    })
}

fn set_opt(
    set: &mut Vec<&'static str>,
    field: &'static str,
    value: Option<String>,
    target: &mut String,
) {
    if let Some(value) = value {
        *target = value;
        set.push(field);
    }
}

#[allow(clippy::too_many_arguments)]
fn set_common(
    set: &mut Vec<&'static str>,
    values: &mut pb::ContactData,
    emails: Option<pb::EmailList>,
    phones: Option<pb::PhoneList>,
    addresses: Option<pb::AddressList>,
    website: Option<String>,
    notes: Option<String>,
    tags: Option<pb::TagList>,
    category_id: Option<String>,
    owner: Option<String>,
    external_refs: Option<pb::ExternalRefList>,
) {
    if let Some(pb::EmailList { items }) = emails {
        values.emails = items;
        set.push("emails");
    }
    if let Some(pb::PhoneList { items }) = phones {
        values.phones = items;
        set.push("phones");
    }
    if let Some(pb::AddressList { items }) = addresses {
        values.addresses = items;
        set.push("addresses");
    }
    set_opt(set, "website", website, &mut values.website);
    set_opt(set, "notes", notes, &mut values.notes);
    if let Some(pb::TagList { items }) = tags {
        values.tags = items;
        set.push("tags");
    }
    set_opt(set, "category_id", category_id, &mut values.category_id);
    set_opt(set, "owner", owner, &mut values.owner);
    if let Some(pb::ExternalRefList { items }) = external_refs {
        values.external_refs = items;
        set.push("external_refs");
    }
}

fn page_size_or_default(page_size: u32) -> Result<u32, ContactsError> {
    match page_size {
        0 => Ok(DEFAULT_PAGE_SIZE),
        size if size > MAX_PAGE_SIZE => Err(ContactsError::invalid(
            "page_size",
            format!("{size} is too large; at most {MAX_PAGE_SIZE}"),
        )),
        size => Ok(size),
    }
}

fn list_filter(kind: Kind, request: pb::ListContactsRequest) -> Result<ListFilter, ContactsError> {
    let pb::ListContactsRequest {
        category_id,
        tags,
        managed,
        query,
        updated_since,
        sort,
        descending,
        page_size,
        page_token,
        trash,
    } = request;
    let sort = match pb::ContactSort::try_from(sort) {
        Ok(pb::ContactSort::Unspecified | pb::ContactSort::Name) => SortBy::Name,
        Ok(pb::ContactSort::CreatedAt) => SortBy::CreatedAt,
        Ok(pb::ContactSort::UpdatedAt) => SortBy::UpdatedAt,
        Err(_) => {
            return Err(ContactsError::invalid(
                "sort",
                format!("{sort} is not a sort order"),
            ))
        }
    };
    let trash = match pb::TrashFilter::try_from(trash) {
        Ok(pb::TrashFilter::Unspecified) => TrashFilter::LiveOnly,
        Ok(pb::TrashFilter::OnlyTrash) => TrashFilter::TrashOnly,
        Ok(pb::TrashFilter::All) => TrashFilter::Both,
        Err(_) => {
            return Err(ContactsError::invalid(
                "trash",
                format!("{trash} is not a trash filter"),
            ))
        }
    };
    let query = crate::domain::validation::text("query", &query, 200)?;
    let tags = tags
        .iter()
        .enumerate()
        .map(|(index, tag)| crate::domain::validation::text(&format!("tags[{index}]"), tag, 64))
        .filter(|tag| tag.as_ref().map_or(true, |tag| !tag.is_empty()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ListFilter {
        kind: Some(kind),
        category_id: if category_id.trim().is_empty() {
            None
        } else {
            Some(parse_id("category_id", &category_id)?)
        },
        tags,
        managed,
        query: (!query.is_empty()).then_some(query),
        updated_since: updated_since.as_ref().map(timestamp_to_micros),
        sort,
        descending,
        page_size: page_size_or_default(page_size)?,
        after: if page_token.is_empty() {
            None
        } else {
            Some(Cursor::decode(&page_token, sort)?)
        },
        trash,
    })
}

fn to_contact(contact: Contact) -> Result<pb::Contact, ContactsError> {
    let inner = match contact.kind {
        Some(Kind::Organisation) => pb::contact::Contact::Organisation(to_organisation(contact)?),
        _ => pb::contact::Contact::Person(to_person(contact)?),
    };
    Ok(pb::Contact {
        contact: Some(inner),
    })
}

fn to_person(contact: Contact) -> Result<pb::Person, ContactsError> {
    let Contact {
        id,
        kind: _,
        version,
        data,
        lifecycle,
        created_at,
        updated_at,
    } = contact;
    let pb::ContactData {
        title,
        given_name,
        family_name,
        job_title,
        organisation_name: _,
        managed: _,
        emails,
        phones,
        addresses,
        website,
        notes,
        tags,
        category_id,
        owner,
        external_refs,
    } = data;
    Ok(pb::Person {
        id,
        version,
        title,
        given_name,
        family_name,
        job_title,
        emails,
        phones,
        addresses,
        website,
        notes,
        tags,
        category_id,
        owner,
        external_refs,
        in_trash: lifecycle == Lifecycle::Trashed,
        merged_into: merged_into(&lifecycle),
        erased: lifecycle == Lifecycle::Erased,
        created_at: Some(micros_to_timestamp(created_at)),
        updated_at: Some(micros_to_timestamp(updated_at)),
    })
}

fn to_organisation(contact: Contact) -> Result<pb::Organisation, ContactsError> {
    let Contact {
        id,
        kind: _,
        version,
        data,
        lifecycle,
        created_at,
        updated_at,
    } = contact;
    let pb::ContactData {
        organisation_name,
        managed,
        emails,
        phones,
        addresses,
        website,
        notes,
        tags,
        category_id,
        owner,
        external_refs,
        ..
    } = data;
    Ok(pb::Organisation {
        id,
        version,
        name: organisation_name,
        managed,
        emails,
        phones,
        addresses,
        website,
        notes,
        tags,
        category_id,
        owner,
        external_refs,
        in_trash: lifecycle == Lifecycle::Trashed,
        merged_into: merged_into(&lifecycle),
        created_at: Some(micros_to_timestamp(created_at)),
        updated_at: Some(micros_to_timestamp(updated_at)),
    })
}

fn merged_into(lifecycle: &Lifecycle) -> String {
    match lifecycle {
        Lifecycle::Merged { survivor_id } => survivor_id.clone(),
        _ => String::new(),
    }
}

fn to_category(category: Category) -> pb::Category {
    let Category {
        id,
        version,
        name,
        description,
        exists: _,
        deleted: _,
    } = category;
    pb::Category {
        id,
        version,
        name,
        description,
    }
}
