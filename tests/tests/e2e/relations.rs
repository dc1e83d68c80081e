//! The relations service in the real binary, with real contacts: embedded
//! (one process) and distributed (contacts and relations as two processes
//! on PostgreSQL and NATS). Contacts' events feed the relations registry;
//! contacts asks relations before a purge.

use std::time::{Duration, Instant};

use liaison_bus::nats_server::NatsServer;
use liaison_proto::common::v1::EntityRef;
use liaison_proto::contacts::v1 as contacts;
use liaison_proto::contacts::v1::contact_service_client::ContactServiceClient;
use liaison_proto::relations::v1 as pb;
use liaison_proto::relations::v1::relation_service_client::RelationServiceClient;
use liaison_tests::{as_system, postgres_url, Liaison, PgSchema, Topology};
use tonic::transport::Channel;
use tonic::Code;

const ORGANISATION: &str = "contacts.organisation";

async fn organisation(client: &mut ContactServiceClient<Channel>, name: &str) -> EntityRef {
    let created = client
        .create_organisation(contacts::CreateOrganisationRequest {
            name: name.into(),
            ..Default::default()
        })
        .await
        .expect("create organisation")
        .into_inner();
    EntityRef {
        kind: ORGANISATION.into(),
        id: created.id,
    }
}

fn create(subject: &EntityRef, predicate: &str, object: &EntityRef) -> pb::CreateRelationRequest {
    pb::CreateRelationRequest {
        subject: Some(subject.clone()),
        predicate: predicate.into(),
        object: Some(object.clone()),
    }
}

/// `(predicate, other's label)` of `entity`'s relations, sorted.
async fn seen_from(
    client: &mut RelationServiceClient<Channel>,
    entity: &EntityRef,
) -> Vec<(String, String)> {
    let page = client
        .list_entity_relations(pb::ListEntityRelationsRequest {
            entity: Some(entity.clone()),
            ..Default::default()
        })
        .await
        .expect("relations of an entity")
        .into_inner();
    let mut seen: Vec<(String, String)> = page
        .relations
        .into_iter()
        .map(|r| (r.predicate, r.other_label))
        .collect();
    seen.sort();
    seen
}

/// Waits until `entity`'s relations are `expected` (events travel through the bus).
async fn eventually(
    client: &mut RelationServiceClient<Channel>,
    entity: &EntityRef,
    expected: &[(&str, &str)],
) {
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(p, l)| ((*p).to_owned(), (*l).to_owned()))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = seen_from(client, entity).await;
        if seen == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still {seen:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn version(id: &str) -> contacts::ContactVersionRequest {
    contacts::ContactVersionRequest {
        id: id.to_owned(),
        expected_version: None,
    }
}

/// DOMAIN.md §1 with contacts made in the contacts service, then what
/// contacts' renames, merges and purges do to relations.
async fn market_scenario(
    contacts_client: &mut ContactServiceClient<Channel>,
    relations: &mut RelationServiceClient<Channel>,
) {
    let a = organisation(contacts_client, "A").await;
    let b = organisation(contacts_client, "B").await;
    let c = organisation(contacts_client, "C").await;
    let d = organisation(contacts_client, "D").await;
    // Created right after the contacts: the registry may be a few ms behind,
    // and the command waits for it.
    for (subject, predicate, object) in [
        (&b, "customer_of", &a),
        (&c, "prospect_of", &a),
        (&d, "competitor_of", &a),
        (&c, "prospect_of", &d),
    ] {
        relations
            .create_relation(create(subject, predicate, object))
            .await
            .expect("relation between real contacts");
    }
    let who = relations
        .find_triples(pb::FindTriplesRequest {
            predicate: "has_prospect".into(),
            object: Some(c.clone()),
            ..Default::default()
        })
        .await
        .expect("who prospects C")
        .into_inner();
    let mut prospectors: Vec<&str> = who
        .triples
        .iter()
        .map(|t| t.subject_label.as_str())
        .collect();
    prospectors.sort();
    assert_eq!(prospectors, ["A", "D"]);
    eventually(
        relations,
        &d,
        &[("competitor_of", "A"), ("has_prospect", "C")],
    )
    .await;

    // A rename in contacts reaches the labels.
    contacts_client
        .update_organisation(contacts::UpdateOrganisationRequest {
            id: c.id.clone(),
            name: Some("C Industries".into()),
            ..Default::default()
        })
        .await
        .expect("rename");
    eventually(
        relations,
        &d,
        &[("competitor_of", "A"), ("has_prospect", "C Industries")],
    )
    .await;

    // A merge in contacts moves the duplicate's relations to the survivor.
    let a_duplicate = organisation(contacts_client, "A (duplicate)").await;
    let e = organisation(contacts_client, "E").await;
    relations
        .create_relation(create(&e, "customer_of", &a_duplicate))
        .await
        .expect("relation");
    relations
        .create_relation(create(&b, "customer_of", &a_duplicate))
        .await
        .expect("relation");
    contacts_client
        .merge_contacts(contacts::MergeContactsRequest {
            survivor_id: a.id.clone(),
            merged_id: a_duplicate.id.clone(),
        })
        .await
        .expect("merge");
    eventually(
        relations,
        &a,
        &[
            ("competitor_of", "D"),
            ("has_prospect", "C Industries"),
            ("supplier_of", "B"),
            ("supplier_of", "E"),
        ],
    )
    .await;

    // A purge in contacts removes the relations.
    contacts_client
        .trash_contact(version(&b.id))
        .await
        .expect("trash");
    contacts_client
        .purge_contact(version(&b.id))
        .await
        .expect("purge");
    eventually(
        relations,
        &a,
        &[
            ("competitor_of", "D"),
            ("has_prospect", "C Industries"),
            ("supplier_of", "E"),
        ],
    )
    .await;

    // Internal relations hold their entity: contacts asks relations first.
    relations
        .create_relation_type(as_system(
            pb::CreateRelationTypeRequest {
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
            },
            "billing",
        ))
        .await
        .expect("internal type");
    relations
        .create_relation(as_system(create(&e, "billed_to", &a), "billing"))
        .await
        .expect("internal relation");
    contacts_client
        .trash_contact(version(&e.id))
        .await
        .expect("trash");
    let refused = contacts_client
        .purge_contact(version(&e.id))
        .await
        .expect_err("held by an internal relation");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(
        refused.message().contains("billed_to: 1"),
        "{}",
        refused.message()
    );
    contacts_client
        .get_organisation(contacts::GetContactRequest { id: e.id.clone() })
        .await
        .expect("still there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_market_scenario_runs_through_contacts_and_relations_in_one_process() {
    let dir = tempfile::tempdir().expect("dir");
    let liaison = Liaison::start(&dir.path().join("data"))
        .await
        .expect("start");
    let mut contacts_client = liaison.contacts().await.expect("contacts");
    let mut relations = liaison.relations().await.expect("relations");
    market_scenario(&mut contacts_client, &mut relations).await;
    let metrics = crate::common::http_get(&liaison.http_addr, "/metrics").await;
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("liaison_consumer_applied_total{consumer=\"relations\"}")),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_market_scenario_runs_across_processes_on_postgres_and_nats() {
    let dir = tempfile::tempdir().expect("dir");
    let nats = NatsServer::start().expect("nats-server");
    let contacts_schema = PgSchema::new(&postgres_url());
    let relations_schema = PgSchema::new(&postgres_url());
    let relations_topology = Topology::service_alone(
        "relations",
        &relations_schema.url,
        &relations_schema.name,
        &nats.url(),
    );
    let relations_process = Liaison::start_with(&dir.path().join("relations"), &relations_topology)
        .await
        .expect("start relations");
    let mut contacts_topology = Topology::service_alone(
        "contacts",
        &contacts_schema.url,
        &contacts_schema.name,
        &nats.url(),
    );
    contacts_topology.env.push((
        "LIAISON__PEERS__RELATIONS".into(),
        relations_process.grpc_url(),
    ));
    let contacts_process = Liaison::start_with(&dir.path().join("contacts"), &contacts_topology)
        .await
        .expect("start contacts");
    let mut contacts_client = contacts_process.contacts().await.expect("contacts");
    let mut relations = relations_process.relations().await.expect("relations");
    market_scenario(&mut contacts_client, &mut relations).await;
    let ready = crate::common::http_get(&relations_process.http_addr, "/readyz").await;
    assert!(ready.contains("\"ready\":true"), "{ready}");
}
