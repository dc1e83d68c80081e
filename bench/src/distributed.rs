//! The distributed mode's workloads: the contacts service as its own process
//! on PostgreSQL and NATS JetStream, the relay and a consumer, each beside
//! the ceiling of the same machine measured in the same run.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures_util::StreamExt;
use hdrhistogram::Histogram;
use liaison_bus::nats::{NatsBus, NatsOptions};
use liaison_bus::nats_server::NatsServer;
use liaison_bus::{ConsumerRunner, ConsumerSpec, EventBus, EventHandler, HandlerError, Relay};
use liaison_eventstore::postgres::{PgEventStore, PgStoreOptions};
use liaison_eventstore::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreComponents,
    StreamAppend,
};
use liaison_proto::contacts::v1::contact_service_client::ContactServiceClient;
use liaison_proto::events::v1::EventEnvelope;
use tokio_util::sync::CancellationToken;

use crate::process::Server;
use crate::{connect, create_category, interleaved_rounds, person, progress, Table};

const CONTACTS_HEALTH: &str = "liaison.contacts.v1.ContactService";

/// Events in the backlog the relay and the consumer catch up with.
const BACKLOG: u64 = 100_000;
/// Commands per second while the propagation lag is measured.
const STEADY_RATE: u64 = 1_000;

/// Schemas made for this run, dropped at its end.
struct Schemas {
    url: String,
    names: Vec<String>,
}

impl Schemas {
    fn name(&mut self, purpose: &str) -> String {
        let name = format!("bench_{purpose}_{}", std::process::id());
        self.names.push(name.clone());
        name
    }

    async fn drop_all(&self) -> anyhow::Result<()> {
        let pool = sqlx::PgPool::connect(&self.url).await?;
        for name in &self.names {
            sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .execute(&pool)
                .await?;
        }
        pool.close().await;
        Ok(())
    }
}

fn contacts_env(postgres_url: &str, schema: &str, nats_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("LIAISON__CONTACTS__DATABASE_URL", postgres_url.to_owned()),
        ("LIAISON__CONTACTS__DATABASE_SCHEMA", schema.to_owned()),
        ("LIAISON__BUS__KIND", "nats".to_owned()),
        ("LIAISON__BUS__NATS_URL", nats_url.to_owned()),
    ]
}

/// Runs every distributed workload; returns its section of the report.
pub async fn run(liaison: &Path, duration: Duration, postgres_url: &str) -> anyhow::Result<String> {
    let work = tempfile::tempdir()?;
    let mut schemas = Schemas {
        url: postgres_url.to_owned(),
        names: Vec::new(),
    };
    let result = measure(liaison, duration, postgres_url, &mut schemas, work.path()).await;
    schemas.drop_all().await?;
    result
}

async fn measure(
    liaison: &Path,
    duration: Duration,
    postgres_url: &str,
    schemas: &mut Schemas,
    work: &Path,
) -> anyhow::Result<String> {
    let mut table = Table::default();
    let mut notes = String::new();

    progress("(e) commands on PostgreSQL + NATS, beside the PostgreSQL ceiling");
    // (e) Commands, interleaved with the PostgreSQL ceiling.
    let nats = NatsServer::start()?;
    let ceiling = Server::ceiling_postgres(postgres_url, &schemas.name("ceiling")).await?;
    let contacts_schema = schemas.name("contacts");
    let contacts = Server::liaison_target(
        liaison,
        &work.join("contacts"),
        "contacts",
        CONTACTS_HEALTH,
        &contacts_env(postgres_url, &contacts_schema, &nats.url()),
    )
    .await?;
    let category = create_category(&contacts).await?;
    for clients in [1, 32] {
        let (ceiling_all, create_all, ratios) =
            interleaved_rounds(&ceiling, &contacts, clients, duration, &category).await?;
        let median = ratios[ratios.len() / 2];
        table.row(
            "(e) ceiling: tonic + 1 PostgreSQL append/tx",
            &ceiling_all,
            None,
        );
        table.row(
            "(e) CreatePerson, PostgreSQL + NATS, own process",
            &create_all,
            Some(median),
        );
        let rounds: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        let _ = writeln!(
            notes,
            "CreatePerson (PostgreSQL + NATS)/ceiling at {clients} client(s): median {median:.2}{}, rounds {}.",
            if clients == 32 { " (goal >= 1.5)" } else { "" },
            rounds.join(", ")
        );
    }
    drop(ceiling);
    drop(contacts);

    // (f) JetStream ceilings, then the relay and a consumer on the same server.
    progress("(f) JetStream publish ceiling");
    let publish_ceiling = jetstream_publish_ceiling(&nats.url()).await?;
    progress("(f) JetStream pull ceiling");
    let pull_ceiling = jetstream_pull_ceiling(&nats.url()).await?;
    progress("(f) relay catch-up");
    let relay_rate = relay_catch_up(postgres_url, schemas, &nats.url()).await?;
    progress("(f) consumer catch-up");
    let consumer_rate = consumer_catch_up(postgres_url, schemas, &nats.url()).await?;
    let _ = writeln!(notes);
    let _ = writeln!(
        notes,
        "| (f) backlog of {BACKLOG} events | events/s | ceiling | ratio | goal |"
    );
    let _ = writeln!(notes, "| --- | --- | --- | --- | --- |");
    let _ = writeln!(
        notes,
        "| relay: PostgreSQL log to JetStream | {relay_rate:.0} | pipelined publish {publish_ceiling:.0} | {:.2} | >= 0.5 x |",
        relay_rate / publish_ceiling
    );
    let _ = writeln!(
        notes,
        "| consumer: JetStream to a PostgreSQL projection | {consumer_rate:.0} | pull + ack each {pull_ceiling:.0} | {:.2} | >= 20,000/s |",
        consumer_rate / pull_ceiling
    );
    drop(nats);

    progress("(g) propagation lag");
    // (g) Propagation lag at a steady rate, on fresh servers.
    let nats = NatsServer::start()?;
    let lag_schema = schemas.name("lagcontacts");
    let contacts = Server::liaison_target(
        liaison,
        &work.join("lag"),
        "contacts",
        CONTACTS_HEALTH,
        &contacts_env(postgres_url, &lag_schema, &nats.url()),
    )
    .await?;
    let lag = propagation_lag(&contacts, postgres_url, schemas, &nats.url(), duration).await?;
    let _ = writeln!(notes);
    let _ = writeln!(
        notes,
        "(g) propagation lag, command acknowledged to event applied by a consumer in another process, at {STEADY_RATE} commands/s for {}s: {} events, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (goal p99 < 50 ms).",
        duration.as_secs(),
        lag.len(),
        lag.value_at_quantile(0.5) as f64 / 1e3,
        lag.value_at_quantile(0.99) as f64 / 1e3,
        lag.max() as f64 / 1e3,
    );

    let mut out = table.render();
    let _ = writeln!(out);
    out.push_str(&notes);
    Ok(out)
}

/// Polls `done` until it holds; an error after two minutes.
async fn wait_for(what: &str, done: impl Fn() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done() {
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Messages of about an event's size, all published before any ack is awaited.
async fn jetstream_publish_ceiling(nats_url: &str) -> anyhow::Result<f64> {
    let client = async_nats::connect(nats_url).await?;
    let context = jetstream::new(client);
    context
        .get_or_create_stream(jetstream::stream::Config {
            name: "BENCH".into(),
            subjects: vec!["bench.>".into()],
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        })
        .await?;
    let payload = bytes::Bytes::from(vec![7u8; 200]);
    let started = Instant::now();
    // As many acks in flight as the client allows (5,000), minus a margin.
    let mut acks = std::collections::VecDeque::with_capacity(4_096);
    for n in 0..BACKLOG {
        if acks.len() >= 4_096 {
            if let Some(ack) = acks.pop_front() {
                let _: jetstream::publish::PublishAck = ack.await?;
            }
        }
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", n.to_string().as_str());
        acks.push_back(
            context
                .publish_with_headers("bench.event", headers, payload.clone())
                .await?,
        );
    }
    for ack in acks {
        ack.await?;
    }
    Ok(BACKLOG as f64 / started.elapsed().as_secs_f64())
}

/// A durable pull consumer acking each message of the BENCH stream.
async fn jetstream_pull_ceiling(nats_url: &str) -> anyhow::Result<f64> {
    let client = async_nats::connect(nats_url).await?;
    let context = jetstream::new(client.clone());
    let stream = context.get_stream("BENCH").await?;
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            durable_name: Some("ceiling".into()),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ..Default::default()
        })
        .await?;
    let started = Instant::now();
    let mut messages = consumer.messages().await?;
    let mut received = 0;
    while received < BACKLOG {
        let next = tokio::time::timeout(Duration::from_secs(10), messages.next()).await;
        let Ok(Some(message)) = next else {
            anyhow::bail!("the pull stream stopped after {received} messages");
        };
        message
            .map_err(|e| anyhow::anyhow!(e))?
            .ack()
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        received += 1;
    }
    client.flush().await?;
    Ok(BACKLOG as f64 / started.elapsed().as_secs_f64())
}

/// Fills a PostgreSQL log with the backlog, then times the relay publishing it.
async fn relay_catch_up(
    postgres_url: &str,
    schemas: &mut Schemas,
    nats_url: &str,
) -> anyhow::Result<f64> {
    let mut options = PgStoreOptions::new(postgres_url);
    options.schema = Some(schemas.name("relay"));
    let store = Arc::new(
        PgEventStore::open(
            options,
            StoreComponents {
                service: "benchsource",
                entity_of: liaison_eventstore::no_entity,
                migrations: &[],
                projections: Vec::new(),
                consumers: Vec::new(),
            },
        )
        .await?,
    );
    let mut appended = 0;
    let mut stream = 0u64;
    while appended < BACKLOG {
        let mut request = AppendRequest {
            metadata: EventMetadata {
                actor: "bench".into(),
                occurred_at_micros: liaison_eventstore::now_micros(),
                ..Default::default()
            },
            ..Default::default()
        };
        for _ in 0..100 {
            stream += 1;
            request.streams.push(StreamAppend {
                stream_id: format!("thing-{stream}"),
                expected: ExpectedVersion::NoStream,
                events: (0..10)
                    .map(|_| NewEvent {
                        event_id: uuid::Uuid::now_v7(),
                        event_type: "thing.happened".into(),
                        schema_version: 1,
                        payload: vec![7u8; 150],
                    })
                    .collect(),
                encrypt_for_subject: None,
            });
            appended += 10;
        }
        store.append(request).await?;
    }
    let bus: Arc<dyn EventBus> = Arc::new(NatsBus::connect(NatsOptions::new(nats_url)).await?);
    let relay = Relay::new(store.clone(), bus);
    let published = relay.published_position();
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(relay.run(shutdown.clone()));
    wait_for("the relay to publish the backlog", || {
        published.load(Ordering::Relaxed) >= BACKLOG
    })
    .await?;
    let rate = BACKLOG as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();
    task.await?;
    store.close().await;
    Ok(rate)
}

/// The consumer projection of the catch-up: one row per event.
struct Seen;

#[async_trait::async_trait]
impl liaison_eventstore::ConsumerProjection<sqlx::Postgres> for Seen {
    fn consumer_name(&self) -> &'static str {
        "bench"
    }
    async fn apply(
        &self,
        conn: &mut sqlx::PgConnection,
        envelope: &EventEnvelope,
    ) -> Result<(), liaison_eventstore::ProjectionError> {
        self.apply_batch(conn, std::slice::from_ref(envelope)).await
    }

    /// A batch in one statement, as a real projection would write it.
    async fn apply_batch(
        &self,
        conn: &mut sqlx::PgConnection,
        envelopes: &[EventEnvelope],
    ) -> Result<(), liaison_eventstore::ProjectionError> {
        let mut insert =
            sqlx::QueryBuilder::<sqlx::Postgres>::new("INSERT INTO seen (event_id, stream_id) ");
        insert.push_values(envelopes, |mut row, envelope| {
            row.push_bind(envelope.event_id.clone())
                .push_bind(envelope.stream_id.clone());
        });
        insert.build().execute(conn).await?;
        Ok(())
    }
}

const SEEN_SCHEMA: &[liaison_eventstore::migrate::Migration] =
    &[liaison_eventstore::migrate::Migration {
        version: 1,
        description: "events seen",
        sql: "CREATE TABLE seen (event_id TEXT PRIMARY KEY, stream_id TEXT NOT NULL)",
    }];

async fn consumer_store(postgres_url: &str, schema: String) -> anyhow::Result<Arc<PgEventStore>> {
    let mut options = PgStoreOptions::new(postgres_url);
    options.schema = Some(schema);
    Ok(Arc::new(
        PgEventStore::open(
            options,
            StoreComponents {
                service: "benchsink",
                entity_of: liaison_eventstore::no_entity,
                migrations: SEEN_SCHEMA,
                projections: Vec::new(),
                consumers: vec![Arc::new(Seen)],
            },
        )
        .await?,
    ))
}

/// Times a consumer applying the relay's backlog to a PostgreSQL projection.
async fn consumer_catch_up(
    postgres_url: &str,
    schemas: &mut Schemas,
    nats_url: &str,
) -> anyhow::Result<f64> {
    let store = consumer_store(postgres_url, schemas.name("consumer")).await?;
    let bus: Arc<dyn EventBus> = Arc::new(NatsBus::connect(NatsOptions::new(nats_url)).await?);
    let runner = ConsumerRunner::new(
        bus,
        ConsumerSpec::new("benchsink", vec!["liaison.benchsource.v1.>".into()]),
        Arc::new(liaison_bus::StoreHandler::new(store.clone(), "bench")),
    );
    let stats = runner.stats();
    let shutdown = CancellationToken::new();
    let started = Instant::now();
    let task = tokio::spawn(runner.run(shutdown.clone()));
    wait_for("the consumer to apply the backlog", || {
        stats.applied.load(Ordering::Relaxed) >= BACKLOG
    })
    .await?;
    let rate = BACKLOG as f64 / started.elapsed().as_secs_f64();
    shutdown.cancel();
    task.await?;
    store.close().await;
    Ok(rate)
}

/// When each side of an event happened: its command's acknowledgement to
/// the caller, its application by the consumer.
#[derive(Default)]
struct Moments {
    acknowledged: HashMap<String, Instant>,
    applied: HashMap<String, Instant>,
    lag_us: Vec<u64>,
}

impl Moments {
    fn record(
        &mut self,
        stream_id: String,
        acknowledged: Option<Instant>,
        applied: Option<Instant>,
    ) {
        let (ack, done) = match (acknowledged, applied) {
            (Some(ack), None) => match self.applied.remove(&stream_id) {
                Some(done) => (ack, done),
                None => {
                    self.acknowledged.insert(stream_id, ack);
                    return;
                }
            },
            (None, Some(done)) => match self.acknowledged.remove(&stream_id) {
                Some(ack) => (ack, done),
                None => {
                    self.applied.insert(stream_id, done);
                    return;
                }
            },
            _ => return,
        };
        // Applied before the caller heard back: no lag at all.
        let lag = done.saturating_duration_since(ack);
        self.lag_us.push(lag.as_micros().max(1) as u64);
    }
}

/// Applies like the store handler, then notes when each event was applied.
struct TimedHandler {
    inner: liaison_bus::StoreHandler,
    moments: Arc<Mutex<Moments>>,
}

#[async_trait::async_trait]
impl EventHandler for TimedHandler {
    async fn handle(&self, batch: &[EventEnvelope]) -> Result<(), HandlerError> {
        self.inner.handle(batch).await?;
        let now = Instant::now();
        let mut moments = self.moments.lock().unwrap_or_else(|p| p.into_inner());
        for envelope in batch {
            moments.record(envelope.stream_id.clone(), None, Some(now));
        }
        Ok(())
    }
}

/// Open-loop commands at a steady rate to the contacts process; this process
/// consumes their events into a PostgreSQL projection and measures, per
/// event, the time from the command's acknowledgement to its application.
async fn propagation_lag(
    contacts: &Server,
    postgres_url: &str,
    schemas: &mut Schemas,
    nats_url: &str,
    duration: Duration,
) -> anyhow::Result<Histogram<u64>> {
    let store = consumer_store(postgres_url, schemas.name("lagsink")).await?;
    let bus: Arc<dyn EventBus> = Arc::new(NatsBus::connect(NatsOptions::new(nats_url)).await?);
    let moments = Arc::new(Mutex::new(Moments::default()));
    let runner = ConsumerRunner::new(
        bus,
        ConsumerSpec::new("benchsink", vec!["liaison.contacts.v1.>".into()]),
        Arc::new(TimedHandler {
            inner: liaison_bus::StoreHandler::new(store.clone(), "bench"),
            moments: moments.clone(),
        }),
    );
    let stats = runner.stats();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(shutdown.clone()));

    let channel = connect(contacts).await?;
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / STEADY_RATE));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let total = STEADY_RATE * duration.as_secs();
    let mut calls = Vec::with_capacity(total as usize);
    for n in 0..total {
        ticker.tick().await;
        let mut client = ContactServiceClient::new(channel.clone());
        let moments = moments.clone();
        calls.push(tokio::spawn(async move {
            let created = client.create_person(person(n, "")).await?.into_inner();
            let now = Instant::now();
            moments.lock().unwrap_or_else(|p| p.into_inner()).record(
                format!("contact-{}", created.id),
                Some(now),
                None,
            );
            anyhow::Ok(())
        }));
    }
    for call in calls {
        call.await??;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while stats.applied.load(Ordering::Relaxed) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    shutdown.cancel();
    task.await?;
    store.close().await;
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    for lag in &moments.lock().unwrap_or_else(|p| p.into_inner()).lag_us {
        histogram.record(*lag)?;
    }
    anyhow::ensure!(
        histogram.len() == total,
        "{} of {total} events were seen on both sides",
        histogram.len()
    );
    Ok(histogram)
}
