//! An internal token, when configured, guards every gRPC call but health checks.

use liaison_runtime::grpc::GrpcServer;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::ServerReflectionRequest;

async fn start(token: &str) -> (Channel, CancellationToken) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = CancellationToken::new();
    tokio::spawn(
        GrpcServer::new()
            .require_token(token)
            .serve(listener, shutdown.clone()),
    );
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("url")
        .connect()
        .await
        .expect("connect");
    (channel, shutdown)
}

async fn list_services(channel: Channel, authorization: Option<&str>) -> Result<(), tonic::Status> {
    let mut request = tonic::Request::new(tokio_stream::iter(vec![ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    }]));
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().expect("header"));
    }
    let mut stream = ServerReflectionClient::new(channel)
        .server_reflection_info(request)
        .await?
        .into_inner();
    stream.message().await?;
    Ok(())
}

#[tokio::test]
async fn calls_need_the_token_but_health_checks_do_not() {
    let (channel, shutdown) = start("s3cret").await;

    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await;
    assert!(health.is_ok(), "probes carry no credentials: {health:?}");

    let missing = list_services(channel.clone(), None)
        .await
        .expect_err("no token");
    assert_eq!(missing.code(), tonic::Code::Unauthenticated);
    assert!(
        missing.message().contains("internal token"),
        "{}",
        missing.message()
    );
    let wrong = list_services(channel.clone(), Some("Bearer guess"))
        .await
        .expect_err("wrong token");
    assert_eq!(wrong.code(), tonic::Code::Unauthenticated);
    list_services(channel, Some("Bearer s3cret"))
        .await
        .expect("right token");
    shutdown.cancel();
}

#[tokio::test]
async fn an_empty_token_requires_none() {
    let (channel, shutdown) = start("").await;
    list_services(channel, None).await.expect("open");
    shutdown.cancel();
}
