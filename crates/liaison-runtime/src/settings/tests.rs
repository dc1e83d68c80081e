//! Loading, layering, the keys of earlier versions, checks and masking.

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

#[test]
fn trusted_proxies_come_as_a_list_or_commas_and_bad_ones_are_named() {
    let settings = load(&[("LIAISON__HTTP__TRUSTED_PROXIES", "10.0.0.0/8, ::1,")]).expect("loads");
    assert_eq!(settings.http.trusted_proxies, ["10.0.0.0/8", "::1"]);
    assert!(load(&[]).expect("defaults").http.trusted_proxies.is_empty());
    let error = load(&[("LIAISON__HTTP__TRUSTED_PROXIES", "10.0.0.0/8,proxy.local")])
        .expect_err("a name is no address");
    assert!(
        error.to_string().contains("http.trusted_proxies")
            && error.to_string().contains("proxy.local"),
        "{error}"
    );
}

#[test]
fn http_limits_must_be_positive_and_the_metrics_address_an_address() {
    for (key, named) in [
        ("LIAISON__HTTP__MAX_CONNECTIONS", "http.max_connections"),
        (
            "LIAISON__HTTP__HEADER_TIMEOUT_SECONDS",
            "http.header_timeout_seconds",
        ),
        (
            "LIAISON__HTTP__IDLE_TIMEOUT_SECONDS",
            "http.idle_timeout_seconds",
        ),
    ] {
        let error = load(&[(key, "0")]).expect_err(key);
        assert!(error.to_string().contains(named), "{error}");
    }
    let error = load(&[("LIAISON__HTTP__METRICS_ADDR", "internal")]).expect_err("no port");
    assert!(error.to_string().contains("http.metrics_addr"), "{error}");
    let settings = load(&[("LIAISON__HTTP__METRICS_ADDR", "127.0.0.1:9464")]).expect("loads");
    assert_eq!(settings.http.metrics_addr, "127.0.0.1:9464");
}
