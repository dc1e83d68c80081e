//! Who is calling: a session cookie (browsers) or a bearer token (API
//! clients), checked once per request; CSRF on every state-changing request
//! made with a cookie; the role each route needs. The API's extractors are
//! here, the pages' in [`pages`].

pub mod pages;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method};
use liaison_runtime::http::proxies::TrustedProxies;

use crate::accounts::credentials::same_secret;
use crate::accounts::user::Permission;
use crate::accounts::{Caller, Credential, LoginSource, NewSession};
use crate::state::AppState;
use crate::GatewayError;

pub const SESSION_COOKIE: &str = "liaison_session";
/// Names this browser as a known device of the account last logged in.
pub const DEVICE_COOKIE: &str = "liaison_device";
const DEVICE_MAX_AGE_SECONDS: u64 = 400 * 24 * 3600;
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Any logged-in person.
pub struct Authenticated(pub Caller);
/// Staff or admin: the back office.
pub struct Staff(pub Caller);
/// Admin only.
pub struct Admin(pub Caller);
/// Staff holding the destroy permission, or an admin.
pub struct Destroyer(pub Caller);

/// The caller of this request, if any, found once and kept in the
/// request's extensions.
#[derive(Clone)]
struct Found(Option<Caller>);

pub async fn caller_of(
    parts: &mut Parts,
    state: &AppState,
) -> Result<Option<Caller>, GatewayError> {
    if let Some(Found(caller)) = parts.extensions.get::<Found>() {
        return Ok(caller.clone());
    }
    let caller = if let Some(token) = bearer_token(&parts.headers) {
        let caller = state.accounts.by_token(token).await?;
        if caller.is_none() {
            return Err(GatewayError::Unauthenticated(
                "the bearer token is unknown, revoked or expired".into(),
            ));
        }
        caller
    } else if let Some(secret) = cookie(&parts.headers, SESSION_COOKIE) {
        state.accounts.by_session(secret).await?
    } else {
        None
    };
    parts.extensions.insert(Found(caller.clone()));
    Ok(caller)
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

/// Whether the request changes state (and so needs a CSRF token when it
/// comes with a cookie).
pub fn changes_state(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Refuses a state-changing cookie request whose `X-CSRF-Token` header is
/// missing or wrong. Bearer-token requests need none: a browser never adds
/// the header on its own.
fn check_csrf_header(parts: &Parts, caller: &Caller) -> Result<(), GatewayError> {
    let Credential::Session { csrf_token, .. } = &caller.via else {
        return Ok(());
    };
    if !changes_state(&parts.method) {
        return Ok(());
    }
    let presented = parts
        .headers
        .get(CSRF_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if presented.is_empty() || !same_secret(presented, csrf_token) {
        return Err(GatewayError::PermissionDenied(
            "missing or wrong CSRF token: send the X-CSRF-Token header given at login".into(),
        ));
    }
    Ok(())
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = GatewayError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = caller_of(parts, state).await?.ok_or_else(|| {
            GatewayError::Unauthenticated(
                "log in first, or send Authorization: Bearer <API token>".into(),
            )
        })?;
        check_csrf_header(parts, &caller)?;
        Ok(Authenticated(caller))
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = GatewayError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(caller) = Authenticated::from_request_parts(parts, state).await?;
        if !caller.role.is_back_office() {
            return Err(GatewayError::PermissionDenied(
                "this is for staff: your account has no access to the back office".into(),
            ));
        }
        Ok(Staff(caller))
    }
}

/// Refuses a caller without `permission` (ADR 0009).
pub fn require(caller: &Caller, permission: Permission) -> Result<(), GatewayError> {
    if caller.may(permission) {
        return Ok(());
    }
    Err(GatewayError::PermissionDenied(match permission {
        Permission::Destroy => "erasing, deleting for good and deleting with cascade need the \
             destroy permission: admins hold it and grant it to staff"
            .into(),
    }))
}

impl FromRequestParts<AppState> for Destroyer {
    type Rejection = GatewayError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Staff(caller) = Staff::from_request_parts(parts, state).await?;
        require(&caller, Permission::Destroy)?;
        Ok(Destroyer(caller))
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = GatewayError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Authenticated(caller) = Authenticated::from_request_parts(parts, state).await?;
        if caller.role != crate::accounts::user::Role::Admin {
            return Err(GatewayError::PermissionDenied(
                "only admins manage users".into(),
            ));
        }
        Ok(Admin(caller))
    }
}

/// The client's address: the TCP peer, or behind trusted proxies the
/// address they were reached from (`X-Forwarded-For`).
pub fn client_address(parts: &Parts, proxies: &TrustedProxies) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| proxies.client(peer.ip(), &parts.headers).to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Where a login request comes from: address, known-device token, agent.
pub fn login_source(parts: &Parts, state: &AppState) -> LoginSource {
    LoginSource {
        address: client_address(parts, &state.proxies),
        device_token: cookie(&parts.headers, DEVICE_COOKIE).map(str::to_owned),
        user_agent: parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    }
}

/// The cookies a login sets: the session's and the known device's.
pub fn login_cookies(session: &NewSession, state: &AppState) -> [HeaderValue; 2] {
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let device = format!(
        "{DEVICE_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={DEVICE_MAX_AGE_SECONDS}{secure}",
        session.device_token
    );
    [
        session_cookie(
            Some((&session.secret, state.session_max_age_seconds)),
            state.secure_cookies,
        ),
        HeaderValue::from_str(&device).unwrap_or_else(|_| HeaderValue::from_static("")),
    ]
}

/// The `Set-Cookie` value of a new session, or of its removal.
pub fn session_cookie(value: Option<(&str, u64)>, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let cookie = match value {
        Some((secret, max_age)) => format!(
            "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
        ),
        None => format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"),
    };
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; liaison_session=abc"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("b=2"));
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn the_session_cookie_is_http_only_and_same_site() {
        let set = session_cookie(Some(("s3cret", 3600)), true);
        let text = set.to_str().unwrap_or_default();
        assert!(
            text.contains("HttpOnly") && text.contains("SameSite=Lax") && text.contains("Secure")
        );
        let cleared = session_cookie(None, false);
        assert!(cleared.to_str().unwrap_or_default().contains("Max-Age=0"));
    }
}
