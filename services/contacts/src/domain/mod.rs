//! The pure core of the service: no I/O, clock or randomness. Ids and times
//! come in with the commands.

pub mod category;
pub mod contact;
pub mod fields;
pub mod validation;

/// Checks that `id` is a UUID, naming the field otherwise.
pub fn parse_id(field: &str, id: &str) -> Result<String, crate::ContactsError> {
    uuid::Uuid::parse_str(id.trim())
        .map(|uuid| uuid.to_string())
        .map_err(|_| crate::ContactsError::invalid(field, format!("{id:?} is not a valid id")))
}
