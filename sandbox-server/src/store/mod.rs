//! The job store: tenants, modules, problems, jobs and callbacks, in SQLite (the embedded
//! default, one machine) or PostgreSQL (many workers on many hosts), behind one trait,
//! [`JobStore`], with the same schema and migrations (embedded, applied when it opens).
//! [`Store`] is the one the `--database` URL names: `sqlite://PATH` (or a bare path) or
//! `postgres://...`.
//!
//! Durability: every write the API acknowledges (a job accepted with 202, a module stored, a
//! result) is committed first. SQLite runs in WAL mode with `synchronous = NORMAL` (a commit
//! survives the process being killed; only a power loss can take the last commits back);
//! PostgreSQL with its own settings (`synchronous_commit` on by default).
//!
//! Claims carry a lease and an attempt number; a result is written only for the attempt that
//! holds the job (fenced: a worker whose lease expired and whose job was taken over cannot
//! overwrite the result of the one that took it). A job whose claims expired
//! `max_attempts` times (it kept killing its worker) is finished as `internal_error` instead
//! of being claimed again ([`JobStore::requeue`]).
//!
//! Jobs are written by one task per store ([`writer`]) that commits many small writes in one
//! transaction (group commit): acceptances, claims and completions at a few thousand per
//! second cost a few transactions each millisecond, not one each.

#[macro_use]
mod common;
mod postgres;
mod sqlite;
#[doc(hidden)]
pub mod testing;
mod writer;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

use serde::{Deserialize, Serialize};
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

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
    #[error(
        "unsupported database URL {0:?}: use sqlite://PATH (one machine) or \
         postgres://USER:PASSWORD@HOST/DATABASE (workers on many hosts)"
    )]
    UnsupportedUrl(String),
    /// The database server could not be reached or refused the connection.
    #[error("cannot connect to the database {url}: {reason}")]
    Connect {
        /// The URL, its password hidden.
        url: String,
        /// What the driver said.
        reason: String,
    },
    /// An operation this database does not offer (claiming from the shared queue is
    /// PostgreSQL's).
    #[error("{0}")]
    Unsupported(&'static str),
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
    pub(crate) fn parse(text: &str) -> JobState {
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

    pub(crate) fn parse(text: &str) -> JobKind {
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

/// A job to insert.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Its id.
    pub id: String,
    /// Its tenant.
    pub tenant_id: i64,
    /// Run or submission.
    pub kind: JobKind,
    /// The request, as JSON.
    pub spec: String,
    /// Where to POST the result.
    pub callback_url: Option<String>,
    /// The engine it runs on (`wasmtime`, `wasmer`): workers may take only some.
    pub backend: String,
    /// When it was accepted.
    pub created_at: i64,
}

/// A result to store.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The job.
    pub id: String,
    /// The job's tenant.
    pub tenant_id: i64,
    /// The attempt the result belongs to (the claim's number).
    pub attempt: i64,
    /// The result, as JSON.
    pub result: String,
    /// The outcome (or verdict) name, for metrics and listings.
    pub outcome: String,
    /// Where to POST the result, if anywhere.
    pub callback_url: Option<String>,
}

/// A result committed: what the service's hook hears (from this process's writer with
/// SQLite; from any process, through `LISTEN`, with PostgreSQL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// The job.
    pub id: String,
    /// Whether a callback is owed for it.
    pub callback: bool,
}

/// Called once for each result committed.
pub type DoneHook = Arc<dyn Fn(Done) + Send + Sync>;

/// What [`JobStore::requeue`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requeued {
    /// Jobs put back in the queue.
    pub requeued: u64,
    /// Jobs finished as `internal_error` because their claims had expired `max_attempts`
    /// times (poison jobs).
    pub poisoned: Vec<String>,
}

/// The result stored for a job that kept killing the worker that ran it.
pub fn poison_result(attempts: i64) -> String {
    serde_json::json!({
        "outcome": {
            "kind": "internal_error",
            "message": format!(
                "the job was claimed {attempts} times and its worker never finished it \
                 (killed or crashed each time); it is not run again"
            ),
        },
    })
    .to_string()
}

/// Which database a store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite: one process serves the database (it holds a lock on it); its workers take jobs
    /// from an in-memory queue in front of it.
    Sqlite,
    /// PostgreSQL: any number of API and worker processes share it; workers claim jobs from
    /// it (`FOR UPDATE SKIP LOCKED`).
    Postgres,
}

/// The operations of a job store. Both databases implement all of them with the same
/// meaning; [`Store`] is the one a URL names.
pub trait JobStore: Send + Sync {
    /// Commits pending writes and closes the connections.
    fn close(&self) -> impl Future<Output = ()> + Send;
    /// Whether the database answers.
    fn ping(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    // ---- administrator and tenants ----

    /// The hash of the administrator's key, if one was set.
    fn admin_key_hash(&self) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// Sets the hash of the administrator's key.
    fn set_admin_key_hash(&self, hash: &str)
        -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Adds a tenant ([`StoreError::Exists`] if the name is taken).
    fn add_tenant(
        &self,
        name: &str,
        key_hash: &str,
        webhook_secret: &str,
        limits: &TenantLimits,
    ) -> impl Future<Output = Result<Tenant, StoreError>> + Send;
    /// Every tenant, by name.
    fn tenants(&self) -> impl Future<Output = Result<Vec<Tenant>, StoreError>> + Send;
    /// The tenant called `name`.
    fn tenant_by_name(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Option<Tenant>, StoreError>> + Send;
    /// The tenant whose key hashes to `hash`.
    fn tenant_by_key_hash(
        &self,
        hash: &str,
    ) -> impl Future<Output = Result<Option<Tenant>, StoreError>> + Send;
    /// The tenant numbered `id`.
    fn tenant_by_id(
        &self,
        id: i64,
    ) -> impl Future<Output = Result<Option<Tenant>, StoreError>> + Send;
    /// Replaces the key hash of tenant `name`.
    fn set_tenant_key_hash(
        &self,
        name: &str,
        hash: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Removes tenant `name` with its problems, jobs and callbacks (modules other tenants
    /// use stay).
    fn remove_tenant(&self, name: &str) -> impl Future<Output = Result<(), StoreError>> + Send;

    // ---- modules and problems ----

    /// Stores `bytes` under `sha256` (once) and lets `tenant_id` use them.
    fn put_module(
        &self,
        tenant_id: i64,
        sha256: &str,
        bytes: &[u8],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Whether `tenant_id` uploaded the module `sha256`.
    fn tenant_has_module(
        &self,
        tenant_id: i64,
        sha256: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// The bytes of module `sha256`.
    fn module_bytes(
        &self,
        sha256: &str,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;
    /// Stores a problem.
    fn insert_problem(
        &self,
        id: &str,
        tenant_id: i64,
        spec: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The spec of problem `id` of `tenant_id`.
    fn problem(
        &self,
        tenant_id: i64,
        id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    // ---- jobs ----

    /// Commits new jobs (one transaction for all of them) and wakes the workers.
    fn insert_jobs(&self, jobs: Vec<NewJob>)
        -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Records that `owner` took job `id` from the in-memory queue as attempt `attempt`,
    /// holding it until `lease_until`. Written with the next group commit; the caller does
    /// not wait (a claim lost with the process leaves the job queued, and it runs again).
    fn claim(
        &self,
        id: &str,
        attempt: i64,
        owner: &str,
        lease_until: i64,
    ) -> Result<(), StoreError>;
    /// Claims up to `max` queued jobs for `owner` until `lease_until`, tenants' oldest first,
    /// the tenants with the fewest jobs running first, none of a tenant at its
    /// `max_concurrent`, only jobs on one of `backends`. PostgreSQL only (`FOR UPDATE SKIP LOCKED`: workers never wait for
    /// each other's claims). Each job's `attempts` is the count before this claim (the claim
    /// is attempt `attempts + 1`), as for jobs taken from the in-memory queue.
    fn claim_next(
        &self,
        owner: &str,
        max: usize,
        lease_until: i64,
        backends: &[String],
    ) -> impl Future<Output = Result<Vec<QueuedJob>, StoreError>> + Send;
    /// A counter that moves when jobs may have been queued (PostgreSQL's `NOTIFY
    /// sandbox_jobs`, heard by this process); workers wait on it between empty claims, and
    /// poll anyway.
    fn job_signal(&self) -> tokio::sync::watch::Receiver<u64>;
    /// Stores the result of attempt `completion.attempt` (and its callback, if it has one),
    /// unless the job is done or another attempt holds it (fenced). The caller does not wait:
    /// the hook hears of the result once it is committed.
    fn complete(&self, completion: Completion) -> Result<(), StoreError>;
    /// Commits every write sent before (claims, completions).
    fn flush(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Job `id` of `tenant_id`.
    fn job(
        &self,
        tenant_id: i64,
        id: &str,
    ) -> impl Future<Output = Result<Option<JobRecord>, StoreError>> + Send;
    /// The spec of job `id` (for jobs queued without it in memory).
    fn job_spec(&self, id: &str)
        -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// The stored result of job `id` (any tenant): for callbacks.
    fn job_result(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
    /// Puts back in the queue the running jobs whose lease expired before `now` (every
    /// running job with `all_running`: a service that holds its SQLite database alone and
    /// starts again), except those claimed `max_attempts` times already: they end as
    /// `internal_error` (poison jobs), their callbacks owed.
    fn requeue(
        &self,
        now: i64,
        all_running: bool,
        max_attempts: i64,
    ) -> impl Future<Output = Result<Requeued, StoreError>> + Send;
    /// Extends the leases of `owner`'s running jobs to `until`; returns how many it holds.
    fn renew_leases(
        &self,
        owner: &str,
        until: i64,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Puts `owner`'s running jobs back in the queue (a draining process that could not
    /// finish them), after committing its pending writes.
    fn release(&self, owner: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;
    /// Every queued job, oldest first.
    fn queued_jobs(&self) -> impl Future<Output = Result<Vec<QueuedJob>, StoreError>> + Send;
    /// Jobs not finished: (of `tenant_id`, queued in the whole service, running in the whole
    /// service). The API's bounds when the queue is the database's.
    fn unfinished(
        &self,
        tenant_id: i64,
    ) -> impl Future<Output = Result<(u64, u64, u64), StoreError>> + Send;

    // ---- callbacks ----

    /// Pending callbacks due at `now`, oldest first, taken for delivery (with PostgreSQL,
    /// held for a minute so that another API process does not deliver them at once too).
    fn due_callbacks(
        &self,
        now: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<DueCallback>, StoreError>> + Send;
    /// The earliest time a pending callback is due, if any is pending.
    fn next_callback_at(&self) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;
    /// Records a delivery attempt: `state` is `delivered`, `failed` (no more attempts) or
    /// `pending` (try again at `next_at`).
    fn callback_attempted(
        &self,
        job_id: &str,
        state: &str,
        next_at: i64,
        error: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The delivery state of job `id`'s callback: (state, attempts, last error).
    #[allow(clippy::type_complexity)]
    fn callback_state(
        &self,
        job_id: &str,
    ) -> impl Future<Output = Result<Option<(String, i64, Option<String>)>, StoreError>> + Send;
}

/// The job store a URL names: SQLite or PostgreSQL.
#[derive(Clone)]
pub enum Store {
    /// `sqlite://PATH`.
    Sqlite(Arc<SqliteStore>),
    /// `postgres://...`.
    Postgres(Arc<PgStore>),
}

/// A database URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl Store {
    /// Opens (creating it if needed, for SQLite) the database at `url` and applies the
    /// migrations. `on_done` hears of each result committed.
    pub async fn open(url: &str, on_done: DoneHook) -> Result<Store, StoreError> {
        if is_postgres_url(url) {
            Ok(Store::Postgres(Arc::new(
                PgStore::open(url, on_done).await?,
            )))
        } else {
            Ok(Store::Sqlite(Arc::new(
                SqliteStore::open(url, on_done).await?,
            )))
        }
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        match self {
            Store::Sqlite(_) => Backend::Sqlite,
            Store::Postgres(_) => Backend::Postgres,
        }
    }

    /// The database file, when it is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Store::Sqlite(store) => store.path(),
            Store::Postgres(_) => None,
        }
    }
}

/// Inherent methods of [`Store`] that call the implementation's.
macro_rules! delegate {
    ($( $(#[$meta:meta])* async fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*
     $( sync fn $sname:ident(&self $(, $sarg:ident: $sty:ty)*) -> $sret:ty; )*) => {
        impl Store {
            $(
                $(#[$meta])*
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match self {
                        Store::Sqlite(store) => JobStore::$name(&**store $(, $arg)*).await,
                        Store::Postgres(store) => JobStore::$name(&**store $(, $arg)*).await,
                    }
                }
            )*
            $(
                #[doc = concat!("See [`JobStore::", stringify!($sname), "`].")]
                pub fn $sname(&self $(, $sarg: $sty)*) -> $sret {
                    match self {
                        Store::Sqlite(store) => JobStore::$sname(&**store $(, $sarg)*),
                        Store::Postgres(store) => JobStore::$sname(&**store $(, $sarg)*),
                    }
                }
            )*
        }
    };
}

delegate! {
    /// See [`JobStore::close`].
    async fn close(&self) -> ();
    /// See [`JobStore::ping`].
    async fn ping(&self) -> Result<(), StoreError>;
    /// See [`JobStore::admin_key_hash`].
    async fn admin_key_hash(&self) -> Result<Option<String>, StoreError>;
    /// See [`JobStore::set_admin_key_hash`].
    async fn set_admin_key_hash(&self, hash: &str) -> Result<(), StoreError>;
    /// See [`JobStore::add_tenant`].
    async fn add_tenant(&self, name: &str, key_hash: &str, webhook_secret: &str, limits: &TenantLimits) -> Result<Tenant, StoreError>;
    /// See [`JobStore::tenants`].
    async fn tenants(&self) -> Result<Vec<Tenant>, StoreError>;
    /// See [`JobStore::tenant_by_name`].
    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>, StoreError>;
    /// See [`JobStore::tenant_by_key_hash`].
    async fn tenant_by_key_hash(&self, hash: &str) -> Result<Option<Tenant>, StoreError>;
    /// See [`JobStore::tenant_by_id`].
    async fn tenant_by_id(&self, id: i64) -> Result<Option<Tenant>, StoreError>;
    /// See [`JobStore::set_tenant_key_hash`].
    async fn set_tenant_key_hash(&self, name: &str, hash: &str) -> Result<(), StoreError>;
    /// See [`JobStore::remove_tenant`].
    async fn remove_tenant(&self, name: &str) -> Result<(), StoreError>;
    /// See [`JobStore::put_module`].
    async fn put_module(&self, tenant_id: i64, sha256: &str, bytes: &[u8]) -> Result<(), StoreError>;
    /// See [`JobStore::tenant_has_module`].
    async fn tenant_has_module(&self, tenant_id: i64, sha256: &str) -> Result<bool, StoreError>;
    /// See [`JobStore::module_bytes`].
    async fn module_bytes(&self, sha256: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// See [`JobStore::insert_problem`].
    async fn insert_problem(&self, id: &str, tenant_id: i64, spec: &str) -> Result<(), StoreError>;
    /// See [`JobStore::problem`].
    async fn problem(&self, tenant_id: i64, id: &str) -> Result<Option<String>, StoreError>;
    /// See [`JobStore::insert_jobs`].
    async fn insert_jobs(&self, jobs: Vec<NewJob>) -> Result<(), StoreError>;
    /// See [`JobStore::claim_next`].
    async fn claim_next(&self, owner: &str, max: usize, lease_until: i64, backends: &[String]) -> Result<Vec<QueuedJob>, StoreError>;
    /// See [`JobStore::flush`].
    async fn flush(&self) -> Result<(), StoreError>;
    /// See [`JobStore::job`].
    async fn job(&self, tenant_id: i64, id: &str) -> Result<Option<JobRecord>, StoreError>;
    /// See [`JobStore::job_spec`].
    async fn job_spec(&self, id: &str) -> Result<Option<String>, StoreError>;
    /// See [`JobStore::job_result`].
    async fn job_result(&self, id: &str) -> Result<Option<String>, StoreError>;
    /// See [`JobStore::requeue`].
    async fn requeue(&self, now: i64, all_running: bool, max_attempts: i64) -> Result<Requeued, StoreError>;
    /// See [`JobStore::renew_leases`].
    async fn renew_leases(&self, owner: &str, until: i64) -> Result<u64, StoreError>;
    /// See [`JobStore::release`].
    async fn release(&self, owner: &str) -> Result<u64, StoreError>;
    /// See [`JobStore::queued_jobs`].
    async fn queued_jobs(&self) -> Result<Vec<QueuedJob>, StoreError>;
    /// See [`JobStore::unfinished`].
    async fn unfinished(&self, tenant_id: i64) -> Result<(u64, u64, u64), StoreError>;
    /// See [`JobStore::due_callbacks`].
    async fn due_callbacks(&self, now: i64, limit: i64) -> Result<Vec<DueCallback>, StoreError>;
    /// See [`JobStore::next_callback_at`].
    async fn next_callback_at(&self) -> Result<Option<i64>, StoreError>;
    /// See [`JobStore::callback_attempted`].
    async fn callback_attempted(&self, job_id: &str, state: &str, next_at: i64, error: Option<&str>) -> Result<(), StoreError>;
    /// See [`JobStore::callback_state`].
    async fn callback_state(&self, job_id: &str) -> Result<Option<(String, i64, Option<String>)>, StoreError>;
    sync fn claim(&self, id: &str, attempt: i64, owner: &str, lease_until: i64) -> Result<(), StoreError>;
    sync fn complete(&self, completion: Completion) -> Result<(), StoreError>;
    sync fn job_signal(&self) -> tokio::sync::watch::Receiver<u64>;
}

pub(crate) fn clamp_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
