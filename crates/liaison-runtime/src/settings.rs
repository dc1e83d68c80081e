//! Layered, typed, validated configuration: compiled-in defaults, then
//! `liaison.toml` (or the file given), then `LIAISON__SECTION__KEY`
//! environment variables. Unknown keys are refused with their name.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use serde::{Deserialize, Serialize};

const DEFAULTS: &str = include_str!("defaults.toml");
const MASK: &str = "********";

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub log: LogSettings,
    pub contacts: StorageSettings,
    pub relations: StorageSettings,
    pub gateway: StorageSettings,
    pub auth: AuthSettings,
    pub peers: PeerSettings,
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

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StorageSettings {
    /// `sqlite://path`, `postgres://user@host:port/database`, or empty for
    /// `<data_dir>/<service>.sqlite`.
    pub database_url: String,
    /// PostgreSQL schema of the service's tables; empty: the service's name.
    pub database_schema: String,
}

/// Where the services this process does not run are, as gRPC URLs
/// (`http://relations:50051`); empty: not reachable from here. A service
/// running in this process is called in-process whatever is set.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PeerSettings {
    pub contacts: String,
    pub relations: String,
}

/// How the gateway authenticates people.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Login of the admin created on first start.
    pub admin_email: String,
    /// Its password; empty: a random one, printed once to the log.
    pub admin_password: String,
    /// How long a login lasts.
    pub session_hours: u64,
    /// Cookies only over HTTPS (browsers also send them to http://localhost).
    pub secure_cookies: bool,
    /// Failed logins allowed per account, and per client address, in
    /// `login_window_minutes`, before logins are refused for the rest of it.
    pub login_failures_per_account: u32,
    pub login_failures_per_address: u32,
    pub login_window_minutes: u64,
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
        let settings: Settings = builder
            .add_source(environment)
            .build()
            .and_then(Config::try_deserialize)
            .map_err(|error| SettingsError::Invalid(error.to_string()))?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(SettingsError::Invalid("data_dir must not be empty".into()));
        }
        for (service, storage) in self.storages() {
            storage.validate(service)?;
        }
        for (service, peer) in [
            ("contacts", &self.peers.contacts),
            ("relations", &self.peers.relations),
        ] {
            if !peer.is_empty() && !peer.starts_with("http://") && !peer.starts_with("https://") {
                return Err(SettingsError::Invalid(format!(
                    "peers.{service} {peer:?} must be an http:// or https:// URL (e.g. http://{service}:50051), or empty"
                )));
            }
        }
        self.validate_security()?;
        self.auth.validate()?;
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

    /// Each service's storage section, by service name.
    pub fn storages(&self) -> [(&'static str, &StorageSettings); 3] {
        [
            ("contacts", &self.contacts),
            ("relations", &self.relations),
            ("gateway", &self.gateway),
        ]
    }

    /// Whether this process keeps anything in the data dir (a SQLite
    /// database or the embedded bus) and so must own it.
    pub fn uses_data_dir(&self) -> bool {
        self.bus.kind == BusKind::Embedded
            || self.storages().iter().any(|(service, storage)| {
                self.database_url(service, &storage.database_url)
                    .starts_with("sqlite:")
            })
    }

    /// The effective configuration as TOML, secrets masked.
    pub fn to_masked_toml(&self) -> String {
        let mut shown = self.clone();
        if !shown.security.internal_token.is_empty() {
            shown.security.internal_token = MASK.to_owned();
        }
        for secret in [
            &mut shown.security.identity_key,
            &mut shown.auth.admin_password,
        ] {
            if !secret.is_empty() {
                *secret = MASK.to_owned();
            }
        }
        for storage in [
            &mut shown.contacts,
            &mut shown.relations,
            &mut shown.gateway,
        ] {
            storage.database_url = mask_url_password(&storage.database_url);
        }
        shown.bus.nats_url = mask_url_password(&shown.bus.nats_url);
        toml::to_string(&shown).unwrap_or_else(|error| format!("# cannot render: {error}\n"))
    }
}

impl AuthSettings {
    fn validate(&self) -> Result<(), SettingsError> {
        let positive = [
            ("auth.session_hours", self.session_hours),
            ("auth.login_window_minutes", self.login_window_minutes),
            (
                "auth.login_failures_per_account",
                u64::from(self.login_failures_per_account),
            ),
            (
                "auth.login_failures_per_address",
                u64::from(self.login_failures_per_address),
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(SettingsError::Invalid(format!("{key} must be at least 1")));
            }
        }
        if !self.admin_email.contains('@') {
            return Err(SettingsError::Invalid(format!(
                "auth.admin_email {:?} is not an email address",
                self.admin_email
            )));
        }
        Ok(())
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
                "{service}.database_url {:?} is not supported: use sqlite://PATH, postgres://USER@HOST:PORT/DATABASE, or leave it empty",
                mask_url_password(url)
            )));
        }
        let schema = &self.database_schema;
        let plain = schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !plain || schema.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(SettingsError::Invalid(format!(
                "{service}.database_schema {schema:?} must be lowercase letters, digits and underscores"
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

    #[test]
    fn defaults_are_the_embedded_mode_on_loopback() {
        let settings = Settings::load(&Sources {
            file: None,
            environment: env(&[]),
        })
        .expect("load");
        assert_eq!(settings.grpc_addr.to_string(), "127.0.0.1:50051");
        assert_eq!(settings.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.data_dir, PathBuf::from("./data"));
        assert_eq!(settings.bus.kind, BusKind::Embedded);
        assert_eq!(
            settings.database_url("contacts", &settings.contacts.database_url),
            "sqlite://./data/contacts.sqlite"
        );
        assert!(settings.uses_data_dir());
    }

    #[test]
    fn distributed_mode_takes_postgres_and_nats() {
        let settings = Settings::load(&Sources {
            file: None,
            environment: env(&[
                (
                    "LIAISON__CONTACTS__DATABASE_URL",
                    "postgres://liaison:pw@db:5432/liaison",
                ),
                (
                    "LIAISON__RELATIONS__DATABASE_URL",
                    "postgres://liaison:pw@db:5432/relations",
                ),
                (
                    "LIAISON__GATEWAY__DATABASE_URL",
                    "postgres://liaison:pw@db:5432/gateway",
                ),
                ("LIAISON__PEERS__RELATIONS", "http://relations:50051"),
                ("LIAISON__BUS__KIND", "nats"),
                ("LIAISON__BUS__NATS_URL", "nats://nats:4222"),
            ]),
        })
        .expect("load");
        assert_eq!(settings.bus.kind, BusKind::Nats);
        assert_eq!(settings.peers.relations, "http://relations:50051");
        assert_eq!(
            settings.database_url("contacts", &settings.contacts.database_url),
            "postgres://liaison:pw@db:5432/liaison"
        );
        assert!(!settings.uses_data_dir());
        assert!(settings
            .to_masked_toml()
            .contains("postgres://liaison:********@db:5432/liaison"));

        for (key, value, named) in [
            (
                "LIAISON__CONTACTS__DATABASE_URL",
                "mysql://db/liaison",
                "contacts.database_url",
            ),
            ("LIAISON__BUS__NATS_URL", "http://nats:4222", "bus.nats_url"),
            (
                "LIAISON__CONTACTS__DATABASE_SCHEMA",
                "Contacts; DROP",
                "contacts.database_schema",
            ),
            (
                "LIAISON__RELATIONS__DATABASE_URL",
                "mysql://db/relations",
                "relations.database_url",
            ),
            (
                "LIAISON__PEERS__RELATIONS",
                "relations:50051",
                "peers.relations",
            ),
        ] {
            let error = Settings::load(&Sources {
                file: None,
                environment: env(&[("LIAISON__BUS__KIND", "nats"), (key, value)]),
            })
            .expect_err(value);
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

        let error = Settings::load(&Sources {
            file: None,
            environment: env(&[("LIAISON__HTTP_ADDR", "not-an-address")]),
        })
        .expect_err("bad address");
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
        let load = |pairs: &[(&str, &str)]| {
            Settings::load(&Sources {
                file: None,
                environment: env(pairs),
            })
        };
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
        let error = load(&[("LIAISON__AUTH__SESSION_HOURS", "0")]).expect_err("zero hours");
        assert!(error.to_string().contains("auth.session_hours"), "{error}");
        let error = load(&[("LIAISON__PEERS__CONTACTS", "contacts:50051")]).expect_err("not a URL");
        assert!(error.to_string().contains("peers.contacts"), "{error}");
    }

    #[test]
    fn secrets_are_masked_when_printed() {
        let mut settings = Settings::load(&Sources {
            file: None,
            environment: env(&[]),
        })
        .expect("load");
        settings.security.internal_token = "s3cret-token".into();
        settings.security.identity_key = "identity-key-0123456789abcdef-0123".into();
        settings.auth.admin_password = "first-admin-password".into();
        settings.gateway.database_url = "postgres://liaison:pgsecret@db/gateway".into();
        settings.bus.nats_url = "nats://liaison:hunter2@nats:4222".into();
        let shown = settings.to_masked_toml();
        assert!(!shown.contains("s3cret-token"));
        assert!(!shown.contains("hunter2"));
        for secret in [
            "identity-key-0123456789abcdef-0123",
            "first-admin-password",
            "pgsecret",
        ] {
            assert!(!shown.contains(secret), "{secret} shown");
        }
        assert!(shown.contains("nats://liaison:********@nats:4222"));
    }
}
