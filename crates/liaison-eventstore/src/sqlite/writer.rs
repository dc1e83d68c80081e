//! The single writer task of a SQLite store: group commit of queued jobs.

use std::collections::HashMap;
use std::sync::Arc;

use liaison_proto::events::v1::EventEnvelope;
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};
use tokio::sync::{mpsc, oneshot, watch};

use super::reader::{event_from_row, to_i64, to_u64, EVENT_COLUMNS};
use crate::crypto::{self, CachedKey, KeyCache, SubjectKey};
use crate::{
    AppendOutcome, AppendRequest, ConsumerProjection, ExpectedVersion, Projection, RecordedEvent,
    StoreError,
};

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(super) enum Job {
    Append {
        request: AppendRequest,
        reply: Reply<AppendOutcome>,
    },
    Consume {
        consumer: &'static str,
        envelopes: Vec<EventEnvelope>,
        reply: Reply<usize>,
    },
    RelayCheckpoint {
        position: u64,
        reply: Reply<()>,
    },
}

pub(super) enum WriterCommand {
    Job(Job),
    Rebuild(Reply<u64>),
    Close(oneshot::Sender<()>),
}

pub(super) struct WriterConfig {
    pub service: &'static str,
    pub max_batch: usize,
    pub projections: Vec<Arc<dyn Projection<Sqlite>>>,
    pub consumers: Vec<Arc<dyn ConsumerProjection<Sqlite>>>,
    pub keys: Arc<KeyCache>,
}

/// What the writer remembers between jobs; copied before a transaction and
/// restored when it rolls back.
#[derive(Clone)]
struct WriterMemory {
    next_position: u64,
    consumer_checkpoints: HashMap<(String, String), u64>,
}

/// Effects visible outside the database once the transaction commits.
#[derive(Default)]
struct PendingEffects {
    new_keys: Vec<(String, SubjectKey)>,
    forgotten: Vec<String>,
}

enum JobFailure {
    /// This job is refused; the others may go on.
    Refused(StoreError),
    /// The database failed; the whole batch fails.
    Fatal(StoreError),
}

struct Writer {
    conn: SqliteConnection,
    config: WriterConfig,
    memory: WriterMemory,
    head: watch::Sender<u64>,
}

pub(super) async fn spawn(
    mut conn: SqliteConnection,
    config: WriterConfig,
) -> Result<(mpsc::Sender<WriterCommand>, watch::Receiver<u64>), StoreError> {
    let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
        .fetch_one(&mut conn)
        .await
        .map_err(StoreError::from_sqlx)?;
    let checkpoints: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT consumer, source_service, position FROM consumer_checkpoints")
            .fetch_all(&mut conn)
            .await
            .map_err(StoreError::from_sqlx)?;
    let head = to_u64(head);
    let (head_tx, head_rx) = watch::channel(head);
    let (tx, rx) = mpsc::channel(4 * config.max_batch);
    let writer = Writer {
        conn,
        config,
        memory: WriterMemory {
            next_position: head + 1,
            consumer_checkpoints: checkpoints
                .into_iter()
                .map(|(consumer, source, position)| ((consumer, source), to_u64(position)))
                .collect(),
        },
        head: head_tx,
    };
    tokio::spawn(writer.run(rx));
    Ok((tx, head_rx))
}

pub(super) fn validate_append(request: &AppendRequest) -> Result<(), StoreError> {
    if request.streams.is_empty() {
        return Err(StoreError::InvalidAppend(
            "an append needs at least one stream".into(),
        ));
    }
    for (index, stream) in request.streams.iter().enumerate() {
        if stream.events.is_empty() {
            return Err(StoreError::InvalidAppend(format!(
                "stream {} has no events",
                stream.stream_id
            )));
        }
        if request.streams[..index]
            .iter()
            .any(|other| other.stream_id == stream.stream_id)
        {
            return Err(StoreError::InvalidAppend(format!(
                "stream {} appears twice in one append",
                stream.stream_id
            )));
        }
    }
    Ok(())
}

impl Writer {
    async fn run(mut self, mut commands: mpsc::Receiver<WriterCommand>) {
        let mut batch: Vec<Job> = Vec::with_capacity(self.config.max_batch);
        while let Some(command) = commands.recv().await {
            match command {
                WriterCommand::Job(job) => batch.push(job),
                WriterCommand::Rebuild(reply) => {
                    let _ = reply.send(self.rebuild().await);
                    continue;
                }
                WriterCommand::Close(done) => {
                    let _ = self.conn.close_hard().await;
                    let _ = done.send(());
                    return;
                }
            }
            // Group commit: take whatever else is already waiting.
            let mut deferred = None;
            while batch.len() < self.config.max_batch {
                match commands.try_recv() {
                    Ok(WriterCommand::Job(job)) => batch.push(job),
                    Ok(other) => {
                        deferred = Some(other);
                        break;
                    }
                    Err(_) => break,
                }
            }
            self.commit_batch(std::mem::take(&mut batch)).await;
            match deferred {
                Some(WriterCommand::Rebuild(reply)) => {
                    let _ = reply.send(self.rebuild().await);
                }
                Some(WriterCommand::Close(done)) => {
                    let _ = self.conn.close_hard().await;
                    let _ = done.send(());
                    return;
                }
                Some(WriterCommand::Job(_)) | None => {}
            }
        }
    }

    async fn commit_batch(&mut self, mut jobs: Vec<Job>) {
        while !jobs.is_empty() {
            let saved = self.memory.clone();
            if let Err(error) = self.execute("BEGIN IMMEDIATE").await {
                fail_all(jobs, &error);
                return;
            }
            let mut effects = PendingEffects::default();
            let mut outcomes = Vec::with_capacity(jobs.len());
            let mut refused = None;
            for index in 0..jobs.len() {
                match self.apply_job(&jobs[index], &mut effects).await {
                    Ok(outcome) => outcomes.push(outcome),
                    Err(JobFailure::Refused(error)) => {
                        refused = Some((index, error));
                        break;
                    }
                    Err(JobFailure::Fatal(error)) => {
                        self.rollback(saved).await;
                        fail_all(jobs, &error);
                        return;
                    }
                }
            }
            if let Some((index, error)) = refused {
                // Undo everything and run the batch again without the refused job.
                self.rollback(saved).await;
                jobs.remove(index).reply_err(error);
                continue;
            }
            if let Err(error) = self.execute("COMMIT").await {
                self.rollback(saved).await;
                fail_all(jobs, &error);
                return;
            }
            for (subject, key) in effects.new_keys {
                self.config.keys.remember(&subject, Some(key));
            }
            let erased_any = !effects.forgotten.is_empty();
            for subject in effects.forgotten {
                self.config.keys.forget(&subject);
            }
            if erased_any {
                // Old page images of erased rows must not linger in the WAL.
                if let Err(error) = self.execute("PRAGMA wal_checkpoint(TRUNCATE)").await {
                    tracing::warn!(%error, "checkpoint after erasure failed");
                }
            }
            self.head.send_replace(self.memory.next_position - 1);
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                job.reply_ok(outcome);
            }
            return;
        }
    }

    async fn rollback(&mut self, saved: WriterMemory) {
        self.memory = saved;
        if let Err(error) = self.execute("ROLLBACK").await {
            tracing::warn!(%error, "rollback failed");
        }
    }

    async fn execute(&mut self, sql: &'static str) -> Result<(), StoreError> {
        sqlx::query(sql)
            .execute(&mut self.conn)
            .await
            .map(|_| ())
            .map_err(StoreError::from_sqlx)
    }

    async fn apply_job(
        &mut self,
        job: &Job,
        effects: &mut PendingEffects,
    ) -> Result<JobOutcome, JobFailure> {
        match job {
            Job::Append { request, .. } => self
                .append(request, effects)
                .await
                .map(JobOutcome::Appended),
            Job::Consume {
                consumer,
                envelopes,
                ..
            } => self
                .consume(consumer, envelopes)
                .await
                .map(JobOutcome::Consumed),
            Job::RelayCheckpoint { position, .. } => {
                sqlx::query(
                    "INSERT INTO relay_checkpoint (id, position) VALUES (1, ?)
                     ON CONFLICT (id) DO UPDATE SET position = excluded.position",
                )
                .bind(to_i64(*position))
                .execute(&mut self.conn)
                .await
                .map_err(fatal)?;
                Ok(JobOutcome::Done)
            }
        }
    }

    async fn append(
        &mut self,
        request: &AppendRequest,
        effects: &mut PendingEffects,
    ) -> Result<AppendOutcome, JobFailure> {
        let mut stream_versions = Vec::with_capacity(request.streams.len());
        let mut recorded = Vec::new();
        let mut sealed_payloads = Vec::new();
        let mut keys_to_insert = Vec::new();
        for stream in &request.streams {
            let current = self
                .current_version(&stream.stream_id, stream.expected)
                .await?;
            let key = match &stream.encrypt_for_subject {
                Some(subject) => {
                    let is_new_stream = stream.expected == ExpectedVersion::NoStream;
                    let key = self
                        .key_for_write(subject, is_new_stream, effects, &mut keys_to_insert)
                        .await?;
                    Some((subject.clone(), key))
                }
                None => None,
            };
            for (offset, event) in stream.events.iter().enumerate() {
                let version = current + 1 + offset as u64;
                let position = self.memory.next_position;
                self.memory.next_position += 1;
                let sealed = match &key {
                    Some((subject, key)) => Some((
                        subject.clone(),
                        crypto::seal(key, event.event_id, &event.payload)
                            .map_err(JobFailure::Refused)?,
                    )),
                    None => None,
                };
                sealed_payloads.push(sealed);
                recorded.push(RecordedEvent {
                    position,
                    event_id: event.event_id,
                    stream_id: stream.stream_id.clone(),
                    stream_version: version,
                    event_type: event.event_type.clone(),
                    schema_version: event.schema_version,
                    metadata: request.metadata.clone(),
                    payload: event.payload.clone(),
                    shredded: false,
                });
            }
            stream_versions.push((
                stream.stream_id.clone(),
                current + stream.events.len() as u64,
            ));
        }

        self.insert_events(&recorded, &sealed_payloads, &keys_to_insert)
            .await?;

        for subject in &request.forget_subjects {
            sqlx::query(
                "DELETE FROM subject_keys WHERE subject_id = ?1; \
                 INSERT OR IGNORE INTO forgotten_subjects (subject_id, forgotten_at) VALUES (?1, ?2);",
            )
            .bind(subject)
            .bind(request.metadata.occurred_at_micros)
            .execute(&mut self.conn)
            .await
            .map_err(fatal)?;
            effects.forgotten.push(subject.clone());
            effects.new_keys.retain(|(pending, _)| pending != subject);
        }

        for event in &recorded {
            for index in 0..self.config.projections.len() {
                let projection = self.config.projections[index].clone();
                projection
                    .apply(&mut self.conn, event)
                    .await
                    .map_err(|error| refused_projection(projection.name(), error))?;
            }
        }

        Ok(AppendOutcome {
            stream_versions,
            last_position: self.memory.next_position - 1,
        })
    }

    /// The stream's version now, checked against what the caller expects.
    async fn current_version(
        &mut self,
        stream_id: &str,
        expected: ExpectedVersion,
    ) -> Result<u64, JobFailure> {
        // A brand-new stream needs no look-up: the unique (stream, version)
        // key refuses the insert if the stream exists after all.
        if expected == ExpectedVersion::NoStream {
            return Ok(0);
        }
        let actual = self.stream_version(stream_id).await?;
        match expected.as_version() {
            Some(expected) if expected != actual => {
                Err(JobFailure::Refused(StoreError::VersionConflict {
                    stream_id: stream_id.to_owned(),
                    expected,
                    actual,
                }))
            }
            _ => Ok(actual),
        }
    }

    async fn stream_version(&mut self, stream_id: &str) -> Result<u64, JobFailure> {
        let version: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(stream_version), 0) FROM events WHERE stream_id = ?",
        )
        .bind(stream_id)
        .fetch_one(&mut self.conn)
        .await
        .map_err(fatal)?;
        Ok(to_u64(version))
    }

    /// Inserts the events, preceded by the new subject keys they are sealed
    /// with, in one round trip.
    async fn insert_events(
        &mut self,
        events: &[RecordedEvent],
        sealed: &[Option<(String, Vec<u8>)>],
        new_keys: &[(String, SubjectKey)],
    ) -> Result<(), JobFailure> {
        let mut insert = QueryBuilder::<Sqlite>::new("");
        if !new_keys.is_empty() {
            let now = crate::now_micros();
            insert.push("INSERT INTO subject_keys (subject_id, key, created_at) ");
            insert.push_values(new_keys, |mut row, (subject, key)| {
                row.push_bind(subject.clone())
                    .push_bind(key.to_vec())
                    .push_bind(now);
            });
            insert.push("; ");
        }
        insert.push(
            "INSERT INTO events (position, event_id, stream_id, stream_version, event_type, \
             schema_version, occurred_at, actor, correlation_id, causation_id, traceparent, \
             subject_id, payload) ",
        );
        insert.push_values(events.iter().zip(sealed), |mut row, (event, sealed)| {
            let (subject, payload) = match sealed {
                Some((subject, bytes)) => (Some(subject.as_str()), bytes.as_slice()),
                None => (None, event.payload.as_slice()),
            };
            row.push_bind(to_i64(event.position))
                .push_bind(event.event_id.as_bytes().as_slice())
                .push_bind(event.stream_id.as_str())
                .push_bind(to_i64(event.stream_version))
                .push_bind(event.event_type.as_str())
                .push_bind(i64::from(event.schema_version))
                .push_bind(event.metadata.occurred_at_micros)
                .push_bind(event.metadata.actor.as_str())
                .push_bind(event.metadata.correlation_id.as_str())
                .push_bind(event.metadata.causation_id.as_str())
                .push_bind(event.metadata.traceparent.as_str())
                .push_bind(subject)
                .push_bind(payload);
        });
        let result = insert.build().execute(&mut self.conn).await;
        match result {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                let message = db.message().to_owned();
                if message.contains("subject_keys") {
                    return Err(JobFailure::Refused(StoreError::InvalidAppend(
                        "a subject key exists for a stream said to be new".into(),
                    )));
                }
                if message.contains("event_id") {
                    return Err(JobFailure::Refused(StoreError::InvalidAppend(
                        "an event id was used before".into(),
                    )));
                }
                // Someone else wrote the version we meant to write.
                let first = &events[0];
                let actual = self.stream_version(&first.stream_id).await?;
                Err(JobFailure::Refused(StoreError::VersionConflict {
                    stream_id: first.stream_id.clone(),
                    expected: first.stream_version - 1,
                    actual,
                }))
            }
            Err(other) => Err(fatal(other)),
        }
    }

    /// The subject's key; a new one is generated on first use and queued in
    /// `to_insert`, to be written with the events. Refused for a subject
    /// that was forgotten, even by an earlier process.
    async fn key_for_write(
        &mut self,
        subject: &str,
        is_new_stream: bool,
        effects: &mut PendingEffects,
        to_insert: &mut Vec<(String, SubjectKey)>,
    ) -> Result<SubjectKey, JobFailure> {
        if let Some((_, key)) = effects
            .new_keys
            .iter()
            .find(|(pending, _)| pending == subject)
        {
            return Ok(*key);
        }
        let forgotten = || {
            JobFailure::Refused(StoreError::InvalidAppend(format!(
                "subject {subject} was erased; nothing more can be recorded for it"
            )))
        };
        match self.config.keys.get(subject) {
            CachedKey::Present(key) => return Ok(key),
            CachedKey::Forgotten => return Err(forgotten()),
            CachedKey::Unknown => {}
        }
        // A new stream's subject is new too (its id was just made): if a key
        // exists after all, inserting it fails and the append is refused.
        if !is_new_stream {
            let (stored, was_forgotten): (Option<Vec<u8>>, bool) = sqlx::query_as(
                "SELECT (SELECT key FROM subject_keys WHERE subject_id = ?1), \
                 EXISTS (SELECT 1 FROM forgotten_subjects WHERE subject_id = ?1)",
            )
            .bind(subject)
            .fetch_one(&mut self.conn)
            .await
            .map_err(fatal)?;
            if was_forgotten {
                return Err(forgotten());
            }
            if let Some(stored) = stored {
                return crypto::key_from_bytes(&stored).map_err(JobFailure::Fatal);
            }
        }
        let key = crypto::generate_key();
        effects.new_keys.push((subject.to_owned(), key));
        to_insert.push((subject.to_owned(), key));
        Ok(key)
    }

    async fn consume(
        &mut self,
        consumer: &'static str,
        envelopes: &[EventEnvelope],
    ) -> Result<usize, JobFailure> {
        let Some(projection) = self
            .config
            .consumers
            .iter()
            .find(|projection| projection.consumer_name() == consumer)
            .cloned()
        else {
            return Err(JobFailure::Refused(StoreError::InvalidAppend(format!(
                "no consumer projection named {consumer}"
            ))));
        };
        let mut applied = 0;
        let mut touched = Vec::new();
        for envelope in envelopes {
            let key = (consumer.to_owned(), envelope.service.clone());
            let checkpoint = self
                .memory
                .consumer_checkpoints
                .get(&key)
                .copied()
                .unwrap_or(0);
            if envelope.global_position <= checkpoint {
                continue;
            }
            projection
                .apply(&mut self.conn, envelope)
                .await
                .map_err(|error| refused_projection(consumer, error))?;
            self.memory
                .consumer_checkpoints
                .insert(key.clone(), envelope.global_position);
            if !touched.contains(&key) {
                touched.push(key);
            }
            applied += 1;
        }
        for key in touched {
            let position = self
                .memory
                .consumer_checkpoints
                .get(&key)
                .copied()
                .unwrap_or(0);
            sqlx::query(
                "INSERT INTO consumer_checkpoints (consumer, source_service, position) VALUES (?, ?, ?)
                 ON CONFLICT (consumer, source_service) DO UPDATE SET position = excluded.position",
            )
            .bind(&key.0)
            .bind(&key.1)
            .bind(to_i64(position))
            .execute(&mut self.conn)
            .await
            .map_err(fatal)?;
        }
        Ok(applied)
    }

    async fn rebuild(&mut self) -> Result<u64, StoreError> {
        let saved = self.memory.clone();
        self.execute("BEGIN IMMEDIATE").await?;
        let result = self.replay_all().await;
        match result {
            Ok(count) => match self.execute("COMMIT").await {
                Ok(()) => Ok(count),
                Err(error) => {
                    self.rollback(saved).await;
                    Err(error)
                }
            },
            Err(error) => {
                self.rollback(saved).await;
                Err(error)
            }
        }
    }

    async fn replay_all(&mut self) -> Result<u64, StoreError> {
        for projection in &self.config.projections {
            projection
                .reset(&mut self.conn)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        let mut replayed = 0u64;
        let mut after = 0u64;
        loop {
            let rows = sqlx::query(&format!(
                "SELECT {EVENT_COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT 1000"
            ))
            .bind(to_i64(after))
            .fetch_all(&mut self.conn)
            .await
            .map_err(StoreError::from_sqlx)?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let (mut event, subject) = event_from_row(&row)?;
                if let Some(subject) = subject {
                    match self.stored_key(&subject).await? {
                        Some(key) => {
                            event.payload = crypto::open(&key, event.event_id, &event.payload)?
                        }
                        None => {
                            event.payload.clear();
                            event.shredded = true;
                        }
                    }
                }
                for projection in &self.config.projections {
                    projection
                        .apply(&mut self.conn, &event)
                        .await
                        .map_err(StoreError::from)?;
                }
                after = event.position;
                replayed += 1;
            }
        }
        tracing::info!(
            service = self.config.service,
            events = replayed,
            "read models rebuilt"
        );
        Ok(replayed)
    }

    async fn stored_key(&mut self, subject: &str) -> Result<Option<SubjectKey>, StoreError> {
        let stored: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT key FROM subject_keys WHERE subject_id = ?")
                .bind(subject)
                .fetch_optional(&mut self.conn)
                .await
                .map_err(StoreError::from_sqlx)?;
        stored.as_deref().map(crypto::key_from_bytes).transpose()
    }
}

enum JobOutcome {
    Appended(AppendOutcome),
    Consumed(usize),
    Done,
}

impl Job {
    fn reply_err(self, error: StoreError) {
        match self {
            Job::Append { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Job::Consume { reply, .. } => {
                let _ = reply.send(Err(error));
            }
            Job::RelayCheckpoint { reply, .. } => {
                let _ = reply.send(Err(error));
            }
        }
    }

    fn reply_ok(self, outcome: JobOutcome) {
        match (self, outcome) {
            (Job::Append { reply, .. }, JobOutcome::Appended(outcome)) => {
                let _ = reply.send(Ok(outcome));
            }
            (Job::Consume { reply, .. }, JobOutcome::Consumed(count)) => {
                let _ = reply.send(Ok(count));
            }
            (Job::RelayCheckpoint { reply, .. }, JobOutcome::Done) => {
                let _ = reply.send(Ok(()));
            }
            (job, _) => job.reply_err(StoreError::Corrupt("writer outcome mismatch".into())),
        }
    }
}

fn fail_all(jobs: Vec<Job>, error: &StoreError) {
    for job in jobs {
        job.reply_err(StoreError::Unavailable(error.to_string()));
    }
}

fn fatal(error: sqlx::Error) -> JobFailure {
    JobFailure::Fatal(StoreError::from_sqlx(error))
}

fn refused_projection(name: &str, error: crate::ProjectionError) -> JobFailure {
    match error {
        crate::ProjectionError::Rejected(inner) => JobFailure::Refused(StoreError::Rejected(inner)),
        crate::ProjectionError::Database(db) => {
            tracing::error!(projection = name, error = %db, "projection failed");
            JobFailure::Refused(StoreError::from_sqlx(db))
        }
        other => JobFailure::Refused(StoreError::from(other)),
    }
}
