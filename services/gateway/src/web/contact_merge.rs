//! Merging a duplicate into a contact. The contact whose page it is
//! survives; the duplicate is found by name, then both are shown side by
//! side: for each field where they differ, which value to keep; for the
//! lists (emails, phones, addresses, tags), what the survivor will hold;
//! the relations each has (the duplicate's move to the survivor). The
//! versions shown are sent back, so a change made meanwhile to either
//! refuses the merge instead of merging something nobody reviewed.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Form;
use liaison_proto::common::v1::EntityRef;
use liaison_proto::contacts::v1 as pb;
use liaison_proto::relations::v1 as rel;
use serde::Deserialize;

use super::contacts::categories;
use super::entity::{find_contact, get_contact, ORGANISATION, PERSON};
use super::{
    check_form_csrf, render, see_other, staff_of, urlencode, Layout, PageError, PageResult,
};
use crate::accounts::Caller;
use crate::api::AppState;
use crate::GatewayError;

/// One field of both contacts.
pub struct FieldRow {
    pub key: &'static str,
    pub label: &'static str,
    pub survivor: String,
    pub duplicate: String,
    /// Preselected: the duplicate's value, when the survivor has none.
    pub take_duplicate: bool,
}

impl FieldRow {
    pub fn differs(&self) -> bool {
        self.survivor != self.duplicate
    }
}

/// One list of both contacts, and what the survivor holds after.
pub struct ListRow {
    pub label: &'static str,
    pub survivor: Vec<String>,
    pub duplicate: Vec<String>,
    pub after: Vec<String>,
}

/// A contact as the merge page shows it.
pub struct Side {
    pub id: String,
    pub name: String,
    pub version: u64,
    pub relations: u64,
    /// Raw values of the fields a person may pick, by key.
    values: Vec<(&'static str, &'static str, String)>,
    lists: Vec<(&'static str, Vec<String>)>,
}

fn kind_of(contact: &pb::contact::Contact) -> &'static str {
    match contact {
        pb::contact::Contact::Person(_) => PERSON,
        pb::contact::Contact::Organisation(_) => ORGANISATION,
    }
}

fn address_line(address: &pb::PostalAddress) -> String {
    let place = [&address.postal_code, &address.city]
        .iter()
        .filter(|part| !part.is_empty())
        .map(|part| part.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let line = [
        address.street.replace('\n', ", "),
        place,
        address.region.clone(),
        address.country.clone(),
    ]
    .into_iter()
    .filter(|part| !part.is_empty())
    .collect::<Vec<_>>()
    .join(", ");
    if address.label.is_empty() {
        line
    } else {
        format!("{}: {line}", address.label)
    }
}

fn labelled(value: &str, label: &str) -> String {
    if label.is_empty() {
        value.to_owned()
    } else {
        format!("{value} ({label})")
    }
}

impl Side {
    fn of(contact: pb::contact::Contact, relations: u64) -> Side {
        match contact {
            pb::contact::Contact::Person(person) => Side {
                name: format!("{} {}", person.given_name, person.family_name)
                    .trim()
                    .to_owned(),
                id: person.id,
                version: person.version,
                relations,
                values: vec![
                    ("title", "Title", person.title),
                    ("given_name", "Given name", person.given_name),
                    ("family_name", "Family name", person.family_name),
                    ("job_title", "Job title", person.job_title),
                    ("website", "Website", person.website),
                    ("notes", "Notes", person.notes),
                    ("category_id", "Category", person.category_id),
                ],
                lists: lists(person.emails, person.phones, person.addresses, person.tags),
            },
            pb::contact::Contact::Organisation(organisation) => Side {
                name: organisation.name.clone(),
                id: organisation.id,
                version: organisation.version,
                relations,
                values: vec![
                    ("name", "Name", organisation.name),
                    (
                        "managed",
                        "One of ours",
                        if organisation.managed { "yes" } else { "no" }.to_owned(),
                    ),
                    ("website", "Website", organisation.website),
                    ("notes", "Notes", organisation.notes),
                    ("category_id", "Category", organisation.category_id),
                ],
                lists: lists(
                    organisation.emails,
                    organisation.phones,
                    organisation.addresses,
                    organisation.tags,
                ),
            },
        }
    }

    fn value(&self, key: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, _, value)| value.as_str())
            .unwrap_or("")
    }
}

/// The lists as shown, each item with its label.
fn lists(
    emails: Vec<pb::Email>,
    phones: Vec<pb::Phone>,
    addresses: Vec<pb::PostalAddress>,
    tags: Vec<String>,
) -> Vec<(&'static str, Vec<String>)> {
    vec![
        (
            "Emails",
            emails
                .iter()
                .map(|email| labelled(&email.address, &email.label))
                .collect(),
        ),
        (
            "Phones",
            phones
                .iter()
                .map(|phone| labelled(&phone.number, &phone.label))
                .collect(),
        ),
        ("Addresses", addresses.iter().map(address_line).collect()),
        ("Tags", tags),
    ]
}

/// The survivor's items, then the duplicate's it lacks (compared without
/// case, as the merge itself compares emails and tags).
fn union(survivor: &[String], duplicate: &[String]) -> Vec<String> {
    let key = |item: &str| {
        item.split(" (")
            .next()
            .unwrap_or(item)
            .trim()
            .to_lowercase()
    };
    let mut after = survivor.to_vec();
    for item in duplicate {
        if !after.iter().any(|kept| key(kept) == key(item)) {
            after.push(item.clone());
        }
    }
    after
}

/// The comparison of both sides; `picked` are the keys whose duplicate
/// value was chosen (None: the defaults).
fn compare(
    survivor: &Side,
    duplicate: &Side,
    category_names: &[(String, String)],
    picked: Option<&[String]>,
) -> (Vec<FieldRow>, Vec<ListRow>) {
    let shown = |key: &str, value: &str| -> String {
        if key == "category_id" {
            category_names
                .iter()
                .find(|(id, _)| id == value)
                .map(|(_, name)| name.clone())
                .unwrap_or_else(|| value.to_owned())
        } else {
            value.to_owned()
        }
    };
    let fields = survivor
        .values
        .iter()
        .map(|(key, label, value)| {
            let theirs = duplicate.value(key);
            FieldRow {
                key,
                label,
                survivor: shown(key, value),
                duplicate: shown(key, theirs),
                take_duplicate: match picked {
                    Some(picked) => picked.iter().any(|p| p == key),
                    None => value.is_empty() && !theirs.is_empty(),
                },
            }
        })
        .collect();
    let lists = survivor
        .lists
        .iter()
        .zip(&duplicate.lists)
        .map(|((label, ours), (_, theirs))| ListRow {
            label,
            survivor: ours.clone(),
            duplicate: theirs.clone(),
            after: union(ours, theirs),
        })
        .collect();
    (fields, lists)
}

/// The survivor's update that takes the picked values of the duplicate;
/// None when nothing is picked.
fn picked_update(
    kind: &str,
    survivor: &Side,
    duplicate: &Side,
    picked: &[String],
) -> Option<Update> {
    let taken: Vec<(&str, &str)> = survivor
        .values
        .iter()
        .map(|(key, _, ours)| (*key, ours.as_str()))
        .filter(|(key, _)| picked.iter().any(|p| p == key))
        .map(|(key, ours)| (key, ours, duplicate.value(key)))
        .filter(|(_, ours, theirs)| ours != theirs)
        .map(|(key, _, theirs)| (key, theirs))
        .collect();
    if taken.is_empty() {
        return None;
    }
    let take = |key: &str| {
        taken
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, value)| (*value).to_owned())
    };
    let update = if kind == PERSON {
        Update::Person(pb::UpdatePersonRequest {
            id: survivor.id.clone(),
            expected_version: Some(survivor.version),
            title: take("title"),
            given_name: take("given_name"),
            family_name: take("family_name"),
            job_title: take("job_title"),
            website: take("website"),
            notes: take("notes"),
            category_id: take("category_id"),
            ..Default::default()
        })
    } else {
        Update::Organisation(pb::UpdateOrganisationRequest {
            id: survivor.id.clone(),
            expected_version: Some(survivor.version),
            name: take("name"),
            managed: take("managed").map(|value| value == "yes"),
            website: take("website"),
            notes: take("notes"),
            category_id: take("category_id"),
            ..Default::default()
        })
    };
    Some(update)
}

enum Update {
    Person(pb::UpdatePersonRequest),
    Organisation(pb::UpdateOrganisationRequest),
}

#[derive(Template)]
#[template(path = "contact_merge.html")]
struct MergePage {
    layout: Layout,
    id: String,
    name: String,
    kind: &'static str,
    /// What was typed to find the duplicate.
    typed: String,
    error: String,
    /// Set once the duplicate is known.
    duplicate: Option<Side>,
    survivor_version: u64,
    survivor_relations: u64,
    fields: Vec<FieldRow>,
    lists: Vec<ListRow>,
}

async fn relation_count(
    state: &AppState,
    caller: &Caller,
    kind: &str,
    id: &str,
) -> Result<u64, PageError> {
    let listed = state
        .backends
        .relations()
        .list_entity_relations(state.backends.request(
            caller,
            rel::ListEntityRelationsRequest {
                entity: Some(EntityRef {
                    kind: kind.to_owned(),
                    id: id.to_owned(),
                }),
                page_size: 1,
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    Ok(listed.total)
}

async fn side(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(&'static str, Side), PageError> {
    let contact = get_contact(state, caller, id).await?;
    let kind = kind_of(&contact);
    let relations = relation_count(state, caller, kind, id).await?;
    Ok((kind, Side::of(contact, relations)))
}

/// What the page shows under its heading.
enum Shown<'a> {
    /// The search for a duplicate: what was typed.
    Search { typed: String },
    /// Both contacts side by side; `picked`: the values chosen in a form
    /// sent back (None: the defaults).
    Comparison {
        duplicate: Side,
        picked: Option<&'a [String]>,
    },
}

/// The page, with an error message when `error` is not empty.
async fn merge_page(
    state: &AppState,
    caller: &Caller,
    (survivor, kind): (Side, &'static str),
    shown: Shown<'_>,
    error: String,
    status: StatusCode,
) -> PageResult {
    let (typed, duplicate, fields, lists) = match shown {
        Shown::Search { typed } => (typed, None, Vec::new(), Vec::new()),
        Shown::Comparison { duplicate, picked } => {
            let names = categories(state, caller).await?;
            let (fields, lists) = compare(&survivor, &duplicate, &names, picked);
            (String::new(), Some(duplicate), fields, lists)
        }
    };
    let section = if kind == PERSON {
        "persons"
    } else {
        "organisations"
    };
    let page = MergePage {
        layout: Layout::of(caller, section),
        id: survivor.id.clone(),
        name: survivor.name.clone(),
        kind,
        typed,
        error,
        duplicate,
        survivor_version: survivor.version,
        survivor_relations: survivor.relations,
        fields,
        lists,
    };
    Ok((status, render(&page)).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct MergeQuery {
    /// Picked from the search list: `kind:id`.
    duplicate: String,
    /// Typed: resolved on the server when nothing was picked.
    duplicate_name: String,
}

/// The duplicate the query names, or why it names none.
async fn chosen_duplicate(
    state: &AppState,
    caller: &Caller,
    survivor: &Side,
    kind: &'static str,
    query: &MergeQuery,
) -> Result<Result<Side, (String, StatusCode)>, PageError> {
    let found = find_contact(
        state,
        caller,
        &query.duplicate,
        &query.duplicate_name,
        &[kind],
    )
    .await;
    let found = match found {
        Ok(found) if found.id == survivor.id => {
            let message = format!(
                "{} cannot be merged into itself: choose its duplicate.",
                survivor.name
            );
            return Ok(Err((message, StatusCode::BAD_REQUEST)));
        }
        Ok(found) => found,
        Err(message) => return Ok(Err((message, StatusCode::BAD_REQUEST))),
    };
    match side(state, caller, &found.id).await {
        Ok((duplicate_kind, duplicate)) if duplicate_kind == kind => Ok(Ok(duplicate)),
        Ok(_) => Ok(Err((
            "Only contacts of the same kind can be merged.".to_owned(),
            StatusCode::BAD_REQUEST,
        ))),
        Err(PageError::Failed(error)) => {
            let (status, _, message) = error.public_parts();
            Ok(Err((message, status)))
        }
        Err(other) => Err(other),
    }
}

pub async fn page(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<MergeQuery>,
) -> PageResult {
    let caller = staff_of(
        &state,
        &headers,
        &format!("/contacts/{}/merge", urlencode(&id)),
    )
    .await?;
    let (kind, survivor) = side(&state, &caller, &id).await?;
    if query.duplicate.is_empty() && query.duplicate_name.trim().is_empty() {
        let shown = Shown::Search {
            typed: String::new(),
        };
        return merge_page(
            &state,
            &caller,
            (survivor, kind),
            shown,
            String::new(),
            StatusCode::OK,
        )
        .await;
    }
    match chosen_duplicate(&state, &caller, &survivor, kind, &query).await? {
        Ok(duplicate) => {
            let shown = Shown::Comparison {
                duplicate,
                picked: None,
            };
            merge_page(
                &state,
                &caller,
                (survivor, kind),
                shown,
                String::new(),
                StatusCode::OK,
            )
            .await
        }
        Err((message, status)) => {
            let shown = Shown::Search {
                typed: query.duplicate_name,
            };
            merge_page(&state, &caller, (survivor, kind), shown, message, status).await
        }
    }
}

pub async fn merge(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(fields): Form<HashMap<String, String>>,
) -> PageResult {
    let caller = staff_of(
        &state,
        &headers,
        &format!("/contacts/{}/merge", urlencode(&id)),
    )
    .await?;
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or("");
    check_form_csrf(&caller, field("csrf"))?;
    let version = |name: &str| {
        field(name).trim().parse::<u64>().map_err(|_| {
            PageError::Failed(GatewayError::invalid(
                name,
                "the form lacks the versions it was read at",
            ))
        })
    };
    let (survivor_version, duplicate_version) =
        (version("version")?, version("duplicate_version")?);
    let (kind, survivor) = side(&state, &caller, &id).await?;
    let (duplicate_kind, duplicate) = side(&state, &caller, field("duplicate")).await?;
    if duplicate_kind != kind || duplicate.id == survivor.id {
        return Err(PageError::Failed(GatewayError::invalid(
            "duplicate",
            "the duplicate must be another contact of the same kind",
        )));
    }
    let picked: Vec<String> = fields
        .iter()
        .filter(|(name, value)| name.starts_with("pick-") && value.as_str() == "duplicate")
        .map(|(name, _)| name["pick-".len()..].to_owned())
        .collect();
    let again = |survivor: Side, duplicate: Side, message: String, status: StatusCode| {
        let state = state.clone();
        let caller = caller.clone();
        let picked = picked.clone();
        async move {
            let shown = Shown::Comparison {
                duplicate,
                picked: Some(&picked),
            };
            merge_page(&state, &caller, (survivor, kind), shown, message, status).await
        }
    };
    if survivor.version != survivor_version || duplicate.version != duplicate_version {
        let message = "One of the two contacts changed since this page was shown: check the comparison again.".to_owned();
        return again(survivor, duplicate, message, StatusCode::CONFLICT).await;
    }
    let mut contacts = state.backends.contacts();
    if let Some(update) = picked_update(kind, &survivor, &duplicate, &picked) {
        let updated = match update {
            Update::Person(request) => contacts
                .update_person(state.backends.request(&caller, request))
                .await
                .map(drop),
            Update::Organisation(request) => contacts
                .update_organisation(state.backends.request(&caller, request))
                .await
                .map(drop),
        };
        if let Err(status) = updated {
            let (http_status, _, message) = GatewayError::from(status).public_parts();
            return again(survivor, duplicate, message, http_status).await;
        }
    }
    let merged = contacts
        .merge_contacts(state.backends.request(
            &caller,
            pb::MergeContactsRequest {
                survivor_id: survivor.id.clone(),
                merged_id: duplicate.id.clone(),
            },
        ))
        .await;
    match merged {
        Ok(_) => Ok(see_other(&format!("/contacts/{}", urlencode(&id)))),
        Err(status) => {
            let (http_status, _, message) = GatewayError::from(status).public_parts();
            let (_, survivor) = side(&state, &caller, &id).await?;
            again(survivor, duplicate, message, http_status).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(id: &str, given: &str, job: &str, emails: &[&str]) -> Side {
        Side::of(
            pb::contact::Contact::Person(pb::Person {
                id: id.into(),
                version: 2,
                given_name: given.into(),
                job_title: job.into(),
                emails: emails
                    .iter()
                    .map(|address| pb::Email {
                        address: (*address).into(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }),
            0,
        )
    }

    #[test]
    fn an_empty_field_defaults_to_the_duplicates_value_and_lists_are_joined() {
        let survivor = person("s", "Ada", "", &["ada@example.com"]);
        let duplicate = person(
            "d",
            "Ada L.",
            "Countess",
            &["ADA@example.com", "al@example.com"],
        );
        let (fields, lists) = compare(&survivor, &duplicate, &[], None);
        let given = fields
            .iter()
            .find(|f| f.key == "given_name")
            .expect("given name");
        assert!(
            given.differs() && !given.take_duplicate,
            "both set: the survivor's"
        );
        let job = fields
            .iter()
            .find(|f| f.key == "job_title")
            .expect("job title");
        assert!(job.take_duplicate, "only the duplicate has one");
        assert!(!fields
            .iter()
            .find(|f| f.key == "notes")
            .expect("notes")
            .differs());
        assert_eq!(lists[0].after, vec!["ada@example.com", "al@example.com"]);
    }

    #[test]
    fn only_picked_values_that_differ_are_written_with_the_version_shown() {
        let survivor = person("s", "Ada", "", &[]);
        let duplicate = person("d", "Ada", "Countess", &[]);
        assert!(picked_update(PERSON, &survivor, &duplicate, &[]).is_none());
        assert!(
            picked_update(PERSON, &survivor, &duplicate, &["given_name".into()]).is_none(),
            "the same value: nothing to write"
        );
        match picked_update(
            PERSON,
            &survivor,
            &duplicate,
            &["job_title".into(), "bogus".into()],
        ) {
            Some(Update::Person(update)) => {
                assert_eq!(update.job_title.as_deref(), Some("Countess"));
                assert_eq!(update.given_name, None);
                assert_eq!(update.expected_version, Some(2));
                assert_eq!(update.emails, None, "lists are the merge's to join");
            }
            _ => panic!("a person update"),
        }
    }

    #[test]
    fn an_organisation_can_take_the_duplicates_mark() {
        let side = |id: &str, managed: bool| {
            Side::of(
                pb::contact::Contact::Organisation(pb::Organisation {
                    id: id.into(),
                    name: "Acme".into(),
                    managed,
                    ..Default::default()
                }),
                0,
            )
        };
        match picked_update(
            ORGANISATION,
            &side("s", false),
            &side("d", true),
            &["managed".into()],
        ) {
            Some(Update::Organisation(update)) => assert_eq!(update.managed, Some(true)),
            _ => panic!("an organisation update"),
        }
    }
}
