//! The operations a relation picker, a clean-up and a duplicate need: a
//! create that returns the relations it found, deleting by triple or by
//! predicate from one entity, the candidate objects of a subject and
//! predicate, and copying the copiable relations to a duplicate.

use std::collections::HashSet;

use crate::support::*;
use liaison_proto::common::v1::EntityRef;
use liaison_proto::relations::v1 as pb;
use tonic::Code;

on_both_backends!(
    a_create_skipping_existing_triples_returns_the_relations_holding_them,
    a_relation_is_deleted_by_its_triple_from_either_side,
    relations_of_one_predicate_are_deleted_from_an_entity_narrowed_by_kind,
    candidates_fit_the_predicate_and_are_not_yet_related,
    a_copy_takes_the_copiable_relations_of_its_source,
    both_ends_record_who_added_and_removed_their_relations,
);

async fn a_create_skipping_existing_triples_returns_the_relations_holding_them(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("A", &[]).await;
    let b = server.contacts.organisation("B", &[]).await;
    let c = server.contacts.organisation("C", &[]).await;
    let client = &mut server.client;
    let first = client
        .create_relation(create(&a, "customer_of", &b))
        .await
        .expect("first")
        .into_inner();
    let outcome = client
        .create_relations(pb::CreateRelationsRequest {
            triples: vec![
                triple(&b, "supplier_of", &a),
                triple(&a, "customer_of", &b),
                triple(&a, "customer_of", &c),
                triple(&a, "customer_of", &c),
            ],
            skip_existing: true,
        })
        .await
        .expect("created or found")
        .into_inner();
    assert_eq!(outcome.relations.len(), 1);
    assert_eq!(outcome.skipped, 3);
    let new = &outcome.relations[0];
    let existing: Vec<&str> = outcome.existing.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        existing,
        [first.id.as_str(), new.id.as_str()],
        "each holder once, in the order asked"
    );
    assert_eq!(outcome.existing[0].predicate, "customer_of", "as created");
}

async fn a_relation_is_deleted_by_its_triple_from_either_side(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("Acme", &[]).await;
    let b = server.contacts.organisation("Cobalt SA", &[]).await;
    let client = &mut server.client;
    let created = client
        .create_relation(create(&b, "prospect_of", &a))
        .await
        .expect("create")
        .into_inner();
    let delete =
        |subject: &EntityRef, predicate: &str, object: &EntityRef| pb::DeleteTripleRequest {
            subject: Some(subject.clone()),
            predicate: predicate.into(),
            object: Some(object.clone()),
        };
    // Named by its mirror.
    let deleted = client
        .delete_triple(delete(&a, "has_prospect", &b))
        .await
        .expect("delete")
        .into_inner();
    assert_eq!(deleted.relation_id, created.id);
    assert!(relations_of(client, &a).await.is_empty());
    assert!(relations_of(client, &b).await.is_empty());
    let status = expect_code(
        client.delete_triple(delete(&b, "prospect_of", &a)).await,
        Code::NotFound,
    );
    assert_eq!(
        status.message(),
        "relation \"Cobalt SA is a prospect of Acme\" not found"
    );
    let status = expect_code(
        client
            .delete_triple(delete(&b, "no_such_predicate", &a))
            .await,
        Code::NotFound,
    );
    assert!(
        status.message().contains("no_such_predicate"),
        "{}",
        status.message()
    );
    let status = expect_code(
        client
            .delete_triple(pb::DeleteTripleRequest {
                subject: None,
                ..delete(&b, "prospect_of", &a)
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "subject");
}

async fn relations_of_one_predicate_are_deleted_from_an_entity_narrowed_by_kind(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("A", &[]).await;
    let b = server.contacts.organisation("B", &[]).await;
    let c = server.contacts.organisation("C", &[]).await;
    let p = server.contacts.person("Paul", "Martin").await;
    let client = &mut server.client;
    for (subject, predicate, object) in [
        (&a, "partner_of", &b),
        (&c, "partner_of", &a),
        (&a, "partner_of", &p),
        (&a, "customer_of", &b),
    ] {
        client
            .create_relation(create(subject, predicate, object))
            .await
            .expect("create");
    }
    let delete = |kinds: &[&str]| pb::DeleteEntityRelationsRequest {
        entity: Some(a.clone()),
        predicate: "partner_of".into(),
        other_kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
    };
    let deleted = client
        .delete_entity_relations(delete(&[ORGANISATION]))
        .await
        .expect("organisations")
        .into_inner();
    assert_eq!(deleted.deleted, 2, "B, and C from its side");
    let mut left = relations_of(client, &a).await;
    left.sort();
    let mut expected = vec![
        ("customer_of".to_owned(), b.id.clone()),
        ("partner_of".to_owned(), p.id.clone()),
    ];
    expected.sort();
    assert_eq!(left, expected);
    assert!(relations_of(client, &c).await.is_empty());
    let deleted = client
        .delete_entity_relations(delete(&[]))
        .await
        .expect("the rest")
        .into_inner();
    assert_eq!(deleted.deleted, 1);
    let deleted = client
        .delete_entity_relations(delete(&[]))
        .await
        .expect("none left")
        .into_inner();
    assert_eq!(deleted.deleted, 0);
    let status = expect_code(
        client.delete_entity_relations(delete(&["contacts"])).await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "other_kinds[0]");
}

async fn candidates_fit_the_predicate_and_are_not_yet_related(backend: Backend) {
    let mut server = Server::start(backend).await;
    let contacts = &server.contacts;
    let a = contacts.organisation("Acme", &[]).await;
    let beta = contacts.organisation("Beta", &["prospect"]).await;
    let gamma = contacts.organisation("Gamma", &["prospect"]).await;
    contacts
        .organisation("Blacklisted", &["prospect", "blacklisted"])
        .await;
    contacts.organisation("Untagged", &[]).await;
    let trashed = contacts.organisation("Trashed", &["prospect"]).await;
    contacts.trash(&trashed).await;
    let related = contacts.organisation("Related", &["prospect"]).await;
    let person = contacts.person("Paula", "Prospect").await;
    let mut definition = custom_type("courts", "courted_by");
    if let Some(side) = definition.object_side.as_mut() {
        side.required_tags = vec!["prospect".into()];
        side.forbidden_tags = vec!["blacklisted".into()];
    }
    let client = &mut server.client;
    client.create_relation_type(definition).await.expect("type");
    client
        .create_relation(create(&a, "courts", &related))
        .await
        .expect("related already");

    let list = |label: &str, page_size: u32, page_token: String| pb::ListCandidateObjectsRequest {
        subject: Some(a.clone()),
        predicate: "courts".into(),
        label: label.into(),
        page_size,
        page_token,
    };
    let ids = |page: &pb::ListCandidateObjectsResponse| -> Vec<String> {
        page.entities
            .iter()
            .map(|e| e.entity.as_ref().map(|r| r.id.clone()).unwrap_or_default())
            .collect()
    };
    let all = client
        .list_candidate_objects(list("", 50, String::new()))
        .await
        .expect("candidates")
        .into_inner();
    assert_eq!(ids(&all), [beta.id.clone(), gamma.id.clone()]);
    assert!(all.next_page_token.is_empty());

    let first = client
        .list_candidate_objects(list("", 1, String::new()))
        .await
        .expect("first page")
        .into_inner();
    assert_eq!(ids(&first), [beta.id.as_str()]);
    let second = client
        .list_candidate_objects(list("", 1, first.next_page_token.clone()))
        .await
        .expect("second page")
        .into_inner();
    assert_eq!(ids(&second), [gamma.id.as_str()]);
    assert!(second.next_page_token.is_empty());

    let found = client
        .list_candidate_objects(list("AMM", 50, String::new()))
        .await
        .expect("by label")
        .into_inner();
    assert_eq!(
        ids(&found),
        [gamma.id.as_str()],
        "any case, inside the label"
    );
    let found = client
        .list_candidate_objects(list("%", 50, String::new()))
        .await
        .expect("a wildcard is a character");
    assert!(found.into_inner().entities.is_empty());

    let status = expect_code(
        client
            .list_candidate_objects(pb::ListCandidateObjectsRequest {
                subject: Some(person.clone()),
                ..list("", 50, String::new())
            })
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        status
            .message()
            .starts_with("subject Paula Prospect is a contacts.person"),
        "{}",
        status.message()
    );
    let unseen: HashSet<String> = ids(&all).into_iter().collect();
    assert!(!unseen.contains(&a.id), "never the subject itself");
}

async fn a_copy_takes_the_copiable_relations_of_its_source(backend: Backend) {
    let mut server = Server::start(backend).await;
    let contacts = &server.contacts;
    let source = contacts.organisation("Acme", &[]).await;
    let copy = contacts.organisation("Acme", &[]).await;
    let b = contacts.organisation("B", &[]).await;
    let c = contacts.organisation("C", &[]).await;
    let d = contacts.organisation("D", &[]).await;
    let x = contacts.organisation("X", &[]).await;
    let trashed = contacts.organisation("T", &[]).await;
    let person = contacts.person("Paul", "Martin").await;
    let client = &mut server.client;
    client
        .create_relation_type(custom_type("courts", "courted_by"))
        .await
        .expect("a type not copiable");
    for (subject, predicate, object) in [
        (&source, "customer_of", &b),
        (&source, "partner_of", &c),
        (&source, "courts", &d),
        (&x, "prospect_of", &source),
        (&source, "partner_of", &trashed),
    ] {
        client
            .create_relation(create(subject, predicate, object))
            .await
            .expect("create");
    }
    server.contacts.trash(&trashed).await;
    let client = &mut server.client;
    let request = |target: &EntityRef| pb::CopyRelationsRequest {
        source: Some(source.clone()),
        target: Some(target.clone()),
    };
    let copied = client
        .copy_relations(request(&copy))
        .await
        .expect("copy")
        .into_inner();
    assert_eq!(copied.relations.len(), 3);
    assert_eq!(copied.left_out, 1, "the partner in the trash");
    let mut held = relations_of(client, &copy).await;
    held.sort();
    let mut expected = vec![
        ("customer_of".to_owned(), b.id.clone()),
        ("partner_of".to_owned(), c.id.clone()),
        ("has_prospect".to_owned(), x.id.clone()),
    ];
    expected.sort();
    assert_eq!(held, expected);
    assert_eq!(
        relations_of(client, &source).await.len(),
        5,
        "the source keeps its own"
    );

    let again = client
        .copy_relations(request(&copy))
        .await
        .expect("again")
        .into_inner();
    assert!(again.relations.is_empty());
    assert_eq!(again.left_out, 4, "three held already, one in the trash");

    let status = expect_code(
        client.copy_relations(request(&person)).await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "target.kind");
    let status = expect_code(
        client.copy_relations(request(&source)).await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "target.id");
}

async fn both_ends_record_who_added_and_removed_their_relations(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("Acme", &[]).await;
    let b = server.contacts.organisation("Beta", &[]).await;
    let c = server.contacts.organisation("Cobalt SA", &[]).await;
    let client = &mut server.client;
    client
        .create_relation(create(&b, "customer_of", &a))
        .await
        .expect("b is a customer of a");
    client
        .delete_triple(as_system(
            pb::DeleteTripleRequest {
                subject: Some(a.clone()),
                predicate: "supplier_of".into(),
                object: Some(b.clone()),
            },
            "billing",
        ))
        .await
        .expect("removed by billing");
    client
        .create_relation(create(&a, "partner_of", &c))
        .await
        .expect("partners");
    server.contacts.purge(&c).await;

    type Line = (String, String, String, String, String);
    let history = |page: &pb::ListRelationHistoryResponse| -> Vec<Line> {
        page.changes
            .iter()
            .map(|change| {
                (
                    change.change.clone(),
                    change.predicate_label.clone(),
                    change.other_label.clone(),
                    change.cause.clone(),
                    change.actor.clone(),
                )
            })
            .collect()
    };
    let request =
        |entity: &EntityRef, page_size: u32, page_token: String| pb::ListRelationHistoryRequest {
            entity: Some(entity.clone()),
            page_size,
            page_token,
        };
    let client = &mut server.client;
    let of_a = client
        .list_relation_history(request(&a, 50, String::new()))
        .await
        .expect("history of a")
        .into_inner();
    let lines = history(&of_a);
    let user = lines[3].4.clone();
    let line = |change: &str, label: &str, other: &str, cause: &str, actor: &str| {
        (
            change.to_owned(),
            label.to_owned(),
            other.to_owned(),
            cause.to_owned(),
            actor.to_owned(),
        )
    };
    assert_eq!(
        lines,
        [
            line(
                "removed",
                "is a partner of",
                "Cobalt SA",
                "entity_purged",
                CONTACTS_ACTOR
            ),
            line("added", "is a partner of", "Cobalt SA", "", &user),
            line(
                "removed",
                "is a supplier of",
                "Beta",
                "requested",
                "system:billing"
            ),
            line("added", "is a supplier of", "Beta", "", &user),
        ]
    );
    assert!(of_a.next_page_token.is_empty());
    let of_b = client
        .list_relation_history(request(&b, 50, String::new()))
        .await
        .expect("history of b")
        .into_inner();
    assert_eq!(
        history(&of_b),
        [
            line(
                "removed",
                "is a customer of",
                "Acme",
                "requested",
                "system:billing"
            ),
            line("added", "is a customer of", "Acme", "", &user),
        ],
        "the other end records the same changes, from its side"
    );

    let mut token = String::new();
    let mut paged = Vec::new();
    loop {
        let page = client
            .list_relation_history(request(&a, 1, token))
            .await
            .expect("a page")
            .into_inner();
        paged.extend(history(&page));
        token = page.next_page_token;
        if token.is_empty() {
            break;
        }
    }
    assert_eq!(paged, lines, "the same, one per page");
    let status = expect_code(
        client
            .list_relation_history(request(&a, 1, "garbage".into()))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "page_token");
}
