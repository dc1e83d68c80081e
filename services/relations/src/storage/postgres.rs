//! The read models on PostgreSQL.

type Db = sqlx::Postgres;
type Conn = sqlx::PgConnection;
type DbRow = sqlx::postgres::PgRow;
type DbPool = sqlx::PgPool;

include!("projection_sql.rs");
include!("queries_sql.rs");
include!("registry_sql.rs");
