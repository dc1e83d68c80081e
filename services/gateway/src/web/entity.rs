//! A contact's page: its fields and, right there, its relations grouped by
//! predicate, with a form to add one (the predicates this kind of entity
//! can take; the other end found by name) and a button to remove each.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use liaison_proto::common::v1::EntityRef;
use liaison_proto::contacts::v1 as pb;
use liaison_proto::relations::v1 as rel;
use serde::Deserialize;

use super::entity_fields::{self, FieldRow, Shared};
use super::{render, see_other, urlencode, Layout, PageError, PageResult};
use crate::accounts::user::Permission;
use crate::accounts::Caller;
use crate::auth::pages::{Button, StaffForm, StaffPage};
use crate::state::AppState;
use crate::GatewayError;

pub use liaison_proto::kinds::{ORGANISATION, PERSON};

/// The relations of one predicate.
pub struct RelationGroup {
    pub label: String,
    pub items: Vec<RelationItem>,
}

pub struct RelationItem {
    pub relation_id: String,
    pub other_id: String,
    pub other_label: String,
    pub other_in_trash: bool,
    pub internal: bool,
}

pub struct Choice {
    pub predicate: String,
    /// The verb, with " (custom)" when a built-in type reads the same.
    pub label: String,
    pub custom: bool,
    /// Kinds allowed at the other end, comma-separated; empty: any.
    pub object_kinds: String,
}

#[derive(Template)]
#[template(path = "entity.html")]
struct EntityPage {
    layout: Layout,
    id: String,
    kind: &'static str,
    name: String,
    /// The version shown, sent back by the trash, restore and delete
    /// buttons: a change made meanwhile refuses them.
    version: u64,
    in_trash: bool,
    /// The caller may delete it for good (ADR 0009).
    may_destroy: bool,
    /// The survivor (id, name) of a merge: the page offers no action.
    merged_into: Option<(String, String)>,
    fields: Vec<FieldRow>,
    groups: Vec<RelationGroup>,
    total_relations: u64,
    choices: Vec<Choice>,
    has_custom: bool,
    error: String,
    graph: super::graph::Graph,
    history: Vec<super::entity_history::HistoryLine>,
}

struct Loaded {
    kind: &'static str,
    name: String,
    version: u64,
    in_trash: bool,
    /// The survivor (id, name) when this contact was merged into it.
    merged_into: Option<(String, String)>,
    fields: Vec<FieldRow>,
}

/// A contact as stored, whichever its kind.
pub(super) async fn get_contact(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<pb::contact::Contact, PageError> {
    // A page address that cannot name a contact is a page that does not
    // exist, as for an id no contact has.
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(PageError::Failed(GatewayError::NotFound(
            "no contact has this address".into(),
        )));
    }
    let contact = state
        .backends
        .contacts()
        .get_contact(
            state
                .backends
                .request(caller, pb::GetContactRequest { id: id.to_owned() }),
        )
        .await?
        .into_inner();
    contact.contact.ok_or_else(|| {
        PageError::Failed(GatewayError::Internal(
            "contacts answered an empty contact".into(),
        ))
    })
}

async fn load_contact(state: &AppState, caller: &Caller, id: &str) -> Result<Loaded, PageError> {
    let contact = get_contact(state, caller, id).await?;
    let categories: HashMap<String, String> = state
        .backends
        .contacts()
        .list_categories(state.backends.request(caller, pb::ListCategoriesRequest {}))
        .await?
        .into_inner()
        .categories
        .into_iter()
        .map(|category| (category.id, category.name))
        .collect();
    let (kind, name, version, in_trash, merged_into, own, shared) = match contact {
        pb::contact::Contact::Person(person) => {
            let name = format!(
                "{} {} {}",
                person.title, person.given_name, person.family_name
            )
            .trim()
            .to_owned();
            let shared = Shared {
                emails: person.emails,
                phones: person.phones,
                addresses: person.addresses,
                website: person.website,
                notes: person.notes,
                tags: person.tags,
                category_id: person.category_id,
                owner: person.owner,
                external_refs: person.external_refs,
                created_at: person.created_at,
                updated_at: person.updated_at,
            };
            let own = vec![("Job title", person.job_title)];
            (
                PERSON,
                name,
                person.version,
                person.in_trash,
                person.merged_into,
                own,
                shared,
            )
        }
        pb::contact::Contact::Organisation(organisation) => {
            let shared = Shared {
                emails: organisation.emails,
                phones: organisation.phones,
                addresses: organisation.addresses,
                website: organisation.website,
                notes: organisation.notes,
                tags: organisation.tags,
                category_id: organisation.category_id,
                owner: organisation.owner,
                external_refs: organisation.external_refs,
                created_at: organisation.created_at,
                updated_at: organisation.updated_at,
            };
            let own = vec![(
                "Ours",
                if organisation.managed {
                    "yes".to_owned()
                } else {
                    "no".to_owned()
                },
            )];
            (
                ORGANISATION,
                organisation.name,
                organisation.version,
                organisation.in_trash,
                organisation.merged_into,
                own,
                shared,
            )
        }
    };
    let merged_into = if merged_into.is_empty() {
        None
    } else {
        let survivor = match get_contact(state, caller, &merged_into).await {
            Ok(pb::contact::Contact::Person(person)) => {
                format!("{} {}", person.given_name, person.family_name)
                    .trim()
                    .to_owned()
            }
            Ok(pb::contact::Contact::Organisation(organisation)) => organisation.name,
            Err(_) => "another contact".to_owned(),
        };
        Some((merged_into, survivor))
    };
    Ok(Loaded {
        kind,
        name,
        version,
        in_trash,
        merged_into,
        fields: entity_fields::rows(own, shared, &categories),
    })
}

async fn render_page(state: &AppState, caller: &Caller, id: &str, error: String) -> PageResult {
    render_page_with_hops(state, caller, id, error, 1).await
}

async fn render_page_with_hops(
    state: &AppState,
    caller: &Caller,
    id: &str,
    error: String,
    hops: u8,
) -> PageResult {
    let loaded = load_contact(state, caller, id).await?;
    let entity = EntityRef {
        kind: loaded.kind.to_owned(),
        id: id.to_owned(),
    };
    let graph = super::graph::neighbourhood(state, caller, &entity, &loaded.name, hops).await?;
    let history = super::entity_history::lines(state, caller, &entity).await?;
    let mut relations = state.backends.relations();
    let listed = relations
        .list_entity_relations(state.backends.request(
            caller,
            rel::ListEntityRelationsRequest {
                entity: Some(entity),
                page_size: 500,
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    let mut groups: Vec<RelationGroup> = Vec::new();
    for relation in listed.relations {
        let other = relation.other.unwrap_or_default();
        let item = RelationItem {
            relation_id: relation.relation_id,
            other_id: other.id,
            other_label: relation.other_label,
            other_in_trash: relation.other_in_trash,
            internal: relation.internal,
        };
        match groups
            .iter_mut()
            .find(|group| group.label == relation.predicate_label)
        {
            Some(group) => group.items.push(item),
            None => groups.push(RelationGroup {
                label: relation.predicate_label,
                items: vec![item],
            }),
        }
    }
    let types = relations
        .list_relation_types(state.backends.request(
            caller,
            rel::ListRelationTypesRequest {
                subject_kind: loaded.kind.to_owned(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    let custom_types: std::collections::HashSet<&str> = types
        .types
        .iter()
        .filter(|kind| kind.custom)
        .map(|kind| kind.id.as_str())
        .collect();
    let mut choices: Vec<Choice> = types
        .predicates
        .iter()
        .map(|choice| Choice {
            predicate: choice.predicate.clone(),
            label: choice.label.clone(),
            custom: custom_types.contains(choice.type_id.as_str()),
            object_kinds: choice.object_kinds.join(","),
        })
        .collect();
    // Two entries alike would be a guess: a custom verb reading as a
    // built-in one says so.
    let built_in: std::collections::HashSet<String> = choices
        .iter()
        .filter(|choice| !choice.custom)
        .map(|choice| choice.label.to_lowercase())
        .collect();
    for choice in choices.iter_mut().filter(|choice| choice.custom) {
        if built_in.contains(&choice.label.to_lowercase()) {
            choice.label.push_str(" (custom)");
        }
    }
    choices.sort_by_key(|choice| (choice.custom, choice.label.to_lowercase()));
    let has_custom = choices.iter().any(|choice| choice.custom);
    let status = if error.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::BAD_REQUEST
    };
    let page = EntityPage {
        layout: Layout::of(
            caller,
            if loaded.kind == PERSON {
                "persons"
            } else {
                "organisations"
            },
        ),
        id: id.to_owned(),
        kind: loaded.kind,
        name: loaded.name,
        version: loaded.version,
        in_trash: loaded.in_trash,
        may_destroy: caller.may(Permission::Destroy),
        merged_into: loaded.merged_into,
        fields: loaded.fields,
        groups,
        total_relations: listed.total,
        choices,
        has_custom,
        error,
        graph,
        history,
    };
    Ok((status, render(&page)).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PageQuery {
    /// Hops drawn in the neighbourhood picture: 1 (default) or 2.
    hops: Option<u8>,
}

pub async fn page(
    State(state): State<AppState>,
    StaffPage(caller): StaffPage,
    Path(id): Path<String>,
    axum::extract::Query(query): axum::extract::Query<PageQuery>,
) -> PageResult {
    let hops = if query.hops == Some(2) { 2 } else { 1 };
    render_page_with_hops(&state, &caller, &id, String::new(), hops).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RelationForm {
    predicate: String,
    /// Set by the search-as-you-type list: `kind:id`.
    target: String,
    /// What was typed: a name, resolved on the server when no target was
    /// picked (no script).
    target_name: String,
}

pub async fn add_relation(
    State(state): State<AppState>,
    Path(id): Path<String>,
    StaffForm(caller, form): StaffForm<RelationForm>,
) -> PageResult {
    let loaded = load_contact(&state, &caller, &id).await?;
    let object = match find_contact(&state, &caller, &form.target, &form.target_name, &[]).await {
        Ok(object) => object,
        Err(message) => return render_page(&state, &caller, &id, message).await,
    };
    let request = rel::CreateRelationRequest {
        subject: Some(EntityRef {
            kind: loaded.kind.to_owned(),
            id: id.clone(),
        }),
        predicate: form.predicate.clone(),
        object: Some(object),
    };
    match state
        .backends
        .relations()
        .create_relation(state.backends.request(&caller, request))
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "/contacts/{}#relations",
            urlencode(&id)
        ))),
        Err(status) => {
            let (_, _, message) = GatewayError::from(status).public_parts();
            render_page(&state, &caller, &id, message).await
        }
    }
}

/// A contact picked in a search-as-you-type list (`kind:id`), or else the
/// one contact of `kinds` (any kind when empty) whose name is exactly what
/// was typed.
pub(super) async fn find_contact(
    state: &AppState,
    caller: &Caller,
    picked: &str,
    typed: &str,
    kinds: &[&str],
) -> Result<EntityRef, String> {
    let wanted = |kind: &str| kinds.is_empty() || kinds.contains(&kind);
    if let Some((kind, id)) = picked.split_once(':') {
        if (kind == PERSON || kind == ORGANISATION) && wanted(kind) && !id.is_empty() {
            return Ok(EntityRef {
                kind: kind.to_owned(),
                id: id.to_owned(),
            });
        }
    }
    let name = typed.trim();
    if name.is_empty() {
        return Err("Choose the other contact.".into());
    }
    let query = pb::ListContactsRequest {
        query: name.to_owned(),
        page_size: 10,
        ..Default::default()
    };
    let mut contacts = state.backends.contacts();
    let lowered = name.to_lowercase();
    let mut exact: Vec<EntityRef> = Vec::new();
    if wanted(ORGANISATION) {
        let organisations = contacts
            .list_organisations(state.backends.request(caller, query.clone()))
            .await
            .map_err(|status| status.message().to_owned())?
            .into_inner();
        exact.extend(
            organisations
                .organisations
                .iter()
                .filter(|o| o.name.to_lowercase() == lowered)
                .map(|o| EntityRef {
                    kind: ORGANISATION.into(),
                    id: o.id.clone(),
                }),
        );
    }
    if wanted(PERSON) {
        let persons = contacts
            .list_persons(state.backends.request(caller, query))
            .await
            .map_err(|status| status.message().to_owned())?
            .into_inner();
        exact.extend(
            persons
                .persons
                .iter()
                .filter(|p| {
                    format!("{} {}", p.given_name, p.family_name)
                        .trim()
                        .to_lowercase()
                        == lowered
                })
                .map(|p| EntityRef {
                    kind: PERSON.into(),
                    id: p.id.clone(),
                }),
        );
    }
    match exact.len() {
        1 => Ok(exact.remove(0)),
        0 => Err(format!("No contact is named {name:?}.")),
        n => Err(format!(
            "{n} contacts are named {name:?}: pick one from the list as you type."
        )),
    }
}

pub async fn remove_relation(
    State(state): State<AppState>,
    Path((id, relation_id)): Path<(String, String)>,
    StaffForm(caller, Button {}): StaffForm<Button>,
) -> PageResult {
    match state
        .backends
        .relations()
        .delete_relation(
            state
                .backends
                .request(&caller, rel::DeleteRelationRequest { id: relation_id }),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "/contacts/{}#relations",
            urlencode(&id)
        ))),
        Err(status) => {
            let (_, _, message) = GatewayError::from(status).public_parts();
            render_page(&state, &caller, &id, message).await
        }
    }
}

/// What the trash, restore and delete buttons send.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LifecycleForm {
    version: Option<u64>,
}

/// What a lifecycle button does.
#[derive(Clone, Copy)]
pub enum Lifecycle {
    Trash,
    Restore,
    /// For good; only from the trash.
    Purge,
}

async fn change_lifecycle(
    state: &AppState,
    caller: Caller,
    id: &str,
    form: LifecycleForm,
    change: Lifecycle,
) -> PageResult {
    let loaded = load_contact(state, &caller, id).await?;
    let request = pb::ContactVersionRequest {
        id: id.to_owned(),
        expected_version: form.version,
    };
    let request = state.backends.request(&caller, request);
    let mut contacts = state.backends.contacts();
    let done = match change {
        Lifecycle::Trash => contacts.trash_contact(request).await.map(drop),
        Lifecycle::Restore => contacts.restore_contact(request).await.map(drop),
        Lifecycle::Purge => contacts.purge_contact(request).await.map(drop),
    };
    match (done, change) {
        (Ok(()), Lifecycle::Purge) => {
            let list = if loaded.kind == PERSON {
                "/persons?trash=only"
            } else {
                "/organisations?trash=only"
            };
            Ok(see_other(list))
        }
        (Ok(()), _) => Ok(see_other(&format!("/contacts/{}", urlencode(id)))),
        (Err(status), _) => {
            let (_, _, message) = GatewayError::from(status).public_parts();
            render_page(state, &caller, id, message).await
        }
    }
}

pub async fn trash(
    State(state): State<AppState>,
    Path(id): Path<String>,
    StaffForm(caller, form): StaffForm<LifecycleForm>,
) -> PageResult {
    change_lifecycle(&state, caller, &id, form, Lifecycle::Trash).await
}

pub async fn restore(
    State(state): State<AppState>,
    Path(id): Path<String>,
    StaffForm(caller, form): StaffForm<LifecycleForm>,
) -> PageResult {
    change_lifecycle(&state, caller, &id, form, Lifecycle::Restore).await
}

/// The duplicate button: a copy with the copiable relations, then its page.
pub async fn duplicate(
    State(state): State<AppState>,
    Path(id): Path<String>,
    StaffForm(caller, Button {}): StaffForm<Button>,
) -> PageResult {
    match crate::api::contacts::duplicate(&state, &caller, id.clone()).await {
        Ok(duplicate) => Ok(see_other(&format!(
            "/contacts/{}",
            urlencode(duplicate.contact.id())
        ))),
        Err(error) => {
            let (_, _, message) = error.public_parts();
            render_page(&state, &caller, &id, message).await
        }
    }
}

pub async fn purge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    StaffForm(caller, form): StaffForm<LifecycleForm>,
) -> PageResult {
    crate::auth::require(&caller, Permission::Destroy)?;
    change_lifecycle(&state, caller, &id, form, Lifecycle::Purge).await
}
