//! Given events, when a command, then events or an error.

use liaison_eventstore::testing::{given, Then};
use liaison_proto::contacts::v1::{Email, ExternalRef};

use super::*;

const ID: &str = "0190b5d2-0000-7000-8000-000000000001";
const OTHER: &str = "0190b5d2-0000-7000-8000-000000000002";

fn marcel() -> ContactData {
    ContactData {
        given_name: "Marcel".into(),
        family_name: "Dupont".into(),
        emails: vec![Email {
            address: "marcel@untel.fr".into(),
            primary: true,
            ..Default::default()
        }],
        tags: vec!["vip".into()],
        external_refs: vec![ExternalRef {
            source: "alumni".into(),
            external_id: "42".into(),
        }],
        ..Default::default()
    }
}

fn created(kind: Kind, data: ContactData) -> Event {
    Event::Created(ContactCreated {
        kind: kind.to_proto() as i32,
        data: Some(data),
        shared_email_allowed: false,
    })
}

/// Why a command was refused as a failed precondition.
fn precondition(then: Then<Contact>) -> String {
    match then.then_err() {
        ContactsError::FailedPrecondition(message) => message,
        other => panic!("expected a failed precondition, got {other:?}"),
    }
}

/// Why a merge was refused as a failed precondition.
fn merge_precondition<T: std::fmt::Debug>(result: Result<T, ContactsError>) -> String {
    match result {
        Err(ContactsError::FailedPrecondition(message)) => message,
        other => panic!("expected a failed precondition, got {other:?}"),
    }
}

#[test]
fn creates_a_person() {
    let state = given::<Contact>(ID, vec![])
        .when(Command::Create {
            kind: Kind::Person,
            data: marcel(),
            allow_shared_email: false,
        })
        .then([created(Kind::Person, marcel())]);
    assert_eq!(state.kind, Some(Kind::Person));
    assert_eq!(state.lifecycle, Lifecycle::Live);
    assert_eq!(
        event_type(Kind::Person, &created(Kind::Person, marcel())),
        "person.created"
    );
}

#[test]
fn refuses_to_create_twice() {
    let scenario = given::<Contact>(ID, vec![created(Kind::Person, marcel())]);
    let message = precondition(scenario.when(Command::Create {
        kind: Kind::Person,
        data: marcel(),
        allow_shared_email: false,
    }));
    assert!(message.contains("already exists"));
}

#[test]
fn update_records_only_changed_fields() {
    let mut proposed = marcel();
    proposed.job_title = "Salesman".into();
    proposed.emails[0].label = "work".into();
    let events = given::<Contact>(ID, vec![created(Kind::Person, marcel())])
        .when(Command::Update {
            proposed,
            allow_shared_email: false,
        })
        .events();
    let [Event::Updated(updated)] = events.as_slice() else {
        panic!("one update expected: {events:?}")
    };
    assert_eq!(updated.changed, vec!["job_title", "emails"]);
    let data = updated.data.clone().unwrap_or_default();
    assert_eq!(data.job_title, "Salesman");
    assert!(
        data.given_name.is_empty(),
        "unchanged fields are not repeated"
    );
}

#[test]
fn update_without_change_records_nothing() {
    given::<Contact>(ID, vec![created(Kind::Person, marcel())])
        .when(Command::Update {
            proposed: marcel(),
            allow_shared_email: false,
        })
        .then_nothing();
}

#[test]
fn update_of_a_missing_or_trashed_contact_is_refused() {
    let missing = given::<Contact>(ID, vec![])
        .when(Command::Update {
            proposed: marcel(),
            allow_shared_email: false,
        })
        .then_err();
    assert!(matches!(missing, ContactsError::NotFound { .. }));
    let trashed = given::<Contact>(
        ID,
        vec![
            created(Kind::Person, marcel()),
            Event::Trashed(ContactTrashed {}),
        ],
    );
    let message = precondition(trashed.when(Command::Update {
        proposed: marcel(),
        allow_shared_email: false,
    }));
    assert!(message.contains("in the trash"), "{message}");
}

#[test]
fn trash_restore_purge_follow_the_lifecycle() {
    let live = given::<Contact>(ID, vec![created(Kind::Person, marcel())]);
    live.when(Command::Trash)
        .then([Event::Trashed(ContactTrashed {})]);
    assert!(precondition(live.when(Command::Purge)).contains("must be in the trash"));
    assert!(precondition(live.when(Command::Restore)).contains("not in the trash"));

    let trashed = given::<Contact>(
        ID,
        vec![
            created(Kind::Person, marcel()),
            Event::Trashed(ContactTrashed {}),
        ],
    );
    trashed
        .when(Command::Restore)
        .then([Event::Restored(ContactRestored {})]);
    trashed
        .when(Command::Purge)
        .then([Event::Purged(ContactPurged {})]);

    let purged = given::<Contact>(
        ID,
        vec![
            created(Kind::Person, marcel()),
            Event::Trashed(ContactTrashed {}),
            Event::Purged(ContactPurged {}),
        ],
    );
    assert!(matches!(
        purged.when(Command::Trash).then_err(),
        ContactsError::NotFound { .. }
    ));
}

#[test]
fn only_persons_are_erased_and_only_once() {
    let person = given::<Contact>(ID, vec![created(Kind::Person, marcel())]);
    let erasure = Event::Erased(PersonErased {
        reason: "gdpr 12".into(),
    });
    person
        .when(Command::Erase {
            reason: "gdpr 12".into(),
        })
        .then([erasure.clone()]);

    let erased = given::<Contact>(ID, vec![created(Kind::Person, marcel()), erasure]);
    assert_eq!(
        erased.state().data,
        ContactData::default(),
        "no personal data left in state"
    );
    assert!(precondition(erased.when(Command::Erase {
        reason: String::new()
    }))
    .contains("already erased"));

    let organisation = given::<Contact>(
        ID,
        vec![created(
            Kind::Organisation,
            ContactData {
                organisation_name: "UnTel".into(),
                ..Default::default()
            },
        )],
    );
    assert!(precondition(organisation.when(Command::Erase {
        reason: String::new()
    }))
    .contains("only persons"));

    let purged = given::<Contact>(
        ID,
        vec![
            created(Kind::Person, marcel()),
            Event::Trashed(ContactTrashed {}),
            Event::Purged(ContactPurged {}),
        ],
    );
    let after = purged
        .when(Command::Erase {
            reason: String::new(),
        })
        .then([Event::Erased(PersonErased {
            reason: String::new(),
        })]);
    assert_eq!(
        after.lifecycle,
        Lifecycle::Erased,
        "a purged person can still be erased"
    );
}

#[test]
fn merge_gives_the_survivor_everything_it_lacks() {
    let mut other = marcel();
    other.emails = vec![
        Email {
            address: "MARCEL@untel.fr".into(),
            primary: true,
            ..Default::default()
        },
        Email {
            address: "m@perso.fr".into(),
            primary: false,
            ..Default::default()
        },
    ];
    other.tags = vec!["VIP".into(), "alumni".into()];
    other.external_refs = vec![ExternalRef {
        source: "crm-old".into(),
        external_id: "7".into(),
    }];
    let survivor = given::<Contact>(ID, vec![created(Kind::Person, marcel())])
        .state()
        .clone();
    let merged = given::<Contact>(OTHER, vec![created(Kind::Person, other)])
        .state()
        .clone();

    let (survivor_events, merged_events) = decide_merge(&survivor, &merged).expect("merge");
    assert_eq!(
        merged_events,
        vec![Event::Merged(ContactMerged {
            survivor_id: ID.into()
        })]
    );
    let [Event::Absorbed(absorbed)] = survivor_events.as_slice() else {
        panic!("absorbed expected")
    };
    assert_eq!(absorbed.emails.len(), 1);
    assert_eq!(absorbed.emails[0].address, "m@perso.fr");
    assert_eq!(absorbed.tags, vec!["alumni"]);
    assert_eq!(absorbed.external_refs.len(), 1);

    let after = evolve(survivor, &survivor_events[0], 9);
    assert_eq!(after.data.emails.len(), 2);
    assert_eq!(after.data.emails.iter().filter(|e| e.primary).count(), 1);
    assert_eq!(after.data.external_refs.len(), 2);
}

#[test]
fn merge_refuses_itself_other_kinds_and_dead_contacts() {
    let person = given::<Contact>(ID, vec![created(Kind::Person, marcel())])
        .state()
        .clone();
    assert!(matches!(
        decide_merge(&person, &person),
        Err(ContactsError::InvalidArgument { .. })
    ));
    let organisation = given::<Contact>(
        OTHER,
        vec![created(
            Kind::Organisation,
            ContactData {
                organisation_name: "UnTel".into(),
                ..Default::default()
            },
        )],
    )
    .state()
    .clone();
    let result = decide_merge(&person, &organisation);
    assert!(merge_precondition(result).contains("same kind"));
    let trashed = given::<Contact>(
        OTHER,
        vec![
            created(Kind::Person, marcel()),
            Event::Trashed(ContactTrashed {}),
        ],
    )
    .state()
    .clone();
    let result = decide_merge(&person, &trashed);
    assert!(merge_precondition(result).contains("in the trash"));
}
