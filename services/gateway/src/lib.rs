//! # Gateway: how people and web clients reach Liaison
//!
//! Owns users (roles admin, staff, customer), their sessions and personal
//! API tokens, event-sourced in the gateway's own log (streams
//! `user-<id>`). Passwords are argon2id hashes; session secrets and tokens
//! are stored as SHA-256 hashes only. The gateway's log holds credentials
//! and is not published to the bus (ADR 0006).
//!
//! **Serves** the REST/JSON API under `/api/` (OpenAPI document at
//! `/api/openapi.json`, rendered at `/api/docs`) over the contacts and
//! relations services, which it calls over gRPC with the caller's signed
//! identity (`liaison-identity`). And the web UI (`web`): pages rendered
//! on the server for the back office — home, lists, create, edit, merge,
//! trash, an entity page with its relations and neighbourhood, relation
//! types, users (admins), one's account and API tokens.
//!
//! **Events recorded** (`user.*`): created, password_changed,
//! profile_changed, role_changed, disabled, enabled, session_started,
//! session_ended, token_created, token_revoked. **Consumes** none.

pub mod accounts;
pub mod api;
pub mod auth;
pub mod backends;
mod docs_page;
mod error;
pub mod settings;
pub mod state;
pub mod storage;
mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use liaison_eventstore::{open_by_url, EventStore, ServiceStorage};
use liaison_runtime::http::proxies::TrustedProxies;

pub use accounts::devices::DeviceKey;
use accounts::login_guard::LoginGuard;
use accounts::password_checks::PasswordChecks;
pub use accounts::Accounts;
pub use backends::Backends;
pub use error::{ErrorBody, GatewayError};
pub use settings::{AuthSettings, GatewaySettings};
use storage::ReadModel;

/// The service's name: its database schema and migrations.
pub const SERVICE: &str = "gateway";

/// The gateway, opened on its storage.
pub struct GatewayService {
    accounts: Arc<Accounts>,
    auth: AuthSettings,
}

impl GatewayService {
    /// Opens (creating and migrating if needed) the database at `url`:
    /// `sqlite://<path>` or `postgres://…` (schema `gateway` unless
    /// `postgres_schema` names another).
    pub async fn open(
        url: &str,
        postgres_schema: Option<String>,
        auth: &AuthSettings,
        devices: DeviceKey,
    ) -> Result<Self, GatewayError> {
        let projection = Arc::new(storage::AccountsProjection);
        let (store, reader) = open_by_url(
            url,
            postgres_schema,
            ServiceStorage {
                service: SERVICE,
                entity_of: liaison_eventstore::no_entity,
                migrations_sqlite: storage::MIGRATIONS_SQLITE,
                migrations_postgres: storage::MIGRATIONS_POSTGRES,
                projections: vec![projection],
                consumers: Vec::new(),
            },
        )
        .await?;
        let read_model = ReadModel::from(reader);
        let accounts = Accounts::new(
            store,
            read_model,
            accounts::Guards {
                logins: LoginGuard::new(auth.login_rules()),
                passwords: PasswordChecks::new(auth.password_checks, auth.password_check_queue),
                devices,
            },
            Duration::from_secs(auth.session_hours.saturating_mul(3600)),
        );
        Ok(Self {
            accounts: Arc::new(accounts),
            auth: auth.clone(),
        })
    }

    pub fn accounts(&self) -> &Arc<Accounts> {
        &self.accounts
    }

    pub fn store(&self) -> Arc<dyn EventStore> {
        self.accounts.store().clone()
    }

    pub fn read_model(&self) -> &ReadModel {
        self.accounts.read_model()
    }

    /// The admin of a first start: created from `auth.admin_email` and
    /// `auth.admin_password` when there is no user yet, with a generated
    /// password when none was configured (for the log, once).
    pub async fn ensure_first_admin(&self) -> Result<accounts::FirstAdmin, GatewayError> {
        self.accounts
            .ensure_first_admin(&self.auth.admin_email, &self.auth.admin_password)
            .await
    }

    /// Every HTTP route of the gateway, calling the services through
    /// `backends`.
    pub fn router(&self, backends: Backends, proxies: TrustedProxies) -> Router {
        let state = state::AppState {
            accounts: self.accounts.clone(),
            backends,
            secure_cookies: self.auth.secure_cookies,
            session_max_age_seconds: self.auth.session_hours.saturating_mul(3600),
            proxies,
        };
        let (api, document) = api::routes();
        api.merge(web::routes())
            .route(
                "/api/docs",
                axum::routing::get(docs_page::render(&document)),
            )
            .fallback(not_found)
            .with_state(state)
    }
}

/// No route: a JSON error under `/api/`, a page everywhere else.
async fn not_found(uri: axum::http::Uri) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = uri.path();
    if path == "/api" || path.starts_with("/api/") {
        GatewayError::NotFound(format!("route {path}")).into_response()
    } else {
        web::PageError::Failed(GatewayError::NotFound(
            "there is no page at this address".into(),
        ))
        .into_response()
    }
}
