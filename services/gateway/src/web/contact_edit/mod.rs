//! The edit form of a person or an organisation. Every email, phone and
//! address is a row of its own, with its label and primary mark, so that
//! saving the form keeps what it does not show in a single text box; a
//! row emptied is a row removed. The version read is sent back: a change
//! made meanwhile refuses the save instead of overwriting it.

mod form;

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::IntoResponse;
use liaison_proto::contacts::v1 as pb;

use super::contacts::categories;
use super::entity::get_contact;
use super::{refusal, render, see_other, urlencode, Layout, PageError, PageResult};
use crate::accounts::Caller;
use crate::auth::pages::{StaffForm, StaffPage};
use crate::state::AppState;
use crate::GatewayError;
use form::EditForm;

#[derive(Template)]
#[template(path = "contact_edit.html")]
struct EditPage {
    layout: Layout,
    id: String,
    display_name: String,
    form: EditForm,
    categories: Vec<(String, String)>,
    error: String,
    error_field: String,
}

fn section(form: &EditForm) -> &'static str {
    if form.organisation {
        "organisations"
    } else {
        "persons"
    }
}

/// The contact as the form starts it, and the name in the heading.
async fn current(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<(EditForm, String), PageError> {
    match get_contact(state, caller, id).await? {
        pb::contact::Contact::Person(person) => {
            let name = format!("{} {}", person.given_name, person.family_name)
                .trim()
                .to_owned();
            Ok((EditForm::of_person(person), name))
        }
        pb::contact::Contact::Organisation(organisation) => {
            let name = organisation.name.clone();
            Ok((EditForm::of_organisation(organisation), name))
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    StaffPage(caller): StaffPage,
    Path(id): Path<String>,
) -> PageResult {
    let (loaded, categories) =
        tokio::join!(current(&state, &caller, &id), categories(&state, &caller));
    let (form, display_name) = loaded?;
    let display_name = display_name_or_id(display_name, &id);
    let page = EditPage {
        layout: Layout::of(&caller, section(&form)),
        id,
        display_name,
        form,
        categories: categories?,
        error: String::new(),
        error_field: String::new(),
    };
    Ok(render(&page))
}

fn display_name_or_id(name: String, id: &str) -> String {
    if name.is_empty() {
        id.to_owned()
    } else {
        name
    }
}

pub async fn save(
    State(state): State<AppState>,
    Path(id): Path<String>,
    StaffForm(caller, fields): StaffForm<HashMap<String, String>>,
) -> PageResult {
    // The kind is the stored one, never what the form claims.
    let (stored, display_name) = current(&state, &caller, &id).await?;
    let display_name = display_name_or_id(display_name, &id);
    let mut form = match EditForm::parse(stored.organisation, &fields) {
        Ok(form) => form,
        Err(error) => {
            return refused(&state, &caller, id, display_name, stored, error).await;
        }
    };
    let mut contacts = state.backends.contacts();
    let saved = if form.organisation {
        let request = state
            .backends
            .request(&caller, form.organisation_update(&id));
        contacts.update_organisation(request).await.map(drop)
    } else {
        let request = state.backends.request(&caller, form.person_update(&id));
        contacts.update_person(request).await.map(drop)
    };
    match saved {
        Ok(()) => Ok(see_other(&format!("/contacts/{}", urlencode(&id)))),
        Err(status) => {
            let error = GatewayError::from(status);
            if let Some(field) = liaison_runtime::ServiceError::field(&error) {
                form.mark_invalid(field);
            }
            form.add_blank_rows();
            refused(&state, &caller, id, display_name, form, error).await
        }
    }
}

/// The form again, as sent, with why it was refused.
async fn refused(
    state: &AppState,
    caller: &Caller,
    id: String,
    display_name: String,
    form: EditForm,
    error: GatewayError,
) -> PageResult {
    let (status, message, field) = refusal(error);
    let page = EditPage {
        layout: Layout::of(caller, section(&form)),
        id,
        display_name,
        form,
        categories: categories(state, caller).await?,
        error: message,
        error_field: field,
    };
    Ok((status, render(&page)).into_response())
}
