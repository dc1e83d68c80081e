//! Reads of the read models. SQL that differs per backend stays here.

use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use super::rows::{contact_from_row, CONTACT_COLUMNS};
use crate::domain::category::Category;
use crate::domain::contact::{Contact, Kind};
use crate::domain::validation::email_key;
use crate::ContactsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    #[default]
    Name,
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrashFilter {
    #[default]
    LiveOnly,
    TrashOnly,
    Both,
}

/// A validated list request.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub kind: Option<Kind>,
    pub category_id: Option<String>,
    pub tags: Vec<String>,
    pub managed: Option<bool>,
    pub query: Option<String>,
    pub updated_since: Option<i64>,
    pub sort: SortBy,
    pub descending: bool,
    pub page_size: u32,
    pub after: Option<Cursor>,
    pub trash: TrashFilter,
}

/// Position after the last row of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub sort_value: String,
    pub id: String,
}

impl Cursor {
    /// An opaque token: hex of `sort-code \x1f value \x1f id`.
    pub fn encode(&self, sort: SortBy) -> String {
        let code = match sort {
            SortBy::Name => 'n',
            SortBy::CreatedAt => 'c',
            SortBy::UpdatedAt => 'u',
        };
        format!("{code}\u{1f}{}\u{1f}{}", self.sort_value, self.id)
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn decode(token: &str, sort: SortBy) -> Result<Cursor, ContactsError> {
        let bad = || {
            ContactsError::invalid(
                "page_token",
                format!("{token:?} is not a page token of this listing"),
            )
        };
        if !token.len().is_multiple_of(2) || token.len() > 2_000 {
            return Err(bad());
        }
        let bytes: Vec<u8> = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(token.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<_, _>>()
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        let mut parts = text.splitn(3, '\u{1f}');
        let (Some(code), Some(sort_value), Some(id)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad());
        };
        let expected = match sort {
            SortBy::Name => "n",
            SortBy::CreatedAt => "c",
            SortBy::UpdatedAt => "u",
        };
        if code != expected {
            return Err(bad());
        }
        Ok(Cursor {
            sort_value: sort_value.to_owned(),
            id: id.to_owned(),
        })
    }
}

pub struct Page {
    pub contacts: Vec<Contact>,
    pub next: Option<Cursor>,
    pub total: u64,
}

pub async fn get_contact(pool: &SqlitePool, id: &str) -> Result<Option<Contact>, ContactsError> {
    let row = sqlx::query(&format!(
        "SELECT {CONTACT_COLUMNS} FROM contacts WHERE id = ?"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.as_ref().map(contact_from_row).transpose()?)
}

pub async fn list(pool: &SqlitePool, filter: &ListFilter) -> Result<Page, ContactsError> {
    let sort_column = match filter.sort {
        SortBy::Name => "sort_name",
        SortBy::CreatedAt => "created_at",
        SortBy::UpdatedAt => "updated_at",
    };

    let mut count = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM contacts c WHERE ");
    push_conditions(&mut count, filter);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;

    let mut select = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {CONTACT_COLUMNS}, {sort_column} AS sort_value FROM contacts c WHERE "
    ));
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

fn push_conditions(query: &mut QueryBuilder<'_, Sqlite>, filter: &ListFilter) {
    match filter.trash {
        TrashFilter::LiveOnly => query.push("c.status = 'live'"),
        TrashFilter::TrashOnly => query.push("c.status = 'trash'"),
        TrashFilter::Both => query.push("c.status IN ('live', 'trash')"),
    };
    if let Some(kind) = filter.kind {
        query.push(" AND c.kind = ").push_bind(kind.as_str());
    }
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
pub async fn find_by_email(pool: &SqlitePool, email: &str) -> Result<Vec<Contact>, ContactsError> {
    let rows = sqlx::query(&format!(
        "SELECT {} FROM contacts c JOIN contact_emails e ON e.contact_id = c.id
         WHERE e.email = ? AND c.status IN ('live', 'trash') ORDER BY c.id",
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
    pool: &SqlitePool,
    source: &str,
    external_id: &str,
) -> Result<Option<Contact>, ContactsError> {
    let holder: Option<String> = sqlx::query_scalar(
        "SELECT contact_id FROM contact_external_refs WHERE source = ? AND external_id = ?",
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

pub async fn list_categories(pool: &SqlitePool) -> Result<Vec<Category>, ContactsError> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            sort_value: "dupont marcel".into(),
            id: "abc".into(),
        };
        let token = cursor.encode(SortBy::Name);
        assert_eq!(
            Cursor::decode(&token, SortBy::Name).expect("decode"),
            cursor
        );
        assert!(
            Cursor::decode(&token, SortBy::CreatedAt).is_err(),
            "token of another sort order"
        );
        assert!(Cursor::decode("zz", SortBy::Name).is_err());
        assert!(Cursor::decode("abc", SortBy::Name).is_err());
    }
}
