//! The application layer: load an aggregate from its events, decide, append
//! with optimistic concurrency, and answer queries from the read models.

use std::sync::{Arc, OnceLock};

use liaison_eventstore::aggregate::{self, stream_append, stream_id, Retries, Versioned};
use liaison_eventstore::{AppendRequest, EventStore, RecordedEvent};
use liaison_proto::contacts::v1::{contact_event, ContactData, HistoryEntry};
use uuid::Uuid;

use crate::domain::category::{self, Category};
use crate::domain::contact::{self, Command, Contact, Kind, Lifecycle};
use crate::domain::fields::Field;
use crate::domain::validation;
use crate::history;
use crate::purge_guard::PurgeGuard;
use crate::storage::queries::{ListFilter, Page};
use crate::storage::ReadModel;
use crate::ContactsError;

pub use liaison_runtime::RequestContext;

/// Fields a partial update sets, with their new values.
#[derive(Debug, Clone, Default)]
pub struct FieldChanges {
    pub values: ContactData,
    pub fields: Vec<Field>,
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
        let command = Command::Create {
            kind,
            data,
            allow_shared_email,
        };
        let created = aggregate::execute_new::<Contact>(
            self.store.as_ref(),
            &id,
            &context.event_metadata(),
            command,
        )
        .await?;
        Ok(created.state)
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
                field.copy(&changes.values, &mut proposed);
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
        let entity = liaison_proto::common::v1::EntityRef::new(kind.entity_kind(), id);
        match guard.objection(&entity).await? {
            None => Ok(()),
            Some(reason) => Err(ContactsError::FailedPrecondition(format!(
                "{} cannot be purged: {reason}",
                contact.label()
            ))),
        }
    }

    /// Erases a person: the erasure is recorded in clear, and the person's
    /// key is destroyed in the same transaction.
    pub async fn erase(
        &self,
        id: &str,
        reason: &str,
        context: &RequestContext,
    ) -> Result<(), ContactsError> {
        let reason = validation::text("reason", reason, 500)?;
        let metadata = context.event_metadata();
        let mut retries = Retries::for_expected(None);
        loop {
            let loaded = aggregate::load::<Contact>(self.store.as_ref(), id).await?;
            let events = contact::decide(
                &loaded.state,
                Command::Erase {
                    reason: reason.clone(),
                },
            )?;
            let mut erasure = stream_append(id, &loaded, &events);
            // The erasure itself holds no personal data and must stay readable.
            erasure.encrypt_for_subject = None;
            let request = AppendRequest {
                streams: vec![erasure],
                metadata: metadata.clone(),
                forget_subjects: vec![id.to_owned()],
            };
            match self.store.append(request).await {
                Ok(_) => break,
                Err(error) if retries.again(&error) => continue,
                Err(error) => return Err(error.into()),
            }
        }
        tracing::info!(person = id, "person erased");
        Ok(())
    }

    pub async fn merge(
        &self,
        survivor_id: &str,
        merged_id: &str,
        context: &RequestContext,
    ) -> Result<Contact, ContactsError> {
        let metadata = context.event_metadata();
        let store = self.store.as_ref();
        let mut retries = Retries::for_expected(None);
        loop {
            let survivor = aggregate::load::<Contact>(store, survivor_id).await?;
            let merged = aggregate::load::<Contact>(store, merged_id).await?;
            let (survivor_events, merged_events) =
                contact::decide_merge(&survivor.state, &merged.state)?;
            let request = AppendRequest {
                // The merged contact first: its emails and references leave it
                // before the survivor takes them.
                streams: vec![
                    stream_append(merged_id, &merged, &merged_events),
                    stream_append(survivor_id, &survivor, &survivor_events),
                ],
                metadata: metadata.clone(),
                forget_subjects: Vec::new(),
            };
            match store.append(request).await {
                Ok(_) => {
                    let after = survivor.after(&survivor_events, metadata.occurred_at_micros);
                    return Ok(after.state);
                }
                Err(error) if retries.again(&error) => continue,
                Err(error) => return Err(error.into()),
            }
        }
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
        let mut remaining = entries
            .into_iter()
            .filter(|entry| before_version.is_none_or(|before| entry.version < before))
            .peekable();
        // Bounded by bytes as lists are (`storage::PAGE_BYTES`): an entry
        // holds the old and new values of what changed.
        let mut page = Vec::new();
        let mut bytes = 0;
        while let Some(entry) = remaining.next_if(|entry| {
            let size = prost::Message::encoded_len(entry);
            let fits = page.is_empty() || bytes + size <= crate::storage::PAGE_BYTES;
            fits && page.len() < page_size
        }) {
            bytes += prost::Message::encoded_len(&entry);
            page.push(entry);
        }
        let next = remaining
            .peek()
            .and_then(|_| page.last().map(|entry: &HistoryEntry| entry.version));
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
        let created = aggregate::execute_new::<Category>(
            self.store.as_ref(),
            &id,
            &context.event_metadata(),
            category::Command::Create { name, description },
        )
        .await?;
        Ok(created.state)
    }

    pub async fn rename_category(
        &self,
        id: &str,
        name: &str,
        expected_version: Option<u64>,
        context: &RequestContext,
    ) -> Result<Category, ContactsError> {
        let name = category_name(name)?;
        let renamed = aggregate::execute::<Category>(
            self.store.as_ref(),
            id,
            expected_version,
            &context.event_metadata(),
            |category| {
                category::decide(
                    &category.state,
                    category::Command::Rename { name: name.clone() },
                )
            },
        )
        .await?;
        Ok(renamed.state)
    }

    pub async fn delete_category(
        &self,
        id: &str,
        context: &RequestContext,
    ) -> Result<(), ContactsError> {
        aggregate::execute::<Category>(
            self.store.as_ref(),
            id,
            None,
            &context.event_metadata(),
            |category| category::decide(&category.state, category::Command::Delete),
        )
        .await?;
        Ok(())
    }

    pub async fn list_categories(&self) -> Result<Vec<Category>, ContactsError> {
        self.read_model.list_categories().await
    }

    /// Loads, decides and appends (see [`aggregate::execute`]).
    async fn execute(
        &self,
        id: &str,
        expected_version: Option<u64>,
        context: &RequestContext,
        decide: impl Fn(&Contact) -> Result<Vec<contact_event::Event>, ContactsError>,
    ) -> Result<Contact, ContactsError> {
        let executed = aggregate::execute::<Contact>(
            self.store.as_ref(),
            id,
            expected_version,
            &context.event_metadata(),
            |loaded: &Versioned<Contact>| decide(&loaded.state),
        )
        .await?;
        Ok(executed.state)
    }

    async fn read_contact_stream(&self, id: &str) -> Result<Vec<RecordedEvent>, ContactsError> {
        Ok(self
            .store
            .read_stream(&stream_id::<Contact>(id), 0, u32::MAX)
            .await?)
    }

    /// Rebuilds a contact from its events. Events of an erased person are
    /// shredded: such a contact is known only as erased.
    pub async fn load_contact(&self, id: &str) -> Result<Contact, ContactsError> {
        Ok(aggregate::load::<Contact>(self.store.as_ref(), id)
            .await?
            .state)
    }
}

fn category_name(name: &str) -> Result<String, ContactsError> {
    let name = validation::text("name", name, 100)?;
    if name.is_empty() {
        return Err(ContactsError::invalid("name", "a category needs a name"));
    }
    Ok(name)
}
