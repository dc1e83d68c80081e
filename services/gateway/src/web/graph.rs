//! An entity's neighbourhood as a picture: the entity in the middle, its
//! relations on a ring around it, and (two hops) theirs on an outer ring
//! near the one they hang from. Laid out here, drawn as inline SVG: no
//! script, readable by a screen reader through the list beside it.

use std::collections::HashMap;
use std::f64::consts::TAU;

use liaison_proto::common::v1::EntityRef;
use liaison_proto::relations::v1 as rel;

use crate::accounts::Caller;
use crate::api::AppState;
use crate::GatewayError;

const SIZE: f64 = 640.0;
const INNER: f64 = 150.0;
const OUTER: f64 = 280.0;
/// Neighbours drawn around the entity, and around each neighbour.
const FIRST_HOP_LIMIT: u32 = 24;
const SECOND_HOP_LIMIT: u32 = 8;

pub struct Node {
    pub x: f64,
    pub y: f64,
    pub label: String,
    pub href: String,
    pub hop: u8,
}

pub struct Edge {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
    pub label: String,
}

pub struct Graph {
    pub size: f64,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub hops: u8,
}

fn href(entity: &EntityRef) -> String {
    match entity.kind.as_str() {
        "contacts.person" | "contacts.organisation" => format!("/contacts/{}", entity.id),
        _ => String::new(),
    }
}

async fn relations_of(
    state: &AppState,
    caller: &Caller,
    entity: &EntityRef,
    limit: u32,
) -> Result<Vec<rel::EntityRelation>, GatewayError> {
    Ok(state
        .backends
        .relations()
        .list_entity_relations(state.backends.request(
            caller,
            rel::ListEntityRelationsRequest {
                entity: Some(entity.clone()),
                page_size: limit,
                ..Default::default()
            },
        ))
        .await?
        .into_inner()
        .relations)
}

pub async fn neighbourhood(
    state: &AppState,
    caller: &Caller,
    center: &EntityRef,
    center_label: &str,
    hops: u8,
) -> Result<Graph, GatewayError> {
    let middle = SIZE / 2.0;
    let mut nodes = vec![Node {
        x: middle,
        y: middle,
        label: center_label.to_owned(),
        href: href(center),
        hop: 0,
    }];
    let mut edges = Vec::new();
    let mut placed: HashMap<String, usize> = HashMap::from([(center.id.clone(), 0)]);
    let first = relations_of(state, caller, center, FIRST_HOP_LIMIT).await?;
    let mut ring: Vec<(EntityRef, f64)> = Vec::new();
    let count = first.len().max(1) as f64;
    for (index, relation) in first.into_iter().enumerate() {
        let other = relation.other.unwrap_or_default();
        let angle = TAU * index as f64 / count - TAU / 4.0;
        let at = *placed.entry(other.id.clone()).or_insert_with(|| {
            nodes.push(Node {
                x: middle + INNER * angle.cos(),
                y: middle + INNER * angle.sin(),
                label: relation.other_label.clone(),
                href: href(&other),
                hop: 1,
            });
            ring.push((other.clone(), angle));
            nodes.len() - 1
        });
        edges.push(edge(&nodes[0], &nodes[at], relation.predicate_label));
    }
    if hops >= 2 {
        let spread = TAU / count / 2.0;
        for (entity, angle) in ring {
            let parent = placed[&entity.id];
            let around = relations_of(state, caller, &entity, SECOND_HOP_LIMIT).await?;
            let fresh: Vec<_> = around
                .into_iter()
                .filter(|relation| {
                    relation
                        .other
                        .as_ref()
                        .is_some_and(|other| other.id != center.id)
                })
                .collect();
            let width = fresh.len().max(1) as f64;
            for (index, relation) in fresh.into_iter().enumerate() {
                let other = relation.other.unwrap_or_default();
                let offset = if width > 1.0 {
                    spread * (index as f64 / (width - 1.0) - 0.5)
                } else {
                    0.0
                };
                let at = *placed.entry(other.id.clone()).or_insert_with(|| {
                    nodes.push(Node {
                        x: middle + OUTER * (angle + offset).cos(),
                        y: middle + OUTER * (angle + offset).sin(),
                        label: relation.other_label.clone(),
                        href: href(&other),
                        hop: 2,
                    });
                    nodes.len() - 1
                });
                edges.push(edge(&nodes[parent], &nodes[at], relation.predicate_label));
            }
        }
    }
    Ok(Graph {
        size: SIZE,
        nodes,
        edges,
        hops,
    })
}

fn edge(from: &Node, to: &Node, label: String) -> Edge {
    Edge {
        x1: from.x,
        y1: from.y,
        x2: to.x,
        y2: to.y,
        label,
    }
}
