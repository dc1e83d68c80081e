//! The contract every [`EventStore`] backend passes. A backend's test file
//! instantiates [`store_conformance_tests!`] with a harness.

use std::sync::Arc;

use async_trait::async_trait;
use liaison_proto::events::v1::EventEnvelope;
use uuid::Uuid;

use crate::{
    AppendRequest, EventMetadata, EventStore, ExpectedVersion, NewEvent, StoreError, StreamAppend,
};

/// Event type the harness's projection refuses, to test rejections.
pub const REFUSED_TYPE: &str = "thing.refused";
/// Consumer name of the harness's consumer projection.
pub const CONSUMER: &str = "conformance";
/// Consumed event types the harness's consumer reacts to: the first by
/// recording an `echo.made` event, the second by recording a refused one.
pub const REACT_TYPE: &str = "thing.react";
pub const REACT_REFUSED_TYPE: &str = "thing.react_refused";

/// The reaction of the harness's consumer to `envelope`.
pub fn reaction(envelope: &EventEnvelope) -> AppendRequest {
    let event_type = if envelope.event_type == REACT_REFUSED_TYPE {
        REFUSED_TYPE
    } else {
        "echo.made"
    };
    let mut request = append(
        &format!("echo-{}", envelope.event_id),
        ExpectedVersion::NoStream,
        vec![event(event_type, envelope.event_id.as_bytes())],
    );
    request.metadata.causation_id = envelope.event_id.clone();
    request
}

#[async_trait]
pub trait StoreHarness: Send + Sync {
    /// The store on this harness's storage (fresh on first call). Its inline
    /// projection counts applied events and refuses [`REFUSED_TYPE`]; its
    /// consumer projection [`CONSUMER`] counts consumed events.
    async fn open(&self) -> Arc<dyn EventStore>;
    /// Events counted by the inline projection.
    async fn projected(&self, store: &Arc<dyn EventStore>) -> u64;
    /// Events counted by the consumer projection.
    async fn consumed(&self, store: &Arc<dyn EventStore>) -> u64;
}

pub fn event(event_type: &str, payload: &[u8]) -> NewEvent {
    NewEvent {
        event_id: Uuid::now_v7(),
        event_type: event_type.to_owned(),
        schema_version: 1,
        payload: payload.to_vec(),
    }
}

pub fn append(stream: &str, expected: ExpectedVersion, events: Vec<NewEvent>) -> AppendRequest {
    AppendRequest {
        streams: vec![StreamAppend {
            stream_id: stream.to_owned(),
            expected,
            events,
            encrypt_for_subject: None,
        }],
        metadata: EventMetadata {
            actor: "tester".into(),
            correlation_id: "c-1".into(),
            occurred_at_micros: 1_700_000_000_000_000,
            ..Default::default()
        },
        forget_subjects: Vec::new(),
    }
}

pub async fn appends_and_reads_back_in_order(harness: &dyn StoreHarness) {
    let store = harness.open().await;
    let outcome = store
        .append(append(
            "s-1",
            ExpectedVersion::NoStream,
            vec![event("thing.made", b"a"), event("thing.made", b"b")],
        ))
        .await
        .expect("append");
    assert_eq!(outcome.version_of("s-1"), Some(2));
    store
        .append(append(
            "s-2",
            ExpectedVersion::NoStream,
            vec![event("thing.made", b"c")],
        ))
        .await
        .expect("append");
    store
        .append(append(
            "s-1",
            ExpectedVersion::Exactly(2),
            vec![event("thing.made", b"d")],
        ))
        .await
        .expect("append");

    let stream = store.read_stream("s-1", 0, 100).await.expect("read stream");
    let payloads: Vec<&[u8]> = stream.iter().map(|e| e.payload.as_slice()).collect();
    assert_eq!(payloads, vec![b"a".as_slice(), b"b", b"d"]);
    assert_eq!(
        stream.iter().map(|e| e.stream_version).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(stream[0].metadata.actor, "tester");
    assert_eq!(stream[0].metadata.occurred_at_micros, 1_700_000_000_000_000);

    let all = store.read_all(0, 100).await.expect("read all");
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        vec![1, 2, 3, 4],
        "positions are gapless"
    );
    assert_eq!(store.read_all(2, 1).await.expect("page")[0].position, 3);
    assert_eq!(store.head_position().await.expect("head"), 4);
    assert_eq!(
        harness.projected(&store).await,
        4,
        "the inline projection saw every event"
    );
}

pub async fn refuses_a_stale_expected_version(harness: &dyn StoreHarness) {
    let store = harness.open().await;
    store
        .append(append(
            "s",
            ExpectedVersion::NoStream,
            vec![event("thing.made", b"")],
        ))
        .await
        .expect("first");
    let error = store
        .append(append(
            "s",
            ExpectedVersion::NoStream,
            vec![event("thing.made", b"")],
        ))
        .await
        .expect_err("stream exists");
    assert!(
        matches!(error, StoreError::VersionConflict { actual: 1, .. }),
        "{error:?}"
    );
    let error = store
        .append(append(
            "s",
            ExpectedVersion::Exactly(5),
            vec![event("thing.made", b"")],
        ))
        .await
        .expect_err("ahead of the stream");
    assert!(
        matches!(
            error,
            StoreError::VersionConflict {
                expected: 5,
                actual: 1,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(store.read_stream("s", 0, 10).await.expect("read").len(), 1);
}

pub async fn concurrent_writers_get_exactly_one_winner_per_version(harness: &dyn StoreHarness) {
    let store = harness.open().await;
    store
        .append(append(
            "hot",
            ExpectedVersion::NoStream,
            vec![event("thing.made", b"")],
        ))
        .await
        .expect("seed");
    let mut tasks = Vec::new();
    for writer in 0..16u8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .append(append(
                    "hot",
                    ExpectedVersion::Exactly(1),
                    vec![event("thing.made", &[writer])],
                ))
                .await
        }));
    }
    let mut winners = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => winners += 1,
            Err(StoreError::VersionConflict { .. }) => {}
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(winners, 1);
    assert_eq!(
        store.read_stream("hot", 0, 100).await.expect("read").len(),
        2
    );
}

pub async fn multi_stream_append_is_all_or_nothing(harness: &dyn StoreHarness) {
    let store = harness.open().await;
    store
        .append(append(
            "taken",
            ExpectedVersion::NoStream,
            vec![event("thing.made", b"")],
        ))
        .await
        .expect("seed");
    let mut request = append(
        "fresh",
        ExpectedVersion::NoStream,
        vec![event("thing.made", b"")],
    );
    request.streams.push(StreamAppend {
        stream_id: "taken".into(),
        expected: ExpectedVersion::NoStream,
        events: vec![event("thing.made", b"")],
        encrypt_for_subject: None,
    });
    store
        .append(request)
        .await
        .expect_err("second stream conflicts");
    assert!(
        store
            .read_stream("fresh", 0, 10)
            .await
            .expect("read")
            .is_empty(),
        "no half append"
    );
    assert_eq!(store.head_position().await.expect("head"), 1);
}

pub async fn a_refused_append_leaves_no_trace_and_spares_its_batch(harness: &dyn StoreHarness) {
    let store = harness.open().await;
    let mut tasks = Vec::new();
    for index in 0..32u32 {
        let store = store.clone();
        let event_type = if index % 8 == 3 {
            REFUSED_TYPE
        } else {
            "thing.made"
        };
        tasks.push(tokio::spawn(async move {
            store
                .append(append(
                    &format!("s-{index}"),
                    ExpectedVersion::NoStream,
                    vec![event(event_type, b"")],
                ))
                .await
        }));
    }
    let mut refused = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => {}
            Err(StoreError::Rejected(_)) => refused += 1,
            Err(other) => panic!("unexpected error {other:?}"),
        }
    }
    assert_eq!(refused, 4);
    let all = store.read_all(0, 100).await.expect("read all");
    assert_eq!(all.len(), 28);
    assert!(all.iter().all(|e| e.event_type != REFUSED_TYPE));
    assert_eq!(
        all.iter().map(|e| e.position).collect::<Vec<_>>(),
        (1..=28).collect::<Vec<_>>()
    );
    assert_eq!(harness.projected(&store).await, 28);
}

pub async fn sealed_payloads_read_back_until_the_subject_is_forgotten(harness: &dyn StoreHarness) {
    let store = harness.open().await;
    let mut request = append(
        "person-1",
        ExpectedVersion::NoStream,
        vec![event("person.made", b"Marcel Dupont")],
    );
    request.streams[0].encrypt_for_subject = Some("p1".into());
    store.append(request).await.expect("sealed");
    let mut other = append(
        "person-2",
        ExpectedVersion::NoStream,
        vec![event("person.made", b"Ada")],
    );
    other.streams[0].encrypt_for_subject = Some("p2".into());
    store.append(other).await.expect("other");
    assert_eq!(
        store.read_stream("person-1", 0, 10).await.expect("read")[0].payload,
        b"Marcel Dupont"
    );

    let mut erase = append(
        "person-1",
        ExpectedVersion::Exactly(1),
        vec![event("person.erased", b"")],
    );
    erase.forget_subjects = vec!["p1".into()];
    store.append(erase).await.expect("erase");
    let events = store.read_stream("person-1", 0, 10).await.expect("read");
    assert!(events[0].shredded && events[0].payload.is_empty());
    assert!(!events[1].shredded, "the erasure itself stays readable");
    assert_eq!(
        store.read_stream("person-2", 0, 10).await.expect("read")[0].payload,
        b"Ada"
    );

    let mut again = append(
        "person-1",
        ExpectedVersion::Exactly(2),
        vec![event("person.made", b"again")],
    );
    again.streams[0].encrypt_for_subject = Some("p1".into());
    store
        .append(again)
        .await
        .expect_err("nothing more is recorded for a forgotten subject");
}

pub async fn a_forgotten_subject_stays_forgotten_after_a_restart(harness: &dyn StoreHarness) {
    {
        let store = harness.open().await;
        let mut request = append(
            "person-9",
            ExpectedVersion::NoStream,
            vec![event("person.made", b"Zoe")],
        );
        request.streams[0].encrypt_for_subject = Some("p9".into());
        store.append(request).await.expect("sealed");
        let mut erase = append(
            "person-9",
            ExpectedVersion::Exactly(1),
            vec![event("person.erased", b"")],
        );
        erase.forget_subjects = vec!["p9".into()];
        store.append(erase).await.expect("erase");
    }
    let store = harness.open().await;
    assert!(store.read_stream("person-9", 0, 10).await.expect("read")[0].shredded);
    let mut again = append(
        "person-9",
        ExpectedVersion::Exactly(2),
        vec![event("person.made", b"Zoe again")],
    );
    again.streams[0].encrypt_for_subject = Some("p9".into());
    let error = store
        .append(again)
        .await
        .expect_err("no new key for a forgotten subject");
    assert!(error.to_string().contains("erased"), "{error}");
    assert_eq!(
        store
            .read_stream("person-9", 0, 10)
            .await
            .expect("read")
            .len(),
        2
    );
}

pub async fn rebuild_replays_the_whole_log(harness: &dyn StoreHarness) {
    let store = harness.open().await;
    for index in 0..5 {
        store
            .append(append(
                &format!("s-{index}"),
                ExpectedVersion::NoStream,
                vec![event("thing.made", b"")],
            ))
            .await
            .expect("append");
    }
    assert_eq!(store.rebuild_projections().await.expect("rebuild"), 5);
    assert_eq!(
        harness.projected(&store).await,
        5,
        "reset, then every event applied once"
    );
}

pub async fn consumed_events_apply_once(harness: &dyn StoreHarness) {
    let store = harness.open().await;
    let envelope = |position: u64| EventEnvelope {
        event_id: Uuid::now_v7().to_string(),
        service: "elsewhere".into(),
        global_position: position,
        event_type: "thing.made".into(),
        ..Default::default()
    };
    let batch: Vec<_> = (1..=3).map(envelope).collect();
    assert_eq!(
        store
            .apply_consumed(CONSUMER, batch.clone())
            .await
            .expect("apply"),
        3
    );
    assert_eq!(
        store
            .apply_consumed(CONSUMER, batch)
            .await
            .expect("redelivered"),
        0
    );
    assert_eq!(
        store
            .apply_consumed(CONSUMER, (2..=4).map(envelope).collect())
            .await
            .expect("overlap"),
        1
    );
    assert_eq!(harness.consumed(&store).await, 4);
}

pub async fn a_reaction_commits_with_its_event_or_not_at_all(harness: &dyn StoreHarness) {
    let store = harness.open().await;
    let envelope = |position: u64, event_type: &str| EventEnvelope {
        event_id: Uuid::now_v7().to_string(),
        service: "elsewhere".into(),
        global_position: position,
        event_type: event_type.into(),
        ..Default::default()
    };
    let batch = vec![
        envelope(1, "thing.made"),
        envelope(2, REACT_TYPE),
        envelope(3, "thing.made"),
    ];
    let applied = store
        .apply_consumed(CONSUMER, batch.clone())
        .await
        .expect("apply with a reaction");
    assert_eq!(applied, 3);
    let log = store.read_all(0, 100).await.expect("read log");
    assert_eq!(log.len(), 1, "one reaction recorded: {log:?}");
    assert_eq!(log[0].event_type, "echo.made");
    assert_eq!(log[0].metadata.causation_id, batch[1].event_id);
    assert_eq!(harness.projected(&store).await, 1, "inline projection ran");

    store
        .apply_consumed(CONSUMER, batch)
        .await
        .expect("redelivered");
    assert_eq!(store.read_all(0, 100).await.expect("read").len(), 1);

    let refused = store
        .apply_consumed(
            CONSUMER,
            vec![envelope(4, "thing.made"), envelope(5, REACT_REFUSED_TYPE)],
        )
        .await;
    assert!(
        matches!(refused, Err(StoreError::Rejected(_))),
        "{refused:?}"
    );
    assert_eq!(
        harness.consumed(&store).await,
        3,
        "nothing of the refused batch"
    );
    assert_eq!(store.read_all(0, 100).await.expect("read").len(), 1);
    let retried = store
        .apply_consumed(CONSUMER, vec![envelope(4, "thing.made")])
        .await
        .expect("checkpoint did not move");
    assert_eq!(retried, 1);
}

/// More events than one SQL statement can bind, in one append and in
/// several appends committed together.
pub async fn large_appends_go_in_whole(harness: &dyn StoreHarness) {
    let store = harness.open().await;
    let streams: Vec<StreamAppend> = (0..5_000)
        .map(|n| StreamAppend {
            stream_id: format!("bulk-{n}"),
            expected: ExpectedVersion::NoStream,
            events: vec![event("thing.made", b"x")],
            encrypt_for_subject: None,
        })
        .collect();
    let mut request = append("unused", ExpectedVersion::NoStream, Vec::new());
    request.streams = streams;
    let outcome = store.append(request).await.expect("one large append");
    assert_eq!(outcome.last_position, 5_000);
    let concurrent = (0..4).map(|worker| {
        let store = store.clone();
        async move {
            let mut request = append("unused", ExpectedVersion::NoStream, Vec::new());
            request.streams = (0..3_000)
                .map(|n| StreamAppend {
                    stream_id: format!("bulk-{worker}-{n}"),
                    expected: ExpectedVersion::NoStream,
                    events: vec![event("thing.made", b"x")],
                    encrypt_for_subject: None,
                })
                .collect();
            store.append(request).await
        }
    });
    for result in futures_join(concurrent).await {
        result.expect("large appends together");
    }
    assert_eq!(store.head_position().await.expect("head"), 17_000);
    assert_eq!(harness.projected(&store).await, 17_000);
}

/// Runs the futures concurrently, results in order.
async fn futures_join<F: std::future::Future + Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut results = Vec::new();
    for handle in handles {
        results.push(handle.await.expect("task"));
    }
    results
}

pub async fn survives_a_reopen(harness: &dyn StoreHarness) {
    {
        let store = harness.open().await;
        store
            .append(append(
                "s",
                ExpectedVersion::NoStream,
                vec![event("thing.made", b"1")],
            ))
            .await
            .expect("append");
        store.save_relay_checkpoint(1).await.expect("checkpoint");
    }
    let store = harness.open().await;
    assert_eq!(store.relay_checkpoint().await.expect("checkpoint"), 1);
    let outcome = store
        .append(append(
            "s",
            ExpectedVersion::Exactly(1),
            vec![event("thing.made", b"2")],
        ))
        .await
        .expect("append after reopen");
    assert_eq!(outcome.last_position, 2);
}

#[macro_export]
macro_rules! store_conformance_tests {
    ($harness:expr) => {
        $crate::store_conformance_tests!(@tests $harness;
            appends_and_reads_back_in_order,
            refuses_a_stale_expected_version,
            concurrent_writers_get_exactly_one_winner_per_version,
            multi_stream_append_is_all_or_nothing,
            a_refused_append_leaves_no_trace_and_spares_its_batch,
            sealed_payloads_read_back_until_the_subject_is_forgotten,
            a_forgotten_subject_stays_forgotten_after_a_restart,
            rebuild_replays_the_whole_log,
            consumed_events_apply_once,
            a_reaction_commits_with_its_event_or_not_at_all,
            large_appends_go_in_whole,
            survives_a_reopen
        );
    };
    (@tests $harness:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let harness = $harness;
                $crate::conformance::$name(&harness).await;
            }
        )*
    };
}
