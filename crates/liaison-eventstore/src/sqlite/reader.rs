use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

use crate::crypto::{self, CachedKey, KeyCache};
use crate::{EventMetadata, RecordedEvent, StoreError};

pub(super) const EVENT_COLUMNS: &str = "position, event_id, stream_id, stream_version, event_type, \
     schema_version, occurred_at, actor, correlation_id, causation_id, traceparent, subject_id, payload";

pub(super) async fn read_stream(
    pool: &SqlitePool,
    keys: &KeyCache,
    stream_id: &str,
    after_version: u64,
    limit: u32,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE stream_id = ? AND stream_version > ? \
         ORDER BY stream_version LIMIT ?"
    ))
    .bind(stream_id)
    .bind(to_i64(after_version))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(StoreError::from_sqlx)?;
    decode_rows(pool, keys, rows).await
}

pub(super) async fn read_all(
    pool: &SqlitePool,
    keys: &KeyCache,
    after_position: u64,
    limit: u32,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?"
    ))
    .bind(to_i64(after_position))
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(StoreError::from_sqlx)?;
    decode_rows(pool, keys, rows).await
}

pub(super) async fn head_position(pool: &SqlitePool) -> Result<u64, StoreError> {
    let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
        .fetch_one(pool)
        .await
        .map_err(StoreError::from_sqlx)?;
    Ok(to_u64(head))
}

pub(super) async fn relay_checkpoint(pool: &SqlitePool) -> Result<u64, StoreError> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT position FROM relay_checkpoint WHERE id = 1")
            .fetch_optional(pool)
            .await
            .map_err(StoreError::from_sqlx)?;
    Ok(position.map(to_u64).unwrap_or(0))
}

async fn decode_rows(
    pool: &SqlitePool,
    keys: &KeyCache,
    rows: Vec<SqliteRow>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let mut events = Vec::with_capacity(rows.len());
    for row in rows {
        let (mut event, subject) = event_from_row(&row)?;
        if let Some(subject) = subject {
            match key_for_read(pool, keys, &subject).await? {
                Some(key) => event.payload = crypto::open(&key, event.event_id, &event.payload)?,
                None => {
                    event.payload.clear();
                    event.shredded = true;
                }
            }
        }
        events.push(event);
    }
    Ok(events)
}

async fn key_for_read(
    pool: &SqlitePool,
    keys: &KeyCache,
    subject: &str,
) -> Result<Option<crypto::SubjectKey>, StoreError> {
    match keys.get(subject) {
        CachedKey::Present(key) => return Ok(Some(key)),
        CachedKey::Forgotten => return Ok(None),
        CachedKey::Unknown => {}
    }
    let stored: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT key FROM subject_keys WHERE subject_id = ?")
            .bind(subject)
            .fetch_optional(pool)
            .await
            .map_err(StoreError::from_sqlx)?;
    let key = stored.as_deref().map(crypto::key_from_bytes).transpose()?;
    keys.remember(subject, key);
    // Re-read through the cache: an erasure that committed meanwhile wins.
    Ok(match keys.get(subject) {
        CachedKey::Present(key) => Some(key),
        _ => None,
    })
}

/// The event of a row with its payload still sealed, and the sealing subject.
pub(super) fn event_from_row(
    row: &SqliteRow,
) -> Result<(RecordedEvent, Option<String>), StoreError> {
    let corrupt = |error: sqlx::Error| StoreError::Corrupt(error.to_string());
    let event_id: Vec<u8> = row.try_get("event_id").map_err(corrupt)?;
    let event_id = Uuid::from_slice(&event_id)
        .map_err(|error| StoreError::Corrupt(format!("bad event id: {error}")))?;
    let schema_version: i64 = row.try_get("schema_version").map_err(corrupt)?;
    let event = RecordedEvent {
        position: to_u64(row.try_get("position").map_err(corrupt)?),
        event_id,
        stream_id: row.try_get("stream_id").map_err(corrupt)?,
        stream_version: to_u64(row.try_get("stream_version").map_err(corrupt)?),
        event_type: row.try_get("event_type").map_err(corrupt)?,
        schema_version: u32::try_from(schema_version)
            .map_err(|_| StoreError::Corrupt(format!("bad schema version {schema_version}")))?,
        metadata: EventMetadata {
            actor: row.try_get("actor").map_err(corrupt)?,
            correlation_id: row.try_get("correlation_id").map_err(corrupt)?,
            causation_id: row.try_get("causation_id").map_err(corrupt)?,
            traceparent: row.try_get("traceparent").map_err(corrupt)?,
            occurred_at_micros: row.try_get("occurred_at").map_err(corrupt)?,
        },
        payload: row.try_get("payload").map_err(corrupt)?,
        shredded: false,
    };
    let subject: Option<String> = row.try_get("subject_id").map_err(corrupt)?;
    Ok((event, subject))
}

pub(crate) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(crate) fn to_u64(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}
