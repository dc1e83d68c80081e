//! The real binary in its distributed mode: the contacts service as its own
//! process on PostgreSQL and NATS JetStream, and what happens to it when
//! either server goes away.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use liaison_bus::nats::{NatsBus, NatsOptions};
use liaison_bus::nats_server::NatsServer;
use liaison_bus::{ConsumerSpec, EventBus};
use liaison_proto::contacts::v1 as pb;
use liaison_tests::{
    dump_read_models_postgres, postgres_url, run_cli_with_env, Liaison, PgSchema, PostgresServer,
    Topology,
};
use tonic::Code;

use crate::common::person;

/// Everything the contacts stream of `nats_url` holds, in delivery order:
/// (position, stream id). Stops once `expected` arrived and nothing more
/// comes, or after 60 s.
async fn published(nats_url: &str, expected: usize) -> Vec<(u64, String)> {
    let bus = NatsBus::connect(NatsOptions::new(nats_url))
        .await
        .expect("connect the auditor");
    let mut consumer = bus
        .consumer(ConsumerSpec::new(
            format!("auditor{}", liaison_tests::free_port()),
            vec!["liaison.contacts.v1.>".into()],
        ))
        .await
        .expect("auditor consumer");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let batch = consumer
            .fetch(1_000, Duration::from_millis(500))
            .await
            .unwrap_or_default();
        if batch.is_empty() && seen.len() >= expected {
            break;
        }
        for delivery in batch {
            seen.push((
                delivery.envelope.global_position,
                delivery.envelope.stream_id.clone(),
            ));
            delivery.ack().await.expect("ack");
        }
    }
    seen
}

/// Each event of the log reached NATS once, in log order.
fn assert_published_once_in_order(published: &[(u64, String)], events: i64) {
    let positions: Vec<u64> = published.iter().map(|(position, _)| *position).collect();
    let unique: HashSet<&u64> = positions.iter().collect();
    assert_eq!(
        unique.len(),
        positions.len(),
        "an event was published twice"
    );
    assert_eq!(
        positions,
        (1..=u64::try_from(events).unwrap_or(0)).collect::<Vec<_>>(),
        "every event of the log, once, in order"
    );
}

/// A refused command: its code, message and how long the answer took.
type Failure = (Code, String, Duration);

/// Persons created by a few clients until stopped, about 100 commands/s
/// each: what was acknowledged and what was refused, observable as it goes.
struct SteadyLoad {
    stop: Arc<AtomicBool>,
    acknowledged: Arc<Mutex<Vec<String>>>,
    failures: Arc<Mutex<Vec<Failure>>>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl SteadyLoad {
    fn start(liaison: &Liaison, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let acknowledged = Arc::new(Mutex::new(Vec::new()));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let clients = (0..clients)
            .map(|client_index| {
                let channel = tonic::transport::Channel::from_shared(liaison.grpc_url())
                    .expect("url")
                    .connect_lazy();
                let (stop, acknowledged, failures) =
                    (stop.clone(), acknowledged.clone(), failures.clone());
                tokio::spawn(async move {
                    let mut client = pb::contact_service_client::ContactServiceClient::new(channel);
                    let mut index = 0;
                    while !stop.load(Ordering::Relaxed) {
                        index += 1;
                        let started = Instant::now();
                        match client
                            .create_person(person(client_index * 1_000_000 + index))
                            .await
                        {
                            Ok(response) => acknowledged
                                .lock()
                                .expect("lock")
                                .push(response.into_inner().id),
                            Err(status) => {
                                failures.lock().expect("lock").push((
                                    status.code(),
                                    status.message().to_owned(),
                                    started.elapsed(),
                                ));
                                tokio::time::sleep(Duration::from_millis(50)).await;
                            }
                        }
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                })
            })
            .collect();
        SteadyLoad {
            stop,
            acknowledged,
            failures,
            clients,
        }
    }

    fn acknowledged(&self) -> usize {
        self.acknowledged.lock().expect("lock").len()
    }

    fn failed(&self) -> usize {
        self.failures.lock().expect("lock").len()
    }

    /// Waits until `more` commands past those acknowledged now are.
    async fn acknowledges(&self, more: usize) {
        let target = self.acknowledged() + more;
        poll_until(
            Duration::from_secs(60),
            "the load to be acknowledged",
            || self.acknowledged() >= target,
        )
        .await;
    }

    /// Stops the clients; what was acknowledged and what was refused.
    async fn stop(self) -> (Vec<String>, Vec<Failure>) {
        self.stop.store(true, Ordering::Relaxed);
        for client in self.clients {
            let _ = client.await;
        }
        let acknowledged = self.acknowledged.lock().expect("lock").clone();
        let failures = self.failures.lock().expect("lock").clone();
        (acknowledged, failures)
    }
}

/// Polls `done` every 20 ms until it holds; fails the test after `limit`.
async fn poll_until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "waited {limit:?} for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `/readyz` until its answer satisfies `wanted`; returns it.
async fn readiness_until(liaison: &Liaison, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = crate::common::http_get(&liaison.http_addr, "/readyz").await;
        if wanted(&ready) {
            return ready;
        }
        assert!(Instant::now() < deadline, "readiness stayed: {ready}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn assert_all_present(liaison: &Liaison, ids: &[String]) {
    let mut client = liaison.contacts().await.expect("client");
    for id in ids {
        client
            .get_person(pb::GetContactRequest { id: id.clone() })
            .await
            .unwrap_or_else(|error| panic!("acknowledged person {id} lost: {error}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_client_works_the_same_against_the_distributed_topology() {
    let dir = tempfile::tempdir().expect("dir");
    let nats = NatsServer::start().expect("nats-server");
    let schema = PgSchema::new(&postgres_url());
    let topology = Topology::distributed(&schema.url, &schema.name, &nats.url());
    let liaison = Liaison::start_with(&dir.path().join("data"), &topology)
        .await
        .expect("start contacts on PostgreSQL and NATS");
    crate::common::api_round_trip(&liaison).await;
    let ready = crate::common::http_get(&liaison.http_addr, "/readyz").await;
    assert!(ready.contains("\"ready\":true"), "{ready}");
    assert_published_once_in_order(&published(&nats.url(), 1).await, 1);
    assert!(
        !dir.path().join("data").join("contacts.sqlite").exists(),
        "nothing went to SQLite"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_loses_nothing_acknowledged_and_publishes_each_event_once() {
    let dir = tempfile::tempdir().expect("dir");
    let nats = NatsServer::start().expect("nats-server");
    let schema = PgSchema::new(&postgres_url());
    let topology = Topology::distributed(&schema.url, &schema.name, &nats.url());
    let data = dir.path().join("data");
    let mut liaison = Liaison::start_with(&data, &topology).await.expect("start");

    let load = SteadyLoad::start(&liaison, 8);
    load.acknowledges(100).await;
    liaison.kill_hard();
    let (acknowledged, _) = load.stop().await;
    assert!(
        acknowledged.len() > 50,
        "the load ran: {}",
        acknowledged.len()
    );

    let mut liaison = Liaison::start_with(&data, &topology)
        .await
        .expect("restart");
    assert_all_present(&liaison, &acknowledged).await;
    let events = schema.count_events().await.expect("count events");
    assert_published_once_in_order(&published(&nats.url(), events as usize).await, events);
    liaison.stop().expect("clean stop");

    let live = dump_read_models_postgres(&schema).await.expect("dump");
    let output = run_cli_with_env(&["admin", "rebuild", "--target", "contacts"], &topology.env)
        .expect("rebuild");
    assert!(output.contains("read models rebuilt"), "{output}");
    let rebuilt = dump_read_models_postgres(&schema).await.expect("dump");
    assert_eq!(
        live, rebuilt,
        "the read models equal a rebuild from the log"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_nats_is_down_commands_go_on_and_are_published_once_when_it_returns() {
    let dir = tempfile::tempdir().expect("dir");
    let mut nats = NatsServer::start().expect("nats-server");
    let schema = PgSchema::new(&postgres_url());
    let topology = Topology::distributed(&schema.url, &schema.name, &nats.url());
    let liaison = Liaison::start_with(&dir.path().join("data"), &topology)
        .await
        .expect("start");

    let load = SteadyLoad::start(&liaison, 4);
    load.acknowledges(50).await;
    nats.kill();
    let ready = readiness_until(&liaison, |ready| ready.starts_with("HTTP/1.1 503")).await;
    assert!(ready.contains("nats"), "readiness names NATS: {ready}");
    // Commands go on while NATS is down.
    load.acknowledges(50).await;
    nats.resume().expect("nats back");
    readiness_until(&liaison, |ready| ready.starts_with("HTTP/1.1 200")).await;
    load.acknowledges(50).await;
    let (acknowledged, failures) = load.stop().await;
    assert!(
        failures.is_empty(),
        "commands failed while NATS was down: {failures:?}"
    );
    assert!(
        acknowledged.len() > 100,
        "the load ran: {}",
        acknowledged.len()
    );

    let events = schema.count_events().await.expect("count events");
    assert_eq!(events as usize, acknowledged.len(), "one event per create");
    let published = published(&nats.url(), acknowledged.len()).await;
    assert_published_once_in_order(&published, events);
    let streams: HashSet<String> = published.into_iter().map(|(_, stream)| stream).collect();
    for id in &acknowledged {
        assert!(
            streams.contains(&format!("contact-{id}")),
            "{id} not published"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_stops_promptly_while_nats_is_down_and_publishes_the_rest_on_its_next_start() {
    let dir = tempfile::tempdir().expect("dir");
    let mut nats = NatsServer::start().expect("nats-server");
    let schema = PgSchema::new(&postgres_url());
    let topology = Topology::distributed(&schema.url, &schema.name, &nats.url());
    let data = dir.path().join("data");
    let mut liaison = Liaison::start_with(&data, &topology).await.expect("start");
    let load = SteadyLoad::start(&liaison, 4);
    load.acknowledges(30).await;
    nats.kill();
    // Commands go on; their events wait in the outbox, the relay's
    // publish waits for NATS.
    readiness_until(&liaison, |ready| ready.starts_with("HTTP/1.1 503")).await;
    load.acknowledges(30).await;
    let (acknowledged, failures) = load.stop().await;
    assert!(failures.is_empty(), "{failures:?}");
    let took = liaison
        .stop_within(Duration::from_secs(10))
        .expect("a stop does not wait for NATS");
    assert!(took < Duration::from_secs(10), "{took:?}");

    nats.resume().expect("nats back");
    let liaison = Liaison::start_with(&data, &topology)
        .await
        .expect("restart");
    assert_all_present(&liaison, &acknowledged).await;
    let events = schema.count_events().await.expect("count events");
    assert_eq!(events as usize, acknowledged.len());
    assert_published_once_in_order(&published(&nats.url(), events as usize).await, events);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_fails_commands_fast_and_the_service_recovers_by_itself() {
    let dir = tempfile::tempdir().expect("dir");
    let nats = NatsServer::start().expect("nats-server");
    let postgres = PostgresServer::start().expect("private postgres");
    let schema = PgSchema::new(&postgres.url());
    let topology = Topology::distributed(&schema.url, &schema.name, &nats.url());
    let liaison = Liaison::start_with(&dir.path().join("data"), &topology)
        .await
        .expect("start");

    let load = SteadyLoad::start(&liaison, 4);
    load.acknowledges(50).await;
    postgres.stop_immediately().expect("stop postgres");
    let ready = readiness_until(&liaison, |ready| ready.starts_with("HTTP/1.1 503")).await;
    assert!(ready.contains("contacts-database"), "{ready}");
    // Callers see the outage (and are answered fast, checked below).
    poll_until(Duration::from_secs(30), "a refused command", || {
        load.failed() > 0
    })
    .await;
    postgres.resume().expect("postgres back");
    // No restart of liaison: it must find the server again by itself.
    let recovered = async {
        let mut client = liaison.contacts().await.expect("client");
        loop {
            if client.create_person(person(999_999_999)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), recovered)
        .await
        .expect("commands succeed again after the restart");
    load.acknowledges(30).await;
    let (acknowledged, failures) = load.stop().await;

    assert!(!failures.is_empty(), "the outage was seen by callers");
    eprintln!(
        "{} acknowledged, {} refused during the outage, e.g. {:?}",
        acknowledged.len(),
        failures.len(),
        failures.first()
    );
    for (code, message, took) in &failures {
        assert_eq!(*code, Code::Unavailable, "{message}");
        assert!(
            message.contains("postgres") || message.contains("database"),
            "the message says what is down: {message}"
        );
        assert!(
            *took < Duration::from_secs(10),
            "a command hung {took:?} instead of failing fast: {message}"
        );
    }
    assert_all_present(&liaison, &acknowledged).await;
    // A command whose commit reached the disk just as the server stopped is
    // refused to its caller yet stored: an outage makes some outcomes
    // unknown, never half-written. Each event has its read-model row.
    let events = schema.count_events().await.expect("count events");
    let stored = acknowledged.len() + 1;
    assert!(
        (stored..=stored + failures.len()).contains(&(events as usize)),
        "{events} events for {stored} acknowledged creates"
    );
    let pool = schema.pool().await.expect("pool");
    let persons: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contacts")
        .fetch_one(&pool)
        .await
        .expect("count persons");
    assert_eq!(persons, events, "every stored event has its read model");
    assert_published_once_in_order(&published(&nats.url(), events as usize).await, events);
}
