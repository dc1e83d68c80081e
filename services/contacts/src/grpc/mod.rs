//! Thin gRPC handlers: convert the request (destructuring it whole, so a new
//! proto field does not compile until handled, in [`convert`]), call the
//! application, map errors in one place.

mod convert;

use std::sync::Arc;

use liaison_proto::contacts::v1 as pb;
use liaison_proto::contacts::v1::contact_service_server::ContactService;
use liaison_runtime::errors::to_status;
use liaison_runtime::paging;
use tonic::{Request, Response, Status};

use crate::app::{ContactsApp, FieldChanges, RequestContext};
use crate::domain::contact::{Command, Contact, Kind};
use crate::domain::fields::Field;
use crate::domain::parse_id;
use crate::ContactsError;
use convert::{
    expect_kind, list_filter, set_common, set_opt, to_category, to_contact, to_organisation,
    to_person,
};

/// The listing of a contact's history, for its page tokens.
const HISTORY: &str = "contacts.history";

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
            set_opt(set, Field::Title, title, &mut values.title);
            set_opt(set, Field::GivenName, given_name, &mut values.given_name);
            set_opt(set, Field::FamilyName, family_name, &mut values.family_name);
            set_opt(set, Field::JobTitle, job_title, &mut values.job_title);
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
                Field::OrganisationName,
                name,
                &mut values.organisation_name,
            );
            if let Some(managed) = managed {
                values.managed = managed;
                set.push(Field::Managed);
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
            let page_size = paging::page_size(page_size)?;
            let before = match paging::decode_token(HISTORY, &page_token, 1)? {
                None => None,
                Some(key) => Some(key[0].parse::<u64>().map_err(|_| {
                    ContactsError::invalid("page_token", "not a page token of this listing")
                })?),
            };
            let (entries, next) = self.app.history(&id, page_size as usize, before).await?;
            Ok(pb::GetHistoryResponse {
                entries,
                next_page_token: next
                    .map(|version| paging::encode_token(HISTORY, &[&version.to_string()]))
                    .unwrap_or_default(),
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
