//! Failed logins counted per account and per client address in a fixed
//! window; past the limit, logins are refused until the window ends.
//! Counts live in this process: with several gateway replicas an attacker
//! gets the limit once per replica, still far below what guessing needs.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::GatewayError;

/// Above this many tracked keys, expired windows are swept.
const SWEEP_ABOVE: usize = 10_000;

pub struct LoginLimiter {
    per_account: u32,
    per_address: u32,
    window: Duration,
    failures: Mutex<HashMap<String, Window>>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl LoginLimiter {
    pub fn new(per_account: u32, per_address: u32, window: Duration) -> Self {
        Self {
            per_account,
            per_address,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Refuses when the account or the address used up its failures.
    pub fn check(&self, account: &str, address: &str, now: Instant) -> Result<(), GatewayError> {
        let failures = self.lock();
        for (key, limit) in [
            (account_key(account), self.per_account),
            (address_key(address), self.per_address),
        ] {
            if let Some(window) = failures.get(&key) {
                let elapsed = now.saturating_duration_since(window.started);
                if elapsed < self.window && window.failures >= limit {
                    let wait = self.window - elapsed;
                    return Err(GatewayError::RateLimited(wait.as_secs().max(1)));
                }
            }
        }
        Ok(())
    }

    pub fn record_failure(&self, account: &str, address: &str, now: Instant) {
        let mut failures = self.lock();
        if failures.len() > SWEEP_ABOVE {
            let window = self.window;
            failures.retain(|_, kept| now.saturating_duration_since(kept.started) < window);
        }
        for key in [account_key(account), address_key(address)] {
            let entry = failures.entry(key).or_insert(Window {
                started: now,
                failures: 0,
            });
            if now.saturating_duration_since(entry.started) >= self.window {
                *entry = Window {
                    started: now,
                    failures: 0,
                };
            }
            entry.failures += 1;
        }
    }

    /// A successful login clears its account's failures (not its address's:
    /// one good password must not unlock guessing at other accounts).
    pub fn record_success(&self, account: &str) {
        self.lock().remove(&account_key(account));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn account_key(account: &str) -> String {
    format!("account:{}", account.trim().to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("address:{address}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_an_account_after_its_failures_until_the_window_ends() {
        let limiter = LoginLimiter::new(3, 100, Duration::from_secs(60));
        let start = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check("Ada@example.org", "10.0.0.1", start).is_ok());
            limiter.record_failure("ada@example.org", "10.0.0.1", start);
        }
        let refused = limiter.check(
            "ada@example.org",
            "10.0.0.2",
            start + Duration::from_secs(10),
        );
        assert_eq!(refused, Err(GatewayError::RateLimited(50)));
        assert!(
            limiter.check("bob@example.org", "10.0.0.1", start).is_ok(),
            "other accounts from the address still may"
        );
        assert!(limiter
            .check(
                "ada@example.org",
                "10.0.0.1",
                start + Duration::from_secs(61)
            )
            .is_ok());
    }

    #[test]
    fn refuses_an_address_that_tries_many_accounts() {
        let limiter = LoginLimiter::new(100, 2, Duration::from_secs(60));
        let now = Instant::now();
        limiter.record_failure("a@x.org", "10.0.0.9", now);
        limiter.record_failure("b@x.org", "10.0.0.9", now);
        assert!(matches!(
            limiter.check("c@x.org", "10.0.0.9", now),
            Err(GatewayError::RateLimited(_))
        ));
        limiter.record_success("c@x.org");
        assert!(limiter.check("c@x.org", "10.0.0.9", now).is_err());
    }
}
