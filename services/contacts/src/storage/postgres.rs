//! The read models on PostgreSQL.

type Db = sqlx::Postgres;
type Conn = sqlx::PgConnection;
type DbRow = sqlx::postgres::PgRow;
type DbPool = sqlx::PgPool;
/// The extended protocol takes one statement per query.
const MULTI_STATEMENT: bool = false;

include!("projection_sql.rs");
include!("rules_sql.rs");
include!("queries_sql.rs");
