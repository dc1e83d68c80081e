//! The log's SQL, written once with `$N` placeholders (which SQLite accepts
//! too) and stamped out for each backend's concrete sqlx types. What truly
//! differs (transactions, locking, erasure clean-up) stays in the backend
//! module, as inherent methods these impls call.

/// `impl LogReader for $reader`, where `$reader` wraps a `$pool` in `.0`.
macro_rules! log_reader_impl {
    ($reader:ty) => {
        #[async_trait::async_trait]
        impl $crate::reader::LogReader for $reader {
            async fn stream_events(
                &self,
                stream_id: &str,
                after_version: u64,
                limit: u32,
            ) -> Result<Vec<$crate::reader::SealedEvent>, $crate::StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {} FROM events WHERE stream_id = $1 AND stream_version > $2 \
                     ORDER BY stream_version LIMIT $3",
                    $crate::reader::EVENT_COLUMNS
                ))
                .bind(stream_id)
                .bind($crate::reader::to_i64(after_version))
                .bind(i64::from(limit))
                .fetch_all(&self.0)
                .await
                .map_err($crate::StoreError::from_sqlx)?;
                rows.iter().map($crate::reader::event_from_row).collect()
            }

            async fn events_after(
                &self,
                position: u64,
                limit: u32,
            ) -> Result<Vec<$crate::reader::SealedEvent>, $crate::StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
                    $crate::reader::EVENT_COLUMNS
                ))
                .bind($crate::reader::to_i64(position))
                .bind(i64::from(limit))
                .fetch_all(&self.0)
                .await
                .map_err($crate::StoreError::from_sqlx)?;
                rows.iter().map($crate::reader::event_from_row).collect()
            }

            async fn head_position(&self) -> Result<u64, $crate::StoreError> {
                let head: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(position), 0) FROM events")
                    .fetch_one(&self.0)
                    .await
                    .map_err($crate::StoreError::from_sqlx)?;
                Ok($crate::reader::to_u64(head))
            }

            async fn relay_checkpoint(&self) -> Result<u64, $crate::StoreError> {
                let position: Option<i64> =
                    sqlx::query_scalar("SELECT position FROM relay_checkpoint WHERE id = 1")
                        .fetch_optional(&self.0)
                        .await
                        .map_err($crate::StoreError::from_sqlx)?;
                Ok(position.map($crate::reader::to_u64).unwrap_or(0))
            }

            async fn subject_keys(
                &self,
                subjects: &[&str],
            ) -> Result<std::collections::HashMap<String, Vec<u8>>, $crate::StoreError> {
                let mut found = std::collections::HashMap::new();
                for chunk in subjects.chunks(1_000) {
                    let mut query = sqlx::QueryBuilder::<<$reader as $crate::sql::PoolOf>::Db>::new(
                        "SELECT subject_id, key FROM subject_keys WHERE subject_id IN (",
                    );
                    $crate::sql::push_in_list(&mut query, chunk);
                    let rows: Vec<(String, Vec<u8>)> = query
                        .build_query_as()
                        .fetch_all(&self.0)
                        .await
                        .map_err($crate::StoreError::from_sqlx)?;
                    found.extend(rows);
                }
                Ok(found)
            }

            async fn subject_key(
                &self,
                subject: &str,
            ) -> Result<Option<Vec<u8>>, $crate::StoreError> {
                sqlx::query_scalar("SELECT key FROM subject_keys WHERE subject_id = $1")
                    .bind(subject)
                    .fetch_optional(&self.0)
                    .await
                    .map_err($crate::StoreError::from_sqlx)
            }
        }
    };
}

/// `impl Backend for $backend` over database `$db`. The backend type provides
/// `conn`, `begin_batch`, `end_batch(commit: Option<head>)`, `suspect`,
/// `after_erasure_batch`, `close_connection`, `unique_conflict` and
/// `MULTI_STATEMENT` (whether one query may hold several statements).
macro_rules! backend_impl {
    ($backend:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::backend::Backend for $backend {
            type Db = $db;

            fn connection(&mut self) -> &mut <$db as sqlx::Database>::Connection {
                self.conn()
            }

            async fn begin(&mut self, known_head: u64) -> Result<u64, $crate::StoreError> {
                self.begin_batch(known_head).await
            }

            async fn commit(&mut self, head: u64) -> Result<(), $crate::StoreError> {
                self.end_batch(Some(head)).await
            }

            async fn rollback(&mut self) -> Result<(), $crate::StoreError> {
                self.end_batch(None).await
            }

            fn connection_suspect(&mut self) {
                self.suspect();
            }

            async fn stream_version(&mut self, stream_id: &str) -> Result<u64, sqlx::Error> {
                let version: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(stream_version), 0) FROM events WHERE stream_id = $1",
                )
                .bind(stream_id)
                .fetch_one(self.conn())
                .await?;
                Ok($crate::reader::to_u64(version))
            }

            async fn stream_versions(
                &mut self,
                stream_ids: &[&str],
            ) -> Result<std::collections::HashMap<String, u64>, sqlx::Error> {
                let mut versions = std::collections::HashMap::new();
                for chunk in stream_ids.chunks(1_000) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "SELECT stream_id, MAX(stream_version) FROM events WHERE stream_id IN (",
                    );
                    $crate::sql::push_in_list(&mut query, chunk);
                    query.push(" GROUP BY stream_id");
                    let rows: Vec<(String, i64)> =
                        query.build_query_as().fetch_all(self.conn()).await?;
                    versions.extend(
                        rows.into_iter()
                            .map(|(id, version)| (id, $crate::reader::to_u64(version))),
                    );
                }
                Ok(versions)
            }

            async fn subject_keys(
                &mut self,
                subjects: &[&str],
            ) -> Result<$crate::backend::SubjectKeys, sqlx::Error> {
                let mut found = $crate::backend::SubjectKeys::default();
                for chunk in subjects.chunks(1_000) {
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "SELECT subject_id, key FROM subject_keys WHERE subject_id IN (",
                    );
                    $crate::sql::push_in_list(&mut query, chunk);
                    let rows: Vec<(String, Vec<u8>)> =
                        query.build_query_as().fetch_all(self.conn()).await?;
                    found.keys.extend(rows);
                    let mut query = sqlx::QueryBuilder::<$db>::new(
                        "SELECT subject_id FROM forgotten_subjects WHERE subject_id IN (",
                    );
                    $crate::sql::push_in_list(&mut query, chunk);
                    let rows: Vec<(String,)> =
                        query.build_query_as().fetch_all(self.conn()).await?;
                    found
                        .forgotten
                        .extend(rows.into_iter().map(|(subject,)| subject));
                }
                Ok(found)
            }

            async fn insert_events(
                &mut self,
                rows: &[$crate::backend::EventRow<'_>],
                new_keys: &[(String, $crate::crypto::SubjectKey)],
            ) -> Result<(), $crate::backend::InsertError> {
                use $crate::backend::InsertError;
                fn push_keys(
                    query: &mut sqlx::QueryBuilder<'_, $db>,
                    new_keys: &[(String, $crate::crypto::SubjectKey)],
                ) {
                    let now = $crate::now_micros();
                    query.push("INSERT INTO subject_keys (subject_id, key, created_at) ");
                    query.push_values(new_keys, |mut row, (subject, key)| {
                        row.push_bind(subject.clone())
                            .push_bind(key.to_vec())
                            .push_bind(now);
                    });
                }
                let refused = |error: sqlx::Error| match error {
                    sqlx::Error::Database(db) if db.is_unique_violation() => {
                        InsertError::Conflict(Self::unique_conflict(db.as_ref()))
                    }
                    other => InsertError::Database(other),
                };
                // Keys and events in one round trip: two statements where the
                // driver takes several, else the keys' insert as a CTE. A
                // large batch goes in chunks: a statement binds at most
                // 32,766 values on SQLite (65,535 on PostgreSQL).
                for (index, chunk) in rows.chunks($crate::sql::EVENTS_PER_STATEMENT).enumerate() {
                    let mut insert = sqlx::QueryBuilder::<$db>::new("");
                    if index == 0 && !new_keys.is_empty() {
                        if Self::MULTI_STATEMENT {
                            push_keys(&mut insert, new_keys);
                            insert.push("; ");
                        } else {
                            insert.push("WITH new_keys AS (");
                            push_keys(&mut insert, new_keys);
                            insert.push(") ");
                        }
                    }
                    insert.push(
                        "INSERT INTO events (position, event_id, stream_id, stream_version, \
                         event_type, schema_version, occurred_at, actor, correlation_id, \
                         causation_id, traceparent, subject_id, payload) ",
                    );
                    insert.push_values(chunk, |mut row, event_row| {
                        let event = event_row.event;
                        row.push_bind($crate::reader::to_i64(event.position))
                            .push_bind(event.event_id.as_bytes().as_slice())
                            .push_bind(event.stream_id.as_str())
                            .push_bind($crate::reader::to_i64(event.stream_version))
                            .push_bind(event.event_type.as_str())
                            .push_bind(i64::from(event.schema_version))
                            .push_bind(event.metadata.occurred_at_micros)
                            .push_bind(event.metadata.actor.as_str())
                            .push_bind(event.metadata.correlation_id.as_str())
                            .push_bind(event.metadata.causation_id.as_str())
                            .push_bind(event.metadata.traceparent.as_str())
                            .push_bind(event_row.subject())
                            .push_bind(event_row.stored_payload());
                    });
                    insert.build().execute(self.conn()).await.map_err(refused)?;
                }
                Ok(())
            }

            async fn forget_subject(
                &mut self,
                subject: &str,
                at_micros: i64,
            ) -> Result<(), sqlx::Error> {
                sqlx::query("DELETE FROM subject_keys WHERE subject_id = $1")
                    .bind(subject)
                    .execute(self.conn())
                    .await?;
                sqlx::query(
                    "INSERT INTO forgotten_subjects (subject_id, forgotten_at) VALUES ($1, $2) \
                     ON CONFLICT (subject_id) DO NOTHING",
                )
                .bind(subject)
                .bind(at_micros)
                .execute(self.conn())
                .await
                .map(|_| ())
            }

            async fn subject_key(
                &mut self,
                subject: &str,
            ) -> Result<(Option<Vec<u8>>, bool), sqlx::Error> {
                sqlx::query_as(
                    "SELECT (SELECT key FROM subject_keys WHERE subject_id = $1), \
                     EXISTS (SELECT 1 FROM forgotten_subjects WHERE subject_id = $1)",
                )
                .bind(subject)
                .fetch_one(self.conn())
                .await
            }

            async fn save_relay_checkpoint(&mut self, position: u64) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO relay_checkpoint (id, position) VALUES (1, $1) \
                     ON CONFLICT (id) DO UPDATE SET position = excluded.position",
                )
                .bind($crate::reader::to_i64(position))
                .execute(self.conn())
                .await
                .map(|_| ())
            }

            async fn consumer_checkpoint(
                &mut self,
                consumer: &str,
                source_service: &str,
            ) -> Result<u64, sqlx::Error> {
                let position: Option<i64> = sqlx::query_scalar(
                    "SELECT position FROM consumer_checkpoints \
                     WHERE consumer = $1 AND source_service = $2",
                )
                .bind(consumer)
                .bind(source_service)
                .fetch_optional(self.conn())
                .await?;
                Ok(position.map($crate::reader::to_u64).unwrap_or(0))
            }

            async fn save_consumer_checkpoint(
                &mut self,
                consumer: &str,
                source_service: &str,
                position: u64,
            ) -> Result<(), sqlx::Error> {
                sqlx::query(
                    "INSERT INTO consumer_checkpoints (consumer, source_service, position) \
                     VALUES ($1, $2, $3) ON CONFLICT (consumer, source_service) \
                     DO UPDATE SET position = excluded.position",
                )
                .bind(consumer)
                .bind(source_service)
                .bind($crate::reader::to_i64(position))
                .execute(self.conn())
                .await
                .map(|_| ())
            }

            async fn events_after(
                &mut self,
                position: u64,
                limit: u32,
            ) -> Result<Vec<$crate::reader::SealedEvent>, $crate::StoreError> {
                let rows = sqlx::query(&format!(
                    "SELECT {} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
                    $crate::reader::EVENT_COLUMNS
                ))
                .bind($crate::reader::to_i64(position))
                .bind(i64::from(limit))
                .fetch_all(self.conn())
                .await
                .map_err($crate::StoreError::from_sqlx)?;
                rows.iter().map($crate::reader::event_from_row).collect()
            }

            async fn clear_table(&mut self, table: &str) -> Result<(), sqlx::Error> {
                debug_assert!($crate::read_pool::is_identifier(table), "{table}");
                sqlx::query(&format!("DELETE FROM {table}"))
                    .execute(self.conn())
                    .await
                    .map(|_| ())
            }

            async fn after_erasure(&mut self) -> Result<(), $crate::StoreError> {
                self.after_erasure_batch().await
            }

            async fn close(self) {
                self.close_connection().await;
            }
        }
    };
}

pub(crate) use {backend_impl, log_reader_impl};

/// Events per insert statement: 13 values each stays under SQLite's limit
/// of 32,766 bound values (with room for the keys' CTE).
pub(crate) const EVENTS_PER_STATEMENT: usize = 2_000;

/// Binds `items` as the list of an `IN (` the query just opened, and closes it.
pub(crate) fn push_in_list<'q, DB: sqlx::Database>(
    query: &mut sqlx::QueryBuilder<'q, DB>,
    items: &[&'q str],
) where
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut list = query.separated(", ");
    for item in items {
        list.push_bind(*item);
    }
    query.push(")");
}

/// The database of a reader type, for the SQL the macros build.
pub(crate) trait PoolOf {
    type Db: sqlx::Database;
}
