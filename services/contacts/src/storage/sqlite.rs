//! The read models on SQLite.

use async_trait::async_trait;
use liaison_eventstore::{Projection, ProjectionError, RecordedEvent};
use liaison_proto::contacts::v1::{
    category_event, contact_event, CategoryEvent, ContactData, ContactEvent,
};
use prost::Message;
use sqlx::{QueryBuilder, Row};

use super::queries::{Cursor, ListFilter, Page, SortBy, TrashFilter};
use super::rows::{ContactRow, CONTACT_COLUMNS};
use super::ContactsProjection;
use crate::domain::category::Category;
use crate::domain::contact::{self, Contact, Kind, Lifecycle};
use crate::domain::id_of_stream;
use crate::domain::validation::email_key;
use crate::ContactsError;

type Db = sqlx::Sqlite;
type Conn = sqlx::SqliteConnection;
type DbRow = sqlx::sqlite::SqliteRow;
type DbPool = sqlx::SqlitePool;
/// Each statement wakes sqlx's SQLite worker thread: batch them.
const MULTI_STATEMENT: bool = true;

include!("read_model_sql.rs");

#[async_trait]
impl Projection<Db> for ContactsProjection {
    fn name(&self) -> &'static str {
        "contacts"
    }

    async fn apply(&self, conn: &mut Conn, event: &RecordedEvent) -> Result<(), ProjectionError> {
        apply_event(conn, event).await
    }

    async fn apply_batch(
        &self,
        conn: &mut Conn,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        apply_events(conn, events).await
    }

    async fn reset(&self, conn: &mut Conn) -> Result<(), sqlx::Error> {
        reset(conn).await
    }
}

/// Column names of a read-model table, in order.
pub(crate) async fn columns_of(pool: &DbPool, table: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
        .bind(table)
        .fetch_all(pool)
        .await
}

/// Every row of `table` as text, the column values quoted and joined by `|`.
pub(crate) async fn rows_as_text(
    pool: &DbPool,
    table: &str,
    columns: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    let row_text = columns
        .iter()
        .map(|column| format!("quote({column})"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    sqlx::query_scalar(&format!("SELECT {row_text} FROM {table}"))
        .fetch_all(pool)
        .await
}
