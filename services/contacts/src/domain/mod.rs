//! The pure core of the service: no I/O, clock or randomness. Ids and times
//! come in with the commands.

pub mod category;
pub mod contact;
pub mod fields;
pub mod validation;

/// Streams are `contact-<id>` and `category-<id>`.
pub fn contact_stream(id: &str) -> String {
    format!("contact-{id}")
}

pub fn category_stream(id: &str) -> String {
    format!("category-{id}")
}

/// The entity id inside a stream id.
pub fn id_of_stream(stream_id: &str) -> &str {
    stream_id
        .split_once('-')
        .map(|(_, id)| id)
        .unwrap_or(stream_id)
}

/// Checks that `id` is a UUID, naming the field otherwise.
pub fn parse_id(field: &str, id: &str) -> Result<String, crate::ContactsError> {
    uuid::Uuid::parse_str(id.trim())
        .map(|uuid| uuid.to_string())
        .map_err(|_| crate::ContactsError::invalid(field, format!("{id:?} is not a valid id")))
}
