//! The jobs of a batch one after the other in one transaction: a refused
//! job is answered and the batch run again without it, so each command is
//! still judged on its own.

use super::keys::{erased, KeyFor};
use super::{
    event_rows, fail_all, fatal, refused_projection, Job, JobFailure, JobOutcome, PendingEffects,
    Writer,
};
use crate::backend::{Backend, InsertConflict, InsertError};
use crate::{AppendOutcome, AppendRequest, ExpectedVersion, RecordedEvent, StoreError};

impl<B: Backend> Writer<B> {
    pub(super) async fn commit_one_by_one(&mut self, mut jobs: Vec<Job>) {
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
            if let Err(error) = self.commit(effects).await {
                fail_all(jobs, &error);
                return;
            }
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                job.reply_ok(outcome);
            }
            return;
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

    /// One append in the open transaction (a reaction's too).
    pub(super) async fn append(
        &mut self,
        request: &AppendRequest,
        effects: &mut PendingEffects,
    ) -> Result<AppendOutcome, JobFailure> {
        let stored = self.stored_keys(&[request]).await.map_err(fatal)?;
        let mut stream_versions = Vec::with_capacity(request.streams.len());
        let mut recorded = Vec::new();
        let mut sealed_payloads = Vec::new();
        let mut keys_to_insert = Vec::new();
        for stream in &request.streams {
            let current = self
                .current_version(&stream.stream_id, stream.expected)
                .await?;
            let key = match &stream.encrypt_for_subject {
                None => None,
                Some(subject) if effects.forgotten.contains(subject) => {
                    return Err(JobFailure::Refused(erased(subject)))
                }
                Some(subject) => match self
                    .key_for(subject, &stored, &effects.new_keys)
                    .map_err(JobFailure::Fatal)?
                {
                    KeyFor::Known(key) => Some((subject.clone(), key)),
                    KeyFor::New(key) => {
                        effects.new_keys.push((subject.clone(), key));
                        keys_to_insert.push((subject.clone(), key));
                        Some((subject.clone(), key))
                    }
                    KeyFor::Forgotten => return Err(JobFailure::Refused(erased(subject))),
                },
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
                return Err(insert_refused(conflict, &recorded[0]))
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

        self.project_new(&recorded)
            .await
            .map_err(|(name, error)| refused_projection(name, error))?;

        Ok(AppendOutcome {
            stream_versions,
            last_position: self.next_position - 1,
        })
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
