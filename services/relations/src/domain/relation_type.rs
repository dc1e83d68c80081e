//! A relation type: a pair of predicates (a verb and its symmetric verb),
//! with what the entity at each end must be. One aggregate holds both
//! sides, so they are enabled, disabled, edited and deleted together.

use liaison_proto::relations::v1 as pb;
use pb::relation_type_event::Event;

use super::{entity_kind, predicate_id};
use crate::RelationsError;

pub use liaison_proto::kinds::{ORGANISATION, PERSON};

const MAX_LABEL_LEN: usize = 100;
const MAX_TAG_LEN: usize = 50;
const MAX_LIST_LEN: usize = 20;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RelationType {
    /// The subject predicate's id.
    pub id: String,
    pub subject_side: pb::PredicateSide,
    /// The symmetric predicate; equal to `subject_side` when the type is its
    /// own symmetric.
    pub object_side: pb::PredicateSide,
    pub symmetric_to_itself: bool,
    pub enabled: bool,
    pub custom: bool,
    pub internal: bool,
    pub copiable: bool,
    pub version: u64,
    pub exists: bool,
    pub deleted: bool,
}

/// The constraints a triple with some predicate puts on its two ends.
#[derive(Debug, Clone, Copy)]
pub struct Orientation<'a> {
    /// The predicate read from the triple's subject.
    pub subject: &'a pb::PredicateSide,
    /// The symmetric predicate, read from the triple's object.
    pub object: &'a pb::PredicateSide,
}

impl RelationType {
    pub fn new(id: &str) -> Self {
        RelationType {
            id: id.to_owned(),
            ..Default::default()
        }
    }

    /// How a triple whose predicate is `predicate` sits on this type.
    pub fn orientation(&self, predicate: &str) -> Option<Orientation<'_>> {
        if predicate == self.subject_side.id {
            Some(Orientation {
                subject: &self.subject_side,
                object: &self.object_side,
            })
        } else if predicate == self.object_side.id {
            Some(Orientation {
                subject: &self.object_side,
                object: &self.subject_side,
            })
        } else {
            None
        }
    }

    pub fn is_live(&self) -> bool {
        self.exists && !self.deleted
    }

    pub fn to_proto(&self, relation_count: u64) -> pb::RelationType {
        pb::RelationType {
            id: self.id.clone(),
            subject_side: Some(self.subject_side.clone()),
            object_side: Some(self.object_side.clone()),
            symmetric_to_itself: self.symmetric_to_itself,
            enabled: self.enabled,
            custom: self.custom,
            internal: self.internal,
            copiable: self.copiable,
            version: self.version,
            relation_count,
        }
    }
}

/// A type as the read model stores it.
pub fn from_proto(stored: pb::RelationType) -> RelationType {
    let pb::RelationType {
        id,
        subject_side,
        object_side,
        symmetric_to_itself,
        enabled,
        custom,
        internal,
        copiable,
        version,
        relation_count: _,
    } = stored;
    RelationType {
        id,
        subject_side: subject_side.unwrap_or_default(),
        object_side: object_side.unwrap_or_default(),
        symmetric_to_itself,
        enabled,
        custom,
        internal,
        copiable,
        version,
        exists: true,
        deleted: false,
    }
}

#[derive(Debug, Clone)]
pub enum Command {
    Create(pb::RelationTypeCreated),
    Change {
        subject_side: pb::PredicateSide,
        object_side: pb::PredicateSide,
        copiable: bool,
    },
    SetEnabled(bool),
    Delete {
        relations_removed: u64,
    },
}

pub fn event_type(event: &Event) -> &'static str {
    match event {
        Event::Created(_) => "relation_type.created",
        Event::Changed(_) => "relation_type.changed",
        Event::Disabled(_) => "relation_type.disabled",
        Event::Enabled(_) => "relation_type.enabled",
        Event::Deleted(_) => "relation_type.deleted",
    }
}

pub fn decide(state: &RelationType, command: Command) -> Result<Vec<Event>, RelationsError> {
    if let Command::Create(created) = command {
        if state.exists {
            return Err(RelationsError::PredicateTaken {
                id: state.id.clone(),
                type_id: state.id.clone(),
            });
        }
        return Ok(vec![Event::Created(created)]);
    }
    if !state.is_live() {
        return Err(RelationsError::NotFound {
            kind: "relation type",
            id: state.id.clone(),
        });
    }
    match command {
        Command::Create(_) => unreachable!("handled above"),
        Command::Change {
            mut subject_side,
            mut object_side,
            copiable,
        } => {
            require_custom(state, "edited")?;
            if !state.enabled {
                return Err(RelationsError::FailedPrecondition(format!(
                    "relation type {:?} is disabled: enable it before editing it",
                    state.id
                )));
            }
            subject_side.id.clone_from(&state.subject_side.id);
            object_side.id.clone_from(&state.object_side.id);
            if state.symmetric_to_itself {
                object_side = subject_side.clone();
            }
            if subject_side == state.subject_side
                && object_side == state.object_side
                && copiable == state.copiable
            {
                return Ok(Vec::new());
            }
            Ok(vec![Event::Changed(pb::RelationTypeChanged {
                subject_side: Some(subject_side),
                object_side: Some(object_side),
                copiable,
            })])
        }
        Command::SetEnabled(enabled) if enabled == state.enabled => Ok(Vec::new()),
        Command::SetEnabled(true) => Ok(vec![Event::Enabled(pb::RelationTypeEnabled {})]),
        Command::SetEnabled(false) => Ok(vec![Event::Disabled(pb::RelationTypeDisabled {})]),
        Command::Delete { relations_removed } => {
            require_custom(state, "deleted")?;
            Ok(vec![Event::Deleted(pb::RelationTypeDeleted {
                relations_removed,
            })])
        }
    }
}

fn require_custom(state: &RelationType, verb: &str) -> Result<(), RelationsError> {
    if state.custom {
        return Ok(());
    }
    Err(RelationsError::FailedPrecondition(format!(
        "relation type {:?} is built in: only custom types can be {verb}",
        state.id
    )))
}

pub fn evolve(mut state: RelationType, event: &Event) -> RelationType {
    state.version += 1;
    match event {
        Event::Created(created) => {
            state.exists = true;
            state.enabled = true;
            state.subject_side = created.subject_side.clone().unwrap_or_default();
            state.object_side = if created.symmetric_to_itself {
                state.subject_side.clone()
            } else {
                created.object_side.clone().unwrap_or_default()
            };
            state.symmetric_to_itself = created.symmetric_to_itself;
            state.custom = created.custom;
            state.internal = created.internal;
            state.copiable = created.copiable;
        }
        Event::Changed(changed) => {
            state.subject_side = changed.subject_side.clone().unwrap_or_default();
            state.object_side = changed.object_side.clone().unwrap_or_default();
            state.copiable = changed.copiable;
        }
        Event::Disabled(_) => state.enabled = false,
        Event::Enabled(_) => state.enabled = true,
        Event::Deleted(_) => state.deleted = true,
    }
    state
}

/// Checks and tidies one side of a type from a request: `id` replaces the
/// side's id when given (generated, or kept on an edit).
pub fn normalise_side(
    field: &str,
    side: Option<pb::PredicateSide>,
    id: Option<String>,
) -> Result<pb::PredicateSide, RelationsError> {
    let side =
        side.ok_or_else(|| RelationsError::invalid(field, "both sides of a type are required"))?;
    let pb::PredicateSide {
        id: given_id,
        label,
        kinds,
        required_tags,
        forbidden_tags,
    } = side;
    let id = match id {
        Some(id) => id,
        None => predicate_id(&format!("{field}.id"), &given_id)?,
    };
    let label = label.trim().to_owned();
    if label.is_empty()
        || label.chars().count() > MAX_LABEL_LEN
        || label.chars().any(char::is_control)
    {
        return Err(RelationsError::invalid(
            format!("{field}.label"),
            format!("a predicate needs a label of 1 to {MAX_LABEL_LEN} printable characters"),
        ));
    }
    let kinds = list(&format!("{field}.kinds"), kinds, |field, kind| {
        entity_kind(field, kind)
    })?;
    let tag = |field: &str, tag: &str| {
        let tag = tag.trim();
        if tag.is_empty() || tag.chars().count() > MAX_TAG_LEN || tag.chars().any(char::is_control)
        {
            return Err(RelationsError::invalid(
                field,
                format!("a tag has 1 to {MAX_TAG_LEN} printable characters"),
            ));
        }
        Ok(tag.to_owned())
    };
    let required_tags = list(&format!("{field}.required_tags"), required_tags, tag)?;
    let forbidden_tags = list(&format!("{field}.forbidden_tags"), forbidden_tags, tag)?;
    if let Some(both) = required_tags.iter().find(|required| {
        forbidden_tags
            .iter()
            .any(|f| f.eq_ignore_ascii_case(required))
    }) {
        return Err(RelationsError::invalid(
            format!("{field}.forbidden_tags"),
            format!("tag {both:?} cannot be both required and forbidden"),
        ));
    }
    Ok(pb::PredicateSide {
        id,
        label,
        kinds,
        required_tags,
        forbidden_tags,
    })
}

/// Each item checked, duplicates dropped, order kept.
fn list(
    field: &str,
    items: Vec<String>,
    check: impl Fn(&str, &str) -> Result<String, RelationsError>,
) -> Result<Vec<String>, RelationsError> {
    if items.len() > MAX_LIST_LEN {
        return Err(RelationsError::invalid(
            field,
            format!("at most {MAX_LIST_LEN} items"),
        ));
    }
    let mut checked: Vec<String> = Vec::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let item = check(&format!("{field}[{index}]"), item)?;
        if !checked.contains(&item) {
            checked.push(item);
        }
    }
    Ok(checked)
}

/// The built-in types, installed on first start. Their ids are stable:
/// relations and other services refer to them.
pub fn builtins() -> Vec<pb::RelationTypeCreated> {
    let both = &[PERSON, ORGANISATION][..];
    let person = &[PERSON][..];
    let organisation = &[ORGANISATION][..];
    let pair = |id: &str,
                label: &str,
                kinds: &[&str],
                sym_id: &str,
                sym_label: &str,
                sym_kinds: &[&str]| {
        pb::RelationTypeCreated {
            subject_side: Some(side(id, label, kinds)),
            object_side: Some(side(sym_id, sym_label, sym_kinds)),
            symmetric_to_itself: false,
            custom: false,
            internal: false,
            copiable: true,
        }
    };
    let mutual = |id: &str, label: &str, kinds: &[&str]| pb::RelationTypeCreated {
        subject_side: Some(side(id, label, kinds)),
        object_side: Some(side(id, label, kinds)),
        symmetric_to_itself: true,
        custom: false,
        internal: false,
        copiable: true,
    };
    vec![
        pair(
            "employed_by",
            "is employed by",
            person,
            "employs",
            "employs",
            organisation,
        ),
        pair(
            "manages",
            "manages",
            person,
            "managed_by",
            "is managed by",
            organisation,
        ),
        pair(
            "customer_of",
            "is a customer of",
            both,
            "supplier_of",
            "is a supplier of",
            both,
        ),
        pair(
            "prospect_of",
            "is a prospect of",
            both,
            "has_prospect",
            "has as prospect",
            both,
        ),
        pair(
            "suspect_of",
            "is a suspect of",
            both,
            "has_suspect",
            "has as suspect",
            both,
        ),
        pair(
            "inactive_customer_of",
            "is an inactive customer of",
            both,
            "has_inactive_customer",
            "has as inactive customer",
            both,
        ),
        mutual("partner_of", "is a partner of", both),
        mutual("competitor_of", "is a competitor of", both),
        pair(
            "subsidiary_of",
            "is a subsidiary of",
            organisation,
            "has_subsidiary",
            "has as subsidiary",
            organisation,
        ),
        pair(
            "owns",
            "owns",
            both,
            "belongs_to",
            "belongs to",
            organisation,
        ),
    ]
}

fn side(id: &str, label: &str, kinds: &[&str]) -> pb::PredicateSide {
    pb::PredicateSide {
        id: id.to_owned(),
        label: label.to_owned(),
        kinds: kinds.iter().map(|kind| (*kind).to_owned()).collect(),
        required_tags: Vec::new(),
        forbidden_tags: Vec::new(),
    }
}

#[cfg(test)]
#[path = "relation_type_tests.rs"]
mod tests;
