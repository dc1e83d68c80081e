//! The service's read models: schema, the projection that maintains them in
//! the append's transaction (`projection_sql.rs`, with the rules that span
//! contacts in `rules_sql.rs`), and the queries that read them
//! (`queries_sql.rs`), on SQLite or PostgreSQL. The SQL is written once and
//! compiled for each backend by `sqlite.rs` and `postgres.rs`; what differs
//! lives in those two files and the schema files (ADR 0007).

mod postgres;
pub mod queries;
pub use queries::PAGE_BYTES;
mod rows;
mod sqlite;

use liaison_eventstore::migrate::Migration;
use liaison_eventstore::on_backend;

use crate::domain::category::Category;
use crate::domain::contact::Contact;
use crate::ContactsError;
use queries::{ListFilter, Page};

/// Maintains every read model of the service. It also enforces the rules
/// that span contacts (unique emails and external references, known
/// categories, categories in use), inside the append's transaction, so two
/// concurrent commands cannot both pass them.
pub struct ContactsProjection;

/// Every read-model table, as reset before a rebuild and compared after one.
pub const READ_MODEL_TABLES: &[&str] = &[
    "contacts",
    "contact_emails",
    "contact_tags",
    "contact_external_refs",
    "categories",
    "contact_counts",
];

pub const MIGRATIONS_SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        description: "contacts, emails, tags, external references, categories",
        sql: include_str!("schema_sqlite.sql"),
    },
    Migration {
        version: 2,
        description: "contact counts per kind and status, kept by triggers",
        sql: include_str!("counts_sqlite.sql"),
    },
];

pub const MIGRATIONS_POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        description: "contacts, emails, tags, external references, categories",
        sql: include_str!("schema_postgres.sql"),
    },
    Migration {
        version: 2,
        description: "contact counts per kind and status, kept by triggers",
        sql: include_str!("counts_postgres.sql"),
    },
];

liaison_eventstore::read_model!(ReadModel, READ_MODEL_TABLES);

impl ReadModel {
    pub async fn get_contact(&self, id: &str) -> Result<Option<Contact>, ContactsError> {
        on_backend!(&self.0, get_contact(id))
    }

    pub async fn list(&self, filter: &ListFilter) -> Result<Page, ContactsError> {
        on_backend!(&self.0, list(filter))
    }

    pub async fn find_by_email(&self, email: &str) -> Result<Vec<Contact>, ContactsError> {
        on_backend!(&self.0, find_by_email(email))
    }

    pub async fn find_by_external_ref(
        &self,
        source: &str,
        external_id: &str,
    ) -> Result<Option<Contact>, ContactsError> {
        on_backend!(&self.0, find_by_external_ref(source, external_id))
    }

    pub async fn list_categories(&self) -> Result<Vec<Category>, ContactsError> {
        on_backend!(&self.0, list_categories())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use liaison_eventstore::migrate;
    use liaison_eventstore::testing_postgres::{postgres_url, TemporarySchema};
    use sqlx::{Connection, Executor};

    const ROWS: &str = "INSERT INTO contacts (id, kind, version, status, sort_name, search_text, \
        created_at, updated_at, data) VALUES \
        ('a-01', 'person', 1, 'live', 'a', 'a', 1, 1, ''), \
        ('a-02', 'person', 1, 'live', 'b', 'b', 1, 1, ''), \
        ('b-02', 'person', 1, 'trash', 'c', 'c', 1, 1, ''), \
        ('c-03', 'organisation', 1, 'live', 'd', 'd', 1, 1, '')";
    const COUNTS: &str = "SELECT kind, status, CAST(SUM(n) AS BIGINT) FROM contact_counts \
        GROUP BY kind, status ORDER BY kind, status";

    /// Restores the trashed contact (the update trigger's work); then the
    /// counts. A macro: the two backends' connections share no trait here.
    macro_rules! restore_and_count {
        ($conn:expr) => {{
            sqlx::query("UPDATE contacts SET status = 'live' WHERE id = 'b-02'")
                .execute(&mut $conn)
                .await
                .expect("restore");
            let counts: Vec<(String, String, i64)> = sqlx::query_as(COUNTS)
                .fetch_all(&mut $conn)
                .await
                .expect("counts");
            counts
        }};
    }

    /// After the restore: the trashed count fell to zero and its row went.
    fn expected() -> Vec<(String, String, i64)> {
        [("organisation", "live", 1), ("person", "live", 3)]
            .into_iter()
            .map(|(kind, status, n)| (kind.to_owned(), status.to_owned(), n))
            .collect()
    }

    /// Contacts written before the counts existed are counted by the
    /// migration that adds them; the triggers then follow every change.
    #[tokio::test]
    async fn the_counts_migration_counts_existing_contacts_on_sqlite() {
        let mut conn = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .expect("sqlite");
        migrate::run_sqlite(&mut conn, "contacts", &MIGRATIONS_SQLITE[..1])
            .await
            .expect("first schema");
        sqlx::query(ROWS).execute(&mut conn).await.expect("rows");
        migrate::run_sqlite(&mut conn, "contacts", MIGRATIONS_SQLITE)
            .await
            .expect("counts");
        assert_eq!(restore_and_count!(conn), expected());
    }

    /// Persons `first..=last`, each with the address `person<n>@example.org`.
    fn persons_sql(first: u32, last: u32) -> String {
        format!(
            "INSERT INTO contacts (id, kind, version, status, sort_name, search_text, \
             created_at, updated_at, data) SELECT 'p-' || n, 'person', 1, 'live', 'n' || n, 'n', \
             n, n, '' FROM generate_series({first}, {last}) n; \
             INSERT INTO contact_emails (email, contact_id) SELECT 'person' || n || '@example.org', \
             'p-' || n FROM generate_series({first}, {last}) n"
        )
    }

    /// Rows read from `contacts` by the plan, from `EXPLAIN ANALYZE` text
    /// (`... on contacts c (actual rows=R loops=L)` per node).
    fn contacts_rows_read(plan: &[String]) -> u64 {
        plan.iter()
            .filter(|line| line.contains(" on contacts "))
            .map(|line| {
                let number = |key: &str| -> u64 {
                    line.split(key)
                        .nth(1)
                        .and_then(|rest| rest.split([' ', ')']).next())
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| panic!("no {key} in {line}"))
                };
                number("rows=") * number("loops=")
            })
            .sum()
    }

    /// The email rule of every create reads the candidates' own rows, not
    /// the address book, whatever plan PostgreSQL cached: the statement's
    /// plan is fixed while the tables hold 20 persons and never analyzed
    /// (as a prepared statement keeps its generic plan until the next
    /// analyze), then the book grows to 5,020 persons.
    #[tokio::test]
    async fn the_email_rule_reads_only_the_candidates_whatever_plan_postgres_cached() {
        let schema = TemporarySchema::new(&postgres_url(), "contacts_email_rule");
        let mut conn = sqlx::PgConnection::connect(&schema.url)
            .await
            .expect("postgres");
        conn.execute(&*format!(
            "CREATE SCHEMA {0}; SET search_path TO {0}; SET plan_cache_mode = force_generic_plan",
            schema.name
        ))
        .await
        .expect("schema");
        migrate::run_postgres(&mut conn, "contacts", MIGRATIONS_POSTGRES)
            .await
            .expect("migrations");
        conn.execute(&*persons_sql(1, 20)).await.expect("persons");

        let mut emails = vec!["person7@example.org".to_owned()];
        emails.extend((0..15).map(|n| format!("nobody{n}@example.org")));
        let query = postgres::email_holder_query(&emails, None);
        let types = vec!["text"; emails.len()].join(", ");
        conn.execute(&*format!("PREPARE email_rule ({types}) AS {}", query.sql()))
            .await
            .expect("prepare");
        let arguments = emails
            .iter()
            .map(|email| format!("'{email}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let execute = format!("EXECUTE email_rule ({arguments})");
        let holder: (String, String) = sqlx::query_as(&execute)
            .fetch_one(&mut conn)
            .await
            .expect("first run");
        assert_eq!(holder, ("person7@example.org".to_owned(), "p-7".to_owned()));

        conn.execute(&*persons_sql(21, 5_020))
            .await
            .expect("more persons");
        let plan: Vec<String> = sqlx::query_scalar(&format!(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {execute}"
        ))
        .fetch_all(&mut conn)
        .await
        .expect("explain");
        assert_eq!(
            contacts_rows_read(&plan),
            1,
            "only the one candidate's row is read:\n{}",
            plan.join("\n")
        );
        let holder: (String, String) = sqlx::query_as(&execute)
            .fetch_one(&mut conn)
            .await
            .expect("run on the grown book");
        assert_eq!(holder.1, "p-7");
    }

    #[tokio::test]
    async fn the_counts_migration_counts_existing_contacts_on_postgres() {
        let schema = TemporarySchema::new(&postgres_url(), "contacts_counts");
        let mut conn = sqlx::PgConnection::connect(&schema.url)
            .await
            .expect("postgres");
        conn.execute(&*format!(
            "CREATE SCHEMA {0}; SET search_path TO {0}",
            schema.name
        ))
        .await
        .expect("schema");
        migrate::run_postgres(&mut conn, "contacts", &MIGRATIONS_POSTGRES[..1])
            .await
            .expect("first schema");
        sqlx::query(ROWS).execute(&mut conn).await.expect("rows");
        migrate::run_postgres(&mut conn, "contacts", MIGRATIONS_POSTGRES)
            .await
            .expect("counts");
        assert_eq!(restore_and_count!(conn), expected());
    }
}
