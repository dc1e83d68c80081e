//! The web UI: pages rendered on the server (askama templates, escaped by
//! default), assets compiled into the binary, forms that work without
//! script. Script only adds search-as-you-type.

mod account;
mod contact_edit;
mod contact_merge;
mod contacts;
mod entity;
mod entity_fields;
mod entity_history;
mod graph;
mod relation_types;
mod session;
mod users;

use askama::Template;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::accounts::{Caller, Credential};
use crate::api::micros_rfc3339;
use crate::state::AppState;
use crate::GatewayError;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(session::login_page).post(session::login))
        .route("/logout", post(session::logout))
        .route("/", get(contacts::home))
        .route(
            "/organisations",
            get(contacts::organisations).post(contacts::create_organisation),
        )
        .route("/organisations/new", get(contacts::new_organisation))
        .route(
            "/persons",
            get(contacts::persons).post(contacts::create_person),
        )
        .route("/persons/new", get(contacts::new_person))
        .route("/contacts/{id}", get(entity::page))
        .route(
            "/contacts/{id}/edit",
            get(contact_edit::page).post(contact_edit::save),
        )
        .route(
            "/contacts/{id}/merge",
            get(contact_merge::page).post(contact_merge::merge),
        )
        .route("/contacts/{id}/relations", post(entity::add_relation))
        .route("/contacts/{id}/trash", post(entity::trash))
        .route("/contacts/{id}/duplicate", post(entity::duplicate))
        .route("/contacts/{id}/restore", post(entity::restore))
        .route("/contacts/{id}/delete", post(entity::purge))
        .route(
            "/contacts/{id}/relations/{relation_id}/delete",
            post(entity::remove_relation),
        )
        .route(
            "/relation-types",
            get(relation_types::list).post(relation_types::create),
        )
        .route(
            "/relation-types/{id}/disable",
            post(relation_types::disable),
        )
        .route("/relation-types/{id}/enable", post(relation_types::enable))
        .route("/users", get(users::list).post(users::create))
        .route("/users/{id}", get(users::show).post(users::update))
        .route("/account", get(account::account))
        .route("/account/password", post(account::change_password))
        .route("/account/tokens", post(account::create_token))
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
        .route("/assets/app.css", get(|| asset(CSS, STYLESHEET)))
        .route("/assets/docs.css", get(|| asset(CSS, DOCS_STYLESHEET)))
        .route("/assets/app.js", get(|| asset(JAVASCRIPT, SCRIPT)))
}

/// What every page's frame shows.
pub struct Layout {
    pub user_name: String,
    pub csrf: String,
    /// Shows the Users section.
    pub is_admin: bool,
    /// The section highlighted in the navigation.
    pub section: &'static str,
}

impl Layout {
    fn of(caller: &Caller, section: &'static str) -> Self {
        let csrf = match &caller.via {
            Credential::Session { csrf_token, .. } => csrf_token.clone(),
            Credential::ApiToken => String::new(),
        };
        Layout {
            user_name: caller.display_name.clone(),
            csrf,
            is_admin: caller.role == crate::accounts::user::Role::Admin,
            section,
        }
    }
}

/// A page's answer: rendered HTML, a redirect, or an error page.
pub type PageResult = Result<Response, PageError>;

#[derive(Debug)]
pub enum PageError {
    /// Not logged in: to the login page, then back.
    Login {
        next: String,
    },
    Failed(GatewayError),
}

impl From<GatewayError> for PageError {
    fn from(error: GatewayError) -> Self {
        PageError::Failed(error)
    }
}

impl From<tonic::Status> for PageError {
    fn from(status: tonic::Status) -> Self {
        PageError::Failed(status.into())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    status: u16,
    title: String,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Login { next } => {
                let next = urlencode(&next);
                Redirect::to(&format!("/login?next={next}")).into_response()
            }
            PageError::Failed(error) => {
                let (status, _, message) = error.public_parts();
                let title = status.canonical_reason().unwrap_or("Error").to_owned();
                let page = ErrorPage {
                    status: status.as_u16(),
                    title,
                    message,
                };
                (status, render(&page)).into_response()
            }
        }
    }
}

/// Renders a template; a template error is a bug, logged, shown as 500.
pub fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            tracing::error!(%error, "template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// After a form: back to a page (303 so the browser GETs it).
pub fn see_other(location: &str) -> Response {
    Redirect::to(location).into_response()
}

/// `2026-11-22 14:05` of a time in microseconds; empty for 0.
pub fn minute(micros: i64) -> String {
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
pub fn refusal(error: GatewayError) -> (StatusCode, String, String) {
    let field = liaison_runtime::ServiceError::field(&error)
        .unwrap_or_default()
        .to_owned();
    let (status, _, message) = error.public_parts();
    (status, message, field)
}

pub fn urlencode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(char::from(byte))
            }
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}

const STYLESHEET: &str = include_str!("../../assets/app.css");
const SCRIPT: &str = include_str!("../../assets/app.js");
const DOCS_STYLESHEET: &str = include_str!("../../assets/docs.css");

const CSS: &str = "text/css; charset=utf-8";
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// An asset compiled into the binary: the same for everyone, cacheable.
async fn asset(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencodes_everything_but_unreserved_characters() {
        assert_eq!(
            urlencode("/contacts/a b?x=1&y"),
            "%2Fcontacts%2Fa%20b%3Fx%3D1%26y"
        );
    }

    #[test]
    fn times_are_shown_to_the_minute() {
        assert_eq!(minute(0), "");
        assert_eq!(minute(1_795_000_000_000_000), "2026-11-18 11:06");
    }
}
