//! The gateway's errors and the one place they become HTTP responses:
//! `{"error": {"code", "message", "field"}}` with the status of DESIGN.md §5.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use liaison_eventstore::FromStoreError;
use liaison_runtime::errors::FIELD_METADATA_KEY;
use liaison_runtime::{ErrorCode, ServiceError};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GatewayError {
    #[error("{message}")]
    InvalidArgument {
        message: String,
        field: Option<String>,
    },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    Aborted(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    Unauthenticated(String),
    /// Too many attempts; retry after this many seconds.
    #[error("too many failed logins; try again in {0} s")]
    RateLimited(u64),
    /// Every password check is taken and the queue is full; retry after
    /// this many seconds.
    #[error("too many logins at once; try again in {0} s")]
    Busy(u64),
    /// A service's refusal, passed on as it came.
    #[error("{message}")]
    Upstream {
        code: ErrorCode,
        message: String,
        field: Option<String>,
    },
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        GatewayError::InvalidArgument {
            message: message.into(),
            field: Some(field.to_owned()),
        }
    }

    /// A refusal of the gRPC service behind the gateway.
    pub fn from_status(status: &tonic::Status) -> Self {
        use tonic::Code;
        let code = match status.code() {
            Code::InvalidArgument | Code::OutOfRange => ErrorCode::InvalidArgument,
            Code::NotFound => ErrorCode::NotFound,
            Code::AlreadyExists => ErrorCode::AlreadyExists,
            Code::FailedPrecondition => ErrorCode::FailedPrecondition,
            Code::Aborted => ErrorCode::Aborted,
            Code::Unavailable | Code::DeadlineExceeded => ErrorCode::Unavailable,
            Code::PermissionDenied => ErrorCode::PermissionDenied,
            Code::Unauthenticated => {
                // The gateway's own identity was refused: a deployment error.
                tracing::error!(
                    message = status.message(),
                    "a service refused the gateway's identity"
                );
                return GatewayError::Internal(format!(
                    "a service refused the gateway's signed identity: {}",
                    status.message()
                ));
            }
            _ => {
                return GatewayError::Internal(format!(
                    "a service failed: {:?} {}",
                    status.code(),
                    status.message()
                ))
            }
        };
        let message = if code == ErrorCode::Unavailable && status.message().is_empty() {
            "a service behind the gateway is unavailable".to_owned()
        } else {
            status.message().to_owned()
        };
        GatewayError::Upstream {
            code,
            message,
            field: status
                .metadata()
                .get(FIELD_METADATA_KEY)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
        }
    }
}

impl From<tonic::Status> for GatewayError {
    fn from(status: tonic::Status) -> Self {
        GatewayError::from_status(&status)
    }
}

impl FromStoreError for GatewayError {
    fn version_conflict(id: &str, expected: u64, actual: u64) -> Self {
        GatewayError::Aborted(format!(
            "user {id} is at version {actual}, not {expected}: reload and retry"
        ))
    }

    fn unavailable(reason: String) -> Self {
        GatewayError::Unavailable(format!("the gateway's database is unavailable: {reason}"))
    }

    fn internal(reason: String) -> Self {
        GatewayError::Internal(reason)
    }
}

liaison_eventstore::service_error_from_store!(GatewayError);

impl ServiceError for GatewayError {
    fn code(&self) -> ErrorCode {
        match self {
            GatewayError::InvalidArgument { .. } => ErrorCode::InvalidArgument,
            GatewayError::NotFound(_) => ErrorCode::NotFound,
            GatewayError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            GatewayError::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            GatewayError::Aborted(_) => ErrorCode::Aborted,
            GatewayError::Unavailable(_) | GatewayError::Busy(_) => ErrorCode::Unavailable,
            GatewayError::PermissionDenied(_) => ErrorCode::PermissionDenied,
            GatewayError::Unauthenticated(_) | GatewayError::RateLimited(_) => {
                ErrorCode::Unauthenticated
            }
            GatewayError::Upstream { code, .. } => *code,
            GatewayError::Internal(_) => ErrorCode::Internal,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            GatewayError::InvalidArgument { field, .. } | GatewayError::Upstream { field, .. } => {
                field.as_deref()
            }
            _ => None,
        }
    }
}

/// The JSON body of every error answer.
#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// `invalid_argument`, `not_found`, `already_exists`,
    /// `failed_precondition`, `aborted`, `unavailable`, `permission_denied`,
    /// `unauthenticated`, `rate_limited` or `internal`.
    pub code: String,
    pub message: String,
    /// The request field at fault, for bad input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl GatewayError {
    /// HTTP status, code name and message a caller sees; internal details
    /// stay in the log.
    pub fn public_parts(&self) -> (StatusCode, &'static str, String) {
        if let GatewayError::RateLimited(_) = self {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                self.to_string(),
            );
        }
        if let GatewayError::Busy(_) = self {
            // Expected under a flood of logins: not worth a log line each.
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                self.to_string(),
            );
        }
        let code = self.code();
        let message = match code {
            ErrorCode::Internal => {
                tracing::error!(error = %self, "internal error");
                "internal error; the server log has the details".to_owned()
            }
            ErrorCode::Unavailable => {
                tracing::warn!(error = %self, "dependency unavailable");
                self.to_string()
            }
            _ => self.to_string(),
        };
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            code.as_str(),
            liaison_runtime::errors::bounded_message(message),
        )
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.public_parts();
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_owned(),
                message,
                field: self.field().map(str::to_owned),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let GatewayError::RateLimited(seconds) | GatewayError::Busy(seconds) = self {
            if let Ok(value) = seconds.to_string().parse() {
                response
                    .headers_mut()
                    .insert(http::header::RETRY_AFTER, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_refusal_keeps_its_code_message_and_field() {
        let mut status = tonic::Status::invalid_argument("bad email \"x@\"");
        status.metadata_mut().insert(
            FIELD_METADATA_KEY,
            "emails[0].address".parse().expect("ascii"),
        );
        let error = GatewayError::from(status);
        let (http_status, code, message) = error.public_parts();
        assert_eq!(http_status, StatusCode::BAD_REQUEST);
        assert_eq!(code, "invalid_argument");
        assert_eq!(message, "bad email \"x@\"");
        assert_eq!(error.field(), Some("emails[0].address"));
    }

    #[test]
    fn codes_become_the_documented_statuses() {
        let cases = [
            (tonic::Status::not_found("x"), 404),
            (tonic::Status::already_exists("x"), 409),
            (tonic::Status::aborted("x"), 409),
            (tonic::Status::failed_precondition("x"), 412),
            (tonic::Status::unavailable("x"), 503),
            (tonic::Status::permission_denied("x"), 403),
            (tonic::Status::internal("secret detail"), 500),
        ];
        for (status, expected) in cases {
            let (http_status, _, message) = GatewayError::from(status).public_parts();
            assert_eq!(http_status.as_u16(), expected);
            assert!(!message.contains("secret detail"));
        }
        assert_eq!(
            GatewayError::RateLimited(30).public_parts().0,
            StatusCode::TOO_MANY_REQUESTS
        );
    }
}
