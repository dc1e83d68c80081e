//! Events already in users' logs must stay readable: payloads recorded with
//! schema version 1 decode to what they meant, whatever the proto becomes.

use liaison_contacts::domain::category::Category;
use liaison_contacts::domain::contact::{Contact, Kind, Lifecycle};
use liaison_eventstore::testing::{given, Fixtures};
use liaison_proto::contacts::v1::{category_event, contact_event};

fn fixtures() -> Fixtures {
    Fixtures::parse(include_str!("fixtures/events-v1.txt"))
}

#[test]
fn version_1_contact_events_decode_and_replay() {
    let fixtures = fixtures();
    let replayed = given::<Contact>(
        "01a2f000-0000-7000-8000-000000000003",
        [
            fixtures.event::<Contact>("person.created"),
            fixtures.event::<Contact>("person.updated"),
        ],
    );
    let person = replayed.state().clone();
    assert_eq!(person.kind, Some(Kind::Person));
    assert_eq!(person.version, 2);
    assert_eq!(
        (
            person.data.given_name.as_str(),
            person.data.family_name.as_str()
        ),
        ("Marcel", "Dupont")
    );
    assert_eq!(person.data.job_title, "Salesman");
    assert_eq!(person.data.emails[0].address, "marcel@untel.fr");
    assert!(person.data.emails[0].primary);
    assert_eq!(person.data.phones[0].number, "+33612345678");
    assert_eq!(person.data.tags, vec!["vip"]);
    assert_eq!(person.data.external_refs[0].source, "alumni-feed");
    assert_eq!(
        person.data.category_id,
        "01a2f000-0000-7000-8000-000000000001"
    );

    let merged = given::<Contact>(
        "01a2f000-0000-7000-8000-000000000003",
        ["person.created", "person.updated", "person.merged"].map(|t| fixtures.event::<Contact>(t)),
    )
    .state()
    .clone();
    assert_eq!(
        merged.lifecycle,
        Lifecycle::Merged {
            survivor_id: "01a2f000-0000-7000-8000-000000000002".into()
        }
    );
    let contact_event::Event::Erased(erased) = fixtures.event::<Contact>("person.erased") else {
        panic!("an erasure")
    };
    assert_eq!(erased.reason, "request 2026-114");
}

#[test]
fn version_1_category_events_decode() {
    let fixtures = fixtures();
    let category_event::Event::Created(created) = fixtures.event::<Category>("category.created")
    else {
        panic!("a category creation")
    };
    assert_eq!(
        (created.name.as_str(), created.description.as_str()),
        ("Alumni", "former students")
    );
}
