//! Mapping between the `contacts` row and the domain's [`Contact`].

use liaison_proto::contacts::v1::ContactData;
use prost::Message;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::domain::contact::{Contact, Kind, Lifecycle};
use crate::domain::validation::email_key;

pub(crate) const CONTACT_COLUMNS: &str =
    "id, kind, version, status, merged_into, created_at, updated_at, data";

pub(crate) fn status_of(lifecycle: &Lifecycle) -> &'static str {
    match lifecycle {
        Lifecycle::Live | Lifecycle::New => "live",
        Lifecycle::Trashed => "trash",
        Lifecycle::Merged { .. } => "merged",
        Lifecycle::Erased | Lifecycle::Purged => "erased",
    }
}

pub(crate) fn contact_from_row(row: &SqliteRow) -> Result<Contact, sqlx::Error> {
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

fn sort_name(contact: &Contact) -> String {
    let data = &contact.data;
    match contact.kind {
        Some(Kind::Organisation) => data.organisation_name.to_lowercase(),
        _ => format!("{} {}", data.family_name, data.given_name)
            .trim()
            .to_lowercase(),
    }
}

fn search_text(contact: &Contact) -> String {
    let data = &contact.data;
    let mut text = [
        data.given_name.as_str(),
        data.family_name.as_str(),
        data.organisation_name.as_str(),
    ]
    .iter()
    .filter(|part| !part.is_empty())
    .map(|part| part.to_lowercase())
    .collect::<Vec<_>>();
    text.extend(data.emails.iter().map(|email| email_key(&email.address)));
    text.join(" ")
}

/// Writes the whole row and its index rows from the contact's state, in one
/// round trip to the database (SQLite runs the statements in order).
pub(crate) async fn write_contact(
    conn: &mut SqliteConnection,
    contact: &Contact,
    is_new: bool,
) -> Result<(), sqlx::Error> {
    let kind = contact.kind.map(Kind::as_str).unwrap_or("person");
    let merged_into = match &contact.lifecycle {
        Lifecycle::Merged { survivor_id } => Some(survivor_id.clone()),
        _ => None,
    };
    let data = &contact.data;
    let category = Some(data.category_id.clone()).filter(|id| !id.is_empty());
    let mut write = QueryBuilder::<Sqlite>::new(
        "INSERT INTO contacts (id, kind, version, status, sort_name, search_text, category_id, \
         managed, merged_into, created_at, updated_at, data) VALUES (",
    );
    let mut values = write.separated(", ");
    values
        .push_bind(contact.id.clone())
        .push_bind(kind)
        .push_bind(i64::try_from(contact.version).unwrap_or(i64::MAX))
        .push_bind(status_of(&contact.lifecycle))
        .push_bind(sort_name(contact))
        .push_bind(search_text(contact))
        .push_bind(category)
        .push_bind(data.managed)
        .push_bind(merged_into)
        .push_bind(contact.created_at)
        .push_bind(contact.updated_at)
        .push_bind(data.encode_to_vec());
    write.push(
        ") ON CONFLICT (id) DO UPDATE SET version = excluded.version, status = excluded.status, \
         sort_name = excluded.sort_name, search_text = excluded.search_text, \
         category_id = excluded.category_id, managed = excluded.managed, \
         merged_into = excluded.merged_into, updated_at = excluded.updated_at, data = excluded.data;",
    );
    if !is_new {
        for table in INDEX_TABLES {
            write.push(format!(" DELETE FROM {table} WHERE contact_id = "));
            write.push_bind(contact.id.clone()).push(";");
        }
    }
    if !data.emails.is_empty() {
        write.push(" INSERT OR IGNORE INTO contact_emails (email, contact_id) ");
        write.push_values(&data.emails, |mut row, email| {
            row.push_bind(email_key(&email.address))
                .push_bind(contact.id.clone());
        });
        write.push(";");
    }
    if !data.tags.is_empty() {
        write.push(" INSERT OR IGNORE INTO contact_tags (tag, contact_id) ");
        write.push_values(&data.tags, |mut row, tag| {
            row.push_bind(tag.to_lowercase())
                .push_bind(contact.id.clone());
        });
        write.push(";");
    }
    if !data.external_refs.is_empty() {
        write.push(" INSERT INTO contact_external_refs (source, external_id, contact_id) ");
        write.push_values(&data.external_refs, |mut row, reference| {
            row.push_bind(reference.source.clone())
                .push_bind(reference.external_id.clone())
                .push_bind(contact.id.clone());
        });
        write.push(";");
    }
    write.build().execute(&mut *conn).await?;
    Ok(())
}

const INDEX_TABLES: [&str; 3] = ["contact_emails", "contact_tags", "contact_external_refs"];

pub(crate) async fn delete_indexes(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<(), sqlx::Error> {
    for table in INDEX_TABLES {
        sqlx::query(&format!("DELETE FROM {table} WHERE contact_id = ?"))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
