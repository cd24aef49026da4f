//! The running service: store, queue, workers, leases, callbacks and the HTTP listener, and
//! how it starts and drains.

use crate::config::ServerConfig;
use crate::exec::{internal_error, Engines};
use crate::keys;
use crate::metrics::{Metrics, OutcomeLabels};
use crate::scheduler::{QueuedJob, Scheduler};
use crate::store::{now_ms, Completion, Store, StoreError};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, Notify};

/// Requests waiting for jobs to finish (`?wait=true`).
#[derive(Default)]
pub struct Waiters {
    waiting: Mutex<HashMap<String, Vec<oneshot::Sender<()>>>>,
}

impl Waiters {
    /// A receiver that fires when job `id`'s result is committed.
    pub fn register(&self, id: &str) -> oneshot::Receiver<()> {
        let (sender, receiver) = oneshot::channel();
        self.lock().entry(id.to_string()).or_default().push(sender);
        receiver
    }

    /// Forgets the waiters of `id` (a request that gave up).
    pub fn forget(&self, id: &str) {
        self.lock().remove(id);
    }

    fn wake(&self, id: &str) {
        if let Some(senders) = self.lock().remove(id) {
            for sender in senders {
                let _ = sender.send(());
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<oneshot::Sender<()>>>> {
        self.waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What the store's completion hook needs.
pub struct Shared {
    /// Requests waiting for results.
    pub waiters: Waiters,
    /// Metrics.
    pub metrics: Metrics,
    /// Wakes the callback deliverer.
    pub callbacks: Notify,
}

/// Everything the handlers and workers share.
pub struct Service {
    /// Settings.
    pub config: ServerConfig,
    /// The job store.
    pub store: Store,
    /// The queue.
    pub scheduler: Arc<Scheduler>,
    /// Waiters, metrics, callback wake-ups.
    pub shared: Arc<Shared>,
    /// Engines and compiled modules.
    pub engines: Engines,
    /// This process's name in job claims.
    pub owner: String,
    /// Set on SIGTERM: new jobs are refused.
    pub draining: AtomicBool,
    /// The tokio runtime (for workers, which are plain threads).
    pub handle: tokio::runtime::Handle,
    /// Authenticated tenants and the administrator, briefly cached.
    pub auth: crate::api::auth::AuthCache,
    /// Per-tenant rate buckets.
    pub rates: crate::api::quota::Rates,
    /// The address the listener is bound to.
    pub local_addr: SocketAddr,
    /// When the service started.
    pub started: Instant,
}

impl Service {
    /// Whether the service accepts new jobs.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }
}

/// A started service: its address, its administrator key (if it made one) and the way to
/// stop it.
pub struct Server {
    service: Arc<Service>,
    listener_done: Option<tokio::task::JoinHandle<()>>,
    stop_listening: Option<oneshot::Sender<()>>,
    workers: Vec<std::thread::JoinHandle<()>>,
    background: Vec<tokio::task::JoinHandle<()>>,
    /// The administrator key created at this start (first start, no `SANDBOX_ADMIN_KEY`).
    pub new_admin_key: Option<String>,
    /// Where the administrator key was written.
    pub admin_key_file: Option<PathBuf>,
    _lock: Option<std::fs::File>,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Files or the listener.
    #[error("{0}")]
    Io(String),
}

impl Server {
    /// Opens the store, requeues what a previous process left running, starts the workers,
    /// the lease renewer, the callback deliverer and the listener. Call from a tokio
    /// runtime with the I/O and time drivers.
    pub async fn start(config: ServerConfig) -> Result<Server, StartError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|error| {
            StartError::Io(format!(
                "cannot create the data directory {}: {error}",
                config.data_dir.display()
            ))
        })?;
        let shared = Arc::new(Shared {
            waiters: Waiters::default(),
            metrics: Metrics::new(),
            callbacks: Notify::new(),
        });
        let hook = shared.clone();
        let store = Store::open(
            &config.database_url(),
            Box::new(move |completion: Completion| {
                if completion.stored {
                    hook.waiters.wake(&completion.id);
                    if completion.callback_url.is_some() {
                        hook.callbacks.notify_one();
                    }
                }
            }),
        )
        .await?;
        let lock = match store.path() {
            Some(path) => Some(lock_database(path)?),
            None => None,
        };
        let owner = keys::random_id("srv_");
        let orphans = store.requeue_orphans(&owner, true).await?;
        if orphans > 0 {
            tracing::info!(orphans, "requeued jobs a previous process left running");
        }
        let (new_admin_key, admin_key_file) =
            crate::tenants::ensure_admin_key(&store, &config.data_dir).await?;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|error| {
                StartError::Io(format!("cannot listen on {}: {error}", config.listen))
            })?;
        let local_addr = listener
            .local_addr()
            .map_err(|error| StartError::Io(error.to_string()))?;
        let scheduler = Arc::new(Scheduler::new(config.max_queue));
        let service = Arc::new(Service {
            engines: Engines::new(&config),
            store: store.clone(),
            scheduler: scheduler.clone(),
            shared: shared.clone(),
            owner,
            draining: AtomicBool::new(false),
            handle: tokio::runtime::Handle::current(),
            auth: Default::default(),
            rates: Default::default(),
            local_addr,
            started: Instant::now(),
            config,
        });
        // The queue as the database has it.
        let queued = store.queued_jobs().await?;
        let mut by_tenant: HashMap<i64, Vec<QueuedJob>> = HashMap::new();
        for job in queued {
            by_tenant.entry(job.tenant_id).or_default().push(QueuedJob {
                id: job.id,
                tenant_id: job.tenant_id,
                kind: job.kind,
                spec: job.spec.map(Arc::from),
                attempts: job.attempts,
                queued_at: Instant::now(),
                callback_url: job.callback_url,
            });
        }
        for (tenant_id, jobs) in by_tenant {
            let tenant = store.tenant_by_id(tenant_id).await?;
            let max_concurrent = tenant.and_then(|tenant| tenant.limits.max_concurrent);
            scheduler.push(jobs, max_concurrent, false);
        }
        let workers = start_workers(&service);
        let background = vec![
            tokio::spawn(renew_leases(service.clone())),
            tokio::spawn(crate::callbacks::deliver(service.clone())),
            tokio::spawn(sample_gauges(service.clone())),
        ];
        let (stop_listening, stopped) = oneshot::channel::<()>();
        let app = crate::api::router(service.clone());
        let listener_done = tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.await;
            };
            if let Err(error) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!(%error, "the listener stopped");
            }
        });
        Ok(Server {
            service,
            listener_done: Some(listener_done),
            stop_listening: Some(stop_listening),
            workers,
            background,
            new_admin_key,
            admin_key_file,
            _lock: lock,
        })
    }

    /// The address the service listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.service.local_addr
    }

    /// Drains: refuses new jobs, stops listening (requests in flight finish), lets running
    /// jobs finish for at most the drain timeout, puts the rest back in the queue, commits
    /// everything and stops. Queued jobs stay queued in the database for the next start.
    pub async fn shutdown(mut self) {
        let service = self.service.clone();
        service.draining.store(true, Ordering::Relaxed);
        service.scheduler.close();
        if let Some(stop) = self.stop_listening.take() {
            let _ = stop.send(());
        }
        // Requests waiting for results answer now (202: the job stays queued).
        service.shared.waiters.lock().clear();
        if let Some(listener) = self.listener_done.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), listener).await;
        }
        let scheduler = service.scheduler.clone();
        let drain = service.config.drain_timeout;
        let still_running = tokio::task::spawn_blocking(move || scheduler.wait_idle(drain))
            .await
            .unwrap_or(0);
        if still_running > 0 {
            tracing::warn!(
                still_running,
                "drain timeout: putting running jobs back in the queue"
            );
        }
        match service.store.release(&service.owner).await {
            Ok(0) => {}
            Ok(released) => tracing::info!(released, "released jobs to the queue"),
            Err(error) => tracing::error!(%error, "could not release jobs"),
        }
        for task in self.background.drain(..) {
            task.abort();
        }
        service.store.close().await;
        if still_running == 0 {
            for worker in self.workers.drain(..) {
                let _ = worker.join();
            }
        }
    }
}

/// Takes an exclusive lock on `DATABASE.lock`: one service per SQLite database (its jobs'
/// leases are this process's alone, so what a previous process left running can be requeued
/// at once).
fn lock_database(path: &std::path::Path) -> Result<std::fs::File, StartError> {
    use std::os::fd::AsRawFd;
    let mut name = path.as_os_str().to_owned();
    name.push(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&name)
        .map_err(|error| {
            StartError::Io(format!(
                "cannot open {}: {error}",
                PathBuf::from(&name).display()
            ))
        })?;
    // SAFETY: flock on a descriptor this function owns.
    let locked = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if locked != 0 {
        return Err(StartError::Io(format!(
            "another `sandbox serve` is using the database {} (lock {})",
            path.display(),
            PathBuf::from(&name).display()
        )));
    }
    Ok(file)
}

fn start_workers(service: &Arc<Service>) -> Vec<std::thread::JoinHandle<()>> {
    let count = service.config.workers;
    service.shared.metrics.workers.set(count as i64);
    (0..count)
        .filter_map(|index| {
            let service = service.clone();
            std::thread::Builder::new()
                .name(format!("sandbox-worker-{index}"))
                // Guests run on this thread's stack: room for the wasm stack limit and the
                // host frames below it.
                .stack_size(16 << 20)
                .spawn(move || work(&service))
                .map_err(|error| tracing::error!(%error, "could not start a worker"))
                .ok()
        })
        .collect()
}

/// A worker: takes jobs in turn until the queue closes.
fn work(service: &Service) {
    let metrics = &service.shared.metrics;
    while let Some(job) = service.scheduler.next() {
        let attempt = job.attempts + 1;
        let lease_until = now_ms() + service.config.lease.as_millis() as i64;
        if service
            .store
            .claim(&job.id, attempt, &service.owner, lease_until)
            .is_err()
        {
            service.scheduler.finished(job.tenant_id);
            break;
        }
        metrics
            .queue_seconds
            .observe(job.queued_at.elapsed().as_secs_f64());
        metrics.workers_busy.inc();
        let started = Instant::now();
        let finished = catch_unwind(AssertUnwindSafe(|| {
            let spec = match &job.spec {
                Some(spec) => spec.to_string(),
                None => match service.handle.block_on(service.store.job_spec(&job.id)) {
                    Ok(Some(spec)) => spec,
                    Ok(None) => return internal_error("the job's request is gone"),
                    Err(error) => return internal_error(&error.to_string()),
                },
            };
            service.engines.execute(
                &service.store,
                &service.handle,
                job.tenant_id,
                job.kind,
                &spec,
            )
        }))
        .unwrap_or_else(|_| internal_error("the worker panicked on this job"));
        metrics.run_seconds.observe(started.elapsed().as_secs_f64());
        metrics.workers_busy.dec();
        metrics
            .finished
            .get_or_create(&OutcomeLabels {
                kind: job.kind.name().into(),
                outcome: finished.outcome.clone(),
            })
            .inc();
        let completion = Completion {
            id: job.id,
            tenant_id: job.tenant_id,
            attempt,
            result: finished.result.to_string(),
            outcome: finished.outcome,
            callback_url: job.callback_url,
            stored: false,
        };
        let sent = service.store.complete(completion);
        service.scheduler.finished(job.tenant_id);
        if sent.is_err() {
            break;
        }
    }
}

/// Renews this process's leases at a third of their length.
async fn renew_leases(service: Arc<Service>) {
    let lease = service.config.lease;
    let mut ticks = tokio::time::interval(lease / 3);
    loop {
        ticks.tick().await;
        let until = now_ms() + lease.as_millis() as i64;
        if let Err(error) = service.store.renew_leases(&service.owner, until).await {
            tracing::warn!(%error, "could not renew leases");
        }
    }
}

/// Keeps the queue-depth gauge current.
async fn sample_gauges(service: Arc<Service>) {
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    loop {
        ticks.tick().await;
        let (queued, _) = service.scheduler.depth();
        service.shared.metrics.queue_depth.set(queued as i64);
    }
}

/// Runs the service until SIGTERM or SIGINT, then drains. Prints where it listens.
pub fn serve(config: ServerConfig) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("sandbox-http")
        .build()?;
    runtime.block_on(async move {
        let server = Server::start(config.clone()).await?;
        println!(
            "sandbox serve: listening on http://{} ({} workers, database {})",
            server.local_addr(),
            config.workers,
            config.database_url()
        );
        if let (Some(_), Some(file)) = (&server.new_admin_key, &server.admin_key_file) {
            println!(
                "administrator key written to {} (shown once; keep it)",
                file.display()
            );
        }
        wait_for_signal().await;
        println!("sandbox serve: draining");
        server.shutdown().await;
        println!("sandbox serve: stopped");
        anyhow::Ok(())
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = terminate.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
