//! The history on an entity's page: its own changes (field by field, from
//! contacts' log) and the relations added to and removed from it (from
//! relations' history, which records both ends), newest first, with who
//! made each and when.

use std::collections::HashMap;

use liaison_proto::common::v1::EntityRef;
use liaison_proto::contacts::v1 as pb;
use liaison_proto::relations::v1 as rel;

use crate::accounts::Caller;
use crate::state::AppState;
use crate::GatewayError;

/// Lines shown: the newest of both sources together.
pub const SHOWN: usize = 20;

pub struct HistoryLine {
    /// `2026-11-30 14:05` (UTC).
    pub when: String,
    pub who: String,
    pub what: String,
    /// Field changes: (field, old value, new value).
    pub changes: Vec<(String, String, String)>,
    sort_key: (i64, i32),
}

pub async fn lines(
    state: &AppState,
    caller: &Caller,
    entity: &EntityRef,
) -> Result<Vec<HistoryLine>, GatewayError> {
    let page_size = u32::try_from(SHOWN).unwrap_or(20);
    let own = state
        .backends
        .contacts()
        .get_history(state.backends.request(
            caller,
            pb::GetHistoryRequest {
                id: entity.id.clone(),
                page_size,
                page_token: String::new(),
            },
        ))
        .await?
        .into_inner();
    let relations = state
        .backends
        .relations()
        .list_relation_history(state.backends.request(
            caller,
            rel::ListRelationHistoryRequest {
                entity: Some(entity.clone()),
                page_size,
                page_token: String::new(),
            },
        ))
        .await?
        .into_inner();
    let mut names = Names::default();
    let mut lines = Vec::new();
    for entry in own.entries {
        lines.push(HistoryLine {
            sort_key: sort_key(entry.occurred_at.as_ref()),
            when: when(entry.occurred_at.as_ref()),
            who: names.of(state, &entry.actor).await,
            what: contact_event(&entry.event_type, &entry.detail),
            changes: entry
                .changes
                .into_iter()
                .map(|change| (change.field, change.old_value, change.new_value))
                .collect(),
        });
    }
    for change in relations.changes {
        lines.push(HistoryLine {
            sort_key: sort_key(change.occurred_at.as_ref()),
            when: when(change.occurred_at.as_ref()),
            who: names.of(state, &change.actor).await,
            what: relation_change(&change),
            changes: Vec::new(),
        });
    }
    lines.sort_by_key(|line| std::cmp::Reverse(line.sort_key));
    lines.truncate(SHOWN);
    Ok(lines)
}

fn sort_key(at: Option<&prost_types::Timestamp>) -> (i64, i32) {
    at.map_or((0, 0), |at| (at.seconds, at.nanos))
}

/// Minutes are enough on a page; the API gives the instant.
fn when(at: Option<&prost_types::Timestamp>) -> String {
    let micros = at.map_or(0, |at| {
        at.seconds.saturating_mul(1_000_000) + i64::from(at.nanos / 1_000)
    });
    super::minute(micros)
}

fn contact_event(event_type: &str, detail: &str) -> String {
    let what = match event_type
        .split_once('.')
        .map_or(event_type, |(_, verb)| verb)
    {
        "created" => "created",
        "updated" => "changed",
        "trashed" => "moved to the trash",
        "restored" => "restored from the trash",
        "merged" => "merged into another contact",
        "absorbed" => "took in a duplicate",
        "erased" => "erased",
        other => other,
    };
    if detail.is_empty() {
        what.to_owned()
    } else {
        format!("{what} ({detail})")
    }
}

fn relation_change(change: &rel::RelationChange) -> String {
    let label = if change.predicate_label.is_empty() {
        change.predicate.as_str()
    } else {
        change.predicate_label.as_str()
    };
    let other = if change.other_label.is_empty() {
        change.other.as_ref().map_or("?", |other| other.id.as_str())
    } else {
        change.other_label.as_str()
    };
    match (change.change.as_str(), change.cause.as_str()) {
        ("added", _) => format!("relation added: {label} {other}"),
        (_, "entity_purged") => format!("relation removed: {label} {other} (deleted for good)"),
        (_, "entity_erased") => format!("relation removed: {label} {other} (erased)"),
        (_, "entity_merged") => format!("relation removed: {label} {other} (merge)"),
        (_, "type_deleted") => {
            format!("relation removed: {label} {other} (its type was deleted)")
        }
        _ => format!("relation removed: {label} {other}"),
    }
}

/// Display names of the actors met on one page, each looked up once.
#[derive(Default)]
struct Names(HashMap<String, String>);

impl Names {
    async fn of(&mut self, state: &AppState, actor: &str) -> String {
        if let Some(name) = self.0.get(actor) {
            return name.clone();
        }
        let name = match actor.split_once(':') {
            Some(("user", id)) => match state.accounts.user(id).await {
                Ok(user) => user.display_name,
                Err(_) => "a former user".to_owned(),
            },
            Some(("system", service)) => format!("Liaison ({service})"),
            _ if actor.is_empty() || actor == "anonymous" => "Liaison".to_owned(),
            _ => actor.to_owned(),
        };
        self.0.insert(actor.to_owned(), name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relation_changes_say_what_happened_and_why() {
        let change = |kind: &str, cause: &str| rel::RelationChange {
            change: kind.into(),
            predicate: "customer_of".into(),
            predicate_label: "is a customer of".into(),
            other_label: "Acme".into(),
            cause: cause.into(),
            ..Default::default()
        };
        assert_eq!(
            relation_change(&change("added", "")),
            "relation added: is a customer of Acme"
        );
        assert_eq!(
            relation_change(&change("removed", "requested")),
            "relation removed: is a customer of Acme"
        );
        assert_eq!(
            relation_change(&change("removed", "entity_merged")),
            "relation removed: is a customer of Acme (merge)"
        );
        let unlabelled = rel::RelationChange {
            predicate_label: String::new(),
            other_label: String::new(),
            other: Some(EntityRef {
                kind: "contacts.organisation".into(),
                id: "0190".into(),
            }),
            ..change("added", "")
        };
        assert_eq!(
            relation_change(&unlabelled),
            "relation added: customer_of 0190"
        );
    }

    #[test]
    fn times_are_shown_to_the_minute() {
        let at = prost_types::Timestamp {
            seconds: 1_796_000_000,
            nanos: 0,
        };
        assert_eq!(when(Some(&at)), "2026-11-30 00:53");
        assert_eq!(contact_event("person.updated", ""), "changed");
        assert_eq!(
            contact_event("person.merged", "into 0190"),
            "merged into another contact (into 0190)"
        );
    }
}
