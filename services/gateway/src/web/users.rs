//! People's accounts from the browser: admins list, create and change
//! users (name, role, disabled, a new password); everyone in the back
//! office changes their own password and keeps their own API tokens.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Form;
use serde::Deserialize;

use super::{
    check_form_csrf, render, see_other, staff_of, urlencode, Layout, PageError, PageResult,
};
use crate::accounts::user::Role;
use crate::accounts::{Caller, NewUser, UserChanges};
use crate::api::{micros_rfc3339, AppState};
use crate::storage::{TokenRow, UserRow};
use crate::GatewayError;

/// The logged-in admin of a page request.
async fn admin_of(state: &AppState, headers: &HeaderMap, path: &str) -> Result<Caller, PageError> {
    let caller = staff_of(state, headers, path).await?;
    if caller.role != Role::Admin {
        return Err(PageError::Failed(GatewayError::PermissionDenied(
            "only admins manage users".into(),
        )));
    }
    Ok(caller)
}

/// `2026-11-22 14:05` of a time in microseconds; empty for 0.
fn minute(micros: i64) -> String {
    if micros == 0 {
        return String::new();
    }
    micros_rfc3339(micros)
        .chars()
        .take(16)
        .collect::<String>()
        .replace('T', " ")
}

/// A message from the status of a refused change, and its field.
fn refusal(error: GatewayError) -> (StatusCode, String, String) {
    let field = liaison_runtime::ServiceError::field(&error)
        .unwrap_or_default()
        .to_owned();
    let (status, _, message) = error.public_parts();
    (status, message, field)
}

const ROLES: [Role; 3] = [Role::Admin, Role::Staff, Role::Customer];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NewUserForm {
    csrf: String,
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
            csrf: String::new(),
            ..form
        },
        error,
        error_field,
    };
    Ok((status, render(&page)).into_response())
}

pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let caller = admin_of(&state, &headers, "/users").await?;
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
    headers: HeaderMap,
    Form(form): Form<NewUserForm>,
) -> PageResult {
    let caller = admin_of(&state, &headers, "/users").await?;
    check_form_csrf(&caller, &form.csrf)?;
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
    csrf: String,
    version: Option<u64>,
    display_name: String,
    role: String,
    disabled: Option<String>,
    password: String,
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
    headers: HeaderMap,
    Path(id): Path<String>,
) -> PageResult {
    let caller = admin_of(&state, &headers, &format!("/users/{}", urlencode(&id))).await?;
    let user = state.accounts.user(&id).await?;
    user_page(&caller, user, StatusCode::OK, String::new(), String::new())
}

pub async fn update(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<UserForm>,
) -> PageResult {
    let caller = admin_of(&state, &headers, &format!("/users/{}", urlencode(&id))).await?;
    check_form_csrf(&caller, &form.csrf)?;
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

/// A token as the account page lists it.
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub created: String,
    pub expires: String,
    pub state: &'static str,
}

impl TokenView {
    fn of(row: TokenRow, now_micros: i64) -> Self {
        let state = if row.revoked_at.is_some() {
            "revoked"
        } else if row.expires_at != 0 && row.expires_at <= now_micros {
            "expired"
        } else {
            "active"
        };
        TokenView {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            created: minute(row.created_at),
            expires: if row.expires_at == 0 {
                "never".into()
            } else {
                minute(row.expires_at)
            },
            state,
        }
    }
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    layout: Layout,
    email: String,
    role: &'static str,
    tokens: Vec<TokenView>,
    /// A token just created: shown this once.
    new_token: String,
    token_name: String,
    error: String,
    error_field: String,
}

async fn account_page(
    state: &AppState,
    caller: &Caller,
    status: StatusCode,
    new_token: String,
    token_name: String,
    (error, error_field): (String, String),
) -> PageResult {
    let now = liaison_eventstore::now_micros();
    let mut tokens: Vec<TokenView> = state
        .accounts
        .tokens(caller)
        .await?
        .into_iter()
        .map(|row| TokenView::of(row, now))
        .collect();
    tokens.sort_by_key(|token| token.state != "active");
    let page = AccountPage {
        layout: Layout::of(caller, "account"),
        email: caller.email.clone(),
        role: caller.role.as_str(),
        tokens,
        new_token,
        token_name,
        error,
        error_field,
    };
    Ok((status, render(&page)).into_response())
}

pub async fn account(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let caller = staff_of(&state, &headers, "/account").await?;
    account_page(
        &state,
        &caller,
        StatusCode::OK,
        String::new(),
        String::new(),
        Default::default(),
    )
    .await
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TokenForm {
    csrf: String,
    name: String,
    /// Days, or empty for a token that does not expire.
    expires_in_days: String,
}

pub async fn create_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<TokenForm>,
) -> PageResult {
    let caller = staff_of(&state, &headers, "/account").await?;
    check_form_csrf(&caller, &form.csrf)?;
    let days = match form.expires_in_days.trim() {
        "" => Ok(None),
        days => days.parse::<u32>().map(Some).map_err(|_| {
            GatewayError::invalid(
                "expires_in_days",
                format!("{days:?} is not a number of days"),
            )
        }),
    };
    let created = match days {
        Ok(days) => state.accounts.create_token(&caller, &form.name, days).await,
        Err(error) => Err(error),
    };
    match created {
        // Shown once, in this answer; never stored in a form or a URL.
        Ok((_, token)) => {
            account_page(
                &state,
                &caller,
                StatusCode::CREATED,
                token,
                String::new(),
                Default::default(),
            )
            .await
        }
        Err(error) => {
            let (status, message, field) = refusal(error);
            account_page(
                &state,
                &caller,
                status,
                String::new(),
                form.name,
                (message, field),
            )
            .await
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CsrfOnly {
    csrf: String,
}

pub async fn revoke_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(token_id): Path<String>,
    Form(form): Form<CsrfOnly>,
) -> PageResult {
    let caller = staff_of(&state, &headers, "/account").await?;
    check_form_csrf(&caller, &form.csrf)?;
    match state.accounts.revoke_token(&caller, &token_id).await {
        Ok(()) => Ok(see_other("/account#tokens")),
        Err(error) => {
            let (status, message, field) = refusal(error);
            account_page(
                &state,
                &caller,
                status,
                String::new(),
                String::new(),
                (message, field),
            )
            .await
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PasswordForm {
    csrf: String,
    current_password: String,
    new_password: String,
    repeated_password: String,
}

pub async fn change_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> PageResult {
    let caller = staff_of(&state, &headers, "/account").await?;
    check_form_csrf(&caller, &form.csrf)?;
    let changed = if form.new_password != form.repeated_password {
        Err(GatewayError::invalid(
            "repeated_password",
            "the new password and its repetition differ",
        ))
    } else {
        state
            .accounts
            .change_own_password(&caller, &form.current_password, form.new_password)
            .await
    };
    match changed {
        // Every session ended with the change, this one too.
        Ok(()) => Ok(see_other("/login?next=%2Faccount")),
        Err(error) => {
            let (status, message, field) = refusal(error);
            account_page(
                &state,
                &caller,
                status,
                String::new(),
                String::new(),
                (message, field),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_at: i64, revoked_at: Option<i64>) -> TokenRow {
        TokenRow {
            id: "t".into(),
            user_id: "u".into(),
            name: "ci".into(),
            prefix: "lsn_ab".into(),
            created_at: 1_000_000,
            expires_at,
            revoked_at,
        }
    }

    #[test]
    fn a_token_is_active_until_it_expires_or_is_revoked() {
        assert_eq!(TokenView::of(token(0, None), 5).state, "active");
        assert_eq!(TokenView::of(token(0, None), 5).expires, "never");
        assert_eq!(TokenView::of(token(10, None), 5).state, "active");
        assert_eq!(TokenView::of(token(10, None), 10).state, "expired");
        assert_eq!(TokenView::of(token(0, Some(3)), 5).state, "revoked");
    }

    #[test]
    fn times_are_shown_to_the_minute() {
        assert_eq!(minute(0), "");
        assert_eq!(minute(1_795_000_000_000_000), "2026-11-18 11:06");
    }
}
