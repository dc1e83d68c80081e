//! The gateway's read models on PostgreSQL.

type Conn = sqlx::PgConnection;
type DbRow = sqlx::postgres::PgRow;
type DbPool = sqlx::PgPool;
type Db = sqlx::Postgres;

include!("accounts_sql.rs");
