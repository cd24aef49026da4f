//! The SQLite job store: one file, one service (it holds a lock on the file), WAL, one
//! writer task committing in groups, checkpoints in the background.

use super::writer::{WriteOp, Writer};
use super::{
    Completion, DoneHook, DueCallback, JobRecord, JobStore, NewJob, QueuedJob, Requeued,
    StoreError, Tenant, TenantLimits,
};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Connection, Row, SqlSafeStr, SqliteConnection};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

row_fns!(SqliteRow);

/// The schema, in order.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "init",
        include_str!("../../migrations/sqlite/0001_init.sql"),
    ),
    (
        2,
        "job backend",
        include_str!("../../migrations/sqlite/0002_job_backend.sql"),
    ),
];

/// How often the WAL is checkpointed into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// A WAL file larger than this is checkpointed and truncated (which waits for writers).
const WAL_TRUNCATE_BYTES: u64 = 256 << 20;

/// The migrator of a schema given as (version, name, SQL).
pub(super) fn migrator(migrations: &'static [(i64, &'static str, &'static str)]) -> Migrator {
    Migrator::with_migrations(
        migrations
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    (*name).into(),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

/// The SQLite job store.
pub struct SqliteStore {
    pool: SqlitePool,
    writer: Writer,
    path: Option<PathBuf>,
    checkpoints: Option<tokio::task::AbortHandle>,
    on_done: DoneHook,
    jobs_signal: tokio::sync::watch::Sender<u64>,
}

impl SqliteStore {
    /// Opens (creating it if needed) the database at `url` (`sqlite://PATH`,
    /// `sqlite::memory:` or a bare path) and applies the migrations.
    pub async fn open(url: &str, on_done: DoneHook) -> Result<SqliteStore, StoreError> {
        let (options, path) = connect_options(url)?;
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            // Checkpoints (which fsync) are a background task's, never a commit's: an
            // automatic checkpoint made the commit that crossed its threshold wait for the
            // disk, every few hundred jobs.
            .pragma("wal_autocheckpoint", "0");
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .min_connections(1)
            .connect_with(options.clone())
            .await?;
        migrator(MIGRATIONS).run(&pool).await?;
        let connection = SqliteConnection::connect_with(&options).await?;
        let writer = Writer::start(connection, Some(on_done.clone()));
        let checkpoints = path
            .clone()
            .map(|path| tokio::spawn(checkpoint(pool.clone(), path)).abort_handle());
        Ok(SqliteStore {
            pool,
            writer,
            path,
            checkpoints,
            on_done,
            jobs_signal: tokio::sync::watch::Sender::new(0),
        })
    }

    /// The database file, when it is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

impl JobStore for SqliteStore {
    common_methods!();
    writer_methods!();

    async fn close(&self) {
        self.writer.close().await;
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.abort();
        }
        let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.pool)
            .await;
        self.pool.close().await;
    }

    async fn claim_next(
        &self,
        _owner: &str,
        _max: usize,
        _lease_until: i64,
        _backends: &[String],
    ) -> Result<Vec<QueuedJob>, StoreError> {
        Err(StoreError::Unsupported(
            "workers claim jobs from PostgreSQL; with SQLite the service runs them itself \
             (`sandbox serve --workers N`)",
        ))
    }

    async fn requeue(
        &self,
        now: i64,
        all_running: bool,
        max_attempts: i64,
    ) -> Result<Requeued, StoreError> {
        self.writer.flush().await?;
        let mut tx = self.pool.begin().await?;
        let (requeued, done) = requeue_in!(tx, now, all_running, max_attempts);
        tx.commit().await?;
        for done in done {
            (self.on_done)(done);
        }
        Ok(requeued)
    }

    async fn due_callbacks(&self, now: i64, limit: i64) -> Result<Vec<DueCallback>, StoreError> {
        let rows = sqlx::query(
            "SELECT job_id, tenant_id, url, attempts FROM callbacks \
             WHERE state = 'pending' AND next_at <= $1 ORDER BY next_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(callback_of).collect())
    }
}

/// Copies committed pages from the WAL into the database file, in the background: passive
/// checkpoints, which never make a writer wait, and a truncating one when the WAL has grown
/// past [`WAL_TRUNCATE_BYTES`] (writers kept it busy).
async fn checkpoint(pool: SqlitePool, path: PathBuf) {
    let mut wal = path.into_os_string();
    wal.push("-wal");
    let mut ticks = tokio::time::interval(CHECKPOINT_EVERY);
    loop {
        ticks.tick().await;
        let large = std::fs::metadata(&wal).is_ok_and(|meta| meta.len() > WAL_TRUNCATE_BYTES);
        let sql = if large {
            "PRAGMA wal_checkpoint(TRUNCATE)"
        } else {
            "PRAGMA wal_checkpoint(PASSIVE)"
        };
        if let Err(error) = sqlx::query(sql).execute(&pool).await {
            tracing::warn!(%error, "checkpoint failed");
        }
    }
}

/// The connection options of `url` and the database file it names.
fn connect_options(url: &str) -> Result<(SqliteConnectOptions, Option<PathBuf>), StoreError> {
    if url == "sqlite::memory:" || url == ":memory:" {
        return Ok((SqliteConnectOptions::from_str("sqlite::memory:")?, None));
    }
    let path = if let Some(rest) = url.strip_prefix("sqlite://") {
        rest
    } else if let Some(rest) = url.strip_prefix("sqlite:") {
        rest
    } else if url.contains("://") {
        return Err(StoreError::UnsupportedUrl(url.to_string()));
    } else {
        url
    };
    let path = path.split('?').next().unwrap_or(path);
    let path = PathBuf::from(path);
    Ok((SqliteConnectOptions::new().filename(&path), Some(path)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            connect_options("sqlite:///tmp/x.db").unwrap().1,
            Some(PathBuf::from("/tmp/x.db"))
        );
        assert_eq!(
            connect_options("sqlite://data/x.db?mode=rwc").unwrap().1,
            Some(PathBuf::from("data/x.db"))
        );
        assert_eq!(
            connect_options("x.db").unwrap().1,
            Some(PathBuf::from("x.db"))
        );
        assert!(connect_options("sqlite::memory:").unwrap().1.is_none());
        assert!(matches!(
            connect_options("mysql://host/db"),
            Err(StoreError::UnsupportedUrl(_))
        ));
    }
}
