//! Users' events already in the gateway's log must stay readable: payloads
//! recorded with schema version 1 decode and replay to the account they
//! made, whatever the proto becomes.

use liaison_eventstore::testing::{given, Fixtures};
use liaison_gateway::accounts::events::Account;
use liaison_gateway::accounts::user::{Permission, Role};
use liaison_proto::gateway::v1 as pb;

fn fixtures() -> Fixtures {
    Fixtures::parse(include_str!("fixtures/events-v1.txt"))
}

fn replay(event_types: &[&str]) -> Account {
    let fixtures = fixtures();
    given::<Account>(
        "01a2f000-0000-7000-8000-0000000000u1",
        event_types
            .iter()
            .map(|event_type| fixtures.event::<Account>(event_type)),
    )
    .state()
    .clone()
}

#[test]
fn every_version_1_user_event_decodes() {
    let fixtures = fixtures();
    let types: Vec<&str> = fixtures.event_types().collect();
    assert_eq!(types.len(), 10, "one fixture per user event: {types:?}");
    for event_type in types {
        fixtures.event::<Account>(event_type);
    }
}

#[test]
fn version_1_user_events_replay_to_the_account_they_made() {
    let created = replay(&["user.created"]).user.expect("created");
    assert_eq!(
        (created.email.as_str(), created.display_name.as_str()),
        ("ada@example.org", "Ada")
    );
    assert_eq!(created.role, Role::Staff);

    let user = replay(&[
        "user.created",
        "user.profile_changed",
        "user.session_started",
        "user.token_created",
    ])
    .user
    .expect("user");
    assert_eq!(user.display_name, "Ada Lovelace");
    assert!(user.sessions.contains("s-hash-1"));
    assert_eq!(user.tokens.get("t-1"), Some(&false));

    let user = replay(&[
        "user.created",
        "user.session_started",
        "user.token_created",
        "user.token_revoked",
        "user.role_changed",
        "user.disabled",
    ])
    .user
    .expect("user");
    assert_eq!(user.role, Role::Admin);
    assert!(user.disabled);
    assert!(user.sessions.is_empty(), "a role change ends every session");
    assert_eq!(user.tokens.get("t-1"), Some(&true));

    let user = replay(&[
        "user.created",
        "user.disabled",
        "user.enabled",
        "user.session_started",
        "user.session_ended",
        "user.password_changed",
    ])
    .user
    .expect("user");
    assert!(!user.disabled && user.sessions.is_empty());
    let pb::user_event::Event::PasswordChanged(changed) =
        fixtures().event::<Account>("user.password_changed")
    else {
        panic!("a password change")
    };
    assert!(changed.password_hash.starts_with("$argon2id$"));
}

#[test]
fn a_version_2_grant_replays_to_the_permission_it_gave() {
    let v1 = fixtures();
    let v2 = Fixtures::parse(include_str!("fixtures/events-v2.txt"));
    let user = given::<Account>(
        "01a2f000-0000-7000-8000-0000000000u1",
        [
            v1.event::<Account>("user.created"),
            v2.event::<Account>("user.permissions_changed"),
        ],
    )
    .state()
    .clone()
    .user
    .expect("user");
    assert!(user.permissions.contains(&Permission::Destroy));
    assert!(Permission::Destroy.held_by(user.role, &user.permissions));
}
