//! Slows password guessing without letting a stranger lock anyone out
//! (ADR 0008). Failures are counted on three keys:
//!
//! - the account *and* where the attempt comes from: the browser's known
//!   device token when it has a valid one, else the client address. Past
//!   `free_failures`, each further attempt waits a delay that doubles from
//!   one second up to `max_delay`;
//! - the account over all unknown devices (guessing from many addresses):
//!   past `account_failures`, attempts from unknown devices wait likewise,
//!   while the owner's known devices are not slowed;
//! - the address over all accounts (one address trying many accounts):
//!   past `address_failures`, its unknown devices wait likewise.
//!
//! An attempt is counted when it is let through, before the password is
//! hashed, and given back when it succeeds: parallel attempts cannot all
//! pass a limit that is only updated once their slow checks end. A
//! refused attempt is not counted, so waiting is enough to be let in
//! again. Counts are forgotten `forget_after` a key's last failure, and
//! live in this process (with several gateway replicas, each keeps its own).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::GatewayError;

/// Above this many keys, forgotten ones are swept; past twice it, only
/// this many of the most recently failed are kept, so a flood of
/// addresses stays bounded (about 10 MB), at an amortised constant cost.
const SWEEP_ABOVE: usize = 50_000;
const FIRST_DELAY: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoginRules {
    pub free_failures: u32,
    pub account_failures: u32,
    pub address_failures: u32,
    pub max_delay: Duration,
    pub forget_after: Duration,
}

/// Where a login attempt comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Origin {
    /// The client address (after trusted proxies).
    pub address: String,
    /// The browser's device id, when its token is valid for this account.
    pub known_device: Option<String>,
}

/// An attempt let through and counted; settle it with its outcome.
#[derive(Debug)]
#[must_use = "an attempt is settled by success or failure"]
pub struct Attempt {
    keys: Vec<Key>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// (account, address or `device:<id>`)
    Source(String, String),
    Account(String),
    Address(String),
}

#[derive(Debug, Clone, Copy)]
struct Count {
    failures: u32,
    last: Instant,
}

pub struct LoginGuard {
    rules: LoginRules,
    counts: Mutex<Counts>,
}

struct Counts {
    by_key: HashMap<Key, Count>,
    sweep_above: usize,
}

impl LoginGuard {
    pub fn new(rules: LoginRules) -> Self {
        Self {
            rules,
            counts: Mutex::new(Counts {
                by_key: HashMap::new(),
                sweep_above: SWEEP_ABOVE,
            }),
        }
    }

    /// Lets an attempt through and counts it as failed until settled, or
    /// refuses it with the seconds to wait.
    pub fn admit(
        &self,
        account: &str,
        origin: &Origin,
        now: Instant,
    ) -> Result<Attempt, GatewayError> {
        let account = account.trim().to_lowercase();
        let source = match &origin.known_device {
            Some(device) => format!("device:{device}"),
            None => origin.address.clone(),
        };
        let mut keys = vec![(
            Key::Source(account.clone(), source),
            self.rules.free_failures,
        )];
        if origin.known_device.is_none() {
            keys.push((Key::Account(account), self.rules.account_failures));
            keys.push((
                Key::Address(origin.address.clone()),
                self.rules.address_failures,
            ));
        }
        let mut guarded = self.lock();
        if guarded.by_key.len() > guarded.sweep_above {
            self.sweep(&mut guarded, now);
        }
        let counts = &mut guarded.by_key;
        let wait = keys
            .iter()
            .filter_map(|(key, allowed)| {
                let count = counts.get(key)?;
                self.remaining_wait(count, *allowed, now)
            })
            .max();
        if let Some(wait) = wait {
            let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return Err(GatewayError::RateLimited(seconds.max(1)));
        }
        for (key, _) in &keys {
            let count = counts.entry(key.clone()).or_insert(Count {
                failures: 0,
                last: now,
            });
            if now.saturating_duration_since(count.last) >= self.rules.forget_after {
                count.failures = 0;
            }
            count.failures += 1;
            count.last = now;
        }
        Ok(Attempt {
            keys: keys.into_iter().map(|(key, _)| key).collect(),
        })
    }

    /// The password matched: the attempt is not a failure, and the
    /// failures of its account from this same source were the owner's
    /// typing: they are cleared, also from the account-wide and
    /// address-wide counts (which keep everyone else's).
    pub fn succeeded(&self, attempt: Attempt) {
        let counts = &mut self.lock().by_key;
        let mut keys = attempt.keys.into_iter();
        let owners = keys
            .next()
            .and_then(|source| counts.remove(&source))
            .map_or(0, |count| count.failures);
        for key in keys {
            if let Some(count) = counts.get_mut(&key) {
                count.failures = count.failures.saturating_sub(owners);
                if count.failures == 0 {
                    counts.remove(&key);
                }
            }
        }
    }

    /// The attempt could not be judged (the password pool was full, the
    /// database down): it is not held against anyone.
    pub fn undecided(&self, attempt: Attempt) {
        let counts = &mut self.lock().by_key;
        for key in attempt.keys {
            Self::give_back(counts, &key);
        }
    }

    /// A wrong password: it stays counted.
    pub fn failed(&self, attempt: Attempt) {
        drop(attempt);
    }

    fn give_back(counts: &mut HashMap<Key, Count>, key: &Key) {
        if let Some(count) = counts.get_mut(key) {
            count.failures = count.failures.saturating_sub(1);
            if count.failures == 0 {
                counts.remove(key);
            }
        }
    }

    /// How long a key past its allowance still has to wait.
    fn remaining_wait(&self, count: &Count, allowed: u32, now: Instant) -> Option<Duration> {
        let since = now.saturating_duration_since(count.last);
        if count.failures < allowed || since >= self.rules.forget_after {
            return None;
        }
        let doublings = (count.failures - allowed).min(30);
        let delay = FIRST_DELAY
            .saturating_mul(1 << doublings)
            .min(self.rules.max_delay);
        delay.checked_sub(since).filter(|left| !left.is_zero())
    }

    fn sweep(&self, counts: &mut Counts, now: Instant) {
        let forget_after = self.rules.forget_after;
        let by_key = &mut counts.by_key;
        by_key.retain(|_, count| now.saturating_duration_since(count.last) < forget_after);
        if by_key.len() > SWEEP_ABOVE * 2 {
            let mut lasts: Vec<Instant> = by_key.values().map(|count| count.last).collect();
            lasts.sort_unstable();
            let keep_from = lasts[lasts.len() - SWEEP_ABOVE];
            by_key.retain(|_, count| count.last >= keep_from);
        }
        counts.sweep_above = (by_key.len() * 2).max(SWEEP_ABOVE);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.lock().by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: LoginRules = LoginRules {
        free_failures: 3,
        account_failures: 10,
        address_failures: 20,
        max_delay: Duration::from_secs(900),
        forget_after: Duration::from_secs(3600),
    };

    fn from(address: &str) -> Origin {
        Origin {
            address: address.to_owned(),
            known_device: None,
        }
    }

    fn known(address: &str, device: &str) -> Origin {
        Origin {
            address: address.to_owned(),
            known_device: Some(device.to_owned()),
        }
    }

    fn fail(guard: &LoginGuard, account: &str, origin: &Origin, now: Instant) {
        let attempt = guard.admit(account, origin, now).expect("let through");
        guard.failed(attempt);
    }

    fn wait_of(result: Result<Attempt, GatewayError>) -> u64 {
        match result {
            Err(GatewayError::RateLimited(seconds)) => seconds,
            other => panic!("expected a wait, got {other:?}"),
        }
    }

    #[test]
    fn parallel_attempts_are_counted_before_any_is_judged() {
        let guard = LoginGuard::new(RULES);
        let now = Instant::now();
        let admitted: Vec<_> = (0..200)
            .filter_map(|_| guard.admit("ada@example.org", &from("10.0.0.1"), now).ok())
            .collect();
        assert_eq!(admitted.len(), 3, "only the free attempts pass");
    }

    #[test]
    fn delays_double_after_the_free_failures_and_waiting_lets_in_again() {
        let guard = LoginGuard::new(RULES);
        let ada = from("10.0.0.1");
        let mut now = Instant::now();
        for _ in 0..3 {
            fail(&guard, "ada@example.org", &ada, now);
        }
        assert_eq!(wait_of(guard.admit("ada@example.org", &ada, now)), 1);
        for expected in [2, 4, 8, 16] {
            now += Duration::from_secs(expected / 2);
            fail(&guard, "Ada@Example.org", &ada, now);
            assert_eq!(wait_of(guard.admit("ada@example.org", &ada, now)), expected);
        }
        for _ in 0..20 {
            now += Duration::from_secs(900);
            fail(&guard, "ada@example.org", &ada, now);
        }
        assert_eq!(
            wait_of(guard.admit("ada@example.org", &ada, now)),
            900,
            "capped"
        );
        now += Duration::from_secs(900);
        let attempt = guard
            .admit("ada@example.org", &ada, now)
            .expect("after the delay");
        guard.succeeded(attempt);
        let attempt = guard.admit("ada@example.org", &ada, now).expect("cleared");
        guard.succeeded(attempt);
    }

    #[test]
    fn a_stranger_cannot_lock_the_owner_out() {
        let guard = LoginGuard::new(RULES);
        let now = Instant::now();
        // Many strangers guess, from many addresses, past every allowance.
        for stranger in 0..40 {
            let _ = guard
                .admit(
                    "ada@example.org",
                    &from(&format!("203.0.113.{stranger}")),
                    now,
                )
                .map(|attempt| guard.failed(attempt));
        }
        assert!(
            guard
                .admit("ada@example.org", &from("198.51.100.7"), now)
                .is_err(),
            "unknown devices are slowed once the account is under attack"
        );
        let owner = known("198.51.100.7", "owner-laptop");
        let attempt = guard
            .admit("ada@example.org", &owner, now)
            .expect("the owner's known device is let in");
        guard.succeeded(attempt);
    }

    #[test]
    fn one_persons_failures_slow_only_that_account_from_that_place() {
        let guard = LoginGuard::new(RULES);
        let now = Instant::now();
        let office = from("192.0.2.1");
        for _ in 0..3 {
            fail(&guard, "carol@example.org", &office, now);
        }
        assert!(guard.admit("carol@example.org", &office, now).is_err());
        assert!(guard
            .admit(
                "carol@example.org",
                &known("192.0.2.1", "carol-laptop"),
                now
            )
            .is_ok());
        assert!(guard
            .admit("carol@example.org", &from("192.0.2.2"), now)
            .is_ok());
        assert!(
            guard.admit("dave@example.org", &office, now).is_ok(),
            "others behind the same address are not affected"
        );
    }

    #[test]
    fn an_address_trying_many_accounts_is_slowed_but_known_devices_behind_it_are_not() {
        let guard = LoginGuard::new(RULES);
        let now = Instant::now();
        for account in 0..20 {
            fail(
                &guard,
                &format!("user{account}@example.org"),
                &from("10.9.9.9"),
                now,
            );
        }
        assert!(guard
            .admit("new@example.org", &from("10.9.9.9"), now)
            .is_err());
        assert!(guard
            .admit("new@example.org", &known("10.9.9.9", "their-phone"), now)
            .is_ok());
        assert!(guard
            .admit("new@example.org", &from("10.9.9.10"), now)
            .is_ok());
    }

    #[test]
    fn an_undecided_attempt_is_not_held_against_anyone() {
        let guard = LoginGuard::new(RULES);
        let now = Instant::now();
        for _ in 0..10 {
            let attempt = guard
                .admit("ada@example.org", &from("10.0.0.1"), now)
                .expect("never counted");
            guard.undecided(attempt);
        }
        assert_eq!(guard.tracked(), 0);
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_while() {
        let guard = LoginGuard::new(RULES);
        let now = Instant::now();
        for _ in 0..3 {
            fail(&guard, "ada@example.org", &from("10.0.0.1"), now);
        }
        assert!(guard
            .admit("ada@example.org", &from("10.0.0.1"), now)
            .is_err());
        let later = now + RULES.forget_after;
        fail(&guard, "ada@example.org", &from("10.0.0.1"), later);
        fail(&guard, "ada@example.org", &from("10.0.0.1"), later);
        assert!(
            guard
                .admit("ada@example.org", &from("10.0.0.1"), later)
                .is_ok(),
            "the count started again"
        );
    }

    #[test]
    fn a_flood_of_addresses_keeps_the_table_bounded() {
        let guard = LoginGuard::new(RULES);
        let now = Instant::now();
        let mut most = 0;
        for n in 0..(SWEEP_ABOVE as u32) {
            let later = now + Duration::from_micros(u64::from(n));
            fail(
                &guard,
                &format!("u{n}@x.org"),
                &from(&format!("a{n}")),
                later,
            );
            most = most.max(guard.tracked());
        }
        assert!(most <= SWEEP_ABOVE * 2 + 6, "{most} keys at most");
        assert!(guard.tracked() < SWEEP_ABOVE * 2, "swept");
        // The latest failures were kept: two more reach the allowance.
        let latest = SWEEP_ABOVE - 1;
        let (account, origin) = (format!("u{latest}@x.org"), from(&format!("a{latest}")));
        let later = now + Duration::from_secs(1);
        fail(&guard, &account, &origin, later);
        fail(&guard, &account, &origin, later);
        assert!(
            guard.admit(&account, &origin, later).is_err(),
            "recent keys are kept"
        );
    }
}
