//! Merging a duplicate into a contact. The contact whose page it is
//! survives; the duplicate is found by name, then both are shown side by
//! side: for each field where they differ, which value to keep; for the
//! lists (emails, phones, addresses, tags), what the survivor will hold;
//! the relations each has (the duplicate's move to the survivor). The
//! versions shown are sent back, so a change made meanwhile to either
//! refuses the merge instead of merging something nobody reviewed.

mod comparison;

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use liaison_proto::common::v1::EntityRef;
use liaison_proto::contacts::v1 as pb;
use liaison_proto::relations::v1 as rel;
use serde::Deserialize;

use super::contacts::categories;
use super::entity::{find_contact, get_contact, PERSON};
use super::{render, see_other, urlencode, Layout, PageError, PageResult};
use crate::accounts::Caller;
use crate::auth::pages::{StaffForm, StaffPage};
use crate::state::AppState;
use crate::GatewayError;
use comparison::{compare, kind_of, picked_update, FieldRow, ListRow, Side, Update};

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
    StaffPage(caller): StaffPage,
    Path(id): Path<String>,
    Query(query): Query<MergeQuery>,
) -> PageResult {
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
    Path(id): Path<String>,
    StaffForm(caller, fields): StaffForm<HashMap<String, String>>,
) -> PageResult {
    let field = |name: &str| fields.get(name).map(String::as_str).unwrap_or("");
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
