//! A durable consumer of the embedded bus: its acknowledged floor kept in
//! the bus file (everything above it comes again after a restart), acks,
//! delayed naks and dead letters with the same rules as on NATS.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::Row;
use tokio::time::Instant;

use super::{decode, storage, Shared};
use crate::{subjects, Acknowledge, BusConsumer, BusError, ConsumerSpec, Delivery};

/// Delivery state of one durable consumer. Only `ack_floor` is persisted:
/// after a restart everything above it is delivered again.
struct State {
    /// Every message with seq <= this is settled.
    ack_floor: u64,
    persisted_floor: u64,
    /// Next seq to look at.
    cursor: u64,
    /// Delivered and not settled yet: seq -> when delivered.
    in_flight: BTreeMap<u64, Instant>,
    /// Deliveries so far of messages above the floor.
    delivery_counts: HashMap<u64, u32>,
    /// After a nak, nothing is delivered before this instant.
    hold_until: Option<Instant>,
    /// Settled by term while earlier ones were still in flight.
    settled_above_floor: Vec<u64>,
}

impl State {
    /// Recomputes the floor: the seq just before the oldest unsettled delivery.
    fn advance_floor(&mut self) {
        let floor = match self.in_flight.keys().next() {
            Some(oldest) => oldest - 1,
            None => self.cursor - 1,
        };
        if floor > self.ack_floor {
            self.ack_floor = floor;
            self.delivery_counts.retain(|seq, _| *seq > floor);
            self.settled_above_floor.retain(|seq| *seq > floor);
        }
    }

    /// Redeliver from `seq` on: later deliveries are dropped and come again.
    fn rewind_to(&mut self, seq: u64) {
        self.cursor = self.cursor.min(seq);
        self.in_flight.retain(|in_flight, _| *in_flight < seq);
    }
}

pub(super) struct EmbeddedConsumer {
    shared: Arc<Shared>,
    spec: ConsumerSpec,
    state: Arc<Mutex<State>>,
}

impl EmbeddedConsumer {
    pub(super) async fn open(shared: Arc<Shared>, spec: ConsumerSpec) -> Result<Self, BusError> {
        {
            let mut open = lock(&shared.open_consumers);
            if !open.insert(spec.durable_name.clone()) {
                return Err(BusError::ConsumerBusy(spec.durable_name.clone()));
            }
        }
        let result = Self::load(shared.clone(), spec.clone()).await;
        if result.is_err() {
            lock(&shared.open_consumers).remove(&spec.durable_name);
        }
        result
    }

    async fn load(shared: Arc<Shared>, spec: ConsumerSpec) -> Result<Self, BusError> {
        let filters = spec.filter_subjects.join(" ");
        sqlx::query(
            "INSERT INTO consumers (name, filter_subjects, ack_floor) VALUES (?, ?, 0)
             ON CONFLICT (name) DO UPDATE SET filter_subjects = excluded.filter_subjects",
        )
        .bind(&spec.durable_name)
        .bind(&filters)
        .execute(&shared.pool)
        .await
        .map_err(storage)?;
        let floor: i64 = sqlx::query_scalar("SELECT ack_floor FROM consumers WHERE name = ?")
            .bind(&spec.durable_name)
            .fetch_one(&shared.pool)
            .await
            .map_err(storage)?;
        let floor = u64::try_from(floor).unwrap_or(0);
        Ok(Self {
            shared,
            spec,
            state: Arc::new(Mutex::new(State {
                ack_floor: floor,
                persisted_floor: floor,
                cursor: floor + 1,
                in_flight: BTreeMap::new(),
                delivery_counts: HashMap::new(),
                hold_until: None,
                settled_above_floor: Vec::new(),
            })),
        })
    }

    async fn persist_floor(&self) -> Result<(), BusError> {
        let floor = {
            let state = lock(&self.state);
            if state.ack_floor == state.persisted_floor {
                return Ok(());
            }
            state.ack_floor
        };
        sqlx::query("UPDATE consumers SET ack_floor = ? WHERE name = ? AND ack_floor < ?")
            .bind(i64::try_from(floor).unwrap_or(i64::MAX))
            .bind(&self.spec.durable_name)
            .bind(i64::try_from(floor).unwrap_or(i64::MAX))
            .execute(&self.shared.pool)
            .await
            .map_err(storage)?;
        let mut state = lock(&self.state);
        state.persisted_floor = state.persisted_floor.max(floor);
        Ok(())
    }

    /// When the next delivery may go out, if it must wait.
    fn blocked_until(&self) -> Option<Instant> {
        let mut state = lock(&self.state);
        let now = Instant::now();
        // A delivery left unsettled too long comes again, with all after it.
        if let Some((&oldest, &delivered_at)) = state.in_flight.iter().next() {
            if now.duration_since(delivered_at) >= self.spec.ack_wait {
                state.rewind_to(oldest);
            }
        }
        match state.hold_until {
            Some(until) if until > now => Some(until),
            _ => {
                state.hold_until = None;
                None
            }
        }
    }

    async fn read_batch(&self, max: usize) -> Result<Vec<Delivery>, BusError> {
        let cursor = lock(&self.state).cursor;
        let rows = sqlx::query(
            "SELECT seq, subject, data FROM messages WHERE seq >= ? ORDER BY seq LIMIT ?",
        )
        .bind(i64::try_from(cursor).unwrap_or(i64::MAX))
        .bind(i64::try_from(max.max(1) * 4).unwrap_or(1024))
        .fetch_all(&self.shared.pool)
        .await
        .map_err(storage)?;

        let mut deliveries = Vec::new();
        let mut dead = Vec::new();
        {
            let mut state = lock(&self.state);
            let now = Instant::now();
            for row in &rows {
                if deliveries.len() >= max {
                    break;
                }
                let seq: i64 = row.try_get("seq").map_err(storage)?;
                let seq = u64::try_from(seq).unwrap_or(0);
                state.cursor = seq + 1;
                let subject: String = row.try_get("subject").map_err(storage)?;
                if state.settled_above_floor.contains(&seq)
                    || !self
                        .spec
                        .filter_subjects
                        .iter()
                        .any(|filter| subjects::subject_matches(filter, &subject))
                {
                    continue;
                }
                let data: Vec<u8> = row.try_get("data").map_err(storage)?;
                let count = state.delivery_counts.entry(seq).or_insert(0);
                *count += 1;
                let delivered = *count;
                if delivered > self.spec.max_deliver {
                    dead.push((seq, subject, data, delivered - 1));
                    state.settled_above_floor.push(seq);
                    continue;
                }
                state.in_flight.insert(seq, now);
                let envelope = decode(&subject, &data)?;
                deliveries.push(Delivery::new(
                    envelope,
                    subject,
                    delivered,
                    Box::new(EmbeddedAcker {
                        shared: self.shared.clone(),
                        consumer: self.spec.durable_name.clone(),
                        state: self.state.clone(),
                        seq,
                        data: Some(data),
                        delivered,
                    }),
                ));
            }
            state.advance_floor();
        }
        for (seq, subject, data, delivered) in dead {
            dead_letter(
                &self.shared,
                &self.spec.durable_name,
                seq,
                &subject,
                &data,
                "delivered the maximum number of times",
                delivered,
            )
            .await?;
        }
        Ok(deliveries)
    }
}

impl Drop for EmbeddedConsumer {
    fn drop(&mut self) {
        lock(&self.shared.open_consumers).remove(&self.spec.durable_name);
    }
}

#[async_trait]
impl BusConsumer for EmbeddedConsumer {
    async fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BusError> {
        let deadline = Instant::now() + wait;
        loop {
            self.persist_floor().await?;
            // Register interest before looking, so a publish in between wakes us.
            let published = self.shared.published.notified();
            tokio::pin!(published);
            published.as_mut().enable();

            let wake_at = match self.blocked_until() {
                Some(until) => until.min(deadline),
                None => {
                    let deliveries = self.read_batch(max).await?;
                    self.persist_floor().await?;
                    if !deliveries.is_empty() {
                        return Ok(deliveries);
                    }
                    let oldest_in_flight = lock(&self.state).in_flight.values().next().copied();
                    match oldest_in_flight {
                        Some(at) => (at + self.spec.ack_wait).min(deadline),
                        None => deadline,
                    }
                }
            };
            if Instant::now() >= deadline {
                return Ok(Vec::new());
            }
            tokio::select! {
                _ = &mut published => {}
                _ = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }
}

struct EmbeddedAcker {
    shared: Arc<Shared>,
    consumer: String,
    state: Arc<Mutex<State>>,
    seq: u64,
    data: Option<Vec<u8>>,
    delivered: u32,
}

#[async_trait]
impl Acknowledge for EmbeddedAcker {
    async fn ack(self: Box<Self>) -> Result<(), BusError> {
        let mut state = lock(&self.state);
        state.in_flight.remove(&self.seq);
        state.advance_floor();
        Ok(())
    }

    async fn nak(self: Box<Self>, delay: Duration) -> Result<(), BusError> {
        let mut state = lock(&self.state);
        if !state.in_flight.contains_key(&self.seq) {
            return Ok(());
        }
        state.rewind_to(self.seq);
        state.hold_until = Some(Instant::now() + delay);
        Ok(())
    }

    async fn term(mut self: Box<Self>, reason: &str) -> Result<(), BusError> {
        let data = self.data.take().unwrap_or_default();
        let subject = decode("", &data)
            .map(|envelope| subjects::event_subject(&envelope.service, &envelope.event_type))
            .unwrap_or_default();
        dead_letter(
            &self.shared,
            &self.consumer,
            self.seq,
            &subject,
            &data,
            reason,
            self.delivered,
        )
        .await?;
        let mut state = lock(&self.state);
        state.in_flight.remove(&self.seq);
        state.settled_above_floor.push(self.seq);
        state.advance_floor();
        Ok(())
    }
}

async fn dead_letter(
    shared: &Shared,
    consumer: &str,
    seq: u64,
    subject: &str,
    data: &[u8],
    reason: &str,
    delivered: u32,
) -> Result<(), BusError> {
    tracing::warn!(consumer, seq, subject, reason, "event dead-lettered");
    sqlx::query(
        "INSERT INTO dead_letters (consumer, seq, subject, data, reason, delivered, dead_at)
         VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(consumer)
    .bind(i64::try_from(seq).unwrap_or(i64::MAX))
    .bind(subject)
    .bind(data)
    .bind(reason)
    .bind(i64::from(delivered))
    .bind(liaison_eventstore::now_micros())
    .execute(&shared.pool)
    .await
    .map_err(storage)?;
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
