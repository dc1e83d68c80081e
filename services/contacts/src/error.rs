use liaison_runtime::paging::PagingError;
use liaison_runtime::{ErrorCode, ServiceError};
use thiserror::Error;

/// Everything that can go wrong in the contacts service.
#[derive(Debug, Error)]
pub enum ContactsError {
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error(
        "email {email} already belongs to person {other_id}; set allow_shared_email to accept it"
    )]
    EmailTaken { email: String, other_id: String },
    #[error(
        "external reference {source_name}/{external_id} already belongs to contact {other_id}"
    )]
    ExternalRefTaken {
        source_name: String,
        external_id: String,
        other_id: String,
    },
    #[error("a category named {name:?} already exists ({other_id})")]
    CategoryNameTaken { name: String, other_id: String },
    #[error("category_id: unknown category {id:?}")]
    UnknownCategory { id: String },
    #[error("{0}")]
    FailedPrecondition(String),
    #[error(
        "{id} was changed meanwhile: expected version {expected}, found {actual}; reload and retry"
    )]
    VersionConflict {
        id: String,
        expected: u64,
        actual: u64,
    },
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl ContactsError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ContactsError::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl ServiceError for ContactsError {
    fn code(&self) -> ErrorCode {
        match self {
            ContactsError::InvalidArgument { .. } | ContactsError::UnknownCategory { .. } => {
                ErrorCode::InvalidArgument
            }
            ContactsError::NotFound { .. } => ErrorCode::NotFound,
            ContactsError::EmailTaken { .. }
            | ContactsError::ExternalRefTaken { .. }
            | ContactsError::CategoryNameTaken { .. } => ErrorCode::AlreadyExists,
            ContactsError::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            ContactsError::VersionConflict { .. } => ErrorCode::Aborted,
            ContactsError::Unavailable(_) => ErrorCode::Unavailable,
            ContactsError::Internal(_) => ErrorCode::Internal,
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            ContactsError::InvalidArgument { field, .. } => Some(field),
            ContactsError::UnknownCategory { .. } => Some("category_id"),
            ContactsError::EmailTaken { .. } => Some("emails"),
            ContactsError::ExternalRefTaken { .. } => Some("external_refs"),
            ContactsError::CategoryNameTaken { .. } => Some("name"),
            _ => None,
        }
    }
}

liaison_eventstore::service_error_from_store!(ContactsError {
    conflict: VersionConflict,
    unavailable: Unavailable,
    internal: Internal,
});

impl From<PagingError> for ContactsError {
    fn from(error: PagingError) -> Self {
        ContactsError::invalid(error.field, error.message)
    }
}
