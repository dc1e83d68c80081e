// The read models' SQL and the projection, compiled once per backend:
// `sqlite.rs` and `postgres.rs` each define `Db`, `Conn`, `DbRow`, `DbPool`
// and `MULTI_STATEMENT`, then `include!` this file. Placeholders are `$N`, which
// SQLite accepts too; SQL that must differ stays in those two files.

use async_trait::async_trait;
use liaison_eventstore::{Projection, ProjectionError, RecordedEvent};
use liaison_proto::contacts::v1::{
    category_event, contact_event, CategoryEvent, ContactData, ContactEvent,
};
use prost::Message;
use sqlx::{QueryBuilder, Row};

use super::queries::{Cursor, ListFilter, Page, SortBy, TrashFilter};
use super::rows::{ContactRow, CONTACT_COLUMNS};
use super::ContactsProjection;
use crate::domain::category::Category;
use crate::domain::contact::{self, Contact, Kind, Lifecycle};
use crate::domain::id_of_stream;
use crate::domain::validation::email_key;
use crate::ContactsError;


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

    async fn reset(&self, conn: &mut Conn) -> Result<(), sqlx::Error> {
        reset(conn).await
    }
}

/// Applies one event to the read models (the projection of both backends).
pub(crate) async fn apply_event(conn: &mut Conn, event: &RecordedEvent) -> Result<(), ProjectionError> {
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
    let contact = contact::evolve(Contact::new(id), &domain_event, event.metadata.occurred_at_micros);
    Ok(Some((contact, shared)))
}

/// Checks the rules for new contacts together, then writes them together.
async fn create_contacts(conn: &mut Conn, creations: &[(Contact, bool)]) -> Result<(), ProjectionError> {
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
        if let Some(missing) = categories.iter().find(|id| !known.iter().any(|(k,)| k == *id)) {
            return Err(reject(ContactsError::UnknownCategory { id: missing.clone() }));
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
async fn write_new_contacts(conn: &mut Conn, creations: &[(Contact, bool)]) -> Result<(), sqlx::Error> {
    let contacts: Vec<&Contact> = creations.iter().map(|(contact, _)| contact).collect();
    let emails: Vec<(String, &str)> = contacts
        .iter()
        .flat_map(|c| c.data.emails.iter().map(|e| (email_key(&e.address), c.id.as_str())))
        .collect();
    let tags: Vec<(String, &str)> = contacts
        .iter()
        .flat_map(|c| c.data.tags.iter().map(|t| (t.to_lowercase(), c.id.as_str())))
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
        parts.next().push("INSERT INTO contact_emails (email, contact_id) ");
        parts.query.push_values(&emails, |mut row, (email, id)| {
            row.push_bind(email.clone()).push_bind(id.to_string());
        });
        parts.query.push(" ON CONFLICT DO NOTHING");
    }
    if !tags.is_empty() {
        parts.next().push("INSERT INTO contact_tags (tag, contact_id) ");
        parts.query.push_values(&tags, |mut row, (tag, id)| {
            row.push_bind(tag.clone()).push_bind(id.to_string());
        });
        parts.query.push(" ON CONFLICT DO NOTHING");
    }
    if !references.is_empty() {
        parts
            .next()
            .push("INSERT INTO contact_external_refs (source, external_id, contact_id) ");
        parts.query.push_values(&references, |mut row, (source, external_id, id)| {
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
            self.query.push(if self.parts == 0 { "WITH " } else { "), " });
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

/// Empties every read model before a rebuild.
pub(crate) async fn reset(conn: &mut Conn) -> Result<(), sqlx::Error> {
    for table in super::READ_MODEL_TABLES {
        sqlx::query(&format!("DELETE FROM {table}"))
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
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
async fn end_statement(write: &mut QueryBuilder<'_, Db>, conn: &mut Conn) -> Result<(), sqlx::Error> {
    if MULTI_STATEMENT {
        write.push("; ");
    } else {
        write.build().execute(&mut *conn).await?;
        write.reset();
    }
    Ok(())
}

const INDEX_TABLES: [&str; 3] = ["contact_emails", "contact_tags", "contact_external_refs"];

pub(crate) async fn delete_indexes(
    conn: &mut Conn,
    id: &str,
) -> Result<(), sqlx::Error> {
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

/// One of `emails` held by a live person (other than `except`), if any.
/// The candidates come from the email index first (a materialized CTE of
/// one equality per address), then each is looked up by its id (a
/// correlated subquery, run per candidate), so the cost does not grow with
/// the address book, whatever the planner's statistics say: without
/// statistics, PostgreSQL estimates an `IN` list of 32 addresses at a sixth
/// of the table and scans all of it, and turned an `EXISTS` on the kind and
/// status into a walk of every live person's index entry.
async fn live_person_holding(
    conn: &mut Conn,
    emails: &[String],
    except: Option<&str>,
) -> Result<Option<(String, String)>, sqlx::Error> {
    // SQLite takes at most 500 parts in one compound select.
    for chunk in emails.chunks(200) {
        let taken = email_holder_query(chunk, except)
            .build_query_as()
            .fetch_optional(&mut *conn)
            .await?;
        if taken.is_some() {
            return Ok(taken);
        }
    }
    Ok(None)
}

/// The query of [`live_person_holding`] for one chunk of addresses.
pub(crate) fn email_holder_query(emails: &[String], except: Option<&str>) -> QueryBuilder<'static, Db> {
    let mut query = QueryBuilder::<Db>::new("WITH candidates AS MATERIALIZED (");
    for (index, email) in emails.iter().enumerate() {
        if index > 0 {
            query.push(" UNION ALL ");
        }
        query
            .push("SELECT email, contact_id FROM contact_emails WHERE email = ")
            .push_bind(email.clone());
        if let Some(except) = except {
            query.push(" AND contact_id != ").push_bind(except.to_owned());
        }
    }
    query.push(
        ") SELECT e.email, e.contact_id FROM candidates e WHERE (SELECT c.kind || ':' || c.status \
         FROM contacts c WHERE c.id = e.contact_id) = 'person:live' LIMIT 1",
    );
    query
}

/// Rules across contacts, checked for what the event adds.
async fn check_rules(
    conn: &mut Conn,
    before: Option<&Contact>,
    after: &Contact,
    shared_email_allowed: bool,
) -> Result<(), ProjectionError> {
    let data = &after.data;
    let category_changed = before.is_none_or(|b| b.data.category_id != data.category_id);
    if category_changed && !data.category_id.is_empty() {
        let known: Option<String> = sqlx::query_scalar("SELECT id FROM categories WHERE id = $1")
            .bind(&data.category_id)
            .fetch_optional(&mut *conn)
            .await?;
        if known.is_none() {
            return Err(reject(ContactsError::UnknownCategory {
                id: data.category_id.clone(),
            }));
        }
    }

    let new_emails: Vec<String> = data
        .emails
        .iter()
        .map(|email| email_key(&email.address))
        .filter(|key| {
            before.is_none_or(|b| !b.data.emails.iter().any(|e| email_key(&e.address) == *key))
        })
        .collect();
    if after.kind == Some(Kind::Person) && !shared_email_allowed && !new_emails.is_empty() {
        let taken = live_person_holding(conn, &new_emails, Some(&after.id)).await?;
        if let Some((email, other_id)) = taken {
            return Err(reject(ContactsError::EmailTaken { email, other_id }));
        }
    }

    for reference in &data.external_refs {
        if before.is_some_and(|b| b.data.external_refs.contains(reference)) {
            continue;
        }
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT contact_id FROM contact_external_refs WHERE source = $1 AND external_id = $2 AND contact_id != $3",
        )
        .bind(&reference.source)
        .bind(&reference.external_id)
        .bind(&after.id)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(other_id) = holder {
            return Err(reject(ContactsError::ExternalRefTaken {
                source_name: reference.source.clone(),
                external_id: reference.external_id.clone(),
                other_id,
            }));
        }
    }
    Ok(())
}

async fn apply_category(
    conn: &mut Conn,
    event: &RecordedEvent,
) -> Result<(), ProjectionError> {
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
            sqlx::query("UPDATE categories SET name = $1, name_key = $2, version = $3 WHERE id = $4")
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

async fn ensure_name_free(
    conn: &mut Conn,
    id: &str,
    name: &str,
) -> Result<(), ProjectionError> {
    let holder: Option<String> =
        sqlx::query_scalar("SELECT id FROM categories WHERE name_key = $1 AND id != $2")
            .bind(name.to_lowercase())
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    match holder {
        Some(other_id) => Err(reject(ContactsError::CategoryNameTaken {
            name: name.to_owned(),
            other_id,
        })),
        None => Ok(()),
    }
}

pub async fn get_contact(pool: &DbPool, id: &str) -> Result<Option<Contact>, ContactsError> {
    let row = sqlx::query(&format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(contact_from_row).transpose()?)
}

pub async fn list(pool: &DbPool, filter: &ListFilter) -> Result<Page, ContactsError> {
    let sort_column = match filter.sort {
        SortBy::Name => "sort_name",
        SortBy::CreatedAt => "created_at",
        SortBy::UpdatedAt => "updated_at",
    };

    // The total rides along with the rows (computed once: the subquery does
    // not depend on the row), saving a round trip to the database.
    let mut select = QueryBuilder::<Db>::new(format!(
        "SELECT {CONTACT_COLUMNS}, {sort_column} AS sort_value, ("
    ));
    push_count(&mut select, filter);
    select.push(") AS total FROM contacts c WHERE ");
    push_conditions(&mut select, filter);
    if let Some(after) = &filter.after {
        let op = if filter.descending { "<" } else { ">" };
        select.push(format!(" AND ({sort_column}, id) {op} ("));
        match filter.sort {
            SortBy::Name => select.push_bind(after.sort_value.clone()),
            SortBy::CreatedAt | SortBy::UpdatedAt => {
                let value: i64 = after.sort_value.parse().map_err(|_| {
                    ContactsError::invalid("page_token", "page token does not fit this sort order")
                })?;
                select.push_bind(value)
            }
        };
        select.push(", ").push_bind(after.id.clone()).push(")");
    }
    let direction = if filter.descending { "DESC" } else { "ASC" };
    select.push(format!(
        " ORDER BY {sort_column} {direction}, id {direction} LIMIT "
    ));
    select.push_bind(i64::from(filter.page_size) + 1);

    let rows = select.build().fetch_all(pool).await?;
    let total: i64 = match rows.first() {
        Some(row) => sqlx::Row::try_get(row, "total")?,
        None => {
            let mut count = QueryBuilder::<Db>::new("");
            push_count(&mut count, filter);
            count.build_query_scalar().fetch_one(pool).await?
        }
    };
    let mut contacts = Vec::with_capacity(rows.len());
    let mut last_sort_value = String::new();
    for row in rows.iter().take(filter.page_size as usize) {
        contacts.push(contact_from_row(row)?);
        last_sort_value = match filter.sort {
            SortBy::Name => sqlx::Row::try_get::<String, _>(row, "sort_value")?,
            _ => sqlx::Row::try_get::<i64, _>(row, "sort_value")?.to_string(),
        };
    }
    let next = (rows.len() > filter.page_size as usize)
        .then(|| {
            contacts.last().map(|c| Cursor {
                sort_value: last_sort_value,
                id: c.id.clone(),
            })
        })
        .flatten();
    Ok(Page {
        contacts,
        next,
        total: u64::try_from(total).unwrap_or(0),
    })
}

/// A query counting the matches of `filter`. Without a filter beyond kind
/// and trash, it adds up the counts the triggers keep (a scan of 100,000
/// index entries costs ~10 ms); otherwise it counts the rows the filter
/// selects.
fn push_count(query: &mut QueryBuilder<'_, Db>, filter: &ListFilter) {
    let unfiltered = filter.category_id.is_none()
        && filter.managed.is_none()
        && filter.updated_since.is_none()
        && filter.query.is_none()
        && filter.tags.is_empty();
    if unfiltered {
        query.push("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM contact_counts c WHERE ");
        push_status_and_kind(query, filter);
    } else {
        query.push("SELECT COUNT(*) FROM contacts c WHERE ");
        push_conditions(query, filter);
    }
}

fn push_status_and_kind(query: &mut QueryBuilder<'_, Db>, filter: &ListFilter) {
    match filter.trash {
        TrashFilter::LiveOnly => query.push("c.status = 'live'"),
        TrashFilter::TrashOnly => query.push("c.status = 'trash'"),
        TrashFilter::Both => query.push("c.status IN ('live', 'trash')"),
    };
    if let Some(kind) = filter.kind {
        query.push(" AND c.kind = ").push_bind(kind.as_str());
    }
}

fn push_conditions(query: &mut QueryBuilder<'_, Db>, filter: &ListFilter) {
    push_status_and_kind(query, filter);
    if let Some(category) = &filter.category_id {
        query
            .push(" AND c.category_id = ")
            .push_bind(category.clone());
    }
    if let Some(managed) = filter.managed {
        query.push(" AND c.managed = ").push_bind(managed);
    }
    if let Some(since) = filter.updated_since {
        query.push(" AND c.updated_at >= ").push_bind(since);
    }
    if let Some(text) = &filter.query {
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        query
            .push(" AND c.search_text LIKE ")
            .push_bind(format!("%{escaped}%"))
            .push(" ESCAPE '\\'");
    }
    for tag in &filter.tags {
        query
            .push(
                " AND EXISTS (SELECT 1 FROM contact_tags t WHERE t.contact_id = c.id AND t.tag = ",
            )
            .push_bind(tag.to_lowercase())
            .push(")");
    }
}

/// Live and trashed contacts holding the address.
pub async fn find_by_email(pool: &DbPool, email: &str) -> Result<Vec<Contact>, ContactsError> {
    let rows = sqlx::query(&format!(
        "SELECT {} FROM contacts c JOIN contact_emails e ON e.contact_id = c.id
         WHERE e.email = $1 AND c.status IN ('live', 'trash') ORDER BY c.id",
        CONTACT_COLUMNS
            .split(", ")
            .map(|column| format!("c.{column}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .bind(email_key(email))
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(contact_from_row)
        .collect::<Result<_, _>>()?)
}

pub async fn find_by_external_ref(
    pool: &DbPool,
    source: &str,
    external_id: &str,
) -> Result<Option<Contact>, ContactsError> {
    let holder: Option<String> = sqlx::query_scalar(
        "SELECT contact_id FROM contact_external_refs WHERE source = $1 AND external_id = $2",
    )
    .bind(source)
    .bind(external_id)
    .fetch_optional(pool)
    .await?;
    match holder {
        Some(id) => get_contact(pool, &id).await,
        None => Ok(None),
    }
}

pub async fn list_categories(pool: &DbPool) -> Result<Vec<Category>, ContactsError> {
    let rows: Vec<(String, i64, String, String)> =
        sqlx::query_as("SELECT id, version, name, description FROM categories ORDER BY name_key")
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, version, name, description)| Category {
            id,
            version: u64::try_from(version).unwrap_or(0),
            name,
            description,
            exists: true,
            deleted: false,
        })
        .collect())
}

