//! Logging in and out from the browser. The login form is protected by a
//! double-submit token (a cookie and a field that must match), since there
//! is no session yet to tie it to.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use serde::Deserialize;

use super::{render, see_other, PageError, PageResult};
use crate::accounts::credentials::{new_secret, same_secret};
use crate::auth::pages::{Button, StaffForm};
use crate::auth::{cookie, session_cookie};
use crate::state::AppState;

const LOGIN_COOKIE: &str = "liaison_login";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    csrf: String,
    next: String,
    email: String,
    error: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NextQuery {
    next: String,
}

/// Only a path of this site: never `//elsewhere` or `https://…`.
fn local_path(next: &str) -> String {
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') {
        next.to_owned()
    } else {
        "/".to_owned()
    }
}

fn login_page_with(
    state: &AppState,
    status: StatusCode,
    next: &str,
    email: &str,
    error: &str,
) -> Response {
    let csrf = new_secret();
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{LOGIN_COOKIE}={csrf}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    );
    let page = LoginPage {
        csrf,
        next: local_path(next),
        email: email.to_owned(),
        error: error.to_owned(),
    };
    let mut response = (status, render(&page)).into_response();
    if let Ok(value) = cookie.parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

pub async fn login_page(State(state): State<AppState>, Query(query): Query<NextQuery>) -> Response {
    login_page_with(&state, StatusCode::OK, &query.next, "", "")
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf: String,
    next: String,
}

pub async fn login(
    State(state): State<AppState>,
    parts: axum::http::request::Parts,
    Form(form): Form<LoginForm>,
) -> Response {
    let headers = &parts.headers;
    let planted = cookie(headers, LOGIN_COOKIE).unwrap_or_default();
    if form.csrf.is_empty() || !same_secret(planted, &form.csrf) {
        return login_page_with(
            &state,
            StatusCode::FORBIDDEN,
            &form.next,
            &form.email,
            "The login form expired: please try again.",
        );
    }
    let address = crate::auth::client_address(&parts);
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    match state
        .accounts
        .login(&form.email, &form.password, &address, user_agent)
        .await
    {
        Ok(session) => {
            let mut response = see_other(&local_path(&form.next));
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                session_cookie(
                    Some((&session.secret, state.session_max_age_seconds)),
                    state.secure_cookies,
                ),
            );
            if let Ok(value) = format!("{LOGIN_COOKIE}=; Path=/login; Max-Age=0").parse() {
                headers.append(header::SET_COOKIE, value);
            }
            response
        }
        Err(error) => {
            let (status, _, message) = error.public_parts();
            login_page_with(&state, status, &form.next, &form.email, &message)
        }
    }
}

pub async fn logout(
    State(state): State<AppState>,
    form: Result<StaffForm<Button>, PageError>,
) -> PageResult {
    let caller = match form {
        Ok(StaffForm(caller, Button {})) => caller,
        // Already out: nothing to end here.
        Err(PageError::Login { .. }) => return Ok(see_other("/login")),
        Err(refused) => return Err(refused),
    };
    state
        .accounts
        .logout(&caller)
        .await
        .map_err(PageError::Failed)?;
    let mut response = see_other("/login");
    response.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(None, state.secure_cookies),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(local_path("/contacts/1"), "/contacts/1");
        assert_eq!(local_path("//evil.example/x"), "/");
        assert_eq!(local_path("https://evil.example"), "/");
        assert_eq!(local_path("/\\evil.example"), "/");
        assert_eq!(local_path(""), "/");
    }
}
