//! Headless Chromium driven over the W3C WebDriver protocol (Debian's
//! `chromium` and `chromium-driver`), for the browser tests of the web UI.
//! The protocol is a handful of JSON calls; a client of our own keeps the
//! WebDriver crates (and their dependencies) out of the build.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use base64::Engine as _;
use bytes::Bytes;
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

/// The W3C key of an element reference in WebDriver answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long a lookup waits for its element to appear.
const WAIT: Duration = Duration::from_secs(15);

pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: Client<HttpConnector, Full<Bytes>>,
    screenshots: PathBuf,
    _profile: tempfile::TempDir,
}

/// An element of the current page.
#[derive(Debug, Clone)]
pub struct Element(String);

/// WebDriver's codes for keys, to send with [`Browser::type_into`].
pub mod keys {
    pub const ARROW_DOWN: &str = "\u{E015}";
    pub const ENTER: &str = "\u{E007}";
}

fn program(env: &str, candidates: &[&str]) -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var(env) {
        return Ok(PathBuf::from(path));
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .with_context(|| {
            format!(
                "none of {candidates:?} exists: the browser tests need Debian's chromium and \
                 chromium-driver (apt-get install chromium chromium-driver), or {env}"
            )
        })
}

impl Browser {
    /// Starts ChromeDriver on a free port and a headless Chromium session.
    /// Screenshots go to `screenshots` (created).
    pub async fn start(screenshots: &Path) -> anyhow::Result<Browser> {
        let driver_program = program(
            "LIAISON_CHROMEDRIVER",
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        )?;
        let chromium = program("LIAISON_CHROMIUM", &["/usr/bin/chromium"])?;
        std::fs::create_dir_all(screenshots)?;
        let port = crate::free_port();
        let driver = Command::new(&driver_program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("start {}", driver_program.display()))?;
        let profile = tempfile::tempdir()?;
        let mut browser = Browser {
            driver,
            base: format!("http://127.0.0.1:{port}"),
            session: String::new(),
            client: Client::builder(TokioExecutor::new()).build_http(),
            screenshots: screenshots.to_owned(),
            _profile: profile,
        };
        browser.wait_for_driver().await?;
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    // Root in CI containers cannot use the sandbox.
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--window-size=1280,1800",
                    format!("--user-data-dir={}", browser._profile.path().display()),
                ],
            },
        }}});
        let answer = browser
            .call(Method::POST, "/session", Some(capabilities))
            .await
            .context("open a Chromium session")?;
        browser.session = answer["sessionId"]
            .as_str()
            .context("no session id")?
            .to_owned();
        browser
            .session_call(
                Method::POST,
                "/timeouts",
                Some(json!({"implicit": WAIT.as_millis() as u64, "pageLoad": 30_000})),
            )
            .await?;
        Ok(browser)
    }

    async fn wait_for_driver(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(status) = self.call(Method::GET, "/status", None).await {
                if status["ready"] == true {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("chromedriver did not become ready within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn goto(&self, url: &str) -> anyhow::Result<()> {
        self.session_call(Method::POST, "/url", Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    pub async fn url(&self) -> anyhow::Result<String> {
        let url = self.session_call(Method::GET, "/url", None).await?;
        Ok(url.as_str().context("no url")?.to_owned())
    }

    /// The first element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> anyhow::Result<Element> {
        let found = self
            .session_call(
                Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        match found {
            Ok(found) => element(&found),
            Err(error) => {
                Err(error.context(format!("find {css:?} on {}", self.url_or_unknown().await)))
            }
        }
    }

    /// Every element matching `css` now (no waiting).
    pub async fn find_all(&self, css: &str) -> anyhow::Result<Vec<Element>> {
        let found = self
            .session_call(
                Method::POST,
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        found
            .as_array()
            .context("elements")?
            .iter()
            .map(element)
            .collect()
    }

    /// Waits until `css` matches an element whose text contains `text`.
    pub async fn find_with_text(&self, css: &str, text: &str) -> anyhow::Result<Element> {
        let deadline = Instant::now() + WAIT;
        loop {
            // While the page is replaced, elements go stale: look again.
            for candidate in self.find_all(css).await.unwrap_or_default() {
                if self
                    .text(&candidate)
                    .await
                    .is_ok_and(|shown| shown.contains(text))
                {
                    return Ok(candidate);
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "no {css:?} with text {text:?} on {}",
                    self.url_or_unknown().await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, element: &Element) -> anyhow::Result<()> {
        self.element_call(Method::POST, element, "/click", Some(json!({})))
            .await
            .map(drop)
    }

    /// Types `text` into the element, as key presses (keys from [`keys`]).
    pub async fn type_into(&self, element: &Element, text: &str) -> anyhow::Result<()> {
        self.element_call(
            Method::POST,
            element,
            "/value",
            Some(json!({ "text": text })),
        )
        .await
        .map(drop)
    }

    pub async fn text(&self, element: &Element) -> anyhow::Result<String> {
        let text = self
            .element_call(Method::GET, element, "/text", None)
            .await?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// A DOM property (`value`, `checked`...) as text.
    pub async fn property(&self, element: &Element, name: &str) -> anyhow::Result<String> {
        let value = self
            .element_call(Method::GET, element, &format!("/property/{name}"), None)
            .await?;
        Ok(match value {
            Value::String(text) => text,
            Value::Null => String::new(),
            other => other.to_string(),
        })
    }

    /// Fills the form field `css` with `text`, replacing what it held.
    pub async fn fill(&self, css: &str, text: &str) -> anyhow::Result<()> {
        let field = self.find(css).await?;
        self.element_call(Method::POST, &field, "/clear", Some(json!({})))
            .await?;
        self.type_into(&field, text).await
    }

    /// Clicks `css` and waits for the browser to reach a new address.
    pub async fn click_and_wait_for_navigation(&self, css: &str) -> anyhow::Result<String> {
        let before = self.url().await?;
        let button = self.find(css).await?;
        self.click(&button).await?;
        self.wait_for_url(|url| url != before).await
    }

    /// Waits until the address satisfies `done`; returns it.
    pub async fn wait_for_url(&self, done: impl Fn(&str) -> bool) -> anyhow::Result<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let url = self.url().await?;
            if done(&url) {
                return Ok(url);
            }
            if Instant::now() > deadline {
                bail!("still at {url} after {WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Saves the viewport as `<screenshots>/<name>.png`; returns the path.
    pub async fn screenshot(&self, name: &str) -> anyhow::Result<PathBuf> {
        let encoded = self.session_call(Method::GET, "/screenshot", None).await?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().context("screenshot")?)
            .context("screenshot is not base64")?;
        anyhow::ensure!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        let path = self.screenshots.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    /// Answers the dialog the page opened (a `confirm`): accepts it or
    /// dismisses it; returns its question.
    pub async fn answer_dialog(&self, accept: bool) -> anyhow::Result<String> {
        let question = self.session_call(Method::GET, "/alert/text", None).await?;
        let answer = if accept {
            "/alert/accept"
        } else {
            "/alert/dismiss"
        };
        self.session_call(Method::POST, answer, Some(json!({})))
            .await?;
        Ok(question.as_str().unwrap_or_default().to_owned())
    }

    /// Runs `script` in the page; returns what it returns.
    pub async fn execute(&self, script: &str) -> anyhow::Result<Value> {
        self.session_call(
            Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
        .await
    }

    async fn url_or_unknown(&self) -> String {
        self.url().await.unwrap_or_else(|_| "(unknown page)".into())
    }

    async fn element_call(
        &self,
        method: Method,
        element: &Element,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        self.session_call(method, &format!("/element/{}{path}", element.0), body)
            .await
    }

    async fn session_call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        self.call(method, &format!("/session/{}{path}", self.session), body)
            .await
    }

    /// One WebDriver command; its `value`, or its error as an error.
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let body = body.map(|value| value.to_string()).unwrap_or_default();
        let request = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let response = tokio::time::timeout(Duration::from_secs(60), self.client.request(request))
            .await
            .with_context(|| format!("{method} {path}: no answer within 60 s"))??;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        let answer: Value =
            serde_json::from_slice(&bytes).with_context(|| format!("{method} {path}: not JSON"))?;
        let value = answer["value"].clone();
        if !status.is_success() {
            bail!(
                "{method} {path}: {} ({})",
                value["error"].as_str().unwrap_or("error"),
                value["message"]
                    .as_str()
                    .unwrap_or_default()
                    .lines()
                    .next()
                    .unwrap_or_default()
            );
        }
        Ok(value)
    }
}

fn element(found: &Value) -> anyhow::Result<Element> {
    Ok(Element(
        found[ELEMENT_KEY]
            .as_str()
            .context("not an element reference")?
            .to_owned(),
    ))
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the session stops Chromium; the driver goes with the kill.
        if !self.session.is_empty() {
            let (base, session) = (self.base.clone(), self.session.clone());
            let closed = std::thread::spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                runtime.block_on(async {
                    let client: Client<HttpConnector, Full<Bytes>> =
                        Client::builder(TokioExecutor::new()).build_http();
                    let request = Request::delete(format!("{base}/session/{session}"))
                        .body(Full::new(Bytes::new()))
                        .ok()?;
                    tokio::time::timeout(Duration::from_secs(10), client.request(request))
                        .await
                        .ok()
                })
            });
            let _ = closed.join();
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
