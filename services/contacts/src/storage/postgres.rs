//! The read models on PostgreSQL.

type Db = sqlx::Postgres;
type Conn = sqlx::PgConnection;
type DbRow = sqlx::postgres::PgRow;
type DbPool = sqlx::PgPool;
/// The extended protocol takes one statement per query.
const MULTI_STATEMENT: bool = false;

include!("read_model_sql.rs");

/// Column names of a read-model table, in order.
pub(crate) async fn columns_of(pool: &DbPool, table: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT column_name::TEXT FROM information_schema.columns \
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
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
        .map(|column| format!("quote_nullable({column}::TEXT)"))
        .collect::<Vec<_>>()
        .join(" || '|' || ");
    sqlx::query_scalar(&format!("SELECT {row_text} FROM {table}"))
        .fetch_all(pool)
        .await
}
