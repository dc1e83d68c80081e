//! Why an append or a read failed, how a projection refuses an event, and
//! how a service's own error takes the store's.

use thiserror::Error;

/// Why an append or read failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// Another writer got there first; reload and retry.
    #[error("version conflict on stream {stream_id}: expected version {expected}, found {actual}")]
    VersionConflict {
        stream_id: String,
        expected: u64,
        actual: u64,
    },
    /// A projection refused the events (a rule of the owning service).
    #[error(transparent)]
    Rejected(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// The database could not be reached or did not answer.
    #[error("event store unavailable: {0}")]
    Unavailable(String),
    /// Stored data does not read back (a bug or a damaged file).
    #[error("event store corrupt: {0}")]
    Corrupt(String),
    #[error("invalid append: {0}")]
    InvalidAppend(String),
}

impl StoreError {
    /// Classifies a database error: transient (the database is down or
    /// busy) or not.
    pub fn from_sqlx(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => {
                StoreError::Unavailable(format!("database connection lost: {error}"))
            }
            sqlx::Error::Database(ref db) if is_transient(db.as_ref()) => {
                StoreError::Unavailable(error.to_string())
            }
            other => StoreError::Corrupt(other.to_string()),
        }
    }
}

/// Errors that pass when the database is back: SQLite busy or locked;
/// PostgreSQL connection failures (class 08), shutdowns and restarts (57P),
/// too many connections, serialization failures and deadlocks.
fn is_transient(error: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = error.code() else {
        return false;
    };
    matches!(
        code.as_ref(),
        "5" | "6" | "53300" | "40001" | "40P01" | "57P01" | "57P02" | "57P03"
    ) || code.starts_with("08")
}

/// A service's error as it takes the store's: each service's error enum
/// implements this, and [`service_error_from_store!`](crate::service_error_from_store)
/// gives it `From<StoreError>` and `From<sqlx::Error>`.
pub trait FromStoreError: std::error::Error + Send + Sync + Sized + 'static {
    /// Aggregate `id` was at `actual`, not at the `expected` version.
    fn version_conflict(id: &str, expected: u64, actual: u64) -> Self;
    /// The database is down or busy: retry later.
    fn unavailable(reason: String) -> Self;
    /// A bug or damaged data: logged, never shown in detail.
    fn internal(reason: String) -> Self;
}

impl StoreError {
    /// The service's own error: a refusal its projection raised comes back
    /// as it was raised.
    pub fn into_service_error<E: FromStoreError>(self) -> E {
        match self {
            StoreError::VersionConflict {
                stream_id,
                expected,
                actual,
            } => E::version_conflict(crate::aggregate::id_of_stream(&stream_id), expected, actual),
            StoreError::Rejected(inner) => match inner.downcast::<E>() {
                Ok(own) => *own,
                Err(other) => E::internal(other.to_string()),
            },
            StoreError::Unavailable(reason) => E::unavailable(reason),
            StoreError::Corrupt(reason) | StoreError::InvalidAppend(reason) => E::internal(reason),
        }
    }
}

/// `From<StoreError>` and `From<sqlx::Error>` for a service's error that
/// implements [`FromStoreError`]; given the names of its variants for a
/// version conflict (`{ id, expected, actual }`), an unavailable store and
/// an internal error (each holding a `String`), the `FromStoreError`
/// implementation too:
///
/// ```ignore
/// service_error_from_store!(ContactsError {
///     conflict: VersionConflict,
///     unavailable: Unavailable,
///     internal: Internal,
/// });
/// ```
#[macro_export]
macro_rules! service_error_from_store {
    ($error:ty { conflict: $conflict:ident, unavailable: $unavailable:ident, internal: $internal:ident $(,)? }) => {
        impl $crate::FromStoreError for $error {
            fn version_conflict(id: &str, expected: u64, actual: u64) -> Self {
                Self::$conflict {
                    id: id.to_owned(),
                    expected,
                    actual,
                }
            }

            fn unavailable(reason: String) -> Self {
                Self::$unavailable(reason)
            }

            fn internal(reason: String) -> Self {
                Self::$internal(reason)
            }
        }

        $crate::service_error_from_store!($error);
    };
    ($error:ty) => {
        impl From<$crate::StoreError> for $error {
            fn from(error: $crate::StoreError) -> Self {
                error.into_service_error()
            }
        }

        impl From<$crate::sqlx::Error> for $error {
            fn from(error: $crate::sqlx::Error) -> Self {
                $crate::StoreError::from_sqlx(error).into_service_error()
            }
        }
    };
}

/// Why a projection could not apply an event.
#[derive(Debug, Error)]
pub enum ProjectionError {
    /// The event breaks a rule the read model enforces (e.g. a unique email):
    /// the append is refused and the caller gets this error back.
    #[error(transparent)]
    Rejected(Box<dyn std::error::Error + Send + Sync + 'static>),
    #[error("projection database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("projection cannot decode event {event_type}: {reason}")]
    Decode { event_type: String, reason: String },
}

impl ProjectionError {
    /// The event breaks a rule of the service: `error` goes back to the caller.
    pub fn rejected(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ProjectionError::Rejected(Box::new(error))
    }
}

impl From<ProjectionError> for StoreError {
    fn from(error: ProjectionError) -> Self {
        match error {
            ProjectionError::Rejected(inner) => StoreError::Rejected(inner),
            ProjectionError::Database(db) => StoreError::from_sqlx(db),
            ProjectionError::Decode { .. } => StoreError::Corrupt(error.to_string()),
        }
    }
}
