//! The gateway's section, `[services.gateway]`: its storage and how it
//! authenticates people (`[services.gateway.auth]`, `[auth]` in earlier
//! versions).

use liaison_runtime::settings::SettingsError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewaySettings {
    /// As every service's (see `liaison_runtime::settings::StorageSettings`).
    pub database_url: String,
    pub database_schema: String,
    pub auth: AuthSettings,
}

/// How the gateway authenticates people.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// Login of the admin created on first start.
    pub admin_email: String,
    /// Its password; empty: a random one, printed once to the log.
    pub admin_password: String,
    /// How long a login lasts.
    pub session_hours: u64,
    /// Cookies only over HTTPS (browsers also send them to http://localhost).
    pub secure_cookies: bool,
    /// Failed logins of one account from one address (or one known
    /// device) before each further attempt waits, 1 s doubling up to
    /// `login_max_delay_minutes` (ADR 0008).
    pub login_free_failures: u32,
    /// Failed logins of one account from unknown devices, all addresses
    /// together, before those wait likewise (its known devices do not).
    pub login_failures_per_account: u32,
    /// Failed logins from one address, all accounts together, before its
    /// unknown devices wait likewise.
    pub login_failures_per_address: u32,
    pub login_max_delay_minutes: u64,
    /// Failures are forgotten this long after the last one.
    pub login_window_minutes: u64,
    /// Password checks (argon2id, 19 MiB each) at once; 0: one per core,
    /// within 64 MiB.
    pub password_checks: usize,
    /// Logins waiting for a check at most; past it, 503 at once.
    pub password_check_queue: usize,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            admin_email: "admin@localhost".to_owned(),
            admin_password: String::new(),
            session_hours: 12,
            secure_cookies: true,
            login_free_failures: 5,
            login_failures_per_account: 20,
            login_failures_per_address: 100,
            login_max_delay_minutes: 15,
            login_window_minutes: 60,
            password_checks: 0,
            password_check_queue: 32,
        }
    }
}

impl GatewaySettings {
    /// Checks what the shared loader cannot: each value in its range.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.auth.validate()
    }
}

impl AuthSettings {
    /// The login guard's rules.
    pub fn login_rules(&self) -> crate::accounts::login_guard::LoginRules {
        crate::accounts::login_guard::LoginRules {
            free_failures: self.login_free_failures,
            account_failures: self.login_failures_per_account,
            address_failures: self.login_failures_per_address,
            max_delay: std::time::Duration::from_secs(
                self.login_max_delay_minutes.saturating_mul(60),
            ),
            forget_after: std::time::Duration::from_secs(
                self.login_window_minutes.saturating_mul(60),
            ),
        }
    }

    fn validate(&self) -> Result<(), SettingsError> {
        let positive = [
            ("session_hours", self.session_hours),
            ("login_window_minutes", self.login_window_minutes),
            ("login_max_delay_minutes", self.login_max_delay_minutes),
            ("login_free_failures", u64::from(self.login_free_failures)),
            ("password_check_queue", self.password_check_queue as u64),
            (
                "login_failures_per_account",
                u64::from(self.login_failures_per_account),
            ),
            (
                "login_failures_per_address",
                u64::from(self.login_failures_per_address),
            ),
        ];
        for (key, value) in positive {
            if value == 0 {
                return Err(SettingsError::Invalid(format!(
                    "services.gateway.auth.{key} must be at least 1"
                )));
            }
        }
        if !self.admin_email.contains('@') {
            return Err(SettingsError::Invalid(format!(
                "services.gateway.auth.admin_email {:?} is not an email address",
                self.admin_email
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use liaison_runtime::settings::{Settings, Sources};

    use super::*;

    fn load(pairs: &[(&str, &str)]) -> Settings {
        let environment: HashMap<String, String> = pairs
            .iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        Settings::load(&Sources {
            file: None,
            environment: Some(environment),
        })
        .expect("the shared settings load")
    }

    #[test]
    fn auth_keeps_its_keys_of_earlier_versions() {
        let settings = load(&[
            ("LIAISON__AUTH__ADMIN_PASSWORD", "choose a long one"),
            ("LIAISON__AUTH__SECURE_COOKIES", "false"),
            ("LIAISON__GATEWAY__DATABASE_SCHEMA", "people"),
        ]);
        let gateway: GatewaySettings = settings.service("gateway").expect("gateway");
        assert_eq!(gateway.auth.admin_password, "choose a long one");
        assert!(!gateway.auth.secure_cookies);
        assert_eq!(gateway.auth.session_hours, 12, "defaults fill the rest");
        assert_eq!(gateway.database_schema, "people");
        let renamed = load(&[("LIAISON__SERVICES__GATEWAY__AUTH__SESSION_HOURS", "2")]);
        let gateway: GatewaySettings = renamed.service("gateway").expect("gateway");
        assert_eq!(gateway.auth.session_hours, 2);
    }

    #[test]
    fn bad_auth_values_are_named() {
        for (key, value, named) in [
            ("LIAISON__AUTH__SESSION_HOURS", "0", "auth.session_hours"),
            ("LIAISON__AUTH__ADMIN_EMAIL", "nobody", "auth.admin_email"),
            (
                "LIAISON__AUTH__LOGIN_WINDOW_MINUTES",
                "0",
                "auth.login_window_minutes",
            ),
        ] {
            let gateway: GatewaySettings = load(&[(key, value)]).service("gateway").expect("typed");
            let error = gateway.validate().expect_err(value);
            assert!(error.to_string().contains(named), "{error}");
        }
        let error = load(&[("LIAISON__AUTH__SESION_HOURS", "3")])
            .service::<GatewaySettings>("gateway")
            .expect_err("typo");
        assert!(error.to_string().contains("sesion_hours"), "{error}");
    }
}
