//! Every append of a batch with a fixed number of statements: one look-up
//! of the versions and keys involved, one insert of all events, one pass of
//! each projection over all of them.

use std::collections::HashMap;

use super::keys::KeyFor;
use super::{event_rows, Job, PendingEffects, Writer};
use crate::backend::{Backend, InsertError};
use crate::crypto::SubjectKey;
use crate::{AppendOutcome, AppendRequest, ExpectedVersion, ProjectionError, StoreError};

impl<B: Backend> Writer<B> {
    /// Commits the appends of `jobs` together; `None` when any of them would
    /// be refused (nothing is kept; the caller goes one by one).
    pub(super) async fn commit_together(
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
                let effects = PendingEffects {
                    new_keys,
                    forgotten: Vec::new(),
                };
                self.commit(effects).await?;
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

    /// The statements of [`Self::commit_together`], inside its transaction:
    /// each append's outcome, and the subject keys made.
    #[allow(clippy::type_complexity)]
    async fn append_together(
        &mut self,
        requests: &[&AppendRequest],
    ) -> Result<Option<(Vec<AppendOutcome>, Vec<(String, SubjectKey)>)>, StoreError> {
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
        let stored = self
            .stored_keys(requests)
            .await
            .map_err(StoreError::from_sqlx)?;

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
                    Some(subject) => match self.key_for(subject, &stored, &new_keys)? {
                        KeyFor::Known(key) => Some((subject.clone(), key)),
                        KeyFor::New(key) => {
                            new_keys.push((subject.clone(), key));
                            Some((subject.clone(), key))
                        }
                        KeyFor::Forgotten => return Ok(None),
                    },
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
        match self.project_new(&recorded).await {
            Ok(()) => Ok(Some((outcomes, new_keys))),
            Err((_, ProjectionError::Database(error))) => match StoreError::from_sqlx(error) {
                unavailable @ StoreError::Unavailable(_) => Err(unavailable),
                // Refused by a rule of the database: one by one finds which.
                _ => Ok(None),
            },
            Err(_) => Ok(None),
        }
    }
}
