//! Logging in and out, one's own password and API tokens, and (admins)
//! users.

use std::collections::BTreeSet;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{AppendHeaders, IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{micros_rfc3339, ApiJson, Json};
use crate::accounts::user::{Permission, Role};
use crate::accounts::{Credential, NewUser, UserChanges};
use crate::auth::{login_cookies, login_source, session_cookie, Admin, Authenticated};
use crate::error::ErrorBody;
use crate::state::AppState;
use crate::storage::{TokenRow, UserRow};
use crate::GatewayError;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login, current_session, logout))
        .routes(routes!(change_password))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(list_users, create_user))
        .routes(routes!(get_user, update_user))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    pub user: UserView,
    /// Send it as `X-CSRF-Token` with every change made with the session
    /// cookie. Absent for bearer-token callers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub display_name: String,
    #[schema(value_type = String, example = "staff")]
    pub role: Role,
    /// Permissions granted beyond the role: `destroy` (erase, purge,
    /// cascade delete). Admins hold every permission whatever this says.
    pub permissions: Vec<String>,
    pub disabled: bool,
    pub version: u64,
    pub created_at: String,
    pub updated_at: String,
}

impl From<UserRow> for UserView {
    fn from(row: UserRow) -> Self {
        UserView {
            id: row.id,
            email: row.email,
            display_name: row.display_name,
            role: row.role,
            permissions: row
                .permissions
                .iter()
                .map(|permission| permission.as_str().to_owned())
                .collect(),
            disabled: row.disabled,
            version: row.version,
            created_at: micros_rfc3339(row.created_at),
            updated_at: micros_rfc3339(row.updated_at),
        }
    }
}

/// Logs in: sets the session cookie (HttpOnly) and returns the CSRF token.
#[utoipa::path(post, path = "/api/session", tag = "session", request_body = LoginRequest,
    responses(
        (status = 201, body = SessionInfo, description = "logged in; the cookie is set"),
        (status = 401, body = ErrorBody, description = "wrong email or password"),
        (status = 429, body = ErrorBody, description = "too many failed logins from here: wait `Retry-After` seconds"),
        (status = 503, body = ErrorBody, description = "too many logins at once: retry after `Retry-After` seconds"),
    ))]
async fn login(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    ApiJson(request): ApiJson<LoginRequest>,
) -> Result<Response, GatewayError> {
    let session = state
        .accounts
        .login(
            &request.email,
            &request.password,
            &login_source(&parts, &state),
        )
        .await?;
    let [session_cookie, device_cookie] = login_cookies(&session, &state);
    let body = SessionInfo {
        user: session.user.into(),
        csrf_token: Some(session.csrf_token),
    };
    Ok((
        StatusCode::CREATED,
        AppendHeaders([
            (header::SET_COOKIE, session_cookie),
            (header::SET_COOKIE, device_cookie),
        ]),
        Json(body),
    )
        .into_response())
}

/// Who is logged in.
#[utoipa::path(get, path = "/api/session", tag = "session",
    responses((status = 200, body = SessionInfo), (status = 401, body = ErrorBody)))]
async fn current_session(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<SessionInfo>, GatewayError> {
    let user = state.accounts.user(&caller.user_id).await?;
    let csrf_token = match caller.via {
        Credential::Session { csrf_token, .. } => Some(csrf_token),
        Credential::ApiToken => None,
    };
    Ok(Json(SessionInfo {
        user: user.into(),
        csrf_token,
    }))
}

/// Logs out: ends the session and clears the cookie.
#[utoipa::path(delete, path = "/api/session", tag = "session",
    responses((status = 204), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
async fn logout(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Response, GatewayError> {
    state.accounts.logout(&caller).await?;
    let cookie = session_cookie(None, state.secure_cookies);
    Ok((StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current_password: String,
    #[schema(min_length = 10)]
    pub new_password: String,
}

/// Changes one's own password; every session of the account ends.
#[utoipa::path(put, path = "/api/session/password", tag = "session", request_body = PasswordChange,
    responses((status = 204), (status = 400, body = ErrorBody)))]
async fn change_password(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Result<StatusCode, GatewayError> {
    state
        .accounts
        .change_own_password(&caller, &change.current_password, change.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    /// The token's first characters.
    pub prefix: String,
    pub created_at: String,
    /// Absent: never expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
}

impl From<TokenRow> for TokenView {
    fn from(row: TokenRow) -> Self {
        TokenView {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            created_at: micros_rfc3339(row.created_at),
            expires_at: (row.expires_at != 0).then(|| micros_rfc3339(row.expires_at)),
            revoked_at: row.revoked_at.map(micros_rfc3339),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[schema(min_length = 1, max_length = 100)]
    pub name: String,
    /// 1..=3650; absent: the token does not expire.
    #[schema(minimum = 1, maximum = 3650)]
    pub expires_in_days: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedToken {
    pub token: TokenView,
    /// The token itself, shown this once: store it now.
    pub secret: String,
}

/// One's own API tokens.
#[utoipa::path(get, path = "/api/tokens", tag = "tokens",
    responses((status = 200, body = [TokenView]), (status = 401, body = ErrorBody)))]
async fn list_tokens(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<TokenView>>, GatewayError> {
    let tokens = state.accounts.tokens(&caller).await?;
    Ok(Json(tokens.into_iter().map(TokenView::from).collect()))
}

/// Creates a personal API token.
#[utoipa::path(post, path = "/api/tokens", tag = "tokens", request_body = NewToken,
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody)))]
async fn create_token(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    ApiJson(new): ApiJson<NewToken>,
) -> Result<(StatusCode, Json<CreatedToken>), GatewayError> {
    let (row, secret) = state
        .accounts
        .create_token(&caller, &new.name, new.expires_in_days)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedToken {
            token: row.into(),
            secret,
        }),
    ))
}

/// Revokes one of one's own API tokens.
#[utoipa::path(delete, path = "/api/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "token id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
async fn revoke_token(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, GatewayError> {
    state.accounts.revoke_token(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUserRequest {
    #[schema(max_length = 254)]
    pub email: String,
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: String,
    #[schema(value_type = String, example = "staff")]
    pub role: Role,
    #[schema(min_length = 10)]
    pub password: String,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    #[schema(min_length = 1, max_length = 200)]
    pub display_name: Option<String>,
    #[schema(value_type = Option<String>)]
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// A new password; every session of the user ends.
    #[schema(min_length = 10)]
    pub password: Option<String>,
    /// Every permission granted beyond the role (staff only): `destroy`.
    pub permissions: Option<Vec<String>>,
    /// The version read; a newer one gives 409.
    pub expected_version: Option<u64>,
}

fn parse_permissions(names: &[String]) -> Result<BTreeSet<Permission>, GatewayError> {
    names
        .iter()
        .map(|name| {
            Permission::parse(name).ok_or_else(|| {
                GatewayError::invalid(
                    "permissions",
                    format!("{name:?} is not a permission (known: destroy)"),
                )
            })
        })
        .collect()
}

/// Every user (admins).
#[utoipa::path(get, path = "/api/users", tag = "users",
    responses((status = 200, body = [UserView]), (status = 403, body = ErrorBody)))]
async fn list_users(
    State(state): State<AppState>,
    Admin(_): Admin,
) -> Result<Json<Vec<UserView>>, GatewayError> {
    let users = state.accounts.users().await?;
    Ok(Json(users.into_iter().map(UserView::from).collect()))
}

/// Creates a user (admins).
#[utoipa::path(post, path = "/api/users", tag = "users", request_body = NewUserRequest,
    responses((status = 201, body = UserView), (status = 400, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
async fn create_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    ApiJson(new): ApiJson<NewUserRequest>,
) -> Result<(StatusCode, Json<UserView>), GatewayError> {
    let user = state
        .accounts
        .create_user(
            &admin.actor(),
            NewUser {
                email: new.email,
                display_name: new.display_name,
                role: new.role,
                password: new.password,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// One user (admins).
#[utoipa::path(get, path = "/api/users/{id}", tag = "users",
    params(("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)))]
async fn get_user(
    State(state): State<AppState>,
    Admin(_): Admin,
    Path(id): Path<String>,
) -> Result<Json<UserView>, GatewayError> {
    Ok(Json(state.accounts.user(&id).await?.into()))
}

/// Changes a user's name, role, password, or disables it (admins).
#[utoipa::path(patch, path = "/api/users/{id}", tag = "users", request_body = UserUpdate,
    params(("id" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 412, body = ErrorBody)))]
async fn update_user(
    State(state): State<AppState>,
    Admin(admin): Admin,
    Path(id): Path<String>,
    ApiJson(update): ApiJson<UserUpdate>,
) -> Result<Json<UserView>, GatewayError> {
    let user = state
        .accounts
        .update_user(
            &admin,
            &id,
            UserChanges {
                display_name: update.display_name,
                role: update.role,
                disabled: update.disabled,
                password: update.password,
                permissions: update
                    .permissions
                    .as_deref()
                    .map(parse_permissions)
                    .transpose()?,
            },
            update.expected_version,
        )
        .await?;
    Ok(Json(user.into()))
}
