//! The real binary in its embedded mode: one process, SQLite, embedded bus.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use liaison_bus::embedded::EmbeddedBus;
use liaison_bus::{ConsumerSpec, EventBus};
use liaison_proto::contacts::v1 as pb;
use liaison_tests::{dump_read_models, run_cli, Liaison};

use crate::common::person;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_client_discovers_the_api_and_creates_and_lists_persons() {
    let dir = tempfile::tempdir().expect("dir");
    let liaison = Liaison::start(&dir.path().join("data"))
        .await
        .expect("start");
    crate::common::api_round_trip(&liaison).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_dash_nine_under_load_loses_nothing_acknowledged_and_publishes_once() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let mut liaison = Liaison::start(&data).await.expect("start");

    // Load: 8 clients creating persons; remember what was acknowledged.
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut workers = Vec::new();
    for worker in 0..8 {
        let mut client = liaison.contacts().await.expect("client");
        let acknowledged = acknowledged.clone();
        workers.push(tokio::spawn(async move {
            for index in 0..100_000 {
                match client
                    .create_person(person(worker * 1_000_000 + index))
                    .await
                {
                    Ok(response) => acknowledged
                        .lock()
                        .expect("lock")
                        .push(response.into_inner().id),
                    Err(_) => return,
                }
            }
        }));
    }
    // Killed in the middle of the load, once it is well under way.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acknowledged.lock().expect("lock").len() < 200 {
        assert!(std::time::Instant::now() < deadline, "the load never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    liaison.kill_hard();
    for worker in workers {
        let _ = worker.await;
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();
    assert!(
        acknowledged.len() > 50,
        "the load ran: {} acknowledged",
        acknowledged.len()
    );
    eprintln!("{} creates acknowledged before kill -9", acknowledged.len());

    // Restart on the same data: every acknowledged person is there.
    let mut liaison = Liaison::start(&data).await.expect("restart");
    let mut client = liaison.contacts().await.expect("client");
    for id in &acknowledged {
        client
            .get_person(pb::GetContactRequest { id: id.clone() })
            .await
            .unwrap_or_else(|e| panic!("{id} lost: {e}"));
    }
    let listed = client
        .list_persons(pb::ListContactsRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(listed.total_count >= acknowledged.len() as u64);

    // Let the relay catch up, then stop cleanly.
    let database = data.join("contacts.sqlite");
    let caught_up = async {
        loop {
            let events = count_rows(&database, "SELECT COUNT(*) FROM events").await;
            let published = count_rows(
                &data.join("bus.sqlite"),
                "SELECT COUNT(*) FROM messages WHERE subject LIKE 'liaison.contacts.%'",
            )
            .await;
            if events == published {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), caught_up)
        .await
        .expect("relay caught up");
    liaison.stop().expect("clean stop");

    // The read models equal a rebuild from the log.
    let live = dump_read_models(&database).await.expect("dump live");
    let output = run_cli(&[
        "admin",
        "rebuild",
        "--data-dir",
        data.to_str().expect("utf-8 path"),
    ])
    .expect("rebuild");
    assert!(output.contains("read models rebuilt"), "{output}");
    let rebuilt = dump_read_models(&database).await.expect("dump rebuilt");
    assert_eq!(live, rebuilt);

    // Every event reached the bus exactly once, in log order.
    let events = count_rows(&database, "SELECT COUNT(*) FROM events").await;
    let bus = EmbeddedBus::open(&data.join("bus.sqlite"))
        .await
        .expect("bus");
    let mut consumer = bus
        .consumer(ConsumerSpec::new(
            "e2e-auditor",
            vec!["liaison.contacts.v1.>".into()],
        ))
        .await
        .expect("consumer");
    let mut positions = Vec::new();
    loop {
        let batch = consumer
            .fetch(1_000, Duration::from_millis(300))
            .await
            .expect("fetch");
        if batch.is_empty() {
            break;
        }
        for delivery in batch {
            positions.push(delivery.envelope.global_position);
            delivery.ack().await.expect("ack");
        }
    }
    assert_eq!(positions.len() as i64, events, "one message per event");
    assert_eq!(
        positions,
        (1..=events as u64).collect::<Vec<_>>(),
        "in order, none twice"
    );
    let unique: HashSet<_> = positions.iter().collect();
    assert_eq!(unique.len(), positions.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_prints_config_masked_and_guards_the_data_dir() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let output = std::process::Command::new(liaison_tests::binary())
        .args(["config", "--data-dir", data.to_str().expect("path")])
        .env("LIAISON__SECURITY__INTERNAL_TOKEN", "very-secret-token")
        .output()
        .expect("config");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        printed.contains("internal_token = \"********\""),
        "{printed}"
    );
    assert!(!printed.contains("very-secret-token"));

    // The keys of earlier versions still place each service's settings,
    // printed where they now live, secrets masked.
    let output = std::process::Command::new(liaison_tests::binary())
        .args(["config", "--data-dir", data.to_str().expect("path")])
        .env("LIAISON__AUTH__ADMIN_PASSWORD", "first-admin-secret")
        .env("LIAISON__AUTH__SESSION_HOURS", "3")
        .env("LIAISON__CONTACTS__DATABASE_SCHEMA", "book")
        .env(
            "LIAISON__SERVICES__RELATIONS__DATABASE_URL",
            "postgres://liaison:pg-secret@db/relations",
        )
        .env("LIAISON__PEERS__RELATIONS", "http://relations:50051")
        .output()
        .expect("config");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    for shown in [
        "[services.gateway.auth]",
        "session_hours = 3",
        "admin_password = \"********\"",
        "database_schema = \"book\"",
        "postgres://liaison:********@db/relations",
        "relations = \"http://relations:50051\"",
    ] {
        assert!(printed.contains(shown), "{shown} in\n{printed}");
    }
    for secret in ["first-admin-secret", "pg-secret"] {
        assert!(!printed.contains(secret), "{secret} shown");
    }
    for (key, value, named) in [
        (
            "LIAISON__SERVICES__CONTCTS__DATABASE_URL",
            "",
            "services.contcts",
        ),
        ("LIAISON__PEERS__BILLINGZ", "http://b:1", "peers.billingz"),
        ("LIAISON__AUTH__SESSION_HOURS", "0", "auth.session_hours"),
        (
            "LIAISON__CONTACTS__DATABASE_URL",
            "mysql://db/x",
            "contacts.database_url",
        ),
    ] {
        let error = liaison_tests::run_cli_with_env(
            &["config", "--data-dir", data.to_str().expect("path")],
            &[(key.to_owned(), value.to_owned())],
        )
        .expect_err(key);
        assert!(error.to_string().contains(named), "{key}: {error}");
    }

    let liaison = Liaison::start(&data).await.expect("start");
    let error = run_cli(&[
        "admin",
        "rebuild",
        "--data-dir",
        data.to_str().expect("path"),
    ])
    .expect_err("locked");
    assert!(
        error
            .to_string()
            .contains("in use by another liaison process"),
        "{error}"
    );
    drop(liaison);

    let error = run_cli(&["serve", "--target", "billingz"]).expect_err("bad target");
    assert!(
        error.to_string().contains("valid targets: all, contacts"),
        "{error}"
    );
}

async fn count_rows(database: &std::path::Path, sql: &str) -> i64 {
    let pool =
        sqlx::SqlitePool::connect_with(liaison_eventstore::sqlite::connect_options(database))
            .await
            .expect("open database");
    let count = sqlx::query_scalar(sql)
        .fetch_one(&pool)
        .await
        .expect("count");
    pool.close().await;
    count
}
