//! Relations through gRPC: internal types reserved to the system (a forged
//! claim to be it refused), bulk creation all or nothing, bad input named by
//! its field, and the store's own last check.

use crate::support::*;
use liaison_proto::relations::v1 as pb;
use tonic::Code;

on_both_backends!(
    internal_types_are_for_the_system_only,
    bulk_creation_is_all_or_nothing,
    the_same_relations_go_to_several_subjects,
    bad_input_is_refused_with_the_field,
    the_store_refuses_a_relation_to_an_entity_gone_meanwhile,
);

async fn internal_types_are_for_the_system_only(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("A", &[]).await;
    let b = server.contacts.organisation("B", &[]).await;
    let client = &mut server.client;
    let definition = pb::CreateRelationTypeRequest {
        subject_side: Some(pb::PredicateSide {
            id: "billed_to".into(),
            label: "is billed to".into(),
            ..Default::default()
        }),
        object_side: Some(pb::PredicateSide {
            id: "was_billed".into(),
            label: "was billed".into(),
            ..Default::default()
        }),
        internal: true,
        ..Default::default()
    };
    expect_code(
        client.create_relation_type(definition.clone()).await,
        Code::PermissionDenied,
    );
    // Naming the system in the metadata does not make a caller the system.
    let forged = expect_code(
        client
            .create_relation_type(forged_system(definition.clone()))
            .await,
        Code::Unauthenticated,
    );
    assert!(
        forged.message().contains("signed identity"),
        "{}",
        forged.message()
    );
    let internal = client
        .create_relation_type(as_system(definition, "billing"))
        .await
        .expect("system creates it")
        .into_inner();
    assert!(internal.internal && !internal.custom);
    // Nobody but the system disables it (or enables it again).
    for enabled in [false, true] {
        let request = pb::SetRelationTypeEnabledRequest {
            id: "billed_to".into(),
            enabled,
        };
        let status = expect_code(
            client.set_relation_type_enabled(request.clone()).await,
            Code::PermissionDenied,
        );
        assert!(
            status.message().contains("only the system"),
            "{}",
            status.message()
        );
        let changed = client
            .set_relation_type_enabled(as_system(request, "billing"))
            .await
            .expect("the system may")
            .into_inner();
        assert_eq!(changed.enabled, enabled);
    }

    let status = expect_code(
        client.create_relation(create(&a, "billed_to", &b)).await,
        Code::PermissionDenied,
    );
    assert!(
        status.message().contains("only the system"),
        "{}",
        status.message()
    );
    expect_code(
        client
            .create_relation(forged_system(create(&a, "billed_to", &b)))
            .await,
        Code::Unauthenticated,
    );
    let relation = client
        .create_relation(as_system(create(&a, "billed_to", &b), "billing"))
        .await
        .expect("system creates the relation")
        .into_inner();
    expect_code(
        client
            .delete_relation(pb::DeleteRelationRequest {
                id: relation.id.clone(),
            })
            .await,
        Code::PermissionDenied,
    );
    expect_code(
        client
            .delete_relation(forged_system(pb::DeleteRelationRequest {
                id: relation.id.clone(),
            }))
            .await,
        Code::Unauthenticated,
    );

    // Such a relation holds its entities against a purge.
    let check = client
        .check_purge(pb::CheckPurgeRequest {
            entity: Some(b.clone()),
        })
        .await
        .expect("check")
        .into_inner();
    assert!(!check.allowed);
    assert_eq!(check.internal_relations, 1);
    assert!(check.reason.contains("was_billed: 1"), "{}", check.reason);
    let check = client
        .check_purge(pb::CheckPurgeRequest {
            entity: Some(a.clone()),
        })
        .await
        .expect("check")
        .into_inner();
    assert!(!check.allowed);

    // Never offered to users, unless asked.
    let listed = client
        .list_relation_types(pb::ListRelationTypesRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(listed.types.iter().all(|t| t.id != "billed_to"));
    client
        .delete_relation(as_system(
            pb::DeleteRelationRequest { id: relation.id },
            "billing",
        ))
        .await
        .expect("system deletes");
    let check = client
        .check_purge(pb::CheckPurgeRequest {
            entity: Some(b.clone()),
        })
        .await
        .expect("check")
        .into_inner();
    assert!(check.allowed && check.reason.is_empty());
}

async fn bulk_creation_is_all_or_nothing(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("A", &[]).await;
    let b = server.contacts.organisation("B", &[]).await;
    let c = server.contacts.organisation("C", &[]).await;
    let marcel = server.contacts.person("Marcel", "Dupont").await;
    let client = &mut server.client;
    let status = expect_code(
        client
            .create_relations(pb::CreateRelationsRequest {
                triples: vec![
                    triple(&b, "customer_of", &a),
                    triple(&a, "employed_by", &c),
                    triple(&c, "prospect_of", &a),
                ],
                skip_existing: false,
            })
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(field_of(&status), "triples[1]");
    assert!(
        relations_of(client, &a).await.is_empty(),
        "nothing of a refused batch"
    );

    let status = expect_code(
        client
            .create_relations(pb::CreateRelationsRequest {
                triples: vec![triple(&b, "customer_of", &a), triple(&a, "supplier_of", &b)],
                skip_existing: false,
            })
            .await,
        Code::AlreadyExists,
    );
    assert_eq!(field_of(&status), "triples[1]");
    assert_eq!(
        status.message(),
        "triples[1]: A is a supplier of B already (asked twice in this request)"
    );

    let created = client
        .create_relations(pb::CreateRelationsRequest {
            triples: vec![
                triple(&b, "customer_of", &a),
                triple(&c, "prospect_of", &a),
                triple(&marcel, "employed_by", &a),
            ],
            skip_existing: false,
        })
        .await
        .expect("bulk")
        .into_inner();
    assert_eq!(created.relations.len(), 3);
    let again = client
        .create_relations(pb::CreateRelationsRequest {
            triples: vec![triple(&a, "supplier_of", &b), triple(&a, "partner_of", &c)],
            skip_existing: true,
        })
        .await
        .expect("skip existing")
        .into_inner();
    assert_eq!((again.relations.len(), again.skipped), (1, 1));
    assert_eq!(relations_of(client, &a).await.len(), 4);
}

async fn the_same_relations_go_to_several_subjects(backend: Backend) {
    let mut server = Server::start(backend).await;
    let untel = server.contacts.organisation("UnTel", &[]).await;
    let partner = server.contacts.organisation("Partner", &[]).await;
    let people = [
        server.contacts.person("Ann", "A").await,
        server.contacts.person("Bob", "B").await,
        server.contacts.person("Cid", "C").await,
    ];
    let client = &mut server.client;
    let created = client
        .add_relations_to_subjects(pb::AddRelationsToSubjectsRequest {
            subjects: people.to_vec(),
            relations: vec![
                pb::PredicateObject {
                    predicate: "employed_by".into(),
                    object: Some(untel.clone()),
                },
                pb::PredicateObject {
                    predicate: "customer_of".into(),
                    object: Some(partner.clone()),
                },
            ],
            skip_existing: false,
        })
        .await
        .expect("add to several")
        .into_inner();
    assert_eq!(created.relations.len(), 6);
    assert_eq!(relations_of(client, &untel).await.len(), 3);
    let status = expect_code(
        client
            .add_relations_to_subjects(pb::AddRelationsToSubjectsRequest {
                subjects: vec![untel.clone(), people[0].clone()],
                relations: vec![pb::PredicateObject {
                    predicate: "manages".into(),
                    object: Some(partner.clone()),
                }],
                skip_existing: false,
            })
            .await,
        Code::FailedPrecondition,
    );
    assert_eq!(field_of(&status), "subjects[0].relations[0]");
    assert_eq!(
        relations_of(client, &partner).await.len(),
        3,
        "none of the refused call"
    );
}

async fn bad_input_is_refused_with_the_field(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("A", &[]).await;
    let client = &mut server.client;
    let cases: Vec<(pb::CreateRelationRequest, &str)> = vec![
        (
            pb::CreateRelationRequest {
                subject: None,
                predicate: "partner_of".into(),
                object: Some(a.clone()),
            },
            "subject",
        ),
        (
            create(&reference("person", "x"), "partner_of", &a),
            "subject.kind",
        ),
        (create(&a, "Partner Of", &a), "predicate"),
        (
            create(&a, "partner_of", &reference(ORGANISATION, &"x".repeat(65))),
            "object.id",
        ),
        (
            create(&a, "partner_of", &reference(ORGANISATION, "a b")),
            "object.id",
        ),
    ];
    for (request, field) in cases {
        let status = expect_code(client.create_relation(request).await, Code::InvalidArgument);
        assert_eq!(field_of(&status), field, "{}", status.message());
    }
    let status = expect_code(
        client
            .get_relation(pb::GetRelationRequest { id: "nope".into() })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "id");
    let status = expect_code(
        client
            .list_entity_relations(pb::ListEntityRelationsRequest {
                entity: Some(a.clone()),
                page_token: "garbage".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "page_token");
    let status = expect_code(
        client
            .find_paths(pb::FindPathsRequest {
                start: Some(a.clone()),
                predicates: vec!["partner_of".into(); 5],
                limit: 0,
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "predicates");
    let status = expect_code(
        client
            .create_relations(pb::CreateRelationsRequest {
                triples: Vec::new(),
                skip_existing: false,
            })
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "triples");
}

async fn the_store_refuses_a_relation_to_an_entity_gone_meanwhile(backend: Backend) {
    use liaison_eventstore::{AppendRequest, ExpectedVersion, NewEvent, StoreError, StreamAppend};
    use prost::Message;
    let server = Server::start(backend).await;
    let a = server.contacts.organisation("A", &[]).await;
    let b = server.contacts.organisation("B", &[]).await;
    server.contacts.purge(&b).await;
    let created = pb::RelationCreated {
        subject: Some(a.clone()),
        predicate: "partner_of".into(),
        object: Some(b.clone()),
        symmetric_predicate: "partner_of".into(),
        type_id: "partner_of".into(),
        replaces_relation_id: String::new(),
    };
    let request = AppendRequest {
        streams: vec![StreamAppend {
            stream_id: format!("relation-{}", uuid::Uuid::now_v7()),
            expected: ExpectedVersion::NoStream,
            events: vec![NewEvent {
                event_id: uuid::Uuid::now_v7(),
                event_type: "relation.created".into(),
                schema_version: 1,
                payload: pb::RelationEvent {
                    event: Some(pb::relation_event::Event::Created(created)),
                }
                .encode_to_vec(),
            }],
            encrypt_for_subject: None,
        }],
        ..Default::default()
    };
    let refused = server.service.store().append(request).await;
    match refused {
        Err(StoreError::Rejected(reason)) => {
            assert_eq!(reason.to_string(), "B was purged")
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let mut client = server.client.clone();
    assert!(relations_of(&mut client, &a).await.is_empty());
}
