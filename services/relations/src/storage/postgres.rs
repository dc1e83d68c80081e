//! The read models on PostgreSQL.

type Db = sqlx::Postgres;
type Conn = sqlx::PgConnection;
type DbRow = sqlx::postgres::PgRow;
type DbPool = sqlx::PgPool;

include!("read_model_sql.rs");
include!("queries_sql.rs");
include!("registry_sql.rs");

/// Every row of `table` as text, the column values quoted and joined by `|`.
pub(crate) async fn rows_as_text(pool: &DbPool, table: &str) -> Result<Vec<String>, sqlx::Error> {
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::TEXT FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(pool)
    .await?;
    let row_text = columns
        .iter()
        .map(|column| format!("quote_nullable({column}::TEXT)"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    sqlx::query_scalar(&format!("SELECT {row_text} FROM {table}"))
        .fetch_all(pool)
        .await
}
