//! The one table of what each target is: how it opens from the settings,
//! the gRPC routes it serves and the name its health reports under, its
//! store and whether its events are published, its readiness check and its
//! consumers. `serve`, `admin rebuild`, `config` and the readiness report
//! read it; adding a service is adding an entry (ADR 0007).

mod contacts;
pub mod gateway;
mod relations;

use std::any::Any;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use liaison_bus::{ConsumerRunner, EventBus};
use liaison_eventstore::{EventStore, ReaderPool};
use liaison_runtime::grpc::tower_service_bounds::GrpcService;
use liaison_runtime::grpc::GrpcServer;
use liaison_runtime::identity::IdentityKey;
use liaison_runtime::settings::{Settings, SettingsError, StorageSettings};

use crate::target::Target;

/// One entry of the table.
#[async_trait]
pub trait ServiceTarget: Send + Sync {
    fn target(&self) -> Target;

    /// Checks its section of the settings (`[services.<name>]`): its keys,
    /// their types and values, with messages naming the key. By default the
    /// section holds its storage only.
    fn check_settings(&self, settings: &Settings) -> Result<(), SettingsError> {
        let name = self.target().name();
        settings.service::<StorageSettings>(name)?;
        settings.storage(name).map(|_| ())
    }

    /// Its section as it takes effect, defaults filled in (secrets are
    /// masked by the caller).
    fn effective_settings(&self, settings: &Settings) -> Result<toml::Value, SettingsError> {
        effective_storage(settings, self.target().name())
    }

    /// The services it calls: in this process, or at their `peers.<name>`.
    fn peers(&self) -> &'static [Target] {
        &[]
    }

    /// Its database URL: the one configured, or a SQLite file in the data dir.
    fn database_url(&self, settings: &Settings) -> Result<String, SettingsError> {
        Ok(settings.storage(self.target().name())?.0)
    }

    /// Opens its storage, creating and migrating it if needed: all that
    /// `admin rebuild` needs.
    async fn open(&self, settings: &Settings) -> anyhow::Result<Opened>;

    /// Its part of a serving process, once every target here is open.
    async fn start(&self, opened: &Opened, process: &Process<'_>) -> anyhow::Result<Started>;
}

/// A target's storage, open.
pub struct Opened {
    pub store: Arc<dyn EventStore>,
    /// Its events go to the bus (the gateway's log holds credentials: never).
    pub publishes_events: bool,
    /// What its readiness check pings.
    pub read_pool: ReaderPool,
    /// The service itself, for the other targets of this process
    /// ([`Process::local`]).
    pub service: Arc<dyn Any + Send + Sync>,
}

/// A target's part of a serving process.
#[derive(Default)]
pub struct Started {
    pub grpc: Option<GrpcRoutes>,
    pub consumers: Vec<ConsumerRunner>,
    /// Its HTTP routes beside the probes (the gateway's API and pages).
    pub http: Option<axum::Router>,
}

/// A gRPC service to add to the process's server, and the name its health
/// reports under.
pub struct GrpcRoutes {
    pub health_name: &'static str,
    add: Box<dyn FnOnce(GrpcServer) -> GrpcServer + Send>,
}

impl GrpcRoutes {
    pub fn of<S: GrpcService>(service: S) -> Self {
        GrpcRoutes {
            health_name: S::NAME,
            add: Box::new(move |server| server.add_service(service)),
        }
    }

    pub fn add_to(self, server: GrpcServer) -> GrpcServer {
        (self.add)(server)
    }
}

/// What a target starting in a process can reach: the settings, the other
/// targets open here, the bus, and where this process serves gRPC.
pub struct Process<'a> {
    pub settings: &'a Settings,
    pub opened: &'a BTreeMap<Target, Opened>,
    pub bus: Arc<dyn EventBus>,
    pub grpc_addr: SocketAddr,
    pub identity_key: IdentityKey,
}

impl Process<'_> {
    /// The service of `target` when it runs in this process.
    pub fn local<T: Send + Sync + 'static>(&self, target: Target) -> Option<Arc<T>> {
        self.opened
            .get(&target)
            .and_then(|opened| opened.service.clone().downcast::<T>().ok())
    }

    /// The service of `target`, which runs in this process.
    pub fn own<T: Send + Sync + 'static>(&self, target: Target) -> anyhow::Result<Arc<T>> {
        self.local(target)
            .ok_or_else(|| anyhow::anyhow!("{target} is not open in this process"))
    }

    /// Where `target` answers gRPC: this process's own port when it runs
    /// here, its `peers.<name>` URL otherwise; `None` when neither.
    pub fn grpc_url(&self, target: Target) -> Option<String> {
        if self.opened.contains_key(&target) {
            let mut own = self.grpc_addr;
            if own.ip().is_unspecified() {
                own.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            return Some(format!("http://{own}"));
        }
        self.settings.peer(target.name()).map(str::to_owned)
    }
}

/// The entry of `target`.
pub fn entry(target: Target) -> &'static dyn ServiceTarget {
    match target {
        Target::Contacts => &contacts::ContactsTarget,
        Target::Relations => &relations::RelationsTarget,
        Target::Gateway => &gateway::GatewayTarget,
    }
}

/// Checks every service's section, and that `[services]` and `[peers]` name
/// only services that exist.
pub fn check_settings(settings: &Settings) -> Result<(), SettingsError> {
    let names = || {
        Target::ALL
            .iter()
            .map(|target| target.name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (section, keys) in [
        ("services", settings.services.keys().collect::<Vec<_>>()),
        ("peers", settings.peers.keys().collect::<Vec<_>>()),
    ] {
        if let Some(unknown) = keys.into_iter().find(|name| {
            !Target::ALL
                .iter()
                .any(|target| target.name() == name.as_str())
        }) {
            return Err(SettingsError::Invalid(format!(
                "{section}.{unknown} names no service; the services are {}",
                names()
            )));
        }
    }
    for target in Target::ALL {
        entry(*target).check_settings(settings)?;
    }
    Ok(())
}

/// Every service's effective section, secrets masked, as TOML.
pub fn effective_settings_toml(settings: &Settings) -> Result<String, SettingsError> {
    let mut services = toml::Table::new();
    for target in Target::ALL {
        let section = entry(*target).effective_settings(settings)?;
        services.insert(
            target.name().to_owned(),
            liaison_runtime::settings::masked(section),
        );
    }
    let mut document = toml::Table::new();
    document.insert("services".to_owned(), toml::Value::Table(services));
    toml::to_string(&document).map_err(|error| SettingsError::Invalid(error.to_string()))
}

/// Opens service `name` at the storage its settings give, naming the
/// database (its password masked) when it cannot.
async fn open_storage<S, E, F>(
    settings: &Settings,
    name: &str,
    open: impl FnOnce(String, Option<String>) -> F,
) -> anyhow::Result<S>
where
    F: std::future::Future<Output = Result<S, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    use anyhow::Context;
    let (url, schema) = settings.storage(name)?;
    let masked = liaison_runtime::settings::mask_url_password(&url);
    open(url, schema)
        .await
        .with_context(|| format!("cannot open the {name} database {masked}"))
}

/// A service's storage settings with its database URL as it takes effect.
fn effective_storage(settings: &Settings, name: &str) -> Result<toml::Value, SettingsError> {
    let (database_url, schema) = settings.storage(name)?;
    let mut table = toml::Table::new();
    table.insert("database_url".into(), toml::Value::String(database_url));
    table.insert(
        "database_schema".into(),
        toml::Value::String(schema.unwrap_or_default()),
    );
    Ok(toml::Value::Table(table))
}

/// What keeps `targets` from running as one process of a distributed
/// deployment with these settings: a database left to a SQLite file that
/// the process's data dir alone holds, a service it calls with no address.
pub fn deployment_problems(
    settings: &Settings,
    targets: &[Target],
) -> Result<Vec<String>, SettingsError> {
    let mut problems = Vec::new();
    for target in targets {
        let entry = entry(*target);
        let url = entry.database_url(settings)?;
        if url.starts_with("sqlite:") {
            problems.push(format!(
                "{target} keeps its data in {url}: set services.{target}.database_url \
                 (LIAISON__SERVICES__{}__DATABASE_URL) to its PostgreSQL database",
                target.name().to_uppercase()
            ));
        }
        for peer in entry.peers() {
            if !targets.contains(peer) && settings.peer(peer.name()).is_none() {
                problems.push(format!(
                    "{target} calls {peer}, which does not run in this process: set \
                     peers.{peer} (LIAISON__PEERS__{})",
                    peer.name().to_uppercase()
                ));
            }
        }
    }
    if settings.bus.kind != liaison_runtime::settings::BusKind::Nats {
        problems.push(
            "the bus is embedded: processes of a deployment share NATS JetStream \
             (bus.kind = \"nats\")"
                .to_owned(),
        );
    }
    Ok(problems)
}

/// A readiness check of a read pool.
pub fn database_check(pool: ReaderPool) -> liaison_runtime::http::ReadinessCheck {
    Arc::new(move || {
        let pool = pool.clone();
        Box::pin(async move { pool.ping().await.map_err(|error| error.to_string()) })
    })
}
