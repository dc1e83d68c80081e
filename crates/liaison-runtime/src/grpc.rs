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
        Self { routes, health }
    }

    /// Adds a service; it reports NOT_SERVING until [`HealthReporter`] says otherwise.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: tower_service_bounds::GrpcService,
    {
        self.routes = self.routes.add_service(service);
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
        tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(30)))
            .add_routes(self.routes)
            .serve_with_incoming_shutdown(incoming, shutdown.cancelled_owned())
            .await
    }
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
