//! The error codes of DESIGN.md §5, and their gRPC and HTTP forms. Every
//! service error maps to one code; this is the only place codes become
//! statuses.

use tonic::{Code, Status};

/// Metadata key carrying the name of the offending field, when there is one.
pub const FIELD_METADATA_KEY: &str = "liaison-field";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// Bad input.
    InvalidArgument,
    NotFound,
    /// A duplicate.
    AlreadyExists,
    /// A rule or constraint would break.
    FailedPrecondition,
    /// A version conflict: reload and retry.
    Aborted,
    /// A dependency is down: retry later.
    Unavailable,
    PermissionDenied,
    Unauthenticated,
    /// A bug; details go to the log, never to the caller.
    Internal,
}

impl ErrorCode {
    pub fn grpc(self) -> Code {
        match self {
            ErrorCode::InvalidArgument => Code::InvalidArgument,
            ErrorCode::NotFound => Code::NotFound,
            ErrorCode::AlreadyExists => Code::AlreadyExists,
            ErrorCode::FailedPrecondition => Code::FailedPrecondition,
            ErrorCode::Aborted => Code::Aborted,
            ErrorCode::Unavailable => Code::Unavailable,
            ErrorCode::PermissionDenied => Code::PermissionDenied,
            ErrorCode::Unauthenticated => Code::Unauthenticated,
            ErrorCode::Internal => Code::Internal,
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidArgument => 400,
            ErrorCode::NotFound => 404,
            ErrorCode::AlreadyExists | ErrorCode::Aborted => 409,
            ErrorCode::FailedPrecondition => 412,
            ErrorCode::Unavailable => 503,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::Internal => 500,
        }
    }

    /// Stable lowercase name used in JSON error bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidArgument => "invalid_argument",
            ErrorCode::NotFound => "not_found",
            ErrorCode::AlreadyExists => "already_exists",
            ErrorCode::FailedPrecondition => "failed_precondition",
            ErrorCode::Aborted => "aborted",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::Internal => "internal",
        }
    }
}

/// Implemented by each service's error enum.
pub trait ServiceError: std::error::Error {
    fn code(&self) -> ErrorCode;
    /// The request field at fault, for bad input.
    fn field(&self) -> Option<&str> {
        None
    }
}

/// Longest message a caller gets. Messages quote the bad value; a 1 MB id
/// quoted whole made an answer too large to deliver, so the caller saw
/// "message too large" instead of what was wrong.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// `message`, or its beginning and end around a note of what was left out
/// when it is longer than [`MAX_MESSAGE_BYTES`] (the beginning says what
/// is wrong, the end often the rule).
pub fn bounded_message(message: String) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let head_end = floor_char_boundary(&message, 600);
    let tail_start = ceil_char_boundary(&message, message.len() - 300);
    format!(
        "{} … ({} bytes left out) … {}",
        &message[..head_end],
        tail_start - head_end,
        &message[tail_start..]
    )
}

fn floor_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn ceil_char_boundary(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at += 1;
    }
    at
}

/// The status a caller sees. Domain refusals are not logged as errors;
/// internal errors are logged and hidden from the caller.
pub fn to_status<E: ServiceError>(error: &E) -> Status {
    let code = error.code();
    let message = match code {
        ErrorCode::Internal => {
            tracing::error!(error = %error, "internal error");
            "internal error; the server log has the details".to_owned()
        }
        ErrorCode::Unavailable => {
            tracing::warn!(error = %error, "dependency unavailable");
            error.to_string()
        }
        _ => error.to_string(),
    };
    let mut status = Status::new(code.grpc(), bounded_message(message));
    if let Some(field) = error.field() {
        if let Ok(value) = field.parse() {
            status.metadata_mut().insert(FIELD_METADATA_KEY, value);
        }
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_quoted_value_is_cut_in_the_middle_of_the_message() {
        let id = "é".repeat(500_000);
        let status = to_status(&Sample::BadEmail(id));
        let message = status.message();
        assert!(message.len() <= MAX_MESSAGE_BYTES, "{}", message.len());
        assert!(message.starts_with("bad email \"éé"), "{message}");
        assert!(message.ends_with("éé\""), "{message}");
        assert!(message.contains("bytes left out"), "{message}");
        let short = to_status(&Sample::BadEmail("x@".into()));
        assert_eq!(short.message(), "bad email \"x@\"");
    }

    #[derive(Debug, thiserror::Error)]
    enum Sample {
        #[error("bad email {0:?}")]
        BadEmail(String),
        #[error("disk on fire")]
        Bug,
    }

    impl ServiceError for Sample {
        fn code(&self) -> ErrorCode {
            match self {
                Sample::BadEmail(_) => ErrorCode::InvalidArgument,
                Sample::Bug => ErrorCode::Internal,
            }
        }
        fn field(&self) -> Option<&str> {
            matches!(self, Sample::BadEmail(_)).then_some("emails[0].address")
        }
    }

    #[test]
    fn bad_input_keeps_its_message_and_field() {
        let status = to_status(&Sample::BadEmail("x@".into()));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "bad email \"x@\"");
        assert_eq!(
            status
                .metadata()
                .get(FIELD_METADATA_KEY)
                .map(|v| v.to_str().unwrap_or_default()),
            Some("emails[0].address")
        );
    }

    #[test]
    fn internal_errors_hide_their_details() {
        let status = to_status(&Sample::Bug);
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("fire"));
    }

    #[test]
    fn codes_map_to_the_documented_http_statuses() {
        let pairs = [
            (ErrorCode::InvalidArgument, 400),
            (ErrorCode::NotFound, 404),
            (ErrorCode::AlreadyExists, 409),
            (ErrorCode::FailedPrecondition, 412),
            (ErrorCode::Unavailable, 503),
            (ErrorCode::PermissionDenied, 403),
        ];
        for (code, http) in pairs {
            assert_eq!(code.http_status(), http, "{code:?}");
        }
        assert_eq!(ErrorCode::Aborted.grpc(), Code::Aborted);
    }
}
