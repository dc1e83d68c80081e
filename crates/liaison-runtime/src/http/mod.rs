//! The small HTTP side of every process: liveness, readiness naming what
//! is down, Prometheus metrics (to whom the settings allow); and serving a
//! router until shutdown, within limits ([`server`]).

pub mod headers;
pub mod proxies;
pub mod server;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use proxies::TrustedProxies;

/// Checks one dependency for readiness; `Err` says what is down.
pub type ReadinessCheck =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// Who may read `/metrics` on the public HTTP port.
#[derive(Debug, Clone)]
pub enum MetricsAccess {
    /// Not served there: on an internal address of its own.
    Elsewhere,
    /// To `Authorization: Bearer <token>`.
    Token(String),
    /// To clients on loopback that did not come through a proxy.
    Loopback(TrustedProxies),
}

impl MetricsAccess {
    pub fn from_settings(http: &crate::settings::HttpSettings) -> Result<Self, String> {
        Ok(if !http.metrics_addr.is_empty() {
            MetricsAccess::Elsewhere
        } else if !http.metrics_token.is_empty() {
            MetricsAccess::Token(http.metrics_token.clone())
        } else {
            MetricsAccess::Loopback(TrustedProxies::parse(&http.trusted_proxies)?)
        })
    }

    fn allows(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> bool {
        match self {
            MetricsAccess::Elsewhere => false,
            MetricsAccess::Token(token) => headers
                .get(header::AUTHORIZATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "))
                .is_some_and(|given| same_bytes(given.as_bytes(), token.as_bytes())),
            MetricsAccess::Loopback(proxies) => peer.is_some_and(|peer| {
                let proxied =
                    proxies.trusts(peer.ip()) && headers.contains_key(proxies::FORWARDED_FOR);
                peer.ip().is_loopback() && !proxied
            }),
        }
    }
}

/// Compares without stopping at the first difference.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Liveness (`/healthz`), readiness (`/readyz`, naming what is down) and
/// Prometheus metrics (`/metrics`, to whom `access` allows).
pub fn probe_routes(
    checks: Vec<(String, ReadinessCheck)>,
    metrics: Arc<crate::metrics::Metrics>,
    access: MetricsAccess,
) -> Router {
    let probes = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readiness))
        .with_state(Arc::new(checks));
    if let MetricsAccess::Elsewhere = access {
        return probes;
    }
    let exposition = Router::new()
        .route("/metrics", get(guarded_metrics))
        .with_state(Arc::new((metrics, access)));
    probes.merge(exposition)
}

/// `/metrics` alone, for the internal address of `http.metrics_addr`.
pub fn metrics_routes(metrics: Arc<crate::metrics::Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(render_metrics))
        .with_state(metrics)
}

async fn guarded_metrics(
    State(guarded): State<Arc<(Arc<crate::metrics::Metrics>, MetricsAccess)>>,
    request: axum::http::request::Parts,
) -> Response {
    let (metrics, access) = &*guarded;
    let peer = request
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer);
    if !access.allows(peer, &request.headers) {
        let hint = match access {
            MetricsAccess::Token(_) => "send Authorization: Bearer <http.metrics_token>",
            _ => "served to loopback clients only: set http.metrics_addr or http.metrics_token",
        };
        return (StatusCode::FORBIDDEN, format!("metrics: {hint}\n")).into_response();
    }
    render_metrics(State(metrics.clone())).await.into_response()
}

async fn render_metrics(
    State(metrics): State<Arc<crate::metrics::Metrics>>,
) -> impl axum::response::IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
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
