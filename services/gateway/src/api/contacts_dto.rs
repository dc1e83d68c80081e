//! JSON shapes of contacts, and their conversions to and from the
//! contacts service's messages.

use liaison_proto::contacts::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{non_empty, parse_rfc3339, rfc3339};
use crate::GatewayError;

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Email {
    #[schema(max_length = 254)]
    pub address: String,
    /// Free label: "work", "home", ...
    #[schema(max_length = 50)]
    pub label: String,
    pub primary: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Phone {
    /// E.164 when a country is known.
    pub number: String,
    #[schema(max_length = 50)]
    pub label: String,
    pub primary: bool,
    /// ISO 3166-1 alpha-2 used to read a national number.
    #[schema(pattern = "^$|^[A-Za-z]{2}$")]
    pub country: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct Address {
    #[schema(max_length = 50)]
    pub label: String,
    #[schema(max_length = 400)]
    pub street: String,
    #[schema(max_length = 20)]
    pub postal_code: String,
    #[schema(max_length = 200)]
    pub city: String,
    #[schema(max_length = 200)]
    pub region: String,
    #[schema(pattern = "^$|^[A-Za-z]{2}$")]
    pub country: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ExternalRef {
    #[schema(min_length = 1, max_length = 200)]
    pub source: String,
    #[schema(min_length = 1, max_length = 200)]
    pub external_id: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Person {
    pub id: String,
    pub version: u64,
    pub title: String,
    pub given_name: String,
    pub family_name: String,
    pub job_title: String,
    pub emails: Vec<Email>,
    pub phones: Vec<Phone>,
    pub addresses: Vec<Address>,
    pub website: String,
    pub notes: String,
    pub tags: Vec<String>,
    pub category_id: Option<String>,
    pub owner: String,
    pub external_refs: Vec<ExternalRef>,
    pub in_trash: bool,
    /// Set when this person was merged into another one.
    pub merged_into: Option<String>,
    pub erased: bool,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Organisation {
    pub id: String,
    pub version: u64,
    pub name: String,
    /// One of "our" companies.
    pub managed: bool,
    pub emails: Vec<Email>,
    pub phones: Vec<Phone>,
    pub addresses: Vec<Address>,
    pub website: String,
    pub notes: String,
    pub tags: Vec<String>,
    pub category_id: Option<String>,
    pub owner: String,
    pub external_refs: Vec<ExternalRef>,
    pub in_trash: bool,
    pub merged_into: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A person or an organisation.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Contact {
    Person(Person),
    Organisation(Organisation),
}

impl Contact {
    pub fn id(&self) -> &str {
        match self {
            Contact::Person(person) => &person.id,
            Contact::Organisation(organisation) => &organisation.id,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NewPerson {
    #[schema(max_length = 200)]
    pub title: String,
    #[schema(max_length = 200)]
    pub given_name: String,
    #[schema(max_length = 200)]
    pub family_name: String,
    #[schema(max_length = 200)]
    pub job_title: String,
    #[schema(max_items = 50)]
    pub emails: Vec<Email>,
    #[schema(max_items = 50)]
    pub phones: Vec<Phone>,
    #[schema(max_items = 50)]
    pub addresses: Vec<Address>,
    #[schema(max_length = 2048)]
    pub website: String,
    #[schema(max_length = 10000)]
    pub notes: String,
    #[schema(max_items = 50)]
    pub tags: Vec<String>,
    #[schema(
        pattern = "^$|^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
    )]
    pub category_id: String,
    #[schema(max_length = 200)]
    pub owner: String,
    #[schema(max_items = 50)]
    pub external_refs: Vec<ExternalRef>,
    /// Accept an email that already belongs to another live person.
    pub allow_shared_email: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NewOrganisation {
    #[schema(required = true, min_length = 1, max_length = 200)]
    pub name: String,
    pub managed: bool,
    #[schema(max_items = 50)]
    pub emails: Vec<Email>,
    #[schema(max_items = 50)]
    pub phones: Vec<Phone>,
    #[schema(max_items = 50)]
    pub addresses: Vec<Address>,
    #[schema(max_length = 2048)]
    pub website: String,
    #[schema(max_length = 10000)]
    pub notes: String,
    #[schema(max_items = 50)]
    pub tags: Vec<String>,
    #[schema(
        pattern = "^$|^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
    )]
    pub category_id: String,
    #[schema(max_length = 200)]
    pub owner: String,
    #[schema(max_items = 50)]
    pub external_refs: Vec<ExternalRef>,
}

/// Only the fields present change; a list present replaces the list.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct PersonChanges {
    /// The version read; a newer stored version gives 409.
    pub expected_version: Option<u64>,
    #[schema(max_length = 200)]
    pub title: Option<String>,
    #[schema(max_length = 200)]
    pub given_name: Option<String>,
    #[schema(max_length = 200)]
    pub family_name: Option<String>,
    #[schema(max_length = 200)]
    pub job_title: Option<String>,
    #[schema(max_items = 50)]
    pub emails: Option<Vec<Email>>,
    #[schema(max_items = 50)]
    pub phones: Option<Vec<Phone>>,
    #[schema(max_items = 50)]
    pub addresses: Option<Vec<Address>>,
    #[schema(max_length = 2048)]
    pub website: Option<String>,
    #[schema(max_length = 10000)]
    pub notes: Option<String>,
    #[schema(max_items = 50)]
    pub tags: Option<Vec<String>>,
    /// Empty string: no category.
    #[schema(
        pattern = "^$|^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
    )]
    pub category_id: Option<String>,
    #[schema(max_length = 200)]
    pub owner: Option<String>,
    #[schema(max_items = 50)]
    pub external_refs: Option<Vec<ExternalRef>>,
    pub allow_shared_email: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct OrganisationChanges {
    pub expected_version: Option<u64>,
    #[schema(min_length = 1, max_length = 200)]
    pub name: Option<String>,
    pub managed: Option<bool>,
    #[schema(max_items = 50)]
    pub emails: Option<Vec<Email>>,
    #[schema(max_items = 50)]
    pub phones: Option<Vec<Phone>>,
    #[schema(max_items = 50)]
    pub addresses: Option<Vec<Address>>,
    #[schema(max_length = 2048)]
    pub website: Option<String>,
    #[schema(max_length = 10000)]
    pub notes: Option<String>,
    #[schema(max_items = 50)]
    pub tags: Option<Vec<String>>,
    #[schema(
        pattern = "^$|^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
    )]
    pub category_id: Option<String>,
    #[schema(max_length = 200)]
    pub owner: Option<String>,
    #[schema(max_items = 50)]
    pub external_refs: Option<Vec<ExternalRef>>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    #[default]
    Name,
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Trash {
    /// Live contacts only.
    #[default]
    Live,
    Only,
    All,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Case-insensitive search over names and emails.
    #[param(max_length = 200)]
    pub q: String,
    /// A category id.
    #[param(
        pattern = "^$|^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$"
    )]
    pub category: String,
    /// Comma-separated tags; every one must be on the contact.
    pub tags: String,
    /// Organisations only: ours (true) or not (false).
    pub managed: Option<bool>,
    /// RFC 3339: changed since then.
    pub updated_since: String,
    #[param(inline)]
    pub sort: SortKey,
    /// Newest or last first.
    pub descending: bool,
    /// 1..=500, default 50.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: String,
    #[param(inline)]
    pub trash: Trash,
}

impl ListQuery {
    pub fn to_request(&self) -> Result<pb::ListContactsRequest, GatewayError> {
        let updated_since = if self.updated_since.is_empty() {
            None
        } else {
            Some(parse_rfc3339("updated_since", &self.updated_since)?)
        };
        Ok(pb::ListContactsRequest {
            category_id: self.category.clone(),
            tags: self
                .tags
                .split(',')
                .map(str::trim)
                .filter(|tag| !tag.is_empty())
                .map(str::to_owned)
                .collect(),
            managed: self.managed,
            query: self.q.clone(),
            updated_since,
            sort: match self.sort {
                SortKey::Name => pb::ContactSort::Name,
                SortKey::CreatedAt => pb::ContactSort::CreatedAt,
                SortKey::UpdatedAt => pb::ContactSort::UpdatedAt,
            } as i32,
            descending: self.descending,
            page_size: self.limit.unwrap_or(0),
            page_token: self.cursor.clone(),
            trash: match self.trash {
                Trash::Live => pb::TrashFilter::Unspecified,
                Trash::Only => pb::TrashFilter::OnlyTrash,
                Trash::All => pb::TrashFilter::All,
            } as i32,
        })
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PersonPage {
    pub items: Vec<Person>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub next_cursor: Option<String>,
    /// Matches of the whole query.
    pub total: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OrganisationPage {
    pub items: Vec<Organisation>,
    pub next_cursor: Option<String>,
    pub total: u64,
}

impl From<pb::Email> for Email {
    fn from(
        pb::Email {
            address,
            label,
            primary,
        }: pb::Email,
    ) -> Self {
        Email {
            address,
            label,
            primary,
        }
    }
}

impl From<Email> for pb::Email {
    fn from(
        Email {
            address,
            label,
            primary,
        }: Email,
    ) -> Self {
        pb::Email {
            address,
            label,
            primary,
        }
    }
}

impl From<pb::Phone> for Phone {
    fn from(
        pb::Phone {
            number,
            label,
            primary,
            country,
        }: pb::Phone,
    ) -> Self {
        Phone {
            number,
            label,
            primary,
            country,
        }
    }
}

impl From<Phone> for pb::Phone {
    fn from(
        Phone {
            number,
            label,
            primary,
            country,
        }: Phone,
    ) -> Self {
        pb::Phone {
            number,
            label,
            primary,
            country,
        }
    }
}

impl From<pb::PostalAddress> for Address {
    fn from(a: pb::PostalAddress) -> Self {
        Address {
            label: a.label,
            street: a.street,
            postal_code: a.postal_code,
            city: a.city,
            region: a.region,
            country: a.country,
        }
    }
}

impl From<Address> for pb::PostalAddress {
    fn from(a: Address) -> Self {
        pb::PostalAddress {
            label: a.label,
            street: a.street,
            postal_code: a.postal_code,
            city: a.city,
            region: a.region,
            country: a.country,
        }
    }
}

impl From<pb::ExternalRef> for ExternalRef {
    fn from(
        pb::ExternalRef {
            source,
            external_id,
        }: pb::ExternalRef,
    ) -> Self {
        ExternalRef {
            source,
            external_id,
        }
    }
}

impl From<ExternalRef> for pb::ExternalRef {
    fn from(
        ExternalRef {
            source,
            external_id,
        }: ExternalRef,
    ) -> Self {
        pb::ExternalRef {
            source,
            external_id,
        }
    }
}

fn list<A, B: From<A>>(items: Vec<A>) -> Vec<B> {
    items.into_iter().map(B::from).collect()
}

impl From<pb::Person> for Person {
    fn from(p: pb::Person) -> Self {
        Person {
            id: p.id,
            version: p.version,
            title: p.title,
            given_name: p.given_name,
            family_name: p.family_name,
            job_title: p.job_title,
            emails: list(p.emails),
            phones: list(p.phones),
            addresses: list(p.addresses),
            website: p.website,
            notes: p.notes,
            tags: p.tags,
            category_id: non_empty(p.category_id),
            owner: p.owner,
            external_refs: list(p.external_refs),
            in_trash: p.in_trash,
            merged_into: non_empty(p.merged_into),
            erased: p.erased,
            created_at: rfc3339(p.created_at.as_ref()),
            updated_at: rfc3339(p.updated_at.as_ref()),
        }
    }
}

impl From<pb::Organisation> for Organisation {
    fn from(o: pb::Organisation) -> Self {
        Organisation {
            id: o.id,
            version: o.version,
            name: o.name,
            managed: o.managed,
            emails: list(o.emails),
            phones: list(o.phones),
            addresses: list(o.addresses),
            website: o.website,
            notes: o.notes,
            tags: o.tags,
            category_id: non_empty(o.category_id),
            owner: o.owner,
            external_refs: list(o.external_refs),
            in_trash: o.in_trash,
            merged_into: non_empty(o.merged_into),
            created_at: rfc3339(o.created_at.as_ref()),
            updated_at: rfc3339(o.updated_at.as_ref()),
        }
    }
}

impl Contact {
    pub fn from_proto(contact: pb::Contact) -> Result<Self, GatewayError> {
        match contact.contact {
            Some(pb::contact::Contact::Person(person)) => Ok(Contact::Person(person.into())),
            Some(pb::contact::Contact::Organisation(organisation)) => {
                Ok(Contact::Organisation(organisation.into()))
            }
            None => Err(GatewayError::Internal(
                "contacts answered an empty contact".into(),
            )),
        }
    }
}

impl From<NewPerson> for pb::CreatePersonRequest {
    fn from(p: NewPerson) -> Self {
        pb::CreatePersonRequest {
            title: p.title,
            given_name: p.given_name,
            family_name: p.family_name,
            job_title: p.job_title,
            emails: list(p.emails),
            phones: list(p.phones),
            addresses: list(p.addresses),
            website: p.website,
            notes: p.notes,
            tags: p.tags,
            category_id: p.category_id,
            owner: p.owner,
            external_refs: list(p.external_refs),
            allow_shared_email: p.allow_shared_email,
        }
    }
}

impl From<NewOrganisation> for pb::CreateOrganisationRequest {
    fn from(o: NewOrganisation) -> Self {
        pb::CreateOrganisationRequest {
            name: o.name,
            managed: o.managed,
            emails: list(o.emails),
            phones: list(o.phones),
            addresses: list(o.addresses),
            website: o.website,
            notes: o.notes,
            tags: o.tags,
            category_id: o.category_id,
            owner: o.owner,
            external_refs: list(o.external_refs),
        }
    }
}

impl PersonChanges {
    pub fn into_request(self, id: String) -> pb::UpdatePersonRequest {
        pb::UpdatePersonRequest {
            id,
            expected_version: self.expected_version,
            title: self.title,
            given_name: self.given_name,
            family_name: self.family_name,
            job_title: self.job_title,
            emails: self
                .emails
                .map(|items| pb::EmailList { items: list(items) }),
            phones: self
                .phones
                .map(|items| pb::PhoneList { items: list(items) }),
            addresses: self
                .addresses
                .map(|items| pb::AddressList { items: list(items) }),
            website: self.website,
            notes: self.notes,
            tags: self.tags.map(|items| pb::TagList { items }),
            category_id: self.category_id,
            owner: self.owner,
            external_refs: self
                .external_refs
                .map(|items| pb::ExternalRefList { items: list(items) }),
            allow_shared_email: self.allow_shared_email,
        }
    }
}

impl OrganisationChanges {
    pub fn into_request(self, id: String) -> pb::UpdateOrganisationRequest {
        pb::UpdateOrganisationRequest {
            id,
            expected_version: self.expected_version,
            name: self.name,
            managed: self.managed,
            emails: self
                .emails
                .map(|items| pb::EmailList { items: list(items) }),
            phones: self
                .phones
                .map(|items| pb::PhoneList { items: list(items) }),
            addresses: self
                .addresses
                .map(|items| pb::AddressList { items: list(items) }),
            website: self.website,
            notes: self.notes,
            tags: self.tags.map(|items| pb::TagList { items }),
            category_id: self.category_id,
            owner: self.owner,
            external_refs: self
                .external_refs
                .map(|items| pb::ExternalRefList { items: list(items) }),
        }
    }
}
