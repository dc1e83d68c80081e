//! The gRPC server every process runs: the services' routes with health and
//! reflection, a span and metrics per call, the internal token, and the
//! verification of signed identities.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;
use tracing::Instrument;

use crate::identity::{IdentityKey, ACTOR_METADATA_KEY, IDENTITY_METADATA_KEY, ROLE_METADATA_KEY};
use crate::metrics::Metrics;

/// The gRPC server of a process: the services' routes plus the gRPC health
/// service and server reflection, so grpcurl and other generic clients work.
pub struct GrpcServer {
    routes: Routes,
    health: HealthReporter,
    internal_token: Option<String>,
    identities: Option<Arc<IdentityPolicy>>,
    metrics: Option<Arc<Metrics>>,
}

/// What a server asks of its callers' identities.
pub struct IdentityPolicy {
    pub key: IdentityKey,
    /// Calls without a signed identity pass (open local development).
    pub allow_unsigned: bool,
}

impl GrpcServer {
    pub fn new() -> Self {
        let (health, health_service) = tonic_health::server::health_reporter();
        let mut routes = Routes::new(health_service);
        // Both reflection versions: grpcurl asks v1, many clients still ask v1alpha.
        let reflection = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(liaison_proto::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        };
        match (reflection().build_v1(), reflection().build_v1alpha()) {
            (Ok(v1), Ok(v1alpha)) => routes = routes.add_service(v1).add_service(v1alpha),
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!(%error, "server reflection disabled")
            }
        }
        Self {
            routes,
            health,
            internal_token: None,
            identities: None,
            metrics: None,
        }
    }

    /// Counts and times every call per method and status in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Adds a service; it reports NOT_SERVING until [`HealthReporter`] says otherwise.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: tower_service_bounds::GrpcService,
    {
        self.routes = self.routes.add_service(service);
        self
    }

    /// Requires `authorization: Bearer <token>` on every call but health
    /// checks (probes carry no credentials). An empty token requires none.
    pub fn require_token(mut self, token: &str) -> Self {
        self.internal_token = Some(token.to_owned()).filter(|token| !token.is_empty());
        self
    }

    /// Verifies the signed identity of every call but health checks and
    /// reflection, and hands the verified actor and role to the services.
    pub fn verify_identities(mut self, policy: IdentityPolicy) -> Self {
        self.identities = Some(Arc::new(policy));
        self
    }

    pub fn health(&self) -> HealthReporter {
        self.health.clone()
    }

    /// Serves until `shutdown` is cancelled, then lets in-flight calls finish.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> Result<(), tonic::transport::Error> {
        // The builder's tcp_nodelay applies only to sockets tonic binds
        // itself: without it here, multi-segment replies wait for delayed ACKs.
        let incoming = TcpListenerStream::new(listener).map(|accepted| {
            accepted.inspect(|stream| {
                if let Err(error) = stream.set_nodelay(true) {
                    tracing::debug!(%error, "cannot set TCP_NODELAY");
                }
            })
        });
        let mut router = self
            .routes
            .into_axum_router()
            .layer(axum::middleware::from_fn(malformed_requests_are_invalid));
        if let Some(token) = self.internal_token {
            router = router.layer(axum::middleware::from_fn_with_state(
                Arc::new(format!("Bearer {token}")),
                require_token,
            ));
        }
        if let Some(policy) = self.identities {
            router = router.layer(axum::middleware::from_fn_with_state(
                policy,
                verify_identity,
            ));
        }
        // Outermost: every call gets its span and its metrics, refused ones too.
        router = router.layer(axum::middleware::from_fn_with_state(
            self.metrics,
            observe_call,
        ));
        let routes = Routes::from(router);
        // No streaming call exists: every call is answered within a minute
        // or cancelled, dead peers are found by pings, and one connection
        // holds a bounded number of calls and header bytes.
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .http2_keepalive_timeout(Some(Duration::from_secs(20)))
            .tcp_keepalive(Some(Duration::from_secs(60)))
            .max_concurrent_streams(Some(256))
            .http2_max_header_list_size(Some(64 * 1024))
            .timeout(Duration::from_secs(60))
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await
    }
}

/// What tonic says of a request body that is not the method's message.
const DECODE_FAILURE: &str = "failed to decode Protobuf message";

/// tonic answers a request body it cannot decode with INTERNAL, as if the
/// server were at fault; it is the caller's: INVALID_ARGUMENT.
async fn malformed_requests_are_invalid(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let mut response = next.run(request).await;
    let Some(status) = tonic::Status::from_header_map(response.headers()) else {
        return response;
    };
    if status.code() == tonic::Code::Internal && status.message().starts_with(DECODE_FAILURE) {
        let detail = status.message()[DECODE_FAILURE.len()..].trim_start_matches([':', ' ']);
        let refusal = tonic::Status::invalid_argument(crate::errors::bounded_message(format!(
            "the request body is not a valid message of this method: {detail}"
        )));
        if refusal.add_header(response.headers_mut()).is_err() {
            tracing::debug!("cannot rewrite the status of a malformed request");
        }
    }
    response
}

/// Runs a call inside a span whose parent is the caller's `traceparent`, and
/// records it in the metrics.
async fn observe_call(
    axum::extract::State(metrics): axum::extract::State<Option<Arc<Metrics>>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let method = request.uri().path().to_owned();
    let span = tracing::info_span!(
        "grpc.call",
        otel.name = %method,
        otel.kind = "server",
        rpc.system = "grpc",
    );
    let traceparent = request
        .headers()
        .get("traceparent")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    crate::trace::adopt_parent(&span, traceparent);
    let started = Instant::now();
    let response = next.run(request).instrument(span).await;
    if let Some(metrics) = metrics {
        // Errors come back trailers-only, their status in the headers.
        let code = response
            .headers()
            .get("grpc-status")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<i32>().ok())
            .map(tonic::Code::from_i32)
            .unwrap_or(tonic::Code::Ok);
        metrics.observe_call(&method, code_name(code), started.elapsed());
    }
    response
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Refuses a call without the expected bearer token, as a gRPC status.
async fn require_token(
    axum::extract::State(expected): axum::extract::State<Arc<String>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let is_health = request.uri().path().starts_with("/grpc.health.v1.Health/");
    let presented = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok());
    if is_health
        || presented.is_some_and(|value| constant_time_eq(value.as_bytes(), expected.as_bytes()))
    {
        return next.run(request).await;
    }
    let status = tonic::Status::unauthenticated(
        "a valid internal token is required (authorization: Bearer <token>)",
    );
    status.into_http()
}

/// Hands the services the identity a call's signature proves, in the
/// call's extensions ([`VerifiedIdentity`], read by
/// [`RequestContext`](crate::RequestContext)); refuses a call whose identity
/// does not verify, one without an identity unless unsigned calls are
/// allowed, and an unsigned one that names an actor or role itself.
async fn verify_identity(
    axum::extract::State(policy): axum::extract::State<Arc<IdentityPolicy>>,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path();
    if path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.") {
        return next.run(request).await;
    }
    let claims_identity = [ACTOR_METADATA_KEY, ROLE_METADATA_KEY]
        .iter()
        .any(|key| request.headers().contains_key(*key));
    let presented = request
        .headers()
        .get(IDENTITY_METADATA_KEY)
        .map(|value| value.to_str().unwrap_or_default().to_owned());
    match presented {
        Some(value) => match policy.key.verify(&value, SystemTime::now()) {
            Ok(identity) => {
                request.extensions_mut().insert(identity);
            }
            Err(error) => return tonic::Status::unauthenticated(error.to_string()).into_http(),
        },
        None if claims_identity => {
            return tonic::Status::unauthenticated(format!(
                "{ACTOR_METADATA_KEY} and {ROLE_METADATA_KEY} are not taken from callers: \
                 an actor is proven by a signed identity ({IDENTITY_METADATA_KEY})"
            ))
            .into_http()
        }
        None if policy.allow_unsigned => {}
        None => {
            return tonic::Status::unauthenticated(
                "a signed identity (liaison-identity) is required: call through the gateway, \
                 or set security.unsigned_calls = \"allow\" for open local development",
            )
            .into_http()
        }
    }
    next.run(request).await
}

/// Compares without stopping at the first difference.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Default for GrpcServer {
    fn default() -> Self {
        Self::new()
    }
}

/// The bounds tonic puts on a routable gRPC service, named once.
pub mod tower_service_bounds {
    use std::convert::Infallible;

    use tonic::body::Body;
    use tonic::server::NamedService;

    pub trait GrpcService:
        tower_service::Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + NamedService
        + Clone
        + Send
        + Sync
        + 'static
    {
    }

    impl<S> GrpcService for S where
        S: tower_service::Service<
                http::Request<Body>,
                Response = http::Response<Body>,
                Error = Infallible,
                Future: Send + 'static,
            > + NamedService
            + Clone
            + Send
            + Sync
            + 'static
    {
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http_body_util::Full;

    use super::*;

    /// The status of a call whose body is `body` (trailers-only answers).
    async fn call_with_body(
        addr: std::net::SocketAddr,
        path: &str,
        body: Vec<u8>,
    ) -> Option<tonic::Status> {
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (mut sender, connection) = hyper::client::conn::http2::handshake(
            hyper_util::rt::TokioExecutor::new(),
            hyper_util::rt::TokioIo::new(stream),
        )
        .await
        .expect("HTTP/2");
        tokio::spawn(connection);
        let request = http::Request::post(format!("http://{addr}{path}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let response = sender.send_request(request).await.expect("answered");
        tonic::Status::from_header_map(response.headers())
    }

    #[tokio::test]
    async fn a_body_that_is_no_message_is_the_callers_error() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("port");
        let addr = listener.local_addr().expect("addr");
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(GrpcServer::new().serve(listener, shutdown.clone()));
        // A gRPC frame (uncompressed, 3 bytes) holding no valid protobuf.
        let garbage = vec![0, 0, 0, 0, 3, 0xff, 0xff, 0xff];
        let status = call_with_body(addr, "/grpc.health.v1.Health/Check", garbage)
            .await
            .expect("a trailers-only refusal");
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().contains("not a valid message"),
            "{status:?}"
        );
        // A valid empty request is answered (its status in the trailers).
        let empty = vec![0, 0, 0, 0, 0];
        let answered = call_with_body(addr, "/grpc.health.v1.Health/Check", empty).await;
        assert!(answered.is_none(), "{answered:?}");
        shutdown.cancel();
        server.await.expect("joined").expect("served");
    }
}
