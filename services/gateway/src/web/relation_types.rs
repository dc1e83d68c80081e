//! Relation types: the list (built-in and custom, with their counts), a
//! form to create a custom type, and disabling or enabling one.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use liaison_proto::kinds;
use liaison_proto::relations::v1 as rel;
use serde::Deserialize;

use super::{render, see_other, Layout, PageError, PageResult};
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
    let mut types: Vec<TypeRow> = listed
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
    // Built-in types first, then custom ones, each by verb.
    types.sort_by_key(|row| (row.custom, row.verb.to_lowercase()));
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
    let subject_kinds = chosen_kinds(&form.subject_person, &form.subject_organisation);
    let object_kinds = chosen_kinds(&form.object_person, &form.object_organisation);
    if let Some(message) = refusal_before_asking(
        &state,
        &caller,
        &form,
        symmetric_to_itself,
        &subject_kinds,
        &object_kinds,
    )
    .await?
    {
        return render_types(&state, &caller, form, message).await;
    }
    // A type that reads the same both ways has one side, which both ends
    // must fit.
    let object_side = (!symmetric_to_itself).then(|| rel::PredicateSide {
        label: form.symmetric_verb.trim().to_owned(),
        kinds: object_kinds,
        ..Default::default()
    });
    let request = rel::CreateRelationTypeRequest {
        subject_side: Some(rel::PredicateSide {
            label: form.verb.trim().to_owned(),
            kinds: subject_kinds,
            ..Default::default()
        }),
        object_side,
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

/// What the form asks that the page refuses itself: a verb another type
/// reads already (the pickers would show two entries alike), or, for a
/// type that reads the same both ways, different kinds on each side.
async fn refusal_before_asking(
    state: &AppState,
    caller: &Caller,
    form: &TypeForm,
    symmetric_to_itself: bool,
    subject_kinds: &[String],
    object_kinds: &[String],
) -> Result<Option<String>, PageError> {
    if symmetric_to_itself && !object_kinds.is_empty() && object_kinds != subject_kinds {
        return Ok(Some(
            "A verb that reads the same both ways links the same kinds on both sides: \
             tick the same boxes for the subject and the object."
                .to_owned(),
        ));
    }
    let listed = state
        .backends
        .relations()
        .list_relation_types(state.backends.request(
            caller,
            rel::ListRelationTypesRequest {
                include_disabled: true,
                include_internal: true,
                ..Default::default()
            },
        ))
        .await?
        .into_inner();
    let taken = |verb: &str| {
        let verb = verb.trim().to_lowercase();
        !verb.is_empty()
            && listed.types.iter().any(|kind| {
                [&kind.subject_side, &kind.object_side]
                    .into_iter()
                    .flatten()
                    .any(|side| side.label.trim().to_lowercase() == verb)
            })
    };
    for verb in [&form.verb, &form.symmetric_verb] {
        if taken(verb) {
            return Ok(Some(format!(
                "A relation type already reads \u{201c}{}\u{201d}: choose another verb, \
                 or use that type.",
                verb.trim()
            )));
        }
    }
    Ok(None)
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
