//! Runs the real `liaison` binary for end-to-end tests: a private data dir,
//! free loopback ports, readiness through the gRPC health service.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

pub mod browser;
pub mod gateway;
pub mod http;
mod postgres_server;
use liaison_proto::contacts::v1::contact_service_client::ContactServiceClient;
use liaison_proto::relations::v1::relation_service_client::RelationServiceClient;
pub use postgres_server::PostgresServer;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

/// The identity key of every process the tests start.
pub const IDENTITY_KEY: &str = "end-to-end-tests-identity-key-0123456789";

/// `message` as a call by another service (`system:<service>`), signed with
/// the processes' [`IDENTITY_KEY`].
pub fn as_system<T>(message: T, service: &str) -> tonic::Request<T> {
    let key = liaison_runtime::identity::IdentityKey::new(IDENTITY_KEY.as_bytes());
    let signed = key.sign(
        &format!("system:{service}"),
        liaison_runtime::SYSTEM_ROLE,
        std::time::SystemTime::now(),
    );
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        liaison_runtime::identity::IDENTITY_METADATA_KEY,
        signed.parse().expect("a signed identity is ASCII"),
    );
    request
}

/// The binary under test: `LIAISON_BIN`, or the one built beside this test.
pub fn binary() -> PathBuf {
    if let Ok(path) = std::env::var("LIAISON_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let binary = profile_dir.join("liaison");
    assert!(
        binary.exists(),
        "{} not found: build it first (`cargo build -p liaison`) or set LIAISON_BIN",
        binary.display()
    );
    binary
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// One `liaison serve` process.
pub struct Liaison {
    child: Option<Child>,
    pub grpc_addr: String,
    pub http_addr: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
}

/// How to start a `liaison serve` process beyond its data dir and ports.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// `--target`; every service when `None`.
    pub target: Option<String>,
    /// `LIAISON__…` settings, e.g. a PostgreSQL URL and the NATS bus.
    pub env: Vec<(String, String)>,
    /// The gRPC service whose health says the process serves (contacts'
    /// when `None`).
    pub health_service: Option<String>,
}

impl Topology {
    /// Contacts alone, on PostgreSQL (its own schema) and NATS JetStream.
    pub fn distributed(postgres_url: &str, schema: &str, nats_url: &str) -> Self {
        Self::service_alone("contacts", postgres_url, schema, nats_url)
    }

    /// One service alone (`contacts`, `relations`), on PostgreSQL (its own
    /// schema) and NATS JetStream.
    pub fn service_alone(service: &str, postgres_url: &str, schema: &str, nats_url: &str) -> Self {
        let section = service.to_uppercase();
        let health_service = match service {
            "relations" => "liaison.relations.v1.RelationService",
            _ => "liaison.contacts.v1.ContactService",
        };
        Topology {
            target: Some(service.into()),
            env: vec![
                (
                    format!("LIAISON__{section}__DATABASE_URL"),
                    postgres_url.into(),
                ),
                (
                    format!("LIAISON__{section}__DATABASE_SCHEMA"),
                    schema.into(),
                ),
                ("LIAISON__BUS__KIND".into(), "nats".into()),
                ("LIAISON__BUS__NATS_URL".into(), nats_url.into()),
            ],
            health_service: Some(health_service.into()),
        }
    }
}

impl Liaison {
    /// Starts `liaison serve` (every service, embedded) on `data_dir` and
    /// waits until it serves.
    pub async fn start(data_dir: &Path) -> anyhow::Result<Liaison> {
        Self::start_with(data_dir, &Topology::default()).await
    }

    /// Every service in one process in a fresh data dir (dropped with the
    /// returned dir), the first admin `admin@localhost` with `password`.
    pub async fn start_with_admin(password: &str) -> (Liaison, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("data dir");
        let liaison = Liaison::start_with(
            &dir.path().join("data"),
            &Topology {
                env: vec![("LIAISON__AUTH__ADMIN_PASSWORD".into(), password.into())],
                ..Topology::default()
            },
        )
        .await
        .expect("liaison serves");
        (liaison, dir)
    }

    /// Starts `liaison serve` as `topology` says and waits until it serves.
    pub async fn start_with(data_dir: &Path, topology: &Topology) -> anyhow::Result<Liaison> {
        let grpc_addr = format!("127.0.0.1:{}", free_port());
        let http_addr = format!("127.0.0.1:{}", free_port());
        let log = data_dir.with_extension(format!("log-{}", free_port()));
        let log_file = std::fs::File::create(&log).context("log file")?;
        let mut command = Command::new(binary());
        command.args(["serve", "--data-dir"]).arg(data_dir).args([
            "--grpc-addr",
            &grpc_addr,
            "--http-addr",
            &http_addr,
        ]);
        if let Some(target) = &topology.target {
            command.args(["--target", target]);
        }
        let child = command
            .env("LIAISON__LOG__LEVEL", "info,sqlx=warn")
            // Processes of one deployment share the key of identities; the
            // tests sign with it too ([`as_system`]).
            .env("LIAISON__SECURITY__IDENTITY_KEY", IDENTITY_KEY)
            .envs(topology.env.iter().map(|(key, value)| (key, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log_file)
            .spawn()
            .context("spawn liaison")?;
        let mut liaison = Liaison {
            child: Some(child),
            grpc_addr,
            http_addr,
            data_dir: data_dir.to_owned(),
            log,
        };
        let health_service = topology
            .health_service
            .clone()
            .unwrap_or_else(|| "liaison.contacts.v1.ContactService".into());
        liaison.wait_serving(&health_service).await?;
        Ok(liaison)
    }

    async fn wait_serving(&mut self, service: &str) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while tokio::time::Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "liaison exited with {status} before serving:\n{}",
                        self.log_text()
                    );
                }
            }
            if let Ok(channel) = Channel::from_shared(self.grpc_url())?.connect().await {
                let mut health = HealthClient::new(channel);
                let request = HealthCheckRequest {
                    service: service.to_owned(),
                };
                if let Ok(response) = health.check(request).await {
                    if response.into_inner().status == ServingStatus::Serving as i32 {
                        return Ok(());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("liaison did not serve within 30 s:\n{}", self.log_text())
    }

    pub fn grpc_url(&self) -> String {
        format!("http://{}", self.grpc_addr)
    }

    pub async fn contacts(&self) -> anyhow::Result<ContactServiceClient<Channel>> {
        Ok(ContactServiceClient::connect(self.grpc_url()).await?)
    }

    pub async fn relations(&self) -> anyhow::Result<RelationServiceClient<Channel>> {
        Ok(RelationServiceClient::connect(self.grpc_url()).await?)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`: no shutdown, no flush, nothing.
    pub fn kill_hard(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then a clean exit within `limit`; how long it took. Past
    /// the limit the process is killed and this fails.
    pub fn stop_within(&mut self, limit: Duration) -> anyhow::Result<Duration> {
        let Some(mut child) = self.child.take() else {
            bail!("liaison is not running");
        };
        let asked = std::time::Instant::now();
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        loop {
            if let Some(exit) = child.try_wait()? {
                if !exit.success() {
                    bail!("liaison exited with {exit}:\n{}", self.log_text());
                }
                return Ok(asked.elapsed());
            }
            if asked.elapsed() > limit {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "liaison did not stop within {limit:?} of SIGTERM:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits for a clean exit.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("kill -TERM failed");
        }
        let exit = child.wait()?;
        if !exit.success() {
            bail!("liaison exited with {exit}:\n{}", self.log_text());
        }
        Ok(())
    }
}

impl Drop for Liaison {
    fn drop(&mut self) {
        self.kill_hard();
    }
}

/// Runs `liaison <args>` to completion; its stdout, or the error with stderr.
pub fn run_cli(args: &[&str]) -> anyhow::Result<String> {
    run_cli_with_env(args, &[])
}

/// Every row of the contacts read models, as sortable text.
pub async fn dump_read_models(database: &Path) -> anyhow::Result<Vec<String>> {
    let pool =
        sqlx::SqlitePool::connect_with(liaison_eventstore::sqlite::connect_options(database))
            .await?;
    let rows = liaison_contacts::storage::ReadModel::from(liaison_eventstore::ReaderPool::Sqlite(
        pool.clone(),
    ))
    .snapshot()
    .await?;
    pool.close().await;
    Ok(rows)
}

pub use liaison_eventstore::testing_postgres::postgres_url;

/// A schema of its own on a PostgreSQL server, dropped with its tables when
/// the guard goes.
pub struct PgSchema {
    schema: liaison_eventstore::testing_postgres::TemporarySchema,
    pub url: String,
    pub name: String,
}

impl PgSchema {
    pub fn new(url: &str) -> Self {
        let schema = liaison_eventstore::testing_postgres::TemporarySchema::new(url, "e2e");
        PgSchema {
            url: schema.url.clone(),
            name: schema.name.clone(),
            schema,
        }
    }

    /// A pool whose queries see this schema's tables.
    pub async fn pool(&self) -> anyhow::Result<sqlx::PgPool> {
        use std::str::FromStr;
        let options = sqlx::postgres::PgConnectOptions::from_str(&self.schema.url)?
            .options([("search_path", self.schema.name.as_str())]);
        Ok(sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await?)
    }

    /// Rows of the log.
    pub async fn count_events(&self) -> anyhow::Result<i64> {
        let pool = self.pool().await?;
        let count = sqlx::query_scalar("SELECT COUNT(*) FROM events")
            .fetch_one(&pool)
            .await?;
        pool.close().await;
        Ok(count)
    }
}

/// Every row of the contacts read models in a PostgreSQL schema.
pub async fn dump_read_models_postgres(schema: &PgSchema) -> anyhow::Result<Vec<String>> {
    let pool = schema.pool().await?;
    let rows = liaison_contacts::storage::ReadModel::from(
        liaison_eventstore::ReaderPool::Postgres(pool.clone()),
    )
    .snapshot()
    .await?;
    pool.close().await;
    Ok(rows)
}

/// Runs `liaison` with `args` and extra environment; its stdout on success.
pub fn run_cli_with_env(args: &[&str], env: &[(String, String)]) -> anyhow::Result<String> {
    let output = Command::new(binary())
        .args(args)
        .envs(env.iter().map(|(key, value)| (key, value)))
        .output()?;
    if !output.status.success() {
        bail!(
            "liaison {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
