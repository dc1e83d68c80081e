//! The ceiling servers: tonic, one append per call in its own transaction,
//! on SQLite (with the same connection settings as Liaison's store) or on
//! PostgreSQL.

use std::net::SocketAddr;
use std::path::Path;

use sqlx::SqlitePool;
use tonic::{Request, Response, Status};

pub mod pb {
    tonic::include_proto!("liaison.bench.v1");
}

use pb::ceiling_server::{Ceiling, CeilingServer};

struct Appender {
    pool: SqlitePool,
}

#[tonic::async_trait]
impl Ceiling for Appender {
    async fn append(
        &self,
        request: Request<pb::AppendRequest>,
    ) -> Result<Response<pb::AppendReply>, Status> {
        let pb::AppendRequest { stream_id, payload } = request.into_inner();
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .map_err(internal)?;
        let inserted = sqlx::query(
            "INSERT INTO events (event_id, stream_id, stream_version, event_type, payload) VALUES (?, ?, 1, 'bench.appended', ?)",
        )
        .bind(uuid_bytes())
        .bind(&stream_id)
        .bind(&payload)
        .execute(&mut *conn)
        .await;
        match inserted {
            Ok(result) => {
                sqlx::query("COMMIT")
                    .execute(&mut *conn)
                    .await
                    .map_err(internal)?;
                let position = u64::try_from(result.last_insert_rowid()).unwrap_or(0);
                Ok(Response::new(pb::AppendReply { position }))
            }
            Err(error) => {
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
                Err(internal(error))
            }
        }
    }
}

fn internal(error: sqlx::Error) -> Status {
    Status::internal(error.to_string())
}

fn uuid_bytes() -> Vec<u8> {
    rand::random::<[u8; 16]>().to_vec()
}

pub async fn serve(database: &Path, addr: SocketAddr) -> anyhow::Result<()> {
    let pool = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(liaison_eventstore::sqlite::connect_options(database))
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS events (position INTEGER PRIMARY KEY, event_id BLOB NOT NULL UNIQUE,
         stream_id TEXT NOT NULL, stream_version INTEGER NOT NULL, event_type TEXT NOT NULL, payload BLOB NOT NULL,
         UNIQUE (stream_id, stream_version))",
    )
    .execute(&pool)
    .await?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<CeilingServer<Appender>>().await;
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(health_service)
        .add_service(CeilingServer::new(Appender { pool }))
        .serve(addr)
        .await?;
    Ok(())
}

/// The same append on PostgreSQL: one INSERT per call, autocommitted, from
/// a pool as large as the biggest client count measured.
struct PgAppender {
    pool: sqlx::PgPool,
}

#[tonic::async_trait]
impl Ceiling for PgAppender {
    async fn append(
        &self,
        request: Request<pb::AppendRequest>,
    ) -> Result<Response<pb::AppendReply>, Status> {
        let pb::AppendRequest { stream_id, payload } = request.into_inner();
        let position: i64 = sqlx::query_scalar(
            "INSERT INTO events (event_id, stream_id, stream_version, event_type, payload) \
             VALUES ($1, $2, 1, 'bench.appended', $3) RETURNING position",
        )
        .bind(uuid_bytes())
        .bind(&stream_id)
        .bind(&payload)
        .fetch_one(&self.pool)
        .await
        .map_err(internal)?;
        Ok(Response::new(pb::AppendReply {
            position: u64::try_from(position).unwrap_or(0),
        }))
    }
}

pub async fn serve_postgres(url: &str, schema: &str, addr: SocketAddr) -> anyhow::Result<()> {
    use std::str::FromStr;
    let admin = sqlx::PgPool::connect(url).await?;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
        .execute(&admin)
        .await?;
    admin.close().await;
    let options =
        sqlx::postgres::PgConnectOptions::from_str(url)?.options([("search_path", schema)]);
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(32)
        .connect_with(options)
        .await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS events (position BIGSERIAL PRIMARY KEY, event_id BYTEA NOT NULL UNIQUE,
         stream_id TEXT NOT NULL, stream_version BIGINT NOT NULL, event_type TEXT NOT NULL, payload BYTEA NOT NULL,
         UNIQUE (stream_id, stream_version))",
    )
    .execute(&pool)
    .await?;
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<CeilingServer<PgAppender>>().await;
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(health_service)
        .add_service(CeilingServer::new(PgAppender { pool }))
        .serve(addr)
        .await?;
    Ok(())
}
