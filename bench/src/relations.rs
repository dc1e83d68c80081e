//! The relations service's workloads: relation creates beside the SQLite
//! ceiling, then reads over a large graph (an entity with 1,000 relations,
//! a triple pattern, a two-hop path) served by the relations service alone,
//! and its memory.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use liaison_proto::common::v1::EntityRef;
use liaison_proto::contacts::v1 as contacts;
use liaison_proto::contacts::v1::contact_service_client::ContactServiceClient;
use liaison_proto::relations::v1 as pb;
use liaison_proto::relations::v1::relation_service_client::RelationServiceClient;

use crate::load::{self, Stats};
use crate::process::Server;
use crate::{connect, interleaved_with, progress, report_first_error, work_dirs, Table};

use liaison_proto::kinds::ORGANISATION;
const RELATIONS_HEALTH: &str = "liaison.relations.v1.RelationService";
/// Predicates of the graph: the two-hop path follows the first two.
const GRAPH_PREDICATES: &[&str] = &["competitor_of", "prospect_of", "customer_of"];
const BULK: usize = 1_000;
const HUB_RELATIONS: usize = 1_000;

pub struct Graph {
    pub entities: u64,
    pub relations: u64,
}

pub async fn run(liaison: &Path, duration: Duration, graph: Graph) -> anyhow::Result<String> {
    let (work, data) = work_dirs()?;
    let mut table = Table::default();
    let mut notes = String::new();

    let ceiling = Server::ceiling(&work.path().join("ceiling.sqlite")).await?;
    let (service, _) = Server::liaison(liaison, &data).await?;
    progress(&format!("relations: {} organisations", graph.entities));
    let ids = Arc::new(organisations(&service, graph.entities).await?);
    wait_until_known(&service, &ids).await?;

    progress("relations: CreateRelation beside the ceiling");
    for clients in [1, 32] {
        let (ceiling_all, create_all, ratios) =
            interleaved_with(&ceiling, clients, duration, |run| {
                create_load(&service, ids.clone(), clients, duration, run)
            })
            .await?;
        let median = ratios[ratios.len() / 2];
        table.row(
            "(h) ceiling: tonic + 1 SQLite append/tx",
            &ceiling_all,
            None,
        );
        table.row("(h) CreateRelation", &create_all, Some(median));
        let rounds: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
        let _ = writeln!(
            notes,
            "CreateRelation/ceiling at {clients} client(s): median {median:.2}{}, rounds {}.",
            if clients == 32 { " (goal >= 0.5)" } else { "" },
            rounds.join(", ")
        );
    }
    drop(ceiling);

    progress(&format!(
        "relations: filling the graph to {} relations",
        graph.relations
    ));
    let started = Instant::now();
    let total = fill_graph(&service, &ids, graph.relations).await?;
    let fill_seconds = started.elapsed().as_secs_f64();
    let hub = hub(&service, &ids).await?;
    drop(service);

    // The relations service alone on the same data: its reads and its memory.
    progress("relations: reads over the graph, relations service alone");
    let alone = Server::liaison_target(liaison, &data, "relations", RELATIONS_HEALTH, &[]).await?;
    let entity = entity_relations_load(&alone, &hub, duration).await?;
    let pattern = pattern_load(&alone, ids.clone(), duration).await?;
    let paths = path_load(&alone, ids.clone(), duration).await?;
    let rss = alone.rss_mib()?;
    table.row(
        &format!("(i) ListEntityRelations, entity with {HUB_RELATIONS} relations, page 50 + total"),
        &entity,
        None,
    );
    table.row(
        &format!("(i) FindTriples (?, has_prospect, X), page 50 + total, {total} relations"),
        &pattern,
        None,
    );
    table.row(
        &format!("(i) FindPaths X -competitor_of-> ? -has_prospect-> ?, {total} relations"),
        &paths,
        None,
    );
    let mut out = table.render();
    let _ = writeln!(out);
    out.push_str(&notes);
    let _ = writeln!(
        out,
        "Graph: {} organisations, {total} relations (each stored both ways), loaded through CreateRelations in calls of {BULK} in {fill_seconds:.0} s.",
        ids.len()
    );
    let _ = writeln!(
        out,
        "Goals: entity relations p99 < 5 ms, two-hop path p99 < 50 ms; relations service RSS holding the graph after the reads: {rss:.1} MiB (goal < 300 MB)."
    );
    Ok(out)
}

fn organisation(id: &str) -> EntityRef {
    EntityRef {
        kind: ORGANISATION.into(),
        id: id.to_owned(),
    }
}

/// Creates `count` organisations through contacts; returns their ids.
async fn organisations(server: &Server, count: u64) -> anyhow::Result<Vec<String>> {
    let ids = Arc::new(Mutex::new(Vec::with_capacity(count as usize)));
    let mut tasks = Vec::new();
    for worker in 0..32u64 {
        let mut client = ContactServiceClient::new(connect(server).await?);
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = worker;
            while n < count {
                let created = client
                    .create_organisation(contacts::CreateOrganisationRequest {
                        name: format!("Organisation {n}"),
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                ids.lock()
                    .map_err(|_| anyhow::anyhow!("poisoned"))?
                    .push(created.id);
                n += 32;
            }
            anyhow::Ok(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let ids = std::mem::take(&mut *ids.lock().map_err(|_| anyhow::anyhow!("poisoned"))?);
    Ok(ids)
}

/// Waits until the relations registry has seen every organisation.
async fn wait_until_known(server: &Server, ids: &[String]) -> anyhow::Result<()> {
    let mut client = RelationServiceClient::new(connect(server).await?);
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut next = 0;
    while next < ids.len() {
        // Probes every 997th id, and the last: the registry applies in log order.
        let probe = (next + 997).min(ids.len() - 1);
        let known = client
            .get_entity(pb::GetEntityRequest {
                entity: Some(organisation(&ids[probe])),
            })
            .await
            .is_ok();
        if known {
            next = probe + 1;
            continue;
        }
        anyhow::ensure!(Instant::now() < deadline, "the registry did not catch up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Subject and object of the `k`-th triple: spread over the whole graph,
/// never the same entity twice.
fn pair(ids: &[String], k: u64) -> (EntityRef, EntityRef) {
    let count = ids.len() as u64;
    let subject = (k.wrapping_mul(2_654_435_761) >> 7) % count;
    let object = (subject + 1 + k.wrapping_mul(40_503) % (count - 1)) % count;
    (
        organisation(&ids[subject as usize]),
        organisation(&ids[object as usize]),
    )
}

async fn create_load(
    server: &Server,
    ids: Arc<Vec<String>>,
    clients: usize,
    duration: Duration,
    run: u64,
) -> anyhow::Result<Stats> {
    load::run(
        clients,
        duration,
        |_| async { Ok(RelationServiceClient::new(connect(server).await?)) },
        move |client, n| {
            let mut client = client.clone();
            let (subject, object) = pair(&ids, run + n);
            let request = pb::CreateRelationRequest {
                subject: Some(subject),
                predicate: "customer_of".into(),
                object: Some(object),
            };
            async move {
                match client.create_relation(request).await {
                    Ok(_) => true,
                    Err(status) => {
                        report_first_error("create relation", &status);
                        false
                    }
                }
            }
        },
    )
    .await
}

/// Relations in the graph now.
async fn relation_count(
    client: &mut RelationServiceClient<tonic::transport::Channel>,
) -> anyhow::Result<u64> {
    let types = client
        .list_relation_types(pb::ListRelationTypesRequest {
            include_disabled: true,
            include_internal: true,
            subject_kind: String::new(),
        })
        .await?
        .into_inner();
    Ok(types.types.iter().map(|t| t.relation_count).sum())
}

/// Adds relations in bulk until the graph holds `target`; returns the count.
async fn fill_graph(server: &Server, ids: &Arc<Vec<String>>, target: u64) -> anyhow::Result<u64> {
    let mut client = RelationServiceClient::new(connect(server).await?);
    let mut k = 10_000_000_000u64;
    loop {
        let present = relation_count(&mut client).await?;
        if present >= target {
            return Ok(present);
        }
        let missing = (target - present) as usize;
        let calls = missing.div_ceil(BULK);
        let mut tasks = Vec::new();
        for worker in 0..4usize {
            let mut client = RelationServiceClient::new(connect(server).await?);
            let ids = ids.clone();
            let first = k;
            tasks.push(tokio::spawn(async move {
                let mut call = worker;
                while call < calls {
                    let base = first + (call * BULK) as u64;
                    let triples = (0..BULK as u64)
                        .map(|i| {
                            let (subject, object) = pair(&ids, base + i);
                            pb::Triple {
                                subject: Some(subject),
                                predicate: GRAPH_PREDICATES[((base + i) % 3) as usize].into(),
                                object: Some(object),
                            }
                        })
                        .collect();
                    client
                        .create_relations(pb::CreateRelationsRequest {
                            triples,
                            skip_existing: true,
                        })
                        .await?;
                    call += 4;
                }
                anyhow::Ok(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        k += (calls * BULK) as u64;
    }
}

/// A new organisation with `HUB_RELATIONS` partners.
async fn hub(server: &Server, ids: &[String]) -> anyhow::Result<EntityRef> {
    let mut contacts_client = ContactServiceClient::new(connect(server).await?);
    let created = contacts_client
        .create_organisation(contacts::CreateOrganisationRequest {
            name: "Hub".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let hub = organisation(&created.id);
    let mut client = RelationServiceClient::new(connect(server).await?);
    let step = (ids.len() / HUB_RELATIONS).max(1);
    let triples = ids
        .iter()
        .step_by(step)
        .take(HUB_RELATIONS)
        .map(|id| pb::Triple {
            subject: Some(hub.clone()),
            predicate: "partner_of".into(),
            object: Some(organisation(id)),
        })
        .collect();
    client
        .create_relations(pb::CreateRelationsRequest {
            triples,
            skip_existing: false,
        })
        .await?;
    Ok(hub)
}

async fn entity_relations_load(
    server: &Server,
    hub: &EntityRef,
    duration: Duration,
) -> anyhow::Result<Stats> {
    let hub = hub.clone();
    load::run(
        1,
        duration,
        |_| async { Ok(RelationServiceClient::new(connect(server).await?)) },
        move |client, _| {
            let mut client = client.clone();
            let request = pb::ListEntityRelationsRequest {
                entity: Some(hub.clone()),
                page_size: 50,
                ..Default::default()
            };
            async move {
                client
                    .list_entity_relations(request)
                    .await
                    .is_ok_and(|page| page.into_inner().total as usize >= HUB_RELATIONS)
            }
        },
    )
    .await
}

async fn pattern_load(
    server: &Server,
    ids: Arc<Vec<String>>,
    duration: Duration,
) -> anyhow::Result<Stats> {
    load::run(
        1,
        duration,
        |_| async { Ok(RelationServiceClient::new(connect(server).await?)) },
        move |client, n| {
            let mut client = client.clone();
            let object = organisation(&ids[(n as usize * 7_919) % ids.len()]);
            let request = pb::FindTriplesRequest {
                predicate: "has_prospect".into(),
                object: Some(object),
                page_size: 50,
                ..Default::default()
            };
            async move { client.find_triples(request).await.is_ok() }
        },
    )
    .await
}

async fn path_load(
    server: &Server,
    ids: Arc<Vec<String>>,
    duration: Duration,
) -> anyhow::Result<Stats> {
    load::run(
        1,
        duration,
        |_| async { Ok(RelationServiceClient::new(connect(server).await?)) },
        move |client, n| {
            let mut client = client.clone();
            let start = organisation(&ids[(n as usize * 7_919) % ids.len()]);
            let request = pb::FindPathsRequest {
                start: Some(start),
                predicates: vec!["competitor_of".into(), "has_prospect".into()],
                limit: 100,
            };
            async move { client.find_paths(request).await.is_ok() }
        },
    )
    .await
}
