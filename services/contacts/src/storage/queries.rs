//! What a listing asks for and what it gets back; the SQL is in
//! `read_model_sql.rs`.

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
