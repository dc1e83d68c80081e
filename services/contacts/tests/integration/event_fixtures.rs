//! Events already in users' logs must stay readable: payloads recorded with
//! schema version 1 decode to what they meant, whatever the proto becomes.

use liaison_contacts::domain::contact::{evolve, Contact, Kind, Lifecycle};
use liaison_proto::contacts::v1::{category_event, contact_event, CategoryEvent, ContactEvent};
use prost::Message;

fn fixtures() -> Vec<(String, Vec<u8>)> {
    include_str!("fixtures/events-v1.txt")
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (event_type, hex) = line.split_once(' ').expect("type and payload");
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
                .collect();
            (event_type.to_owned(), bytes)
        })
        .collect()
}

fn contact_event(fixtures: &[(String, Vec<u8>)], event_type: &str) -> contact_event::Event {
    let (_, bytes) = fixtures
        .iter()
        .find(|(t, _)| t == event_type)
        .expect("fixture present");
    ContactEvent::decode(bytes.as_slice())
        .expect("decodes")
        .event
        .expect("an event")
}

#[test]
fn version_1_contact_events_decode_and_replay() {
    let fixtures = fixtures();
    let created = contact_event(&fixtures, "person.created");
    let updated = contact_event(&fixtures, "person.updated");
    let person = [created, updated].iter().fold(
        Contact::new("01a2f000-0000-7000-8000-000000000003"),
        |c, e| evolve(c, e, 1),
    );
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

    let merged = evolve(
        person.clone(),
        &contact_event(&fixtures, "person.merged"),
        2,
    );
    assert_eq!(
        merged.lifecycle,
        Lifecycle::Merged {
            survivor_id: "01a2f000-0000-7000-8000-000000000002".into()
        }
    );
    let contact_event::Event::Erased(erased) = contact_event(&fixtures, "person.erased") else {
        panic!("an erasure")
    };
    assert_eq!(erased.reason, "request 2026-114");
}

#[test]
fn version_1_category_events_decode() {
    let fixtures = fixtures();
    let (_, bytes) = fixtures
        .iter()
        .find(|(t, _)| t == "category.created")
        .expect("fixture");
    let Some(category_event::Event::Created(created)) = CategoryEvent::decode(bytes.as_slice())
        .expect("decodes")
        .event
    else {
        panic!("a category creation")
    };
    assert_eq!(
        (created.name.as_str(), created.description.as_str()),
        ("Alumni", "former students")
    );
}
