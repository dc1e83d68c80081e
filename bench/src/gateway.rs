//! The gateway's workloads: the persons list as a REST endpoint and as a web
//! page over a large address book, under wrk at 32 connections, beside the
//! static `/healthz` route of the same HTTP server measured in the same run.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::process::Server;
use crate::{create_category, progress, seed, work_dirs};

const CONNECTIONS: usize = 32;
/// Alternating rounds of the ceiling and the two workloads.
const ROUNDS: usize = 3;
const ADMIN_EMAIL: &str = "bench@liaison.test";
const ADMIN_PASSWORD: &str = "bench-password-of-some-length";

pub async fn run(liaison: &Path, duration: Duration, persons: u64) -> anyhow::Result<String> {
    let wrk = which("wrk").context(
        "the gateway workloads need wrk (Debian: apt-get install wrk) as the HTTP load generator",
    )?;
    let (_work, data) = work_dirs()?;
    let (service, _) = Server::liaison_with(
        liaison,
        &data,
        &[
            ("LIAISON__AUTH__ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
            ("LIAISON__AUTH__ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ],
    )
    .await?;
    let http = service.http_addr()?.to_owned();
    progress(&format!("gateway: {persons} persons"));
    let category = create_category(&service).await?;
    seed(&service, persons, &category).await?;

    let (cookie, token) = credentials(&http).await?;
    let bearer = format!("Authorization: Bearer {token}");
    let cookie = format!("Cookie: {cookie}");
    let workloads = [
        Workload {
            name: "ceiling: static route `GET /healthz`, same server".into(),
            path: "/healthz".into(),
            header: None,
        },
        Workload {
            name: format!("`GET /api/persons` (bearer token), page 50 + total, {persons} persons"),
            path: "/api/persons".into(),
            header: Some(bearer),
        },
        Workload {
            name: format!(
                "persons list page `GET /persons` (session), 50 rows + total, {persons} persons"
            ),
            path: "/persons".into(),
            header: Some(cookie),
        },
    ];
    for workload in &workloads {
        workload.check(&http, persons).await?;
    }

    progress("gateway: wrk rounds");
    let mut runs: Vec<Vec<Wrk>> = workloads.iter().map(|_| Vec::new()).collect();
    for _ in 0..ROUNDS {
        for (workload, runs) in workloads.iter().zip(&mut runs) {
            runs.push(workload.load(&wrk, &http, duration)?);
        }
    }
    let medians: Vec<Wrk> = runs.iter().map(|runs| Wrk::median(runs)).collect();
    let ceiling = medians[0].requests_per_second;

    let mut out = String::from(
        "| workload | connections | throughput | p50 ms | p99 ms | vs ceiling | errors |\n| --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for (workload, result) in workloads.iter().zip(&medians) {
        let _ = writeln!(
            out,
            "| (j) {} | {CONNECTIONS} | {:.0}/s | {:.2} | {:.2} | {:.2}x | {} |",
            workload.name,
            result.requests_per_second,
            result.p50_ms,
            result.p99_ms,
            result.requests_per_second / ceiling,
            result.errors
        );
    }
    let _ = writeln!(out);
    for (workload, runs) in workloads.iter().zip(&runs) {
        let rounds: Vec<String> = runs
            .iter()
            .map(|r| format!("{:.0}/s p99 {:.2} ms", r.requests_per_second, r.p99_ms))
            .collect();
        let _ = writeln!(out, "{}: rounds {}.", workload.name, rounds.join("; "));
    }
    let _ = writeln!(
        out,
        "Each figure is the median of {ROUNDS} rounds of {} s (`wrk -t2 -c{CONNECTIONS} --latency`), rounds alternating between the three routes. Goal: list endpoint p99 < 20 ms at {CONNECTIONS} connections.",
        duration.as_secs()
    );
    Ok(out)
}

struct Workload {
    name: String,
    path: String,
    header: Option<String>,
}

impl Workload {
    /// One request before the load: the route must answer 200 with the
    /// whole address book behind it, or the load would measure an error page.
    async fn check(&self, http: &str, persons: u64) -> anyhow::Result<()> {
        let headers: Vec<&str> = self.header.iter().map(String::as_str).collect();
        let response = request(http, "GET", &self.path, &headers, "").await?;
        ensure!(
            response.status == 200,
            "GET {} answered {}: {}",
            self.path,
            response.status,
            response.body
        );
        if self.path == "/api/persons" {
            let page: serde_json::Value = serde_json::from_str(&response.body)?;
            let rows = page["items"].as_array().map_or(0, Vec::len);
            ensure!(
                rows == 50 && page["total"] == persons,
                "GET /api/persons gave {rows} rows and total {} (expected 50 of {persons})",
                page["total"]
            );
        } else if self.path == "/persons" {
            let rows = response.body.matches("href=\"/contacts/").count();
            ensure!(
                rows >= 50,
                "the persons page links {rows} contacts (expected 50)"
            );
        }
        Ok(())
    }

    fn load(&self, wrk: &Path, http: &str, duration: Duration) -> anyhow::Result<Wrk> {
        let mut command = Command::new(wrk);
        command.args([
            "-t2",
            &format!("-c{CONNECTIONS}"),
            &format!("-d{}s", duration.as_secs().max(1)),
            "--latency",
        ]);
        if let Some(header) = &self.header {
            command.args(["-H", header]);
        }
        command.arg(format!("http://{http}{}", self.path));
        let output = command.output().context("run wrk")?;
        ensure!(
            output.status.success(),
            "wrk failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Wrk::parse(&String::from_utf8_lossy(&output.stdout))
    }
}

/// What one wrk run printed.
#[derive(Clone, Debug, PartialEq)]
struct Wrk {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// Socket errors and responses other than 2xx/3xx.
    errors: u64,
}

impl Wrk {
    fn parse(output: &str) -> anyhow::Result<Wrk> {
        let mut requests_per_second = None;
        let mut p50_ms = None;
        let mut p99_ms = None;
        let mut errors = 0;
        for line in output.lines().map(str::trim) {
            if let Some(value) = line.strip_prefix("Requests/sec:") {
                requests_per_second = Some(value.trim().parse()?);
            } else if let Some(value) = line.strip_prefix("50%") {
                p50_ms = Some(milliseconds(value.trim())?);
            } else if let Some(value) = line.strip_prefix("99%") {
                p99_ms = Some(milliseconds(value.trim())?);
            } else if let Some(value) = line.strip_prefix("Non-2xx or 3xx responses:") {
                errors += value.trim().parse::<u64>()?;
            } else if let Some(value) = line.strip_prefix("Socket errors:") {
                for part in value.split(',') {
                    let count = part.split_whitespace().last().unwrap_or("0");
                    errors += count.parse::<u64>()?;
                }
            }
        }
        match (requests_per_second, p50_ms, p99_ms) {
            (Some(requests_per_second), Some(p50_ms), Some(p99_ms)) => Ok(Wrk {
                requests_per_second,
                p50_ms,
                p99_ms,
                errors,
            }),
            _ => bail!("wrk printed no throughput or latency distribution:\n{output}"),
        }
    }

    /// The round with the median p99 (rounds are few; ties keep the first).
    fn median(runs: &[Wrk]) -> Wrk {
        let mut sorted = runs.to_vec();
        sorted.sort_by(|a, b| a.p99_ms.total_cmp(&b.p99_ms));
        sorted[sorted.len() / 2].clone()
    }
}

/// wrk's durations: `215.00us`, `1.20ms`, `1.02s`, `2.00m`.
fn milliseconds(value: &str) -> anyhow::Result<f64> {
    let split = value
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("no unit in wrk duration {value:?}"))?;
    let (number, unit) = value.split_at(split);
    let number: f64 = number
        .parse()
        .with_context(|| format!("bad wrk duration {value:?}"))?;
    Ok(match unit {
        "us" => number / 1_000.0,
        "ms" => number,
        "s" => number * 1_000.0,
        "m" => number * 60_000.0,
        other => bail!("unknown unit {other:?} in wrk duration {value:?}"),
    })
}

/// Logs in as the first admin: the session cookie and a new API token.
async fn credentials(http: &str) -> anyhow::Result<(String, String)> {
    let login = serde_json::json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD });
    let response = request(
        http,
        "POST",
        "/api/session",
        &["Content-Type: application/json"],
        &login.to_string(),
    )
    .await?;
    ensure!(
        response.status == 201,
        "login answered {}: {}",
        response.status,
        response.body
    );
    let cookie = response.set_cookie.context("login set no session cookie")?;
    let session: serde_json::Value = serde_json::from_str(&response.body)?;
    let csrf = session["csrf_token"]
        .as_str()
        .context("login gave no CSRF token")?;
    let cookie_header = format!("Cookie: {cookie}");
    let csrf_header = format!("X-CSRF-Token: {csrf}");
    let response = request(
        http,
        "POST",
        "/api/tokens",
        &[
            "Content-Type: application/json",
            &cookie_header,
            &csrf_header,
        ],
        r#"{"name":"bench"}"#,
    )
    .await?;
    ensure!(
        response.status == 201,
        "token creation answered {}: {}",
        response.status,
        response.body
    );
    let created: serde_json::Value = serde_json::from_str(&response.body)?;
    let token = created["secret"]
        .as_str()
        .context("no token secret")?
        .to_owned();
    Ok((cookie, token))
}

struct Response {
    status: u16,
    /// `name=value` of the first Set-Cookie.
    set_cookie: Option<String>,
    body: String,
}

/// One HTTP/1.1 request on its own connection; enough for the set-up calls.
async fn request(
    http: &str,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &str,
) -> anyhow::Result<Response> {
    let mut stream = tokio::net::TcpStream::connect(http).await?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {http}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .context("no answer within 30 s")??;
    let raw = String::from_utf8_lossy(&raw);
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .context("an HTTP answer without a blank line")?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .context("an HTTP answer without a status")?;
    let set_cookie = lines
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .and_then(|(_, value)| value.trim().split(';').next())
        .map(str::to_owned);
    // Chunked bodies are only looked into, never parsed: keep the text.
    Ok(Response {
        status,
        set_cookie,
        body: body.to_owned(),
    })
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(program))
        .find(|path| path.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_is_read_with_its_units_and_errors() {
        let output = "Running 5s test @ http://127.0.0.1:1/healthz
  2 threads and 32 connections
  Latency Distribution
     50%  215.00us
     75%  400.00us
     90%  800.00us
     99%    1.20ms
  123456 requests in 5.00s, 12.34MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  24691.20
Transfer/sec:      2.47MB
";
        let wrk = Wrk::parse(output).expect("parsed");
        assert_eq!(
            wrk,
            Wrk {
                requests_per_second: 24691.2,
                p50_ms: 0.215,
                p99_ms: 1.2,
                errors: 8
            }
        );
    }

    #[test]
    fn wrk_output_without_figures_is_an_error() {
        assert!(Wrk::parse("unable to connect to 127.0.0.1:1 Connection refused").is_err());
        assert!(milliseconds("12").is_err());
        assert!(milliseconds("1.5h").is_err());
        assert_eq!(milliseconds("1.02s").expect("seconds"), 1020.0);
    }
}
