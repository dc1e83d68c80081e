use async_trait::async_trait;
use liaison_eventstore::{Projection, ProjectionError, RecordedEvent};
use liaison_proto::contacts::v1::{category_event, contact_event, CategoryEvent, ContactEvent};
use prost::Message;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::rows::{self, contact_from_row, CONTACT_COLUMNS};
use crate::domain::contact::{self, Contact, Kind, Lifecycle};
use crate::domain::id_of_stream;
use crate::domain::validation::email_key;
use crate::ContactsError;

/// Maintains every read model of the service. It also enforces the rules
/// that span contacts (unique emails and external references, known
/// categories, categories in use), inside the append's transaction, so two
/// concurrent commands cannot both pass them.
pub struct ContactsProjection;

#[async_trait]
impl Projection<Sqlite> for ContactsProjection {
    fn name(&self) -> &'static str {
        "contacts"
    }

    async fn apply(
        &self,
        conn: &mut SqliteConnection,
        event: &RecordedEvent,
    ) -> Result<(), ProjectionError> {
        let aggregate = event.event_type.split('.').next().unwrap_or_default();
        match (aggregate, Kind::from_aggregate(aggregate)) {
            (_, Some(kind)) => apply_contact(conn, event, kind).await,
            ("category", None) => apply_category(conn, event).await,
            _ => Ok(()),
        }
    }

    async fn reset(&self, conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        for table in super::READ_MODEL_TABLES {
            sqlx::query(&format!("DELETE FROM {table}"))
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
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
    conn: &mut SqliteConnection,
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
    rows::write_contact(conn, &after, is_new).await?;
    Ok(())
}

/// An event of an erased person: only its type and envelope are readable.
async fn apply_shredded(
    conn: &mut SqliteConnection,
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
    rows::write_contact(conn, &contact, false).await?;
    Ok(())
}

async fn delete_contact(conn: &mut SqliteConnection, id: &str) -> Result<(), ProjectionError> {
    rows::delete_indexes(conn, id).await?;
    sqlx::query("DELETE FROM contacts WHERE id = ?")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

async fn load(conn: &mut SqliteConnection, id: &str) -> Result<Option<Contact>, ProjectionError> {
    let row = sqlx::query(&format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.as_ref().map(contact_from_row).transpose()?)
}

/// Rules across contacts, checked for what the event adds.
async fn check_rules(
    conn: &mut SqliteConnection,
    before: Option<&Contact>,
    after: &Contact,
    shared_email_allowed: bool,
) -> Result<(), ProjectionError> {
    let data = &after.data;
    let category_changed = before.is_none_or(|b| b.data.category_id != data.category_id);
    if category_changed && !data.category_id.is_empty() {
        let known: Option<i64> = sqlx::query_scalar("SELECT 1 FROM categories WHERE id = ?")
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
        // Driven by the email index: the cost does not grow with the address book.
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT e.email, e.contact_id FROM contact_emails e WHERE e.email IN (",
        );
        let mut list = query.separated(", ");
        for key in &new_emails {
            list.push_bind(key);
        }
        query
            .push(") AND e.contact_id != ")
            .push_bind(&after.id)
            .push(
                " AND EXISTS (SELECT 1 FROM contacts c WHERE c.id = e.contact_id \
                 AND c.kind = 'person' AND c.status = 'live') LIMIT 1",
            );
        let taken: Option<(String, String)> =
            query.build_query_as().fetch_optional(&mut *conn).await?;
        if let Some((email, other_id)) = taken {
            return Err(reject(ContactsError::EmailTaken { email, other_id }));
        }
    }

    for reference in &data.external_refs {
        if before.is_some_and(|b| b.data.external_refs.contains(reference)) {
            continue;
        }
        let holder: Option<String> = sqlx::query_scalar(
            "SELECT contact_id FROM contact_external_refs WHERE source = ? AND external_id = ? AND contact_id != ?",
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
    conn: &mut SqliteConnection,
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
                "INSERT INTO categories (id, version, name, name_key, description) VALUES (?, ?, ?, ?, ?)",
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
            sqlx::query("UPDATE categories SET name = ?, name_key = ?, version = ? WHERE id = ?")
                .bind(&renamed.name)
                .bind(renamed.name.to_lowercase())
                .bind(version)
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        Some(category_event::Event::Deleted(_)) => {
            let users: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM contacts WHERE category_id = ? AND status IN ('live', 'trash')",
            )
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
            if users > 0 {
                return Err(reject(ContactsError::FailedPrecondition(format!(
                    "category {id} is used by {users} contacts; move them to another category first"
                ))));
            }
            sqlx::query("DELETE FROM categories WHERE id = ?")
                .bind(id)
                .execute(&mut *conn)
                .await?;
        }
        None => {}
    }
    Ok(())
}

async fn ensure_name_free(
    conn: &mut SqliteConnection,
    id: &str,
    name: &str,
) -> Result<(), ProjectionError> {
    let holder: Option<String> =
        sqlx::query_scalar("SELECT id FROM categories WHERE name_key = ? AND id != ?")
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
