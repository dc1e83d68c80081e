//! Reading the log: the decoding and decryption shared by every backend;
//! the SQL is each backend's [`LogReader`].

use async_trait::async_trait;
use sqlx::{ColumnIndex, Decode, Row, Type};
use uuid::Uuid;

use crate::crypto::{self, CachedKey, KeyCache};
use crate::{EventMetadata, RecordedEvent, StoreError};

pub(crate) const EVENT_COLUMNS: &str = "position, event_id, stream_id, stream_version, event_type, \
     schema_version, occurred_at, actor, correlation_id, causation_id, traceparent, subject_id, payload";

/// An event as stored: payload still sealed when `subject` is set.
pub(crate) type SealedEvent = (RecordedEvent, Option<String>);

/// The queries of the log, on a backend's read pool.
#[async_trait]
pub(crate) trait LogReader: Send + Sync {
    async fn stream_events(
        &self,
        stream_id: &str,
        after_version: u64,
        limit: u32,
    ) -> Result<Vec<SealedEvent>, StoreError>;
    async fn events_after(&self, position: u64, limit: u32)
        -> Result<Vec<SealedEvent>, StoreError>;
    async fn head_position(&self) -> Result<u64, StoreError>;
    async fn relay_checkpoint(&self) -> Result<u64, StoreError>;
    async fn subject_key(&self, subject: &str) -> Result<Option<Vec<u8>>, StoreError>;
}

pub(crate) async fn read_stream(
    reader: &dyn LogReader,
    keys: &KeyCache,
    stream_id: &str,
    after_version: u64,
    limit: u32,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = reader
        .stream_events(stream_id, after_version, limit)
        .await?;
    open_all(reader, keys, rows).await
}

pub(crate) async fn read_all(
    reader: &dyn LogReader,
    keys: &KeyCache,
    after_position: u64,
    limit: u32,
) -> Result<Vec<RecordedEvent>, StoreError> {
    let rows = reader.events_after(after_position, limit).await?;
    open_all(reader, keys, rows).await
}

/// Decrypts sealed payloads; those of forgotten subjects come out shredded.
async fn open_all(
    reader: &dyn LogReader,
    keys: &KeyCache,
    rows: Vec<SealedEvent>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    // One look-up per subject per call, even when the cache is off.
    let mut seen: Vec<(String, Option<crypto::SubjectKey>)> = Vec::new();
    let mut events = Vec::with_capacity(rows.len());
    for (mut event, subject) in rows {
        if let Some(subject) = subject {
            let key = match seen.iter().find(|(known, _)| *known == subject) {
                Some((_, key)) => *key,
                None => {
                    let key = key_for_read(reader, keys, &subject).await?;
                    seen.push((subject, key));
                    key
                }
            };
            match key {
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
    reader: &dyn LogReader,
    keys: &KeyCache,
    subject: &str,
) -> Result<Option<crypto::SubjectKey>, StoreError> {
    match keys.get(subject) {
        CachedKey::Present(key) => return Ok(Some(key)),
        CachedKey::Forgotten => return Ok(None),
        CachedKey::Unknown => {}
    }
    let stored = reader.subject_key(subject).await?;
    let key = stored.as_deref().map(crypto::key_from_bytes).transpose()?;
    keys.remember(subject, key);
    // Re-read through the cache: an erasure that committed meanwhile wins.
    Ok(match keys.get(subject) {
        CachedKey::Present(key) => Some(key),
        CachedKey::Forgotten => None,
        CachedKey::Unknown => key,
    })
}

/// The event of a row with its payload still sealed, and the sealing subject.
pub(crate) fn event_from_row<'r, R>(row: &'r R) -> Result<SealedEvent, StoreError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
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
