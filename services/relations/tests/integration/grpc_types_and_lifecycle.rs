//! Relation types through gRPC: built in, custom, edited, disabled and
//! deleted, with the relations they hold.

use crate::support::*;
use liaison_proto::relations::v1 as pb;
use tonic::Code;

on_both_backends!(
    built_in_types_are_installed_once,
    a_custom_type_is_created_edited_and_deleted,
    an_edit_that_would_break_relations_is_refused_with_their_count,
    a_disabled_type_keeps_its_relations_and_takes_no_new_one,
    deleting_a_type_with_relations_needs_a_cascade,
    a_disabled_type_is_frozen_until_enabled,
);

async fn a_disabled_type_is_frozen_until_enabled(backend: Backend) {
    let mut server = Server::start(backend).await;
    let client = &mut server.client;
    client
        .create_relation_type(custom_type("courts", "courted_by"))
        .await
        .expect("create");
    let set_enabled = |enabled| pb::SetRelationTypeEnabledRequest {
        id: "courts".into(),
        enabled,
    };
    let relabel = |label: &str| pb::UpdateRelationTypeRequest {
        id: "courts".into(),
        subject_side: Some(pb::PredicateSide {
            label: label.into(),
            ..Default::default()
        }),
        object_side: Some(pb::PredicateSide {
            label: "is courted by".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    client
        .set_relation_type_enabled(set_enabled(false))
        .await
        .expect("disable");
    let status = expect_code(
        client.update_relation_type(relabel("woos")).await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        status.message(),
        "relation type \"courts\" is disabled: enable it before editing it"
    );
    client
        .set_relation_type_enabled(set_enabled(true))
        .await
        .expect("enable");
    let edited = client
        .update_relation_type(relabel("woos"))
        .await
        .expect("edit once enabled")
        .into_inner();
    assert_eq!(
        edited.subject_side.map(|side| side.label).as_deref(),
        Some("woos")
    );
}

async fn built_in_types_are_installed_once(backend: Backend) {
    let mut server = Server::start(backend).await;
    let listed = server
        .client
        .list_relation_types(pb::ListRelationTypesRequest {
            subject_kind: PERSON.into(),
            ..Default::default()
        })
        .await
        .expect("list")
        .into_inner();
    // The types a person can be the subject of: all but the organisations'
    // subsidiaries.
    assert_eq!(listed.types.len(), 9);
    assert!(!listed.types.iter().any(|t| t.id == "subsidiary_of"));
    let employed = listed
        .types
        .iter()
        .find(|t| t.id == "employed_by")
        .expect("employed_by");
    assert_eq!(
        employed.object_side.as_ref().map(|s| s.id.as_str()),
        Some("employs")
    );
    assert!(employed.enabled && !employed.custom && !employed.internal);
    // Offered on a person's page: what a person can be the subject of.
    let offered: Vec<&str> = listed
        .predicates
        .iter()
        .map(|p| p.predicate.as_str())
        .collect();
    assert!(offered.contains(&"employed_by") && offered.contains(&"manages"));
    assert!(!offered.contains(&"employs") && !offered.contains(&"has_subsidiary"));

    let head = server.service.store().head_position().await.expect("head");
    let reopened = liaison_relations::RelationsService::open(&server.url, server.schema.clone())
        .await
        .expect("reopen");
    assert_eq!(
        reopened.store().head_position().await.expect("head"),
        head,
        "nothing installed twice"
    );
    reopened.store().close().await;
}

async fn a_custom_type_is_created_edited_and_deleted(backend: Backend) {
    let mut server = Server::start(backend).await;
    let client = &mut server.client;
    let created = client
        .create_relation_type(pb::CreateRelationTypeRequest {
            subject_side: Some(pb::PredicateSide {
                label: "is a prospect of".into(),
                kinds: vec![ORGANISATION.into()],
                ..Default::default()
            }),
            object_side: Some(pb::PredicateSide {
                label: "has prospect".into(),
                kinds: vec![ORGANISATION.into()],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .expect("create")
        .into_inner();
    assert!(created.custom && created.enabled);
    let subject_id = created.subject_side.clone().unwrap_or_default().id;
    let object_id = created.object_side.clone().unwrap_or_default().id;
    assert!(
        subject_id.starts_with("custom-")
            && object_id.starts_with("custom-")
            && subject_id != object_id
    );
    let fetched = client
        .get_relation_type(pb::GetRelationTypeRequest {
            id: object_id.clone(),
        })
        .await
        .expect("by the symmetric id")
        .into_inner();
    assert_eq!(fetched.id, subject_id);

    let status = expect_code(
        client
            .create_relation_type(custom_type(&subject_id, "other"))
            .await,
        Code::AlreadyExists,
    );
    assert!(
        status.message().contains(&subject_id),
        "{}",
        status.message()
    );
    let status = expect_code(
        client
            .create_relation_type(custom_type("same", "same"))
            .await,
        Code::InvalidArgument,
    );
    assert_eq!(field_of(&status), "object_side.id");

    let edited = client
        .update_relation_type(pb::UpdateRelationTypeRequest {
            id: subject_id.clone(),
            expected_version: Some(created.version),
            subject_side: Some(pb::PredicateSide {
                label: "prospects".into(),
                ..Default::default()
            }),
            object_side: Some(pb::PredicateSide {
                label: "is prospected by".into(),
                ..Default::default()
            }),
            copiable: false,
        })
        .await
        .expect("edit")
        .into_inner();
    assert_eq!(edited.subject_side.unwrap_or_default().label, "prospects");
    assert_eq!(
        edited.object_side.unwrap_or_default().id,
        object_id,
        "ids stay"
    );
    let status = expect_code(
        client
            .update_relation_type(pb::UpdateRelationTypeRequest {
                id: subject_id.clone(),
                expected_version: Some(created.version),
                subject_side: Some(pb::PredicateSide {
                    label: "x".into(),
                    ..Default::default()
                }),
                object_side: Some(pb::PredicateSide {
                    label: "y".into(),
                    ..Default::default()
                }),
                copiable: false,
            })
            .await,
        Code::Aborted,
    );
    assert!(status.message().contains("reload"), "{}", status.message());

    let status = expect_code(
        client
            .update_relation_type(pb::UpdateRelationTypeRequest {
                id: "employed_by".into(),
                subject_side: Some(pb::PredicateSide {
                    label: "x".into(),
                    ..Default::default()
                }),
                object_side: Some(pb::PredicateSide {
                    label: "y".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains("built in"),
        "{}",
        status.message()
    );
    expect_code(
        client
            .delete_relation_type(pb::DeleteRelationTypeRequest {
                id: "employed_by".into(),
                cascade: true,
            })
            .await,
        Code::FailedPrecondition,
    );

    client
        .delete_relation_type(pb::DeleteRelationTypeRequest {
            id: subject_id.clone(),
            cascade: false,
        })
        .await
        .expect("delete an unused custom type");
    expect_code(
        client
            .get_relation_type(pb::GetRelationTypeRequest { id: subject_id })
            .await,
        Code::NotFound,
    );
}

async fn an_edit_that_would_break_relations_is_refused_with_their_count(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("A", &["vip"]).await;
    let b = server.contacts.organisation("B", &[]).await;
    let c = server.contacts.organisation("C", &[]).await;
    let client = &mut server.client;
    client
        .create_relation_type(custom_type("backs", "backed_by"))
        .await
        .expect("type");
    client
        .create_relation(create(&a, "backs", &b))
        .await
        .expect("a backs b");
    client
        .create_relation(create(&c, "backs", &b))
        .await
        .expect("c backs b");
    let status = expect_code(
        client
            .update_relation_type(pb::UpdateRelationTypeRequest {
                id: "backed_by".into(),
                subject_side: Some(pb::PredicateSide {
                    label: "backs".into(),
                    required_tags: vec!["vip".into()],
                    ..Default::default()
                }),
                object_side: Some(pb::PredicateSide {
                    label: "is backed by".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().starts_with("1 existing relation(s)"),
        "{}",
        status.message()
    );
    let status = expect_code(
        client
            .update_relation_type(pb::UpdateRelationTypeRequest {
                id: "backs".into(),
                subject_side: Some(pb::PredicateSide {
                    label: "backs".into(),
                    kinds: vec![PERSON.into()],
                    ..Default::default()
                }),
                object_side: Some(pb::PredicateSide {
                    label: "is backed by".into(),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().starts_with("2 existing relation(s)"),
        "{}",
        status.message()
    );
    let current = client
        .get_relation_type(pb::GetRelationTypeRequest { id: "backs".into() })
        .await
        .expect("type")
        .into_inner();
    assert_eq!(
        current.subject_side.unwrap_or_default().kinds,
        [ORGANISATION],
        "unchanged"
    );
    assert_eq!(current.relation_count, 2);
}

async fn a_disabled_type_keeps_its_relations_and_takes_no_new_one(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("A", &[]).await;
    let b = server.contacts.organisation("B", &[]).await;
    let c = server.contacts.organisation("C", &[]).await;
    let client = &mut server.client;
    client
        .create_relation(create(&b, "customer_of", &a))
        .await
        .expect("customer");
    let disabled = client
        .set_relation_type_enabled(pb::SetRelationTypeEnabledRequest {
            id: "supplier_of".into(),
            enabled: false,
        })
        .await
        .expect("disable by either side")
        .into_inner();
    assert!(!disabled.enabled);
    let status = expect_code(
        client.create_relation(create(&c, "customer_of", &a)).await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains("disabled"),
        "{}",
        status.message()
    );
    expect_code(
        client.create_relation(create(&a, "supplier_of", &c)).await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        relations_of(client, &a).await,
        [("supplier_of".to_owned(), b.id.clone())]
    );
    let listed = client
        .list_relation_types(pb::ListRelationTypesRequest::default())
        .await
        .expect("list")
        .into_inner();
    assert!(
        listed.types.iter().all(|t| t.id != "customer_of"),
        "disabled types are not offered"
    );
    client
        .set_relation_type_enabled(pb::SetRelationTypeEnabledRequest {
            id: "customer_of".into(),
            enabled: true,
        })
        .await
        .expect("enable");
    client
        .create_relation(create(&c, "customer_of", &a))
        .await
        .expect("enabled again");
}

async fn deleting_a_type_with_relations_needs_a_cascade(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("A", &[]).await;
    let b = server.contacts.organisation("B", &[]).await;
    let c = server.contacts.organisation("C", &[]).await;
    let client = &mut server.client;
    client
        .create_relation_type(custom_type("backs", "backed_by"))
        .await
        .expect("type");
    client
        .create_relation(create(&a, "backs", &b))
        .await
        .expect("relation");
    client
        .create_relation(create(&c, "backed_by", &a))
        .await
        .expect("relation");
    client
        .create_relation(create(&a, "partner_of", &c))
        .await
        .expect("other type");
    let status = expect_code(
        client
            .delete_relation_type(pb::DeleteRelationTypeRequest {
                id: "backs".into(),
                cascade: false,
            })
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains("still has 2 relation(s)"),
        "{}",
        status.message()
    );
    let removed = client
        .delete_relation_type(pb::DeleteRelationTypeRequest {
            id: "backs".into(),
            cascade: true,
        })
        .await
        .expect("cascade")
        .into_inner();
    assert_eq!(removed.relations_removed, 2);
    assert_eq!(
        relations_of(client, &a).await,
        [("partner_of".to_owned(), c.id.clone())]
    );
    assert!(relations_of(client, &b).await.is_empty());
}
