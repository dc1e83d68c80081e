//! The bounded pool that runs argon2. A check holds about 19 MiB for tens
//! of milliseconds; unbounded, 200 parallel logins took gigabytes. Here at
//! most `slots` run at once and at most `queue` wait: past that a caller
//! is told to come back (503 with `Retry-After`) at once, without work.
//! Logins of unknown accounts take a slot like any other, so they cost
//! the same time without costing more memory.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::Semaphore;

use super::credentials;
use crate::GatewayError;

/// Memory of one check with argon2's default cost (m = 19 MiB).
pub const MIB_PER_CHECK: usize = 19;
/// Memory the pool may take when its size is left to this process.
pub const DEFAULT_MEMORY_BUDGET_MIB: usize = 64;

pub struct PasswordChecks {
    slots: Arc<Semaphore>,
    size: usize,
    queue: usize,
    waiting: AtomicUsize,
}

impl PasswordChecks {
    /// `slots` checks at once (0: one per core, within
    /// [`DEFAULT_MEMORY_BUDGET_MIB`]); `queue` callers waiting at most.
    pub fn new(slots: usize, queue: usize) -> Self {
        let size = if slots == 0 {
            let cores = std::thread::available_parallelism().map_or(1, usize::from);
            cores.clamp(1, DEFAULT_MEMORY_BUDGET_MIB / MIB_PER_CHECK)
        } else {
            slots
        };
        Self {
            slots: Arc::new(Semaphore::new(size)),
            size,
            queue,
            waiting: AtomicUsize::new(0),
        }
    }

    /// How many checks may run at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether `password` matches `hash`.
    pub async fn verify(&self, hash: String, password: String) -> Result<bool, GatewayError> {
        self.run(move || credentials::verify_password(&hash, &password))
            .await
    }

    /// Spends what a verification spends, for an account that does not
    /// exist; never matches.
    pub async fn verify_unknown(&self, password: String) -> Result<bool, GatewayError> {
        self.run(move || {
            credentials::verify_against_nothing(&password);
            false
        })
        .await
    }

    /// The stored form of a new password.
    pub async fn hash(&self, password: String) -> Result<String, GatewayError> {
        self.run(move || credentials::hash_password(&password))
            .await?
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, GatewayError> {
        let permit = match self.slots.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                let waiting = Waiting::join(&self.waiting, self.queue)?;
                let permit = self.slots.clone().acquire_owned().await;
                drop(waiting);
                permit.map_err(|_| GatewayError::Internal("the password pool is closed".into()))?
            }
        };
        tokio::task::spawn_blocking(move || {
            let done = work();
            drop(permit);
            done
        })
        .await
        .map_err(|error| GatewayError::Internal(format!("a password check failed: {error}")))
    }
}

/// A place in the queue, given back when dropped (also when the caller
/// went away while waiting).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn join(waiting: &'a AtomicUsize, queue: usize) -> Result<Self, GatewayError> {
        let joined = waiting.fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
            (now < queue).then_some(now + 1)
        });
        match joined {
            Ok(_) => Ok(Waiting(waiting)),
            Err(_) => Err(GatewayError::Busy(1)),
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn at_most_its_slots_run_and_past_its_queue_callers_are_told_to_retry() {
        let pool = Arc::new(PasswordChecks::new(2, 3));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let gate = Arc::new(std::sync::Mutex::new(gate));
        let mut calls = Vec::new();
        for _ in 0..5 {
            let (pool, running, most, gate) =
                (pool.clone(), running.clone(), most.clone(), gate.clone());
            calls.push(tokio::spawn(async move {
                pool.run(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    let _ = gate.lock().map(|gate| gate.recv());
                    running.fetch_sub(1, Ordering::SeqCst);
                })
                .await
            }));
        }
        // Two run, three wait: the queue is full.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while pool.waiting.load(Ordering::SeqCst) < 3 {
            assert!(std::time::Instant::now() < deadline, "callers never queued");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let refused = pool.run(|| ()).await;
        assert_eq!(refused, Err(GatewayError::Busy(1)));
        for _ in 0..5 {
            release.send(()).expect("a check waits");
        }
        for call in calls {
            call.await.expect("joined").expect("checked");
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(pool.waiting.load(Ordering::SeqCst), 0);
        pool.run(|| ()).await.expect("free again");
    }

    #[tokio::test]
    async fn a_size_left_to_the_process_stays_within_the_memory_budget() {
        let pool = PasswordChecks::new(0, 1);
        assert!(pool.size() >= 1);
        assert!(pool.size() * MIB_PER_CHECK <= DEFAULT_MEMORY_BUDGET_MIB);
    }

    #[tokio::test]
    async fn unknown_accounts_never_match_and_known_ones_do() {
        let pool = PasswordChecks::new(1, 4);
        let hash = pool
            .hash("correct horse battery".into())
            .await
            .expect("hash");
        assert!(pool
            .verify(hash.clone(), "correct horse battery".into())
            .await
            .expect("checked"));
        assert!(!pool.verify(hash, "wrong".into()).await.expect("checked"));
        assert!(!pool
            .verify_unknown("correct horse battery".into())
            .await
            .expect("checked"));
    }
}
