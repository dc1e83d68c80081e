//! The single writer task of a store: group commit of queued jobs, written
//! once for every [`Backend`].

use std::collections::HashMap;
use std::sync::Arc;

use liaison_proto::events::v1::EventEnvelope;
use tokio::sync::{mpsc, oneshot, watch};

use crate::backend::{Backend, EventRow, InsertConflict, InsertError};
use crate::crypto::{self, CachedKey, KeyCache, SubjectKey};
use crate::{
    AppendOutcome, AppendRequest, ConsumerProjection, ExpectedVersion, Projection, RecordedEvent,
    StoreError,
};

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

pub(crate) enum Job {
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

pub(crate) enum WriterCommand {
    Job(Job),
    Rebuild(Reply<u64>),
    Close(oneshot::Sender<()>),
}

pub(crate) struct WriterConfig<DB: sqlx::Database> {
    pub service: &'static str,
    /// Events this process has committed (a metric).
    pub appended: Arc<std::sync::atomic::AtomicU64>,
    pub max_batch: usize,
    pub projections: Vec<Arc<dyn Projection<DB>>>,
    pub consumers: Vec<Arc<dyn ConsumerProjection<DB>>>,
    pub keys: Arc<KeyCache>,
}

/// Effects visible outside the database once the transaction commits.
#[derive(Default)]
struct PendingEffects {
    new_keys: Vec<(String, SubjectKey)>,
    forgotten: Vec<String>,
}

/// What a batch committed together gives: each job's outcome, and the
/// subject keys it created (to cache once committed).
type Together = (Vec<AppendOutcome>, Vec<(String, SubjectKey)>);

enum JobFailure {
    /// This job is refused; the others may go on.
    Refused(StoreError),
    /// Another writer holds the version this job meant to write. The
    /// stream's actual version is read after the rollback: on PostgreSQL the
    /// failed insert has aborted the transaction.
    VersionTaken { stream_id: String, expected: u64 },
    /// The database failed; the whole batch fails.
    Fatal(StoreError),
}

struct Writer<B: Backend> {
    backend: B,
    config: WriterConfig<B::Db>,
    /// Newest position this writer committed or saw at its last `begin`.
    head_position: u64,
    /// Next position to assign inside the open transaction.
    next_position: u64,
    head: Arc<watch::Sender<u64>>,
}

/// Starts the writer task; the watch carries the newest committed position.
pub(crate) fn spawn<B: Backend>(
    backend: B,
    head_position: u64,
    config: WriterConfig<B::Db>,
) -> (mpsc::Sender<WriterCommand>, Arc<watch::Sender<u64>>) {
    let head = Arc::new(watch::channel(head_position).0);
    let (tx, rx) = mpsc::channel(4 * config.max_batch);
    let writer = Writer {
        backend,
        config,
        head_position,
        next_position: head_position + 1,
        head: head.clone(),
    };
    tokio::spawn(writer.run(rx));
    (tx, head)
}

/// Moves the head forward, never back (several tasks may report it).
pub(crate) fn advance_head(head: &watch::Sender<u64>, position: u64) {
    head.send_if_modified(|current| {
        let moved = position > *current;
        if moved {
            *current = position;
        }
        moved
    });
}

pub(crate) fn validate_append(request: &AppendRequest) -> Result<(), StoreError> {
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

impl<B: Backend> Writer<B> {
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
                    self.backend.close().await;
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
                    self.backend.close().await;
                    let _ = done.send(());
                    return;
                }
                Some(WriterCommand::Job(_)) | None => {}
            }
        }
    }

    /// Opens the batch's transaction and learns where the log ends.
    async fn begin(&mut self) -> Result<(), StoreError> {
        match self.backend.begin(self.head_position).await {
            Ok(head) => {
                self.head_position = head;
                self.next_position = head + 1;
                Ok(())
            }
            Err(error) => {
                self.backend.connection_suspect();
                Err(error)
            }
        }
    }

    async fn commit_batch(&mut self, mut jobs: Vec<Job>) {
        if jobs.len() > 1 && jobs.iter().all(Job::can_go_together) {
            match self.commit_together(&jobs).await {
                Ok(Some(outcomes)) => {
                    for (job, outcome) in jobs.into_iter().zip(outcomes) {
                        job.reply_ok(JobOutcome::Appended(outcome));
                    }
                    return;
                }
                // One of them is refused: the loop below finds which.
                Ok(None) => {}
                Err(error) => {
                    fail_all(jobs, &error);
                    return;
                }
            }
        }
        while !jobs.is_empty() {
            if let Err(error) = self.begin().await {
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
                        refused = Some((index, Ok(error)));
                        break;
                    }
                    Err(JobFailure::VersionTaken {
                        stream_id,
                        expected,
                    }) => {
                        refused = Some((index, Err((stream_id, expected))));
                        break;
                    }
                    Err(JobFailure::Fatal(error)) => {
                        self.rollback().await;
                        self.backend.connection_suspect();
                        fail_all(jobs, &error);
                        return;
                    }
                }
            }
            if let Some((index, refusal)) = refused {
                // Undo everything and run the batch again without the refused job.
                self.rollback().await;
                let error = match refusal {
                    Ok(error) => error,
                    Err((stream_id, expected)) => self.version_conflict(stream_id, expected).await,
                };
                jobs.remove(index).reply_err(error);
                continue;
            }
            if let Err(error) = self.backend.commit(self.next_position - 1).await {
                self.rollback().await;
                self.backend.connection_suspect();
                fail_all(jobs, &error);
                return;
            }
            let committed = self.next_position - 1 - self.head_position;
            self.config
                .appended
                .fetch_add(committed, std::sync::atomic::Ordering::Relaxed);
            self.head_position = self.next_position - 1;
            for (subject, key) in effects.new_keys {
                self.config.keys.remember(&subject, Some(key));
            }
            let erased_any = !effects.forgotten.is_empty();
            for subject in effects.forgotten {
                self.config.keys.forget(&subject);
            }
            if erased_any {
                if let Err(error) = self.backend.after_erasure().await {
                    tracing::warn!(%error, "clean-up after erasure failed");
                }
            }
            advance_head(&self.head, self.head_position);
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                job.reply_ok(outcome);
            }
            return;
        }
    }

    /// Appends every job of the batch with a fixed number of statements:
    /// one look-up of the versions and keys involved, one insert of all
    /// events, one pass of each projection over all of them. `None` when any
    /// job would be refused (nothing is kept; the caller retries one by one).
    async fn commit_together(
        &mut self,
        jobs: &[Job],
    ) -> Result<Option<Vec<AppendOutcome>>, StoreError> {
        let requests: Vec<&AppendRequest> = jobs
            .iter()
            .filter_map(|job| match job {
                Job::Append { request, .. } => Some(request),
                _ => None,
            })
            .collect();
        self.begin().await?;
        match self.append_together(&requests).await {
            Ok(Some((outcomes, new_keys))) => {
                if let Err(error) = self.backend.commit(self.next_position - 1).await {
                    self.rollback().await;
                    self.backend.connection_suspect();
                    return Err(error);
                }
                let committed = self.next_position - 1 - self.head_position;
                self.config
                    .appended
                    .fetch_add(committed, std::sync::atomic::Ordering::Relaxed);
                self.head_position = self.next_position - 1;
                for (subject, key) in new_keys {
                    self.config.keys.remember(&subject, Some(key));
                }
                advance_head(&self.head, self.head_position);
                Ok(Some(outcomes))
            }
            Ok(None) => {
                self.rollback().await;
                Ok(None)
            }
            Err(error) => {
                self.rollback().await;
                self.backend.connection_suspect();
                Err(error)
            }
        }
    }

    /// The statements of [`Self::commit_together`], inside its transaction.
    async fn append_together(
        &mut self,
        requests: &[&AppendRequest],
    ) -> Result<Option<Together>, StoreError> {
        let existing: Vec<&str> = requests
            .iter()
            .flat_map(|request| &request.streams)
            .filter(|stream| stream.expected != ExpectedVersion::NoStream)
            .map(|stream| stream.stream_id.as_str())
            .collect();
        let mut versions = if existing.is_empty() {
            HashMap::new()
        } else {
            self.backend
                .stream_versions(&existing)
                .await
                .map_err(StoreError::from_sqlx)?
        };
        let lookups: Vec<&str> = requests
            .iter()
            .flat_map(|request| &request.streams)
            .filter(|stream| stream.expected != ExpectedVersion::NoStream)
            .filter_map(|stream| stream.encrypt_for_subject.as_deref())
            .filter(|subject| matches!(self.config.keys.get(subject), CachedKey::Unknown))
            .collect();
        let stored = if lookups.is_empty() {
            crate::backend::SubjectKeys::default()
        } else {
            self.backend
                .subject_keys(&lookups)
                .await
                .map_err(StoreError::from_sqlx)?
        };

        let mut new_keys: Vec<(String, SubjectKey)> = Vec::new();
        let mut recorded = Vec::new();
        let mut sealed_payloads = Vec::new();
        let mut outcomes = Vec::with_capacity(requests.len());
        for request in requests {
            let mut stream_versions = Vec::with_capacity(request.streams.len());
            for stream in &request.streams {
                let actual = versions.get(&stream.stream_id).copied().unwrap_or(0);
                let current = match stream.expected {
                    ExpectedVersion::NoStream if actual == 0 => 0,
                    ExpectedVersion::Any => actual,
                    ExpectedVersion::Exactly(expected) if expected == actual => actual,
                    _ => return Ok(None),
                };
                let key = match &stream.encrypt_for_subject {
                    None => None,
                    Some(subject) => {
                        let known = new_keys
                            .iter()
                            .find(|(pending, _)| pending == subject)
                            .map(|(_, key)| *key);
                        let key = match (known, self.config.keys.get(subject)) {
                            (Some(key), _) | (None, CachedKey::Present(key)) => key,
                            (None, CachedKey::Forgotten) => return Ok(None),
                            (None, CachedKey::Unknown) => {
                                if stored.forgotten.contains(subject) {
                                    return Ok(None);
                                }
                                match stored.keys.get(subject) {
                                    Some(bytes) => crypto::key_from_bytes(bytes)?,
                                    None => {
                                        let key = crypto::generate_key();
                                        new_keys.push((subject.clone(), key));
                                        key
                                    }
                                }
                            }
                        };
                        Some((subject.clone(), key))
                    }
                };
                let reached = self.record_stream(
                    stream,
                    current,
                    key.as_ref(),
                    &request.metadata,
                    &mut recorded,
                    &mut sealed_payloads,
                )?;
                versions.insert(stream.stream_id.clone(), reached);
                stream_versions.push((stream.stream_id.clone(), reached));
            }
            outcomes.push(AppendOutcome {
                stream_versions,
                last_position: self.next_position - 1,
            });
        }

        let rows = event_rows(&recorded, &sealed_payloads);
        match self.backend.insert_events(&rows, &new_keys).await {
            Ok(()) => {}
            Err(InsertError::Conflict(_)) => return Ok(None),
            Err(InsertError::Database(error)) => return Err(StoreError::from_sqlx(error)),
        }
        for index in 0..self.config.projections.len() {
            let projection = self.config.projections[index].clone();
            let checked = projection
                .check_new(self.backend.connection(), &recorded)
                .await;
            let applied = match checked {
                Ok(()) => {
                    projection
                        .apply_batch(self.backend.connection(), &recorded)
                        .await
                }
                Err(error) => Err(error),
            };
            match applied {
                Ok(()) => {}
                Err(crate::ProjectionError::Database(error)) => {
                    let error = StoreError::from_sqlx(error);
                    if matches!(error, StoreError::Unavailable(_)) {
                        return Err(error);
                    }
                    return Ok(None);
                }
                Err(_) => return Ok(None),
            }
        }
        Ok(Some((outcomes, new_keys)))
    }

    /// Numbers and seals the events of `stream` (at version `current`),
    /// appending them to `recorded` and `sealed`; returns the version reached.
    fn record_stream(
        &mut self,
        stream: &crate::StreamAppend,
        current: u64,
        key: Option<&(String, SubjectKey)>,
        metadata: &crate::EventMetadata,
        recorded: &mut Vec<RecordedEvent>,
        sealed: &mut Vec<Option<(String, Vec<u8>)>>,
    ) -> Result<u64, StoreError> {
        for (offset, event) in stream.events.iter().enumerate() {
            let position = self.next_position;
            self.next_position += 1;
            sealed.push(match key {
                Some((subject, key)) => Some((
                    subject.clone(),
                    crypto::seal(key, event.event_id, &event.payload)?,
                )),
                None => None,
            });
            recorded.push(RecordedEvent {
                position,
                event_id: event.event_id,
                stream_id: stream.stream_id.clone(),
                stream_version: current + 1 + offset as u64,
                event_type: event.event_type.clone(),
                schema_version: event.schema_version,
                metadata: metadata.clone(),
                payload: event.payload.clone(),
                shredded: false,
            });
        }
        Ok(current + stream.events.len() as u64)
    }

    async fn rollback(&mut self) {
        if let Err(error) = self.backend.rollback().await {
            tracing::warn!(%error, "rollback failed");
            self.backend.connection_suspect();
        }
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
                .consume(consumer, envelopes, effects)
                .await
                .map(JobOutcome::Consumed),
            Job::RelayCheckpoint { position, .. } => {
                self.backend
                    .save_relay_checkpoint(*position)
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
            let reached = self
                .record_stream(
                    stream,
                    current,
                    key.as_ref(),
                    &request.metadata,
                    &mut recorded,
                    &mut sealed_payloads,
                )
                .map_err(JobFailure::Refused)?;
            stream_versions.push((stream.stream_id.clone(), reached));
        }

        let rows = event_rows(&recorded, &sealed_payloads);
        match self.backend.insert_events(&rows, &keys_to_insert).await {
            Ok(()) => {}
            Err(InsertError::Conflict(conflict)) => {
                return Err(Self::insert_refused(conflict, &recorded[0]))
            }
            Err(InsertError::Database(error)) => return Err(fatal(error)),
        }

        for subject in &request.forget_subjects {
            self.backend
                .forget_subject(subject, request.metadata.occurred_at_micros)
                .await
                .map_err(fatal)?;
            effects.forgotten.push(subject.clone());
            effects.new_keys.retain(|(pending, _)| pending != subject);
        }

        for index in 0..self.config.projections.len() {
            let projection = self.config.projections[index].clone();
            projection
                .check_new(self.backend.connection(), &recorded)
                .await
                .map_err(|error| refused_projection(projection.name(), error))?;
        }
        for event in &recorded {
            for index in 0..self.config.projections.len() {
                let projection = self.config.projections[index].clone();
                projection
                    .apply(self.backend.connection(), event)
                    .await
                    .map_err(|error| refused_projection(projection.name(), error))?;
            }
        }

        Ok(AppendOutcome {
            stream_versions,
            last_position: self.next_position - 1,
        })
    }

    fn insert_refused(conflict: InsertConflict, first: &RecordedEvent) -> JobFailure {
        match conflict {
            InsertConflict::SubjectKey => JobFailure::Refused(StoreError::InvalidAppend(
                "a subject key exists for a stream said to be new".into(),
            )),
            InsertConflict::EventId => JobFailure::Refused(StoreError::InvalidAppend(
                "an event id was used before".into(),
            )),
            // Someone else wrote the version we meant to write.
            InsertConflict::StreamVersion => JobFailure::VersionTaken {
                stream_id: first.stream_id.clone(),
                expected: first.stream_version - 1,
            },
        }
    }

    /// The conflict to report once the batch is rolled back.
    async fn version_conflict(&mut self, stream_id: String, expected: u64) -> StoreError {
        match self.backend.stream_version(&stream_id).await {
            Ok(actual) => StoreError::VersionConflict {
                stream_id,
                expected,
                actual,
            },
            Err(error) => StoreError::from_sqlx(error),
        }
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
        let actual = self
            .backend
            .stream_version(stream_id)
            .await
            .map_err(fatal)?;
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
            let (stored, was_forgotten) = self.backend.subject_key(subject).await.map_err(fatal)?;
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
        effects: &mut PendingEffects,
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
        // Read inside the transaction: another process of this service may
        // have moved them since.
        let mut checkpoints: HashMap<String, (u64, bool)> = HashMap::new();
        let mut fresh = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let checkpoint = match checkpoints.get(&envelope.service) {
                Some((position, _)) => *position,
                None => {
                    let stored = self
                        .backend
                        .consumer_checkpoint(consumer, &envelope.service)
                        .await
                        .map_err(fatal)?;
                    checkpoints.insert(envelope.service.clone(), (stored, false));
                    stored
                }
            };
            if envelope.global_position <= checkpoint {
                continue;
            }
            checkpoints.insert(envelope.service.clone(), (envelope.global_position, true));
            fresh.push(envelope.clone());
        }
        let applied = fresh.len();
        // Runs of events without reactions go in one batch; an event with
        // a reaction is applied, then its reaction appended, before the
        // next event, which may depend on it.
        let mut rest = fresh.as_slice();
        while !rest.is_empty() {
            let run = rest
                .iter()
                .position(|envelope| projection.reacts_to(envelope))
                .unwrap_or(rest.len());
            if run > 0 {
                projection
                    .apply_batch(self.backend.connection(), &rest[..run])
                    .await
                    .map_err(|error| refused_projection(consumer, error))?;
                rest = &rest[run..];
                continue;
            }
            let envelope = &rest[0];
            projection
                .apply(self.backend.connection(), envelope)
                .await
                .map_err(|error| refused_projection(consumer, error))?;
            let reactions = projection
                .react(self.backend.connection(), envelope)
                .await
                .map_err(|error| refused_projection(consumer, error))?;
            for reaction in &reactions {
                validate_append(reaction).map_err(JobFailure::Refused)?;
                self.append(reaction, effects).await?;
            }
            rest = &rest[1..];
        }
        for (source, (position, moved)) in checkpoints {
            if moved {
                self.backend
                    .save_consumer_checkpoint(consumer, &source, position)
                    .await
                    .map_err(fatal)?;
            }
        }
        Ok(applied)
    }

    async fn rebuild(&mut self) -> Result<u64, StoreError> {
        self.begin().await?;
        match self.replay_all().await {
            Ok(count) => match self.backend.commit(self.next_position - 1).await {
                Ok(()) => Ok(count),
                Err(error) => {
                    self.rollback().await;
                    Err(error)
                }
            },
            Err(error) => {
                self.rollback().await;
                Err(error)
            }
        }
    }

    async fn replay_all(&mut self) -> Result<u64, StoreError> {
        for index in 0..self.config.projections.len() {
            let projection = self.config.projections[index].clone();
            projection
                .reset(self.backend.connection())
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        let mut replayed = 0u64;
        let mut after = 0u64;
        loop {
            let rows = self.backend.events_after(after, 1000).await?;
            if rows.is_empty() {
                break;
            }
            for (mut event, subject) in rows {
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
                for index in 0..self.config.projections.len() {
                    let projection = self.config.projections[index].clone();
                    projection
                        .apply(self.backend.connection(), &event)
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
        let (stored, _) = self
            .backend
            .subject_key(subject)
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
    /// Appends that erase nothing can be committed with batched statements.
    fn can_go_together(&self) -> bool {
        matches!(self, Job::Append { request, .. } if request.forget_subjects.is_empty())
    }

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

/// The rows to insert: each event with its sealed payload, if sealed.
fn event_rows<'a>(
    recorded: &'a [RecordedEvent],
    sealed: &'a [Option<(String, Vec<u8>)>],
) -> Vec<EventRow<'a>> {
    recorded
        .iter()
        .zip(sealed)
        .map(|(event, sealed)| EventRow {
            event,
            sealed: sealed
                .as_ref()
                .map(|(subject, bytes)| (subject.as_str(), bytes.as_slice())),
        })
        .collect()
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
