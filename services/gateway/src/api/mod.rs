//! The REST/JSON API under `/api/`. Each handler carries its OpenAPI
//! description (`utoipa::path`) and is registered with `routes!`, so the
//! document at `/api/openapi.json` is built from the routes themselves.

mod contact_actions_dto;
pub(crate) mod contacts;
mod contacts_dto;
mod contract;
mod relations;
mod relations_dto;
mod users;

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::Router;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDocument;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::auth;
use crate::state::AppState;
use crate::GatewayError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Liaison API",
        description = "Contacts, organisations, categories, relation types and relations of \
                       Liaison CRM. Authenticate with a session (POST /api/session; send the \
                       returned CSRF token as X-CSRF-Token on every change) or a personal API \
                       token (Authorization: Bearer lia_...). Errors are \
                       {\"error\": {\"code\", \"message\", \"field\"}}."
    ),
    modifiers(&SecuritySchemes),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut OpenApiDocument) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A personal API token (lia_...)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(auth::SESSION_COOKIE))),
        );
    }
}

/// The API's routes, and the OpenAPI document describing exactly them.
pub fn routes() -> (Router<AppState>, OpenApiDocument) {
    let router = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(users::routes())
        .merge(contacts::routes())
        .merge(relations::routes());
    let (router, mut document) = router.split_for_parts();
    contract::complete(&mut document);
    document.security = Some(vec![
        utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new()),
        utoipa::openapi::security::SecurityRequirement::new("session", Vec::<String>::new()),
    ]);
    let served = Arc::new(contract::to_json(&document));
    let router = router.route(
        "/api/openapi.json",
        axum::routing::get(move || {
            let document = served.clone();
            async move { Json(document) }
        }),
    );
    (router, document)
}

/// A JSON response, serialized into one growing buffer: axum's `Json`
/// writes each token through `BytesMut`, which cost a tenth of a 50-row list
/// request.
pub struct Json<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        let mut body = Vec::with_capacity(1024);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => (
                [(
                    axum::http::header::CONTENT_TYPE,
                    axum::http::HeaderValue::from_static("application/json"),
                )],
                body,
            )
                .into_response(),
            Err(error) => {
                GatewayError::Internal(format!("cannot write JSON: {error}")).into_response()
            }
        }
    }
}

/// A JSON body whose rejection is an error body like every other.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = GatewayError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Json::<T>::from_request(request, state)
            .await
            .map(|axum::Json(value)| ApiJson(value))
            .map_err(|rejection: JsonRejection| GatewayError::InvalidArgument {
                message: format!("the request body is not valid: {}", rejection.body_text()),
                field: None,
            })
    }
}

/// Query parameters whose rejection is an error body like every other.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = GatewayError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| ApiQuery(value))
            .map_err(|rejection: QueryRejection| GatewayError::InvalidArgument {
                message: format!("the query string is not valid: {}", rejection.body_text()),
                field: None,
            })
    }
}

/// A protobuf time as RFC 3339 (UTC), empty when unset.
pub fn rfc3339(timestamp: Option<&prost_types::Timestamp>) -> String {
    let Some(timestamp) = timestamp else {
        return String::new();
    };
    let nanos = i128::from(timestamp.seconds) * 1_000_000_000 + i128::from(timestamp.nanos);
    micros_rfc3339_from_nanos(nanos)
}

/// Microseconds since the epoch as RFC 3339 (UTC).
pub fn micros_rfc3339(micros: i64) -> String {
    micros_rfc3339_from_nanos(i128::from(micros) * 1_000)
}

fn micros_rfc3339_from_nanos(nanos: i128) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|time| {
            time.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// Parses an RFC 3339 time given in `field`.
pub fn parse_rfc3339(field: &str, value: &str) -> Result<prost_types::Timestamp, GatewayError> {
    let parsed = time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc3339)
        .map_err(|_| {
            GatewayError::invalid(
                field,
                format!("{value:?} is not an RFC 3339 time such as 2026-01-31T09:00:00Z"),
            )
        })?;
    Ok(prost_types::Timestamp {
        seconds: parsed.unix_timestamp(),
        nanos: i32::try_from(parsed.nanosecond()).unwrap_or(0),
    })
}

/// An empty string as absent.
pub fn non_empty(value: String) -> Option<String> {
    Some(value).filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_and_write_as_rfc3339() {
        let parsed = parse_rfc3339("since", "2026-01-31T09:00:00Z").expect("parse");
        assert_eq!(rfc3339(Some(&parsed)), "2026-01-31T09:00:00Z");
        assert!(parse_rfc3339("since", "yesterday").is_err());
        assert_eq!(rfc3339(None), "");
    }
}
