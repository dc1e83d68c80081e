//! A contacts gRPC server on an ephemeral port, on SQLite in a temp dir or
//! on PostgreSQL in a schema of its own (the server in
//! `LIAISON_TEST_POSTGRES_URL`, by default the local one).
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::sync::Arc;

use liaison_contacts::ContactsService;
use liaison_eventstore::testing_postgres::{postgres_url, TemporarySchema};
use liaison_proto::contacts::v1 as pb;
use liaison_proto::contacts::v1::contact_service_client::ContactServiceClient;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

pub use liaison_eventstore::on_both_backends;
pub use liaison_eventstore::testing_postgres::Backend;
pub use liaison_runtime::testing::{expect_code, field_of, signed};

pub struct Server {
    pub client: ContactServiceClient<Channel>,
    pub service: Arc<ContactsService>,
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    postgres_schema: Option<TemporarySchema>,
    shutdown: CancellationToken,
}

impl Server {
    pub async fn start(backend: Backend) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, postgres_schema) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("contacts.sqlite").display()),
                None,
            ),
            Backend::Postgres => (
                postgres_url(),
                Some(TemporarySchema::new(&postgres_url(), "test")),
            ),
        };
        let service = Arc::new(
            ContactsService::open(&url, postgres_schema.as_ref().map(|s| s.name.clone()))
                .await
                .expect("open contacts (for PostgreSQL: is it running? LIAISON_TEST_POSTGRES_URL)"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let server = liaison_runtime::grpc::GrpcServer::new()
            .verify_identities(liaison_runtime::testing::identity_policy())
            .add_service(service.grpc());
        tokio::spawn(server.serve(listener, shutdown.clone()));
        let client = ContactServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
        Server {
            client,
            service,
            backend,
            dir,
            postgres_schema,
            shutdown,
        }
    }

    /// The SQLite file (SQLite servers only).
    pub fn db_path(&self) -> std::path::PathBuf {
        self.dir.path().join("contacts.sqlite")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The server stops before its schema goes.
        self.shutdown.cancel();
    }
}

pub fn person(given: &str, family: &str, email: &str) -> pb::CreatePersonRequest {
    pb::CreatePersonRequest {
        given_name: given.into(),
        family_name: family.into(),
        emails: if email.is_empty() {
            Vec::new()
        } else {
            vec![pb::Email {
                address: email.into(),
                ..Default::default()
            }]
        },
        ..Default::default()
    }
}

pub fn organisation(name: &str) -> pb::CreateOrganisationRequest {
    pb::CreateOrganisationRequest {
        name: name.into(),
        ..Default::default()
    }
}
