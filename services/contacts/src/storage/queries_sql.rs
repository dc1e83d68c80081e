// The read models' queries, compiled once per backend (see
// projection_sql.rs).

use super::queries::{Cursor, ListFilter, Page, SortBy, TrashFilter, PAGE_BYTES};

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
    let mut bytes = 0;
    let mut cut_short = false;
    for row in rows.iter().take(filter.page_size as usize) {
        let contact = contact_from_row(row)?;
        bytes += prost::Message::encoded_len(&contact.data);
        if bytes > PAGE_BYTES && !contacts.is_empty() {
            cut_short = true;
            break;
        }
        contacts.push(contact);
        last_sort_value = match filter.sort {
            SortBy::Name => sqlx::Row::try_get::<String, _>(row, "sort_value")?,
            _ => sqlx::Row::try_get::<i64, _>(row, "sort_value")?.to_string(),
        };
    }
    let next = (cut_short || rows.len() > filter.page_size as usize)
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
