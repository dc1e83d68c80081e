//! Liaison in this test's process: the binary's own wiring (`serve_on`),
//! every target on SQLite in a temp dir and the embedded bus, on ephemeral
//! loopback ports, with settings built in code (never the process
//! environment). Stopped when dropped.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use liaison::serve::{serve_on, Listeners};
use liaison::target::Targets;
use liaison_runtime::settings::{Settings, Sources};
use liaison_tests::gateway::{logged_in, new_user, ADMIN, PASSWORD};
use liaison_tests::http::HttpClient;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct InProcess {
    pub http_addr: String,
    /// The internal address of `/metrics`, when the settings gave one.
    pub metrics_addr: Option<String>,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl InProcess {
    /// Every target, with these `LIAISON__…` settings; returns once it
    /// answers HTTP.
    pub async fn start(settings: &[(&str, &str)]) -> InProcess {
        let dir = tempfile::tempdir().expect("data dir");
        let mut environment: HashMap<String, String> = settings
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        environment.insert(
            "LIAISON__DATA_DIR".into(),
            dir.path().join("data").display().to_string(),
        );
        environment
            .entry("LIAISON__LOG__LEVEL".into())
            .or_insert_with(|| "warn".into());
        let mut settings = Settings::load(&Sources {
            file: None,
            environment: Some(environment),
        })
        .expect("settings");
        liaison::services::check_settings(&settings).expect("every service's settings");
        let metrics = match settings.http.metrics_addr.as_str() {
            "" => None,
            addr => Some(TcpListener::bind(addr).await.expect("metrics port")),
        };
        let metrics_addr = metrics
            .as_ref()
            .map(|listener| listener.local_addr().expect("metrics addr").to_string());
        let listeners = Listeners {
            grpc: TcpListener::bind("127.0.0.1:0").await.expect("grpc port"),
            http: TcpListener::bind("127.0.0.1:0").await.expect("http port"),
            metrics,
        };
        settings.grpc_addr = listeners.grpc.local_addr().expect("grpc addr");
        settings.http_addr = listeners.http.local_addr().expect("http addr");
        let http_addr = settings.http_addr;
        let shutdown = CancellationToken::new();
        let serving = tokio::spawn(serve_on(
            settings,
            Targets::default(),
            listeners,
            shutdown.clone(),
        ));
        let liaison = InProcess {
            http_addr: http_addr.to_string(),
            metrics_addr,
            shutdown,
            _dir: dir,
        };
        let probe = HttpClient::new(&liaison.http_addr);
        let deadline = Instant::now() + Duration::from_secs(30);
        while probe.get("/readyz").await.status != 200 {
            if serving.is_finished() {
                panic!("liaison stopped: {:?}", serving.await);
            }
            assert!(Instant::now() < deadline, "liaison not ready within 30 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        liaison
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Liaison in-process with a known first admin, seen from HTTP.
pub struct Gateway {
    pub liaison: InProcess,
}

impl Gateway {
    pub async fn start() -> Gateway {
        Self::start_with(&[]).await
    }

    pub async fn start_with(settings: &[(&str, &str)]) -> Gateway {
        let mut settings = settings.to_vec();
        settings.push(("LIAISON__AUTH__ADMIN_PASSWORD", PASSWORD));
        Gateway {
            liaison: InProcess::start(&settings).await,
        }
    }

    pub fn client(&self) -> HttpClient {
        HttpClient::new(&self.liaison.http_addr)
    }

    pub async fn admin(&self) -> HttpClient {
        logged_in(&self.liaison.http_addr, ADMIN).await
    }

    pub async fn user(&self, admin: &HttpClient, email: &str, role: &str) -> HttpClient {
        new_user(&self.liaison.http_addr, admin, email, role).await
    }
}
