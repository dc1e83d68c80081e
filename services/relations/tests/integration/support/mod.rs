//! A relations gRPC server on an ephemeral port, on SQLite in a temp dir or
//! on PostgreSQL in a schema of its own, and a stand-in for the contacts
//! service's events, fed to the registry as the bus would.
#![allow(dead_code, unused_imports)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use liaison_bus::EventHandler;
use liaison_eventstore::testing_postgres::{postgres_url, TemporarySchema};
use liaison_proto::common::v1::EntityRef;
use liaison_proto::contacts::v1 as contacts;
use liaison_proto::contacts::v1::{contact_event, ContactData, ContactEvent, ContactKind};
use liaison_proto::events::v1::EventEnvelope;
use liaison_proto::relations::v1 as pb;
use liaison_proto::relations::v1::relation_service_client::RelationServiceClient;
use liaison_relations::RelationsService;
use prost::Message;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub const PERSON: &str = "contacts.person";
pub const ORGANISATION: &str = "contacts.organisation";

pub use liaison_eventstore::on_both_backends;

/// Who the fake contacts says made each of its events.
pub const CONTACTS_ACTOR: &str = "user:0190-secretary";
pub use liaison_eventstore::testing_postgres::Backend;
pub use liaison_runtime::testing::{expect_code, field_of};

pub struct Server {
    pub client: RelationServiceClient<Channel>,
    pub service: Arc<RelationsService>,
    pub backend: Backend,
    pub contacts: FakeContacts,
    pub url: String,
    pub schema: Option<String>,
    dir: tempfile::TempDir,
    postgres_schema: Option<TemporarySchema>,
    shutdown: CancellationToken,
}

impl Server {
    pub async fn start(backend: Backend) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, postgres_schema) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("relations.sqlite").display()),
                None,
            ),
            Backend::Postgres => (
                postgres_url(),
                Some(TemporarySchema::new(&postgres_url(), "test")),
            ),
        };
        let schema = postgres_schema.as_ref().map(|s| s.name.clone());
        let service = Arc::new(
            RelationsService::open_with_arrival_wait(
                &url,
                schema.clone(),
                Duration::from_millis(50),
            )
            .await
            .expect("open relations (for PostgreSQL: is it running? LIAISON_TEST_POSTGRES_URL)"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let server = liaison_runtime::grpc::GrpcServer::new()
            .verify_identities(liaison_runtime::testing::identity_policy())
            .add_service(service.grpc());
        tokio::spawn(server.serve(listener, shutdown.clone()));
        let client = RelationServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        let contacts = FakeContacts::new(service.registry_handler());
        Server {
            client,
            service,
            backend,
            contacts,
            url,
            schema,
            dir,
            postgres_schema,
            shutdown,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Publishes contacts events to the relations registry, numbered as the
/// contacts log would number them.
pub struct FakeContacts {
    handler: Arc<dyn EventHandler>,
    position: AtomicU64,
}

impl FakeContacts {
    fn new(handler: Arc<dyn EventHandler>) -> Self {
        Self {
            handler,
            position: AtomicU64::new(0),
        }
    }

    pub async fn publish(&self, kind: &str, id: &str, event: contact_event::Event) {
        let aggregate = if kind == PERSON {
            "person"
        } else {
            "organisation"
        };
        let name = match &event {
            contact_event::Event::Created(_) => "created",
            contact_event::Event::Updated(_) => "updated",
            contact_event::Event::Trashed(_) => "trashed",
            contact_event::Event::Restored(_) => "restored",
            contact_event::Event::Purged(_) => "purged",
            contact_event::Event::Merged(_) => "merged",
            contact_event::Event::Absorbed(_) => "absorbed",
            contact_event::Event::Erased(_) => "erased",
        };
        let envelope = EventEnvelope {
            event_id: uuid::Uuid::now_v7().to_string(),
            stream_id: format!("contact-{id}"),
            stream_version: 1,
            global_position: self.position.fetch_add(1, Ordering::SeqCst) + 1,
            event_type: format!("{aggregate}.{name}"),
            schema_version: 1,
            service: "contacts".into(),
            actor: CONTACTS_ACTOR.into(),
            payload: ContactEvent { event: Some(event) }.encode_to_vec(),
            entity: Some(EntityRef {
                kind: kind.into(),
                id: id.into(),
            }),
            ..Default::default()
        };
        self.handler
            .handle(&[envelope])
            .await
            .expect("registry applies the event");
    }

    /// An organisation named `name`, with `tags`; returns its reference.
    pub async fn organisation(&self, name: &str, tags: &[&str]) -> EntityRef {
        let id = uuid::Uuid::now_v7().to_string();
        let data = ContactData {
            organisation_name: name.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            ..Default::default()
        };
        self.created(ORGANISATION, &id, ContactKind::Organisation, data)
            .await;
        reference(ORGANISATION, &id)
    }

    pub async fn person(&self, given: &str, family: &str) -> EntityRef {
        let id = uuid::Uuid::now_v7().to_string();
        let data = ContactData {
            given_name: given.into(),
            family_name: family.into(),
            ..Default::default()
        };
        self.created(PERSON, &id, ContactKind::Person, data).await;
        reference(PERSON, &id)
    }

    async fn created(&self, kind: &str, id: &str, contact_kind: ContactKind, data: ContactData) {
        let event = contact_event::Event::Created(contacts::ContactCreated {
            kind: contact_kind as i32,
            data: Some(data),
            shared_email_allowed: false,
        });
        self.publish(kind, id, event).await;
    }

    pub async fn simple(&self, entity: &EntityRef, event: contact_event::Event) {
        self.publish(&entity.kind, &entity.id, event).await;
    }

    pub async fn trash(&self, entity: &EntityRef) {
        self.simple(
            entity,
            contact_event::Event::Trashed(contacts::ContactTrashed {}),
        )
        .await;
    }

    pub async fn purge(&self, entity: &EntityRef) {
        self.simple(
            entity,
            contact_event::Event::Purged(contacts::ContactPurged {}),
        )
        .await;
    }

    pub async fn erase(&self, entity: &EntityRef) {
        let event = contact_event::Event::Erased(contacts::PersonErased {
            reason: "asked".into(),
        });
        self.simple(entity, event).await;
    }

    /// `merged` into `survivor`, as contacts records it.
    pub async fn merge(&self, survivor: &EntityRef, merged: &EntityRef) {
        let event = contact_event::Event::Merged(contacts::ContactMerged {
            survivor_id: survivor.id.clone(),
        });
        self.simple(merged, event).await;
        let event = contact_event::Event::Absorbed(contacts::ContactAbsorbed {
            merged_id: merged.id.clone(),
            ..Default::default()
        });
        self.simple(survivor, event).await;
    }
}

pub fn reference(kind: &str, id: &str) -> EntityRef {
    EntityRef {
        kind: kind.into(),
        id: id.into(),
    }
}

pub fn create(
    subject: &EntityRef,
    predicate: &str,
    object: &EntityRef,
) -> pb::CreateRelationRequest {
    pb::CreateRelationRequest {
        subject: Some(subject.clone()),
        predicate: predicate.into(),
        object: Some(object.clone()),
    }
}

pub fn triple(subject: &EntityRef, predicate: &str, object: &EntityRef) -> pb::Triple {
    pb::Triple {
        subject: Some(subject.clone()),
        predicate: predicate.into(),
        object: Some(object.clone()),
    }
}

/// A call by another service (`system:<service>`), with its signed identity.
pub fn as_system<T>(message: T, service: &str) -> tonic::Request<T> {
    liaison_runtime::testing::signed(message, &format!("system:{service}"), "system")
}

/// A call that claims to be the system in its metadata, without a signed
/// identity: what any local process could send.
pub fn forged_system<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("liaison-actor", "system:billing".parse().expect("ascii"));
    request
        .metadata_mut()
        .insert("liaison-role", "system".parse().expect("ascii"));
    request
}

/// `(predicate, other id)` of every relation of `entity`, sorted.
pub async fn relations_of(
    client: &mut RelationServiceClient<Channel>,
    entity: &EntityRef,
) -> Vec<(String, String)> {
    let page = client
        .list_entity_relations(pb::ListEntityRelationsRequest {
            entity: Some(entity.clone()),
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("list relations")
        .into_inner();
    let mut pairs: Vec<(String, String)> = page
        .relations
        .into_iter()
        .map(|r| (r.predicate, r.other.unwrap_or_default().id))
        .collect();
    pairs.sort();
    pairs
}

pub fn custom_type(id: &str, symmetric: &str) -> pb::CreateRelationTypeRequest {
    pb::CreateRelationTypeRequest {
        subject_side: Some(pb::PredicateSide {
            id: id.into(),
            label: format!("is {id}"),
            kinds: vec![ORGANISATION.into()],
            ..Default::default()
        }),
        object_side: Some(pb::PredicateSide {
            id: symmetric.into(),
            label: format!("is {symmetric}"),
            kinds: vec![ORGANISATION.into()],
            ..Default::default()
        }),
        ..Default::default()
    }
}
