//! `liaison serve`: wires the targets of this process together.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use liaison_bus::embedded::EmbeddedBus;
use liaison_bus::nats::{NatsBus, NatsOptions};
use liaison_bus::{ConsumerStats, EventBus, Relay};
use liaison_eventstore::EventStore;
use liaison_relations::grpc::{RelationsGrpc, RelationsGrpcServer};
use liaison_relations::RelationsService;
use liaison_runtime::grpc::{GrpcServer, IdentityPolicy};
use liaison_runtime::http::ReadinessCheck;
use liaison_runtime::metrics::{Metrics, Reading};
use liaison_runtime::settings::{mask_url_password, BusKind};
use liaison_runtime::Settings;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::peers::RelationsPeer;
use crate::target::{Target, Targets};

/// Holds an exclusive lock on the data dir: one process writes it at a time.
pub fn lock_data_dir(data_dir: &Path) -> anyhow::Result<File> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create data directory {}", data_dir.display()))?;
    let path = data_dir.join("liaison.lock");
    let file = File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    file.try_lock().map_err(|_| {
        anyhow::anyhow!(
            "data directory {} is in use by another liaison process",
            data_dir.display()
        )
    })?;
    Ok(file)
}

pub async fn serve(settings: Settings, targets: Targets) -> anyhow::Result<()> {
    let started = Instant::now();
    let _lock = if settings.uses_data_dir() {
        Some(lock_data_dir(&settings.data_dir)?)
    } else {
        None
    };
    let grpc_listener = TcpListener::bind(settings.grpc_addr)
        .await
        .with_context(|| format!("cannot listen for gRPC on {}", settings.grpc_addr))?;
    let http_listener = TcpListener::bind(settings.http_addr)
        .await
        .with_context(|| format!("cannot listen for HTTP on {}", settings.http_addr))?;
    let grpc_addr = grpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;

    let shutdown = liaison_runtime::shutdown::on_signals();
    let mut checks: Vec<(&'static str, ReadinessCheck)> = Vec::new();
    let mut background = tokio::task::JoinSet::new();
    let workers = CancellationToken::new();
    let bus = open_bus(&settings, &mut checks, &mut background, &workers).await?;

    if !settings.grpc_addr.ip().is_loopback() && settings.accepts_unsigned_calls() {
        tracing::warn!(
            grpc = %settings.grpc_addr,
            "gRPC listens beyond loopback and accepts calls without a signed identity \
             (security.unsigned_calls = \"allow\"): for local development only"
        );
    }
    let metrics = Metrics::new();
    let identity_key = settings.identity_key();
    let mut grpc = GrpcServer::new()
        .require_token(&settings.security.internal_token)
        .verify_identities(IdentityPolicy {
            key: identity_key.clone(),
            allow_unsigned: settings.accepts_unsigned_calls(),
        })
        .with_metrics(metrics.clone());
    let health = grpc.health();
    let mut stores: Vec<Arc<dyn EventStore>> = Vec::new();
    let mut consumers: Vec<(&'static str, Arc<ConsumerStats>)> = Vec::new();
    let mut contacts_app = None;
    let mut relations = None;
    let mut gateway = None;

    for target in &targets.0 {
        match target {
            Target::Contacts => {
                let url = settings.database_url("contacts", &settings.contacts.database_url);
                let contacts =
                    liaison_contacts::ContactsService::open(&url, settings.contacts.schema())
                        .await
                        .with_context(|| {
                            format!(
                                "cannot open the contacts database {}",
                                mask_url_password(&url)
                            )
                        })?;
                grpc = grpc.add_service(contacts.grpc());
                stores.push(contacts.store());
                let read_model = contacts.read_model().clone();
                checks.push((
                    "contacts-database",
                    Arc::new(move || {
                        let read_model = read_model.clone();
                        Box::pin(async move {
                            read_model.ping().await.map_err(|error| error.to_string())
                        })
                    }),
                ));
                contacts_app = Some(contacts.app().clone());
            }
            Target::Relations => {
                let url = settings.database_url("relations", &settings.relations.database_url);
                let service = RelationsService::open(&url, settings.relations.schema())
                    .await
                    .with_context(|| {
                        format!(
                            "cannot open the relations database {}",
                            mask_url_password(&url)
                        )
                    })?;
                grpc = grpc.add_service(service.grpc());
                stores.push(service.store());
                let read_model = service.read_model().clone();
                checks.push((
                    "relations-database",
                    Arc::new(move || {
                        let read_model = read_model.clone();
                        Box::pin(async move {
                            read_model.ping().await.map_err(|error| error.to_string())
                        })
                    }),
                ));
                let registry = service.registry_consumer(bus.clone());
                consumers.push((liaison_relations::storage::CONSUMER, registry.stats()));
                background.spawn(registry.run(workers.clone()));
                relations = Some(service);
            }
            Target::Gateway => {
                let service = open_gateway(&settings).await?;
                stores.push(service.store());
                let read_model = service.read_model().clone();
                checks.push((
                    "gateway-database",
                    Arc::new(move || {
                        let read_model = read_model.clone();
                        Box::pin(async move {
                            read_model.ping().await.map_err(|error| error.to_string())
                        })
                    }),
                ));
                gateway = Some(service);
            }
        }
    }
    if let Some(contacts) = contacts_app {
        let peer = match &relations {
            Some(service) => {
                RelationsPeer::Local(Arc::new(RelationsGrpc::new(service.app().clone())))
            }
            None if !settings.peers.relations.is_empty() => RelationsPeer::remote(
                &settings.peers.relations,
                &settings.security.internal_token,
                identity_key.clone(),
            )?,
            None => {
                tracing::warn!("peers.relations is not set: contacts will refuse purges");
                RelationsPeer::Unconfigured
            }
        };
        contacts.set_purge_guard(Arc::new(peer));
    }
    observe_consumers(&metrics, consumers);
    let mut relays = Vec::new();
    // The gateway's log holds credentials: it is never published.
    for store in stores
        .iter()
        .filter(|store| store.service() != liaison_gateway::SERVICE)
    {
        let relay = Relay::new(store.clone(), bus.clone());
        relays.push((store.clone(), relay.published_position()));
        background.spawn(relay.run(workers.clone()));
    }
    observe_stores(&metrics, relays);

    let grpc_task = tokio::spawn(grpc.serve(grpc_listener, shutdown.clone()));
    let mut router = liaison_runtime::http::probe_routes(checks, metrics);
    if let Some(gateway) = &gateway {
        let backends = gateway_backends(&settings, &targets, grpc_addr, identity_key.clone())?;
        router = router.merge(gateway.router(backends));
    }
    let http_task = tokio::spawn(liaison_runtime::http::serve(
        http_listener,
        router,
        shutdown.clone(),
    ));

    tracing::info!(
        targets = %targets,
        grpc = %grpc_addr,
        http = %http_addr,
        data_dir = %settings.data_dir.display(),
        bus = ?settings.bus.kind,
        startup_ms = started.elapsed().as_millis() as u64,
        "liaison is serving"
    );

    // Last: probes see SERVING only once everything above is in place.
    for target in &targets.0 {
        match target {
            Target::Contacts => {
                health
                    .set_serving::<liaison_contacts::grpc::ContactsGrpcServer>()
                    .await;
            }
            Target::Relations => {
                health.set_serving::<RelationsGrpcServer>().await;
            }
            Target::Gateway => {}
        }
    }

    shutdown.cancelled().await;
    // Reverse order: stop taking calls, then stop the workers, then storage.
    match grpc_task.await {
        Ok(Err(error)) => tracing::error!(%error, "grpc server failed"),
        Err(error) => tracing::error!(%error, "grpc server task failed"),
        Ok(Ok(())) => {}
    }
    let _ = http_task.await;
    workers.cancel();
    while background.join_next().await.is_some() {}
    for store in stores {
        store.close().await;
    }
    bus.close().await;
    tracing::info!("liaison stopped");
    Ok(())
}

/// Opens the gateway's storage and creates the first admin when there is
/// no user yet.
async fn open_gateway(settings: &Settings) -> anyhow::Result<liaison_gateway::GatewayService> {
    let url = settings.database_url("gateway", &settings.gateway.database_url);
    let service =
        liaison_gateway::GatewayService::open(&url, settings.gateway.schema(), &settings.auth)
            .await
            .with_context(|| {
                format!(
                    "cannot open the gateway database {}",
                    mask_url_password(&url)
                )
            })?;
    match service.ensure_first_admin().await {
        Ok(Some(password)) => tracing::warn!(
            email = %settings.auth.admin_email,
            password = %password,
            "first start: admin account created with this generated password, shown once; \
             log in and change it (or set auth.admin_password before the first start)"
        ),
        Ok(None) => {}
        Err(error) => anyhow::bail!("cannot create the first admin account: {error}"),
    }
    Ok(service)
}

/// Where the gateway finds each service: this process's gRPC port when it
/// runs here, its configured peer address otherwise.
fn gateway_backends(
    settings: &Settings,
    targets: &Targets,
    grpc_addr: std::net::SocketAddr,
    identity_key: liaison_runtime::identity::IdentityKey,
) -> anyhow::Result<liaison_gateway::Backends> {
    let mut own = grpc_addr;
    if own.ip().is_unspecified() {
        own.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let address = |target: Target, peer: &str| -> anyhow::Result<String> {
        if targets.0.contains(&target) {
            Ok(format!("http://{own}"))
        } else if !peer.is_empty() {
            Ok(peer.to_owned())
        } else {
            anyhow::bail!(
                "the gateway needs {target}: run it in this process (--target {target},gateway) \
                 or set peers.{target}"
            )
        }
    };
    let contacts = address(Target::Contacts, &settings.peers.contacts)?;
    let relations = address(Target::Relations, &settings.peers.relations)?;
    liaison_gateway::Backends::connect(
        &contacts,
        &relations,
        identity_key,
        &settings.security.internal_token,
    )
    .map_err(|error| anyhow::anyhow!("{error}"))
}

/// Events appended and the relay backlog of each store, read at each scrape.
type RelayedStore = (Arc<dyn EventStore>, Arc<std::sync::atomic::AtomicU64>);

fn observe_stores(metrics: &Metrics, relays: Vec<RelayedStore>) {
    let relays = Arc::new(relays);
    let appended = relays.clone();
    metrics.observe(
        "events_appended",
        "Events this process appended to its services' logs",
        move || {
            appended
                .iter()
                .map(|(store, _)| {
                    let labels = vec![("service", store.service().to_owned())];
                    (labels, Reading::Counter(store.appended_events()))
                })
                .collect()
        },
    );
    metrics.observe(
        "relay_backlog",
        "Events committed but not yet published to the bus",
        move || {
            relays
                .iter()
                .map(|(store, published)| {
                    let head = *store.watch_head().borrow();
                    let published = published.load(std::sync::atomic::Ordering::Relaxed);
                    let backlog = i64::try_from(head.saturating_sub(published)).unwrap_or(i64::MAX);
                    let labels = vec![("service", store.service().to_owned())];
                    (labels, Reading::Gauge(backlog))
                })
                .collect()
        },
    );
}

/// What each consumer of this process has done, read at each scrape.
fn observe_consumers(metrics: &Metrics, consumers: Vec<(&'static str, Arc<ConsumerStats>)>) {
    let consumers = Arc::new(consumers);
    let read = |pick: fn(&ConsumerStats) -> Reading| {
        let consumers = consumers.clone();
        move || {
            consumers
                .iter()
                .map(|(name, stats)| (vec![("consumer", (*name).to_owned())], pick(stats)))
                .collect()
        }
    };
    metrics.observe(
        "consumer_applied",
        "Events a consumer applied and acknowledged",
        read(|stats| Reading::Counter(stats.applied.load(Ordering::Relaxed))),
    );
    metrics.observe(
        "consumer_redeliveries",
        "Deliveries that were not the first of their event",
        read(|stats| Reading::Counter(stats.redelivered.load(Ordering::Relaxed))),
    );
    metrics.observe(
        "consumer_lag_milliseconds",
        "From the last applied event's occurrence to its application",
        read(|stats| Reading::Gauge(stats.lag_millis.load(Ordering::Relaxed))),
    );
}

/// The embedded bus (with its retention task) or NATS JetStream, with a
/// readiness check for it.
async fn open_bus(
    settings: &Settings,
    checks: &mut Vec<(&'static str, ReadinessCheck)>,
    background: &mut tokio::task::JoinSet<()>,
    workers: &CancellationToken,
) -> anyhow::Result<Arc<dyn EventBus>> {
    let max_age = std::time::Duration::from_secs(settings.bus.max_age_hours.saturating_mul(3600));
    match settings.bus.kind {
        BusKind::Embedded => {
            let bus = Arc::new(
                EmbeddedBus::open(&settings.data_dir.join("bus.sqlite"))
                    .await
                    .context("cannot open the embedded event bus")?,
            );
            background.spawn(prune_bus(bus.clone(), max_age, workers.clone()));
            Ok(bus)
        }
        BusKind::Nats => {
            let mut options = NatsOptions::new(&settings.bus.nats_url);
            options.max_age = max_age;
            let bus = Arc::new(NatsBus::connect(options).await?);
            let watched = bus.clone();
            checks.push((
                "nats",
                Arc::new(move || {
                    let connected = watched.is_connected();
                    Box::pin(async move {
                        if connected {
                            Ok(())
                        } else {
                            Err("not connected to NATS; reconnecting".to_owned())
                        }
                    })
                }),
            ));
            Ok(bus)
        }
    }
}

/// Keeps the bus log within its retention, hourly.
async fn prune_bus(bus: Arc<EmbeddedBus>, max_age: std::time::Duration, stop: CancellationToken) {
    loop {
        match bus.prune(max_age).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "bus messages past retention deleted"),
            Err(error) => tracing::warn!(%error, "bus retention failed; retrying in an hour"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(std::time::Duration::from_secs(3600)) => {}
        }
    }
}
