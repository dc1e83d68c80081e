//! The real binary in its embedded mode: one process, SQLite, embedded bus.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use liaison_bus::embedded::EmbeddedBus;
use liaison_bus::{ConsumerSpec, EventBus};
use liaison_proto::contacts::v1 as pb;
use liaison_tests::{dump_read_models, run_cli, Liaison};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

fn person(index: usize) -> pb::CreatePersonRequest {
    pb::CreatePersonRequest {
        given_name: format!("Given{index}"),
        family_name: "Loadtest".into(),
        emails: vec![pb::Email {
            address: format!("p{index}@example.org"),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// One reflection request, its answer.
async fn reflect(
    client: &mut ServerReflectionClient<tonic::transport::Channel>,
    request: MessageRequest,
) -> Option<MessageResponse> {
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut responses = client
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("reflection call")
        .into_inner();
    responses
        .message()
        .await
        .expect("message")
        .expect("a response")
        .message_response
}

async fn http_get(addr: &str, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect http");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generic_client_discovers_the_api_and_creates_and_lists_persons() {
    let dir = tempfile::tempdir().expect("dir");
    let liaison = Liaison::start(&dir.path().join("data"))
        .await
        .expect("start");

    let channel = tonic::transport::Channel::from_shared(liaison.grpc_url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut reflection = ServerReflectionClient::new(channel);
    let Some(MessageResponse::ListServicesResponse(list)) =
        reflect(&mut reflection, MessageRequest::ListServices(String::new())).await
    else {
        panic!("unexpected reflection answer")
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"liaison.contacts.v1.ContactService".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );

    // The descriptor a generic client builds its requests from.
    let Some(MessageResponse::FileDescriptorResponse(files)) = reflect(
        &mut reflection,
        MessageRequest::FileContainingSymbol("liaison.contacts.v1.ContactService".into()),
    )
    .await
    else {
        panic!("unexpected reflection answer")
    };
    let methods: Vec<String> = files
        .file_descriptor_proto
        .iter()
        .filter_map(|bytes| {
            <prost_types::FileDescriptorProto as prost::Message>::decode(bytes.as_slice()).ok()
        })
        .flat_map(|file| file.service)
        .flat_map(|service| service.method)
        .filter_map(|method| method.name)
        .collect();
    assert!(
        methods.contains(&"CreatePerson".to_owned()) && methods.contains(&"ListPersons".to_owned()),
        "{methods:?}"
    );

    // Older clients (and several current ones) still speak v1alpha.
    let channel = tonic::transport::Channel::from_shared(liaison.grpc_url())
        .expect("url")
        .connect()
        .await
        .expect("connect");
    let mut alpha =
        tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient::new(
            channel,
        );
    let request = tonic_reflection::pb::v1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            ),
        ),
    };
    let mut responses = alpha
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .expect("v1alpha reflection")
        .into_inner();
    let response = responses
        .message()
        .await
        .expect("message")
        .expect("a response");
    assert!(matches!(
        response.message_response,
        Some(tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(_))
    ));

    let mut contacts = liaison.contacts().await.expect("client");
    let created = contacts
        .create_person(person(1))
        .await
        .expect("create")
        .into_inner();
    let listed = contacts
        .list_persons(pb::ListContactsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.persons.len(), 1);
    assert_eq!(listed.persons[0].id, created.id);

    let ready = http_get(&liaison.http_addr, "/readyz").await;
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.contains("\"ready\":true"));
    assert!(
        liaison.log_text().matches("liaison is serving").count() == 1,
        "start-up is logged once"
    );
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
    tokio::time::sleep(Duration::from_millis(1_500)).await;
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
            let published =
                count_rows(&data.join("bus.sqlite"), "SELECT COUNT(*) FROM messages").await;
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
