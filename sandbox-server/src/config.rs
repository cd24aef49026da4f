//! The service's settings (the flags of `sandbox serve`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default limits of a run, and the service's own maxima (a tenant's maxima default to these
/// and cannot exceed them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bounds {
    /// Fuel.
    pub fuel: u64,
    /// Wall-clock time in milliseconds.
    pub timeout_ms: u64,
    /// Linear memory in bytes.
    pub max_memory_bytes: u64,
    /// Captured output per stream in bytes.
    pub max_output_bytes: u64,
}

/// Settings of the service.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Database URL; `None`: `sqlite://DATA_DIR/sandbox.db`.
    pub database: Option<String>,
    /// Where the database, the compiled-module cache and the administrator's key live.
    pub data_dir: PathBuf,
    /// Worker threads running guests (0: accept and store jobs, run none: with PostgreSQL,
    /// `sandbox worker` processes run them).
    pub workers: usize,
    /// Largest request body in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Most jobs queued in the whole service (503 above it).
    pub max_queue: usize,
    /// How long `?wait=true` holds a request before answering 202.
    pub wait_timeout: Duration,
    /// How long a claim holds a job without being renewed.
    pub lease: Duration,
    /// How long SIGTERM waits for running jobs before putting them back in the queue.
    pub drain_timeout: Duration,
    /// First delay between callback attempts (doubled after each failure).
    pub callback_backoff: Duration,
    /// Attempts of a callback before it is given up.
    pub callback_attempts: u32,
    /// Limits of a run that sets none.
    pub defaults: Bounds,
    /// The most any request may ask for.
    pub maxima: Bounds,
    /// Most tests in one problem.
    pub max_tests: usize,
    /// Claims of a job (or runner processes it ended) before it is finished as
    /// `internal_error` instead of being tried again (poison-job protection).
    pub max_attempts: u32,
    /// Where guests run: on the workers' threads or in locked-down runner processes.
    pub isolation: crate::runner::Isolation,
    /// The engines this process's workers take jobs of (`None`: every engine of the build).
    pub backends: Option<Vec<String>>,
    /// How often a worker with an empty queue looks at the database when no notification
    /// came (PostgreSQL).
    pub poll_interval: Duration,
}

impl ServerConfig {
    /// Defaults: 127.0.0.1:8080, `./sandbox-data`, one worker per core.
    pub fn new(data_dir: impl Into<PathBuf>) -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database: None,
            data_dir: data_dir.into(),
            workers: std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(1),
            max_body_bytes: 32 << 20,
            max_queue: 100_000,
            wait_timeout: Duration::from_secs(30),
            lease: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
            callback_backoff: Duration::from_secs(1),
            callback_attempts: 5,
            defaults: Bounds {
                fuel: 10_000_000,
                timeout_ms: 5_000,
                max_memory_bytes: 64 << 20,
                max_output_bytes: 1 << 20,
            },
            maxima: Bounds {
                fuel: 100_000_000_000,
                timeout_ms: 60_000,
                max_memory_bytes: 1 << 30,
                max_output_bytes: 16 << 20,
            },
            max_tests: 1_000,
            max_attempts: 3,
            isolation: crate::runner::Isolation::None,
            poll_interval: Duration::from_secs(1),
            backends: None,
        }
    }

    /// The directory of modules fetched from the database (`DATA_DIR/modules`).
    pub fn modules_dir(&self) -> PathBuf {
        self.data_dir.join("modules")
    }

    /// The directories of this service's runner processes.
    pub fn runner_dirs(&self) -> crate::runner::RunnerDirs {
        crate::runner::RunnerDirs {
            modules: self.modules_dir(),
            cache: self.data_dir.join("cache"),
            scratch: self.data_dir.join("runners"),
        }
    }

    /// The database URL in effect.
    pub fn database_url(&self) -> String {
        self.database
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("sandbox.db").display()))
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig::new("sandbox-data")
    }
}
