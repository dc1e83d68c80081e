//! The security headers every HTTP answer carries, whatever answered it
//! (pages, the API, probes, errors, the fallback): what a browser may load
//! and run for the page, that no other site may frame it or sniff types,
//! how much of the address it passes on, HTTPS-only once clients reach it
//! over HTTPS, and no caching unless the handler chose otherwise (answers
//! hold personal data; only the site's own assets say they may be cached).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::{header, HeaderName, HeaderValue};

use super::proxies::TrustedProxies;

/// Only the site's own script, styles and images; forms post to it; no
/// plugin, no frame, no `<base>` rewriting. The pages have no inline
/// script or style, so nothing needs `'unsafe-inline'`.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";
/// One year, as browsers' preload lists ask.
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// When answers say HTTPS only.
#[derive(Debug, Clone)]
pub struct HeaderPolicy {
    /// Always (`http.hsts`): clients reach Liaison over HTTPS only.
    pub hsts: bool,
    /// Proxies whose `X-Forwarded-Proto: https` turns it on.
    pub proxies: TrustedProxies,
}

/// Middleware adding the headers to every answer.
pub async fn security_headers(
    State(policy): State<Arc<HeaderPolicy>>,
    request: Request,
    next: Next,
) -> Response {
    let over_https = policy.hsts
        || request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .is_some_and(|ConnectInfo(peer)| {
                policy.proxies.forwarded_https(peer.ip(), request.headers())
            });
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    let fixed: [(HeaderName, &'static str); 5] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // The address goes to this site only (it may hold a search).
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in fixed {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
    if over_https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        );
    }
    response
}
