// The read models' queries, compiled once per backend (see projection_sql.rs).

use super::{
    EntityRelationRow, EntityRelationsFilter, Page, RelationHistoryRow, RowPattern, StoredRelation,
    TripleRow,
};

pub(crate) async fn relation_type(
    pool: &DbPool,
    type_id: &str,
) -> Result<Option<(RelationType, u64)>, RelationsError> {
    let mut conn = pool.acquire().await?;
    Ok(stored_type(&mut conn, type_id).await?)
}

pub(crate) async fn type_of_predicate(
    pool: &DbPool,
    predicate: &str,
) -> Result<Option<(RelationType, u64)>, RelationsError> {
    let row: Option<DbRow> = sqlx::query(
        "SELECT t.definition, t.relation_count FROM predicates p \
         JOIN relation_types t ON t.id = p.type_id WHERE p.id = $1",
    )
    .bind(predicate)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| type_from_row(&row)).transpose()?)
}

pub(crate) async fn relation_types(
    pool: &DbPool,
) -> Result<Vec<(RelationType, u64)>, RelationsError> {
    let rows = sqlx::query("SELECT definition, relation_count FROM relation_types ORDER BY id")
        .fetch_all(pool)
        .await?;
    Ok(rows.iter().map(type_from_row).collect::<Result<_, _>>()?)
}

pub(crate) async fn predicate_owners(
    pool: &DbPool,
) -> Result<HashMap<String, String>, RelationsError> {
    let rows = sqlx::query("SELECT id, type_id FROM predicates")
        .fetch_all(pool)
        .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("type_id")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(RelationsError::from)
}

pub(crate) async fn entities(
    pool: &DbPool,
    ids: &[&str],
) -> Result<HashMap<String, Entity>, RelationsError> {
    let mut conn = pool.acquire().await?;
    Ok(entities_on(&mut conn, ids).await?)
}

pub(crate) async fn triple(
    pool: &DbPool,
    subject: &str,
    predicate: &str,
    object: &str,
) -> Result<Option<(String, bool)>, RelationsError> {
    let row: Option<DbRow> = sqlx::query(
        "SELECT relation_id, forward FROM relations \
         WHERE subject_id = $1 AND predicate_id = $2 AND object_id = $3",
    )
    .bind(subject)
    .bind(predicate)
    .bind(object)
    .fetch_optional(pool)
    .await?;
    Ok(row
        .map(|row| Ok::<_, sqlx::Error>((row.try_get("relation_id")?, row.try_get("forward")?)))
        .transpose()?)
}

const RELATION_COLUMNS: &str = "r.relation_id, r.subject_id, r.subject_kind, r.predicate_id, \
     r.object_id, r.object_kind, r.created_at, p.symmetric_id, p.type_id";

fn relation_from_row(row: &DbRow) -> Result<StoredRelation, sqlx::Error> {
    Ok(StoredRelation {
        id: row.try_get("relation_id")?,
        subject: EntityRef {
            kind: row.try_get("subject_kind")?,
            id: row.try_get("subject_id")?,
        },
        predicate: row.try_get("predicate_id")?,
        object: EntityRef {
            kind: row.try_get("object_kind")?,
            id: row.try_get("object_id")?,
        },
        symmetric_predicate: row.try_get("symmetric_id")?,
        type_id: row.try_get("type_id")?,
        created_at: row.try_get("created_at")?,
    })
}

pub(crate) async fn relation(
    pool: &DbPool,
    relation_id: &str,
) -> Result<Option<StoredRelation>, RelationsError> {
    let row: Option<DbRow> = sqlx::query(&format!(
        "SELECT {RELATION_COLUMNS} FROM relations r JOIN predicates p ON p.id = r.predicate_id \
         WHERE r.relation_id = $1 AND r.forward = $2"
    ))
    .bind(relation_id)
    .bind(true)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| relation_from_row(&row)).transpose()?)
}

pub(crate) async fn relation_history(
    pool: &DbPool,
    entity_id: &str,
    before: Option<u64>,
    limit: u32,
) -> Result<Vec<RelationHistoryRow>, RelationsError> {
    let mut query = QueryBuilder::<Db>::new(
        "SELECT h.position, h.relation_id, h.change, h.predicate_id, \
         COALESCE(p.label, '') AS predicate_label, h.other_id, h.other_kind, \
         COALESCE(e.label, '') AS other_label, h.cause, h.actor, h.occurred_at \
         FROM relation_history h LEFT JOIN predicates p ON p.id = h.predicate_id \
         LEFT JOIN entities e ON e.id = h.other_id WHERE h.entity_id = ",
    );
    query.push_bind(entity_id);
    if let Some(before) = before {
        query
            .push(" AND h.position < ")
            .push_bind(i64::try_from(before).unwrap_or(i64::MAX));
    }
    query
        .push(" ORDER BY h.position DESC LIMIT ")
        .push_bind(i64::from(limit));
    let rows = query.build().fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            Ok(RelationHistoryRow {
                position: u64::try_from(row.try_get::<i64, _>("position")?).unwrap_or(0),
                relation_id: row.try_get("relation_id")?,
                change: row.try_get("change")?,
                predicate: row.try_get("predicate_id")?,
                predicate_label: row.try_get("predicate_label")?,
                other: EntityRef {
                    kind: row.try_get("other_kind")?,
                    id: row.try_get("other_id")?,
                },
                other_label: row.try_get("other_label")?,
                cause: row.try_get("cause")?,
                actor: row.try_get("actor")?,
                occurred_at: row.try_get("occurred_at")?,
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(RelationsError::from)
}

/// Relations (as created) of `entity_id` with `predicate` seen from it,
/// the other end of one of `other_kinds` (any when empty); at most `limit`.
pub(crate) async fn relations_from(
    pool: &DbPool,
    entity_id: &str,
    predicate: &str,
    other_kinds: &[String],
    limit: u32,
) -> Result<Vec<StoredRelation>, RelationsError> {
    let mut query = QueryBuilder::<Db>::new(format!(
        "SELECT {RELATION_COLUMNS} FROM relations r JOIN predicates p ON p.id = r.predicate_id \
         WHERE r.forward = "
    ));
    query
        .push_bind(true)
        .push(" AND r.relation_id IN (SELECT m.relation_id FROM relations m WHERE m.subject_id = ")
        .push_bind(entity_id)
        .push(" AND m.predicate_id = ")
        .push_bind(predicate);
    if !other_kinds.is_empty() {
        query.push(" AND m.object_kind IN (");
        let mut kinds = query.separated(", ");
        for kind in other_kinds {
            kinds.push_bind(kind.as_str());
        }
        query.push(")");
    }
    query
        .push(") ORDER BY r.relation_id LIMIT ")
        .push_bind(i64::from(limit));
    let rows = query.build().fetch_all(pool).await?;
    Ok(rows
        .iter()
        .map(relation_from_row)
        .collect::<Result<_, _>>()?)
}

/// Live entities out of the trash, of `kinds` (any when empty), whose
/// label contains `label` (any case), that `subject_id` is not yet related
/// to by `predicate`; ordered by label and id, after `after`.
pub(crate) async fn unrelated_entities(
    pool: &DbPool,
    subject_id: &str,
    predicate: &str,
    kinds: &[String],
    label: &str,
    after: Option<&(String, String)>,
    limit: u32,
) -> Result<Vec<Entity>, RelationsError> {
    let mut query = QueryBuilder::<Db>::new(
        "SELECT e.id, e.kind, e.label, e.tags, e.in_trash, e.state, e.merged_into \
         FROM entities e WHERE e.state = 'live' AND e.in_trash = ",
    );
    query
        .push_bind(false)
        .push(" AND e.id <> ")
        .push_bind(subject_id)
        .push(" AND NOT EXISTS (SELECT 1 FROM relations r WHERE r.subject_id = ")
        .push_bind(subject_id)
        .push(" AND r.predicate_id = ")
        .push_bind(predicate)
        .push(" AND r.object_id = e.id)");
    if !kinds.is_empty() {
        query.push(" AND e.kind IN (");
        let mut list = query.separated(", ");
        for kind in kinds {
            list.push_bind(kind.as_str());
        }
        query.push(")");
    }
    if !label.is_empty() {
        let escaped = label
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        query
            .push(" AND LOWER(e.label) LIKE ")
            .push_bind(format!("%{escaped}%"))
            .push(" ESCAPE '\\'");
    }
    if let Some((label, id)) = after {
        query
            .push(" AND (e.label, e.id) > (")
            .push_bind(label.as_str())
            .push(", ")
            .push_bind(id.as_str())
            .push(")");
    }
    query
        .push(" ORDER BY e.label, e.id LIMIT ")
        .push_bind(i64::from(limit));
    let rows = query.build().fetch_all(pool).await?;
    Ok(rows.iter().map(entity_from_row).collect::<Result<_, _>>()?)
}

pub(crate) async fn relations_of_type(
    pool: &DbPool,
    relation_type: &RelationType,
) -> Result<Vec<StoredRelation>, RelationsError> {
    let rows = sqlx::query(&format!(
        "SELECT {RELATION_COLUMNS} FROM relations r JOIN predicates p ON p.id = r.predicate_id \
         WHERE r.predicate_id IN ($1, $2) AND r.forward = $3"
    ))
    .bind(&relation_type.subject_side.id)
    .bind(&relation_type.object_side.id)
    .bind(true)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(relation_from_row)
        .collect::<Result<_, _>>()?)
}

/// The filters of an entity's relations, after `WHERE`.
fn push_entity_filter<'q>(query: &mut QueryBuilder<'q, Db>, filter: &'q EntityRelationsFilter) {
    query
        .push("r.subject_id = ")
        .push_bind(filter.entity_id.as_str());
    if !filter.predicates.is_empty() {
        query.push(" AND r.predicate_id IN (");
        let items: Vec<&str> = filter.predicates.iter().map(String::as_str).collect();
        push_list(query, &items);
    }
    if !filter.other_kinds.is_empty() {
        query.push(" AND r.object_kind IN (");
        let items: Vec<&str> = filter.other_kinds.iter().map(String::as_str).collect();
        push_list(query, &items);
    }
}

pub(crate) async fn entity_relations(
    pool: &DbPool,
    filter: &EntityRelationsFilter,
) -> Result<Page<EntityRelationRow>, RelationsError> {
    let mut query = QueryBuilder::<Db>::new(
        "SELECT r.relation_id, r.predicate_id, p.label AS predicate_label, r.object_kind, r.object_id, \
         COALESCE(e.label, '') AS other_label, (e.in_trash IS TRUE) AS other_in_trash, \
         r.created_at, t.internal \
         FROM relations r JOIN predicates p ON p.id = r.predicate_id \
         JOIN relation_types t ON t.id = p.type_id \
         LEFT JOIN entities e ON e.id = r.object_id WHERE ",
    );
    push_entity_filter(&mut query, filter);
    if let Some((predicate, other)) = &filter.after {
        query
            .push(" AND (r.predicate_id, r.object_id) > (")
            .push_bind(predicate.as_str())
            .push(", ")
            .push_bind(other.as_str())
            .push(")");
    }
    query
        .push(" ORDER BY r.predicate_id, r.object_id LIMIT ")
        .push_bind(i64::from(filter.limit) + 1);
    let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM relations r WHERE ");
    push_entity_filter(&mut count, filter);
    // The page and the total on two connections at once.
    let (rows, total) = tokio::join!(
        query.build().fetch_all(pool),
        count.build_query_scalar::<i64>().fetch_one(pool)
    );
    let (rows, total) = (rows?, total?);
    let mut items = rows
        .iter()
        .map(|row| {
            Ok(EntityRelationRow {
                relation_id: row.try_get("relation_id")?,
                predicate: row.try_get("predicate_id")?,
                predicate_label: row.try_get("predicate_label")?,
                other: EntityRef {
                    kind: row.try_get("object_kind")?,
                    id: row.try_get("object_id")?,
                },
                other_label: row.try_get("other_label")?,
                other_in_trash: row.try_get("other_in_trash")?,
                created_at: row.try_get("created_at")?,
                internal: row.try_get("internal")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let next = page_end(&mut items, filter.limit, |last| {
        vec![last.predicate.clone(), last.other.id.clone()]
    });
    Ok(Page {
        items,
        next,
        total: u64::try_from(total).unwrap_or(0),
    })
}

/// Cuts the extra row fetched to learn whether a page follows, and gives
/// the key of the last row kept, which the next page continues after.
fn page_end<T>(
    items: &mut Vec<T>,
    limit: u32,
    key: impl Fn(&T) -> Vec<String>,
) -> Option<Vec<String>> {
    if items.len() <= limit as usize {
        return None;
    }
    items.truncate(limit as usize);
    items.last().map(key)
}

fn push_pattern<'q>(query: &mut QueryBuilder<'q, Db>, pattern: &'q RowPattern) {
    query.push(" WHERE 1 = 1");
    if let Some(subject) = &pattern.row_subject {
        query
            .push(" AND r.subject_id = ")
            .push_bind(subject.as_str());
    }
    if let Some(predicate) = &pattern.row_predicate {
        query
            .push(" AND r.predicate_id = ")
            .push_bind(predicate.as_str());
    }
    if let Some(object) = &pattern.row_object {
        query.push(" AND r.object_id = ").push_bind(object.as_str());
    }
    if pattern.forward_only {
        query.push(" AND r.forward");
    }
}

pub(crate) async fn triples(
    pool: &DbPool,
    pattern: &RowPattern,
) -> Result<Page<TripleRow>, RelationsError> {
    // With only a predicate, the predicate index gives the order.
    let order = if pattern.row_subject.is_none() {
        (
            "r.predicate_id, r.subject_id, r.object_id",
            "(r.predicate_id, r.subject_id, r.object_id)",
        )
    } else {
        (
            "r.subject_id, r.predicate_id, r.object_id",
            "(r.subject_id, r.predicate_id, r.object_id)",
        )
    };
    let mut query = QueryBuilder::<Db>::new(
        "SELECT r.relation_id, r.subject_id, r.subject_kind, r.predicate_id, p.symmetric_id, \
         r.object_id, r.object_kind, COALESCE(s.label, '') AS subject_label, \
         COALESCE(o.label, '') AS object_label \
         FROM relations r JOIN predicates p ON p.id = r.predicate_id \
         LEFT JOIN entities s ON s.id = r.subject_id LEFT JOIN entities o ON o.id = r.object_id",
    );
    push_pattern(&mut query, pattern);
    if let Some((subject, predicate, object)) = &pattern.after {
        let (first, second, third) = if pattern.row_subject.is_none() {
            (predicate, subject, object)
        } else {
            (subject, predicate, object)
        };
        query
            .push(format!(" AND {} > (", order.1))
            .push_bind(first.as_str())
            .push(", ")
            .push_bind(second.as_str())
            .push(", ")
            .push_bind(third.as_str())
            .push(")");
    }
    query
        .push(format!(" ORDER BY {} LIMIT ", order.0))
        .push_bind(i64::from(pattern.limit) + 1);
    let rows = query.build().fetch_all(pool).await?;
    let mut keys = Vec::with_capacity(rows.len());
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let subject = EntityRef {
            kind: row.try_get("subject_kind")?,
            id: row.try_get("subject_id")?,
        };
        let object = EntityRef {
            kind: row.try_get("object_kind")?,
            id: row.try_get("object_id")?,
        };
        let predicate: String = row.try_get("predicate_id")?;
        keys.push(vec![
            subject.id.clone(),
            predicate.clone(),
            object.id.clone(),
        ]);
        let subject_label: String = row.try_get("subject_label")?;
        let object_label: String = row.try_get("object_label")?;
        let relation_id: String = row.try_get("relation_id")?;
        items.push(if pattern.flip {
            TripleRow {
                relation_id,
                subject: object,
                subject_label: object_label,
                predicate: row.try_get("symmetric_id")?,
                object: subject,
                object_label: subject_label,
            }
        } else {
            TripleRow {
                relation_id,
                subject,
                subject_label,
                predicate,
                object,
                object_label,
            }
        });
    }
    let limit = pattern.limit as usize;
    let next = (items.len() > limit).then(|| keys[limit - 1].clone());
    items.truncate(limit);
    let mut count = QueryBuilder::<Db>::new("SELECT COUNT(*) FROM relations r");
    push_pattern(&mut count, pattern);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
    Ok(Page {
        items,
        next,
        total: u64::try_from(total).unwrap_or(0),
    })
}

pub(crate) async fn paths(
    pool: &DbPool,
    start: &str,
    predicates: &[String],
    limit: u32,
) -> Result<Vec<Vec<EntityRef>>, RelationsError> {
    let hops = predicates.len();
    let mut query = QueryBuilder::<Db>::new("SELECT ");
    for hop in 1..=hops {
        if hop > 1 {
            query.push(", ");
        }
        query.push(format!(
            "r{hop}.object_id AS id{hop}, r{hop}.object_kind AS kind{hop}"
        ));
    }
    // CROSS JOIN keeps SQLite to this order (from the start, hop by hop,
    // each by primary key); without statistics it may begin with a scan of
    // every relation of the last predicate.
    query.push(" FROM relations r1");
    for hop in 2..=hops {
        query.push(format!(" CROSS JOIN relations r{hop}"));
    }
    query.push(" WHERE r1.subject_id = ").push_bind(start);
    query
        .push(" AND r1.predicate_id = ")
        .push_bind(predicates[0].as_str());
    for hop in 2..=hops {
        query.push(format!(
            " AND r{hop}.subject_id = r{}.object_id AND r{hop}.predicate_id = ",
            hop - 1
        ));
        query.push_bind(predicates[hop - 1].as_str());
    }
    // A path never comes back to an entity it went through.
    for hop in 2..=hops {
        query.push(format!(" AND r{hop}.object_id NOT IN ("));
        query.push_bind(start);
        for earlier in 1..hop {
            query.push(format!(", r{earlier}.object_id"));
        }
        query.push(")");
    }
    query.push(" ORDER BY ");
    for hop in 1..=hops {
        if hop > 1 {
            query.push(", ");
        }
        query.push(format!("r{hop}.object_id"));
    }
    query.push(" LIMIT ").push_bind(i64::from(limit) + 1);
    let rows = query.build().fetch_all(pool).await?;
    rows.iter()
        .map(|row| {
            (1..=hops)
                .map(|hop| {
                    Ok(EntityRef {
                        kind: row.try_get(format!("kind{hop}").as_str())?,
                        id: row.try_get(format!("id{hop}").as_str())?,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
        })
        .collect::<Result<_, _>>()
        .map_err(RelationsError::from)
}

pub(crate) async fn predicate_counts(
    pool: &DbPool,
    entity_id: &str,
) -> Result<Vec<(String, String, u64)>, RelationsError> {
    let rows = sqlx::query(
        "SELECT r.predicate_id, p.label, COUNT(*) AS relations FROM relations r \
         JOIN predicates p ON p.id = r.predicate_id WHERE r.subject_id = $1 \
         GROUP BY r.predicate_id, p.label ORDER BY r.predicate_id",
    )
    .bind(entity_id)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let count: i64 = row.try_get("relations")?;
            Ok((
                row.try_get("predicate_id")?,
                row.try_get("label")?,
                u64::try_from(count).unwrap_or(0),
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(RelationsError::from)
}

pub(crate) async fn internal_relations(
    pool: &DbPool,
    entity_id: &str,
) -> Result<Vec<(String, u64)>, RelationsError> {
    let rows = sqlx::query(
        "SELECT r.predicate_id, COUNT(*) AS relations FROM relations r \
         JOIN predicates p ON p.id = r.predicate_id JOIN relation_types t ON t.id = p.type_id \
         WHERE r.subject_id = $1 AND t.internal = $2 GROUP BY r.predicate_id ORDER BY r.predicate_id",
    )
    .bind(entity_id)
    .bind(true)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            let count: i64 = row.try_get("relations")?;
            Ok((
                row.try_get("predicate_id")?,
                u64::try_from(count).unwrap_or(0),
            ))
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(RelationsError::from)
}
