//! What the end-to-end tests of both topologies share.
#![allow(dead_code)]

pub mod web;

use liaison_proto::contacts::v1 as pb;
use liaison_tests::Liaison;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
use tonic_reflection::pb::v1::ServerReflectionRequest;

pub fn person(index: usize) -> pb::CreatePersonRequest {
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
pub async fn reflect(
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

pub async fn http_get(addr: &str, path: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect http");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    response
}

/// A generic gRPC client (reflection v1 and v1alpha) discovers the API,
/// creates and lists a person; the process reports ready and logged its
/// start once.
pub async fn api_round_trip(liaison: &Liaison) {
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

    let metrics = http_get(&liaison.http_addr, "/metrics").await;
    assert!(
        metrics.contains(
            "liaison_grpc_requests_total{method=\"/liaison.contacts.v1.ContactService/CreatePerson\",code=\"OK\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("liaison_events_appended_total{service=\"contacts\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("liaison_relay_backlog{service=\"contacts\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("liaison_grpc_request_duration_seconds_bucket"),
        "{metrics}"
    );

    let ready = http_get(&liaison.http_addr, "/readyz").await;
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    assert!(ready.contains("\"ready\":true"));
    assert!(
        liaison.log_text().matches("liaison is serving").count() == 1,
        "start-up is logged once"
    );
}
