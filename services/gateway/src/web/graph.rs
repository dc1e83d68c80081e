//! An entity's neighbourhood as a picture: the entity in the middle, its
//! relations on a ring around it, and (two hops) theirs on an outer ring
//! near the one they hang from. Laid out here, drawn as inline SVG: no
//! script, readable by a screen reader through the list beside it.

use std::collections::HashMap;
use std::f64::consts::TAU;

use liaison_proto::common::v1::EntityRef;
use liaison_proto::relations::v1 as rel;

use crate::accounts::Caller;
use crate::state::AppState;
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
    /// Control point of the curve: the midpoint for a straight edge.
    pub cx: f64,
    pub cy: f64,
    pub x2: f64,
    pub y2: f64,
    pub label: String,
    /// Edges from the entity itself carry their label on the picture.
    pub labelled: bool,
}

pub struct Graph {
    pub size: f64,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
    pub hops: u8,
}

fn href(entity: &EntityRef) -> String {
    match entity.kind.as_str() {
        liaison_proto::kinds::PERSON | liaison_proto::kinds::ORGANISATION => {
            format!("/contacts/{}", entity.id)
        }
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
        add_edge(&mut edges, 0, at, relation.predicate_label);
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
                add_edge(&mut edges, parent, at, relation.predicate_label);
            }
        }
    }
    let edges = edges
        .into_iter()
        .map(|(from, to, label)| edge(&nodes, from, to, label))
        .collect();
    Ok(Graph {
        size: SIZE,
        nodes,
        edges,
        hops,
    })
}

/// One line per pair of entities (a relation is met from both ends).
fn add_edge(edges: &mut Vec<(usize, usize, String)>, from: usize, to: usize, label: String) {
    let drawn = edges
        .iter()
        .any(|(a, b, _)| (*a, *b) == (from, to) || (*a, *b) == (to, from));
    if !drawn {
        edges.push((from, to, label));
    }
}

/// A straight line, except between two entities of the same ring: that one
/// bends away from the middle, or it would cross the entity in the middle.
fn edge(nodes: &[Node], from: usize, to: usize, label: String) -> Edge {
    let (a, b) = (&nodes[from], &nodes[to]);
    let (mid_x, mid_y) = ((a.x + b.x) / 2.0, (a.y + b.y) / 2.0);
    let (cx, cy) = if a.hop == b.hop && a.hop > 0 {
        let middle = SIZE / 2.0;
        let (dx, dy) = (mid_x - middle, mid_y - middle);
        let length = (dx * dx + dy * dy).sqrt();
        let push = if a.hop == 1 { INNER } else { OUTER };
        if length < 1.0 {
            // Opposite ends of the ring: bend to one side of the middle.
            let (nx, ny) = (-(b.y - a.y), b.x - a.x);
            let norm = (nx * nx + ny * ny).sqrt().max(1.0);
            (middle + push * nx / norm, middle + push * ny / norm)
        } else {
            (
                middle + dx / length * (length + push),
                middle + dy / length * (length + push),
            )
        }
    } else {
        (mid_x, mid_y)
    };
    Edge {
        x1: a.x,
        y1: a.y,
        cx,
        cy,
        x2: b.x,
        y2: b.y,
        label,
        labelled: from == 0 || to == 0,
    }
}
