//! PostgreSQL for tests: the server to use, schemas that drop themselves
//! (so tests run side by side on one server), and running a service's
//! tests on both backends.

/// The databases a service runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Backend)` test on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::testing_postgres::Backend::Sqlite).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::testing_postgres::Backend::Postgres).await
                }
            )*
        }
    };
}

/// `LIAISON_TEST_POSTGRES_URL`, by default the local server.
pub fn postgres_url() -> String {
    std::env::var("LIAISON_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh schema name on `url`; the schema (created by whoever uses it) is
/// dropped with everything in it when this goes.
pub struct TemporarySchema {
    pub url: String,
    pub name: String,
}

impl TemporarySchema {
    pub fn new(url: &str, prefix: &str) -> Self {
        TemporarySchema {
            url: url.to_owned(),
            name: format!("{prefix}_{}", uuid::Uuid::new_v4().simple()),
        }
    }
}

impl Drop for TemporarySchema {
    fn drop(&mut self) {
        let (url, name) = (self.url.clone(), self.name.clone());
        // Drop runs outside async; a thread of its own drops the schema.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&url).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                        .execute(&pool)
                        .await;
                    pool.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}
