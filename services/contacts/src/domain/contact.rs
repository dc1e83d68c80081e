//! The contact aggregate: a person or an organisation, one stream each.

use liaison_proto::contacts::v1::contact_event::Event;
use liaison_proto::contacts::v1::{
    ContactAbsorbed, ContactCreated, ContactData, ContactKind, ContactMerged, ContactPurged,
    ContactRestored, ContactTrashed, ContactUpdated, PersonErased,
};

use super::fields::Field;
use super::validation::email_key;
use crate::ContactsError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Person,
    Organisation,
}

impl Kind {
    /// The aggregate name in event types and bus subjects.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Person => "person",
            Kind::Organisation => "organisation",
        }
    }

    /// The kind other services use in an `EntityRef`.
    pub fn entity_kind(self) -> &'static str {
        match self {
            Kind::Person => liaison_proto::kinds::PERSON,
            Kind::Organisation => liaison_proto::kinds::ORGANISATION,
        }
    }

    pub fn to_proto(self) -> ContactKind {
        match self {
            Kind::Person => ContactKind::Person,
            Kind::Organisation => ContactKind::Organisation,
        }
    }

    pub fn from_proto(kind: i32) -> Option<Kind> {
        match ContactKind::try_from(kind) {
            Ok(ContactKind::Person) => Some(Kind::Person),
            Ok(ContactKind::Organisation) => Some(Kind::Organisation),
            _ => None,
        }
    }

    /// The kind named by an aggregate (`person`, `organisation`).
    pub fn from_aggregate(kind: &str) -> Option<Kind> {
        match kind {
            "person" => Some(Kind::Person),
            "organisation" => Some(Kind::Organisation),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Lifecycle {
    #[default]
    New,
    Live,
    Trashed,
    Merged {
        survivor_id: String,
    },
    Purged,
    Erased,
}

/// State rebuilt from a contact's events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Contact {
    pub id: String,
    pub kind: Option<Kind>,
    pub version: u64,
    pub data: ContactData,
    pub lifecycle: Lifecycle,
    pub created_at: i64,
    pub updated_at: i64,
}

/// What a caller asks of one contact. Data arrives validated and normalised.
#[derive(Debug, Clone)]
pub enum Command {
    Create {
        kind: Kind,
        data: ContactData,
        allow_shared_email: bool,
    },
    /// `proposed` is the whole contact as it should be after the update.
    Update {
        proposed: ContactData,
        allow_shared_email: bool,
    },
    Trash,
    Restore,
    Purge,
    Erase {
        reason: String,
    },
}

impl Contact {
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            ..Default::default()
        }
    }

    pub fn label(&self) -> String {
        let kind = self.kind.map(Kind::as_str).unwrap_or("contact");
        format!("{kind} {}", self.id)
    }

    /// The contact's kind if it is live; why not otherwise.
    pub fn require_live(&self, action: &str) -> Result<Kind, ContactsError> {
        let kind = self.require_exists()?;
        match &self.lifecycle {
            Lifecycle::Live => Ok(kind),
            Lifecycle::Trashed => Err(ContactsError::FailedPrecondition(format!(
                "{} is in the trash; restore it before you {action} it",
                self.label()
            ))),
            Lifecycle::Merged { survivor_id } => Err(ContactsError::FailedPrecondition(format!(
                "{} was merged into {survivor_id}; {action} the survivor instead",
                self.label()
            ))),
            Lifecycle::Erased => Err(ContactsError::FailedPrecondition(format!(
                "{} was erased",
                self.label()
            ))),
            Lifecycle::New | Lifecycle::Purged => Err(self.not_found()),
        }
    }

    fn require_exists(&self) -> Result<Kind, ContactsError> {
        match (self.kind, &self.lifecycle) {
            (_, Lifecycle::New | Lifecycle::Purged) | (None, _) => Err(self.not_found()),
            (Some(kind), _) => Ok(kind),
        }
    }

    fn not_found(&self) -> ContactsError {
        ContactsError::NotFound {
            kind: self.kind.map(Kind::as_str).unwrap_or("contact"),
            id: self.id.clone(),
        }
    }
}

/// Decides the events a command produces, or why it is refused.
pub fn decide(contact: &Contact, command: Command) -> Result<Vec<Event>, ContactsError> {
    match command {
        Command::Create {
            kind,
            data,
            allow_shared_email,
        } => {
            if contact.lifecycle != Lifecycle::New {
                return Err(ContactsError::FailedPrecondition(format!(
                    "contact {} already exists",
                    contact.id
                )));
            }
            Ok(vec![Event::Created(ContactCreated {
                kind: kind.to_proto() as i32,
                data: Some(data),
                shared_email_allowed: allow_shared_email,
            })])
        }
        Command::Update {
            proposed,
            allow_shared_email,
        } => {
            contact.require_live("update")?;
            let changed: Vec<Field> = Field::ALL
                .into_iter()
                .filter(|field| field.differs(&contact.data, &proposed))
                .collect();
            if changed.is_empty() {
                return Ok(Vec::new());
            }
            let mut data = ContactData::default();
            for field in &changed {
                field.copy(&proposed, &mut data);
            }
            Ok(vec![Event::Updated(ContactUpdated {
                data: Some(data),
                changed: changed
                    .iter()
                    .map(|field| field.name().to_owned())
                    .collect(),
                shared_email_allowed: allow_shared_email,
            })])
        }
        Command::Trash => {
            contact.require_live("trash")?;
            Ok(vec![Event::Trashed(ContactTrashed {})])
        }
        Command::Restore => {
            contact.require_exists()?;
            if contact.lifecycle != Lifecycle::Trashed {
                return Err(ContactsError::FailedPrecondition(format!(
                    "{} is not in the trash",
                    contact.label()
                )));
            }
            Ok(vec![Event::Restored(ContactRestored {})])
        }
        Command::Purge => {
            contact.require_exists()?;
            if contact.lifecycle != Lifecycle::Trashed {
                return Err(ContactsError::FailedPrecondition(format!(
                    "{} must be in the trash before it is purged",
                    contact.label()
                )));
            }
            Ok(vec![Event::Purged(ContactPurged {})])
        }
        Command::Erase { reason } => {
            let kind = match (&contact.lifecycle, contact.kind) {
                (Lifecycle::New, _) | (_, None) => return Err(contact.not_found()),
                (Lifecycle::Erased, _) => {
                    return Err(ContactsError::FailedPrecondition(format!(
                        "{} is already erased",
                        contact.label()
                    )))
                }
                (_, Some(kind)) => kind,
            };
            if kind != Kind::Person {
                return Err(ContactsError::FailedPrecondition(format!(
                    "{} is an organisation; only persons can be erased",
                    contact.id
                )));
            }
            Ok(vec![Event::Erased(PersonErased { reason })])
        }
    }
}

/// Merging `merged` into `survivor`: the events of each stream.
pub fn decide_merge(
    survivor: &Contact,
    merged: &Contact,
) -> Result<(Vec<Event>, Vec<Event>), ContactsError> {
    if survivor.id == merged.id {
        return Err(ContactsError::invalid(
            "merged_id",
            format!("{} cannot be merged into itself", merged.id),
        ));
    }
    let survivor_kind = survivor.require_live("merge")?;
    let merged_kind = merged.require_live("merge")?;
    if survivor_kind != merged_kind {
        return Err(ContactsError::FailedPrecondition(format!(
            "cannot merge {} {} into {} {}: both must be of the same kind",
            merged_kind.as_str(),
            merged.id,
            survivor_kind.as_str(),
            survivor.id
        )));
    }
    let own = &survivor.data;
    let gained = &merged.data;
    let absorbed = ContactAbsorbed {
        merged_id: merged.id.clone(),
        emails: gained
            .emails
            .iter()
            .filter(|email| {
                !own.emails
                    .iter()
                    .any(|o| email_key(&o.address) == email_key(&email.address))
            })
            .map(|email| liaison_proto::contacts::v1::Email {
                primary: false,
                ..email.clone()
            })
            .collect(),
        phones: gained
            .phones
            .iter()
            .filter(|phone| !own.phones.iter().any(|o| o.number == phone.number))
            .map(|phone| liaison_proto::contacts::v1::Phone {
                primary: false,
                ..phone.clone()
            })
            .collect(),
        addresses: gained
            .addresses
            .iter()
            .filter(|address| !own.addresses.contains(address))
            .cloned()
            .collect(),
        tags: gained
            .tags
            .iter()
            .filter(|tag| !own.tags.iter().any(|o| o.eq_ignore_ascii_case(tag)))
            .cloned()
            .collect(),
        external_refs: gained
            .external_refs
            .iter()
            .filter(|reference| !own.external_refs.contains(reference))
            .cloned()
            .collect(),
    };
    Ok((
        vec![Event::Absorbed(absorbed)],
        vec![Event::Merged(ContactMerged {
            survivor_id: survivor.id.clone(),
        })],
    ))
}

/// Applies one event. `occurred_at` is the event's time in microseconds.
pub fn evolve(mut contact: Contact, event: &Event, occurred_at: i64) -> Contact {
    contact.version += 1;
    contact.updated_at = occurred_at;
    match event {
        Event::Created(created) => {
            contact.kind = Kind::from_proto(created.kind);
            contact.data = created.data.clone().unwrap_or_default();
            contact.lifecycle = Lifecycle::Live;
            contact.created_at = occurred_at;
        }
        Event::Updated(updated) => {
            let changes = updated.data.clone().unwrap_or_default();
            for field in updated
                .changed
                .iter()
                .filter_map(|name| Field::from_name(name))
            {
                field.copy(&changes, &mut contact.data);
            }
        }
        Event::Trashed(_) => contact.lifecycle = Lifecycle::Trashed,
        Event::Restored(_) => contact.lifecycle = Lifecycle::Live,
        Event::Purged(_) => contact.lifecycle = Lifecycle::Purged,
        Event::Merged(merged) => {
            contact.lifecycle = Lifecycle::Merged {
                survivor_id: merged.survivor_id.clone(),
            };
            // What it had now belongs to the survivor.
            contact.data.emails.clear();
            contact.data.phones.clear();
            contact.data.external_refs.clear();
        }
        Event::Absorbed(absorbed) => {
            let data = &mut contact.data;
            data.emails.extend(absorbed.emails.iter().cloned());
            data.phones.extend(absorbed.phones.iter().cloned());
            data.addresses.extend(absorbed.addresses.iter().cloned());
            data.tags.extend(absorbed.tags.iter().cloned());
            data.external_refs
                .extend(absorbed.external_refs.iter().cloned());
        }
        Event::Erased(_) => {
            contact.lifecycle = Lifecycle::Erased;
            contact.data = ContactData::default();
        }
    }
    contact
}

/// The event type recorded in the log: `<kind>.<event>`.
pub fn event_type(kind: Kind, event: &Event) -> String {
    let name = match event {
        Event::Created(_) => "created",
        Event::Updated(_) => "updated",
        Event::Trashed(_) => "trashed",
        Event::Restored(_) => "restored",
        Event::Purged(_) => "purged",
        Event::Merged(_) => "merged",
        Event::Absorbed(_) => "absorbed",
        Event::Erased(_) => "erased",
    };
    format!("{}.{name}", kind.as_str())
}

#[cfg(test)]
#[path = "contact_tests.rs"]
mod tests;
