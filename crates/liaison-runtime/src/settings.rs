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

const DEFAULTS: &str = include_str!("defaults.toml");
const MASK: &str = "********";

/// Sections of earlier versions, and where they live now.
const LEGACY_SECTIONS: &[(&str, &str)] = &[
    ("contacts", "services.contacts"),
    ("relations", "services.relations"),
    ("gateway", "services.gateway"),
    ("auth", "services.gateway.auth"),
];

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
    pub bus: BusSettings,
    pub telemetry: TelemetrySettings,
    pub security: SecuritySettings,
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
        let settings: Settings = with_legacy_sections_moved(written)?
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

/// The settings as written, each section of an earlier version moved to
/// its place in `[services]`. A key set in both places is refused: which
/// one was meant cannot be told.
fn with_legacy_sections_moved(written: Config) -> Result<Value, SettingsError> {
    let mut root = config::Source::collect(&written)
        .map_err(|error| SettingsError::Invalid(error.to_string()))?;
    for (legacy, current) in LEGACY_SECTIONS {
        let Some(section) = root.remove(*legacy) else {
            continue;
        };
        let ValueKind::Table(section) = section.kind else {
            return Err(SettingsError::Invalid(format!(
                "{legacy} must be a section"
            )));
        };
        let mut leaves = Vec::new();
        flatten(String::new(), section, &mut leaves);
        for (key, value) in leaves {
            let place = format!("{current}.{key}");
            if !insert_new(&mut root, &place, value) {
                return Err(SettingsError::Invalid(format!(
                    "{legacy}.{key} and {place} are both set: keep {place} (the other is \
                     the name of an earlier version)"
                )));
            }
        }
    }
    Ok(Value::new(None, ValueKind::Table(root)))
}

/// The leaves of a table, keyed by their dotted path under `prefix`.
fn flatten(prefix: String, table: Map<String, Value>, leaves: &mut Vec<(String, Value)>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value.kind {
            ValueKind::Table(inner) => flatten(path, inner, leaves),
            _ => leaves.push((path, value)),
        }
    }
}

/// Puts `value` at the dotted `path` in `root`, making the tables on the
/// way; `false` when something is there already.
fn insert_new(root: &mut Map<String, Value>, path: &str, value: Value) -> bool {
    let mut table = root;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            if table.contains_key(part) {
                return false;
            }
            table.insert(part.to_owned(), value);
            return true;
        }
        let entry = table
            .entry(part.to_owned())
            .or_insert_with(|| Value::new(None, ValueKind::Table(Map::new())));
        let ValueKind::Table(inner) = &mut entry.kind else {
            return false;
        };
        table = inner;
    }
    false
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
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Option<HashMap<String, String>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        Settings::load(&Sources {
            file: None,
            environment: env(pairs),
        })
    }

    /// A service's settings type, as a service defines its own.
    #[derive(Debug, Default, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Mailer {
        database_url: String,
        smtp: Smtp,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(default, deny_unknown_fields)]
    struct Smtp {
        port: u16,
        password: String,
    }

    impl Default for Smtp {
        fn default() -> Self {
            Smtp {
                port: 25,
                password: String::new(),
            }
        }
    }

    #[test]
    fn defaults_are_the_embedded_mode_on_loopback() {
        let settings = load(&[]).expect("load");
        assert_eq!(settings.grpc_addr.to_string(), "127.0.0.1:50051");
        assert_eq!(settings.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.data_dir, PathBuf::from("./data"));
        assert_eq!(settings.bus.kind, BusKind::Embedded);
        assert_eq!(
            settings.storage("contacts").expect("storage"),
            ("sqlite://./data/contacts.sqlite".to_owned(), None)
        );
        assert_eq!(settings.peer("relations"), None);
    }

    #[test]
    fn the_variables_of_earlier_versions_still_place_services() {
        let settings = load(&[
            (
                "LIAISON__CONTACTS__DATABASE_URL",
                "postgres://liaison:pw@db:5432/liaison",
            ),
            ("LIAISON__CONTACTS__DATABASE_SCHEMA", "book"),
            (
                "LIAISON__RELATIONS__DATABASE_URL",
                "postgres://liaison:pw@db:5432/relations",
            ),
            ("LIAISON__PEERS__RELATIONS", "http://relations:50051"),
            ("LIAISON__AUTH__SESSION_HOURS", "3"),
            ("LIAISON__BUS__KIND", "nats"),
            ("LIAISON__BUS__NATS_URL", "nats://nats:4222"),
        ])
        .expect("load");
        assert_eq!(settings.bus.kind, BusKind::Nats);
        assert_eq!(settings.peer("relations"), Some("http://relations:50051"));
        assert_eq!(
            settings.storage("contacts").expect("contacts"),
            (
                "postgres://liaison:pw@db:5432/liaison".to_owned(),
                Some("book".to_owned())
            )
        );
        assert_eq!(
            settings.storage("relations").expect("relations").0,
            "postgres://liaison:pw@db:5432/relations"
        );
        let hours: BTreeMap<String, u64> = settings
            .service::<BTreeMap<String, BTreeMap<String, u64>>>("gateway")
            .expect("gateway")
            .remove("auth")
            .expect("auth moved under the gateway");
        assert_eq!(hours.get("session_hours"), Some(&3));
    }

    #[test]
    fn a_service_reads_its_own_section_from_file_and_environment() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("liaison.toml");
        std::fs::write(
            &file,
            "[services.mailer]\ndatabase_url = \"sqlite:///tmp/m.sqlite\"\n[services.mailer.smtp]\npassword = \"hunter2\"\n",
        )
        .expect("write");
        let settings = Settings::load(&Sources {
            file: Some(file),
            environment: env(&[("LIAISON__SERVICES__MAILER__SMTP__PORT", "2525")]),
        })
        .expect("load");
        let mailer: Mailer = settings.service("mailer").expect("mailer");
        assert_eq!(mailer.smtp.port, 2525, "a variable's text becomes a number");
        assert_eq!(mailer.smtp.password, "hunter2");
        assert_eq!(
            settings.storage("mailer").expect("storage").0,
            "sqlite:///tmp/m.sqlite"
        );
        let silent: Mailer = settings.service("other").expect("defaults");
        assert_eq!(silent, Mailer::default());

        let settings = load(&[("LIAISON__SERVICES__MAILER__SMTP__PROT", "2525")]).expect("load");
        let error = settings.service::<Mailer>("mailer").expect_err("typo");
        assert!(
            error.to_string().contains("services.mailer") && error.to_string().contains("prot"),
            "{error}"
        );
    }

    #[test]
    fn a_key_set_in_both_its_old_and_new_place_is_refused() {
        let error = load(&[
            ("LIAISON__CONTACTS__DATABASE_URL", "postgres://db/a"),
            (
                "LIAISON__SERVICES__CONTACTS__DATABASE_URL",
                "postgres://db/b",
            ),
        ])
        .expect_err("both");
        let message = error.to_string();
        assert!(
            message.contains("contacts.database_url")
                && message.contains("services.contacts.database_url"),
            "{message}"
        );
    }

    #[test]
    fn bad_values_are_named_by_their_key() {
        for (key, value, named) in [
            (
                "LIAISON__CONTACTS__DATABASE_URL",
                "mysql://db/liaison",
                "contacts.database_url",
            ),
            (
                "LIAISON__CONTACTS__DATABASE_SCHEMA",
                "Contacts; DROP",
                "contacts.database_schema",
            ),
            (
                "LIAISON__SERVICES__RELATIONS__DATABASE_URL",
                "mysql://db/relations",
                "relations.database_url",
            ),
        ] {
            let settings = load(&[(key, value)]).expect("the shared part loads");
            let service = named.split('.').next().expect("service");
            let error = settings.storage(service).expect_err(value);
            assert!(error.to_string().contains(named), "{error}");
        }
        for (key, value, named) in [
            ("LIAISON__BUS__NATS_URL", "http://nats:4222", "bus.nats_url"),
            (
                "LIAISON__PEERS__RELATIONS",
                "relations:50051",
                "peers.relations",
            ),
            (
                "LIAISON__PEERS__CONTACTS",
                "contacts:50051",
                "peers.contacts",
            ),
        ] {
            let error = load(&[("LIAISON__BUS__KIND", "nats"), (key, value)]).expect_err(value);
            assert!(error.to_string().contains(named), "{error}");
        }
    }

    #[test]
    fn file_then_environment_override_defaults() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("liaison.toml");
        std::fs::write(
            &file,
            "grpc_addr = \"127.0.0.1:6000\"\n[log]\nformat = \"json\"\n",
        )
        .expect("write");
        let settings = Settings::load(&Sources {
            file: Some(file),
            environment: env(&[
                ("LIAISON__GRPC_ADDR", "127.0.0.1:7000"),
                ("LIAISON__LOG__LEVEL", "debug"),
            ]),
        })
        .expect("load");
        assert_eq!(settings.grpc_addr.to_string(), "127.0.0.1:7000");
        assert_eq!(settings.log.format, LogFormat::Json);
        assert_eq!(settings.log.level, "debug");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("liaison.toml");
        std::fs::write(&file, "grpc_adr = \"127.0.0.1:6000\"\n").expect("write");
        let error = Settings::load(&Sources {
            file: Some(file),
            environment: env(&[]),
        })
        .expect_err("unknown key");
        assert!(error.to_string().contains("grpc_adr"), "{error}");

        let error = load(&[("LIAISON__HTTP_ADDR", "not-an-address")]).expect_err("bad address");
        assert!(error.to_string().contains("http_addr"), "{error}");

        let error = Settings::load(&Sources {
            file: Some(PathBuf::from("/nonexistent/liaison.toml")),
            environment: env(&[]),
        })
        .expect_err("missing file");
        assert!(error.to_string().contains("/nonexistent/liaison.toml"));
    }

    #[test]
    fn identities_must_be_signable_where_unsigned_calls_are_refused() {
        let local = load(&[]).expect("defaults");
        assert!(local.accepts_unsigned_calls(), "loopback by default");
        let exposed = load(&[("LIAISON__GRPC_ADDR", "0.0.0.0:50051")])
            .expect_err("beyond loopback without a key");
        assert!(
            exposed.to_string().contains("security.identity_key"),
            "{exposed}"
        );
        let short = load(&[("LIAISON__SECURITY__IDENTITY_KEY", "short")]).expect_err("short key");
        assert!(short.to_string().contains("at least 32"), "{short}");
        let keyed = load(&[
            ("LIAISON__GRPC_ADDR", "0.0.0.0:50051"),
            (
                "LIAISON__SECURITY__IDENTITY_KEY",
                "0123456789abcdef0123456789abcdef",
            ),
        ])
        .expect("with a key");
        assert!(!keyed.accepts_unsigned_calls());
        let refused = load(&[
            ("LIAISON__SECURITY__UNSIGNED_CALLS", "refuse"),
            (
                "LIAISON__SECURITY__IDENTITY_KEY",
                "0123456789abcdef0123456789abcdef",
            ),
        ])
        .expect("refuse on loopback");
        assert!(!refused.accepts_unsigned_calls());
    }

    #[test]
    fn secrets_are_masked_when_printed() {
        let mut settings = load(&[]).expect("load");
        settings.security.internal_token = "s3cret-token".into();
        settings.security.identity_key = "identity-key-0123456789abcdef-0123".into();
        settings.bus.nats_url = "nats://liaison:hunter2@nats:4222".into();
        settings
            .peers
            .insert("relations".into(), "https://svc:pw1@relations:50051".into());
        let shown = settings.to_masked_toml();
        for secret in [
            "s3cret-token",
            "hunter2",
            "identity-key-0123456789abcdef-0123",
            "pw1",
        ] {
            assert!(!shown.contains(secret), "{secret} shown");
        }
        assert!(shown.contains("nats://liaison:********@nats:4222"));

        let section: toml::Value = toml::from_str(
            "database_url = \"postgres://liaison:pgsecret@db/gateway\"\n\
             [auth]\nadmin_password = \"first-admin-password\"\nadmin_email = \"a@b.c\"\n\
             [smtp]\napi_key = \"k-123\"\nport = 25\n",
        )
        .expect("toml");
        let shown = toml::to_string(&masked(section)).expect("render");
        for secret in ["pgsecret", "first-admin-password", "k-123"] {
            assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
        }
        assert!(
            shown.contains("a@b.c") && shown.contains("port = 25"),
            "{shown}"
        );
    }
}
