// The projection: the read models kept in the append's transaction, from
// the service's events. Compiled once per backend: `sqlite.rs` and
// `postgres.rs` each define `Db`, `Conn`, `DbRow`, `DbPool` and
// `MULTI_STATEMENT`, then `include!` the `*_sql.rs` files (ADR 0007).
// Placeholders are `$N`, which SQLite accepts too. The imports here serve
// every included file.

use async_trait::async_trait;
use liaison_eventstore::{Projection, ProjectionError, RecordedEvent};
use liaison_proto::contacts::v1::{
    category_event, contact_event, CategoryEvent, ContactData, ContactEvent,
};
use prost::Message;
use sqlx::{QueryBuilder, Row};

use super::rows::{ContactRow, CONTACT_COLUMNS};
use super::ContactsProjection;
use crate::domain::category::Category;
use crate::domain::contact::{self, Contact, Kind, Lifecycle};
use crate::domain::validation::email_key;
use crate::ContactsError;
use liaison_eventstore::aggregate::id_of_stream;

#[async_trait]
impl Projection<Db> for ContactsProjection {
    fn name(&self) -> &'static str {
        "contacts"
    }

    async fn apply(&self, conn: &mut Conn, event: &RecordedEvent) -> Result<(), ProjectionError> {
        apply_event(conn, event).await
    }

    async fn apply_batch(
        &self,
        conn: &mut Conn,
        events: &[RecordedEvent],
    ) -> Result<(), ProjectionError> {
        apply_events(conn, events).await
    }

    fn tables(&self) -> &'static [&'static str] {
        super::READ_MODEL_TABLES
    }
}

/// Applies one event to the read models (the projection of both backends).
pub(crate) async fn apply_event(
    conn: &mut Conn,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
    let aggregate = event.event_type.split('.').next().unwrap_or_default();
    match (aggregate, Kind::from_aggregate(aggregate)) {
        (_, Some(kind)) => apply_contact(conn, event, kind).await,
        ("category", None) => apply_category(conn, event).await,
        _ => Ok(()),
    }
}

/// Applies what several commands committed together: each run of contact
/// creations with a handful of statements, whatever its length; other events
/// one by one, in order. A creation that breaks a rule refuses the batch
/// (the store then applies it one command at a time to find which).
pub(crate) async fn apply_events(
    conn: &mut Conn,
    events: &[RecordedEvent],
) -> Result<(), ProjectionError> {
    let mut creations: Vec<(Contact, bool)> = Vec::new();
    for event in events {
        if let Some(creation) = creation_of(event)? {
            creations.push(creation);
            continue;
        }
        create_contacts(conn, &creations).await?;
        creations.clear();
        apply_event(conn, event).await?;
    }
    create_contacts(conn, &creations).await
}

/// The contact a `*.created` event makes, and whether it may share emails.
fn creation_of(event: &RecordedEvent) -> Result<Option<(Contact, bool)>, ProjectionError> {
    let aggregate = event.event_type.split('.').next().unwrap_or_default();
    if event.shredded || !event.event_type.ends_with(".created") {
        return Ok(None);
    }
    let Some(_kind) = Kind::from_aggregate(aggregate) else {
        return Ok(None);
    };
    let decoded =
        ContactEvent::decode(event.payload.as_slice()).map_err(|e| decode_error(event, e))?;
    let Some(domain_event @ contact_event::Event::Created(_)) = decoded.event else {
        return Ok(None);
    };
    let shared = matches!(&domain_event, contact_event::Event::Created(created) if created.shared_email_allowed);
    let id = id_of_stream(&event.stream_id);
    let contact = contact::evolve(
        Contact::new(id),
        &domain_event,
        event.metadata.occurred_at_micros,
    );
    Ok(Some((contact, shared)))
}

/// Checks the rules for new contacts together, then writes them together.
async fn create_contacts(
    conn: &mut Conn,
    creations: &[(Contact, bool)],
) -> Result<(), ProjectionError> {
    match creations {
        [] => return Ok(()),
        [(contact, shared)] => {
            check_rules(conn, None, contact, *shared).await?;
            write_contact(conn, contact, true).await?;
            return Ok(());
        }
        _ => {}
    }
    // Within the batch: any repeated email or reference goes one by one.
    let mut emails = std::collections::HashSet::new();
    let mut references = std::collections::HashSet::new();
    let mut categories = std::collections::BTreeSet::new();
    let mut checked_emails = Vec::new();
    for (contact, shared) in creations {
        let is_person = contact.kind == Some(Kind::Person);
        for email in &contact.data.emails {
            let key = email_key(&email.address);
            if is_person && !emails.insert(key.clone()) {
                return Err(reject(ContactsError::FailedPrecondition(format!(
                    "email {key} appears twice in one batch"
                ))));
            }
            if is_person && !shared {
                checked_emails.push(key);
            }
        }
        for reference in &contact.data.external_refs {
            if !references.insert((reference.source.clone(), reference.external_id.clone())) {
                return Err(reject(ContactsError::FailedPrecondition(format!(
                    "external reference {}/{} appears twice in one batch",
                    reference.source, reference.external_id
                ))));
            }
        }
        if !contact.data.category_id.is_empty() {
            categories.insert(contact.data.category_id.clone());
        }
    }
    if !categories.is_empty() {
        let mut query = QueryBuilder::<Db>::new("SELECT id FROM categories WHERE id IN (");
        let mut list = query.separated(", ");
        for id in &categories {
            list.push_bind(id.clone());
        }
        query.push(")");
        let known: Vec<(String,)> = query.build_query_as().fetch_all(&mut *conn).await?;
        if let Some(missing) = categories
            .iter()
            .find(|id| !known.iter().any(|(k,)| k == *id))
        {
            return Err(reject(ContactsError::UnknownCategory {
                id: missing.clone(),
            }));
        }
    }
    if !checked_emails.is_empty() {
        let taken = live_person_holding(conn, &checked_emails, None).await?;
        if let Some((email, other_id)) = taken {
            return Err(reject(ContactsError::EmailTaken { email, other_id }));
        }
    }
    if !references.is_empty() {
        let mut query = QueryBuilder::<Db>::new(
            "SELECT source, external_id, contact_id FROM contact_external_refs WHERE (source, external_id) IN (",
        );
        let mut list = query.separated(", ");
        for (source, external_id) in &references {
            list.push("(")
                .push_bind_unseparated(source.clone())
                .push_unseparated(", ")
                .push_bind_unseparated(external_id.clone())
                .push_unseparated(")");
        }
        query.push(") LIMIT 1");
        let holder: Option<(String, String, String)> =
            query.build_query_as().fetch_optional(&mut *conn).await?;
        if let Some((source_name, external_id, other_id)) = holder {
            return Err(reject(ContactsError::ExternalRefTaken {
                source_name,
                external_id,
                other_id,
            }));
        }
    }
    write_new_contacts(conn, creations).await?;
    Ok(())
}

/// Inserts new contacts and their index rows, each table in one statement,
/// all in one round trip: several statements in one query where the driver
/// takes them, else one statement whose inserts but the last are CTEs
/// (inserts only: the parts of one statement do not see each other).
async fn write_new_contacts(
    conn: &mut Conn,
    creations: &[(Contact, bool)],
) -> Result<(), sqlx::Error> {
    let contacts: Vec<&Contact> = creations.iter().map(|(contact, _)| contact).collect();
    let emails: Vec<(String, &str)> = contacts
        .iter()
        .flat_map(|c| {
            c.data
                .emails
                .iter()
                .map(|e| (email_key(&e.address), c.id.as_str()))
        })
        .collect();
    let tags: Vec<(String, &str)> = contacts
        .iter()
        .flat_map(|c| {
            c.data
                .tags
                .iter()
                .map(|t| (t.to_lowercase(), c.id.as_str()))
        })
        .collect();
    let references: Vec<(&str, &str, &str)> = contacts
        .iter()
        .flat_map(|c| {
            c.data
                .external_refs
                .iter()
                .map(|r| (r.source.as_str(), r.external_id.as_str(), c.id.as_str()))
        })
        .collect();
    let mut parts = Inserts::new();
    parts.next().push(
        "INSERT INTO contacts (id, kind, version, status, sort_name, search_text, category_id, \
         managed, merged_into, created_at, updated_at, data) ",
    );
    parts.query.push_values(&contacts, |mut row, contact| {
        let values = ContactRow::of(contact);
        row.push_bind(contact.id.clone())
            .push_bind(values.kind)
            .push_bind(values.version)
            .push_bind(values.status)
            .push_bind(values.sort_name)
            .push_bind(values.search_text)
            .push_bind(values.category)
            .push_bind(values.managed)
            .push_bind(values.merged_into)
            .push_bind(contact.created_at)
            .push_bind(contact.updated_at)
            .push_bind(values.data);
    });
    if !emails.is_empty() {
        parts
            .next()
            .push("INSERT INTO contact_emails (email, contact_id) ");
        parts.query.push_values(&emails, |mut row, (email, id)| {
            row.push_bind(email.clone()).push_bind(id.to_string());
        });
        parts.query.push(" ON CONFLICT DO NOTHING");
    }
    if !tags.is_empty() {
        parts
            .next()
            .push("INSERT INTO contact_tags (tag, contact_id) ");
        parts.query.push_values(&tags, |mut row, (tag, id)| {
            row.push_bind(tag.clone()).push_bind(id.to_string());
        });
        parts.query.push(" ON CONFLICT DO NOTHING");
    }
    if !references.is_empty() {
        parts
            .next()
            .push("INSERT INTO contact_external_refs (source, external_id, contact_id) ");
        parts
            .query
            .push_values(&references, |mut row, (source, external_id, id)| {
                row.push_bind(source.to_string())
                    .push_bind(external_id.to_string())
                    .push_bind(id.to_string());
            });
    }
    parts.finish().build().execute(&mut *conn).await?;
    Ok(())
}

/// Several inserts as one query (see [`write_new_contacts`]).
struct Inserts {
    query: QueryBuilder<'static, Db>,
    parts: usize,
}

impl Inserts {
    fn new() -> Self {
        Inserts {
            query: QueryBuilder::new(""),
            parts: 0,
        }
    }

    /// Starts the next insert, closing the one before.
    fn next(&mut self) -> &mut QueryBuilder<'static, Db> {
        if MULTI_STATEMENT {
            if self.parts > 0 {
                self.query.push("; ");
            }
        } else {
            self.query
                .push(if self.parts == 0 { "WITH " } else { "), " });
            self.query.push(format!("part{} AS (", self.parts));
        }
        self.parts += 1;
        &mut self.query
    }

    fn finish(mut self) -> QueryBuilder<'static, Db> {
        if !MULTI_STATEMENT && self.parts > 0 {
            self.query.push(") SELECT 1");
        }
        self.query
    }
}

pub(crate) fn contact_from_row(row: &DbRow) -> Result<Contact, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let merged_into: Option<String> = row.try_get("merged_into")?;
    let data: Vec<u8> = row.try_get("data")?;
    let version: i64 = row.try_get("version")?;
    let lifecycle = match status.as_str() {
        "trash" => Lifecycle::Trashed,
        "merged" => Lifecycle::Merged {
            survivor_id: merged_into.unwrap_or_default(),
        },
        "erased" => Lifecycle::Erased,
        _ => Lifecycle::Live,
    };
    Ok(Contact {
        id: row.try_get("id")?,
        kind: Kind::from_aggregate(&kind),
        version: u64::try_from(version).unwrap_or(0),
        data: ContactData::decode(data.as_slice())
            .map_err(|error| sqlx::Error::Decode(Box::new(error)))?,
        lifecycle,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Writes the whole row and its index rows from the contact's state; in one
/// round trip where the driver takes several statements per query.
pub(crate) async fn write_contact(
    conn: &mut Conn,
    contact: &Contact,
    is_new: bool,
) -> Result<(), sqlx::Error> {
    let data = &contact.data;
    let row = ContactRow::of(contact);
    let mut write = QueryBuilder::<Db>::new("");
    write.push(
        "INSERT INTO contacts (id, kind, version, status, sort_name, search_text, category_id, \
         managed, merged_into, created_at, updated_at, data) VALUES (",
    );
    let mut values = write.separated(", ");
    values
        .push_bind(contact.id.clone())
        .push_bind(row.kind)
        .push_bind(row.version)
        .push_bind(row.status)
        .push_bind(row.sort_name)
        .push_bind(row.search_text)
        .push_bind(row.category)
        .push_bind(row.managed)
        .push_bind(row.merged_into)
        .push_bind(contact.created_at)
        .push_bind(contact.updated_at)
        .push_bind(row.data);
    write.push(
        ") ON CONFLICT (id) DO UPDATE SET version = excluded.version, status = excluded.status, \
         sort_name = excluded.sort_name, search_text = excluded.search_text, \
         category_id = excluded.category_id, managed = excluded.managed, \
         merged_into = excluded.merged_into, updated_at = excluded.updated_at, data = excluded.data",
    );
    end_statement(&mut write, conn).await?;
    if !is_new {
        for table in INDEX_TABLES {
            write.push(format!("DELETE FROM {table} WHERE contact_id = "));
            write.push_bind(contact.id.clone());
            end_statement(&mut write, conn).await?;
        }
    }
    if !data.emails.is_empty() {
        write.push("INSERT INTO contact_emails (email, contact_id) ");
        write.push_values(&data.emails, |mut row, email| {
            row.push_bind(email_key(&email.address))
                .push_bind(contact.id.clone());
        });
        write.push(" ON CONFLICT DO NOTHING");
        end_statement(&mut write, conn).await?;
    }
    if !data.tags.is_empty() {
        write.push("INSERT INTO contact_tags (tag, contact_id) ");
        write.push_values(&data.tags, |mut row, tag| {
            row.push_bind(tag.to_lowercase())
                .push_bind(contact.id.clone());
        });
        write.push(" ON CONFLICT DO NOTHING");
        end_statement(&mut write, conn).await?;
    }
    if !data.external_refs.is_empty() {
        write.push("INSERT INTO contact_external_refs (source, external_id, contact_id) ");
        write.push_values(&data.external_refs, |mut row, reference| {
            row.push_bind(reference.source.clone())
                .push_bind(reference.external_id.clone())
                .push_bind(contact.id.clone());
        });
        end_statement(&mut write, conn).await?;
    }
    if MULTI_STATEMENT {
        write.build().execute(&mut *conn).await?;
    }
    Ok(())
}

/// Ends a statement: queued after the others where the driver takes several
/// per query, run now where it does not.
async fn end_statement(
    write: &mut QueryBuilder<'_, Db>,
    conn: &mut Conn,
) -> Result<(), sqlx::Error> {
    if MULTI_STATEMENT {
        write.push("; ");
    } else {
        write.build().execute(&mut *conn).await?;
        write.reset();
    }
    Ok(())
}

const INDEX_TABLES: [&str; 3] = ["contact_emails", "contact_tags", "contact_external_refs"];

pub(crate) async fn delete_indexes(conn: &mut Conn, id: &str) -> Result<(), sqlx::Error> {
    for table in INDEX_TABLES {
        sqlx::query(&format!("DELETE FROM {table} WHERE contact_id = $1"))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

fn reject(error: ContactsError) -> ProjectionError {
    ProjectionError::Rejected(Box::new(error))
}

fn decode_error(event: &RecordedEvent, error: prost::DecodeError) -> ProjectionError {
    ProjectionError::Decode {
        event_type: event.event_type.clone(),
        reason: error.to_string(),
    }
}

async fn apply_contact(
    conn: &mut Conn,
    event: &RecordedEvent,
    kind: Kind,
) -> Result<(), ProjectionError> {
    let id = id_of_stream(&event.stream_id);
    let at = event.metadata.occurred_at_micros;
    if event.shredded {
        return apply_shredded(conn, event, kind, id).await;
    }
    let decoded =
        ContactEvent::decode(event.payload.as_slice()).map_err(|e| decode_error(event, e))?;
    let Some(domain_event) = decoded.event else {
        return Ok(());
    };
    // A creation starts a stream: there is no row to load.
    let before = match domain_event {
        contact_event::Event::Created(_) => None,
        _ => load(conn, id).await?,
    };
    if before.is_none() && !matches!(domain_event, contact_event::Event::Created(_)) {
        // A purged contact keeps no row, not even after its erasure.
        return Ok(());
    }
    let is_new = before.is_none();
    let current = before.clone().unwrap_or_else(|| Contact::new(id));
    let after = contact::evolve(current, &domain_event, at);
    debug_assert_eq!(
        after.version, event.stream_version,
        "read model out of step with the log"
    );

    match &domain_event {
        contact_event::Event::Created(created) => {
            check_rules(conn, None, &after, created.shared_email_allowed).await?
        }
        contact_event::Event::Updated(updated) => {
            check_rules(conn, before.as_ref(), &after, updated.shared_email_allowed).await?
        }
        contact_event::Event::Purged(_) => return delete_contact(conn, id).await,
        _ => {}
    }
    write_contact(conn, &after, is_new).await?;
    Ok(())
}

/// An event of an erased person: only its type and envelope are readable.
async fn apply_shredded(
    conn: &mut Conn,
    event: &RecordedEvent,
    kind: Kind,
    id: &str,
) -> Result<(), ProjectionError> {
    if event.event_type.ends_with(".purged") {
        return delete_contact(conn, id).await;
    }
    let mut contact = load(conn, id).await?.unwrap_or_else(|| Contact {
        id: id.to_owned(),
        kind: Some(kind),
        created_at: event.metadata.occurred_at_micros,
        ..Default::default()
    });
    contact.version = event.stream_version;
    contact.updated_at = event.metadata.occurred_at_micros;
    contact.data = Default::default();
    contact.lifecycle = Lifecycle::Erased;
    write_contact(conn, &contact, false).await?;
    Ok(())
}

async fn delete_contact(conn: &mut Conn, id: &str) -> Result<(), ProjectionError> {
    delete_indexes(conn, id).await?;
    sqlx::query("DELETE FROM contacts WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn load(conn: &mut Conn, id: &str) -> Result<Option<Contact>, ProjectionError> {
    let row = sqlx::query(&format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.as_ref().map(contact_from_row).transpose()?)
}

async fn apply_category(conn: &mut Conn, event: &RecordedEvent) -> Result<(), ProjectionError> {
    let id = id_of_stream(&event.stream_id);
    let decoded =
        CategoryEvent::decode(event.payload.as_slice()).map_err(|e| decode_error(event, e))?;
    let version = i64::try_from(event.stream_version).unwrap_or(i64::MAX);
    match decoded.event {
        Some(category_event::Event::Created(created)) => {
            ensure_name_free(conn, id, &created.name).await?;
            sqlx::query(
                "INSERT INTO categories (id, version, name, name_key, description) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id)
            .bind(version)
            .bind(&created.name)
            .bind(created.name.to_lowercase())
            .bind(&created.description)
            .execute(&mut *conn)
            .await?;
        }
        Some(category_event::Event::Renamed(renamed)) => {
            ensure_name_free(conn, id, &renamed.name).await?;
            sqlx::query(
                "UPDATE categories SET name = $1, name_key = $2, version = $3 WHERE id = $4",
            )
            .bind(&renamed.name)
            .bind(renamed.name.to_lowercase())
            .bind(version)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        }
        Some(category_event::Event::Deleted(_)) => {
            let users: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM contacts WHERE category_id = $1 AND status IN ('live', 'trash')",
            )
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
            if users > 0 {
                return Err(reject(ContactsError::FailedPrecondition(format!(
                    "category {id} is used by {users} contacts; move them to another category first"
                ))));
            }
            sqlx::query("DELETE FROM categories WHERE id = $1")
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        None => {}
    }
    Ok(())
}
