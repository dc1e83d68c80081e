use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tokio_stream::StreamExt;
use tokio_util::sync::CancellationToken;
use tonic::service::Routes;
use tonic_health::server::HealthReporter;

/// The gRPC server of a process: the services' routes plus the gRPC health
/// service and server reflection, so grpcurl and other generic clients work.
pub struct GrpcServer {
    routes: Routes,
    health: HealthReporter,
    internal_token: Option<String>,
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
        }
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
        let routes = match self.internal_token {
            Some(token) => Routes::from(self.routes.into_axum_router().layer(
                axum::middleware::from_fn_with_state(
                    Arc::new(format!("Bearer {token}")),
                    require_token,
                ),
            )),
            None => self.routes,
        };
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await
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
