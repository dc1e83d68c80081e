//! The projections the conformance harnesses plug into a store, for each backend.

#[derive(Debug, thiserror::Error)]
#[error("refused by the test projection")]
pub struct Refused;

/// Their tables: a row per projected event, a counter of consumed ones.
pub const SCHEMA_SQL: &str = "CREATE TABLE projected (position BIGINT NOT NULL); \
     CREATE TABLE counted (kind TEXT NOT NULL, n BIGINT NOT NULL); \
     INSERT INTO counted VALUES ('consumed', 0);";

/// The query of a count a harness reads (`projected` or `consumed`), in
/// `schema` (with its dot) or the connection's own.
pub fn count_sql(kind: &str, schema: &str) -> String {
    match kind {
        "projected" => format!("SELECT COUNT(*) FROM {schema}projected"),
        _ => format!("SELECT n FROM {schema}counted WHERE kind = 'consumed'"),
    }
}

/// `Counter` (inline projection counting events, refusing
/// [`REFUSED_TYPE`](liaison_eventstore::conformance::REFUSED_TYPE)) and
/// `Consumed` (consumer projection counting events) on database `$db`.
#[macro_export]
macro_rules! counting_projections {
    ($db:ty) => {
        pub struct Counter;

        #[async_trait::async_trait]
        impl liaison_eventstore::Projection<$db> for Counter {
            fn name(&self) -> &'static str {
                "counter"
            }
            async fn apply(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                event: &liaison_eventstore::RecordedEvent,
            ) -> Result<(), liaison_eventstore::ProjectionError> {
                if event.event_type == liaison_eventstore::conformance::REFUSED_TYPE {
                    return Err(liaison_eventstore::ProjectionError::Rejected(Box::new(
                        $crate::support::Refused,
                    )));
                }
                sqlx::query("INSERT INTO projected (position) VALUES ($1)")
                    .bind(i64::try_from(event.position).unwrap_or(i64::MAX))
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
            fn tables(&self) -> &'static [&'static str] {
                &["projected"]
            }
        }

        pub struct Consumed;

        #[async_trait::async_trait]
        impl liaison_eventstore::ConsumerProjection<$db> for Consumed {
            fn consumer_name(&self) -> &'static str {
                liaison_eventstore::conformance::CONSUMER
            }
            async fn apply(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                _envelope: &liaison_proto::events::v1::EventEnvelope,
            ) -> Result<(), liaison_eventstore::ProjectionError> {
                sqlx::query("UPDATE counted SET n = n + 1 WHERE kind = 'consumed'")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }
            fn reacts_to(&self, envelope: &liaison_proto::events::v1::EventEnvelope) -> bool {
                envelope
                    .event_type
                    .starts_with(liaison_eventstore::conformance::REACT_TYPE)
            }
            async fn react(
                &self,
                _conn: &mut <$db as sqlx::Database>::Connection,
                envelope: &liaison_proto::events::v1::EventEnvelope,
            ) -> Result<Vec<liaison_eventstore::AppendRequest>, liaison_eventstore::ProjectionError>
            {
                Ok(vec![liaison_eventstore::conformance::reaction(envelope)])
            }
        }
    };
}
