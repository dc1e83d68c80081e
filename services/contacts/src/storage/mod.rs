//! The service's read models: schema, the projection that maintains them in
//! the append's transaction, and the queries that read them.

mod projection;
pub mod queries;
mod rows;

use liaison_eventstore::migrate::Migration;

pub use projection::ContactsProjection;

/// Every read-model table, as reset before a rebuild and compared after one.
pub const READ_MODEL_TABLES: &[&str] = &[
    "contacts",
    "contact_emails",
    "contact_tags",
    "contact_external_refs",
    "categories",
];

/// Every row of every read model as text, sorted per table: equal snapshots
/// mean equal read models (how a rebuild is checked against the live ones).
pub async fn snapshot(pool: &sqlx::SqlitePool) -> Result<Vec<String>, sqlx::Error> {
    let mut rows = Vec::new();
    for table in READ_MODEL_TABLES {
        let columns: Vec<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info(?) ORDER BY cid")
                .bind(table)
                .fetch_all(pool)
                .await?;
        let row_text = columns
            .iter()
            .map(|column| format!("quote({column})"))
            .collect::<Vec<_>>()
            .join(" || '|' || ");
        let mut text: Vec<String> = sqlx::query_scalar(&format!("SELECT {row_text} FROM {table}"))
            .fetch_all(pool)
            .await?;
        text.sort();
        rows.push(format!("{table}: {} rows", text.len()));
        rows.extend(text);
    }
    Ok(rows)
}

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "contacts, emails, tags, external references, categories",
    sql: include_str!("schema.sql"),
}];
