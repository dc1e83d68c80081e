//! `liaison serve`: wires the targets of this process together.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use liaison_bus::embedded::EmbeddedBus;
use liaison_bus::nats::{NatsBus, NatsOptions};
use liaison_bus::{ConsumerStats, EventBus, Relay};
use liaison_eventstore::EventStore;
use liaison_runtime::grpc::{GrpcServer, IdentityPolicy};
use liaison_runtime::http::headers::{security_headers, HeaderPolicy};
use liaison_runtime::http::server::{serve_with_limits, ConnectionStats, HttpLimits};
use liaison_runtime::http::{MetricsAccess, ReadinessCheck};
use liaison_runtime::metrics::{Metrics, Reading};
use liaison_runtime::settings::BusKind;
use liaison_runtime::Settings;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::services::{self, Process};
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

/// Serves `targets` on the addresses of `settings` until SIGINT or SIGTERM.
pub async fn serve(settings: Settings, targets: Targets) -> anyhow::Result<()> {
    let listeners = Listeners::bind(&settings).await?;
    serve_on(
        settings,
        targets,
        listeners,
        liaison_runtime::shutdown::on_signals(),
    )
    .await
}

/// Where a process takes calls: gRPC and HTTP, and `/metrics` when it
/// has an internal address of its own (`http.metrics_addr`; bound from the
/// settings when `None`).
pub struct Listeners {
    pub grpc: TcpListener,
    pub http: TcpListener,
    pub metrics: Option<TcpListener>,
}

impl Listeners {
    /// Listens on the addresses of `settings`.
    pub async fn bind(settings: &Settings) -> anyhow::Result<Self> {
        let bind = |addr: SocketAddr, what: &'static str| {
            listen(addr).with_context(|| format!("cannot listen for {what} on {addr}"))
        };
        Ok(Listeners {
            grpc: bind(settings.grpc_addr, "gRPC")?,
            http: bind(settings.http_addr, "HTTP")?,
            metrics: None,
        })
    }
}

/// Connections the kernel may hold for the accept loop (capped by
/// `net.core.somaxconn`). Tokio's 1,024 overflowed under a connection
/// flood, and the SYNs of others were dropped (a second's retry each).
const LISTEN_BACKLOG: u32 = 4096;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serves `targets` on `listeners` until `shutdown` is cancelled, then
/// stops in reverse start order.
pub async fn serve_on(
    settings: Settings,
    targets: Targets,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let _lock = if uses_data_dir(&settings, &targets)? {
        Some(lock_data_dir(&settings.data_dir)?)
    } else {
        None
    };
    let Listeners {
        grpc: grpc_listener,
        http: http_listener,
        metrics: metrics_listener,
    } = listeners;
    let http_limits = HttpLimits::from_settings(&settings.http)
        .map_err(|error| anyhow::anyhow!("http: {error}"))?
        .within_open_file_limit();
    let metrics_access = MetricsAccess::from_settings(&settings.http)
        .map_err(|error| anyhow::anyhow!("http: {error}"))?;
    let metrics_listener = match (&metrics_access, metrics_listener) {
        (MetricsAccess::Elsewhere, None) => {
            let addr = settings.http.metrics_addr.parse::<SocketAddr>()?;
            Some(listen(addr).with_context(|| format!("cannot listen for metrics on {addr}"))?)
        }
        (MetricsAccess::Elsewhere, Some(listener)) => Some(listener),
        (_, _) => None,
    };
    let grpc_addr = grpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;

    let mut checks: Vec<(String, ReadinessCheck)> = Vec::new();
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

    // Start order: every target opens its storage, then each starts with
    // the others open (an in-process peer is reachable from the start).
    let mut opened = BTreeMap::new();
    for target in &targets.0 {
        opened.insert(*target, services::entry(*target).open(&settings).await?);
    }
    let process = Process {
        settings: &settings,
        opened: &opened,
        bus: bus.clone(),
        grpc_addr,
        identity_key,
    };
    let mut consumers: Vec<(String, Arc<ConsumerStats>)> = Vec::new();
    let mut health_names = Vec::new();
    let mut router = axum::Router::new();
    for (target, open) in &opened {
        checks.push((
            format!("{target}-database"),
            services::database_check(open.read_pool.clone()),
        ));
        let part = services::entry(*target).start(open, &process).await?;
        if let Some(routes) = part.grpc {
            health_names.push(routes.health_name);
            grpc = routes.add_to(grpc);
        }
        for consumer in part.consumers {
            consumers.push((consumer.name().to_owned(), consumer.stats()));
            background.spawn(consumer.run(workers.clone()));
        }
        if let Some(http) = part.http {
            router = router.merge(http);
        }
    }
    observe_consumers(&metrics, consumers);
    let mut relays = Vec::new();
    for open in opened.values().filter(|open| open.publishes_events) {
        let relay = Relay::new(open.store.clone(), bus.clone());
        relays.push((open.store.clone(), relay.published_position()));
        background.spawn(relay.run(workers.clone()));
    }
    observe_stores(&metrics, relays);

    let grpc_task = tokio::spawn(grpc.serve(grpc_listener, shutdown.clone()));
    let connections = Arc::new(ConnectionStats::default());
    observe_connections(&metrics, connections.clone());
    if let Some(listener) = metrics_listener {
        tracing::info!(metrics = %listener.local_addr()?, "metrics on their own address");
        background.spawn(serve_with_limits(
            listener,
            liaison_runtime::http::metrics_routes(metrics.clone()),
            http_limits.clone(),
            Arc::new(ConnectionStats::default()),
            shutdown.clone(),
        ));
    }
    let header_policy = Arc::new(HeaderPolicy {
        hsts: settings.http.hsts,
        proxies: http_limits.trusted_proxies.clone(),
    });
    let router = liaison_runtime::http::probe_routes(checks, metrics, metrics_access)
        .merge(router)
        .layer(axum::middleware::from_fn_with_state(
            header_policy,
            security_headers,
        ));
    let http_task = tokio::spawn(serve_with_limits(
        http_listener,
        router,
        http_limits,
        connections,
        shutdown.clone(),
    ));

    tracing::info!(
        targets = %targets,
        grpc = %grpc_addr,
        http = %http_addr,
        web = %if targets.0.contains(&Target::Gateway) {
            format!("http://{http_addr}/")
        } else {
            "not in this process".to_owned()
        },
        data_dir = %settings.data_dir.display(),
        bus = ?settings.bus.kind,
        startup_ms = started.elapsed().as_millis() as u64,
        "liaison is serving"
    );

    // Last: probes see SERVING only once everything above is in place.
    for name in health_names {
        health
            .set_service_status(name, tonic_health::ServingStatus::Serving)
            .await;
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
    for open in opened.values().rev() {
        open.store.close().await;
    }
    bus.close().await;
    tracing::info!("liaison stopped");
    Ok(())
}

/// Whether the targets keep anything in the data dir (a SQLite database
/// or the embedded bus), which this process must then own.
pub fn uses_data_dir(settings: &Settings, targets: &Targets) -> anyhow::Result<bool> {
    if settings.bus.kind == BusKind::Embedded {
        return Ok(true);
    }
    for target in &targets.0 {
        if services::entry(*target)
            .database_url(settings)?
            .starts_with("sqlite:")
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Events appended and the relay backlog of each store, read at each scrape.
type RelayedStore = (Arc<dyn EventStore>, Arc<std::sync::atomic::AtomicU64>);

fn observe_connections(metrics: &Metrics, stats: Arc<ConnectionStats>) {
    let open = stats.clone();
    metrics.observe(
        "http_connections_open",
        "HTTP connections open on the public port",
        move || {
            vec![(
                Vec::new(),
                Reading::Gauge(open.open.load(Ordering::Relaxed) as i64),
            )]
        },
    );
    metrics.observe(
        "http_connections_closed",
        "HTTP connections refused or closed by a limit, by reason",
        move || {
            [
                ("total_limit", &stats.refused_total),
                ("address_limit", &stats.refused_per_address),
                ("request_timeout", &stats.timed_out_requests),
                ("idle", &stats.closed_idle),
                ("evicted_waiting", &stats.evicted),
            ]
            .into_iter()
            .map(|(reason, count)| {
                (
                    vec![("reason", reason.to_owned())],
                    Reading::Counter(count.load(Ordering::Relaxed)),
                )
            })
            .collect()
        },
    );
}

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
fn observe_consumers(metrics: &Metrics, consumers: Vec<(String, Arc<ConsumerStats>)>) {
    let consumers = Arc::new(consumers);
    let read = |pick: fn(&ConsumerStats) -> Reading| {
        let consumers = consumers.clone();
        move || {
            consumers
                .iter()
                .map(|(name, stats)| (vec![("consumer", name.clone())], pick(stats)))
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
    checks: &mut Vec<(String, ReadinessCheck)>,
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
                "nats".to_owned(),
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
