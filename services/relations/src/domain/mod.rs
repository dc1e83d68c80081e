//! The pure core of the service: no I/O, clock or randomness. Ids come in
//! with the commands.

pub mod entity;
pub mod relation;
pub mod relation_type;

use liaison_proto::common::v1::EntityRef;

use crate::RelationsError;

/// Who calls: internal types are reserved to the system (other services
/// and Liaison's own reactions, proven by a signed identity or calling from
/// inside the process).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caller {
    User,
    System,
}

/// `contacts.person 0190…`, how messages name an entity.
pub fn describe(entity: &EntityRef) -> String {
    format!("{} {}", entity.kind, entity.id)
}

const MAX_ID_LEN: usize = 64;

/// An entity reference from a request: a kind `<service>.<kind>` and an id,
/// both from a small alphabet so they can go in page tokens and messages.
pub fn entity_ref(field: &str, entity: Option<EntityRef>) -> Result<EntityRef, RelationsError> {
    let entity = entity.ok_or_else(|| RelationsError::invalid(field, "an entity is required"))?;
    let kind = entity_kind(&format!("{field}.kind"), &entity.kind)?;
    let id = entity.id.trim();
    if id.is_empty() {
        return Err(RelationsError::invalid(
            format!("{field}.id"),
            "an entity id is required",
        ));
    }
    if id.len() > MAX_ID_LEN
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(RelationsError::invalid(
            format!("{field}.id"),
            format!("{id:?} is not a valid entity id (letters, digits, '-' and '_', at most {MAX_ID_LEN})"),
        ));
    }
    Ok(EntityRef {
        kind,
        id: id.to_owned(),
    })
}

/// `<service>.<kind>` in lowercase, e.g. `contacts.person`.
pub fn entity_kind(field: &str, kind: &str) -> Result<String, RelationsError> {
    let kind = kind.trim();
    let valid = kind.split_once('.').is_some_and(|(service, name)| {
        let part = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        part(service) && part(name)
    });
    if !valid || kind.len() > MAX_ID_LEN {
        return Err(RelationsError::invalid(
            field,
            format!(
                "{kind:?} is not an entity kind (expected <service>.<kind>, e.g. contacts.person)"
            ),
        ));
    }
    Ok(kind.to_owned())
}

/// A predicate id: lowercase letters, digits, `_`, `-` and `.`.
pub fn predicate_id(field: &str, id: &str) -> Result<String, RelationsError> {
    let id = id.trim();
    if id.is_empty() {
        return Err(RelationsError::invalid(field, "a predicate is required"));
    }
    if id.len() > MAX_ID_LEN
        || !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.'))
    {
        return Err(RelationsError::invalid(
            field,
            format!("{id:?} is not a predicate id (lowercase letters, digits, '_', '-', '.', at most {MAX_ID_LEN})"),
        ));
    }
    Ok(id.to_owned())
}

/// A relation id: a UUID.
pub fn relation_id(field: &str, id: &str) -> Result<String, RelationsError> {
    uuid::Uuid::parse_str(id.trim())
        .map(|uuid| uuid.to_string())
        .map_err(|_| RelationsError::invalid(field, format!("{id:?} is not a relation id")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(kind: &str, id: &str) -> Option<EntityRef> {
        Some(EntityRef {
            kind: kind.into(),
            id: id.into(),
        })
    }

    #[test]
    fn entity_refs_are_checked_and_trimmed() {
        let ok = entity_ref("subject", reference(" contacts.person ", " abc-1 ")).expect("valid");
        assert_eq!(
            (ok.kind.as_str(), ok.id.as_str()),
            ("contacts.person", "abc-1")
        );
        let error = entity_ref("subject", reference("person", "x")).expect_err("no service");
        assert!(error.to_string().starts_with("subject.kind:"), "{error}");
        let error = entity_ref("object", reference("contacts.person", "a|b")).expect_err("bad id");
        assert!(error.to_string().starts_with("object.id:"), "{error}");
        assert!(entity_ref("object", None).is_err());
        assert!(entity_ref("object", reference("contacts.person", "")).is_err());
    }

    #[test]
    fn predicate_ids_use_a_small_alphabet() {
        assert_eq!(
            predicate_id("p", " employed_by ").expect("valid"),
            "employed_by"
        );
        assert!(predicate_id("p", "Employed By").is_err());
        assert!(predicate_id("p", "").is_err());
        assert!(predicate_id("p", &"x".repeat(65)).is_err());
    }
}
