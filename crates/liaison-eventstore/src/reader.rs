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
    /// The stored keys among `subjects`.
    async fn subject_keys(
        &self,
        subjects: &[&str],
    ) -> Result<std::collections::HashMap<String, Vec<u8>>, StoreError>;
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
    // The keys the cache does not know, in one query per call.
    let mut unknown: Vec<&str> = rows
        .iter()
        .filter_map(|(_, subject)| subject.as_deref())
        .filter(|subject| matches!(keys.get(subject), CachedKey::Unknown))
        .collect();
    unknown.sort_unstable();
    unknown.dedup();
    let fetched = match unknown.len() {
        0 => Default::default(),
        1 => {
            let mut one = std::collections::HashMap::new();
            if let Some(key) = reader.subject_key(unknown[0]).await? {
                one.insert(unknown[0].to_owned(), key);
            }
            one
        }
        _ => reader.subject_keys(&unknown).await?,
    };
    let mut seen: std::collections::HashMap<String, Option<crypto::SubjectKey>> =
        std::collections::HashMap::new();
    for subject in unknown {
        let key = fetched
            .get(subject)
            .map(|bytes| crypto::key_from_bytes(bytes))
            .transpose()?;
        keys.remember(subject, key);
        seen.insert(subject.to_owned(), key);
    }
    let mut events = Vec::with_capacity(rows.len());
    for (mut event, subject) in rows {
        if let Some(subject) = subject {
            // Through the cache when it is on: an erasure that committed
            // meanwhile wins over what was just fetched.
            let key = match keys.get(&subject) {
                CachedKey::Present(key) => Some(key),
                CachedKey::Forgotten => None,
                CachedKey::Unknown => seen.get(&subject).copied().flatten(),
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
