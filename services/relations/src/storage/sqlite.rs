//! The read models on SQLite.

type Db = sqlx::Sqlite;
type Conn = sqlx::SqliteConnection;
type DbRow = sqlx::sqlite::SqliteRow;
type DbPool = sqlx::SqlitePool;

include!("read_model_sql.rs");
include!("queries_sql.rs");
include!("registry_sql.rs");

/// Every row of `table` as text, the column values quoted and joined by `|`.
pub(crate) async fn rows_as_text(pool: &DbPool, table: &str) -> Result<Vec<String>, sqlx::Error> {
    let columns: Vec<String> =
        sqlx::query_scalar("SELECT name FROM pragma_table_info($1) ORDER BY cid")
            .bind(table)
            .fetch_all(pool)
            .await?;
    let row_text = columns
        .iter()
        .map(|column| format!("quote({column})"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    sqlx::query_scalar(&format!("SELECT {row_text} FROM {table}"))
        .fetch_all(pool)
        .await
}
