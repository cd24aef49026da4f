//! The execution service: a multi-tenant HTTP API (axum on tokio) for sandboxed runs and
//! judging, durable in SQLite (one machine) or PostgreSQL (workers on many hosts), over the
//! `sandbox` facade, guests in locked-down runner processes ([`runner`]).
//!
//! ```text
//! client ──HTTP──▶ api (auth, quotas, validation) ──commit──▶ store (SQLite, WAL)
//!                        │ queue                                ▲ claim / result
//!                        ▼                                      │
//!                  scheduler (fair across tenants) ──▶ workers (threads, the facade)
//!                                                         │ result committed
//!                                                         ▼
//!                                   waiters (?wait=true), callbacks (signed, retried)
//! ```
//!
//! A 202 means the job is committed. Workers claim jobs with a lease (renewed while they
//! run); a result is stored once, for the claim that holds the job. A process killed with
//! SIGKILL loses nothing: the next start requeues what it left running and the workers take
//! the queue again. SIGTERM drains ([`Server::shutdown`]).
//!
//! With PostgreSQL the queue is the database's: any number of API processes
//! ([`Server::start`] with no workers) and workers ([`work`], [`Server::start_worker`]: what
//! `sandbox worker` does) share it; workers claim jobs with `FOR UPDATE SKIP LOCKED` under
//! leases, and a job that kept killing its workers ends as `internal_error`.
//!
//! Start it with [`serve`] (what `sandbox serve` does) or [`Server::start`] inside a tokio
//! runtime; manage tenants with [`tenants`] or [`tenants::Admin`] (what `sandbox tenant`
//! does).

pub mod api;
mod callbacks;
pub mod config;
pub mod exec;
pub mod keys;
pub mod metrics;
pub mod model;
pub mod runner;
mod scheduler;
mod service;
pub mod store;
pub mod tenants;

pub use config::{Bounds, ServerConfig};
pub use service::{serve, work, Server, StartError};
pub use store::redact;
pub use store::{Store, StoreError, Tenant, TenantLimits};

/// Logs to stderr at `info` (or as `RUST_LOG` says), once per process.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Makes ring the process's TLS provider (rustls), once: HTTP clients built afterwards
/// (`reqwest::Client::new()` included) can speak https. Idempotent.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
