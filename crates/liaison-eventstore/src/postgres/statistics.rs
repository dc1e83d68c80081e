//! Keeps the planner's statistics of the service's tables fresh, by the rule
//! autovacuum's analyze uses (50 rows + 10% changed since the last one).
//! Where autovacuum runs, it has usually done it already and this does
//! nothing; where it is off, tables that were never analyzed make
//! PostgreSQL guess, and an index probe by a list of keys turns into a scan
//! of the whole table, a cost that grows with every row written.

use std::time::Duration;

use sqlx::PgPool;

const EVERY: Duration = Duration::from_secs(10);

/// Runs until the pool is closed.
pub(crate) async fn keep_fresh(pool: PgPool) {
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    while !pool.is_closed() {
        ticks.tick().await;
        if let Err(error) = analyze_stale(&pool).await {
            tracing::debug!(%error, "statistics not refreshed this time");
        }
    }
}

/// Analyzes the tables of the current schema whose changes since their
/// last analyze pass the threshold; returns how many.
pub(crate) async fn analyze_stale(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let stale: Vec<String> = sqlx::query_scalar(
        "SELECT relname::TEXT FROM pg_stat_user_tables \
         WHERE schemaname = current_schema() \
         AND n_mod_since_analyze > 50 + 0.1 * n_live_tup",
    )
    .fetch_all(pool)
    .await?;
    for table in &stale {
        sqlx::query(&format!("ANALYZE \"{}\"", table.replace('"', "\"\"")))
            .execute(pool)
            .await?;
    }
    Ok(stale.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn analyzes_a_table_once_enough_of_it_changed() {
        let url = std::env::var("LIAISON_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let schema = format!("stats_{}", uuid::Uuid::new_v4().simple());
        let admin = PgPool::connect(&url)
            .await
            .expect("PostgreSQL (make test's server)");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&admin)
            .await
            .expect("schema");
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(1)
            .after_connect({
                let schema = schema.clone();
                move |conn, _| {
                    let schema = schema.clone();
                    Box::pin(async move {
                        sqlx::query(&format!("SET search_path TO {schema}"))
                            .execute(conn)
                            .await
                            .map(|_| ())
                    })
                }
            })
            .connect(&url)
            .await
            .expect("pool");
        sqlx::query("CREATE TABLE things (id BIGINT PRIMARY KEY)")
            .execute(&pool)
            .await
            .expect("table");
        sqlx::query("INSERT INTO things SELECT generate_series(1, 500)")
            .execute(&pool)
            .await
            .expect("rows");
        // The statistics collector reports changes asynchronously.
        let mut analyzed = 0;
        for _ in 0..50 {
            analyzed = analyze_stale(&pool).await.expect("analyze");
            if analyzed > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(analyzed, 1);
        let live: i64 = sqlx::query_scalar(
            "SELECT reltuples::BIGINT FROM pg_class WHERE oid = 'things'::regclass",
        )
        .fetch_one(&pool)
        .await
        .expect("reltuples");
        assert_eq!(live, 500, "the planner now knows the table");
        assert_eq!(
            analyze_stale(&pool).await.expect("again"),
            0,
            "nothing changed since"
        );
        pool.close().await;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&admin)
            .await
            .expect("drop");
    }
}
