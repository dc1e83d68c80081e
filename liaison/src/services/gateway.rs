//! The gateway: people and web clients. It calls contacts and relations
//! over gRPC with the caller's signed identity.

use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use liaison_gateway::accounts::FirstAdmin;
use liaison_gateway::{DeviceKey, GatewayService, GatewaySettings};
use liaison_runtime::http::proxies::TrustedProxies;
use liaison_runtime::settings::{Settings, SettingsError};

use super::{open_storage, Opened, Process, ServiceTarget, Started};
use crate::target::Target;

pub struct GatewayTarget;

/// The key of known-device tokens: every replica sharing the identity key
/// recognises the devices the others named; without one, a process names
/// its own.
pub fn device_key(settings: &Settings) -> DeviceKey {
    DeviceKey::new(
        &settings
            .identity_key()
            .derive(liaison_gateway::accounts::devices::KEY_PURPOSE),
    )
}

impl GatewayTarget {
    fn settings(settings: &Settings) -> Result<GatewaySettings, SettingsError> {
        let gateway: GatewaySettings = settings.service(liaison_gateway::SERVICE)?;
        gateway.validate()?;
        Ok(gateway)
    }
}

#[async_trait]
impl ServiceTarget for GatewayTarget {
    fn target(&self) -> Target {
        Target::Gateway
    }

    fn peers(&self) -> &'static [Target] {
        &[Target::Contacts, Target::Relations]
    }

    fn check_settings(&self, settings: &Settings) -> Result<(), SettingsError> {
        Self::settings(settings)?;
        settings.storage(liaison_gateway::SERVICE).map(|_| ())
    }

    fn effective_settings(&self, settings: &Settings) -> Result<toml::Value, SettingsError> {
        let mut gateway = Self::settings(settings)?;
        gateway.database_url = settings.storage(liaison_gateway::SERVICE)?.0;
        toml::Value::try_from(gateway).map_err(|error| SettingsError::Invalid(error.to_string()))
    }

    /// Opens the gateway's storage and creates the first admin when there
    /// is no user yet.
    async fn open(&self, settings: &Settings) -> anyhow::Result<Opened> {
        let auth = Self::settings(settings)?.auth;
        let devices = device_key(settings);
        let service = open_storage(settings, liaison_gateway::SERVICE, async |url, schema| {
            GatewayService::open(&url, schema, &auth, devices.clone()).await
        })
        .await?;
        Ok(Opened {
            store: service.store(),
            // Its log holds credentials: it is never published.
            publishes_events: false,
            read_pool: service.read_model().pool().clone(),
            service: Arc::new(service),
        })
    }

    async fn start(&self, _opened: &Opened, process: &Process<'_>) -> anyhow::Result<Started> {
        let service = process.own::<GatewayService>(Target::Gateway)?;
        let auth = Self::settings(process.settings)?.auth;
        match service.ensure_first_admin().await {
            Ok(FirstAdmin::CreatedWithPassword(password)) => tracing::warn!(
                email = %auth.admin_email,
                password = %password,
                "first start: admin account created with this generated password, shown once; \
                 log in and change it (or set services.gateway.auth.admin_password before the first start)"
            ),
            Ok(FirstAdmin::Created) => tracing::info!(
                email = %auth.admin_email,
                "first start: admin account created with the configured password"
            ),
            Ok(FirstAdmin::AlreadyThere) => {}
            Err(error) => anyhow::bail!("cannot create the first admin account: {error}"),
        }
        let address = |target: Target| -> anyhow::Result<String> {
            process.grpc_url(target).with_context(|| {
                format!(
                    "the gateway needs {target}: run it in this process (--target {target},gateway) \
                     or set peers.{target}"
                )
            })
        };
        let backends = liaison_gateway::Backends::connect(
            &address(Target::Contacts)?,
            &address(Target::Relations)?,
            process.identity_key.clone(),
            &process.settings.security.internal_token,
        )
        .map_err(|error| anyhow::anyhow!("{error}"))?;
        let proxies = TrustedProxies::parse(&process.settings.http.trusted_proxies)
            .map_err(|error| anyhow::anyhow!("http.trusted_proxies: {error}"))?;
        Ok(Started {
            http: Some(service.router(backends, proxies)),
            ..Started::default()
        })
    }
}
