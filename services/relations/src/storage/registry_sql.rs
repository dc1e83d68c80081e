// The entity registry's SQL, compiled once per backend (see projection_sql.rs).

use liaison_eventstore::{AppendRequest, ConsumerProjection};
use liaison_proto::events::v1::EventEnvelope;

use super::EntityRow;
use crate::reactions;

#[async_trait]
impl ConsumerProjection<Db> for EntityRegistry {
    fn consumer_name(&self) -> &'static str {
        super::CONSUMER
    }

    async fn apply(
        &self,
        conn: &mut Conn,
        envelope: &EventEnvelope,
    ) -> Result<(), ProjectionError> {
        for change in reactions::registry_changes(envelope)? {
            apply_change(conn, &change).await?;
        }
        Ok(())
    }

    fn reacts_to(&self, envelope: &EventEnvelope) -> bool {
        reactions::may_react(envelope)
    }

    async fn react(
        &self,
        conn: &mut Conn,
        envelope: &EventEnvelope,
    ) -> Result<Vec<AppendRequest>, ProjectionError> {
        let Some(entity_id) = reactions::entity_of(envelope) else {
            return Ok(Vec::new());
        };
        let rows = rows_of_entity(&mut *conn, &entity_id).await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let entity = entities_on(&mut *conn, &[entity_id.as_str()])
            .await?
            .remove(&entity_id);
        let survivor = match entity.as_ref().filter(|e| e.state == EntityState::Merged) {
            Some(merged) => {
                let survivor_id = merged.merged_into.clone();
                let entities = entities_on(&mut *conn, &[survivor_id.as_str()]).await?;
                let survivor_rows = rows_of_entity(&mut *conn, &survivor_id).await?;
                entities
                    .get(&survivor_id)
                    .cloned()
                    .map(|survivor| (survivor, survivor_rows))
            }
            None => None,
        };
        Ok(reactions::react(
            envelope,
            entity.as_ref(),
            &rows,
            survivor.as_ref(),
        ))
    }
}

async fn apply_change(
    conn: &mut Conn,
    change: &reactions::RegistryChange,
) -> Result<(), ProjectionError> {
    use reactions::RegistryChange as Change;
    match change {
        Change::Created {
            entity,
            person_name,
        } => {
            sqlx::query(
                "INSERT INTO entities (id, kind, label, tags, in_trash, state, merged_into, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, '', $7) ON CONFLICT (id) DO UPDATE SET \
                 kind = excluded.kind, label = excluded.label, tags = excluded.tags, \
                 in_trash = excluded.in_trash, state = excluded.state, updated_at = excluded.updated_at",
            )
            .bind(&entity.reference.id)
            .bind(&entity.reference.kind)
            .bind(&entity.label)
            .bind(join_tags(&entity.tags))
            .bind(entity.in_trash)
            .bind(entity.state.as_str())
            .bind(liaison_eventstore::now_micros())
            .execute(&mut *conn)
            .await?;
            if let Some((given, family)) = person_name {
                save_person_name(conn, &entity.reference.id, given, family).await?;
            }
        }
        Change::Renamed { id, label } => {
            update_entity(conn, id, "label = $2", label.clone()).await?;
        }
        Change::PersonRenamed { id, given, family } => {
            let stored: Option<(String, String)> =
                sqlx::query_as("SELECT given_name, family_name FROM person_names WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
            let (mut new_given, mut new_family) = stored.unwrap_or_default();
            if let Some(given) = given {
                new_given.clone_from(given);
            }
            if let Some(family) = family {
                new_family.clone_from(family);
            }
            save_person_name(conn, id, &new_given, &new_family).await?;
            let label = reactions::person_label(&new_given, &new_family);
            update_entity(conn, id, "label = $2", label).await?;
        }
        Change::Retagged { id, tags } => {
            update_entity(conn, id, "tags = $2", join_tags(tags)).await?;
        }
        Change::TagsAdded { id, tags } => {
            let stored: Option<String> =
                sqlx::query_scalar("SELECT tags FROM entities WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
            let mut all = split_tags(&stored.unwrap_or_default());
            for tag in tags {
                if !all.iter().any(|own| own.eq_ignore_ascii_case(tag)) {
                    all.push(tag.clone());
                }
            }
            update_entity(conn, id, "tags = $2", join_tags(&all)).await?;
        }
        Change::Trash { id, in_trash } => {
            sqlx::query("UPDATE entities SET in_trash = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(*in_trash)
                .bind(liaison_eventstore::now_micros())
                .execute(&mut *conn)
                .await?;
        }
        Change::Gone {
            id,
            state,
            merged_into,
        } => {
            update_entity(conn, id, "state = $2", state.as_str().to_owned()).await?;
            update_entity(conn, id, "merged_into = $2", merged_into.clone()).await?;
            if *state == EntityState::Erased {
                // Nothing personal stays: the name goes with the person.
                update_entity(conn, id, "label = $2", String::new()).await?;
                update_entity(conn, id, "tags = $2", String::new()).await?;
                sqlx::query("DELETE FROM person_names WHERE id = $1")
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
            }
        }
    }
    Ok(())
}

async fn update_entity(
    conn: &mut Conn,
    id: &str,
    assignment: &str,
    value: String,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "UPDATE entities SET {assignment}, updated_at = $3 WHERE id = $1"
    ))
    .bind(id)
    .bind(value)
    .bind(liaison_eventstore::now_micros())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

async fn save_person_name(
    conn: &mut Conn,
    id: &str,
    given: &str,
    family: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO person_names (id, given_name, family_name) VALUES ($1, $2, $3) \
         ON CONFLICT (id) DO UPDATE SET given_name = excluded.given_name, family_name = excluded.family_name",
    )
    .bind(id)
    .bind(given)
    .bind(family)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Every relation of an entity, read from its end.
async fn rows_of_entity(conn: &mut Conn, entity_id: &str) -> Result<Vec<EntityRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT r.relation_id, r.predicate_id, p.symmetric_id, p.type_id, r.object_id, \
         r.object_kind, r.forward FROM relations r JOIN predicates p ON p.id = r.predicate_id \
         WHERE r.subject_id = $1 ORDER BY r.predicate_id, r.object_id",
    )
    .bind(entity_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(EntityRow {
                relation_id: row.try_get("relation_id")?,
                predicate: row.try_get("predicate_id")?,
                symmetric_predicate: row.try_get("symmetric_id")?,
                type_id: row.try_get("type_id")?,
                other: EntityRef {
                    kind: row.try_get("object_kind")?,
                    id: row.try_get("object_id")?,
                },
                forward: row.try_get("forward")?,
            })
        })
        .collect()
}
