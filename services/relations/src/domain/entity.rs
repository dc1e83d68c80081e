//! What the service knows of an entity owned by another service, from that
//! service's events.

use liaison_proto::common::v1::EntityRef;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityState {
    Live,
    Purged,
    Erased,
    Merged,
}

impl EntityState {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityState::Live => "live",
            EntityState::Purged => "purged",
            EntityState::Erased => "erased",
            EntityState::Merged => "merged",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "live" => Some(EntityState::Live),
            "purged" => Some(EntityState::Purged),
            "erased" => Some(EntityState::Erased),
            "merged" => Some(EntityState::Merged),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub reference: EntityRef,
    pub label: String,
    pub tags: Vec<String>,
    pub in_trash: bool,
    pub state: EntityState,
    /// For a merged entity: the survivor.
    pub merged_into: String,
}

impl Entity {
    /// How messages name the entity: its label ("Cobalt SA"), or its kind
    /// and id while its label is unknown.
    pub fn describe(&self) -> String {
        if self.label.trim().is_empty() {
            super::describe(&self.reference)
        } else {
            self.label.clone()
        }
    }

    /// Refuses an entity in the trash as an end of a new relation (its
    /// existing relations stay).
    pub fn require_out_of_trash(&self) -> Result<(), crate::RelationsError> {
        if self.in_trash {
            return Err(crate::RelationsError::InTrash {
                entity: self.describe(),
            });
        }
        Ok(())
    }

    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|own| own.eq_ignore_ascii_case(tag))
    }

    /// Refuses an entity that can no longer take part in relations.
    pub fn require_live(&self) -> Result<(), crate::RelationsError> {
        let state = match self.state {
            EntityState::Live => return Ok(()),
            EntityState::Merged => format!("merged into {}", self.merged_into),
            other => other.as_str().to_owned(),
        };
        Err(crate::RelationsError::EntityGone {
            entity: self.describe(),
            state,
        })
    }
}
