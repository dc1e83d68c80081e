//! The read models on SQLite.

type Db = sqlx::Sqlite;
type Conn = sqlx::SqliteConnection;
type DbRow = sqlx::sqlite::SqliteRow;
type DbPool = sqlx::SqlitePool;
/// Each statement wakes sqlx's SQLite worker thread: batch them.
const MULTI_STATEMENT: bool = true;

include!("projection_sql.rs");
include!("rules_sql.rs");
include!("queries_sql.rs");
