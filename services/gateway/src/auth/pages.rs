//! Who is looking at a page, or posting one of its forms: a back-office
//! person with a live session, and for a form the session's CSRF token in
//! its `csrf` field. Strangers are sent to the login form, and back to where
//! they were once logged in.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, Method};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::{cookie, SESSION_COOKIE};
use crate::accounts::credentials::same_secret;
use crate::accounts::user::Role;
use crate::accounts::{Caller, Credential};
use crate::state::AppState;
use crate::web::PageError;
use crate::GatewayError;

/// The most a form's body may hold.
const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;

/// A back-office person (staff or admin) looking at a page.
pub struct StaffPage(pub Caller);

/// An admin looking at a page.
pub struct AdminPage(pub Caller);

/// A form posted by a back-office person, its CSRF token checked.
pub struct StaffForm<T>(pub Caller, pub T);

/// A form posted by an admin, its CSRF token checked.
pub struct AdminForm<T>(pub Caller, pub T);

/// A form that carries nothing but its token (a button).
#[derive(Debug, Default, Deserialize)]
pub struct Button {}

impl FromRequestParts<AppState> for StaffPage {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = match cookie(&parts.headers, SESSION_COOKIE) {
            Some(secret) => state.accounts.by_session(secret).await?,
            None => None,
        };
        let caller = caller.ok_or_else(|| PageError::Login {
            next: back_after_login(parts),
        })?;
        if !caller.role.is_back_office() {
            return Err(PageError::Failed(GatewayError::PermissionDenied(
                "your account has no access to the back office".into(),
            )));
        }
        Ok(StaffPage(caller))
    }
}

impl FromRequestParts<AppState> for AdminPage {
    type Rejection = PageError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let StaffPage(caller) = StaffPage::from_request_parts(parts, state).await?;
        require_admin(&caller)?;
        Ok(AdminPage(caller))
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for StaffForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = request.into_parts();
        let StaffPage(caller) = StaffPage::from_request_parts(&mut parts, state).await?;
        let body = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| {
                PageError::Failed(GatewayError::InvalidArgument {
                    message: format!("a form holds at most {MAX_FORM_BYTES} bytes"),
                    field: None,
                })
            })?;
        let form = checked_form(&caller, &body)?;
        Ok(StaffForm(caller, form))
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for AdminForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let StaffForm(caller, form) = StaffForm::from_request(request, state).await?;
        require_admin(&caller)?;
        Ok(AdminForm(caller, form))
    }
}

fn require_admin(caller: &Caller) -> Result<(), PageError> {
    if caller.role == Role::Admin {
        return Ok(());
    }
    Err(PageError::Failed(GatewayError::PermissionDenied(
        "only admins manage users".into(),
    )))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfField {
    csrf: String,
}

/// The form of `body`, once its `csrf` field matched the session's.
fn checked_form<T: DeserializeOwned>(caller: &Caller, body: &Bytes) -> Result<T, PageError> {
    let bad_form = |error: serde_urlencoded::de::Error| {
        PageError::Failed(GatewayError::InvalidArgument {
            message: format!("the form is not valid: {error}"),
            field: None,
        })
    };
    let CsrfField { csrf } = serde_urlencoded::from_bytes(body).map_err(bad_form)?;
    let expected = match &caller.via {
        Credential::Session { csrf_token, .. } => csrf_token.as_str(),
        Credential::ApiToken => "",
    };
    if csrf.is_empty() || expected.is_empty() || !same_secret(&csrf, expected) {
        return Err(PageError::Failed(GatewayError::PermissionDenied(
            "the form's security token is missing or stale: reload the page and try again".into(),
        )));
    }
    serde_urlencoded::from_bytes(body).map_err(bad_form)
}

/// Where a stranger goes once logged in: the page asked for; for a form
/// posted with an expired session, the page the form was on (its
/// `Referer`, when it is a page of this site), else the home page.
fn back_after_login(parts: &Parts) -> String {
    if matches!(parts.method, Method::GET | Method::HEAD) {
        return parts
            .uri
            .path_and_query()
            .map_or("/", |path| path.as_str())
            .to_owned();
    }
    parts
        .headers
        .get(header::REFERER)
        .and_then(|value| value.to_str().ok())
        .and_then(|referer| {
            let uri: axum::http::Uri = referer.parse().ok()?;
            let host = parts.headers.get(header::HOST)?.to_str().ok()?;
            (uri.authority()?.as_str() == host).then(|| {
                uri.path_and_query()
                    .map_or("/", |path| path.as_str())
                    .to_owned()
            })
        })
        .unwrap_or_else(|| "/".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(method: Method, uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut request = axum::http::Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(()).expect("request").into_parts().0
    }

    #[test]
    fn a_page_is_come_back_to_with_its_query() {
        let page = parts(Method::GET, "/organisations?q=a", &[]);
        assert_eq!(back_after_login(&page), "/organisations?q=a");
    }

    #[test]
    fn a_form_comes_back_to_its_page_of_this_site_only() {
        let form = parts(
            Method::POST,
            "/contacts/1/trash",
            &[
                ("host", "crm.example:8080"),
                ("referer", "http://crm.example:8080/contacts/1?hops=2"),
            ],
        );
        assert_eq!(back_after_login(&form), "/contacts/1?hops=2");
        let elsewhere = parts(
            Method::POST,
            "/contacts/1/trash",
            &[
                ("host", "crm.example:8080"),
                ("referer", "https://evil.example/contacts/1"),
            ],
        );
        assert_eq!(back_after_login(&elsewhere), "/");
        assert_eq!(back_after_login(&parts(Method::POST, "/logout", &[])), "/");
    }

    fn caller(csrf: &str) -> Caller {
        Caller {
            user_id: "u".into(),
            email: "a@b.c".into(),
            display_name: "A".into(),
            role: Role::Staff,
            permissions: Default::default(),
            via: Credential::Session {
                csrf_token: csrf.into(),
                secret: "s".into(),
            },
        }
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct NameForm {
        name: String,
    }

    #[test]
    fn a_form_passes_with_the_sessions_token_only() {
        let body = Bytes::from_static(b"csrf=t0ken&name=UnTel");
        let form: NameForm = checked_form(&caller("t0ken"), &body).expect("checked");
        assert_eq!(form.name, "UnTel");
        for (token, body) in [
            ("other", "csrf=t0ken&name=x"),
            ("t0ken", "name=x"),
            ("t0ken", "csrf=&name=x"),
        ] {
            let refused = checked_form::<NameForm>(&caller(token), &Bytes::from(body));
            assert!(
                matches!(
                    refused,
                    Err(PageError::Failed(GatewayError::PermissionDenied(_)))
                ),
                "{body}"
            );
        }
        let malformed = checked_form::<NameForm>(&caller("t0ken"), &Bytes::from("csrf=t0ken"));
        assert!(matches!(
            malformed,
            Err(PageError::Failed(GatewayError::InvalidArgument { .. }))
        ));
    }
}
