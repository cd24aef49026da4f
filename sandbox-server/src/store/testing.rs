//! Throw-away PostgreSQL databases for tests (the service's own, the CLI's, the benches').

use sqlx::{Connection, PgConnection};

/// The server `cargo xtask ci` starts (`cargo xtask setup` makes the role and database);
/// `SANDBOX_TEST_POSTGRES` names another.
pub const DEFAULT_URL: &str = "postgres://sandbox:sandbox@127.0.0.1:5432/sandbox_test";

/// A database created for one test, dropped by [`TestDatabase::drop_database`].
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    admin: String,
    name: String,
}

impl TestDatabase {
    /// Creates a fresh, empty database. Panics with what to do when no server answers: these
    /// tests need PostgreSQL, they are not skipped.
    pub async fn create() -> TestDatabase {
        let admin = std::env::var("SANDBOX_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_URL.into());
        let mut connection = PgConnection::connect(&admin).await.unwrap_or_else(|error| {
            panic!(
                "these tests need PostgreSQL at {admin} ({error}): run `cargo xtask setup` \
                 (installs and starts it), or set SANDBOX_TEST_POSTGRES to a server where the \
                 user may create databases"
            )
        });
        let name = crate::keys::random_id("sandbox_t_")
            .to_lowercase()
            .replace('-', "_");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut connection)
            .await
            .expect("create a test database");
        let _ = connection.close().await;
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(base, _)| base);
        TestDatabase {
            url: format!("{base}/{name}"),
            admin,
            name,
        }
    }

    /// Drops the database (closing the connections still open to it).
    pub async fn drop_database(self) {
        if let Ok(mut connection) = PgConnection::connect(&self.admin).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            )))
            .execute(&mut connection)
            .await;
        }
    }
}
