// The accounts' SQL, compiled once per backend: `sqlite.rs` and
// `postgres.rs` define `Db`, `Conn`, `DbRow` and `DbPool`, then `include!`
// this file. Placeholders are `$N`, which SQLite accepts too.

use async_trait::async_trait;
use liaison_eventstore::{Projection, ProjectionError, RecordedEvent};
use liaison_proto::gateway::v1 as pb;
use pb::user_event::Event;
use prost::Message;
use sqlx::Row;

use super::{AccountsProjection, TokenRow, UserRow};
use crate::accounts::user::Role;
use crate::GatewayError;

const USER_COLUMNS: &str = "id, email, display_name, role, permissions, password_hash, disabled, \
     created_at, updated_at, version";

#[async_trait]
impl Projection<Db> for AccountsProjection {
    fn name(&self) -> &'static str {
        "accounts"
    }

    async fn apply(&self, conn: &mut Conn, event: &RecordedEvent) -> Result<(), ProjectionError> {
        let decoded = pb::UserEvent::decode(event.payload.as_slice())
            .map_err(|error| ProjectionError::Decode {
                event_type: event.event_type.clone(),
                reason: error.to_string(),
            })?
            .event;
        let Some(decoded) = decoded else {
            return Ok(());
        };
        apply_user_event(conn, event, &decoded).await
    }

    fn tables(&self) -> &'static [&'static str] {
        super::READ_MODEL_TABLES
    }
}

fn refused(error: GatewayError) -> ProjectionError {
    ProjectionError::Rejected(Box::new(error))
}

async fn apply_user_event(
    conn: &mut Conn,
    event: &RecordedEvent,
    decoded: &Event,
) -> Result<(), ProjectionError> {
    let user_id = liaison_eventstore::aggregate::id_of_stream(&event.stream_id);
    let at = event.metadata.occurred_at_micros;
    let version = i64::try_from(event.stream_version).unwrap_or(i64::MAX);
    match decoded {
        Event::Created(created) => {
            let taken: Option<String> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
                .bind(&created.email)
                .fetch_optional(&mut *conn)
                .await?;
            if taken.is_some() {
                return Err(refused(GatewayError::AlreadyExists(format!(
                    "a user with email {:?} already exists",
                    created.email
                ))));
            }
            let role = Role::from_proto(created.role).unwrap_or(Role::Customer);
            sqlx::query(
                "INSERT INTO users (id, email, display_name, role, password_hash, disabled, created_at, updated_at, version) \
                 VALUES ($1, $2, $3, $4, $5, FALSE, $6, $6, $7)",
            )
            .bind(user_id)
            .bind(&created.email)
            .bind(&created.display_name)
            .bind(role.as_str())
            .bind(&created.password_hash)
            .bind(at)
            .bind(version)
            .execute(&mut *conn)
            .await?;
            return Ok(());
        }
        Event::PasswordChanged(changed) => {
            sqlx::query("UPDATE users SET password_hash = $2 WHERE id = $1")
                .bind(user_id)
                .bind(&changed.password_hash)
                .execute(&mut *conn)
                .await?;
        }
        Event::ProfileChanged(changed) => {
            sqlx::query("UPDATE users SET display_name = $2 WHERE id = $1")
                .bind(user_id)
                .bind(&changed.display_name)
                .execute(&mut *conn)
                .await?;
        }
        Event::RoleChanged(changed) => {
            let role = Role::from_proto(changed.role).unwrap_or(Role::Customer);
            sqlx::query("UPDATE users SET role = $2 WHERE id = $1")
                .bind(user_id)
                .bind(role.as_str())
                .execute(&mut *conn)
                .await?;
        }
        Event::PermissionsChanged(changed) => {
            sqlx::query("UPDATE users SET permissions = $2 WHERE id = $1")
                .bind(user_id)
                .bind(changed.permissions.join(","))
                .execute(&mut *conn)
                .await?;
        }
        Event::Disabled(_) | Event::Enabled(_) => {
            sqlx::query("UPDATE users SET disabled = $2 WHERE id = $1")
                .bind(user_id)
                .bind(matches!(decoded, Event::Disabled(_)))
                .execute(&mut *conn)
                .await?;
        }
        Event::SessionStarted(started) => {
            // Expired sessions of the user go as a new one starts.
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND expires_at <= $2")
                .bind(user_id)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (session_hash, user_id, created_at, expires_at, address, user_agent) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&started.session_hash)
            .bind(user_id)
            .bind(at)
            .bind(started.expires_at_micros)
            .bind(&started.address)
            .bind(&started.user_agent)
            .execute(&mut *conn)
            .await?;
        }
        Event::SessionEnded(ended) => {
            sqlx::query("DELETE FROM sessions WHERE session_hash = $1")
                .bind(&ended.session_hash)
                .execute(&mut *conn)
                .await?;
        }
        Event::TokenCreated(created) => {
            sqlx::query(
                "INSERT INTO api_tokens (id, user_id, name, token_hash, prefix, created_at, expires_at, revoked_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
            )
            .bind(&created.token_id)
            .bind(user_id)
            .bind(&created.name)
            .bind(&created.token_hash)
            .bind(&created.prefix)
            .bind(at)
            .bind(created.expires_at_micros)
            .execute(&mut *conn)
            .await?;
        }
        Event::TokenRevoked(revoked) => {
            sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1")
                .bind(&revoked.token_id)
                .bind(at)
                .execute(&mut *conn)
                .await?;
        }
    }
    if matches!(
        decoded,
        Event::PasswordChanged(_) | Event::RoleChanged(_) | Event::Disabled(_)
    ) {
        sqlx::query("DELETE FROM sessions WHERE user_id = $1")
            .bind(user_id)
            .execute(&mut *conn)
            .await?;
    }
    if matches!(decoded, Event::RoleChanged(_) | Event::Disabled(_)) {
        let admins: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = FALSE",
        )
        .fetch_one(&mut *conn)
        .await?;
        if admins == 0 {
            return Err(refused(GatewayError::FailedPrecondition(
                "this would leave no enabled admin: make another user admin first".into(),
            )));
        }
    }
    sqlx::query("UPDATE users SET updated_at = $2, version = $3 WHERE id = $1")
        .bind(user_id)
        .bind(at)
        .bind(version)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn user_row(row: &DbRow) -> Result<UserRow, GatewayError> {
    let role: String = row.try_get("role")?;
    let permissions: String = row.try_get("permissions")?;
    let version: i64 = row.try_get("version")?;
    Ok(UserRow {
        id: row.try_get("id")?,
        email: row.try_get("email")?,
        display_name: row.try_get("display_name")?,
        role: Role::parse(&role)
            .ok_or_else(|| GatewayError::Internal(format!("unknown role {role:?} stored")))?,
        permissions: crate::accounts::user::permissions_of(
            &permissions.split(',').collect::<Vec<_>>(),
        ),
        password_hash: row.try_get("password_hash")?,
        disabled: row.try_get("disabled")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        version: u64::try_from(version).unwrap_or(0),
    })
}

/// `column` is `id` or `email`, never input.
pub(crate) async fn user_by(
    pool: &DbPool,
    column: &'static str,
    value: &str,
) -> Result<Option<UserRow>, GatewayError> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE {column} = $1"
    ))
    .bind(value)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(user_row).transpose()
}

pub(crate) async fn users(pool: &DbPool) -> Result<Vec<UserRow>, GatewayError> {
    let rows = sqlx::query(&format!("SELECT {USER_COLUMNS} FROM users ORDER BY email"))
        .fetch_all(pool)
        .await?;
    rows.iter().map(user_row).collect()
}

pub(crate) async fn user_count(pool: &DbPool) -> Result<u64, GatewayError> {
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(pool)
        .await?;
    Ok(u64::try_from(count).unwrap_or(0))
}

pub(crate) async fn session_user(
    pool: &DbPool,
    hash: &str,
    now: i64,
) -> Result<Option<UserRow>, GatewayError> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE disabled = FALSE AND id = \
         (SELECT user_id FROM sessions WHERE session_hash = $1 AND expires_at > $2)"
    ))
    .bind(hash)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(user_row).transpose()
}

pub(crate) async fn token_user(
    pool: &DbPool,
    hash: &str,
    now: i64,
) -> Result<Option<UserRow>, GatewayError> {
    let row = sqlx::query(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE disabled = FALSE AND id = \
         (SELECT user_id FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL \
          AND (expires_at = 0 OR expires_at > $2))"
    ))
    .bind(hash)
    .bind(now)
    .fetch_optional(pool)
    .await?;
    row.as_ref().map(user_row).transpose()
}

pub(crate) async fn tokens_of(pool: &DbPool, user_id: &str) -> Result<Vec<TokenRow>, GatewayError> {
    let rows = sqlx::query(
        "SELECT id, user_id, name, prefix, created_at, expires_at, revoked_at FROM api_tokens \
         WHERE user_id = $1 ORDER BY created_at DESC, id",
    )
    .bind(user_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(TokenRow {
                id: row.try_get("id")?,
                user_id: row.try_get("user_id")?,
                name: row.try_get("name")?,
                prefix: row.try_get("prefix")?,
                created_at: row.try_get("created_at")?,
                expires_at: row.try_get("expires_at")?,
                revoked_at: row.try_get("revoked_at")?,
            })
        })
        .collect()
}
