//! Mapping between the `contacts` row and the domain's [`Contact`].

use liaison_proto::contacts::v1::ContactData;
use prost::Message;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};

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
        kind: Kind::from_str(&kind),
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

/// Writes the whole row and its index rows from the contact's state.
pub(crate) async fn write_contact(
    conn: &mut SqliteConnection,
    contact: &Contact,
    is_new: bool,
) -> Result<(), sqlx::Error> {
    let kind = contact.kind.map(Kind::as_str).unwrap_or("person");
    let merged_into = match &contact.lifecycle {
        Lifecycle::Merged { survivor_id } => Some(survivor_id.as_str()),
        _ => None,
    };
    let category = Some(contact.data.category_id.as_str()).filter(|id| !id.is_empty());
    sqlx::query(
        "INSERT INTO contacts (id, kind, version, status, sort_name, search_text, category_id,
             managed, merged_into, created_at, updated_at, data)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET version = excluded.version, status = excluded.status,
             sort_name = excluded.sort_name, search_text = excluded.search_text,
             category_id = excluded.category_id, managed = excluded.managed,
             merged_into = excluded.merged_into, updated_at = excluded.updated_at,
             data = excluded.data",
    )
    .bind(&contact.id)
    .bind(kind)
    .bind(i64::try_from(contact.version).unwrap_or(i64::MAX))
    .bind(status_of(&contact.lifecycle))
    .bind(sort_name(contact))
    .bind(search_text(contact))
    .bind(category)
    .bind(contact.data.managed)
    .bind(merged_into)
    .bind(contact.created_at)
    .bind(contact.updated_at)
    .bind(contact.data.encode_to_vec())
    .execute(&mut *conn)
    .await?;

    if !is_new {
        delete_indexes(conn, &contact.id).await?;
    }
    insert_indexes(conn, contact).await
}

pub(crate) async fn delete_indexes(
    conn: &mut SqliteConnection,
    id: &str,
) -> Result<(), sqlx::Error> {
    for table in ["contact_emails", "contact_tags", "contact_external_refs"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE contact_id = ?"))
            .bind(id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn insert_indexes(conn: &mut SqliteConnection, contact: &Contact) -> Result<(), sqlx::Error> {
    let data = &contact.data;
    if !data.emails.is_empty() {
        let mut insert =
            sqlx::QueryBuilder::new("INSERT OR IGNORE INTO contact_emails (email, contact_id) ");
        insert.push_values(&data.emails, |mut row, email| {
            row.push_bind(email_key(&email.address))
                .push_bind(&contact.id);
        });
        insert.build().execute(&mut *conn).await?;
    }
    if !data.tags.is_empty() {
        let mut insert =
            sqlx::QueryBuilder::new("INSERT OR IGNORE INTO contact_tags (tag, contact_id) ");
        insert.push_values(&data.tags, |mut row, tag| {
            row.push_bind(tag.to_lowercase()).push_bind(&contact.id);
        });
        insert.build().execute(&mut *conn).await?;
    }
    if !data.external_refs.is_empty() {
        let mut insert = sqlx::QueryBuilder::new(
            "INSERT INTO contact_external_refs (source, external_id, contact_id) ",
        );
        insert.push_values(&data.external_refs, |mut row, reference| {
            row.push_bind(&reference.source)
                .push_bind(&reference.external_id)
                .push_bind(&contact.id);
        });
        insert.build().execute(&mut *conn).await?;
    }
    Ok(())
}
