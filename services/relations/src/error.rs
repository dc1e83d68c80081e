use liaison_runtime::paging::PagingError;
use liaison_runtime::{ErrorCode, ServiceError};
use thiserror::Error;

/// Everything that can go wrong in the relations service. Messages name the
/// entity, the predicate and the rule at fault.
#[derive(Debug, Error)]
pub enum RelationsError {
    #[error("{field}: {message}")]
    InvalidArgument { field: String, message: String },
    #[error("{kind} {id} not found")]
    NotFound { kind: &'static str, id: String },
    #[error(
        "{entity} is not known to the relations service: it was never created, \
         or its creation has not reached this service yet"
    )]
    UnknownEntity { entity: String },
    #[error("{entity} was {state}")]
    EntityGone { entity: String, state: String },
    #[error("{entity} is in the trash: restore it before giving it new relations")]
    InTrash { entity: String },
    /// An end of a relation is not what its predicate requires.
    #[error("{0}")]
    Constraint(Box<Violation>),
    #[error("relation type {type_id:?} is disabled: no new relation with {predicate:?}")]
    TypeDisabled { type_id: String, predicate: String },
    #[error(
        "{predicate:?} belongs to the internal type {type_id:?}: only the system creates or deletes its relations"
    )]
    InternalType { type_id: String, predicate: String },
    #[error("{entity} cannot be related to itself")]
    SelfRelation { entity: String },
    /// `statement` says the triple in words ("Cobalt SA is a prospect of
    /// Acme already"), `detail` which relation it is.
    #[error("{statement}{detail}")]
    RelationExists {
        statement: String,
        relation_id: String,
        detail: String,
    },
    /// An item of a bulk request, named by its field (`triples[3]`).
    #[error("{field}: {inner}")]
    Itemised {
        field: String,
        inner: Box<RelationsError>,
    },
    #[error("predicate id {id:?} is already used by relation type {type_id:?}")]
    PredicateTaken { id: String, type_id: String },
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    PermissionDenied(String),
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

/// Which end broke which rule of which predicate.
#[derive(Debug)]
pub struct Violation {
    /// `subject` or `object` of the triple.
    pub side: &'static str,
    pub entity: String,
    /// The predicate read from that end (the symmetric one for the object).
    pub predicate: String,
    pub label: String,
    pub rule: Rule,
}

#[derive(Debug)]
pub enum Rule {
    Kind { kind: String, allowed: String },
    MissingTag(String),
    ForbiddenTag(String),
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Violation {
            side,
            entity,
            predicate,
            label,
            rule,
        } = self;
        match rule {
            Rule::Kind { kind, allowed } => write!(
                f,
                "{side} {entity} is a {kind}, but {predicate:?} ({label}) takes as its subject only {allowed}"
            ),
            Rule::MissingTag(tag) => write!(
                f,
                "{side} {entity} must carry the tag {tag:?} to be the subject of {predicate:?} ({label})"
            ),
            Rule::ForbiddenTag(tag) => write!(
                f,
                "{side} {entity} carries the tag {tag:?}, which {predicate:?} ({label}) forbids"
            ),
        }
    }
}

impl RelationsError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        RelationsError::InvalidArgument {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error about the item at `field` of a bulk request.
    pub fn at(self, field: &str) -> Self {
        match self {
            RelationsError::InvalidArgument {
                field: inner,
                message,
            } => RelationsError::InvalidArgument {
                field: format!("{field}.{inner}"),
                message,
            },
            RelationsError::VersionConflict { .. }
            | RelationsError::Unavailable(_)
            | RelationsError::Internal(_) => self,
            other => RelationsError::Itemised {
                field: field.to_owned(),
                inner: Box::new(other),
            },
        }
    }
}

impl ServiceError for RelationsError {
    fn code(&self) -> ErrorCode {
        match self {
            RelationsError::InvalidArgument { .. } | RelationsError::SelfRelation { .. } => {
                ErrorCode::InvalidArgument
            }
            RelationsError::NotFound { .. } | RelationsError::UnknownEntity { .. } => {
                ErrorCode::NotFound
            }
            RelationsError::EntityGone { .. }
            | RelationsError::InTrash { .. }
            | RelationsError::Constraint(_)
            | RelationsError::TypeDisabled { .. }
            | RelationsError::FailedPrecondition(_) => ErrorCode::FailedPrecondition,
            RelationsError::InternalType { .. } | RelationsError::PermissionDenied(_) => {
                ErrorCode::PermissionDenied
            }
            RelationsError::RelationExists { .. } | RelationsError::PredicateTaken { .. } => {
                ErrorCode::AlreadyExists
            }
            RelationsError::VersionConflict { .. } => ErrorCode::Aborted,
            RelationsError::Unavailable(_) => ErrorCode::Unavailable,
            RelationsError::Internal(_) => ErrorCode::Internal,
            RelationsError::Itemised { inner, .. } => inner.code(),
        }
    }

    fn field(&self) -> Option<&str> {
        match self {
            RelationsError::InvalidArgument { field, .. }
            | RelationsError::Itemised { field, .. } => Some(field),
            _ => None,
        }
    }
}

liaison_eventstore::service_error_from_store!(RelationsError {
    conflict: VersionConflict,
    unavailable: Unavailable,
    internal: Internal,
});

impl From<PagingError> for RelationsError {
    fn from(error: PagingError) -> Self {
        RelationsError::invalid(error.field, error.message)
    }
}
