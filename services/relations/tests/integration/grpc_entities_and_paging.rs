//! What happens to relations when their entities are purged, erased or
//! merged; paging and filters; the rebuild of the read models from the log.

use crate::support::*;
use liaison_proto::relations::v1 as pb;
use tonic::Code;

on_both_backends!(
    a_purged_or_erased_entity_loses_its_relations,
    a_merge_moves_relations_to_the_survivor_without_duplicates,
    entity_relations_and_patterns_are_paged_and_filtered,
    a_rebuild_equals_the_live_read_models,
);

async fn a_purged_or_erased_entity_loses_its_relations(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("A", &[]).await;
    let b = server.contacts.organisation("B", &[]).await;
    let marcel = server.contacts.person("Marcel", "Dupont").await;
    server
        .client
        .create_relation(create(&b, "customer_of", &a))
        .await
        .expect("relation");
    server
        .client
        .create_relation(create(&marcel, "employed_by", &a))
        .await
        .expect("relation");

    server.contacts.trash(&b).await;
    assert_eq!(
        relations_of(&mut server.client, &a).await.len(),
        2,
        "the trash keeps relations"
    );
    server.contacts.purge(&b).await;
    assert_eq!(
        relations_of(&mut server.client, &a).await,
        [("employs".to_owned(), marcel.id.clone())]
    );

    server.contacts.erase(&marcel).await;
    assert!(relations_of(&mut server.client, &a).await.is_empty());
    let entity = server
        .client
        .get_entity(pb::GetEntityRequest {
            entity: Some(marcel.clone()),
        })
        .await
        .expect("registry")
        .into_inner();
    assert_eq!(entity.state, pb::EntityState::Erased as i32);
    assert!(entity.label.is_empty(), "the name goes with the person");

    // Recorded as events naming the cause, in the relations log.
    let log = server.service.store().read_all(0, 1000).await.expect("log");
    let causes: Vec<i32> = log
        .iter()
        .filter(|e| e.event_type == "relation.deleted")
        .map(|e| {
            use prost::Message;
            match pb::RelationEvent::decode(e.payload.as_slice())
                .expect("decode")
                .event
            {
                Some(pb::relation_event::Event::Deleted(deleted)) => deleted.cause,
                other => panic!("unexpected {other:?}"),
            }
        })
        .collect();
    assert_eq!(
        causes,
        [
            pb::DeletionCause::EntityPurged as i32,
            pb::DeletionCause::EntityErased as i32
        ]
    );
    assert!(
        log.iter()
            .filter(|e| e.event_type == "relation.deleted")
            .all(|e| e.metadata.actor == CONTACTS_ACTOR),
        "made by whoever purged or erased"
    );
}

async fn a_merge_moves_relations_to_the_survivor_without_duplicates(backend: Backend) {
    let mut server = Server::start(backend).await;
    let a = server.contacts.organisation("A", &[]).await;
    let a_dup = server.contacts.organisation("A (duplicate)", &[]).await;
    let b = server.contacts.organisation("B", &[]).await;
    let c = server.contacts.organisation("C", &[]).await;
    let client = &mut server.client;
    client
        .create_relation(create(&b, "customer_of", &a))
        .await
        .expect("relation");
    client
        .create_relation(create(&b, "customer_of", &a_dup))
        .await
        .expect("duplicate once merged");
    client
        .create_relation(create(&c, "prospect_of", &a_dup))
        .await
        .expect("moves");
    client
        .create_relation(create(&a, "partner_of", &a_dup))
        .await
        .expect("would link a to itself");

    server.contacts.merge(&a, &a_dup).await;
    let client = &mut server.client;
    assert_eq!(
        relations_of(client, &a).await,
        [
            ("has_prospect".to_owned(), c.id.clone()),
            ("supplier_of".to_owned(), b.id.clone())
        ]
    );
    assert!(relations_of(client, &a_dup).await.is_empty());
    assert_eq!(
        relations_of(client, &b).await,
        [("customer_of".to_owned(), a.id.clone())]
    );
    let status = expect_code(
        client
            .create_relation(create(&b, "partner_of", &a_dup))
            .await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains(&format!("merged into {}", a.id)),
        "{}",
        status.message()
    );
}

async fn entity_relations_and_patterns_are_paged_and_filtered(backend: Backend) {
    let mut server = Server::start(backend).await;
    let hub = server.contacts.organisation("Hub", &[]).await;
    let mut customers = Vec::new();
    for index in 0..7 {
        customers.push(
            server
                .contacts
                .organisation(&format!("Customer {index}"), &[])
                .await,
        );
    }
    let people = [
        server.contacts.person("Ann", "A").await,
        server.contacts.person("Bob", "B").await,
    ];
    let client = &mut server.client;
    let mut triples: Vec<pb::Triple> = customers
        .iter()
        .map(|c| triple(c, "customer_of", &hub))
        .collect();
    triples.extend(people.iter().map(|p| triple(p, "employed_by", &hub)));
    client
        .create_relations(pb::CreateRelationsRequest {
            triples,
            skip_existing: false,
        })
        .await
        .expect("bulk");

    let mut token = String::new();
    let mut seen = Vec::new();
    loop {
        let page = client
            .list_entity_relations(pb::ListEntityRelationsRequest {
                entity: Some(hub.clone()),
                page_size: 4,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("page")
            .into_inner();
        assert_eq!(page.total, 9);
        seen.extend(
            page.relations
                .into_iter()
                .map(|r| r.other.unwrap_or_default().id),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 9);
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 9, "no relation twice across pages");

    let people_only = client
        .list_entity_relations(pb::ListEntityRelationsRequest {
            entity: Some(hub.clone()),
            other_kinds: vec![PERSON.into()],
            ..Default::default()
        })
        .await
        .expect("by kind")
        .into_inner();
    assert_eq!(people_only.total, 2);
    assert!(people_only
        .relations
        .iter()
        .all(|r| r.predicate == "employs"));
    let suppliers = client
        .list_entity_relations(pb::ListEntityRelationsRequest {
            entity: Some(hub.clone()),
            predicates: vec!["supplier_of".into()],
            ..Default::default()
        })
        .await
        .expect("by predicate")
        .into_inner();
    assert_eq!(suppliers.total, 7);

    // (?, customer_of, ?) in pages of 3.
    let mut token = String::new();
    let mut count = 0;
    loop {
        let page = client
            .find_triples(pb::FindTriplesRequest {
                predicate: "customer_of".into(),
                page_size: 3,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .expect("pattern page")
            .into_inner();
        assert_eq!(page.total, 7);
        count += page.triples.len();
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(count, 7);
    let everything = client
        .find_triples(pb::FindTriplesRequest {
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("all")
        .into_inner();
    assert_eq!(everything.total, 18, "every relation read both ways");
}

async fn a_rebuild_equals_the_live_read_models(backend: Backend) {
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
    let removed = client
        .create_relation(create(&c, "partner_of", &b))
        .await
        .expect("relation")
        .into_inner();
    client
        .create_relation(create(&c, "customer_of", &a))
        .await
        .expect("relation");
    client
        .delete_relation(pb::DeleteRelationRequest { id: removed.id })
        .await
        .expect("delete");
    client
        .set_relation_type_enabled(pb::SetRelationTypeEnabledRequest {
            id: "backs".into(),
            enabled: false,
        })
        .await
        .expect("disable");
    server.contacts.purge(&c).await;

    let live = server
        .service
        .read_model()
        .snapshot()
        .await
        .expect("snapshot");
    let replayed = server
        .service
        .store()
        .rebuild_projections()
        .await
        .expect("rebuild");
    assert!(replayed > 10);
    let rebuilt = server
        .service
        .read_model()
        .snapshot()
        .await
        .expect("snapshot");
    assert_eq!(live, rebuilt);
    assert!(
        live.iter().any(|row| row == "relations: 2 rows"),
        "{live:?}"
    );
}
