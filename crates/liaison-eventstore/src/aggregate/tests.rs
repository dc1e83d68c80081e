//! The command loop on a real store: execute, load, conflicts and their
//! retries, an undecodable event.

use std::sync::Arc;

use prost_types::Timestamp;

use super::*;
use crate::sqlite::{SqliteEventStore, SqliteStoreOptions};
use crate::testing::given;
use crate::StoreComponents;

/// A counter that refuses to go below zero: events are amounts added.
#[derive(Debug, Clone, PartialEq)]
struct Counter {
    total: i64,
    seen_at: Vec<i64>,
}

#[derive(Debug, PartialEq, thiserror::Error)]
enum CounterError {
    #[error("would go below zero")]
    Negative,
    #[error("conflict on {id}: expected {expected}, found {actual}")]
    Conflict {
        id: String,
        expected: u64,
        actual: u64,
    },
    #[error("{0}")]
    Store(String),
}

impl From<StoreError> for CounterError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::VersionConflict {
                stream_id,
                expected,
                actual,
            } => CounterError::Conflict {
                id: id_of_stream(&stream_id).to_owned(),
                expected,
                actual,
            },
            other => CounterError::Store(other.to_string()),
        }
    }
}

impl Aggregate for Counter {
    type Event = i64;
    type Payload = Timestamp;
    type Command = i64;
    type Error = CounterError;
    const STREAM_PREFIX: &'static str = "counter";

    fn initial(_id: &str) -> Self {
        Counter {
            total: 0,
            seen_at: Vec::new(),
        }
    }
    fn decide(&self, amount: i64) -> Result<Vec<i64>, CounterError> {
        match self.total + amount {
            total if total < 0 => Err(CounterError::Negative),
            _ if amount == 0 => Ok(Vec::new()),
            _ => Ok(vec![amount]),
        }
    }
    fn evolve(mut self, amount: &i64, recorded: &Recorded) -> Self {
        self.total += amount;
        self.seen_at.push(recorded.occurred_at_micros);
        self
    }
    fn event_type(&self, amount: &i64) -> String {
        if *amount > 0 {
            "counter.added"
        } else {
            "counter.removed"
        }
        .to_owned()
    }
    fn to_payload(amount: i64) -> Timestamp {
        Timestamp {
            seconds: amount,
            nanos: 0,
        }
    }
    fn from_payload(payload: Timestamp) -> Option<i64> {
        Some(payload.seconds)
    }
}

async fn store(dir: &tempfile::TempDir) -> Arc<dyn EventStore> {
    let store = SqliteEventStore::open(
        SqliteStoreOptions::new(dir.path().join("store.sqlite")),
        StoreComponents {
            service: "counting",
            entity_of: crate::no_entity,
            migrations: &[],
            projections: Vec::new(),
            consumers: Vec::new(),
        },
    )
    .await
    .expect("open store");
    Arc::new(store)
}

fn metadata(at: i64) -> EventMetadata {
    EventMetadata {
        actor: "user:1".into(),
        occurred_at_micros: at,
        ..Default::default()
    }
}

#[test]
fn the_harness_folds_the_past_and_judges_the_command() {
    let state = given::<Counter>("c", [5, -2]).when(3).then([3]);
    assert_eq!(state.total, 6);
    assert_eq!(
        given::<Counter>("c", [1]).when(-2).then_err(),
        CounterError::Negative
    );
    given::<Counter>("c", [1]).when(0).then_nothing();
}

#[tokio::test]
async fn execute_appends_what_was_decided_and_load_folds_it_back() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(&dir).await;
    let created = execute_new::<Counter>(store.as_ref(), "c", &metadata(10), 5)
        .await
        .expect("create");
    assert_eq!((created.state.total, created.version), (5, 1));
    let added = execute::<Counter>(store.as_ref(), "c", Some(1), &metadata(20), |loaded| {
        loaded.state.decide(2)
    })
    .await
    .expect("add");
    assert_eq!((added.state.total, added.version), (7, 2));
    let loaded = load::<Counter>(store.as_ref(), "c").await.expect("load");
    assert_eq!(loaded, added);
    assert_eq!(
        loaded.state.seen_at,
        vec![10, 20],
        "times come from the log"
    );
    let log = store.read_stream("counter-c", 0, 10).await.expect("read");
    let types: Vec<&str> = log.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(types, ["counter.added", "counter.added"]);
    assert_eq!(log[1].metadata.actor, "user:1");

    let unchanged = execute::<Counter>(store.as_ref(), "c", None, &metadata(30), |loaded| {
        loaded.state.decide(0)
    })
    .await
    .expect("nothing to do");
    assert_eq!(unchanged.version, 2, "nothing was appended");
    let refused = execute::<Counter>(store.as_ref(), "c", None, &metadata(40), |loaded| {
        loaded.state.decide(-8)
    })
    .await;
    assert_eq!(refused, Err(CounterError::Negative));
    assert_eq!(store.head_position().await.expect("head"), 2);
}

#[tokio::test]
async fn a_named_version_that_moved_is_a_conflict_a_missing_stream_its_own_refusal() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(&dir).await;
    execute_new::<Counter>(store.as_ref(), "c", &metadata(1), 5)
        .await
        .expect("create");
    let stale = execute::<Counter>(store.as_ref(), "c", Some(3), &metadata(2), |loaded| {
        loaded.state.decide(1)
    })
    .await;
    assert_eq!(
        stale,
        Err(CounterError::Conflict {
            id: "c".into(),
            expected: 3,
            actual: 1
        })
    );
    let missing = execute::<Counter>(store.as_ref(), "none", Some(2), &metadata(3), |_| {
        Err(CounterError::Negative)
    })
    .await;
    assert_eq!(
        missing,
        Err(CounterError::Negative),
        "the decision speaks first"
    );
    let again = execute_new::<Counter>(store.as_ref(), "c", &metadata(4), 1).await;
    assert!(
        matches!(again, Err(CounterError::Conflict { expected: 0, .. })),
        "{again:?}"
    );
}

/// An attempt that loses the race to another writer (which appends
/// between its load and its append) is judged again on the new state,
/// unless the caller named its version.
#[tokio::test]
async fn a_conflict_is_retried_only_without_a_named_version() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(&dir).await;
    execute_new::<Counter>(store.as_ref(), "c", &metadata(1), 1)
        .await
        .expect("create");
    let race = async |expected_version: Option<u64>, interferences: usize| {
        let mut retries = Retries::for_expected(expected_version);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let loaded = load::<Counter>(store.as_ref(), "c").await?;
            if attempts <= interferences {
                execute::<Counter>(store.as_ref(), "c", None, &metadata(2), |l| {
                    l.state.decide(10)
                })
                .await?;
            }
            let events = loaded.state.decide(1)?;
            let request = AppendRequest {
                streams: vec![stream_append("c", &loaded, &events)],
                metadata: metadata(3),
                forget_subjects: Vec::new(),
            };
            match store.append(request).await {
                Ok(_) => return Ok::<usize, CounterError>(attempts),
                Err(error) if retries.again(&error) => continue,
                Err(error) => return Err(error.into()),
            }
        }
    };
    assert_eq!(race(None, 2).await, Ok(3));
    let refused = race(Some(5), 1).await;
    assert!(
        matches!(refused, Err(CounterError::Conflict { .. })),
        "{refused:?}"
    );
    let exhausted = race(None, RETRIES + 1).await;
    assert!(
        matches!(exhausted, Err(CounterError::Conflict { .. })),
        "then the conflict is the caller's: {exhausted:?}"
    );
}

#[test]
fn only_conflicts_are_retried_and_only_so_often() {
    let conflict = StoreError::VersionConflict {
        stream_id: "counter-c".into(),
        expected: 1,
        actual: 2,
    };
    let mut retries = Retries::for_expected(None);
    for _ in 0..RETRIES {
        assert!(retries.again(&conflict));
    }
    assert!(!retries.again(&conflict));
    assert!(!Retries::for_expected(None).again(&StoreError::Unavailable("down".into())));
    assert!(!Retries::for_expected(Some(3)).again(&conflict));
}

#[tokio::test]
async fn an_event_that_does_not_decode_is_reported_not_skipped() {
    let dir = tempfile::tempdir().expect("dir");
    let store = store(&dir).await;
    store
        .append(AppendRequest {
            streams: vec![StreamAppend {
                stream_id: "counter-c".into(),
                expected: ExpectedVersion::NoStream,
                events: vec![NewEvent {
                    event_id: Uuid::now_v7(),
                    event_type: "counter.added".into(),
                    schema_version: 1,
                    payload: vec![0xff, 0xff, 0xff],
                }],
                encrypt_for_subject: None,
            }],
            metadata: metadata(1),
            forget_subjects: Vec::new(),
        })
        .await
        .expect("append garbage");
    let error = load::<Counter>(store.as_ref(), "c")
        .await
        .expect_err("garbage");
    assert!(error.to_string().contains("does not decode"), "{error}");
}
