//! The job store: tenants, modules, problems, jobs and callbacks in SQLite (WAL), with the
//! migrations embedded and applied when it opens.
//!
//! Durability: every write the API acknowledges (a job accepted with 202, a module stored, a
//! result) is committed first. With WAL and `synchronous = NORMAL` a commit survives the
//! process being killed (it is in the write-ahead log, which the next open replays); only a
//! power loss can take the last commits back, as in SQLite's own durability model.
//!
//! Jobs are written by one task ([`writer`]) that commits many small writes in one
//! transaction (group commit): acceptances, claims and completions at a few thousand per
//! second cost a few transactions each millisecond, not one each.

mod writer;

use serde::{Deserialize, Serialize};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, SqlSafeStr};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use writer::{Completion, NewJob};
use writer::{WriteOp, Writer};

/// A failure of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database said no.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration could not be applied.
    #[error("could not migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A name that must be unique is taken.
    #[error("{0} already exists")]
    Exists(String),
    /// Nothing by that name or id.
    #[error("{0} not found")]
    NotFound(String),
    /// A file beside the database (the administrator's key) or the runtime could not be made.
    #[error("{0}")]
    Io(String),
    /// A write the writer task could not commit (its transaction failed).
    #[error("could not commit: {0}")]
    Write(String),
    /// The store's writer has stopped (the service is shutting down).
    #[error("the store is closed")]
    Closed,
    /// The database URL is not one this build can open.
    #[error("unsupported database URL {0:?}: this build stores jobs in SQLite (sqlite://PATH)")]
    UnsupportedUrl(String),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or(0)
}

/// A tenant's maxima; `None` is the server's own bound.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantLimits {
    /// Jobs of this tenant running at once (the rest wait in the queue).
    pub max_concurrent: Option<u32>,
    /// Jobs accepted per minute (a token bucket: bursts up to a minute's worth).
    pub rate_per_min: Option<u32>,
    /// Jobs of this tenant accepted and not finished (queued or running) at once.
    pub max_queue: Option<u32>,
    /// The largest `limits.max_memory_bytes` a request may ask for.
    pub max_memory_bytes: Option<u64>,
    /// The largest `limits.fuel` a request may ask for.
    pub max_fuel: Option<u64>,
    /// The largest `limits.timeout_ms` a request may ask for.
    pub max_timeout_ms: Option<u64>,
}

/// A tenant, as the store keeps it (never its key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Tenant {
    /// The tenant's number.
    #[serde(skip)]
    pub id: i64,
    /// Its unique name.
    pub name: String,
    /// Its maxima.
    #[serde(flatten)]
    pub limits: TenantLimits,
    /// The key of its callbacks' HMAC-SHA256 signatures.
    #[serde(skip)]
    pub webhook_secret: String,
    /// When it was added (ms since the epoch).
    pub created_at: i64,
}

/// A job's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Accepted, waiting for a worker.
    Queued,
    /// A worker holds it.
    Running,
    /// Its result is stored.
    Done,
}

impl JobState {
    fn parse(text: &str) -> JobState {
        match text {
            "running" => JobState::Running,
            "done" => JobState::Done,
            _ => JobState::Queued,
        }
    }
}

/// What a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// `POST /v1/runs`.
    Run,
    /// `POST /v1/submissions`.
    Submission,
}

impl JobKind {
    /// The name stored in the database.
    pub fn name(self) -> &'static str {
        match self {
            JobKind::Run => "run",
            JobKind::Submission => "submission",
        }
    }

    fn parse(text: &str) -> JobKind {
        if text == "submission" {
            JobKind::Submission
        } else {
            JobKind::Run
        }
    }
}

/// A stored job.
#[derive(Debug, Clone)]
pub struct JobRecord {
    /// Its id (`run_...` or `sub_...`).
    pub id: String,
    /// Its tenant.
    pub tenant_id: i64,
    /// Run or submission.
    pub kind: JobKind,
    /// Its state.
    pub state: JobState,
    /// The request, as JSON.
    pub spec: String,
    /// The result, as JSON, once done.
    pub result: Option<String>,
    /// How many times a worker claimed it.
    pub attempts: i64,
    /// When it was accepted, started and finished (ms since the epoch).
    pub created_at: i64,
    /// When its last claim started it.
    pub started_at: Option<i64>,
    /// When its result was stored.
    pub finished_at: Option<i64>,
}

/// A job waiting in the queue, as loaded when the service starts.
#[derive(Debug, Clone)]
pub struct QueuedJob {
    /// Its id.
    pub id: String,
    /// Its tenant.
    pub tenant_id: i64,
    /// Run or submission.
    pub kind: JobKind,
    /// The request, as JSON; `None` when it is larger than `MEMORY_SPEC_BYTES` (read again
    /// when the job runs).
    pub spec: Option<String>,
    /// Claims so far.
    pub attempts: i64,
    /// When it was accepted.
    pub created_at: i64,
    /// Where to POST the result.
    pub callback_url: Option<String>,
}

/// A callback due for delivery.
#[derive(Debug, Clone)]
pub struct DueCallback {
    /// The job whose result it carries.
    pub job_id: String,
    /// The job's tenant.
    pub tenant_id: i64,
    /// Where to POST it.
    pub url: String,
    /// Deliveries tried so far.
    pub attempts: i64,
}

/// Job specs up to this size are kept in memory while queued; larger ones (a big stdin) are
/// read from the database when the job runs, so a full queue holds a bounded amount.
pub const MEMORY_SPEC_BYTES: usize = 64 << 10;

/// The schema, in order; applied by [`Store::open`].
const MIGRATIONS: &[(i64, &str, &str)] =
    &[(1, "init", include_str!("../../migrations/0001_init.sql"))];

/// The job store.
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    writer: Writer,
    path: Option<PathBuf>,
    checkpoints: Option<std::sync::Arc<tokio::task::AbortHandle>>,
}

/// How often the WAL is checkpointed into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// A WAL file larger than this is checkpointed and truncated (which waits for writers).
const WAL_TRUNCATE_BYTES: u64 = 256 << 20;

impl Store {
    /// Opens (creating it if needed) the database at `url` (`sqlite://PATH`, `sqlite::memory:`
    /// or a bare path) and applies the migrations. `on_complete` is called after each
    /// completion is committed.
    pub async fn open(
        url: &str,
        on_complete: Box<dyn Fn(Completion) + Send + Sync>,
    ) -> Result<Store, StoreError> {
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
        let migrations = MIGRATIONS
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
            .collect();
        Migrator::with_migrations(migrations).run(&pool).await?;
        let writer = Writer::start(options, on_complete).await?;
        let checkpoints = path.clone().map(|path| {
            let task = tokio::spawn(checkpoint(pool.clone(), path));
            std::sync::Arc::new(task.abort_handle())
        });
        Ok(Store {
            pool,
            writer,
            path,
            checkpoints,
        })
    }

    /// The database file, when it is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Commits the writer's pending writes and stops it.
    pub async fn close(&self) {
        self.writer.close().await;
        if let Some(checkpoints) = &self.checkpoints {
            checkpoints.abort();
        }
        let _ = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&self.pool)
            .await;
        self.pool.close().await;
    }

    // ---- administrator and tenants ----

    /// The hash of the administrator's key, if one was set.
    pub async fn admin_key_hash(&self) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query("SELECT key_hash FROM admin WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?
            .map(|row| row.get(0)))
    }

    /// Sets the hash of the administrator's key.
    pub async fn set_admin_key_hash(&self, hash: &str) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO admin (id, key_hash) VALUES (1, ?) \
             ON CONFLICT (id) DO UPDATE SET key_hash = excluded.key_hash",
        )
        .bind(hash)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Adds a tenant.
    pub async fn add_tenant(
        &self,
        name: &str,
        key_hash: &str,
        webhook_secret: &str,
        limits: &TenantLimits,
    ) -> Result<Tenant, StoreError> {
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO tenants (name, key_hash, webhook_secret, max_concurrent, rate_per_min, \
             max_queue, max_memory_bytes, max_fuel, max_timeout_ms, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(key_hash)
        .bind(webhook_secret)
        .bind(limits.max_concurrent.map(i64::from))
        .bind(limits.rate_per_min.map(i64::from))
        .bind(limits.max_queue.map(i64::from))
        .bind(limits.max_memory_bytes.map(clamp_i64))
        .bind(limits.max_fuel.map(clamp_i64))
        .bind(limits.max_timeout_ms.map(clamp_i64))
        .bind(now)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Exists(format!("tenant {name:?}")));
        }
        self.tenant_by_name(name)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("tenant {name:?}")))
    }

    /// Every tenant, by name.
    pub async fn tenants(&self) -> Result<Vec<Tenant>, StoreError> {
        let rows = sqlx::query(AssertSqlSafe(format!("{TENANT_COLUMNS} ORDER BY name")))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(tenant_of).collect())
    }

    /// The tenant called `name`.
    pub async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!("{TENANT_COLUMNS} WHERE name = ?")))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(tenant_of))
    }

    /// The tenant whose key hashes to `hash`.
    pub async fn tenant_by_key_hash(&self, hash: &str) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "{TENANT_COLUMNS} WHERE key_hash = ?"
        )))
        .bind(hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(tenant_of))
    }

    /// The tenant numbered `id`.
    pub async fn tenant_by_id(&self, id: i64) -> Result<Option<Tenant>, StoreError> {
        let row = sqlx::query(AssertSqlSafe(format!("{TENANT_COLUMNS} WHERE id = ?")))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(tenant_of))
    }

    /// Replaces the key hash of tenant `name`.
    pub async fn set_tenant_key_hash(&self, name: &str, hash: &str) -> Result<(), StoreError> {
        let updated = sqlx::query("UPDATE tenants SET key_hash = ? WHERE name = ?")
            .bind(hash)
            .bind(name)
            .execute(&self.pool)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("tenant {name:?}")));
        }
        Ok(())
    }

    /// Removes tenant `name` with its problems, jobs and callbacks (modules other tenants
    /// use stay).
    pub async fn remove_tenant(&self, name: &str) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM tenants WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?;
        if deleted.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("tenant {name:?}")));
        }
        Ok(())
    }

    // ---- modules ----

    /// Stores `bytes` under `sha256` (once) and lets `tenant_id` use them.
    pub async fn put_module(
        &self,
        tenant_id: i64,
        sha256: &str,
        bytes: &[u8],
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO modules (sha256, bytes, size, created_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(bytes)
        .bind(bytes.len() as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO tenant_modules (tenant_id, sha256, created_at) VALUES (?, ?, ?) \
             ON CONFLICT DO NOTHING",
        )
        .bind(tenant_id)
        .bind(sha256)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Whether `tenant_id` uploaded the module `sha256`.
    pub async fn tenant_has_module(
        &self,
        tenant_id: i64,
        sha256: &str,
    ) -> Result<bool, StoreError> {
        Ok(
            sqlx::query("SELECT 1 FROM tenant_modules WHERE tenant_id = ? AND sha256 = ?")
                .bind(tenant_id)
                .bind(sha256)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// The bytes of module `sha256`.
    pub async fn module_bytes(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(sqlx::query("SELECT bytes FROM modules WHERE sha256 = ?")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| row.get(0)))
    }

    // ---- problems ----

    /// Stores a problem.
    pub async fn insert_problem(
        &self,
        id: &str,
        tenant_id: i64,
        spec: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO problems (id, tenant_id, spec, created_at) VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(tenant_id)
            .bind(spec)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The spec of problem `id` of `tenant_id`.
    pub async fn problem(&self, tenant_id: i64, id: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query("SELECT spec FROM problems WHERE id = ? AND tenant_id = ?")
                .bind(id)
                .bind(tenant_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.get(0)),
        )
    }

    // ---- jobs ----

    /// Commits new jobs (one group commit for all of them).
    pub async fn insert_jobs(&self, jobs: Vec<NewJob>) -> Result<(), StoreError> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.writer.send(WriteOp::Insert { jobs, done })?;
        answer.await.map_err(|_| StoreError::Closed)?
    }

    /// Records that `owner` claimed job `id` as attempt `attempt`, holding it until
    /// `lease_until`. Written with the next group commit; the caller does not wait (a claim
    /// lost with the process leaves the job queued, and it runs again).
    pub fn claim(
        &self,
        id: &str,
        attempt: i64,
        owner: &str,
        lease_until: i64,
    ) -> Result<(), StoreError> {
        self.writer.send(WriteOp::Claim {
            id: id.to_string(),
            attempt,
            owner: owner.to_string(),
            lease_until,
            started_at: now_ms(),
        })
    }

    /// Stores the result of attempt `attempt` of job `id` (and its callback, if it has one),
    /// unless the job is already done or another attempt holds it. The caller does not wait:
    /// the store calls its `on_complete` hook once the result is committed.
    pub fn complete(&self, completion: Completion) -> Result<(), StoreError> {
        self.writer.send(WriteOp::Complete(Box::new(completion)))
    }

    /// Job `id` of `tenant_id`.
    pub async fn job(&self, tenant_id: i64, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT id, tenant_id, kind, state, spec, result, attempts, created_at, started_at, \
             finished_at FROM jobs WHERE id = ? AND tenant_id = ?",
        )
        .bind(id)
        .bind(tenant_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|row| JobRecord {
            id: row.get(0),
            tenant_id: row.get(1),
            kind: JobKind::parse(row.get::<&str, _>(2)),
            state: JobState::parse(row.get::<&str, _>(3)),
            spec: row.get(4),
            result: row.get(5),
            attempts: row.get(6),
            created_at: row.get(7),
            started_at: row.get(8),
            finished_at: row.get(9),
        }))
    }

    /// Puts back in the queue every running job whose lease has expired or whose owner is
    /// not `owner` (the previous process of this service, when it holds the database alone).
    /// Returns how many.
    pub async fn requeue_orphans(&self, owner: &str, exclusive: bool) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "UPDATE jobs SET state = 'queued', owner = NULL, lease_until = NULL \
             WHERE state = 'running' AND (lease_until < ? OR (? AND owner IS NOT ?))",
        )
        .bind(now_ms())
        .bind(exclusive)
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// Extends the leases of `owner`'s running jobs to `until`.
    pub async fn renew_leases(&self, owner: &str, until: i64) -> Result<u64, StoreError> {
        let result =
            sqlx::query("UPDATE jobs SET lease_until = ? WHERE owner = ? AND state = 'running'")
                .bind(until)
                .bind(owner)
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected())
    }

    /// Puts `owner`'s running jobs back in the queue (a draining service that could not
    /// finish them).
    pub async fn release(&self, owner: &str) -> Result<u64, StoreError> {
        self.writer.flush().await?;
        let result = sqlx::query(
            "UPDATE jobs SET state = 'queued', owner = NULL, lease_until = NULL \
             WHERE owner = ? AND state = 'running'",
        )
        .bind(owner)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    /// Every queued job, oldest first.
    pub async fn queued_jobs(&self) -> Result<Vec<QueuedJob>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, tenant_id, kind, CASE WHEN length(spec) <= ? THEN spec END, attempts, \
             created_at, callback_url FROM jobs WHERE state = 'queued' ORDER BY seq",
        )
        .bind(MEMORY_SPEC_BYTES as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| QueuedJob {
                id: row.get(0),
                tenant_id: row.get(1),
                kind: JobKind::parse(row.get::<&str, _>(2)),
                spec: row.get(3),
                attempts: row.get(4),
                created_at: row.get(5),
                callback_url: row.get(6),
            })
            .collect())
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    /// The spec of job `id` (for jobs queued without it in memory).
    pub async fn job_spec(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query("SELECT spec FROM jobs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| row.get(0)))
    }

    // ---- callbacks ----

    /// Pending callbacks due at `now`, oldest first.
    pub async fn due_callbacks(
        &self,
        now: i64,
        limit: i64,
    ) -> Result<Vec<DueCallback>, StoreError> {
        let rows = sqlx::query(
            "SELECT job_id, tenant_id, url, attempts FROM callbacks \
             WHERE state = 'pending' AND next_at <= ? ORDER BY next_at LIMIT ?",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|row| DueCallback {
                job_id: row.get(0),
                tenant_id: row.get(1),
                url: row.get(2),
                attempts: row.get(3),
            })
            .collect())
    }

    /// The earliest time a pending callback is due, if any is pending.
    pub async fn next_callback_at(&self) -> Result<Option<i64>, StoreError> {
        Ok(
            sqlx::query("SELECT MIN(next_at) FROM callbacks WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await?
                .get(0),
        )
    }

    /// Records a delivery attempt: `state` is `delivered`, `failed` (no more attempts) or
    /// `pending` (try again at `next_at`).
    pub async fn callback_attempted(
        &self,
        job_id: &str,
        state: &str,
        next_at: i64,
        error: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE callbacks SET attempts = attempts + 1, state = ?, next_at = ?, last_error = ? \
             WHERE job_id = ?",
        )
        .bind(state)
        .bind(next_at)
        .bind(error)
        .bind(job_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The delivery state of job `id`'s callback: (state, attempts, last error).
    pub async fn callback_state(
        &self,
        job_id: &str,
    ) -> Result<Option<(String, i64, Option<String>)>, StoreError> {
        Ok(
            sqlx::query("SELECT state, attempts, last_error FROM callbacks WHERE job_id = ?")
                .bind(job_id)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| (row.get(0), row.get(1), row.get(2))),
        )
    }

    /// The stored result of job `id` (any tenant): for callbacks.
    pub async fn job_result(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query("SELECT result FROM jobs WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .and_then(|row| row.get(0)))
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

const TENANT_COLUMNS: &str =
    "SELECT id, name, webhook_secret, max_concurrent, rate_per_min, max_queue, \
     max_memory_bytes, max_fuel, max_timeout_ms, created_at FROM tenants";

fn tenant_of(row: &sqlx::sqlite::SqliteRow) -> Tenant {
    let small = |index: usize| {
        row.get::<Option<i64>, _>(index)
            .map(|n| n.clamp(0, u32::MAX as i64) as u32)
    };
    let large = |index: usize| row.get::<Option<i64>, _>(index).map(|n| n.max(0) as u64);
    Tenant {
        id: row.get(0),
        name: row.get(1),
        webhook_secret: row.get(2),
        limits: TenantLimits {
            max_concurrent: small(3),
            rate_per_min: small(4),
            max_queue: small(5),
            max_memory_bytes: large(6),
            max_fuel: large(7),
            max_timeout_ms: large(8),
        },
        created_at: row.get(9),
    }
}

fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
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
