//! Property: whatever sequence of creates, deletes, trashes, purges,
//! erasures and merges happens, every relation is seen from both ends with
//! the symmetric predicate, no relation touches a gone entity, and a
//! rebuild from the log gives the same read models.

use std::collections::HashMap;

use crate::support::*;
use liaison_proto::common::v1::EntityRef;
use liaison_proto::relations::v1 as pb;
use proptest::prelude::*;

const ORGANISATIONS: usize = 5;
const PERSONS: usize = 3;
const PREDICATES: &[&str] = &[
    "customer_of",
    "supplier_of",
    "prospect_of",
    "has_prospect",
    "partner_of",
    "competitor_of",
    "employed_by",
    "employs",
    "manages",
    "subsidiary_of",
];

#[derive(Debug, Clone)]
enum Op {
    Create {
        subject: usize,
        predicate: usize,
        object: usize,
    },
    Delete {
        nth: usize,
    },
    Trash {
        entity: usize,
    },
    Purge {
        entity: usize,
    },
    Erase {
        person: usize,
    },
    Merge {
        survivor: usize,
        merged: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let entity = 0..ORGANISATIONS + PERSONS;
    prop_oneof![
        6 => (entity.clone(), 0..PREDICATES.len(), entity.clone())
            .prop_map(|(subject, predicate, object)| Op::Create { subject, predicate, object }),
        2 => (0..20usize).prop_map(|nth| Op::Delete { nth }),
        1 => entity.clone().prop_map(|entity| Op::Trash { entity }),
        1 => entity.clone().prop_map(|entity| Op::Purge { entity }),
        1 => (0..PERSONS).prop_map(|person| Op::Erase { person }),
        1 => (0..ORGANISATIONS, 0..ORGANISATIONS).prop_map(|(survivor, merged)| Op::Merge { survivor, merged }),
    ]
}

async fn run(backend: Backend, ops: Vec<Op>) {
    let mut server = Server::start(backend).await;
    let mut entities = Vec::new();
    for index in 0..ORGANISATIONS {
        entities.push(
            server
                .contacts
                .organisation(&format!("O{index}"), &[])
                .await,
        );
    }
    for index in 0..PERSONS {
        entities.push(server.contacts.person(&format!("P{index}"), "X").await);
    }
    let mut gone = vec![false; entities.len()];
    for op in ops {
        match op {
            Op::Create {
                subject,
                predicate,
                object,
            } => {
                // Refusals (kinds, duplicates, gone entities) are fine; the
                // invariants must hold either way.
                let _ = server
                    .client
                    .create_relation(create(
                        &entities[subject],
                        PREDICATES[predicate],
                        &entities[object],
                    ))
                    .await;
            }
            Op::Delete { nth } => {
                let all = all_triples(&mut server).await;
                if let Some(relation_id) = all.keys().nth(nth % all.len().max(1)) {
                    server
                        .client
                        .delete_relation(pb::DeleteRelationRequest {
                            id: relation_id.clone(),
                        })
                        .await
                        .expect("delete an existing relation");
                }
            }
            Op::Trash { entity } => server.contacts.trash(&entities[entity]).await,
            Op::Purge { entity } if !gone[entity] => {
                server.contacts.purge(&entities[entity]).await;
                gone[entity] = true;
            }
            Op::Erase { person } if !gone[ORGANISATIONS + person] => {
                server
                    .contacts
                    .erase(&entities[ORGANISATIONS + person])
                    .await;
                gone[ORGANISATIONS + person] = true;
            }
            Op::Merge { survivor, merged }
                if survivor != merged && !gone[survivor] && !gone[merged] =>
            {
                server
                    .contacts
                    .merge(&entities[survivor], &entities[merged])
                    .await;
                gone[merged] = true;
            }
            _ => {}
        }
    }
    check_invariants(&mut server, &entities, &gone).await;
}

/// Every row of the read model, by relation id.
async fn all_triples(server: &mut Server) -> HashMap<String, Vec<pb::TripleMatch>> {
    let page = server
        .client
        .find_triples(pb::FindTriplesRequest {
            page_size: 500,
            ..Default::default()
        })
        .await
        .expect("all triples")
        .into_inner();
    let mut by_relation: HashMap<String, Vec<pb::TripleMatch>> = HashMap::new();
    for triple in page.triples {
        by_relation
            .entry(triple.relation_id.clone())
            .or_default()
            .push(triple);
    }
    by_relation
}

async fn check_invariants(server: &mut Server, entities: &[EntityRef], gone: &[bool]) {
    let by_relation = all_triples(server).await;
    for (relation_id, rows) in &by_relation {
        assert_eq!(
            rows.len(),
            2,
            "relation {relation_id} is not a pair: {rows:?}"
        );
        let (first, second) = (&rows[0], &rows[1]);
        assert_eq!(first.subject, second.object, "{rows:?}");
        assert_eq!(first.object, second.subject, "{rows:?}");
        let relation_type = server
            .client
            .get_relation_type(pb::GetRelationTypeRequest {
                id: first.predicate.clone(),
            })
            .await
            .expect("type of a stored predicate")
            .into_inner();
        let sides = [
            relation_type.subject_side.unwrap_or_default().id,
            relation_type.object_side.unwrap_or_default().id,
        ];
        let symmetric = if first.predicate == sides[0] {
            &sides[1]
        } else {
            &sides[0]
        };
        assert_eq!(&second.predicate, symmetric, "{rows:?}");
    }
    for (entity, gone) in entities.iter().zip(gone) {
        let seen = relations_of(&mut server.client, entity).await;
        if *gone {
            assert!(seen.is_empty(), "{} is gone but has {seen:?}", entity.id);
        }
    }
    let live = server
        .service
        .read_model()
        .snapshot()
        .await
        .expect("snapshot");
    server
        .service
        .store()
        .rebuild_projections()
        .await
        .expect("rebuild");
    let rebuilt = server
        .service
        .read_model()
        .snapshot()
        .await
        .expect("snapshot");
    assert_eq!(
        live, rebuilt,
        "a rebuild from the log equals the live read models"
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn symmetry_holds_on_sqlite(ops in prop::collection::vec(op(), 1..40)) {
        runtime().block_on(run(Backend::Sqlite, ops));
    }

    #[test]
    fn symmetry_holds_on_postgres(ops in prop::collection::vec(op(), 1..25)) {
        runtime().block_on(run(Backend::Postgres, ops));
    }
}
