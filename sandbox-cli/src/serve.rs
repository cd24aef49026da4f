//! `sandbox serve`, `sandbox worker` and `sandbox tenant ...`: the execution service, its
//! workers on other hosts, and its tenants.

use crate::units::{parse_duration, parse_size};
use clap::{Args, Subcommand, ValueEnum};
use sandbox_server::runner::{lockdown, Isolation, RunnerSettings};
use sandbox_server::{ServerConfig, TenantLimits};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the service keeps its state (shared by `serve` and `tenant`).
#[derive(Debug, Args)]
pub struct StateArgs {
    /// Database URL: `sqlite://PATH` (one machine; default `sqlite://DATA_DIR/sandbox.db`) or
    /// `postgres://USER:PASSWORD@HOST/DB` (the API and `sandbox worker`s on many hosts).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Directory of the database, the compiled-module cache and the administrator's key.
    #[arg(long, value_name = "DIR", default_value = "sandbox-data")]
    data_dir: PathBuf,
}

impl StateArgs {
    fn database_url(&self) -> String {
        let mut config = ServerConfig::new(&self.data_dir);
        config.database = self.database.clone();
        config.database_url()
    }
}

/// `sandbox serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Worker threads running guests (default: one per core; 0: accept jobs, run none).
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    #[command(flatten)]
    state: StateArgs,
    /// Largest request body (413 above it).
    #[arg(long, value_name = "SIZE", default_value = "32MiB", value_parser = parse_size)]
    max_body: u64,
    /// Most jobs queued in the whole service (503 above it).
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    max_queue: usize,
    /// How long `?wait=true` holds a request before answering 202.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    wait_timeout: std::time::Duration,
    /// How long SIGTERM lets running jobs finish before putting them back in the queue.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    drain_timeout: std::time::Duration,
    /// How long a claim holds a job without being renewed (renewed at a third of it): a job
    /// of a process that died is taken over after at most this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    lease: std::time::Duration,
    #[command(flatten)]
    isolation: IsolationArgs,
}

/// Where guests run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IsolationMode {
    /// On the worker's threads, in its process (the engines' own isolation only).
    None,
    /// In runner processes that lock themselves down (seccomp, Landlock, no_new_privs,
    /// rlimits) before they touch a guest.
    Process,
}

/// How guests are isolated (`serve` and `worker`).
#[derive(Debug, Args)]
pub struct IsolationArgs {
    /// `process` (default where the kernel supports it) or `none`.
    #[arg(long, value_enum, value_name = "MODE")]
    isolation: Option<IsolationMode>,
    /// A runner process is replaced after this many jobs.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    runner_max_jobs: u64,
    /// A runner process whose resident memory passes this during a job is killed (its job is
    /// retried in a fresh runner, then failed as internal_error).
    #[arg(long, value_name = "SIZE", default_value = "4GiB", value_parser = parse_size)]
    runner_memory: u64,
}

impl IsolationArgs {
    /// The isolation in effect: `process` needs Landlock and seccomp; without them the
    /// default falls back to `none` with a warning, and an explicit `process` is an error.
    fn resolve(&self) -> anyhow::Result<Isolation> {
        let process = || -> anyhow::Result<Isolation> {
            let program = std::env::current_exe()
                .map_err(|error| anyhow::anyhow!("cannot find the sandbox binary: {error}"))?;
            let mut settings = RunnerSettings::new(program, &["runner"]);
            settings.max_jobs = self.runner_max_jobs.max(1);
            settings.memory_ceiling_bytes = self.runner_memory;
            settings.recycle_rss_bytes = settings.recycle_rss_bytes.min(self.runner_memory);
            Ok(Isolation::Process(settings))
        };
        match self.isolation {
            Some(IsolationMode::None) => Ok(Isolation::None),
            Some(IsolationMode::Process) => match lockdown::available() {
                Ok(_) => process(),
                Err(reason) => anyhow::bail!(
                    "--isolation process cannot lock runner processes down here: {reason}"
                ),
            },
            None => match lockdown::available() {
                Ok(_) => process(),
                Err(reason) => {
                    eprintln!(
                        "warning: guests run in the worker's own process (no runner \
                         processes): {reason}. Pass --isolation none to accept this."
                    );
                    Ok(Isolation::None)
                }
            },
        }
    }
}

/// `sandbox worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The service's PostgreSQL database (`postgres://USER:PASSWORD@HOST/DB`).
    #[arg(long, value_name = "URL")]
    database: String,
    /// Directory of this host's module cache and compiled-code cache.
    #[arg(long, value_name = "DIR", default_value = "sandbox-data")]
    data_dir: PathBuf,
    /// Jobs run at once (default: one per core).
    #[arg(long, value_name = "N")]
    jobs: Option<usize>,
    /// Take only jobs on these engines (repeat or comma-separate; default: every engine of
    /// this build).
    #[arg(long, value_name = "ENGINE", value_delimiter = ',')]
    backend: Vec<sandbox::Runtime>,
    /// How long SIGTERM lets running jobs finish before putting them back in the queue.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    drain_timeout: std::time::Duration,
    /// How long a claim holds a job without being renewed (renewed at a third of it): the
    /// jobs of a worker that died are taken over after at most this long.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    lease: std::time::Duration,
    /// Most times a job is claimed (or ends a runner process) before it is finished as
    /// internal_error instead of being tried again.
    #[arg(long, value_name = "N", default_value_t = 3)]
    max_attempts: u32,
    #[command(flatten)]
    isolation: IsolationArgs,
}

/// Runs a worker until SIGTERM or Ctrl-C.
pub fn worker(args: WorkerArgs) -> anyhow::Result<u8> {
    sandbox_server::init_logging();
    let mut config = ServerConfig::new(&args.data_dir);
    config.database = Some(args.database);
    if let Some(jobs) = args.jobs {
        config.workers = jobs.max(1);
    }
    if !args.backend.is_empty() {
        config.backends = Some(args.backend.iter().map(ToString::to_string).collect());
    }
    config.drain_timeout = args.drain_timeout;
    config.lease = args.lease.max(std::time::Duration::from_millis(300));
    config.max_attempts = args.max_attempts.max(1);
    config.isolation = args.isolation.resolve()?;
    sandbox_server::work(config)?;
    Ok(crate::status::OK)
}

/// Runs the service until SIGTERM or Ctrl-C.
pub fn serve(args: ServeArgs) -> anyhow::Result<u8> {
    sandbox_server::init_logging();
    let mut config = ServerConfig::new(&args.state.data_dir);
    config.listen = args.listen;
    config.database = args.state.database;
    if let Some(workers) = args.workers {
        config.workers = workers;
    }
    config.lease = args.lease.max(std::time::Duration::from_millis(300));
    config.isolation = if config.workers == 0 {
        Isolation::None
    } else {
        args.isolation.resolve()?
    };
    config.max_body_bytes = usize::try_from(args.max_body).unwrap_or(usize::MAX);
    config.max_queue = args.max_queue;
    config.wait_timeout = args.wait_timeout;
    config.drain_timeout = args.drain_timeout;
    sandbox_server::serve(config)?;
    Ok(crate::status::OK)
}

/// `sandbox tenant ...`.
#[derive(Debug, Args)]
pub struct TenantArgs {
    #[command(subcommand)]
    command: TenantCommand,
}

#[derive(Debug, Subcommand)]
enum TenantCommand {
    /// Add a tenant and print its API key (shown once; stored only as a hash).
    Add {
        /// A unique name: letters, digits, `-`, `_`, `.`.
        name: String,
        /// Jobs of this tenant running at once.
        #[arg(long, value_name = "N")]
        max_concurrent: Option<u32>,
        /// Jobs accepted per minute (`600` or `600/min`); 429 above it.
        #[arg(long, value_name = "R/min", value_parser = parse_rate)]
        rate: Option<u32>,
        /// Jobs accepted and unfinished at once; 429 above it.
        #[arg(long, value_name = "N")]
        max_queue: Option<u32>,
        /// Largest memory limit a request may ask for (e.g. 256MiB).
        #[arg(long, value_name = "SIZE", value_parser = parse_size)]
        max_memory: Option<u64>,
        /// Largest fuel budget a request may ask for.
        #[arg(long, value_name = "N")]
        max_fuel: Option<u64>,
        /// Largest time limit a request may ask for (e.g. 10s).
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        max_timeout: Option<std::time::Duration>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// List the tenants and their maxima.
    List {
        #[command(flatten)]
        state: StateArgs,
        /// One JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Remove a tenant with its problems, runs and submissions.
    Remove {
        /// The tenant.
        name: String,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Give a tenant a new API key (the old one stops working within two seconds).
    RotateKey {
        /// The tenant.
        name: String,
        #[command(flatten)]
        state: StateArgs,
    },
}

fn parse_rate(text: &str) -> Result<u32, String> {
    let number = text.strip_suffix("/min").unwrap_or(text).trim();
    number
        .parse::<u32>()
        .ok()
        .filter(|rate| *rate > 0)
        .ok_or_else(|| format!("expected a rate like 600 or 600/min, got {text:?}"))
}

/// Runs a tenant command.
pub fn tenant(args: TenantArgs) -> anyhow::Result<u8> {
    match args.command {
        TenantCommand::Add {
            name,
            max_concurrent,
            rate,
            max_queue,
            max_memory,
            max_fuel,
            max_timeout,
            state,
        } => {
            let admin = open(&state)?;
            let limits = TenantLimits {
                max_concurrent,
                rate_per_min: rate,
                max_queue,
                max_memory_bytes: max_memory,
                max_fuel,
                max_timeout_ms: max_timeout.map(|limit| limit.as_millis() as u64),
            };
            let created = admin.add(&name, &limits)?;
            println!("tenant {name} added");
            println!("api key:        {}", created.api_key);
            if let Some(secret) = created.webhook_secret {
                println!("webhook secret: {secret}");
            }
            println!("(shown once: the service keeps only a hash of the key)");
        }
        TenantCommand::List { state, json } => {
            let tenants = open(&state)?.list()?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tenants)?);
            } else if tenants.is_empty() {
                println!("no tenants (add one with `sandbox tenant add NAME`)");
            } else {
                let show = |value: Option<String>| value.unwrap_or_else(|| "-".into());
                println!(
                    "{:<24} {:>10} {:>10} {:>10} {:>12} {:>14} {:>12}",
                    "NAME", "CONCURRENT", "RATE/MIN", "QUEUE", "MEMORY", "FUEL", "TIMEOUT"
                );
                for tenant in tenants {
                    let limits = &tenant.limits;
                    println!(
                        "{:<24} {:>10} {:>10} {:>10} {:>12} {:>14} {:>12}",
                        tenant.name,
                        show(limits.max_concurrent.map(|n| n.to_string())),
                        show(limits.rate_per_min.map(|n| n.to_string())),
                        show(limits.max_queue.map(|n| n.to_string())),
                        show(limits.max_memory_bytes.map(crate::units::format_size)),
                        show(limits.max_fuel.map(|n| n.to_string())),
                        show(limits.max_timeout_ms.map(|ms| format!("{ms}ms"))),
                    );
                }
            }
        }
        TenantCommand::Remove { name, state } => {
            open(&state)?.remove(&name)?;
            println!("tenant {name} removed");
        }
        TenantCommand::RotateKey { name, state } => {
            let created = open(&state)?.rotate_key(&name)?;
            println!("new api key for {name}: {}", created.api_key);
            println!("(shown once; the old key stops working within two seconds)");
        }
    }
    Ok(crate::status::OK)
}

fn open(state: &StateArgs) -> anyhow::Result<sandbox_server::tenants::Admin> {
    if let Some(parent) = state.database.is_none().then_some(&state.data_dir) {
        std::fs::create_dir_all(parent)?;
    }
    Ok(sandbox_server::tenants::Admin::open(&state.database_url())?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_take_both_spellings() {
        assert_eq!(parse_rate("600/min"), Ok(600));
        assert_eq!(parse_rate("60"), Ok(60));
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
    }
}
