//! The gateway's read models on SQLite.

type Conn = sqlx::SqliteConnection;
type DbRow = sqlx::sqlite::SqliteRow;
type DbPool = sqlx::SqlitePool;
type Db = sqlx::Sqlite;

include!("accounts_sql.rs");
