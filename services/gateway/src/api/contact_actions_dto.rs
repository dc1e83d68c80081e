//! JSON shapes of what is done to contacts beyond their fields:
//! categories, merge, duplicate, erasure, history, pages and look-ups.

use liaison_proto::contacts::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::contacts_dto::Contact;
use super::rfc3339;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Category {
    pub id: String,
    pub version: u64,
    pub name: String,
    pub description: String,
}

impl From<pb::Category> for Category {
    fn from(c: pb::Category) -> Self {
        Category {
            id: c.id,
            version: c.version,
            name: c.name,
            description: c.description,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct NewCategory {
    #[schema(required = true, min_length = 1, max_length = 100)]
    pub name: String,
    #[schema(max_length = 1000)]
    pub description: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CategoryRename {
    #[schema(required = true, min_length = 1, max_length = 100)]
    pub name: String,
    pub expected_version: Option<u64>,
}

/// A duplicate and what it took of its source's relations.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Duplicate {
    pub contact: Contact,
    /// Relations of copiable types given to the duplicate.
    pub relations_copied: u32,
    /// Relations of copiable types that could not be (type disabled, other
    /// end in the trash or gone).
    pub relations_left_out: u32,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct MergeRequest {
    /// The contact merged into the one of the path, which survives.
    #[schema(required = true, format = "uuid")]
    pub merged_id: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ErasureRequest {
    /// Why, for the record; no personal data.
    #[schema(max_length = 500)]
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    pub version: u64,
    pub event_type: String,
    pub occurred_at: String,
    pub actor: String,
    pub changes: Vec<FieldChange>,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FieldChange {
    pub field: String,
    pub old_value: String,
    pub new_value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HistoryPage {
    pub items: Vec<HistoryEntry>,
    pub next_cursor: Option<String>,
}

impl From<pb::HistoryEntry> for HistoryEntry {
    fn from(e: pb::HistoryEntry) -> Self {
        HistoryEntry {
            version: e.version,
            event_type: e.event_type,
            occurred_at: rfc3339(e.occurred_at.as_ref()),
            actor: e.actor,
            changes: e
                .changes
                .into_iter()
                .map(|c| FieldChange {
                    field: c.field,
                    old_value: c.old_value,
                    new_value: c.new_value,
                })
                .collect(),
            detail: e.detail,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// 1..=500.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    pub cursor: String,
}

#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[serde(default, deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    /// Find by email address.
    pub email: Option<String>,
    /// Find by external reference: its source, with `external_id`.
    pub source: Option<String>,
    pub external_id: Option<String>,
}
