//! Events already in users' logs must stay readable: payloads recorded with
//! schema version 1 decode to what they meant, whatever the proto becomes.

use liaison_eventstore::testing::{given, Fixtures};
use liaison_proto::relations::v1 as pb;
use liaison_relations::domain::relation_type::RelationType;
use prost::Message;

fn fixtures() -> Fixtures {
    Fixtures::parse(include_str!("fixtures/events-v1.txt"))
}

#[test]
fn version_1_relation_type_events_decode_and_replay() {
    let fixtures = fixtures();
    let created = given::<RelationType>(
        "is_prospect_of",
        [fixtures.event::<RelationType>("relation_type.created")],
    );
    let state = created.state();
    assert!(state.is_live() && state.enabled && state.custom && state.copiable);
    assert_eq!(state.subject_side.label, "is a prospect of");
    assert_eq!(state.subject_side.kinds, vec!["contacts.organisation"]);
    assert_eq!(state.subject_side.required_tags, vec!["market"]);
    assert_eq!(state.object_side.id, "has_prospect_org");
    assert_eq!(state.object_side.forbidden_tags, vec!["closed"]);

    let replayed = given::<RelationType>(
        "is_prospect_of",
        [
            "relation_type.created",
            "relation_type.changed",
            "relation_type.disabled",
        ]
        .map(|event_type| fixtures.event::<RelationType>(event_type)),
    );
    let state = replayed.state();
    assert_eq!(replayed.version(), 3);
    assert_eq!(state.subject_side.label, "prospects for");
    assert_eq!(state.object_side.label, "is prospected by");
    assert!(!state.enabled && !state.copiable);

    let deleted = given::<RelationType>(
        "is_prospect_of",
        [
            "relation_type.created",
            "relation_type.enabled",
            "relation_type.deleted",
        ]
        .map(|event_type| fixtures.event::<RelationType>(event_type)),
    );
    assert!(deleted.state().enabled && !deleted.state().is_live());
    let pb::relation_type_event::Event::Deleted(removed) =
        fixtures.event::<RelationType>("relation_type.deleted")
    else {
        panic!("a deletion")
    };
    assert_eq!(removed.relations_removed, 3);
}

#[test]
fn version_1_relation_events_decode() {
    let fixtures = fixtures();
    let decode = |event_type: &str| {
        pb::RelationEvent::decode(fixtures.payload(event_type))
            .expect("decodes")
            .event
            .expect("an event")
    };
    let pb::relation_event::Event::Created(created) = decode("relation.created") else {
        panic!("a creation")
    };
    let subject = created.subject.expect("subject");
    assert_eq!(
        (subject.kind.as_str(), subject.id.as_str()),
        (
            "contacts.organisation",
            "01a2f000-0000-7000-8000-00000000000c"
        )
    );
    assert_eq!(created.predicate, "is_prospect_of");
    assert_eq!(created.symmetric_predicate, "has_prospect_org");
    assert_eq!(created.type_id, "is_prospect_of");
    assert_eq!(
        created.replaces_relation_id,
        "01a2f000-0000-7000-8000-0000000000r1"
    );
    let pb::relation_event::Event::Deleted(deleted) = decode("relation.deleted") else {
        panic!("a deletion")
    };
    assert_eq!(deleted.cause, pb::DeletionCause::EntityMerged as i32);
    assert_eq!(
        deleted.cause_entity.expect("cause").id,
        "01a2f000-0000-7000-8000-00000000000a"
    );
}
