//! The small HTTP side of every process: liveness, readiness naming what
//! is down, Prometheus metrics; and serving a router until shutdown.

pub mod proxies;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Checks one dependency for readiness; `Err` says what is down.
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Liveness (`/healthz`), readiness (`/readyz`, naming what is down) and
/// Prometheus metrics (`/metrics`).
pub fn probe_routes(
    checks: Vec<(String, ReadinessCheck)>,
    metrics: Arc<crate::metrics::Metrics>,
) -> Router {
    let probes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness))
        .with_state(Arc::new(checks));
    let exposition = Router::new()
        .route("/metrics", get(render_metrics))
        .with_state(metrics);
    probes.merge(exposition)
}

async fn render_metrics(
    State(metrics): State<Arc<crate::metrics::Metrics>>,
) -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
}

async fn readiness(
    State(checks): State<Arc<Vec<(String, ReadinessCheck)>>>,
) -> (StatusCode, Json<serde_json_value::Report>) {
    let mut report = serde_json_value::Report::default();
    for (name, check) in checks.iter() {
        if let Err(reason) = check().await {
            report.down.push(serde_json_value::Down {
                dependency: name.clone(),
                reason,
            });
        }
    }
    report.ready = report.down.is_empty();
    let status = if report.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}

mod serde_json_value {
    #[derive(Default, serde::Serialize)]
    pub struct Report {
        pub ready: bool,
        pub down: Vec<Down>,
    }

    #[derive(serde::Serialize)]
    pub struct Down {
        pub dependency: String,
        pub reason: String,
    }
}

/// Serves `router` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    // The peer address reaches handlers (login limits per client address).
    let service = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, service)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
