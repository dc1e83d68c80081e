//! Relation types: the list (built-in and custom, with their counts), a
//! form to create a custom type, and disabling or enabling one.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use liaison_proto::kinds;
use liaison_proto::relations::v1 as rel;
use serde::Deserialize;

use super::{render, see_other, Layout, PageResult};
use crate::accounts::Caller;
use crate::auth::pages::{Button, StaffForm, StaffPage};
use crate::state::AppState;
use crate::GatewayError;

pub struct TypeRow {
    pub id: String,
    pub verb: String,
    pub symmetric_verb: String,
    pub subject_kinds: String,
    pub object_kinds: String,
    pub enabled: bool,
    pub custom: bool,
    pub relation_count: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TypeForm {
    verb: String,
    symmetric_verb: String,
    /// Checkbox values: `contacts.person`, `contacts.organisation`.
    #[serde(default)]
    subject_person: Option<String>,
    subject_organisation: Option<String>,
    object_person: Option<String>,
    object_organisation: Option<String>,
}

#[derive(Template)]
#[template(path = "relation_types.html")]
struct TypesPage {
    layout: Layout,
    types: Vec<TypeRow>,
    form: TypeForm,
    error: String,
}

fn kinds_label(kinds: &[String]) -> String {
    if kinds.is_empty() {
        return "any".to_owned();
    }
    kinds
        .iter()
        .map(|kind| match kind.as_str() {
            kinds::PERSON => "persons",
            kinds::ORGANISATION => "organisations",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(", ")
}

async fn render_types(
    state: &AppState,
    caller: &Caller,
    form: TypeForm,
    error: String,
) -> PageResult {
    let listed = state
        .backends
        .relations()
        .list_relation_types(state.backends.request(
            caller,
            rel::ListRelationTypesRequest {
                include_disabled: true,
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    let types = listed
        .types
        .into_iter()
        .map(|kind| {
            let subject = kind.subject_side.unwrap_or_default();
            let object = kind.object_side.unwrap_or_default();
            TypeRow {
                id: kind.id,
                verb: subject.label,
                symmetric_verb: object.label,
                subject_kinds: kinds_label(&subject.kinds),
                object_kinds: kinds_label(&object.kinds),
                enabled: kind.enabled,
                custom: kind.custom,
                relation_count: kind.relation_count,
            }
        })
        .collect();
    let status = if error.is_empty() {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::BAD_REQUEST
    };
    let page = TypesPage {
        layout: Layout::of(caller, "relation-types"),
        types,
        form,
        error,
    };
    Ok((status, render(&page)).into_response())
}

pub async fn list(State(state): State<AppState>, StaffPage(caller): StaffPage) -> PageResult {
    render_types(&state, &caller, TypeForm::default(), String::new()).await
}

pub async fn create(
    State(state): State<AppState>,
    StaffForm(caller, form): StaffForm<TypeForm>,
) -> PageResult {
    let chosen_kinds = |person: &Option<String>, organisation: &Option<String>| {
        let mut chosen = Vec::new();
        if person.is_some() {
            chosen.push(kinds::PERSON.to_owned());
        }
        if organisation.is_some() {
            chosen.push(kinds::ORGANISATION.to_owned());
        }
        chosen
    };
    let symmetric_to_itself =
        form.symmetric_verb.trim().is_empty() || form.symmetric_verb.trim() == form.verb.trim();
    let request = rel::CreateRelationTypeRequest {
        subject_side: Some(rel::PredicateSide {
            label: form.verb.trim().to_owned(),
            kinds: chosen_kinds(&form.subject_person, &form.subject_organisation),
            ..Default::default()
        }),
        object_side: Some(rel::PredicateSide {
            label: form.symmetric_verb.trim().to_owned(),
            kinds: chosen_kinds(&form.object_person, &form.object_organisation),
            ..Default::default()
        }),
        symmetric_to_itself,
        copiable: false,
        internal: false,
    };
    match state
        .backends
        .relations()
        .create_relation_type(state.backends.request(&caller, request))
        .await
    {
        Ok(_) => Ok(see_other("/relation-types")),
        Err(status) => {
            let (_, _, message) = GatewayError::from(status).public_parts();
            render_types(&state, &caller, form, message).await
        }
    }
}

pub async fn disable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    StaffForm(caller, Button {}): StaffForm<Button>,
) -> PageResult {
    set_enabled(state, caller, id, false).await
}

pub async fn enable(
    State(state): State<AppState>,
    Path(id): Path<String>,
    StaffForm(caller, Button {}): StaffForm<Button>,
) -> PageResult {
    set_enabled(state, caller, id, true).await
}

async fn set_enabled(state: AppState, caller: Caller, id: String, enabled: bool) -> PageResult {
    match state
        .backends
        .relations()
        .set_relation_type_enabled(
            state
                .backends
                .request(&caller, rel::SetRelationTypeEnabledRequest { id, enabled }),
        )
        .await
    {
        Ok(_) => Ok(see_other("/relation-types")),
        Err(status) => {
            let (_, _, message) = GatewayError::from(status).public_parts();
            render_types(&state, &caller, TypeForm::default(), message).await
        }
    }
}
