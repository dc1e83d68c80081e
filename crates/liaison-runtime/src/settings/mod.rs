//! Layered, typed, validated configuration: compiled-in defaults, then
//! `liaison.toml` (or the file given), then `LIAISON__SECTION__KEY`
//! environment variables. Unknown keys are refused with their name.
//!
//! What every process shares is typed here. Each service's own settings
//! live in `[services.<name>]` and are typed and checked by the service
//! ([`Settings::service`]); where the services it does not run are, in
//! `[peers]`. The sections of earlier versions (`[contacts]`, `[relations]`,
//! `[gateway]`, `[auth]`, and their `LIAISON__CONTACTS__…` variables) are
//! read as their place in `[services]`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat, Map, Value, ValueKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

mod legacy;

const DEFAULTS: &str = include_str!("../defaults.toml");
const MASK: &str = "********";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub log: LogSettings,
    /// `[services.<name>]`: each service's own section, as written; the
    /// service reads and checks it ([`Settings::service`]).
    #[serde(default, skip_serializing)]
    pub services: BTreeMap<String, Value>,
    /// `[peers]`: the gRPC URL of each service this process does not run
    /// (`relations = "http://relations:50051"`). A service running in this
    /// process is called in-process whatever is set.
    #[serde(default)]
    pub peers: BTreeMap<String, String>,
    pub http: HttpSettings,
    pub bus: BusSettings,
    pub telemetry: TelemetrySettings,
    pub security: SecuritySettings,
}

/// `[http]`: how the HTTP port (probes, metrics, the gateway) protects
/// itself from clients that hold connections or hide behind proxies.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Proxies (addresses or networks, `10.0.0.0/8`) whose
    /// `X-Forwarded-For` and `X-Forwarded-Proto` are believed; empty: the
    /// connection's address is the client's. In the environment, a
    /// comma-separated list.
    #[serde(deserialize_with = "list_or_commas")]
    pub trusted_proxies: Vec<String>,
    /// Open connections at most, in all; the process lowers it to what its
    /// open-file limit allows.
    pub max_connections: usize,
    /// Open connections at most from one client address (trusted proxies
    /// are not limited by it).
    pub max_connections_per_address: usize,
    /// A request's headers must arrive within this.
    pub header_timeout_seconds: u64,
    /// A request must be read and answered within this.
    pub request_timeout_seconds: u64,
    /// A connection with no traffic and no request being answered is
    /// closed after this.
    pub idle_timeout_seconds: u64,
    /// Requests at once on one HTTP/2 connection.
    pub max_h2_streams: u32,
    /// `Strict-Transport-Security` on every answer (set it when clients
    /// reach Liaison over HTTPS only); it is sent anyway to requests a
    /// trusted proxy says came over HTTPS.
    pub hsts: bool,
    /// Who may read `/metrics`: when `metrics_addr` is set, it is served
    /// there only (an internal address); else, when `metrics_token` is set,
    /// to `Authorization: Bearer <token>`; else to loopback clients only.
    pub metrics_addr: String,
    pub metrics_token: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// OTLP/gRPC collector, e.g. `http://otel-collector:4317`; empty: no
    /// trace export.
    pub otlp_endpoint: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info,liaison_contacts=debug`.
    pub level: String,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Where a service keeps its data: the part of `[services.<name>]` every
/// service with a store has.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageSettings {
    /// `sqlite://path`, `postgres://user@host:port/database`, or empty for
    /// `<data_dir>/<service>.sqlite`.
    pub database_url: String,
    /// PostgreSQL schema of the service's tables; empty: the service's name.
    pub database_schema: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BusSettings {
    pub kind: BusKind,
    pub nats_url: String,
    /// Published events older than this are deleted from the bus.
    pub max_age_hours: u64,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BusKind {
    Embedded,
    Nats,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SecuritySettings {
    pub internal_token: String,
    /// Signs the identities passed between processes (32+ characters,
    /// the same in every process of a deployment); empty: a random key per
    /// process, enough when every service runs in one.
    pub identity_key: String,
    pub unsigned_calls: UnsignedCalls,
}

/// A list, or one string of comma-separated entries (how an environment
/// variable gives one).
fn list_or_commas<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        List(Vec<String>),
        Commas(String),
    }
    Ok(match Written::deserialize(deserializer)? {
        Written::List(entries) => entries,
        Written::Commas(text) => text
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Whether services accept gRPC calls without a signed identity.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UnsignedCalls {
    /// Accepted while gRPC listens on loopback only (the default).
    AllowOnLoopback,
    /// Accepted everywhere: open local development only.
    Allow,
    Refuse,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration file {path} not found")]
    FileNotFound { path: PathBuf },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Where settings come from. Tests build this in code; they never touch the
/// process environment.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// An explicit file (must exist); otherwise `liaison.toml` if present.
    pub file: Option<PathBuf>,
    /// `LIAISON__…` variables; `None` reads the process environment.
    pub environment: Option<HashMap<String, String>>,
}

impl Settings {
    pub fn load(sources: &Sources) -> Result<Self, SettingsError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        match &sources.file {
            Some(path) => {
                if !path.exists() {
                    return Err(SettingsError::FileNotFound { path: path.clone() });
                }
                builder = builder.add_source(File::from(path.as_path()).format(FileFormat::Toml));
            }
            None => {
                builder = builder.add_source(
                    File::from(Path::new("liaison.toml"))
                        .format(FileFormat::Toml)
                        .required(false),
                );
            }
        }
        let environment = Environment::with_prefix("LIAISON")
            .prefix_separator("__")
            .separator("__")
            .source(sources.environment.clone());
        let invalid = |error: config::ConfigError| SettingsError::Invalid(error.to_string());
        let written = builder.add_source(environment).build().map_err(invalid)?;
        let settings: Settings = legacy::with_legacy_sections_moved(written)?
            .try_deserialize()
            .map_err(invalid)?;
        settings.validate()?;
        Ok(settings)
    }

    /// The `[services.<name>]` section as the service's settings type `T`
    /// (its defaults where the section is silent); an error names the key.
    pub fn service<T: DeserializeOwned>(&self, name: &str) -> Result<T, SettingsError> {
        let section = self
            .services
            .get(name)
            .cloned()
            .unwrap_or_else(|| Value::new(None, ValueKind::Table(Map::new())));
        section
            .try_deserialize()
            .map_err(|error| SettingsError::Invalid(format!("services.{name}: {error}")))
    }

    /// The storage of service `name`: its database URL (a SQLite file in the
    /// data dir by default) and PostgreSQL schema, checked.
    pub fn storage(&self, name: &str) -> Result<(String, Option<String>), SettingsError> {
        let section = self
            .services
            .get(name)
            .and_then(|section| section.clone().into_table().ok())
            .unwrap_or_default();
        let text = |key: &str| -> Result<String, SettingsError> {
            match section.get(key) {
                None => Ok(String::new()),
                Some(value) => value.clone().into_string().map_err(|_| {
                    SettingsError::Invalid(format!("services.{name}.{key} must be a string"))
                }),
            }
        };
        let storage = StorageSettings {
            database_url: text("database_url")?,
            database_schema: text("database_schema")?,
        };
        storage.validate(name)?;
        Ok((
            self.database_url(name, &storage.database_url),
            storage.schema(),
        ))
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(SettingsError::Invalid("data_dir must not be empty".into()));
        }
        for (service, peer) in &self.peers {
            if !peer.is_empty() && !peer.starts_with("http://") && !peer.starts_with("https://") {
                return Err(SettingsError::Invalid(format!(
                    "peers.{service} {peer:?} must be an http:// or https:// URL (e.g. http://{service}:50051), or empty"
                )));
            }
        }
        self.validate_security()?;
        self.validate_http()?;
        if self.bus.kind == BusKind::Nats && !self.bus.nats_url.starts_with("nats://") {
            return Err(SettingsError::Invalid(format!(
                "bus.nats_url {:?} must start with nats://",
                mask_url_password(&self.bus.nats_url)
            )));
        }

        if self.bus.max_age_hours == 0 {
            return Err(SettingsError::Invalid(
                "bus.max_age_hours must be at least 1".into(),
            ));
        }
        let endpoint = &self.telemetry.otlp_endpoint;
        if !endpoint.is_empty()
            && !endpoint.starts_with("http://")
            && !endpoint.starts_with("https://")
        {
            return Err(SettingsError::Invalid(format!(
                "telemetry.otlp_endpoint {endpoint:?} must be an http:// or https:// URL, or empty"
            )));
        }
        if self.log.level.trim().is_empty() {
            return Err(SettingsError::Invalid("log.level must not be empty".into()));
        }
        Ok(())
    }

    fn validate_security(&self) -> Result<(), SettingsError> {
        let key = &self.security.identity_key;
        if !key.is_empty() && key.len() < crate::identity::MIN_KEY_LENGTH {
            return Err(SettingsError::Invalid(format!(
                "security.identity_key must be at least {} characters (it is {})",
                crate::identity::MIN_KEY_LENGTH,
                key.len()
            )));
        }
        if key.is_empty() && !self.accepts_unsigned_calls() {
            return Err(SettingsError::Invalid(format!(
                "security.identity_key must be set (the same {}+ characters in every process) when \
                 services refuse unsigned calls (security.unsigned_calls = {:?}, gRPC on {})",
                crate::identity::MIN_KEY_LENGTH,
                self.security.unsigned_calls,
                self.grpc_addr
            )));
        }
        Ok(())
    }

    fn validate_http(&self) -> Result<(), SettingsError> {
        let http = &self.http;
        crate::http::proxies::TrustedProxies::parse(&http.trusted_proxies)
            .map_err(|error| SettingsError::Invalid(format!("http.trusted_proxies: {error}")))?;
        let positive = [
            ("max_connections", http.max_connections as u64),
            (
                "max_connections_per_address",
                http.max_connections_per_address as u64,
            ),
            ("header_timeout_seconds", http.header_timeout_seconds),
            ("request_timeout_seconds", http.request_timeout_seconds),
            ("idle_timeout_seconds", http.idle_timeout_seconds),
            ("max_h2_streams", u64::from(http.max_h2_streams)),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(SettingsError::Invalid(format!(
                    "http.{key} must be at least 1"
                )));
            }
        }
        if !http.metrics_addr.is_empty() && http.metrics_addr.parse::<SocketAddr>().is_err() {
            return Err(SettingsError::Invalid(format!(
                "http.metrics_addr {:?} must be an address and port such as 10.0.0.5:9464, or empty",
                http.metrics_addr
            )));
        }
        Ok(())
    }

    /// Whether this process's services accept calls without a signed identity.
    pub fn accepts_unsigned_calls(&self) -> bool {
        match self.security.unsigned_calls {
            UnsignedCalls::Allow => true,
            UnsignedCalls::Refuse => false,
            UnsignedCalls::AllowOnLoopback => self.grpc_addr.ip().is_loopback(),
        }
    }

    /// The key identities are signed with: the configured one, or a new
    /// random one (valid in this process only).
    pub fn identity_key(&self) -> crate::identity::IdentityKey {
        let key = &self.security.identity_key;
        if key.is_empty() {
            crate::identity::IdentityKey::random()
        } else {
            crate::identity::IdentityKey::new(key.as_bytes())
        }
    }

    /// A service's database URL: the one configured, or a SQLite file in
    /// the data dir.
    pub fn database_url(&self, service: &str, configured: &str) -> String {
        if configured.is_empty() || configured == "sqlite://" || configured == "sqlite:" {
            format!(
                "sqlite://{}",
                self.data_dir.join(format!("{service}.sqlite")).display()
            )
        } else {
            configured.to_owned()
        }
    }

    /// The peer URL of service `name`, if one is set.
    pub fn peer(&self, name: &str) -> Option<&str> {
        self.peers
            .get(name)
            .map(String::as_str)
            .filter(|url| !url.is_empty())
    }

    /// The settings every process shares as TOML, secrets masked. The
    /// services' sections are each service's to print.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        if !shown.security.internal_token.is_empty() {
            shown.security.internal_token = MASK.to_owned();
        }
        if !shown.security.identity_key.is_empty() {
            shown.security.identity_key = MASK.to_owned();
        }
        for url in shown.peers.values_mut() {
            *url = mask_url_password(url);
        }
        shown.bus.nats_url = mask_url_password(&shown.bus.nats_url);
        toml::to_string(&shown).unwrap_or_else(|error| format!("# cannot render: {error}\n"))
    }
}

impl StorageSettings {
    fn validate(&self, service: &str) -> Result<(), SettingsError> {
        let url = &self.database_url;
        let known_scheme = ["sqlite:", "postgres://", "postgresql://"]
            .iter()
            .any(|scheme| url.starts_with(scheme));
        if !url.is_empty() && !known_scheme {
            return Err(SettingsError::Invalid(format!(
                "services.{service}.database_url {:?} is not supported: use sqlite://PATH, postgres://USER@HOST:PORT/DATABASE, or leave it empty",
                mask_url_password(url)
            )));
        }
        let schema = &self.database_schema;
        let plain = schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !plain || schema.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(SettingsError::Invalid(format!(
                "services.{service}.database_schema {schema:?} must be lowercase letters, digits and underscores"
            )));
        }
        Ok(())
    }

    /// The PostgreSQL schema, when one is set.
    pub fn schema(&self) -> Option<String> {
        Some(self.database_schema.clone()).filter(|schema| !schema.is_empty())
    }
}

/// `scheme://user:secret@host` becomes `scheme://user:********@host`.
pub fn mask_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:{MASK}@{host}"),
        None => url.to_owned(),
    }
}

/// `value` with every secret masked: keys naming a password, token, secret
/// or key, and the passwords inside URLs.
pub fn masked(value: toml::Value) -> toml::Value {
    match value {
        toml::Value::Table(table) => toml::Value::Table(
            table
                .into_iter()
                .map(|(key, value)| {
                    let secret = ["password", "token", "secret", "key"]
                        .iter()
                        .any(|word| key.contains(word));
                    let value = match value {
                        toml::Value::String(text) if secret && !text.is_empty() => {
                            toml::Value::String(MASK.to_owned())
                        }
                        toml::Value::String(text) => toml::Value::String(mask_url_password(&text)),
                        other => masked(other),
                    };
                    (key, value)
                })
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests;
