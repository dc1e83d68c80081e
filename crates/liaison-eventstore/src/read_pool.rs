//! The read side of a service's database, whichever backend holds it: the
//! pool its queries run on, the dispatch of a query written once for both
//! backends ([`on_backend!`](crate::on_backend)), readiness, and the
//! snapshot a rebuild is compared with.

use sqlx::{PgPool, SqlitePool};

use crate::StoreError;

/// The pool a service's read models are read from.
#[derive(Clone, Debug)]
pub enum ReaderPool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the query function of the calling module's `sqlite` or `postgres`
/// submodule (the same SQL compiled for each, see ADR 0007) on the pool's
/// backend: `on_backend!(pool, contacts_page(filter))` calls
/// `sqlite::contacts_page(&pool, filter)` or `postgres::contacts_page(&pool,
/// filter)` and awaits it.
#[macro_export]
macro_rules! on_backend {
    ($pool:expr, $function:ident($($argument:expr),*)) => {
        match $pool {
            $crate::ReaderPool::Sqlite(pool) => sqlite::$function(pool, $($argument),*).await,
            $crate::ReaderPool::Postgres(pool) => postgres::$function(pool, $($argument),*).await,
        }
    };
}

/// A service's read models as one type: a newtype of [`ReaderPool`], made
/// from it, with the pool (for readiness) and the snapshot of `tables` (how
/// a rebuild is checked against the live models). The service adds its
/// queries, each dispatched with [`on_backend!`](crate::on_backend).
///
/// ```ignore
/// liaison_eventstore::read_model!(ReadModel, READ_MODEL_TABLES);
/// impl ReadModel {
///     pub async fn get_contact(&self, id: &str) -> Result<Option<Contact>, ContactsError> {
///         on_backend!(&self.0, get_contact(id))
///     }
/// }
/// ```
#[macro_export]
macro_rules! read_model {
    ($name:ident, $tables:expr) => {
        /// The service's read models, on whichever backend holds them.
        #[derive(Clone)]
        pub struct $name($crate::ReaderPool);

        impl From<$crate::ReaderPool> for $name {
            fn from(pool: $crate::ReaderPool) -> Self {
                $name(pool)
            }
        }

        impl $name {
            /// The pool, for readiness checks.
            pub fn pool(&self) -> &$crate::ReaderPool {
                &self.0
            }

            /// Every read model as text (see [`ReaderPool::snapshot`]).
            pub async fn snapshot(&self) -> Result<Vec<String>, $crate::StoreError> {
                self.0.snapshot($tables).await
            }
        }
    };
}

impl ReaderPool {
    /// Checks that the database answers (readiness).
    pub async fn ping(&self) -> Result<(), StoreError> {
        let answered = match self {
            ReaderPool::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
            ReaderPool::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(drop),
        };
        answered.map_err(StoreError::from_sqlx)
    }

    /// Every row of `tables` as text, sorted per table, each table headed by
    /// its row count: equal snapshots mean equal read models (how a rebuild
    /// is checked against the live models).
    pub async fn snapshot(&self, tables: &[&str]) -> Result<Vec<String>, StoreError> {
        let mut rows = Vec::new();
        for table in tables {
            debug_assert!(is_identifier(table), "{table} is not a table name");
            let mut text = match self {
                ReaderPool::Sqlite(pool) => sqlite_rows_as_text(pool, table).await,
                ReaderPool::Postgres(pool) => postgres_rows_as_text(pool, table).await,
            }
            .map_err(StoreError::from_sqlx)?;
            text.sort();
            rows.push(format!("{table}: {} rows", text.len()));
            rows.extend(text);
        }
        Ok(rows)
    }
}

/// Every row of `table` as its quoted column values joined by `|`.
async fn sqlite_rows_as_text(pool: &SqlitePool, table: &str) -> Result<Vec<String>, sqlx::Error> {
    let columns: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
            .bind(table)
            .fetch_all(pool)
            .await?;
    let row_text = joined(&columns, |column| format!("quote({column})"));
    sqlx::query_scalar(&format!("SELECT {row_text} FROM {table}"))
        .fetch_all(pool)
        .await
}

async fn postgres_rows_as_text(pool: &PgPool, table: &str) -> Result<Vec<String>, sqlx::Error> {
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::TEXT FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(pool)
    .await?;
    let row_text = joined(&columns, |column| format!("quote_nullable({column}::TEXT)"));
    sqlx::query_scalar(&format!("SELECT {row_text} FROM {table}"))
        .fetch_all(pool)
        .await
}

fn joined(columns: &[String], quote: impl Fn(&str) -> String) -> String {
    columns
        .iter()
        .map(|column| quote(column))
        .collect::<Vec<_>>()
        .join(" || '|' || ")
}

/// Whether `name` can be spliced into SQL as a table name.
pub(crate) fn is_identifier(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
