//! Runner processes: the wall behind the wall. A worker runs guests in child processes that
//! lock themselves down before touching guest bytes ([`lockdown`]), started once and reused
//! for many jobs, talking to the worker over pipes ([`protocol`]).
//!
//! A runner that crashes, is killed (seccomp kills it on a forbidden system call) or grows
//! past the memory ceiling is replaced and its job tried again in a fresh one, up to the
//! service's `max_attempts`; then the job ends as `internal_error`. The worker and the
//! service stay up. Runners are also replaced, invisibly to jobs, after a bound of jobs or
//! of resident memory (the process-level guard of flatness).
//!
//! The runner is the `sandbox` binary itself (`sandbox runner`, hidden): the worker starts
//! [`RunnerSettings::program`] with [`RunnerSettings::args`] and an empty environment.

pub mod lockdown;
pub mod probe;
pub mod protocol;

use crate::exec::{internal_error, Engines, EnginesConfig, Finished, Source, Task};
use protocol::{read_frame, write_frame, Init, Request, RequestRef, Response};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How the service runs guests.
#[derive(Debug, Clone, Default)]
pub enum Isolation {
    /// On the worker's threads, in its process (the library's default; `--isolation none`).
    #[default]
    None,
    /// In locked-down runner processes (`--isolation process`, the CLI's default where the
    /// kernel supports it).
    Process(RunnerSettings),
}

/// How runner processes are started and bounded.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// The program (the `sandbox` binary).
    pub program: PathBuf,
    /// Its arguments (`["runner"]`).
    pub args: Vec<String>,
    /// A runner is replaced after this many jobs.
    pub max_jobs: u64,
    /// A runner whose resident memory is above this after a job is replaced.
    pub recycle_rss_bytes: u64,
    /// A runner whose resident memory passes this during a job is killed (its job is
    /// retried in a fresh one, then failed).
    pub memory_ceiling_bytes: u64,
    /// A job running longer than this in a runner (every test of a submission included) is
    /// killed with its runner: a backstop behind the guests' own time limits.
    pub max_job_time: Duration,
    /// `RLIMIT_FSIZE` of a runner.
    pub max_file_bytes: u64,
    /// `RLIMIT_NOFILE` of a runner.
    pub max_open_files: u64,
}

impl RunnerSettings {
    /// Runners of `program args...` with the default bounds: 10,000 jobs, 1 GiB resident
    /// after a job, a 4 GiB ceiling during one, 10 minutes a job.
    pub fn new(program: impl Into<PathBuf>, args: &[&str]) -> RunnerSettings {
        RunnerSettings {
            program: program.into(),
            args: args.iter().map(|arg| arg.to_string()).collect(),
            max_jobs: 10_000,
            recycle_rss_bytes: 1 << 30,
            memory_ceiling_bytes: 4 << 30,
            max_job_time: Duration::from_secs(600),
            max_file_bytes: 1 << 30,
            max_open_files: 1024,
        }
    }
}

/// Why a runner could not run a job.
#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// It could not be started or did not lock itself down.
    #[error("could not start a runner: {0}")]
    Start(String),
    /// It died (or was killed) before answering.
    #[error("the runner process died: {0}")]
    Died(String),
}

// ---- the runner's side ----

/// The runner's main: reads [`Init`] on stdin, locks itself down, answers
/// [`Response::Ready`], then runs jobs until its input ends. Returns the process's exit
/// status. Call first thing in `main` (no thread may exist yet: the lockdown applies to the
/// calling thread and those it creates).
pub fn runner_main() -> i32 {
    // The protocol moves to a private descriptor; stdout becomes stderr, so nothing the
    // engines might print can corrupt a frame.
    // SAFETY: dup/dup2 on the process's standard descriptors.
    let out = unsafe { libc::dup(1) };
    if out < 0 || unsafe { libc::dup2(2, 1) } < 0 {
        eprintln!("sandbox runner: cannot set up its descriptors");
        return 2;
    }
    // SAFETY: `out` was just created by dup and is owned here alone.
    let out = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(out) };
    let mut output = BufWriter::new(out);
    let mut input = BufReader::new(std::io::stdin().lock());
    let init: Init = match read_frame(&mut input) {
        Ok(Some(init)) => init,
        Ok(None) => return 0,
        Err(error) => {
            eprintln!("sandbox runner: {error}");
            return 2;
        }
    };
    let lockdown = match &init.lockdown {
        Some(policy) => match lockdown::apply(policy) {
            Ok(summary) => summary,
            Err(error) => {
                let _ = write_frame(&mut output, &Response::LockdownFailed { error });
                return 3;
            }
        },
        None => "none".to_string(),
    };
    if write_frame(&mut output, &Response::Ready { lockdown }).is_err() {
        return 2;
    }
    let engines = Engines::with(&init.engines);
    loop {
        let request: Request = match read_frame(&mut input) {
            Ok(Some(request)) => request,
            Ok(None) => return 0,
            Err(error) => {
                eprintln!("sandbox runner: {error}");
                return 2;
            }
        };
        let response = match request {
            Request::Task(task) => {
                let source = DiskSource {
                    modules_dir: &init.modules_dir,
                    problem: task.problem.as_deref(),
                };
                let finished = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    engines.execute(&source, task.tenant_id, task.kind, &task.spec)
                }))
                .unwrap_or_else(|_| internal_error("the runner panicked on this job"));
                Response::Finished(finished)
            }
            Request::Probe(probe) if init.probes => Response::Probe(probe::run(&probe)),
            Request::Probe(_) => Response::Probe("refused: probes are off".into()),
        };
        if write_frame(&mut output, &response).is_err() {
            return 2;
        }
    }
}

/// Modules from the cache directory (the worker put them there), the problem from the task.
struct DiskSource<'a> {
    modules_dir: &'a Path,
    problem: Option<&'a str>,
}

impl Source for DiskSource<'_> {
    fn module(&self, sha256: &str) -> Result<Vec<u8>, sandbox::SandboxError> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(sandbox::SandboxError::Io {
                path: format!("module {sha256}"),
                reason: "not a SHA-256".into(),
            });
        }
        crate::exec::read_module(&self.modules_dir.join(format!("{sha256}.wasm")), sha256)
    }

    fn problem(&self, _tenant_id: i64, id: &str) -> Result<String, String> {
        self.problem
            .map(str::to_string)
            .ok_or_else(|| format!("problem {id} was not sent to the runner"))
    }
}

// ---- the worker's side ----

/// A running runner process.
pub struct Runner {
    child: Child,
    input: BufWriter<ChildStdin>,
    output: BufReader<ChildStdout>,
    jobs: u64,
    scratch: PathBuf,
    lockdown: String,
    watch: Arc<Watch>,
}

/// What the watchdog thread of a runner shares with it.
struct Watch {
    /// When the current job started (ms since the epoch), 0 between jobs.
    job_started: AtomicI64,
    /// Why the watchdog killed the runner, if it did.
    killed: std::sync::Mutex<Option<String>>,
    /// Set when the runner is dropped.
    stop: AtomicBool,
}

/// Where runner processes of a worker keep their files.
#[derive(Debug, Clone)]
pub struct RunnerDirs {
    /// The module cache (read-only to runners).
    pub modules: PathBuf,
    /// The compiled-code cache (read and write).
    pub cache: PathBuf,
    /// The parent of the runners' scratch directories.
    pub scratch: PathBuf,
}

impl Runner {
    /// Starts a runner and waits until it is locked down (`lockdown: false` only for tests
    /// of the protocol; `probes: true` only for tests of the lockdown).
    pub fn spawn(
        settings: &RunnerSettings,
        engines: &EnginesConfig,
        dirs: &RunnerDirs,
        lockdown: bool,
        probes: bool,
    ) -> Result<Runner, RunnerError> {
        let start = |error: String| RunnerError::Start(error);
        let scratch = dirs
            .scratch
            .join(crate::keys::random_id("runner-").replace(['-', '_'], ""));
        for dir in [&dirs.modules, &dirs.cache, &scratch] {
            std::fs::create_dir_all(dir)
                .map_err(|error| start(format!("cannot create {}: {error}", dir.display())))?;
        }
        // Absolute paths: the runner works in its scratch directory, and Landlock's rules
        // must name the directories themselves.
        let absolute = |dir: &Path| {
            std::fs::canonicalize(dir)
                .map_err(|error| start(format!("cannot resolve {}: {error}", dir.display())))
        };
        let dirs = RunnerDirs {
            modules: absolute(&dirs.modules)?,
            cache: absolute(&dirs.cache)?,
            scratch: absolute(&dirs.scratch)?,
        };
        let scratch = absolute(&scratch)?;
        let dirs = &dirs;
        let mut command = Command::new(&settings.program);
        command
            .args(&settings.args)
            .env_clear()
            .env("TMPDIR", &scratch)
            .current_dir(&scratch)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(filter) = std::env::var_os("RUST_LOG") {
            command.env("RUST_LOG", filter);
        }
        let mut child = command.spawn().map_err(|error| {
            start(format!(
                "cannot run {}: {error}",
                settings.program.display()
            ))
        })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(start("no pipes to the runner".into()));
        };
        let mut engines = engines.clone();
        engines.cache_dir = Some(dirs.cache.clone());
        let init = Init {
            lockdown: lockdown.then(|| lockdown::Policy {
                read_only: vec![dirs.modules.clone()],
                read_write: vec![dirs.cache.clone(), scratch.clone()],
                max_file_bytes: settings.max_file_bytes,
                max_open_files: settings.max_open_files,
            }),
            engines,
            modules_dir: dirs.modules.clone(),
            probes,
        };
        let watch = Arc::new(Watch {
            job_started: AtomicI64::new(0),
            killed: std::sync::Mutex::new(None),
            stop: AtomicBool::new(false),
        });
        let mut runner = Runner {
            child,
            input: BufWriter::new(stdin),
            output: BufReader::new(stdout),
            jobs: 0,
            scratch,
            lockdown: String::new(),
            watch: watch.clone(),
        };
        write_frame(&mut runner.input, &init)
            .map_err(|error| start(format!("cannot talk to the runner: {error}")))?;
        match read_frame::<Response>(&mut runner.output) {
            Ok(Some(Response::Ready { lockdown })) => runner.lockdown = lockdown,
            Ok(Some(Response::LockdownFailed { error })) => {
                return Err(start(format!(
                    "the runner could not lock itself down: {error}"
                )))
            }
            Ok(_) | Err(_) => {
                let status = runner.reap();
                return Err(start(format!("the runner exited at start ({status})")));
            }
        }
        watchdog(
            runner.child.id() as i32,
            watch,
            settings.memory_ceiling_bytes,
            settings.max_job_time,
        );
        Ok(runner)
    }

    /// The runner's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the runner applied to itself.
    pub fn lockdown(&self) -> &str {
        &self.lockdown
    }

    /// Jobs it has run.
    pub fn jobs(&self) -> u64 {
        self.jobs
    }

    /// Its resident memory, from `/proc`.
    pub fn rss_bytes(&self) -> Option<u64> {
        rss_bytes(self.child.id() as i32)
    }

    /// Runs `task`; `Err` when the runner died first (it cannot be used again).
    pub fn execute(&mut self, task: &Task) -> Result<Finished, RunnerError> {
        self.watch
            .job_started
            .store(crate::store::now_ms(), Ordering::Relaxed);
        let answer = self.request(&RequestRef::Task(task));
        self.watch.job_started.store(0, Ordering::Relaxed);
        self.jobs += 1;
        match answer? {
            Response::Finished(finished) => Ok(finished),
            other => Err(RunnerError::Died(format!("unexpected answer {other:?}"))),
        }
    }

    /// Sends a probe; `Ok` with what happened when the runner survived it, `Err` with how
    /// it died.
    pub fn probe(&mut self, probe: &probe::Probe) -> Result<String, RunnerError> {
        match self.request(&RequestRef::Probe(probe))? {
            Response::Probe(report) => Ok(report),
            other => Err(RunnerError::Died(format!("unexpected answer {other:?}"))),
        }
    }

    fn request(&mut self, request: &RequestRef<'_>) -> Result<Response, RunnerError> {
        let sent = write_frame(&mut self.input, request);
        let answer = match sent {
            Ok(()) => read_frame::<Response>(&mut self.output),
            Err(error) => Err(error),
        };
        match answer {
            Ok(Some(response)) => Ok(response),
            Ok(None) | Err(_) => Err(RunnerError::Died(self.reap())),
        }
    }

    /// Waits for the (dead or dying) process and describes how it ended.
    fn reap(&mut self) -> String {
        let killed = self
            .watch
            .killed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let _ = self.child.kill();
        let status = match self.child.wait() {
            Ok(status) => describe(status),
            Err(error) => error.to_string(),
        };
        match killed {
            Some(reason) => format!("{reason} ({status})"),
            None => status,
        }
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.watch.stop.store(true, Ordering::Relaxed);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with status {code}"),
        (None, Some(signal)) => {
            let name = match signal {
                libc::SIGSYS => "SIGSYS: a system call the seccomp filter forbids",
                libc::SIGKILL => "SIGKILL",
                libc::SIGSEGV => "SIGSEGV",
                libc::SIGABRT => "SIGABRT",
                libc::SIGBUS => "SIGBUS",
                _ => "a signal",
            };
            format!("killed by signal {signal} ({name})")
        }
        _ => "ended".into(),
    }
}

/// Resident memory of process `pid` in bytes.
pub fn rss_bytes(pid: i32) -> Option<u64> {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf with a constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    Some(pages * page)
}

/// Kills runner `pid` if its resident memory passes `ceiling` or a job runs past
/// `max_job_time`; ends when the runner is dropped.
fn watchdog(pid: i32, watch: Arc<Watch>, ceiling: u64, max_job_time: Duration) {
    let spawned = std::thread::Builder::new()
        .name("sandbox-runner-watch".into())
        .spawn(move || {
            while !watch.stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
                let started = watch.job_started.load(Ordering::Relaxed);
                if started == 0 {
                    continue;
                }
                let reason = match rss_bytes(pid) {
                    None => return,
                    Some(rss) if rss > ceiling => Some(format!(
                        "killed at {} MiB resident, above the runner's ceiling of {} MiB",
                        rss >> 20,
                        ceiling >> 20
                    )),
                    Some(_) => {
                        let elapsed = crate::store::now_ms() - started;
                        (elapsed > max_job_time.as_millis() as i64).then(|| {
                            format!("killed after running one job for {} s", elapsed / 1000)
                        })
                    }
                };
                if let Some(reason) = reason {
                    *watch.killed.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
                    // SAFETY: kill of the runner this watchdog belongs to (still our
                    // unreaped child: its pid cannot have been reused).
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return;
                }
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "no watchdog for a runner");
    }
}

/// Jobs between two checks of a runner's resident memory against the recycling bound (the
/// ceiling during a job is the watchdog's, checked continuously).
const RSS_CHECK_EVERY: u64 = 16;

/// A worker thread's runner: started when first needed, replaced when it dies or reaches its
/// bounds.
pub struct RunnerSlot {
    settings: RunnerSettings,
    engines: EnginesConfig,
    dirs: RunnerDirs,
    max_attempts: u32,
    probes: bool,
    runner: Option<Runner>,
    /// Runners started so far (the first included).
    pub started: u64,
}

impl RunnerSlot {
    /// A slot whose runners run jobs with `engines`, trying a job in at most `max_attempts`
    /// runners.
    pub fn new(
        settings: RunnerSettings,
        engines: EnginesConfig,
        dirs: RunnerDirs,
        max_attempts: u32,
    ) -> RunnerSlot {
        RunnerSlot {
            settings,
            engines,
            dirs,
            max_attempts: max_attempts.max(1),
            probes: false,
            runner: None,
            started: 0,
        }
    }

    /// Starts its runners with probes answered (tests of the lockdown only).
    #[doc(hidden)]
    pub fn with_probes(mut self) -> RunnerSlot {
        self.probes = true;
        self
    }

    /// The current runner, started if there is none.
    pub fn runner(&mut self) -> Result<&mut Runner, RunnerError> {
        if self.runner.is_none() {
            let runner =
                Runner::spawn(&self.settings, &self.engines, &self.dirs, true, self.probes)?;
            self.started += 1;
            self.runner = Some(runner);
        }
        Ok(self.runner.as_mut().expect("just set"))
    }

    /// Runs `task` in the runner, in a fresh one if it dies (up to `max_attempts` runners);
    /// then `internal_error`. Replaces the runner after the job when it reached its bounds.
    pub fn run(&mut self, task: &Task) -> Finished {
        let mut last = String::new();
        let (max_jobs, recycle_rss) = (self.settings.max_jobs, self.settings.recycle_rss_bytes);
        for _ in 0..self.max_attempts {
            let runner = match self.runner() {
                Ok(runner) => runner,
                Err(error) => return internal_error(&error.to_string()),
            };
            match runner.execute(task) {
                Ok(finished) => {
                    // Resident memory is read from /proc every few jobs (a read costs as much
                    // as a trivial job's frames).
                    let worn = runner.jobs() >= max_jobs
                        || (runner.jobs() % RSS_CHECK_EVERY == 0
                            && runner.rss_bytes().is_some_and(|rss| rss > recycle_rss));
                    if worn {
                        self.runner = None;
                    }
                    return finished;
                }
                Err(error) => {
                    tracing::warn!(%error, "a runner died; the job is tried in a fresh one");
                    last = error.to_string();
                    self.runner = None;
                }
            }
        }
        internal_error(&format!(
            "the job ended its runner process {} times ({last}); it is not run again",
            self.max_attempts
        ))
    }

    /// Sends a probe to the runner; a runner that died of it is replaced by the next job.
    #[doc(hidden)]
    pub fn probe(&mut self, probe: &probe::Probe) -> Result<String, RunnerError> {
        let result = self.runner()?.probe(probe);
        if result.is_err() {
            self.runner = None;
        }
        result
    }

    /// The current runner's pid, if one runs.
    pub fn pid(&self) -> Option<u32> {
        self.runner.as_ref().map(Runner::pid)
    }
}
