//! The HTTP port against clients that hold connections instead of using
//! them: silent, trickling, slow to send a body, too many from one place
//! (each test shortens the limits so it runs in seconds); and who may read
//! its metrics.

use std::time::{Duration, Instant};

use liaison_tests::http::HttpClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::InProcess;

const SHORT_LIMITS: [(&str, &str); 3] = [
    ("LIAISON__HTTP__HEADER_TIMEOUT_SECONDS", "1"),
    ("LIAISON__HTTP__REQUEST_TIMEOUT_SECONDS", "1"),
    ("LIAISON__HTTP__IDLE_TIMEOUT_SECONDS", "2"),
];

/// Waits until the server closes `stream`; returns what it sent first
/// and how long that took. Panics past `within`.
async fn closed_by_server(stream: &mut TcpStream, within: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout_at((started + within).into(), stream.read(&mut buffer)).await {
            Err(_) => panic!("still open after {within:?}; received {received:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(read)) => received.extend_from_slice(&buffer[..read]),
        }
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

async fn healthy(liaison: &InProcess) -> bool {
    HttpClient::new(&liaison.http_addr)
        .get("/healthz")
        .await
        .status
        == 200
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_and_trickling_connections_are_closed_while_others_are_served() {
    let liaison = InProcess::start(&SHORT_LIMITS).await;
    let mut silent = TcpStream::connect(&liaison.http_addr)
        .await
        .expect("connect");
    let mut trickling = TcpStream::connect(&liaison.http_addr)
        .await
        .expect("connect");
    trickling
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("first line");
    let trickle = tokio::spawn(async move {
        // A header line every 300 ms: activity, but never a whole request.
        for n in 0..20 {
            let line = format!("X-Slow-{n}: a\r\n");
            if trickling.write_all(line.as_bytes()).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        closed_by_server(&mut trickling, Duration::from_secs(5)).await
    });
    assert!(healthy(&liaison).await, "others are served meanwhile");
    let (_, after) = closed_by_server(&mut silent, Duration::from_secs(5)).await;
    assert!(
        after >= Duration::from_millis(900),
        "closed too early: {after:?}"
    );
    let (_, after) = trickle.await.expect("trickled");
    assert!(
        after < Duration::from_secs(5),
        "the header timeout ended it"
    );
    assert!(healthy(&liaison).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_too_slowly_is_answered_408_and_the_connection_closed() {
    let liaison = InProcess::start(&SHORT_LIMITS).await;
    let mut slow = TcpStream::connect(&liaison.http_addr)
        .await
        .expect("connect");
    slow.write_all(
        b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\":",
    )
    .await
    .expect("headers and a part of the body");
    let (answer, after) = closed_by_server(&mut slow, Duration::from_secs(5)).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(after < Duration::from_secs(3), "{after:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_of_an_address_are_closed_at_once() {
    let mut settings = SHORT_LIMITS.to_vec();
    settings.push(("LIAISON__HTTP__MAX_CONNECTIONS_PER_ADDRESS", "4"));
    settings.push(("LIAISON__HTTP__IDLE_TIMEOUT_SECONDS", "30"));
    settings.push(("LIAISON__HTTP__HEADER_TIMEOUT_SECONDS", "30"));
    let liaison = InProcess::start(&settings).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        held.push(
            TcpStream::connect(&liaison.http_addr)
                .await
                .expect("connect"),
        );
    }
    let mut over = TcpStream::connect(&liaison.http_addr)
        .await
        .expect("accepted by the kernel");
    let (_, after) = closed_by_server(&mut over, Duration::from_secs(2)).await;
    assert!(after < Duration::from_secs(1), "{after:?}");
    assert_eq!(raw_get(&liaison.http_addr, "/healthz").await, None);
    // A connection given back makes room for another.
    drop(held.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    while raw_get(&liaison.http_addr, "/healthz").await.is_none() {
        assert!(Instant::now() < deadline, "the slot was never given back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_full_the_connection_waiting_longest_makes_room_but_none_being_answered() {
    let mut settings = SHORT_LIMITS.to_vec();
    settings.push(("LIAISON__HTTP__MAX_CONNECTIONS", "4"));
    settings.push(("LIAISON__HTTP__IDLE_TIMEOUT_SECONDS", "30"));
    settings.push(("LIAISON__HTTP__HEADER_TIMEOUT_SECONDS", "30"));
    settings.push(("LIAISON__HTTP__REQUEST_TIMEOUT_SECONDS", "30"));
    let liaison = InProcess::start(&settings).await;
    let mut waiting = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(&liaison.http_addr)
            .await
            .expect("connect");
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("half the headers");
        waiting.push(stream);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Trickling more keeps the oldest the oldest: it has waited longest
    // for a request whatever bytes it sends.
    waiting[0]
        .write_all(b"X-More: a\r\n")
        .await
        .expect("more headers");
    assert_eq!(
        raw_get(&liaison.http_addr, "/healthz").await.as_deref(),
        Some("HTTP/1.1 200 OK"),
        "a slot was made for a new client"
    );
    let (_, after) = closed_by_server(&mut waiting[0], Duration::from_secs(2)).await;
    assert!(after < Duration::from_secs(1), "the oldest was closed");

    // Requests being answered (their bodies still arriving) are never
    // closed to make room: past them a new connection is refused.
    drop(waiting);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut answering = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(&liaison.http_addr)
            .await
            .expect("connect");
        stream
            .write_all(
                b"POST /api/session HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                  Content-Length: 100\r\n\r\n{\"email\":",
            )
            .await
            .expect("headers and a part of the body");
        answering.push(stream);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(raw_get(&liaison.http_addr, "/healthz").await, None);
    for stream in &mut answering {
        let mut byte = [0u8; 1];
        let still_open = tokio::time::timeout(Duration::from_millis(100), stream.read(&mut byte))
            .await
            .is_err();
        assert!(still_open, "a request being answered was closed");
    }
}

/// The first line of the answer to `GET path` on a new connection, or
/// `None` when the server closed it without answering.
async fn raw_get(addr: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(addr).await.ok()?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.ok()?;
    let (answer, _) = closed_by_server(&mut stream, Duration::from_secs(5)).await;
    answer.lines().next().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed_too() {
    let liaison = InProcess::start(&SHORT_LIMITS).await;
    let stream = TcpStream::connect(&liaison.http_addr)
        .await
        .expect("connect");
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .expect("HTTP/2 with prior knowledge");
    let connection = tokio::spawn(connection);
    let request = http::Request::get(format!("http://{}/healthz", liaison.http_addr))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request");
    let response = sender.send_request(request).await.expect("answered");
    assert_eq!(response.status(), 200);
    let started = Instant::now();
    let _ = tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("the server closed the idle connection");
    assert!(started.elapsed() >= Duration::from_millis(1500));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_go_to_loopback_clients_not_through_a_proxy_by_default() {
    let liaison = InProcess::start(&[("LIAISON__HTTP__TRUSTED_PROXIES", "127.0.0.1")]).await;
    let local = HttpClient::new(&liaison.http_addr).get("/metrics").await;
    assert_eq!(local.status, 200);
    assert!(
        local.text.contains("liaison_http_connections_open"),
        "{}",
        local.text
    );
    let proxied = HttpClient::new(&liaison.http_addr);
    proxied.set_header("x-forwarded-for", "203.0.113.9");
    let refused = proxied.get("/metrics").await;
    assert_eq!(refused.status, 403);
    assert!(
        refused.text.contains("http.metrics_token"),
        "{}",
        refused.text
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_metrics_need_it() {
    let liaison = InProcess::start(&[("LIAISON__HTTP__METRICS_TOKEN", "scrape-me-please")]).await;
    assert_eq!(
        HttpClient::new(&liaison.http_addr)
            .get("/metrics")
            .await
            .status,
        403
    );
    let wrong = HttpClient::with_bearer(&liaison.http_addr, "scrape-me-pleasE");
    assert_eq!(wrong.get("/metrics").await.status, 403);
    let scraper = HttpClient::with_bearer(&liaison.http_addr, "scrape-me-please");
    assert_eq!(scraper.get("/metrics").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_internal_address_metrics_leave_the_public_port() {
    let liaison = InProcess::start(&[("LIAISON__HTTP__METRICS_ADDR", "127.0.0.1:0")]).await;
    let public = HttpClient::new(&liaison.http_addr).get("/metrics").await;
    assert_eq!(public.status, 404);
    let internal = liaison
        .metrics_addr
        .as_deref()
        .expect("an internal address");
    let scraped = HttpClient::new(internal).get("/metrics").await;
    assert_eq!(scraped.status, 200);
    assert!(
        scraped.text.contains("liaison_http_connections_open"),
        "{}",
        scraped.text
    );
    assert_eq!(HttpClient::new(internal).get("/healthz").await.status, 404);
}
