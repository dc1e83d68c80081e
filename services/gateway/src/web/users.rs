//! Users, for admins: list, create, and change a user's name, role,
//! disabled state, password or permissions.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::{minute, refusal, render, see_other, urlencode, Layout, PageResult};
use crate::accounts::user::{Permission, Role};
use crate::accounts::{Caller, NewUser, UserChanges};
use crate::auth::pages::{AdminForm, AdminPage};
use crate::state::AppState;
use crate::storage::UserRow;

const ROLES: [Role; 3] = [Role::Admin, Role::Staff, Role::Customer];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NewUserForm {
    email: String,
    display_name: String,
    role: String,
    password: String,
}

#[derive(Template)]
#[template(path = "users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserRow>,
    roles: [Role; 3],
    form: NewUserForm,
    error: String,
    error_field: String,
}

impl UsersPage {
    fn created(&self, user: &UserRow) -> String {
        minute(user.created_at)
    }
}

async fn users_page(
    state: &AppState,
    caller: &Caller,
    form: NewUserForm,
    status: StatusCode,
    error: String,
    error_field: String,
) -> PageResult {
    let page = UsersPage {
        layout: Layout::of(caller, "users"),
        users: state.accounts.users().await?,
        roles: ROLES,
        form: NewUserForm {
            password: String::new(),
            ..form
        },
        error,
        error_field,
    };
    Ok((status, render(&page)).into_response())
}

pub async fn list(State(state): State<AppState>, AdminPage(caller): AdminPage) -> PageResult {
    let form = NewUserForm {
        role: Role::Staff.as_str().to_owned(),
        ..Default::default()
    };
    users_page(
        &state,
        &caller,
        form,
        StatusCode::OK,
        String::new(),
        String::new(),
    )
    .await
}

pub async fn create(
    State(state): State<AppState>,
    AdminForm(caller, form): AdminForm<NewUserForm>,
) -> PageResult {
    let Some(role) = Role::parse(&form.role) else {
        let message = format!("{:?} is not a role", form.role);
        return users_page(
            &state,
            &caller,
            form,
            StatusCode::BAD_REQUEST,
            message,
            "role".into(),
        )
        .await;
    };
    let new = NewUser {
        email: form.email.clone(),
        display_name: form.display_name.clone(),
        role,
        password: form.password.clone(),
    };
    match state.accounts.create_user(&caller.actor(), new).await {
        Ok(user) => Ok(see_other(&format!("/users/{}", urlencode(&user.id)))),
        Err(error) => {
            let (status, message, field) = refusal(error);
            users_page(&state, &caller, form, status, message, field).await
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct UserForm {
    version: Option<u64>,
    display_name: String,
    role: String,
    disabled: Option<String>,
    password: String,
    /// The staff member may destroy (ADR 0009).
    destroy: Option<String>,
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserPage {
    layout: Layout,
    user: UserRow,
    roles: [Role; 3],
    itself: bool,
    error: String,
    error_field: String,
}

fn user_page(
    caller: &Caller,
    user: UserRow,
    status: StatusCode,
    error: String,
    error_field: String,
) -> PageResult {
    let page = UserPage {
        layout: Layout::of(caller, "users"),
        itself: user.id == caller.user_id,
        user,
        roles: ROLES,
        error,
        error_field,
    };
    Ok((status, render(&page)).into_response())
}

pub async fn show(
    State(state): State<AppState>,
    AdminPage(caller): AdminPage,
    Path(id): Path<String>,
) -> PageResult {
    let user = state.accounts.user(&id).await?;
    user_page(&caller, user, StatusCode::OK, String::new(), String::new())
}

pub async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    AdminForm(caller, form): AdminForm<UserForm>,
) -> PageResult {
    let user = state.accounts.user(&id).await?;
    let Some(version) = form.version else {
        let message = "the form lacks the version it was read at".to_owned();
        return user_page(
            &caller,
            user,
            StatusCode::BAD_REQUEST,
            message,
            "version".into(),
        );
    };
    let Some(role) = Role::parse(&form.role) else {
        let message = format!("{:?} is not a role", form.role);
        return user_page(
            &caller,
            user,
            StatusCode::BAD_REQUEST,
            message,
            "role".into(),
        );
    };
    // A new role or password ends the user's sessions: one's own too.
    let ends_own_session = id == caller.user_id && (role != user.role || !form.password.is_empty());
    let changes = UserChanges {
        display_name: Some(form.display_name.clone()),
        role: Some(role),
        disabled: Some(form.disabled.is_some()),
        password: (!form.password.is_empty()).then(|| form.password.clone()),
        // Granted to staff only: admins hold it anyway, customers never.
        permissions: Some(if role == Role::Staff && form.destroy.is_some() {
            BTreeSet::from([Permission::Destroy])
        } else {
            BTreeSet::new()
        }),
    };
    match state
        .accounts
        .update_user(&caller, &id, changes, Some(version))
        .await
    {
        Ok(_) if ends_own_session => Ok(see_other("/login?next=%2Fusers")),
        Ok(_) => Ok(see_other(&format!("/users/{}", urlencode(&id)))),
        Err(error) => {
            let (status, message, field) = refusal(error);
            let user = state.accounts.user(&id).await?;
            user_page(&caller, user, status, message, field)
        }
    }
}
