//! Users, sessions and API tokens as read models of the users' streams, on
//! SQLite or PostgreSQL. The SQL is written once (`accounts_sql.rs`,
//! included by `sqlite.rs` and `postgres.rs`).

mod postgres;
mod sqlite;

use liaison_eventstore::migrate::Migration;
use liaison_eventstore::on_backend;

use std::collections::BTreeSet;

use crate::accounts::user::{Permission, Role};
use crate::GatewayError;

/// Maintains `users`, `sessions` and `api_tokens` in the append's
/// transaction; refuses a second user with the same email, and the change
/// that would leave no enabled admin.
pub struct AccountsProjection;

pub const READ_MODEL_TABLES: &[&str] = &["users", "sessions", "api_tokens"];

pub const MIGRATIONS_SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        description: "users, sessions, api tokens",
        sql: include_str!("schema_sqlite.sql"),
    },
    Migration {
        version: 2,
        description: "permissions granted beyond the role",
        sql: include_str!("permissions_sqlite.sql"),
    },
];

pub const MIGRATIONS_POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        description: "users, sessions, api tokens",
        sql: include_str!("schema_postgres.sql"),
    },
    Migration {
        version: 2,
        description: "permissions granted beyond the role",
        sql: include_str!("permissions_postgres.sql"),
    },
];

#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// Granted beyond the role.
    pub permissions: BTreeSet<Permission>,
    pub password_hash: String,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub version: u64,
}

impl UserRow {
    /// Whether `permission` was granted to the user beyond its role.
    pub fn granted(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TokenRow {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    /// 0: never.
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

liaison_eventstore::read_model!(ReadModel, READ_MODEL_TABLES);

impl ReadModel {
    pub async fn user(&self, id: &str) -> Result<Option<UserRow>, GatewayError> {
        on_backend!(&self.0, user_by("id", id))
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>, GatewayError> {
        on_backend!(&self.0, user_by("email", email))
    }

    pub async fn users(&self) -> Result<Vec<UserRow>, GatewayError> {
        on_backend!(&self.0, users())
    }

    pub async fn user_count(&self) -> Result<u64, GatewayError> {
        on_backend!(&self.0, user_count())
    }

    /// The live user holding the session whose secret hashes to `hash`.
    pub async fn session_user(
        &self,
        hash: &str,
        now: i64,
    ) -> Result<Option<UserRow>, GatewayError> {
        on_backend!(&self.0, session_user(hash, now))
    }

    /// The live user of an unrevoked, unexpired token.
    pub async fn token_user(&self, hash: &str, now: i64) -> Result<Option<UserRow>, GatewayError> {
        on_backend!(&self.0, token_user(hash, now))
    }

    pub async fn tokens_of(&self, user_id: &str) -> Result<Vec<TokenRow>, GatewayError> {
        on_backend!(&self.0, tokens_of(user_id))
    }
}
