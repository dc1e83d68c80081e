//! The application layer: load an aggregate from its events, decide, append
//! with optimistic concurrency, and answer queries from the read models.

use std::sync::{Arc, OnceLock};

use liaison_eventstore::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError,
    StreamAppend,
};
use liaison_proto::contacts::v1::{
    category_event, contact_event, CategoryEvent, ContactData, ContactEvent, HistoryEntry,
};
use prost::Message;
use uuid::Uuid;

use crate::domain::category::{self, Category};
use crate::domain::contact::{self, Command, Contact, Kind, Lifecycle};
use crate::domain::{category_stream, contact_stream, fields, validation};
use crate::history;
use crate::purge_guard::PurgeGuard;
use crate::storage::queries::{ListFilter, Page};
use crate::storage::ReadModel;
use crate::ContactsError;

/// Commands retried this many times when another writer got there first and
/// the caller did not ask for a precise version.
const CONFLICT_RETRIES: usize = 5;
const SCHEMA_VERSION: u32 = 1;

pub use liaison_runtime::RequestContext;

/// Fields a partial update sets, with their new values.
#[derive(Debug, Clone, Default)]
pub struct FieldChanges {
    pub values: ContactData,
    pub fields: Vec<&'static str>,
}

pub struct ContactsApp {
    store: Arc<dyn EventStore>,
    read_model: ReadModel,
    purge_guard: OnceLock<Arc<dyn PurgeGuard>>,
}

impl ContactsApp {
    pub fn new(store: Arc<dyn EventStore>, read_model: ReadModel) -> Self {
        Self {
            store,
            read_model,
            purge_guard: OnceLock::new(),
        }
    }

    /// Who is asked before a purge; set once, when the services are wired.
    pub fn set_purge_guard(&self, guard: Arc<dyn PurgeGuard>) {
        if self.purge_guard.set(guard).is_err() {
            tracing::warn!("purge guard already set; keeping the first");
        }
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    pub fn read_model(&self) -> &ReadModel {
        &self.read_model
    }

    pub async fn create(
        &self,
        kind: Kind,
        data: ContactData,
        allow_shared_email: bool,
        context: &RequestContext,
    ) -> Result<Contact, ContactsError> {
        let data = validation::normalise(kind, data)?;
        let id = Uuid::now_v7().to_string();
        let contact = Contact::new(&id);
        let events = contact::decide(
            &contact,
            Command::Create {
                kind,
                data,
                allow_shared_email,
            },
        )?;
        self.append_contact(&contact, kind, ExpectedVersion::NoStream, events, context)
            .await
    }

    pub async fn update(
        &self,
        id: &str,
        expected_version: Option<u64>,
        changes: FieldChanges,
        allow_shared_email: bool,
        context: &RequestContext,
    ) -> Result<Contact, ContactsError> {
        self.execute(id, expected_version, context, |contact| {
            let kind = contact.require_live("update")?;
            let mut proposed = contact.data.clone();
            for field in &changes.fields {
                fields::copy_field(&changes.values, &mut proposed, field);
            }
            let proposed = validation::normalise(kind, proposed)?;
            contact::decide(
                contact,
                Command::Update {
                    proposed,
                    allow_shared_email,
                },
            )
        })
        .await
    }

    /// Trash, restore or purge.
    pub async fn lifecycle(
        &self,
        id: &str,
        expected_version: Option<u64>,
        command: Command,
        context: &RequestContext,
    ) -> Result<Contact, ContactsError> {
        if matches!(command, Command::Purge) {
            self.ask_purge_guard(id).await?;
        }
        self.execute(id, expected_version, context, |contact| {
            contact::decide(contact, command.clone())
        })
        .await
    }

    /// Refuses the purge of a trashed contact that another service holds.
    async fn ask_purge_guard(&self, id: &str) -> Result<(), ContactsError> {
        let Some(guard) = self.purge_guard.get() else {
            return Ok(());
        };
        let contact = self.load_contact(id).await?;
        let (Some(kind), Lifecycle::Trashed) = (contact.kind, &contact.lifecycle) else {
            // Not purgeable anyway: the decision says why.
            return Ok(());
        };
        let entity = liaison_proto::common::v1::EntityRef {
            kind: kind.entity_kind().to_owned(),
            id: id.to_owned(),
        };
        match guard.objection(&entity).await? {
            None => Ok(()),
            Some(reason) => Err(ContactsError::FailedPrecondition(format!(
                "{} cannot be purged: {reason}",
                contact.label()
            ))),
        }
    }

    pub async fn erase(
        &self,
        id: &str,
        reason: &str,
        context: &RequestContext,
    ) -> Result<(), ContactsError> {
        let reason = validation::text("reason", reason, 500)?;
        let contact = self.load_contact(id).await?;
        let events = contact::decide(&contact, Command::Erase { reason })?;
        let kind = contact_kind(&contact)?;
        let request = AppendRequest {
            streams: vec![StreamAppend {
                stream_id: contact_stream(id),
                expected: ExpectedVersion::Exactly(contact.version),
                events: encode_contact_events(kind, &events),
                // The erasure itself holds no personal data and must stay readable.
                encrypt_for_subject: None,
            }],
            metadata: metadata(context),
            forget_subjects: vec![id.to_owned()],
        };
        self.store.append(request).await?;
        tracing::info!(person = id, "person erased");
        Ok(())
    }

    pub async fn merge(
        &self,
        survivor_id: &str,
        merged_id: &str,
        context: &RequestContext,
    ) -> Result<Contact, ContactsError> {
        for _ in 0..CONFLICT_RETRIES {
            let survivor = self.load_contact(survivor_id).await?;
            let merged = self.load_contact(merged_id).await?;
            let (survivor_events, merged_events) = contact::decide_merge(&survivor, &merged)?;
            let kind = contact_kind(&survivor)?;
            let subject = |id: &str| (kind == Kind::Person).then(|| id.to_owned());
            let request = AppendRequest {
                // The merged contact first: its emails and references leave it
                // before the survivor takes them.
                streams: vec![
                    StreamAppend {
                        stream_id: contact_stream(merged_id),
                        expected: ExpectedVersion::Exactly(merged.version),
                        events: encode_contact_events(kind, &merged_events),
                        encrypt_for_subject: subject(merged_id),
                    },
                    StreamAppend {
                        stream_id: contact_stream(survivor_id),
                        expected: ExpectedVersion::Exactly(survivor.version),
                        events: encode_contact_events(kind, &survivor_events),
                        encrypt_for_subject: subject(survivor_id),
                    },
                ],
                metadata: metadata(context),
                forget_subjects: Vec::new(),
            };
            match self.store.append(request).await {
                Ok(_) => {
                    let at = liaison_eventstore::now_micros();
                    return Ok(survivor_events
                        .iter()
                        .fold(survivor, |c, e| contact::evolve(c, e, at)));
                }
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
        }
        Err(ContactsError::Unavailable(
            "too many concurrent changes; retry later".into(),
        ))
    }

    pub async fn get(&self, id: &str) -> Result<Contact, ContactsError> {
        self.read_model
            .get_contact(id)
            .await?
            .ok_or_else(|| ContactsError::NotFound {
                kind: "contact",
                id: id.to_owned(),
            })
    }

    pub async fn list(&self, filter: &ListFilter) -> Result<Page, ContactsError> {
        self.read_model.list(filter).await
    }

    pub async fn find_by_email(&self, email: &str) -> Result<Vec<Contact>, ContactsError> {
        let address = validation::normalise_email_address("email", email)?;
        self.read_model.find_by_email(&address).await
    }

    pub async fn find_by_external_ref(
        &self,
        source: &str,
        external_id: &str,
    ) -> Result<Contact, ContactsError> {
        self.read_model
            .find_by_external_ref(source.trim(), external_id.trim())
            .await?
            .ok_or_else(|| ContactsError::NotFound {
                kind: "external reference",
                id: format!("{source}/{external_id}"),
            })
    }

    /// Newest first; `before_version` continues a previous page.
    pub async fn history(
        &self,
        id: &str,
        page_size: usize,
        before_version: Option<u64>,
    ) -> Result<(Vec<HistoryEntry>, Option<u64>), ContactsError> {
        let events = self.read_contact_stream(id).await?;
        if events.is_empty() {
            return Err(ContactsError::NotFound {
                kind: "contact",
                id: id.to_owned(),
            });
        }
        let mut entries = history::entries(id, &events)?;
        entries.reverse();
        let page: Vec<HistoryEntry> = entries
            .into_iter()
            .filter(|entry| before_version.is_none_or(|before| entry.version < before))
            .take(page_size + 1)
            .collect();
        let more = page.len() > page_size;
        let page: Vec<HistoryEntry> = page.into_iter().take(page_size).collect();
        let next = if more {
            page.last().map(|entry| entry.version)
        } else {
            None
        };
        Ok((page, next))
    }

    pub async fn create_category(
        &self,
        name: &str,
        description: &str,
        context: &RequestContext,
    ) -> Result<Category, ContactsError> {
        let name = category_name(name)?;
        let description = validation::text("description", description, 1_000)?;
        let id = Uuid::now_v7().to_string();
        let category = Category {
            id: id.clone(),
            ..Default::default()
        };
        let events = category::decide(&category, category::Command::Create { name, description })?;
        self.append_category(category, ExpectedVersion::NoStream, events, context)
            .await
    }

    pub async fn rename_category(
        &self,
        id: &str,
        name: &str,
        expected_version: Option<u64>,
        context: &RequestContext,
    ) -> Result<Category, ContactsError> {
        let name = category_name(name)?;
        let category = self.load_category(id).await?;
        check_expected(id, expected_version, category.version)?;
        let events = category::decide(&category, category::Command::Rename { name })?;
        let expected = ExpectedVersion::Exactly(category.version);
        self.append_category(category, expected, events, context)
            .await
    }

    pub async fn delete_category(
        &self,
        id: &str,
        context: &RequestContext,
    ) -> Result<(), ContactsError> {
        let category = self.load_category(id).await?;
        let events = category::decide(&category, category::Command::Delete)?;
        let expected = ExpectedVersion::Exactly(category.version);
        self.append_category(category, expected, events, context)
            .await?;
        Ok(())
    }

    pub async fn list_categories(&self) -> Result<Vec<Category>, ContactsError> {
        self.read_model.list_categories().await
    }

    /// Loads, decides and appends; retries on a conflict unless the caller
    /// named the version it expects.
    async fn execute(
        &self,
        id: &str,
        expected_version: Option<u64>,
        context: &RequestContext,
        decide: impl Fn(&Contact) -> Result<Vec<contact_event::Event>, ContactsError>,
    ) -> Result<Contact, ContactsError> {
        for _ in 0..CONFLICT_RETRIES {
            let contact = self.load_contact(id).await?;
            if contact.version == 0 {
                return Err(ContactsError::NotFound {
                    kind: "contact",
                    id: id.to_owned(),
                });
            }
            check_expected(id, expected_version, contact.version)?;
            let events = decide(&contact)?;
            if events.is_empty() {
                return Ok(contact);
            }
            let kind = contact_kind(&contact)?;
            let expected = ExpectedVersion::Exactly(contact.version);
            match self
                .append_contact(&contact, kind, expected, events, context)
                .await
            {
                Err(ContactsError::VersionConflict { .. }) if expected_version.is_none() => {
                    continue
                }
                other => return other,
            }
        }
        Err(ContactsError::Unavailable(
            "too many concurrent changes; retry later".into(),
        ))
    }

    async fn append_contact(
        &self,
        contact: &Contact,
        kind: Kind,
        expected: ExpectedVersion,
        events: Vec<contact_event::Event>,
        context: &RequestContext,
    ) -> Result<Contact, ContactsError> {
        let request = AppendRequest {
            streams: vec![StreamAppend {
                stream_id: contact_stream(&contact.id),
                expected,
                events: encode_contact_events(kind, &events),
                encrypt_for_subject: (kind == Kind::Person).then(|| contact.id.clone()),
            }],
            metadata: metadata(context),
            forget_subjects: Vec::new(),
        };
        let at = request.metadata.occurred_at_micros;
        self.store.append(request).await?;
        Ok(events
            .iter()
            .fold(contact.clone(), |c, e| contact::evolve(c, e, at)))
    }

    async fn append_category(
        &self,
        category: Category,
        expected: ExpectedVersion,
        events: Vec<category_event::Event>,
        context: &RequestContext,
    ) -> Result<Category, ContactsError> {
        if events.is_empty() {
            return Ok(category);
        }
        let encoded = events
            .iter()
            .map(|event| NewEvent {
                event_id: Uuid::now_v7(),
                event_type: category::event_type(event).to_owned(),
                schema_version: SCHEMA_VERSION,
                payload: CategoryEvent {
                    event: Some(event.clone()),
                }
                .encode_to_vec(),
            })
            .collect();
        self.store
            .append(AppendRequest {
                streams: vec![StreamAppend {
                    stream_id: category_stream(&category.id),
                    expected,
                    events: encoded,
                    encrypt_for_subject: None,
                }],
                metadata: metadata(context),
                forget_subjects: Vec::new(),
            })
            .await?;
        Ok(events.iter().fold(category, category::evolve))
    }

    async fn read_contact_stream(&self, id: &str) -> Result<Vec<RecordedEvent>, ContactsError> {
        Ok(self
            .store
            .read_stream(&contact_stream(id), 0, u32::MAX)
            .await?)
    }

    /// Rebuilds a contact from its events. Events of an erased person are
    /// shredded: such a contact is known only as erased.
    pub async fn load_contact(&self, id: &str) -> Result<Contact, ContactsError> {
        let mut contact = Contact::new(id);
        for event in self.read_contact_stream(id).await? {
            if event.shredded {
                contact.version = event.stream_version;
                contact.lifecycle = Lifecycle::Erased;
                contact.kind =
                    Kind::from_aggregate(event.event_type.split('.').next().unwrap_or_default());
                contact.data = ContactData::default();
                continue;
            }
            let decoded = ContactEvent::decode(event.payload.as_slice()).map_err(|error| {
                ContactsError::Internal(format!(
                    "event {} does not decode: {error}",
                    event.event_id
                ))
            })?;
            if let Some(domain_event) = decoded.event {
                contact =
                    contact::evolve(contact, &domain_event, event.metadata.occurred_at_micros);
            }
        }
        Ok(contact)
    }

    async fn load_category(&self, id: &str) -> Result<Category, ContactsError> {
        let mut category = Category {
            id: id.to_owned(),
            ..Default::default()
        };
        for event in self
            .store
            .read_stream(&category_stream(id), 0, u32::MAX)
            .await?
        {
            let decoded = CategoryEvent::decode(event.payload.as_slice()).map_err(|error| {
                ContactsError::Internal(format!(
                    "event {} does not decode: {error}",
                    event.event_id
                ))
            })?;
            if let Some(domain_event) = decoded.event {
                category = category::evolve(category, &domain_event);
            }
        }
        if !category.exists || category.deleted {
            return Err(ContactsError::NotFound {
                kind: "category",
                id: id.to_owned(),
            });
        }
        Ok(category)
    }
}

fn contact_kind(contact: &Contact) -> Result<Kind, ContactsError> {
    contact.kind.ok_or_else(|| ContactsError::NotFound {
        kind: "contact",
        id: contact.id.clone(),
    })
}

fn check_expected(id: &str, expected: Option<u64>, actual: u64) -> Result<(), ContactsError> {
    match expected {
        Some(expected) if expected != actual => Err(ContactsError::VersionConflict {
            id: id.to_owned(),
            expected,
            actual,
        }),
        _ => Ok(()),
    }
}

fn category_name(name: &str) -> Result<String, ContactsError> {
    let name = validation::text("name", name, 100)?;
    if name.is_empty() {
        return Err(ContactsError::invalid("name", "a category needs a name"));
    }
    Ok(name)
}

fn encode_contact_events(kind: Kind, events: &[contact_event::Event]) -> Vec<NewEvent> {
    events
        .iter()
        .map(|event| NewEvent {
            event_id: Uuid::now_v7(),
            event_type: contact::event_type(kind, event),
            schema_version: SCHEMA_VERSION,
            payload: ContactEvent {
                event: Some(event.clone()),
            }
            .encode_to_vec(),
        })
        .collect()
}

fn metadata(context: &RequestContext) -> EventMetadata {
    EventMetadata {
        actor: context.actor.clone(),
        correlation_id: context.correlation_id.clone(),
        causation_id: String::new(),
        traceparent: context.traceparent.clone(),
        occurred_at_micros: liaison_eventstore::now_micros(),
    }
}
