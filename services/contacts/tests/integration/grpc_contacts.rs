//! The contacts service through gRPC, on a real server, on SQLite and PostgreSQL.

use crate::support::{
    expect_code, field_of, on_both_backends, organisation, person, Backend, Server,
};
use liaison_proto::contacts::v1 as pb;
use tonic::Code;

async fn creates_gets_and_lists_persons(backend: Backend) {
    let server = Server::start(backend).await;
    let mut client = server.client.clone();
    let mut request = person(" Marcel ", "Dupont", "Marcel@UnTel.FR");
    request.phones = vec![pb::Phone {
        number: "06 12 34 56 78".into(),
        country: "fr".into(),
        ..Default::default()
    }];
    request.tags = vec!["vip".into()];
    let created = client
        .create_person(request)
        .await
        .expect("create")
        .into_inner();
    assert_eq!(created.given_name, "Marcel");
    assert_eq!(created.version, 1);
    assert_eq!(created.emails[0].address, "Marcel@untel.fr");
    assert!(created.emails[0].primary);
    assert_eq!(created.phones[0].number, "+33612345678");
    assert_eq!(created.phones[0].country, "FR");

    let fetched = client
        .get_person(pb::GetContactRequest {
            id: created.id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(fetched, created, "a caller reads its own write");

    let listed = client
        .list_persons(pb::ListContactsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.total_count, 1);
    assert_eq!(listed.persons[0].id, created.id);
}

async fn bad_input_is_refused_with_the_field_and_value(backend: Backend) {
    let server = Server::start(backend).await;
    let mut client = server.client.clone();
    let status = expect_code(
        client
            .create_person(person("Marcel", "Dupont", "marcel@"))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "emails[0].address");
    assert!(
        status.message().contains("\"marcel@\""),
        "{}",
        status.message()
    );

    let status = expect_code(
        client.create_person(person("", " ", "")).await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "family_name");

    let status = expect_code(
        client
            .create_person(person(&"a".repeat(300), "Dupont", ""))
            .await,
        Code::InvalidArgument,
    );
    assert!(status.message().contains("300 characters"));

    let mut unknown_category = person("Marcel", "Dupont", "");
    unknown_category.category_id = uuid::Uuid::now_v7().to_string();
    let status = expect_code(
        client.create_person(unknown_category).await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "category_id");

    let status = expect_code(
        client
            .get_person(pb::GetContactRequest { id: "42".into() })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "id");
    expect_code(
        client
            .get_person(pb::GetContactRequest {
                id: uuid::Uuid::now_v7().to_string(),
            })
            .await,
        Code::NotFound,
    );
    let status = expect_code(
        client
            .list_persons(pb::ListContactsRequest {
                page_size: 10_000,
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "page_size");
    let status = expect_code(
        client
            .list_persons(pb::ListContactsRequest {
                page_token: "garbage".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "page_token");

    let listed = client
        .list_persons(pb::ListContactsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.total_count, 0, "nothing was half-written");
}

async fn an_email_of_another_live_person_is_refused_unless_allowed(backend: Backend) {
    let server = Server::start(backend).await;
    let mut client = server.client.clone();
    let first = client
        .create_person(person("Marcel", "Dupont", "marcel@untel.fr"))
        .await
        .expect("first")
        .into_inner();
    let status = expect_code(
        client
            .create_person(person("Marcelle", "Durand", "MARCEL@untel.fr"))
            .await,
        Code::AlreadyExists,
    );
    assert!(
        status.message().contains(&first.id),
        "names the other person: {}",
        status.message()
    );

    let mut shared = person("Marcelle", "Durand", "marcel@untel.fr");
    shared.allow_shared_email = true;
    client
        .create_person(shared)
        .await
        .expect("allowed when asked");

    // An organisation may share a person's address.
    let mut org = organisation("UnTel");
    org.emails = vec![pb::Email {
        address: "marcel@untel.fr".into(),
        ..Default::default()
    }];
    client.create_organisation(org).await.expect("organisation");

    let found = client
        .find_by_email(pb::FindByEmailRequest {
            email: "Marcel@UnTel.fr".into(),
        })
        .await
        .expect("find")
        .into_inner();
    assert_eq!(found.contacts.len(), 3);
}

async fn partial_update_changes_only_what_is_set_and_checks_versions(backend: Backend) {
    let server = Server::start(backend).await;
    let mut client = server.client.clone();
    let created = client
        .create_person(person("Marcel", "Dupont", "marcel@untel.fr"))
        .await
        .expect("create")
        .into_inner();
    let updated = client
        .update_person(pb::UpdatePersonRequest {
            id: created.id.clone(),
            expected_version: Some(1),
            job_title: Some("Salesman".into()),
            tags: Some(pb::TagList {
                items: vec!["alumni".into()],
            }),
            ..Default::default()
        })
        .await
        .expect("update")
        .into_inner();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.job_title, "Salesman");
    assert_eq!(updated.given_name, "Marcel", "unset fields are kept");
    assert_eq!(updated.emails, created.emails);

    let status = expect_code(
        client
            .update_person(pb::UpdatePersonRequest {
                id: created.id.clone(),
                expected_version: Some(1),
                notes: Some("stale".into()),
                ..Default::default()
            })
            .await,
        Code::Aborted,
    );
    assert!(
        status.message().contains("expected version 1, found 2"),
        "{}",
        status.message()
    );

    let status = expect_code(
        client
            .update_organisation(pb::UpdateOrganisationRequest {
                id: created.id.clone(),
                name: Some("x".into()),
                ..Default::default()
            })
            .await,
        Code::NotFound,
    );
    assert!(status.message().contains("organisation"));

    let status = expect_code(
        client
            .update_person(pb::UpdatePersonRequest {
                id: created.id.clone(),
                emails: Some(pb::EmailList {
                    items: vec![pb::Email {
                        address: "nope".into(),
                        ..Default::default()
                    }],
                }),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "emails[0].address");
    let after = client
        .get_person(pb::GetContactRequest { id: created.id })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(after.version, 2, "a refused update writes nothing");
}

async fn trash_restore_and_purge(backend: Backend) {
    let server = Server::start(backend).await;
    let mut client = server.client.clone();
    let created = client
        .create_person(person("Marcel", "Dupont", ""))
        .await
        .expect("create")
        .into_inner();
    let id = created.id.clone();
    let version = |id: &str| pb::ContactVersionRequest {
        id: id.to_owned(),
        expected_version: None,
    };

    expect_code(
        client.purge_contact(version(&id)).await,
        Code::FailedPrecondition,
    );
    client.trash_contact(version(&id)).await.expect("trash");
    let live = client
        .list_persons(pb::ListContactsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(live.total_count, 0, "the trash is hidden from lists");
    let trash = client
        .list_persons(pb::ListContactsRequest {
            trash: pb::TrashFilter::OnlyTrash as i32,
            ..Default::default()
        })
        .await
        .expect("trash list")
        .into_inner();
    assert_eq!(trash.persons.len(), 1);
    assert!(trash.persons[0].in_trash);

    client.restore_contact(version(&id)).await.expect("restore");
    assert_eq!(
        client
            .list_persons(pb::ListContactsRequest::default())
            .await
            .expect("list")
            .into_inner()
            .total_count,
        1
    );

    client
        .trash_contact(version(&id))
        .await
        .expect("trash again");
    client.purge_contact(version(&id)).await.expect("purge");
    expect_code(
        client
            .get_person(pb::GetContactRequest { id: id.clone() })
            .await,
        Code::NotFound,
    );
    expect_code(client.restore_contact(version(&id)).await, Code::NotFound);
}

/// Objects to the purge of one entity, and is unreachable for another.
struct Guard {
    held: String,
    unreachable: String,
}

#[async_trait::async_trait]
impl liaison_contacts::PurgeGuard for Guard {
    async fn objection(
        &self,
        entity: &liaison_proto::common::v1::EntityRef,
    ) -> Result<Option<String>, liaison_contacts::ContactsError> {
        assert_eq!(entity.kind, "contacts.organisation");
        if entity.id == self.unreachable {
            return Err(liaison_contacts::ContactsError::Unavailable(
                "relations service unreachable".into(),
            ));
        }
        Ok((entity.id == self.held).then(|| "it still has 1 internal relation".to_owned()))
    }
}

async fn a_purge_waits_for_the_guards_consent(backend: Backend) {
    let server = Server::start(backend).await;
    let mut client = server.client.clone();
    let mut ids = Vec::new();
    for name in ["Held", "Unreachable", "Free"] {
        let created = client
            .create_organisation(organisation(name))
            .await
            .expect("create")
            .into_inner();
        let request = pb::ContactVersionRequest {
            id: created.id.clone(),
            expected_version: None,
        };
        client.trash_contact(request).await.expect("trash");
        ids.push(created.id);
    }
    server
        .service
        .app()
        .set_purge_guard(std::sync::Arc::new(Guard {
            held: ids[0].clone(),
            unreachable: ids[1].clone(),
        }));
    let purge = |id: &str| pb::ContactVersionRequest {
        id: id.to_owned(),
        expected_version: None,
    };
    let status = expect_code(
        client.purge_contact(purge(&ids[0])).await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        status.message(),
        format!(
            "organisation {} cannot be purged: it still has 1 internal relation",
            ids[0]
        )
    );
    expect_code(
        client.purge_contact(purge(&ids[1])).await,
        Code::Unavailable,
    );
    client
        .purge_contact(purge(&ids[2]))
        .await
        .expect("free to go");
    for (id, kept) in [(&ids[0], true), (&ids[1], true), (&ids[2], false)] {
        let found = client
            .get_organisation(pb::GetContactRequest { id: id.clone() })
            .await;
        assert_eq!(found.is_ok(), kept, "{id}");
    }
}

async fn merge_keeps_everything_on_the_survivor(backend: Backend) {
    let server = Server::start(backend).await;
    let mut client = server.client.clone();
    let mut first = person("Marcel", "Dupont", "marcel@untel.fr");
    first.tags = vec!["vip".into()];
    let survivor = client
        .create_person(first)
        .await
        .expect("survivor")
        .into_inner();
    let mut second = person("M.", "Dupont", "m.dupont@perso.fr");
    second.tags = vec!["alumni".into()];
    second.external_refs = vec![pb::ExternalRef {
        source: "alumni-feed".into(),
        external_id: "17".into(),
    }];
    second.phones = vec![pb::Phone {
        number: "+33 6 12 34 56 78".into(),
        ..Default::default()
    }];
    let merged = client
        .create_person(second)
        .await
        .expect("merged")
        .into_inner();

    let result = client
        .merge_contacts(pb::MergeContactsRequest {
            survivor_id: survivor.id.clone(),
            merged_id: merged.id.clone(),
        })
        .await
        .expect("merge")
        .into_inner();
    let Some(pb::contact::Contact::Person(after)) = result.contact else {
        panic!("a person")
    };
    let emails: Vec<_> = after.emails.iter().map(|e| e.address.as_str()).collect();
    assert_eq!(emails, vec!["marcel@untel.fr", "m.dupont@perso.fr"]);
    assert_eq!(after.tags, vec!["vip", "alumni"]);
    assert_eq!(after.external_refs.len(), 1);
    assert_eq!(after.phones[0].number, "+33612345678");

    let gone = client
        .get_person(pb::GetContactRequest {
            id: merged.id.clone(),
        })
        .await
        .expect("get merged")
        .into_inner();
    assert_eq!(gone.merged_into, survivor.id);
    let by_ref = client
        .find_by_external_ref(pb::FindByExternalRefRequest {
            source: "alumni-feed".into(),
            external_id: "17".into(),
        })
        .await
        .expect("by ref")
        .into_inner();
    let Some(pb::contact::Contact::Person(holder)) = by_ref.contact else {
        panic!("a person")
    };
    assert_eq!(holder.id, survivor.id);
    let by_email = client
        .find_by_email(pb::FindByEmailRequest {
            email: "m.dupont@perso.fr".into(),
        })
        .await
        .expect("by email")
        .into_inner();
    assert_eq!(by_email.contacts.len(), 1);
    let listed = client
        .list_persons(pb::ListContactsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(
        listed.total_count, 1,
        "the merged person is no longer listed"
    );

    let org = client
        .create_organisation(organisation("UnTel"))
        .await
        .expect("org")
        .into_inner();
    expect_code(
        client
            .merge_contacts(pb::MergeContactsRequest {
                survivor_id: survivor.id.clone(),
                merged_id: org.id,
            })
            .await,
        Code::FailedPrecondition,
    );
    expect_code(
        client
            .merge_contacts(pb::MergeContactsRequest {
                survivor_id: survivor.id.clone(),
                merged_id: survivor.id,
            })
            .await,
        Code::InvalidArgument,
    );
}

async fn external_references_are_unique(backend: Backend) {
    let server = Server::start(backend).await;
    let mut client = server.client.clone();
    let reference = pb::ExternalRef {
        source: "alumni-feed".into(),
        external_id: "17".into(),
    };
    let mut first = person("Marcel", "Dupont", "");
    first.external_refs = vec![reference.clone()];
    let holder = client
        .create_person(first)
        .await
        .expect("first")
        .into_inner();
    let mut second = organisation("UnTel");
    second.external_refs = vec![reference];
    let status = expect_code(
        client.create_organisation(second).await,
        Code::AlreadyExists,
    );
    assert!(
        status.message().contains(&holder.id) && status.message().contains("alumni-feed/17"),
        "{}",
        status.message()
    );
    expect_code(
        client
            .find_by_external_ref(pb::FindByExternalRefRequest {
                source: "alumni-feed".into(),
                external_id: "18".into(),
            })
            .await,
        Code::NotFound,
    );
}

/// Commands that arrive together are committed together; the rules still
/// hold between them: of many persons created at once with one email, one
/// wins, and every other is refused as if it had come alone.
async fn concurrent_creates_keep_the_rules_between_them(backend: Backend) {
    let server = Server::start(backend).await;
    let mut tasks = Vec::new();
    for index in 0..24 {
        let mut client = server.client.clone();
        tasks.push(tokio::spawn(async move {
            let email = if index % 3 == 0 {
                "same@example.org".to_owned()
            } else {
                format!("own{index}@example.org")
            };
            let mut request = person("Same", &format!("Time{index}"), &email);
            request.external_refs = vec![pb::ExternalRef {
                source: "crm".into(),
                external_id: if index % 3 == 1 {
                    "shared-ref".into()
                } else {
                    format!("ref-{index}")
                },
            }];
            client.create_person(request).await
        }));
    }
    let mut created = 0;
    let mut refused = Vec::new();
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => created += 1,
            Err(status) => refused.push(status),
        }
    }
    // 8 share an email, 8 others a reference: one of each group wins.
    assert_eq!(created, 24 - 14, "refused: {refused:?}");
    assert!(
        refused.iter().all(|s| s.code() == Code::AlreadyExists),
        "{refused:?}"
    );
    let mut client = server.client.clone();
    let listed = client
        .list_persons(pb::ListContactsRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert_eq!(listed.total_count, created);
}

on_both_backends!(
    a_purge_waits_for_the_guards_consent,
    concurrent_creates_keep_the_rules_between_them,
    creates_gets_and_lists_persons,
    bad_input_is_refused_with_the_field_and_value,
    an_email_of_another_live_person_is_refused_unless_allowed,
    partial_update_changes_only_what_is_set_and_checks_versions,
    trash_restore_and_purge,
    merge_keeps_everything_on_the_survivor,
    external_references_are_unique,
);
