//! What a listing asks for and what it gets back; the SQL is in
//! `read_model_sql.rs`.

use liaison_runtime::paging;

use crate::domain::contact::{Contact, Kind};
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

/// A page ends before its contacts pass this many bytes (their encoded
/// size, about what they take on the wire), so that no page can near the
/// 4 MiB limit of a gRPC message whatever its records hold (a person at
/// every field limit takes about 320 KB). A page holds one contact at
/// least; the next page token continues after the last one it holds.
pub const PAGE_BYTES: usize = 1024 * 1024;

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

impl SortBy {
    /// The listing a page token of this order belongs to.
    fn listing(self) -> &'static str {
        match self {
            SortBy::Name => "contacts.by_name",
            SortBy::CreatedAt => "contacts.by_created",
            SortBy::UpdatedAt => "contacts.by_updated",
        }
    }
}

impl Cursor {
    /// The page token continuing after this row.
    pub fn encode(&self, sort: SortBy) -> String {
        paging::encode_token(sort.listing(), &[&self.sort_value, &self.id])
    }

    /// The row a page token continues after; `None` for the first page.
    pub fn decode(token: &str, sort: SortBy) -> Result<Option<Cursor>, ContactsError> {
        let Some(key) = paging::decode_token(sort.listing(), token, 2)? else {
            return Ok(None);
        };
        let [sort_value, id]: [String; 2] = key.try_into().map_err(|_| {
            ContactsError::invalid("page_token", "not a page token of this listing")
        })?;
        Ok(Some(Cursor { sort_value, id }))
    }
}

pub struct Page {
    pub contacts: Vec<Contact>,
    pub next: Option<Cursor>,
    pub total: u64,
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
            Some(cursor)
        );
        assert_eq!(Cursor::decode("", SortBy::Name).expect("first page"), None);
        assert!(
            Cursor::decode(&token, SortBy::CreatedAt).is_err(),
            "token of another sort order"
        );
        assert!(Cursor::decode("zz", SortBy::Name).is_err());
        assert!(Cursor::decode("abc!", SortBy::Name).is_err());
    }
}
