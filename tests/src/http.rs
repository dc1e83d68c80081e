//! A small HTTP client for the gateway's tests: JSON in and out, a cookie
//! jar, the CSRF header a browser page would send.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

pub struct HttpClient {
    base: String,
    client: Client<HttpConnector, Full<Bytes>>,
    cookies: Mutex<HashMap<String, String>>,
    csrf: Mutex<Option<String>>,
    bearer: Option<String>,
    headers: Mutex<Vec<(String, String)>>,
}

/// An answer: its status, headers, and body (as JSON when it is).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    /// The error code of an error body.
    pub fn error_code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or_default()
    }

    pub fn error_message(&self) -> &str {
        self.json["error"]["message"].as_str().unwrap_or_default()
    }

    pub fn error_field(&self) -> &str {
        self.json["error"]["field"].as_str().unwrap_or_default()
    }
}

impl HttpClient {
    /// A client of the server at `http_addr` (`127.0.0.1:PORT`).
    pub fn new(http_addr: &str) -> Self {
        Self {
            base: format!("http://{http_addr}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
            cookies: Mutex::new(HashMap::new()),
            csrf: Mutex::new(None),
            bearer: None,
            headers: Mutex::new(Vec::new()),
        }
    }

    /// A client sending `Authorization: Bearer <token>` and no cookie.
    pub fn with_bearer(http_addr: &str, token: &str) -> Self {
        let mut client = Self::new(http_addr);
        client.bearer = Some(token.to_owned());
        client
    }

    /// Sends `name: value` with every request from now on (e.g. the
    /// `X-Forwarded-For` a proxy would add).
    pub fn set_header(&self, name: &str, value: &str) {
        let mut headers = self.headers.lock().expect("headers");
        headers.retain(|(kept, _)| !kept.eq_ignore_ascii_case(name));
        headers.push((name.to_owned(), value.to_owned()));
    }

    pub fn set_csrf(&self, token: Option<&str>) {
        *self.csrf.lock().expect("csrf") = token.map(str::to_owned);
    }

    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .expect("cookies")
            .insert(name.to_owned(), value.to_owned());
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().expect("cookies").get(name).cloned()
    }

    /// Logs in and keeps the session cookie and CSRF token.
    pub async fn login(&self, email: &str, password: &str) -> Reply {
        let reply = self
            .post(
                "/api/session",
                serde_json::json!({"email": email, "password": password}),
            )
            .await;
        if let Some(token) = reply.json["csrf_token"].as_str() {
            self.set_csrf(Some(token));
        }
        reply
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    /// Sends raw bytes with a content type (malformed bodies).
    pub async fn post_raw(&self, path: &str, content_type: &str, body: &'static str) -> Reply {
        let request = self
            .builder(Method::POST, path)
            .header(header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from_static(body.as_bytes())))
            .expect("request");
        self.run(request).await
    }

    /// Posts an HTML form (`application/x-www-form-urlencoded`), as a
    /// browser does: no CSRF header, the token goes in the fields.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let body = fields
            .iter()
            .map(|(key, value)| format!("{}={}", form_encode(key), form_encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        let saved = self.csrf.lock().expect("csrf").take();
        let request = self
            .builder(Method::POST, path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let reply = self.run(request).await;
        *self.csrf.lock().expect("csrf") = saved;
        reply
    }

    /// The value of the first `name="<field>" value="…"` in a page.
    pub fn hidden_field(page: &str, field: &str) -> Option<String> {
        let marker = format!("name=\"{field}\" value=\"");
        let start = page.find(&marker)? + marker.len();
        let end = page[start..].find('"')? + start;
        Some(page[start..end].to_owned())
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut builder = self.builder(method, path);
        let body = match body {
            Some(value) => {
                builder = builder.header(header::CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(value.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let request = builder.body(body).expect("request");
        self.run(request).await
    }

    fn builder(&self, method: Method, path: &str) -> http::request::Builder {
        let mut builder = Request::builder()
            .method(method.clone())
            .uri(format!("{}{path}", self.base));
        if let Some(token) = &self.bearer {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        for (name, value) in self.headers.lock().expect("headers").iter() {
            builder = builder.header(name, value);
        }
        let cookies = self.cookies.lock().expect("cookies");
        if !cookies.is_empty() {
            let jar: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
            builder = builder.header(header::COOKIE, jar.join("; "));
        }
        let changes_state = !matches!(method, Method::GET | Method::HEAD);
        if let (true, Some(token)) = (changes_state, self.csrf.lock().expect("csrf").as_ref()) {
            builder = builder.header("x-csrf-token", token);
        }
        builder
    }

    async fn run(&self, request: Request<Full<Bytes>>) -> Reply {
        let response = self.client.request(request).await.expect("http request");
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all(header::SET_COOKIE) {
            let Some((pair, _)) = set.to_str().unwrap_or_default().split_once(';') else {
                continue;
            };
            if let Some((name, value)) = pair.split_once('=') {
                let mut cookies = self.cookies.lock().expect("cookies");
                if value.is_empty() {
                    cookies.remove(name);
                } else {
                    cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            text,
            json,
        }
    }
}

fn form_encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                encoded.push(char::from(byte))
            }
            b' ' => encoded.push('+'),
            other => encoded.push_str(&format!("%{other:02X}")),
        }
    }
    encoded
}
