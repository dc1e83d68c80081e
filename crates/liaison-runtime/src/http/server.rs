//! The HTTP server of every process, hardened against clients that hold
//! connections rather than use them (slowloris and the like):
//!
//! - at most `max_connections` open, and `max_connections_per_address`
//!   from one client address (trusted proxies excepted); a connection past
//!   the address's share is closed as soon as it is accepted, before any
//!   read;
//! - when all `max_connections` are taken, the connection that has waited
//!   longest for a request (half-sent headers or an idle keep-alive: none
//!   of its requests is being answered) is closed to make room, as nginx
//!   reuses its idle connections; only when every connection is answering
//!   is a new one refused. Holding connections thus cannot lock others
//!   out, whatever number of addresses it comes from;
//! - the headers of a request must arrive within `header_timeout` (also
//!   while an HTTP/1 connection waits for its next request);
//! - a request must be read and answered within `request_timeout` (a
//!   trickled body gets 408 and the connection is closed);
//! - a connection silent for `idle_timeout` with no request being
//!   answered is closed, whatever its protocol (also a client that stops
//!   reading its answer);
//! - HTTP/2: `max_h2_streams` requests at once, bounded header lists.
//!
//! The open-file limit is raised to its hard limit at start, and
//! `max_connections` lowered to what it leaves, so connections can never
//! take the descriptors the databases and logs need.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::ConnectInfo;
use axum::Router;
use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::proxies::TrustedProxies;
use crate::settings::HttpSettings;

/// Descriptors kept for everything but client connections (databases,
/// the log, the bus, gRPC).
const RESERVED_FILES: u64 = 256;
/// Largest header list an HTTP/2 client may send.
const MAX_H2_HEADER_BYTES: u32 = 64 * 1024;
/// Largest HTTP/1 read buffer (headers included).
const MAX_H1_BUFFER_BYTES: usize = 256 * 1024;
/// Connections closed to make room whose sockets may still be open: past
/// this many, accepting waits for them, so open sockets never pass
/// `max_connections + CLOSING`.
const CLOSING: usize = 64;

/// The limits of one HTTP listener.
#[derive(Debug, Clone)]
pub struct HttpLimits {
    pub max_connections: usize,
    pub max_connections_per_address: usize,
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_h2_streams: u32,
    pub trusted_proxies: TrustedProxies,
}

impl HttpLimits {
    pub fn from_settings(http: &HttpSettings) -> Result<Self, String> {
        Ok(HttpLimits {
            max_connections: http.max_connections,
            max_connections_per_address: http.max_connections_per_address,
            header_timeout: Duration::from_secs(http.header_timeout_seconds),
            request_timeout: Duration::from_secs(http.request_timeout_seconds),
            idle_timeout: Duration::from_secs(http.idle_timeout_seconds),
            max_h2_streams: http.max_h2_streams,
            trusted_proxies: TrustedProxies::parse(&http.trusted_proxies)?,
        })
    }

    /// These limits, with `max_connections` lowered to what the process's
    /// open-file limit leaves (raised first to its hard limit).
    pub fn within_open_file_limit(mut self) -> Self {
        if let Some(files) = raise_open_file_limit() {
            let allowed = usize::try_from(files.saturating_sub(RESERVED_FILES))
                .unwrap_or(usize::MAX)
                .max(1);
            if allowed < self.max_connections {
                tracing::warn!(
                    configured = self.max_connections,
                    allowed,
                    open_files = files,
                    "http.max_connections lowered to what the open-file limit leaves"
                );
                self.max_connections = allowed;
            }
        }
        self
    }
}

/// What the server counts, read by the metrics at each scrape.
#[derive(Debug, Default)]
pub struct ConnectionStats {
    pub open: AtomicUsize,
    pub refused_total: AtomicU64,
    pub refused_per_address: AtomicU64,
    pub timed_out_requests: AtomicU64,
    pub closed_idle: AtomicU64,
    pub evicted: AtomicU64,
}

/// Serves `router` with `limits` until `shutdown` is cancelled; then lets
/// the requests under way finish.
pub async fn serve_with_limits(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    stats: Arc<ConnectionStats>,
    shutdown: CancellationToken,
) {
    let limits = Arc::new(limits);
    let total = Arc::new(Semaphore::new(limits.max_connections));
    let addresses = Arc::new(AddressCounts::default());
    let open = Arc::new(OpenConnections::default());
    let closing = Arc::new(Semaphore::new(CLOSING));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or memory: wait rather than spin.
                    tracing::warn!(%error, "cannot accept an HTTP connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let slot = match total.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => match open.evict_longest_waiting() {
                Some((slot, evicted)) => {
                    stats.evicted.fetch_add(1, Ordering::Relaxed);
                    let Ok(closed) = closing.clone().acquire_owned().await else {
                        break;
                    };
                    evicted.hold_until_closed(closed);
                    slot
                }
                None => {
                    stats.refused_total.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            },
        };
        let address = if limits.trusted_proxies.trusts(peer.ip()) {
            None
        } else {
            match addresses.take(peer.ip(), limits.max_connections_per_address) {
                Some(address) => Some(address),
                None => {
                    stats.refused_per_address.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::new());
        let evict = CancellationToken::new();
        let connection = Connection {
            peer,
            router: router.clone(),
            limits: limits.clone(),
            stats: stats.clone(),
            activity: activity.clone(),
            evict: evict.clone(),
            _registered: open.register(activity, evict, slot),
            _address: address,
        };
        connections.spawn(connection.serve(stream, shutdown.clone()));
    }
    while connections.join_next().await.is_some() {}
}

struct Connection {
    peer: SocketAddr,
    router: Router,
    limits: Arc<HttpLimits>,
    stats: Arc<ConnectionStats>,
    activity: Arc<Activity>,
    evict: CancellationToken,
    /// Holds the connection's slot of `max_connections`.
    _registered: Registered,
    _address: Option<AddressSlot>,
}

impl Connection {
    async fn serve(self, stream: TcpStream, shutdown: CancellationToken) {
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        let activity = self.activity.clone();
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let service = {
            let (router, peer, limits, stats, activity) = (
                self.router.clone(),
                self.peer,
                self.limits.clone(),
                self.stats.clone(),
                activity.clone(),
            );
            hyper::service::service_fn(move |request: Request<Incoming>| {
                let answering = Answering::start(activity.clone());
                let (router, limits, stats) = (router.clone(), limits.clone(), stats.clone());
                async move {
                    let response = answer(router, request, peer, &limits, &stats).await;
                    drop(answering);
                    Ok::<_, Infallible>(response)
                }
            })
        };
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.limits.header_timeout)
            .max_buf_size(MAX_H1_BUFFER_BYTES);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.limits.max_h2_streams)
            .max_header_list_size(MAX_H2_HEADER_BYTES)
            .max_pending_accept_reset_streams(Some(20));
        let connection = builder.serve_connection_with_upgrades(io, service);
        tokio::pin!(connection);
        let idle = self.limits.idle_timeout;
        let mut shutting_down = false;
        loop {
            let silent_until = activity.silent_until(idle);
            tokio::select! {
                _ = connection.as_mut() => break,
                _ = self.evict.cancelled() => break,
                _ = shutdown.cancelled(), if !shutting_down => {
                    connection.as_mut().graceful_shutdown();
                    shutting_down = true;
                }
                _ = tokio::time::sleep_until(silent_until.into()) => {
                    if activity.is_idle(idle) {
                        self.stats.closed_idle.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs the router on one request within the request timeout; the peer
/// reaches handlers as `ConnectInfo` (login limits per client address).
async fn answer(
    router: Router,
    request: Request<Incoming>,
    peer: SocketAddr,
    limits: &HttpLimits,
    stats: &ConnectionStats,
) -> Response<axum::body::Body> {
    let mut request = request.map(axum::body::Body::new);
    request.extensions_mut().insert(ConnectInfo(peer));
    match tokio::time::timeout(limits.request_timeout, router.oneshot(request)).await {
        Ok(Ok(response)) => response,
        Ok(Err(never)) => match never {},
        Err(_) => {
            stats.timed_out_requests.fetch_add(1, Ordering::Relaxed);
            let mut response = Response::new(axum::body::Body::from(
                "the request was not sent and answered in time\n",
            ));
            *response.status_mut() = StatusCode::REQUEST_TIMEOUT;
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            response
        }
    }
}

/// When a connection last moved bytes, and how many of its requests are
/// being answered.
struct Activity {
    started: Instant,
    last_millis: AtomicU64,
    answering: AtomicUsize,
    /// Since when no request has been answered: the connection's start or
    /// its last answer. Bytes trickled in meanwhile do not count, so
    /// half-sent headers age like an idle keep-alive.
    waiting_since_millis: AtomicU64,
    /// Once evicted, a permit of the closing allowance: the stream holds
    /// this activity, so the permit goes back when the socket is closed.
    closing: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Activity {
    fn new() -> Self {
        Activity {
            started: Instant::now(),
            last_millis: AtomicU64::new(0),
            answering: AtomicUsize::new(0),
            waiting_since_millis: AtomicU64::new(0),
            closing: Mutex::new(None),
        }
    }

    fn hold_until_closed(&self, permit: OwnedSemaphorePermit) {
        *self
            .closing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(permit);
    }

    fn now_millis(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_millis.store(self.now_millis(), Ordering::Relaxed);
    }

    /// How long the connection has waited for a request, or `None` while
    /// one is being answered.
    fn waiting_for(&self) -> Option<Duration> {
        if self.answering.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let since = self.waiting_since_millis.load(Ordering::Relaxed);
        Some(Duration::from_millis(
            self.now_millis().saturating_sub(since),
        ))
    }

    fn last(&self) -> Instant {
        self.started + Duration::from_millis(self.last_millis.load(Ordering::Relaxed))
    }

    fn silent_until(&self, idle: Duration) -> Instant {
        self.last() + idle
    }

    fn is_idle(&self, idle: Duration) -> bool {
        self.answering.load(Ordering::Relaxed) == 0 && self.last().elapsed() >= idle
    }
}

/// A request being answered; the connection is not idle meanwhile.
struct Answering(Arc<Activity>);

impl Answering {
    fn start(activity: Arc<Activity>) -> Self {
        activity.answering.fetch_add(1, Ordering::Relaxed);
        Answering(activity)
    }
}

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.answering.fetch_sub(1, Ordering::Relaxed);
        self.0.touch();
        self.0
            .waiting_since_millis
            .store(self.0.now_millis(), Ordering::Relaxed);
    }
}

/// Every open connection: its activity, the token that closes it, and its
/// slot of `max_connections`.
#[derive(Default)]
struct OpenConnections {
    next: AtomicU64,
    connections: Mutex<HashMap<u64, Open>>,
}

struct Open {
    activity: Arc<Activity>,
    evict: CancellationToken,
    slot: OwnedSemaphorePermit,
}

impl OpenConnections {
    fn register(
        self: &Arc<Self>,
        activity: Arc<Activity>,
        evict: CancellationToken,
        slot: OwnedSemaphorePermit,
    ) -> Registered {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(
            id,
            Open {
                activity,
                evict,
                slot,
            },
        );
        Registered {
            open: self.clone(),
            id,
        }
    }

    /// Closes the connection waiting longest for a request and hands its
    /// slot over at once (the accept loop does not wait for it to end),
    /// with its activity; `None` when every connection is answering one.
    fn evict_longest_waiting(&self) -> Option<(OwnedSemaphorePermit, Arc<Activity>)> {
        let mut connections = self.lock();
        let (_, id) = connections
            .iter()
            .filter_map(|(id, open)| open.activity.waiting_for().map(|waited| (waited, *id)))
            .max()?;
        let evicted = connections.remove(&id)?;
        evicted.evict.cancel();
        Some((evicted.slot, evicted.activity))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Open>> {
        self.connections
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A connection's place in `OpenConnections`, left (and its slot given
/// back) when it ends.
struct Registered {
    open: Arc<OpenConnections>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.open.lock().remove(&self.id);
    }
}

/// The connection's stream, noting each read or write that moved bytes.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, data);
        if matches!(polled, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Open connections per client address.
#[derive(Default)]
struct AddressCounts(Mutex<HashMap<IpAddr, usize>>);

impl AddressCounts {
    fn take(self: &Arc<Self>, address: IpAddr, most: usize) -> Option<AddressSlot> {
        let mut counts = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let open = counts.entry(address).or_insert(0);
        if *open >= most {
            return None;
        }
        *open += 1;
        Some(AddressSlot {
            counts: self.clone(),
            address,
        })
    }
}

struct AddressSlot {
    counts: Arc<AddressCounts>,
    address: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(open) = counts.get_mut(&self.address) {
            *open -= 1;
            if *open == 0 {
                counts.remove(&self.address);
            }
        }
    }
}

/// Raises the soft open-file limit to the hard one; returns the limit now
/// in force.
fn raise_open_file_limit() -> Option<u64> {
    rlimit::increase_nofile_limit(u64::MAX).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_share_and_gets_it_back() {
        let counts = Arc::new(AddressCounts::default());
        let ip: IpAddr = "203.0.113.1".parse().expect("ip");
        let first = counts.take(ip, 2).expect("first");
        let second = counts.take(ip, 2).expect("second");
        assert!(counts.take(ip, 2).is_none());
        assert!(counts.take("203.0.113.2".parse().expect("ip"), 2).is_some());
        drop(first);
        let third = counts.take(ip, 2).expect("one was given back");
        drop((second, third));
        assert!(counts.0.lock().expect("counts").is_empty());
    }

    #[tokio::test]
    async fn the_connection_waiting_longest_gives_its_slot_and_none_answering_does() {
        let slots = Arc::new(Semaphore::new(3));
        let open = Arc::new(OpenConnections::default());
        let closing = Arc::new(Semaphore::new(CLOSING));
        let mut held = Vec::new();
        let mut answering = Vec::new();
        for n in 0..3 {
            // The first opened is answering a request; the second has
            // waited since it opened, the third since its answer ended.
            let activity = Arc::new(Activity::new());
            let evict = CancellationToken::new();
            let slot = slots.clone().try_acquire_owned().expect("a slot");
            held.push((evict.clone(), open.register(activity.clone(), evict, slot)));
            if n == 0 {
                answering.push(Answering::start(activity));
            } else if n == 2 {
                drop(Answering::start(activity));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(slots.clone().try_acquire_owned().is_err(), "all taken");
        let (slot, evicted) = open.evict_longest_waiting().expect("one waits");
        assert!(held[1].0.is_cancelled(), "the longest waiting was closed");
        evicted.hold_until_closed(closing.clone().try_acquire_owned().expect("allowance"));
        assert_eq!(closing.available_permits(), CLOSING - 1);
        drop(evicted);
        assert_eq!(
            closing.available_permits(),
            CLOSING,
            "given back with the last holder of the activity (the stream)"
        );
        assert!(!held[0].0.is_cancelled() && !held[2].0.is_cancelled());
        drop(slot);
        assert!(
            slots.clone().try_acquire_owned().is_ok(),
            "its slot was handed over"
        );

        let (slot, _) = open
            .evict_longest_waiting()
            .expect("the one answered before");
        assert!(held[2].0.is_cancelled());
        drop(slot);
        assert!(
            open.evict_longest_waiting().is_none(),
            "a connection answering a request is never closed"
        );
        assert!(!held[0].0.is_cancelled());
        drop(answering);
    }

    #[test]
    fn a_connection_answering_a_request_is_not_idle() {
        let activity = Arc::new(Activity::new());
        let idle = Duration::from_millis(0);
        let answering = Answering::start(activity.clone());
        assert!(!activity.is_idle(idle));
        drop(answering);
        assert!(activity.is_idle(idle));
        assert!(!activity.is_idle(Duration::from_secs(60)));
    }
}
