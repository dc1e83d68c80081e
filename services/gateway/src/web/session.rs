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
use crate::auth::{cookie, login_cookies, login_source, session_cookie};
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

/// The page of this site `next` names, or `None` when it names anything
/// else. It is parsed as a request target, so whitespace and control
/// characters (which browsers strip, turning `/\t/evil` into `//evil`) are
/// refused rather than filtered; what remains must be an absolute path whose
/// second character does not start an authority (`//`, or `/\` which
/// browsers read as `//`). An empty `next` is the home page.
fn local_page(next: &str) -> Option<String> {
    if next.is_empty() {
        return Some("/".to_owned());
    }
    if !next.is_ascii() {
        return None;
    }
    let target: http::uri::PathAndQuery = next.parse().ok()?;
    let path = target.path();
    let is_local = path.starts_with('/')
        && !path.starts_with("//")
        && !target.as_str().contains('\\')
        && target.as_str().len() == next.len();
    is_local.then(|| target.as_str().to_owned())
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
        next: local_page(next).unwrap_or_else(|| "/".to_owned()),
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
    // Refused before the password is even checked: a session must not be
    // opened by a request that cannot be answered with its redirect.
    let Some(next) = local_page(&form.next) else {
        return login_page_with(
            &state,
            StatusCode::BAD_REQUEST,
            "/",
            &form.email,
            "This login link leads away from Liaison: log in from the home page.",
        );
    };
    match state
        .accounts
        .login(&form.email, &form.password, &login_source(&parts, &state))
        .await
    {
        Ok(session) => {
            let mut response = see_other(&next);
            let headers = response.headers_mut();
            for cookie in login_cookies(&session, &state) {
                headers.append(header::SET_COOKIE, cookie);
            }
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
    use super::local_page;

    #[test]
    fn pages_of_this_site_are_followed_after_login() {
        assert_eq!(local_page("/contacts/1").as_deref(), Some("/contacts/1"));
        assert_eq!(
            local_page("/contacts?q=ada%20l&tag=x").as_deref(),
            Some("/contacts?q=ada%20l&tag=x")
        );
        assert_eq!(local_page("").as_deref(), Some("/"));
    }

    #[test]
    fn anything_that_could_leave_the_site_is_refused() {
        for next in [
            "//evil.example/x",
            "https://evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example/",
            "/\n/evil.example/",
            " //evil.example",
            "/ /evil.example",
            "/contacts\r\nSet-Cookie: x=1",
            "evil.example",
            "javascript:alert(1)",
            "/contacts#\u{7f}",
            "/caf\u{e9}",
        ] {
            assert_eq!(local_page(next), None, "{next:?} must be refused");
        }
    }
}
