//! One trace follows a command from its gRPC call, through the event it
//! records, to the consumer that applies the event in another service.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use liaison_bus::embedded::EmbeddedBus;
use liaison_bus::{ConsumerRunner, ConsumerSpec, EventBus, EventHandler, HandlerError, Relay};
use liaison_contacts::ContactsService;
use liaison_proto::contacts::v1 as pb;
use liaison_proto::events::v1::EventEnvelope;
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::layer::SubscriberExt;

struct Recorder(Arc<Mutex<Vec<EventEnvelope>>>);

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, batch: &[EventEnvelope]) -> Result<(), HandlerError> {
        self.0.lock().expect("lock").extend_from_slice(batch);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_its_event_and_its_consumer_share_one_trace() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("contacts.sqlite").display());
    let contacts = ContactsService::open(&url, None).await.expect("contacts");
    let bus: Arc<dyn EventBus> = Arc::new(
        EmbeddedBus::open(&dir.path().join("bus.sqlite"))
            .await
            .expect("bus"),
    );
    let shutdown = CancellationToken::new();
    tokio::spawn(Relay::new(contacts.store(), bus.clone()).run(shutdown.clone()));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let runner = ConsumerRunner::new(
        bus.clone(),
        ConsumerSpec::new("relations", vec!["liaison.contacts.v1.>".into()]),
        Arc::new(Recorder(seen.clone())),
    );
    tokio::spawn(runner.run(shutdown.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = liaison_runtime::grpc::GrpcServer::new().add_service(contacts.grpc());
    tokio::spawn(server.serve(listener, shutdown.clone()));

    // The caller's own trace: a made-up root span.
    let trace_id = TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").expect("trace id");
    let caller_span = SpanId::from_hex("00f067aa0ba902b7").expect("span id");
    let mut client =
        pb::contact_service_client::ContactServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("connect");
    let mut request = tonic::Request::new(crate::common::person(1));
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{caller_span}-01")
            .parse()
            .expect("header"),
    );
    client.create_person(request).await.expect("create");

    let consumed = async {
        while seen.lock().expect("lock").is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), consumed)
        .await
        .expect("the consumer got the event");
    shutdown.cancel();
    provider.force_flush().expect("flush");

    let spans = exporter.get_finished_spans().expect("spans");
    let call = spans
        .iter()
        .find(|span| span.name == "/liaison.contacts.v1.ContactService/CreatePerson")
        .unwrap_or_else(|| panic!("no span for the call among {:?}", names(&spans)));
    assert_eq!(
        call.span_context.trace_id(),
        trace_id,
        "the call joins the caller's trace"
    );
    assert_eq!(call.parent_span_id, caller_span);

    let envelope = seen.lock().expect("lock")[0].clone();
    assert!(
        envelope
            .traceparent
            .contains(&call.span_context.span_id().to_string()),
        "the event names the call's span: {}",
        envelope.traceparent
    );
    let consume = spans
        .iter()
        .find(|span| span.name == "consume person.created")
        .unwrap_or_else(|| panic!("no consumer span among {:?}", names(&spans)));
    assert_eq!(
        consume.span_context.trace_id(),
        trace_id,
        "one trace to the consumer"
    );
    assert_eq!(consume.parent_span_id, call.span_context.span_id());
}

fn names(spans: &[opentelemetry_sdk::trace::SpanData]) -> Vec<String> {
    spans.iter().map(|span| span.name.to_string()).collect()
}
