//! Another service's events applied to this service's consumer projection:
//! those past the consumer's checkpoint, with the reactions they call for,
//! and the checkpoint moved, all in the open transaction.

use std::collections::HashMap;

use liaison_proto::events::v1::EventEnvelope;

use super::{fatal, refused_projection, validate_append, JobFailure, PendingEffects, Writer};
use crate::backend::Backend;
use crate::StoreError;

impl<B: Backend> Writer<B> {
    pub(super) async fn consume(
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
}
