//! The single writer task of a store: group commit of queued jobs, written
//! once for every [`Backend`].
//!
//! A batch of appends goes in together with a fixed number of statements
//! ([`together`]); when one of them would be refused, or the batch holds
//! other jobs, they go one by one in one transaction ([`one_by_one`]), the
//! refused job answered and the rest committed. Consumed events and their
//! reactions are [`consume`]'s.

mod consume;
mod keys;
mod one_by_one;
mod together;

use std::sync::Arc;

use liaison_proto::events::v1::EventEnvelope;
use tokio::sync::{mpsc, oneshot, watch};

use crate::backend::{Backend, EventRow};
use crate::crypto::{self, KeyCache, SubjectKey};
use crate::{
    AppendOutcome, AppendRequest, ConsumerProjection, Projection, ProjectionError, RecordedEvent,
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

enum JobOutcome {
    Appended(AppendOutcome),
    Consumed(usize),
    Done,
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

    async fn commit_batch(&mut self, jobs: Vec<Job>) {
        if jobs.len() > 1 && jobs.iter().all(Job::can_go_together) {
            match self.commit_together(&jobs).await {
                Ok(Some(outcomes)) => {
                    for (job, outcome) in jobs.into_iter().zip(outcomes) {
                        job.reply_ok(JobOutcome::Appended(outcome));
                    }
                    return;
                }
                // One of them is refused: one by one finds which.
                Ok(None) => {}
                Err(error) => {
                    fail_all(jobs, &error);
                    return;
                }
            }
        }
        self.commit_one_by_one(jobs).await;
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

    /// Commits the open transaction, then makes its effects visible: the
    /// new head, the subject keys made and destroyed. On failure the
    /// transaction is rolled back and nothing is visible.
    async fn commit(&mut self, effects: PendingEffects) -> Result<(), StoreError> {
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
        Ok(())
    }

    async fn rollback(&mut self) {
        if let Err(error) = self.backend.rollback().await {
            tracing::warn!(%error, "rollback failed");
            self.backend.connection_suspect();
        }
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

    /// Runs the inline projections over new events: each checks the rules
    /// that hold only for new events, then applies them. A refusal names
    /// the projection.
    async fn project_new(
        &mut self,
        recorded: &[RecordedEvent],
    ) -> Result<(), (&'static str, ProjectionError)> {
        for index in 0..self.config.projections.len() {
            let projection = self.config.projections[index].clone();
            let applied = match projection
                .check_new(self.backend.connection(), recorded)
                .await
            {
                Ok(()) => {
                    projection
                        .apply_batch(self.backend.connection(), recorded)
                        .await
                }
                Err(error) => Err(error),
            };
            applied.map_err(|error| (projection.name(), error))?;
        }
        Ok(())
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
            for table in projection.tables() {
                self.backend
                    .clear_table(table)
                    .await
                    .map_err(StoreError::from_sqlx)?;
            }
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

fn refused_projection(name: &str, error: ProjectionError) -> JobFailure {
    match error {
        ProjectionError::Rejected(inner) => JobFailure::Refused(StoreError::Rejected(inner)),
        ProjectionError::Database(db) => {
            tracing::error!(projection = name, error = %db, "projection failed");
            JobFailure::Refused(StoreError::from_sqlx(db))
        }
        other => JobFailure::Refused(StoreError::from(other)),
    }
}
