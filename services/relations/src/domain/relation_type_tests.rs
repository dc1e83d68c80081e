use super::*;

use liaison_eventstore::testing::{given, Given};

fn type_with(events: impl IntoIterator<Item = Event>) -> Given<RelationType> {
    given::<RelationType>("likes", events)
}

fn custom_created() -> Event {
    Event::Created(pb::RelationTypeCreated {
        subject_side: Some(side("likes", "likes", &[PERSON])),
        object_side: Some(side("liked_by", "is liked by", &[])),
        symmetric_to_itself: false,
        custom: true,
        internal: false,
        copiable: true,
    })
}

#[test]
fn a_created_type_is_enabled_with_both_sides() {
    let state = type_with([])
        .when(Command::Create(match custom_created() {
            Event::Created(created) => created,
            _ => unreachable!("a creation"),
        }))
        .then([custom_created()]);
    assert!(state.enabled && state.custom && state.is_live());
    let orientation = state.orientation("liked_by").expect("symmetric side");
    assert_eq!(orientation.subject.id, "liked_by");
    assert_eq!(orientation.object.id, "likes");
    assert!(state.orientation("other").is_none());
}

#[test]
fn a_type_that_is_its_own_symmetric_has_one_predicate() {
    let created = builtins()
        .into_iter()
        .find(|b| {
            b.subject_side
                .as_ref()
                .is_some_and(|s| s.id == "competitor_of")
        })
        .expect("competitor_of is built in");
    let competitor = given::<RelationType>("competitor_of", [Event::Created(created)]);
    let orientation = competitor
        .state()
        .orientation("competitor_of")
        .expect("side");
    assert_eq!(orientation.subject.id, orientation.object.id);
}

#[test]
fn refuses_to_create_a_type_twice() {
    let error = type_with([custom_created()])
        .when(Command::Create(pb::RelationTypeCreated::default()))
        .then_err();
    assert!(
        matches!(error, RelationsError::PredicateTaken { .. }),
        "{error}"
    );
}

#[test]
fn disabling_twice_records_one_event() {
    let disabled = type_with([custom_created()])
        .when(Command::SetEnabled(false))
        .then([Event::Disabled(pb::RelationTypeDisabled {})]);
    assert!(!disabled.enabled);
    let disabled = type_with([
        custom_created(),
        Event::Disabled(pb::RelationTypeDisabled {}),
    ]);
    disabled.when(Command::SetEnabled(false)).then_nothing();
    disabled
        .when(Command::SetEnabled(true))
        .then([Event::Enabled(pb::RelationTypeEnabled {})]);
}

#[test]
fn built_in_types_cannot_be_edited_or_deleted() {
    let mut created = custom_created();
    if let Event::Created(created) = &mut created {
        created.custom = false;
    }
    let built_in = type_with([created]);
    let error = built_in
        .when(Command::Delete {
            relations_removed: 0,
        })
        .then_err();
    assert!(
        error
            .to_string()
            .contains("only custom types can be deleted"),
        "{error}"
    );
    let error = built_in
        .when(Command::Change {
            subject_side: side("x", "x", &[]),
            object_side: side("y", "y", &[]),
            copiable: false,
        })
        .then_err();
    assert!(
        error
            .to_string()
            .contains("only custom types can be edited"),
        "{error}"
    );
}

#[test]
fn an_edit_keeps_the_predicate_ids() {
    let edited = type_with([custom_created()])
        .when(Command::Change {
            subject_side: side("renamed", "adores", &[PERSON]),
            object_side: side("renamed_too", "is adored by", &[PERSON]),
            copiable: true,
        })
        .then([Event::Changed(pb::RelationTypeChanged {
            subject_side: Some(side("likes", "adores", &[PERSON])),
            object_side: Some(side("liked_by", "is adored by", &[PERSON])),
            copiable: true,
        })]);
    assert_eq!(edited.subject_side.id, "likes");
    assert_eq!(edited.subject_side.label, "adores");
    assert_eq!(edited.object_side.id, "liked_by");
    assert_eq!(edited.object_side.kinds, vec![PERSON.to_owned()]);
}

#[test]
fn an_edit_that_changes_nothing_records_nothing() {
    let existing = type_with([custom_created()]);
    let state = existing.state().clone();
    existing
        .when(Command::Change {
            subject_side: state.subject_side.clone(),
            object_side: state.object_side.clone(),
            copiable: true,
        })
        .then_nothing();
}

#[test]
fn a_deleted_type_is_gone() {
    let deleted = type_with([custom_created()])
        .when(Command::Delete {
            relations_removed: 3,
        })
        .then([Event::Deleted(pb::RelationTypeDeleted {
            relations_removed: 3,
        })]);
    assert!(!deleted.is_live());
    let error = type_with([
        custom_created(),
        Event::Deleted(pb::RelationTypeDeleted {
            relations_removed: 3,
        }),
    ])
    .when(Command::SetEnabled(false))
    .then_err();
    assert!(matches!(error, RelationsError::NotFound { .. }));
}

#[test]
fn sides_are_checked_and_tidied() {
    let side = normalise_side(
        "subject_side",
        Some(pb::PredicateSide {
            id: " Bad Id ".into(),
            label: "x".into(),
            ..Default::default()
        }),
        None,
    )
    .expect_err("bad id");
    assert!(side.to_string().starts_with("subject_side.id:"), "{side}");

    let tidy = normalise_side(
        "object_side",
        Some(pb::PredicateSide {
            id: String::new(),
            label: "  has prospect ".into(),
            kinds: vec![ORGANISATION.into(), ORGANISATION.into()],
            required_tags: vec![" vip ".into()],
            forbidden_tags: Vec::new(),
        }),
        Some("generated".into()),
    )
    .expect("valid");
    assert_eq!(tidy.id, "generated");
    assert_eq!(tidy.label, "has prospect");
    assert_eq!(tidy.kinds, vec![ORGANISATION.to_owned()]);
    assert_eq!(tidy.required_tags, vec!["vip".to_owned()]);

    for (bad, field) in [
        (
            pb::PredicateSide {
                label: String::new(),
                ..Default::default()
            },
            "s.label",
        ),
        (
            pb::PredicateSide {
                label: "x".repeat(101),
                ..Default::default()
            },
            "s.label",
        ),
        (
            pb::PredicateSide {
                label: "x".into(),
                kinds: vec!["person".into()],
                ..Default::default()
            },
            "s.kinds[0]",
        ),
        (
            pb::PredicateSide {
                label: "x".into(),
                required_tags: vec!["vip".into()],
                forbidden_tags: vec!["VIP".into()],
                ..Default::default()
            },
            "s.forbidden_tags",
        ),
    ] {
        let error = normalise_side("s", Some(bad), Some("id".into())).expect_err("invalid");
        assert!(
            error.to_string().starts_with(&format!("{field}:")),
            "{error}"
        );
    }
}

#[test]
fn built_in_predicate_ids_are_unique() {
    let mut ids: Vec<String> = builtins()
        .iter()
        .flat_map(|b| {
            let subject = b.subject_side.clone().unwrap_or_default().id;
            let object = b.object_side.clone().unwrap_or_default().id;
            if b.symmetric_to_itself {
                vec![subject]
            } else {
                vec![subject, object]
            }
        })
        .collect();
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count);
    assert!(ids.contains(&"employed_by".to_owned()) && ids.contains(&"has_prospect".to_owned()));
}
