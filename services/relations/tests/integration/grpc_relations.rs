//! Relations through gRPC: the scenario of DOMAIN.md §1, symmetry, and
//! every rule of a new relation with its code and message.

use crate::support::*;
use liaison_proto::relations::v1 as pb;
use tonic::Code;

on_both_backends!(
    the_market_scenario_reads_from_every_side,
    a_relation_and_its_mirror_are_created_and_deleted_together,
    the_same_triple_or_its_mirror_twice_is_refused,
    unknown_and_gone_entities_are_refused,
    kinds_are_checked_on_both_sides,
    tags_required_and_forbidden_are_checked,
    an_entity_cannot_be_related_to_itself,
    an_entity_in_the_trash_takes_no_new_relation_and_keeps_its_own,
    a_relation_of_a_self_symmetric_predicate_is_found_once,
);

async fn an_entity_in_the_trash_takes_no_new_relation_and_keeps_its_own(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("Acme", &[]).await;
    let b = server.contacts.organisation("Cobalt SA", &[]).await;
    let c = server.contacts.organisation("Delta Corp", &[]).await;
    server
        .client
        .create_relation(create(&a, "partner_of", &b))
        .await
        .expect("before the trash");
    server.contacts.trash(&b).await;
    for request in [create(&c, "customer_of", &b), create(&b, "customer_of", &c)] {
        let status = expect_code(
            server.client.create_relation(request).await,
            Code::FailedPrecondition,
        );
        assert_eq!(
            status.message(),
            "Cobalt SA is in the trash: restore it before giving it new relations"
        );
    }
    // Not even the system adds one.
    expect_code(
        server
            .client
            .create_relation(as_system(create(&c, "partner_of", &b), "billing"))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        relations_of(&mut server.client, &b).await,
        [("partner_of".to_owned(), a.id.clone())],
        "its relation stays"
    );
}

async fn a_relation_of_a_self_symmetric_predicate_is_found_once(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("A", &[]).await;
    let b = server.contacts.organisation("B", &[]).await;
    let c = server.contacts.organisation("C", &[]).await;
    let client = &mut server.client;
    for (subject, object) in [(&a, &b), (&c, &a)] {
        client
            .create_relation(create(subject, "partner_of", object))
            .await
            .expect("partners");
    }
    client
        .create_relation(create(&a, "customer_of", &c))
        .await
        .expect("customer");
    let find = |predicate: &str, page_size: u32, page_token: String| pb::FindTriplesRequest {
        predicate: predicate.into(),
        page_size,
        page_token,
        ..Default::default()
    };
    let found = client
        .find_triples(find("partner_of", 10, String::new()))
        .await
        .expect("find")
        .into_inner();
    assert_eq!(found.total, 2, "two partnerships, each once");
    let pairs: Vec<(String, String)> = found
        .triples
        .iter()
        .map(|t| (subject_id(t), object_id(t)))
        .collect();
    assert_eq!(pairs.len(), 2);
    assert!(pairs.contains(&(a.id.clone(), b.id.clone())));
    assert!(pairs.contains(&(c.id.clone(), a.id.clone())));
    // Paged one by one: the same two, no more.
    let first = client
        .find_triples(find("partner_of", 1, String::new()))
        .await
        .expect("first page")
        .into_inner();
    let second = client
        .find_triples(find("partner_of", 1, first.next_page_token.clone()))
        .await
        .expect("second page")
        .into_inner();
    assert_eq!((first.total, second.total), (2, 2));
    assert!(second.next_page_token.is_empty());
    // From one side, every partnership of that side.
    let of_a = client
        .find_triples(pb::FindTriplesRequest {
            subject: Some(a.clone()),
            predicate: "partner_of".into(),
            page_size: 10,
            ..Default::default()
        })
        .await
        .expect("from a")
        .into_inner();
    assert_eq!(of_a.total, 2);
    let customers = client
        .find_triples(find("customer_of", 10, String::new()))
        .await
        .expect("customers")
        .into_inner();
    assert_eq!(customers.total, 1);
}

fn subject_id(found: &pb::TripleMatch) -> String {
    found
        .subject
        .as_ref()
        .map(|e| e.id.clone())
        .unwrap_or_default()
}

fn object_id(found: &pb::TripleMatch) -> String {
    found
        .object
        .as_ref()
        .map(|e| e.id.clone())
        .unwrap_or_default()
}

async fn the_market_scenario_reads_from_every_side(backend: Backend) {
    let mut server = Server::start(backend).await;
    let contacts = &server.contacts;
    let a = contacts.organisation("A", &[]).await;
    let b = contacts.organisation("B", &[]).await;
    let c = contacts.organisation("C", &[]).await;
    let d = contacts.organisation("D", &[]).await;
    let client = &mut server.client;
    for (subject, predicate, object) in [
        (&b, "customer_of", &a),
        (&c, "prospect_of", &a),
        (&d, "competitor_of", &a),
        (&c, "prospect_of", &d),
    ] {
        client
            .create_relation(create(subject, predicate, object))
            .await
            .expect("create relation");
    }

    // Who prospects C? A and D.
    let who = client
        .find_triples(pb::FindTriplesRequest {
            predicate: "has_prospect".into(),
            object: Some(c.clone()),
            ..Default::default()
        })
        .await
        .expect("pattern")
        .into_inner();
    let mut labels: Vec<String> = who
        .triples
        .iter()
        .map(|t| t.subject_label.clone())
        .collect();
    labels.sort();
    assert_eq!(labels, ["A", "D"]);
    assert_eq!(who.total, 2);
    assert!(who
        .triples
        .iter()
        .all(|t| t.predicate == "has_prospect" && t.object_label == "C"));

    // The same question from C's side.
    let from_c = client
        .find_triples(pb::FindTriplesRequest {
            subject: Some(c.clone()),
            predicate: "prospect_of".into(),
            ..Default::default()
        })
        .await
        .expect("pattern")
        .into_inner();
    assert_eq!(from_c.total, 2);

    // D's relations: has prospect C, competitor of A.
    let of_d = client
        .list_entity_relations(pb::ListEntityRelationsRequest {
            entity: Some(d.clone()),
            ..Default::default()
        })
        .await
        .expect("relations of D")
        .into_inner();
    let mut seen: Vec<(String, String)> = of_d
        .relations
        .iter()
        .map(|r| (r.predicate_label.clone(), r.other_label.clone()))
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("has as prospect".to_owned(), "C".to_owned()),
            ("is a competitor of".to_owned(), "A".to_owned())
        ]
    );

    // A's summary and a two-hop path: prospects of the competitors of A.
    let counts = client
        .count_predicates(pb::CountPredicatesRequest {
            entity: Some(a.clone()),
        })
        .await
        .expect("counts")
        .into_inner();
    let counts: Vec<(String, u64)> = counts
        .counts
        .into_iter()
        .map(|c| (c.predicate, c.count))
        .collect();
    assert_eq!(
        counts,
        [
            ("competitor_of".to_owned(), 1),
            ("has_prospect".to_owned(), 1),
            ("supplier_of".to_owned(), 1)
        ]
    );
    let paths = client
        .find_paths(pb::FindPathsRequest {
            start: Some(a.clone()),
            predicates: vec!["competitor_of".into(), "has_prospect".into()],
            limit: 0,
        })
        .await
        .expect("paths")
        .into_inner();
    assert_eq!(paths.paths.len(), 1);
    let steps: Vec<&str> = paths.paths[0]
        .steps
        .iter()
        .map(|s| s.label.as_str())
        .collect();
    assert_eq!(steps, ["D", "C"]);
    assert!(!paths.truncated);
}

async fn a_relation_and_its_mirror_are_created_and_deleted_together(backend: Backend) {
    let mut server = Server::start(backend).await;
    let marcel = server.contacts.person("Marcel", "Dupont").await;
    let untel = server.contacts.organisation("UnTel", &[]).await;
    let client = &mut server.client;
    let relation = client
        .create_relation(create(&marcel, "employed_by", &untel))
        .await
        .expect("create")
        .into_inner();
    assert_eq!(relation.symmetric_predicate, "employs");
    assert_eq!(relation.type_id, "employed_by");
    assert_eq!(
        relations_of(client, &marcel).await,
        [("employed_by".to_owned(), untel.id.clone())]
    );
    assert_eq!(
        relations_of(client, &untel).await,
        [("employs".to_owned(), marcel.id.clone())]
    );
    let fetched = client
        .get_relation(pb::GetRelationRequest {
            id: relation.id.clone(),
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(fetched.subject, Some(marcel.clone()));

    client
        .delete_relation(pb::DeleteRelationRequest {
            id: relation.id.clone(),
        })
        .await
        .expect("delete");
    assert!(relations_of(client, &marcel).await.is_empty());
    assert!(relations_of(client, &untel).await.is_empty());
    let status = expect_code(
        client
            .delete_relation(pb::DeleteRelationRequest {
                id: relation.id.clone(),
            })
            .await,
        Code::NotFound,
    );
    assert!(
        status.message().contains(&relation.id),
        "{}",
        status.message()
    );
    let events = server
        .service
        .store()
        .read_stream(&format!("relation-{}", relation.id), 0, 10)
        .await
        .expect("stream");
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["relation.created", "relation.deleted"],
        "one event each way"
    );
}

async fn the_same_triple_or_its_mirror_twice_is_refused(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("A", &[]).await;
    let c = server.contacts.organisation("C", &[]).await;
    let client = &mut server.client;
    let first = client
        .create_relation(create(&c, "prospect_of", &a))
        .await
        .expect("create")
        .into_inner();
    let status = expect_code(
        client.create_relation(create(&c, "prospect_of", &a)).await,
        Code::AlreadyExists,
    );
    assert_eq!(
        status.message(),
        format!("C is a prospect of A already (relation {})", first.id)
    );
    let status = expect_code(
        client.create_relation(create(&a, "has_prospect", &c)).await,
        Code::AlreadyExists,
    );
    assert_eq!(
        status.message(),
        format!(
            "A has as prospect C already (relation {}, created from the other side)",
            first.id
        )
    );

    // A type that is its own symmetric: the reverse triple is the mirror.
    client
        .create_relation(create(&a, "partner_of", &c))
        .await
        .expect("partners");
    expect_code(
        client.create_relation(create(&c, "partner_of", &a)).await,
        Code::AlreadyExists,
    );
    assert_eq!(
        relations_of(client, &c).await,
        [
            ("partner_of".to_owned(), a.id.clone()),
            ("prospect_of".to_owned(), a.id.clone())
        ]
    );
}

async fn unknown_and_gone_entities_are_refused(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("A", &[]).await;
    let gone = server.contacts.organisation("Gone", &[]).await;
    let trashed = server.contacts.organisation("Trashed", &[]).await;
    server
        .client
        .create_relation(create(&a, "partner_of", &trashed))
        .await
        .expect("before the trash");
    server.contacts.purge(&gone).await;
    server.contacts.trash(&trashed).await;
    let unknown = reference(ORGANISATION, &uuid::Uuid::now_v7().to_string());
    let client = &mut server.client;

    let status = expect_code(
        client
            .create_relation(create(&a, "partner_of", &unknown))
            .await,
        Code::NotFound,
    );
    assert!(
        status.message().contains(&unknown.id),
        "{}",
        status.message()
    );
    let status = expect_code(
        client
            .create_relation(create(&a, "partner_of", &gone))
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(status.message(), "Gone was purged");
    let status = expect_code(
        client
            .create_relation(create(&reference(PERSON, &a.id), "partner_of", &trashed))
            .await,
        Code::InvalidArgument,
    );
    assert!(
        status.message().contains("is a contacts.organisation"),
        "{}",
        status.message()
    );
    let status = expect_code(
        client
            .create_relation(create(&a, "no_such_predicate", &trashed))
            .await,
        Code::NotFound,
    );
    assert!(
        status.message().contains("no_such_predicate"),
        "{}",
        status.message()
    );

    // A relation made before the trash stays, shown as trashed.
    let page = client
        .list_entity_relations(pb::ListEntityRelationsRequest {
            entity: Some(a.clone()),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    assert!(page.relations[0].other_in_trash);
}

async fn kinds_are_checked_on_both_sides(backend: Backend) {
    let mut server = Server::start(backend).await;
    let marcel = server.contacts.person("Marcel", "Dupont").await;
    let jeanne = server.contacts.person("Jeanne", "Martin").await;
    let untel = server.contacts.organisation("UnTel", &[]).await;
    let client = &mut server.client;
    let status = expect_code(
        client
            .create_relation(create(&untel, "employed_by", &untel))
            .await,
        Code::InvalidArgument,
    );
    assert!(status.message().contains("itself"), "{}", status.message());
    let status = expect_code(
        client
            .create_relation(create(&untel, "employed_by", &marcel))
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        status
            .message()
            .starts_with("subject UnTel is a contacts.organisation"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("\"employed_by\""),
        "{}",
        status.message()
    );
    let status = expect_code(
        client
            .create_relation(create(&marcel, "employed_by", &jeanne))
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        status
            .message()
            .starts_with("object Jeanne Martin is a contacts.person"),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("\"employs\""),
        "names the symmetric: {}",
        status.message()
    );
}

async fn tags_required_and_forbidden_are_checked(backend: Backend) {
    let mut server = Server::start(backend).await;
    let qualified = server
        .contacts
        .organisation("Qualified", &["qualified"])
        .await;
    let plain = server.contacts.organisation("Plain", &[]).await;
    let banned = server
        .contacts
        .organisation("Banned", &["blacklisted"])
        .await;
    let client = &mut server.client;
    client
        .create_relation_type(pb::CreateRelationTypeRequest {
            subject_side: Some(pb::PredicateSide {
                id: "lead_of".into(),
                label: "is a lead of".into(),
                kinds: vec![ORGANISATION.into()],
                required_tags: vec!["qualified".into()],
                forbidden_tags: Vec::new(),
            }),
            object_side: Some(pb::PredicateSide {
                id: "has_lead".into(),
                label: "has as lead".into(),
                kinds: vec![ORGANISATION.into()],
                required_tags: Vec::new(),
                forbidden_tags: vec!["blacklisted".into()],
            }),
            ..Default::default()
        })
        .await
        .expect("custom type");
    let status = expect_code(
        client
            .create_relation(create(&plain, "lead_of", &qualified))
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        status
            .message()
            .contains("must carry the tag \"qualified\""),
        "{}",
        status.message()
    );
    let status = expect_code(
        client
            .create_relation(create(&qualified, "lead_of", &banned))
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains("\"blacklisted\""),
        "{}",
        status.message()
    );
    assert!(
        status.message().contains("has_lead"),
        "{}",
        status.message()
    );
    client
        .create_relation(create(&qualified, "lead_of", &plain))
        .await
        .expect("fits");

    // A tag added later (an update in contacts) lets the relation in.
    server
        .contacts
        .simple(
            &plain,
            liaison_proto::contacts::v1::contact_event::Event::Updated(
                liaison_proto::contacts::v1::ContactUpdated {
                    data: Some(liaison_proto::contacts::v1::ContactData {
                        tags: vec!["qualified".into()],
                        ..Default::default()
                    }),
                    changed: vec!["tags".into()],
                    shared_email_allowed: false,
                },
            ),
        )
        .await;
    server
        .client
        .create_relation(create(&plain, "lead_of", &qualified))
        .await
        .expect("now qualified");
}

async fn an_entity_cannot_be_related_to_itself(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("A", &[]).await;
    let status = expect_code(
        server
            .client
            .create_relation(create(&a, "partner_of", &a))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(status.message(), "A cannot be related to itself");
}
