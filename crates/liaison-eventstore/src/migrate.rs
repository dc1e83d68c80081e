//! Schema migrations, applied at start in version order, each in its own
//! transaction, recorded per component so several components share a database.

use sqlx::{Executor, PgConnection, SqliteConnection};

use crate::StoreError;

/// One schema change of a component.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub description: &'static str,
    pub sql: &'static str,
}

/// Applies the migrations of `component` that are not applied yet.
pub async fn run_sqlite(
    conn: &mut SqliteConnection,
    component: &str,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    debug_assert!(
        migrations.windows(2).all(|w| w[0].version < w[1].version),
        "migrations must be listed in increasing version order"
    );
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            component TEXT NOT NULL,
            version INTEGER NOT NULL,
            description TEXT NOT NULL,
            applied_at INTEGER NOT NULL,
            PRIMARY KEY (component, version))",
    )
    .await
    .map_err(StoreError::from_sqlx)?;

    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations WHERE component = ?")
            .bind(component)
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::from_sqlx)?;
    for migration in migrations {
        if applied.contains(&migration.version) {
            continue;
        }
        conn.execute("BEGIN IMMEDIATE")
            .await
            .map_err(StoreError::from_sqlx)?;
        let result = apply_one(conn, component, migration).await;
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        conn.execute(end).await.map_err(StoreError::from_sqlx)?;
        result?;
        tracing::info!(
            component,
            version = migration.version,
            description = migration.description,
            "migration applied"
        );
    }
    Ok(())
}

async fn apply_one(
    conn: &mut SqliteConnection,
    component: &str,
    migration: &Migration,
) -> Result<(), StoreError> {
    conn.execute(migration.sql).await.map_err(|error| {
        StoreError::Corrupt(format!(
            "migration {} {} of {component} failed: {error}",
            migration.version, migration.description
        ))
    })?;
    sqlx::query(
        "INSERT INTO schema_migrations (component, version, description, applied_at)
         VALUES (?, ?, ?, ?)",
    )
    .bind(component)
    .bind(migration.version)
    .bind(migration.description)
    .bind(crate::now_micros())
    .execute(&mut *conn)
    .await
    .map_err(StoreError::from_sqlx)?;
    Ok(())
}

/// Applies the migrations of `component` that are not applied yet, on
/// PostgreSQL. A session advisory lock keeps two processes starting at once
/// from applying the same migration twice.
pub async fn run_postgres(
    conn: &mut PgConnection,
    component: &str,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    debug_assert!(
        migrations.windows(2).all(|w| w[0].version < w[1].version),
        "migrations must be listed in increasing version order"
    );
    const MIGRATION_LOCK: i64 = 0x4c49_4149_534f_4e4d; // "LIAISONM"
    conn.execute(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})").as_str())
        .await
        .map_err(StoreError::from_sqlx)?;
    let result = apply_postgres(conn, component, migrations).await;
    let unlocked = conn
        .execute(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})").as_str())
        .await
        .map_err(StoreError::from_sqlx);
    result.and(unlocked.map(|_| ()))
}

async fn apply_postgres(
    conn: &mut PgConnection,
    component: &str,
    migrations: &[Migration],
) -> Result<(), StoreError> {
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            component TEXT NOT NULL,
            version BIGINT NOT NULL,
            description TEXT NOT NULL,
            applied_at BIGINT NOT NULL,
            PRIMARY KEY (component, version))",
    )
    .await
    .map_err(StoreError::from_sqlx)?;
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations WHERE component = $1")
            .bind(component)
            .fetch_all(&mut *conn)
            .await
            .map_err(StoreError::from_sqlx)?;
    for migration in migrations {
        if applied.contains(&migration.version) {
            continue;
        }
        conn.execute("BEGIN").await.map_err(StoreError::from_sqlx)?;
        let result = async {
            conn.execute(migration.sql).await.map_err(|error| {
                StoreError::Corrupt(format!(
                    "migration {} {} of {component} failed: {error}",
                    migration.version, migration.description
                ))
            })?;
            sqlx::query(
                "INSERT INTO schema_migrations (component, version, description, applied_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(component)
            .bind(migration.version)
            .bind(migration.description)
            .bind(crate::now_micros())
            .execute(&mut *conn)
            .await
            .map_err(StoreError::from_sqlx)
        }
        .await;
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        conn.execute(end).await.map_err(StoreError::from_sqlx)?;
        result?;
        tracing::info!(
            component,
            version = migration.version,
            description = migration.description,
            "migration applied"
        );
    }
    Ok(())
}
