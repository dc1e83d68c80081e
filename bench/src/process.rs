//! Servers under measurement, each in its own process.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;

pub struct Server {
    child: Option<Child>,
    addr: String,
    /// The HTTP listener (probes, gateway), when the server has one.
    http: Option<String>,
}

fn free_addr() -> anyhow::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}

impl Server {
    /// The SQLite ceiling server on `database`.
    pub async fn ceiling(database: &Path) -> anyhow::Result<Server> {
        let database = database
            .to_str()
            .context("the ceiling database path is not UTF-8")?;
        Self::ceiling_with(&["ceiling-server", "--database", database]).await
    }

    /// The PostgreSQL ceiling server, in schema `schema`.
    pub async fn ceiling_postgres(url: &str, schema: &str) -> anyhow::Result<Server> {
        Self::ceiling_with(&["ceiling-postgres-server", "--url", url, "--schema", schema]).await
    }

    /// This benchmark binary serving a ceiling, as `args` say.
    async fn ceiling_with(args: &[&str]) -> anyhow::Result<Server> {
        let addr = free_addr()?;
        let child = Command::new(std::env::current_exe()?)
            .args(args)
            .args(["--addr", &addr])
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("start the ceiling server ({})", args[0]))?;
        let server = Server {
            child: Some(child),
            addr,
            http: None,
        };
        server.wait_serving("liaison.bench.v1.Ceiling").await?;
        Ok(server)
    }

    /// Starts `liaison serve --target <target>` with extra settings; it
    /// serves once `health_service` does.
    pub async fn liaison_target(
        binary: &Path,
        data_dir: &Path,
        target: &str,
        health_service: &str,
        env: &[(&str, String)],
    ) -> anyhow::Result<Server> {
        let addr = free_addr()?;
        let http = free_addr()?;
        let child = Command::new(binary)
            .args(["serve", "--target", target, "--data-dir"])
            .arg(data_dir)
            .args(["--grpc-addr", &addr, "--http-addr", &http])
            .env("LIAISON__LOG__LEVEL", "warn")
            .envs(env.iter().map(|(key, value)| (*key, value)))
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let server = Server {
            child: Some(child),
            addr,
            http: Some(http),
        };
        server.wait_serving(health_service).await?;
        Ok(server)
    }

    /// Starts `liaison serve`; also returns the time to SERVING.
    pub async fn liaison(binary: &Path, data_dir: &Path) -> anyhow::Result<(Server, Duration)> {
        Self::liaison_with(binary, data_dir, &[]).await
    }

    /// Starts `liaison serve` with extra settings; also returns the time to
    /// SERVING.
    pub async fn liaison_with(
        binary: &Path,
        data_dir: &Path,
        env: &[(&str, String)],
    ) -> anyhow::Result<(Server, Duration)> {
        let addr = free_addr()?;
        let http = free_addr()?;
        let started = Instant::now();
        let child = Command::new(binary)
            .args(["serve", "--data-dir"])
            .arg(data_dir)
            .args(["--grpc-addr", &addr, "--http-addr", &http])
            .env("LIAISON__LOG__LEVEL", "warn")
            .envs(env.iter().map(|(key, value)| (*key, value)))
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", binary.display()))?;
        let server = Server {
            child: Some(child),
            addr,
            http: Some(http),
        };
        server
            .wait_serving("liaison.contacts.v1.ContactService")
            .await?;
        Ok((server, started.elapsed()))
    }

    async fn wait_serving(&self, service: &str) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(endpoint) = Channel::from_shared(self.url()) {
                if let Ok(channel) = endpoint.connect().await {
                    let request = HealthCheckRequest {
                        service: service.to_owned(),
                    };
                    if let Ok(response) = HealthClient::new(channel).check(request).await {
                        if response.into_inner().status == ServingStatus::Serving as i32 {
                            return Ok(());
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        bail!("{service} did not serve within 60 s")
    }

    /// A server this process did not start, at `http://host:port`.
    pub fn remote(url: &str) -> Server {
        Server {
            child: None,
            addr: url.trim_start_matches("http://").to_owned(),
            http: None,
        }
    }

    /// `host:port` of the HTTP listener.
    pub fn http_addr(&self) -> anyhow::Result<&str> {
        self.http
            .as_deref()
            .context("this server has no HTTP listener")
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Resident memory of the server process.
    pub fn rss_mib(&self) -> anyhow::Result<f64> {
        let pid = self
            .child
            .as_ref()
            .context("not a server of this process")?
            .id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .context("no VmRSS line")?;
        Ok(kib / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
