//! The derived columns of a `contacts` row, from the domain's [`Contact`].

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

pub(crate) fn sort_name(contact: &Contact) -> String {
    let data = &contact.data;
    match contact.kind {
        Some(Kind::Organisation) => data.organisation_name.to_lowercase(),
        _ => format!("{} {}", data.family_name, data.given_name)
            .trim()
            .to_lowercase(),
    }
}

pub(crate) fn search_text(contact: &Contact) -> String {
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

/// The values of a `contacts` row that derive from the contact's state.
pub(crate) struct ContactRow {
    pub kind: &'static str,
    pub version: i64,
    pub status: &'static str,
    pub sort_name: String,
    pub search_text: String,
    pub category: Option<String>,
    pub managed: bool,
    pub merged_into: Option<String>,
    pub data: Vec<u8>,
}

impl ContactRow {
    pub(crate) fn of(contact: &Contact) -> Self {
        use prost::Message;
        let data = &contact.data;
        ContactRow {
            kind: contact.kind.map(Kind::as_str).unwrap_or("person"),
            version: i64::try_from(contact.version).unwrap_or(i64::MAX),
            status: status_of(&contact.lifecycle),
            sort_name: sort_name(contact),
            search_text: search_text(contact),
            category: Some(data.category_id.clone()).filter(|id| !id.is_empty()),
            managed: data.managed,
            merged_into: match &contact.lifecycle {
                Lifecycle::Merged { survivor_id } => Some(survivor_id.clone()),
                _ => None,
            },
            data: data.encode_to_vec(),
        }
    }
}
