//! The read models on SQLite.

type Db = sqlx::Sqlite;
type Conn = sqlx::SqliteConnection;
type DbRow = sqlx::sqlite::SqliteRow;
type DbPool = sqlx::SqlitePool;

include!("projection_sql.rs");
include!("queries_sql.rs");
include!("registry_sql.rs");
