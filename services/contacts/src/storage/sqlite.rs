//! The read models on SQLite.

type Db = sqlx::Sqlite;
type Conn = sqlx::SqliteConnection;
type DbRow = sqlx::sqlite::SqliteRow;
type DbPool = sqlx::SqlitePool;
/// Each statement wakes sqlx's SQLite worker thread: batch them.
const MULTI_STATEMENT: bool = true;

include!("read_model_sql.rs");

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
