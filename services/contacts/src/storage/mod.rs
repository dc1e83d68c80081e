//! The service's read models: schema, the projection that maintains them in
//! the append's transaction, and the queries that read them.

mod projection;
pub mod queries;
mod rows;

use liaison_eventstore::migrate::Migration;

pub use projection::ContactsProjection;

pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "contacts, emails, tags, external references, categories",
    sql: include_str!("schema.sql"),
}];
