//! The home page, the lists of persons and organisations, and the forms
//! that create them.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::IntoResponse;
use liaison_proto::contacts::v1 as pb;
use serde::Deserialize;

use super::{refusal, render, see_other, urlencode, Layout, PageResult};
use crate::accounts::Caller;
use crate::auth::pages::{StaffForm, StaffPage};
use crate::state::AppState;
use crate::GatewayError;

/// One contact as a list shows it.
pub struct Row {
    pub id: String,
    pub name: String,
    pub detail: String,
    pub tags: String,
    pub updated: String,
    pub in_trash: bool,
}

fn person_row(person: pb::Person) -> Row {
    let name = format!("{} {}", person.given_name, person.family_name)
        .trim()
        .to_owned();
    let email = person
        .emails
        .iter()
        .find(|email| email.primary)
        .or(person.emails.first())
        .map(|email| email.address.clone())
        .unwrap_or_default();
    let detail = [person.job_title, email]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" · ");
    Row {
        id: person.id,
        name: if name.is_empty() {
            "(no name)".into()
        } else {
            name
        },
        detail,
        tags: person.tags.join(", "),
        updated: day(person.updated_at.as_ref()),
        in_trash: person.in_trash,
    }
}

fn organisation_row(organisation: pb::Organisation) -> Row {
    let detail = [
        if organisation.managed {
            "ours".to_owned()
        } else {
            String::new()
        },
        organisation.website,
    ]
    .into_iter()
    .filter(|part| !part.is_empty())
    .collect::<Vec<_>>()
    .join(" · ");
    Row {
        id: organisation.id,
        name: organisation.name,
        detail,
        tags: organisation.tags.join(", "),
        updated: day(organisation.updated_at.as_ref()),
        in_trash: organisation.in_trash,
    }
}

/// `2026-11-22` of a time.
fn day(timestamp: Option<&prost_types::Timestamp>) -> String {
    crate::api::rfc3339(timestamp).chars().take(10).collect()
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    persons: u64,
    organisations: u64,
    recent: Vec<(String, Row)>,
}

pub async fn home(State(state): State<AppState>, StaffPage(caller): StaffPage) -> PageResult {
    let recently = pb::ListContactsRequest {
        sort: pb::ContactSort::UpdatedAt as i32,
        descending: true,
        page_size: 8,
        ..Default::default()
    };
    let mut contacts = state.backends.contacts();
    let persons = contacts
        .list_persons(state.backends.request(&caller, recently.clone()))
        .await?
        .into_inner();
    let organisations = contacts
        .list_organisations(state.backends.request(&caller, recently))
        .await?
        .into_inner();
    let mut recent: Vec<(String, Row)> = persons
        .persons
        .into_iter()
        .map(|person| (rfc(&person.updated_at), person_row(person)))
        .chain(organisations.organisations.into_iter().map(|organisation| {
            (
                rfc(&organisation.updated_at),
                organisation_row(organisation),
            )
        }))
        .collect();
    recent.sort_by(|a, b| b.0.cmp(&a.0));
    recent.truncate(10);
    let page = HomePage {
        layout: Layout::of(&caller, "home"),
        persons: persons.total_count,
        organisations: organisations.total_count,
        recent,
    };
    Ok(render(&page))
}

fn rfc(timestamp: &Option<prost_types::Timestamp>) -> String {
    crate::api::rfc3339(timestamp.as_ref())
}

/// The list's filters, as the form sends them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ListForm {
    pub q: String,
    pub category: String,
    pub tag: String,
    /// "", "true" or "false".
    pub managed: String,
    /// "name", "created_at" or "updated_at".
    pub sort: String,
    pub order: String,
    pub trash: String,
    pub cursor: String,
}

impl ListForm {
    fn request(&self) -> pb::ListContactsRequest {
        pb::ListContactsRequest {
            category_id: self.category.clone(),
            tags: self
                .tag
                .split(',')
                .map(str::trim)
                .filter(|tag| !tag.is_empty())
                .map(str::to_owned)
                .collect(),
            managed: match self.managed.as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            },
            query: self.q.clone(),
            updated_since: None,
            sort: match self.sort.as_str() {
                "created_at" => pb::ContactSort::CreatedAt,
                "updated_at" => pb::ContactSort::UpdatedAt,
                _ => pb::ContactSort::Name,
            } as i32,
            descending: self.order == "desc",
            page_size: 50,
            page_token: self.cursor.clone(),
            trash: match self.trash.as_str() {
                "only" => pb::TrashFilter::OnlyTrash,
                "all" => pb::TrashFilter::All,
                _ => pb::TrashFilter::Unspecified,
            } as i32,
        }
    }

    /// This list's query string with another cursor.
    fn with_cursor(&self, cursor: &str) -> String {
        let pairs = [
            ("q", &self.q),
            ("category", &self.category),
            ("tag", &self.tag),
            ("managed", &self.managed),
            ("sort", &self.sort),
            ("order", &self.order),
            ("trash", &self.trash),
        ];
        let mut query: Vec<String> = pairs
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(key, value)| format!("{key}={}", urlencode(value)))
            .collect();
        if !cursor.is_empty() {
            query.push(format!("cursor={}", urlencode(cursor)));
        }
        query.join("&")
    }
}

#[derive(Template)]
#[template(path = "contacts.html")]
struct ListPage {
    layout: Layout,
    title: &'static str,
    base: &'static str,
    organisations: bool,
    form: ListForm,
    categories: Vec<(String, String)>,
    rows: Vec<Row>,
    total: u64,
    next_query: Option<String>,
    first_query: Option<String>,
}

pub(super) async fn categories(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<(String, String)>, GatewayError> {
    let listed = state
        .backends
        .contacts()
        .list_categories(state.backends.request(caller, pb::ListCategoriesRequest {}))
        .await?
        .into_inner();
    Ok(listed
        .categories
        .into_iter()
        .map(|category| (category.id, category.name))
        .collect())
}

pub async fn persons(
    State(state): State<AppState>,
    StaffPage(caller): StaffPage,
    Query(form): Query<ListForm>,
) -> PageResult {
    list_page(&state, &caller, form, false).await
}

pub async fn organisations(
    State(state): State<AppState>,
    StaffPage(caller): StaffPage,
    Query(form): Query<ListForm>,
) -> PageResult {
    list_page(&state, &caller, form, true).await
}

/// One page of persons, or of organisations.
async fn list_page(
    state: &AppState,
    caller: &Caller,
    form: ListForm,
    organisations: bool,
) -> PageResult {
    let caller = caller.clone();
    let request = state.backends.request(&caller, form.request());
    let mut contacts = state.backends.contacts();
    let page = async {
        if organisations {
            let page = contacts.list_organisations(request).await?.into_inner();
            let rows = page
                .organisations
                .into_iter()
                .map(organisation_row)
                .collect();
            Ok::<_, GatewayError>((rows, page.total_count, page.next_page_token))
        } else {
            let page = contacts.list_persons(request).await?.into_inner();
            let rows = page.persons.into_iter().map(person_row).collect();
            Ok((rows, page.total_count, page.next_page_token))
        }
    };
    // The filter's category choices and the page, at once.
    let (page, categories) = tokio::join!(page, categories(state, &caller));
    let (rows, total, next_token) = page?;
    let (section, title, base) = if organisations {
        ("organisations", "Organisations", "/organisations")
    } else {
        ("persons", "Persons", "/persons")
    };
    let list = ListPage {
        layout: Layout::of(&caller, section),
        title,
        base,
        organisations,
        categories: categories?,
        rows,
        total,
        next_query: (!next_token.is_empty()).then(|| form.with_cursor(&next_token)),
        first_query: (!form.cursor.is_empty()).then(|| form.with_cursor("")),
        form,
    };
    Ok(render(&list))
}

/// The fields of the creation forms (one set for both kinds).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ContactForm {
    pub name: String,
    pub managed: Option<String>,
    pub title: String,
    pub given_name: String,
    pub family_name: String,
    pub job_title: String,
    pub email: String,
    pub phone: String,
    pub website: String,
    pub tags: String,
    pub notes: String,
}

impl ContactForm {
    fn emails(&self) -> Vec<pb::Email> {
        let address = self.email.trim();
        if address.is_empty() {
            return Vec::new();
        }
        vec![pb::Email {
            address: address.to_owned(),
            label: String::new(),
            primary: true,
        }]
    }

    fn phones(&self) -> Vec<pb::Phone> {
        let number = self.phone.trim();
        if number.is_empty() {
            return Vec::new();
        }
        vec![pb::Phone {
            number: number.to_owned(),
            label: String::new(),
            primary: true,
            country: String::new(),
        }]
    }

    fn tags(&self) -> Vec<String> {
        self.tags
            .split(',')
            .map(str::trim)
            .filter(|tag| !tag.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[derive(Template)]
#[template(path = "contact_new.html")]
struct NewContactPage {
    layout: Layout,
    organisation: bool,
    form: ContactForm,
    error: String,
    error_field: String,
}

pub async fn new_organisation(StaffPage(caller): StaffPage) -> PageResult {
    new_form(&caller, true)
}

pub async fn new_person(StaffPage(caller): StaffPage) -> PageResult {
    new_form(&caller, false)
}

fn new_form(caller: &Caller, organisation: bool) -> PageResult {
    let section = if organisation {
        "organisations"
    } else {
        "persons"
    };
    Ok(render(&NewContactPage {
        layout: Layout::of(caller, section),
        organisation,
        form: ContactForm::default(),
        error: String::new(),
        error_field: String::new(),
    }))
}

pub async fn create_organisation(
    State(state): State<AppState>,
    StaffForm(caller, form): StaffForm<ContactForm>,
) -> PageResult {
    let request = pb::CreateOrganisationRequest {
        name: form.name.clone(),
        managed: form.managed.is_some(),
        emails: form.emails(),
        phones: form.phones(),
        website: form.website.clone(),
        notes: form.notes.clone(),
        tags: form.tags(),
        ..Default::default()
    };
    let created = state
        .backends
        .contacts()
        .create_organisation(state.backends.request(&caller, request))
        .await;
    match created {
        Ok(organisation) => Ok(see_other(&format!(
            "/contacts/{}",
            organisation.into_inner().id
        ))),
        Err(status) => Ok(refused_form(&caller, true, form, status)),
    }
}

pub async fn create_person(
    State(state): State<AppState>,
    StaffForm(caller, form): StaffForm<ContactForm>,
) -> PageResult {
    let request = pb::CreatePersonRequest {
        title: form.title.clone(),
        given_name: form.given_name.clone(),
        family_name: form.family_name.clone(),
        job_title: form.job_title.clone(),
        emails: form.emails(),
        phones: form.phones(),
        website: form.website.clone(),
        notes: form.notes.clone(),
        tags: form.tags(),
        ..Default::default()
    };
    let created = state
        .backends
        .contacts()
        .create_person(state.backends.request(&caller, request))
        .await;
    match created {
        Ok(person) => Ok(see_other(&format!("/contacts/{}", person.into_inner().id))),
        Err(status) => Ok(refused_form(&caller, false, form, status)),
    }
}

/// The form again, with what was typed and why it was refused.
fn refused_form(
    caller: &Caller,
    organisation: bool,
    form: ContactForm,
    status: tonic::Status,
) -> axum::response::Response {
    let (http_status, message, field) = refusal(GatewayError::from(status));
    let section = if organisation {
        "organisations"
    } else {
        "persons"
    };
    let page = NewContactPage {
        layout: Layout::of(caller, section),
        organisation,
        form,
        error: message,
        error_field: field,
    };
    (http_status, render(&page)).into_response()
}
