//! Running jobs: the engines, the compiled-module cache, runs and submissions.
//!
//! Each engine is created once per backend. A run's module is compiled once per backend and
//! kept (bounded, least recently used out) by its SHA-256, so a module run a thousand times
//! is read from the database and compiled once; the facade's disk cache under the data
//! directory keeps compiled code across restarts. A submission is compiled once for all its
//! tests (the judge's own cache, in memory and on disk).

use crate::model::{ProblemSpec, RunSpec, SubmissionSpec};
use crate::store::{JobKind, Store};
use sandbox::judge::{parse_tests, Checker, Judge, Mode, TestCase};
use sandbox::{
    BackendKind, CacheConfig, CompiledModule, ExecutionResult, Outcome, Runtime, Sandbox,
    SandboxConfig, SandboxError,
};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Compiled modules kept per backend.
const MODULES_KEPT: usize = 1024;
/// Problems kept parsed.
const PROBLEMS_KEPT: usize = 256;
/// Module bytes kept in memory for submissions (the judge's own cache is keyed by them), and
/// the largest module kept: at most 32 × 4 MiB.
const BYTES_KEPT: usize = 32;
const BYTES_KEPT_MAX: usize = 4 << 20;

/// Where a job's module bytes and problem come from: the store (and the worker's disk) in
/// the worker, the disk and the task in a runner process.
pub trait Source {
    /// The bytes of module `sha256`.
    fn module(&self, sha256: &str) -> Result<Vec<u8>, SandboxError>;
    /// The spec (JSON) of problem `id` of `tenant_id`.
    fn problem(&self, tenant_id: i64, id: &str) -> Result<String, String>;
}

/// Modules from the worker's disk (`DATA_DIR/modules/SHA256.wasm`), fetched from the store
/// the first time a host needs them (modules travel by hash, once per host, never per job);
/// problems from the store.
pub struct StoreSource<'a> {
    /// The store.
    pub store: &'a Store,
    /// The runtime to wait on it with (workers are plain threads).
    pub handle: &'a tokio::runtime::Handle,
    /// The module cache directory.
    pub modules_dir: &'a Path,
}

impl StoreSource<'_> {
    /// Makes sure module `sha256` is on disk; returns its path.
    pub fn ensure(&self, sha256: &str) -> Result<std::path::PathBuf, SandboxError> {
        let io = |reason: String| SandboxError::Io {
            path: format!("module {sha256}"),
            reason,
        };
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(io("not a SHA-256".into()));
        }
        let path = self.modules_dir.join(format!("{sha256}.wasm"));
        if path.is_file() {
            return Ok(path);
        }
        let bytes = self
            .handle
            .block_on(self.store.module_bytes(sha256))
            .map_err(|error| io(error.to_string()))?
            .ok_or_else(|| io("not in the store".into()))?;
        std::fs::create_dir_all(self.modules_dir).map_err(|error| io(error.to_string()))?;
        let partial = self
            .modules_dir
            .join(format!(".{sha256}.{}.partial", crate::keys::random_id("")));
        std::fs::write(&partial, &bytes)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|error| {
                let _ = std::fs::remove_file(&partial);
                io(error.to_string())
            })?;
        Ok(path)
    }
}

impl Source for StoreSource<'_> {
    fn module(&self, sha256: &str) -> Result<Vec<u8>, SandboxError> {
        let path = self.ensure(sha256)?;
        read_module(&path, sha256)
    }

    fn problem(&self, tenant_id: i64, id: &str) -> Result<String, String> {
        self.handle
            .block_on(self.store.problem(tenant_id, id))
            .map_err(|error| error.to_string())?
            .ok_or_else(|| format!("problem {id} no longer exists"))
    }
}

/// Reads a module file of the cache.
pub fn read_module(path: &Path, sha256: &str) -> Result<Vec<u8>, SandboxError> {
    std::fs::read(path).map_err(|error| SandboxError::Io {
        path: format!("module {sha256}"),
        reason: error.to_string(),
    })
}

/// A job as a runner process gets it: everything it needs but the module bytes, which it
/// reads from the module cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Task {
    /// The job's tenant.
    pub tenant_id: i64,
    /// Run or submission.
    pub kind: JobKind,
    /// The job's spec (JSON).
    pub spec: String,
    /// The problem's spec (JSON), for a submission.
    pub problem: Option<String>,
}

impl Task {
    /// The modules the job needs: the run's or the submission's, and the problem's checker.
    pub fn modules(&self) -> Vec<String> {
        let mut modules = Vec::new();
        match self.kind {
            JobKind::Run => {
                if let Ok(spec) = serde_json::from_str::<RunSpec>(&self.spec) {
                    modules.push(spec.module);
                }
            }
            JobKind::Submission => {
                if let Ok(spec) = serde_json::from_str::<SubmissionSpec>(&self.spec) {
                    modules.push(spec.module);
                }
                if let Some(problem) = &self.problem {
                    if let Ok(problem) = serde_json::from_str::<ProblemSpec>(problem) {
                        modules.extend(problem.checker);
                    }
                }
            }
        }
        modules
    }
}

/// A finished job: its result as JSON and the outcome (or verdict) name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Finished {
    /// The result.
    pub result: serde_json::Value,
    /// `ok`, `exit`, `trap`, ... for a run; the verdict for a submission.
    pub outcome: String,
}

/// A problem, parsed.
struct Problem {
    spec: ProblemSpec,
    tests: Vec<TestCase>,
}

/// Engines and caches shared by the workers.
pub struct Engines {
    base: SandboxConfig,
    /// The service's default limits, for tests that set none.
    defaults: crate::config::Bounds,
    /// The service's maxima: the judge's pools are sized for the largest memory limit, so
    /// every problem shares one engine per backend (an engine per distinct limit would each
    /// reserve a pool).
    maxima: crate::config::Bounds,
    sandboxes: Mutex<HashMap<BackendKind, Arc<dyn Sandbox>>>,
    modules: Mutex<Lru<(String, BackendKind), Arc<dyn CompiledModule>>>,
    problems: Mutex<Lru<(i64, String), Arc<Problem>>>,
    bytes: Mutex<Lru<String, Arc<[u8]>>>,
    problem_texts: Mutex<Lru<(i64, String), Arc<str>>>,
}

/// What [`Engines`] are made of (sent to runner processes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnginesConfig {
    /// The compiled-code cache directory (`None`: in memory only).
    pub cache_dir: Option<std::path::PathBuf>,
    /// Limits of tests that set none.
    pub defaults: crate::config::Bounds,
    /// The service's maxima.
    pub maxima: crate::config::Bounds,
}

impl EnginesConfig {
    /// The engines of the service `config`: compiled code cached under its data directory.
    pub fn of(config: &crate::config::ServerConfig) -> EnginesConfig {
        EnginesConfig {
            cache_dir: Some(config.data_dir.join("cache")),
            defaults: config.defaults,
            maxima: config.maxima,
        }
    }
}

impl Engines {
    /// Engines for the service `config`.
    pub fn new(config: &crate::config::ServerConfig) -> Engines {
        Engines::with(&EnginesConfig::of(config))
    }

    /// Engines made of `config`.
    pub fn with(config: &EnginesConfig) -> Engines {
        let cache = CacheConfig {
            memory: true,
            dir: config.cache_dir.clone(),
            ..CacheConfig::off()
        };
        Engines {
            base: SandboxConfig {
                cache,
                ..SandboxConfig::default()
            },
            defaults: config.defaults,
            maxima: config.maxima,
            sandboxes: Mutex::new(HashMap::new()),
            modules: Mutex::new(Lru::new(MODULES_KEPT)),
            problems: Mutex::new(Lru::new(PROBLEMS_KEPT)),
            bytes: Mutex::new(Lru::new(BYTES_KEPT)),
            problem_texts: Mutex::new(Lru::new(PROBLEMS_KEPT)),
        }
    }

    fn sandbox(&self, backend: BackendKind) -> Result<Arc<dyn Sandbox>, SandboxError> {
        let mut sandboxes = lock(&self.sandboxes);
        if let Some(sandbox) = sandboxes.get(&backend) {
            return Ok(sandbox.clone());
        }
        let sandbox = sandbox::sandbox(backend, self.base.clone())?;
        sandboxes.insert(backend, sandbox.clone());
        Ok(sandbox)
    }

    /// Module `sha256` compiled for runs on `backend`.
    fn run_module(
        &self,
        source: &dyn Source,
        sha256: &str,
        backend: BackendKind,
    ) -> Result<Arc<dyn CompiledModule>, SandboxError> {
        let key = (sha256.to_string(), backend);
        if let Some(module) = lock(&self.modules).get(&key) {
            return Ok(module);
        }
        let bytes = source.module(sha256)?;
        let module = self.sandbox(backend)?.load(&bytes)?;
        lock(&self.modules).put(key, module.clone());
        Ok(module)
    }

    /// The bytes of module `sha256`, from memory when a recent job used them (small modules
    /// only), else from `source`.
    fn bytes(&self, source: &dyn Source, sha256: &str) -> Result<Arc<[u8]>, SandboxError> {
        if let Some(bytes) = lock(&self.bytes).get(&sha256.to_string()) {
            return Ok(bytes);
        }
        let bytes: Arc<[u8]> = source.module(sha256)?.into();
        if bytes.len() <= BYTES_KEPT_MAX {
            lock(&self.bytes).put(sha256.to_string(), bytes.clone());
        }
        Ok(bytes)
    }

    /// The spec (JSON) of problem `id` of `tenant_id`, from memory when a recent job had it
    /// (problems do not change once stored), else from `source`: what a worker sends its
    /// runner with each submission.
    pub fn problem_text(
        &self,
        source: &dyn Source,
        tenant_id: i64,
        id: &str,
    ) -> Result<Arc<str>, String> {
        let key = (tenant_id, id.to_string());
        if let Some(text) = lock(&self.problem_texts).get(&key) {
            return Ok(text);
        }
        let text: Arc<str> = source.problem(tenant_id, id)?.into();
        lock(&self.problem_texts).put(key, text.clone());
        Ok(text)
    }

    /// Runs a job.
    pub fn execute(
        &self,
        source: &dyn Source,
        tenant_id: i64,
        kind: JobKind,
        spec: &str,
    ) -> Finished {
        let finished = match kind {
            JobKind::Run => serde_json::from_str::<RunSpec>(spec)
                .map_err(|error| format!("unreadable run spec: {error}"))
                .map(|spec| self.run(source, &spec)),
            JobKind::Submission => serde_json::from_str::<SubmissionSpec>(spec)
                .map_err(|error| format!("unreadable submission spec: {error}"))
                .and_then(|spec| self.judge(source, tenant_id, &spec)),
        };
        finished.unwrap_or_else(|message| internal_error(&message))
    }

    fn run(&self, source: &dyn Source, spec: &RunSpec) -> Finished {
        let backend = match spec.backend.parse::<Runtime>() {
            Ok(backend) => backend,
            Err(error) => {
                return failed(
                    BackendKind::Wasmtime,
                    SandboxError::Unsupported {
                        reason: error.to_string(),
                    },
                )
            }
        };
        let module = match self.run_module(source, &spec.module, backend) {
            Ok(module) => module,
            Err(error) => return failed(backend, error),
        };
        let config = SandboxConfig {
            max_fuel: Some(spec.fuel),
            max_execution_time: Duration::from_millis(spec.timeout_ms),
            max_memory_bytes: spec.max_memory_bytes,
            max_output_bytes: spec.max_output_bytes,
            stdin: spec.stdin.clone(),
            env: spec.env.clone(),
            args: spec.argv.clone(),
            ..self.base.clone()
        };
        let entry = spec.invoke.as_deref().unwrap_or("_start");
        let args = match &spec.invoke {
            None => Vec::new(),
            Some(name) => match module
                .info()
                .function(name)
                .and_then(|signature| signature.parse_args(name, &spec.args))
            {
                Ok(args) => args,
                Err(error) => return failed(backend, error),
            },
        };
        let result = match module.instantiate(&config) {
            Ok(mut instance) => instance
                .call(entry, &args)
                .unwrap_or_else(|error| ExecutionResult::new(backend, Outcome::Failed(error))),
            Err(report) => *report,
        };
        Finished {
            outcome: result.outcome.kind().to_string(),
            result: result.to_json(),
        }
    }

    fn problem(
        &self,
        source: &dyn Source,
        tenant_id: i64,
        id: &str,
    ) -> Result<Arc<Problem>, String> {
        let key = (tenant_id, id.to_string());
        if let Some(problem) = lock(&self.problems).get(&key) {
            return Ok(problem);
        }
        let text = source.problem(tenant_id, id)?;
        let spec: ProblemSpec =
            serde_json::from_str(&text).map_err(|error| format!("unreadable problem: {error}"))?;
        let mut tests = parse_tests(spec.tests.to_string().as_bytes())
            .map_err(|error| format!("unreadable tests: {error}"))?;
        // Every test carries its limits (the problem's, else the service's), so the judge's
        // own configuration is the same for every problem.
        let time_limit = Duration::from_millis(
            spec.limits
                .time_limit_ms
                .unwrap_or(self.defaults.timeout_ms),
        );
        let memory_limit = spec
            .limits
            .memory_limit_bytes
            .unwrap_or(self.defaults.max_memory_bytes);
        for test in &mut tests {
            test.time_limit.get_or_insert(time_limit);
            test.memory_limit.get_or_insert(memory_limit);
        }
        let problem = Arc::new(Problem { spec, tests });
        lock(&self.problems).put(key, problem.clone());
        Ok(problem)
    }

    fn judge(
        &self,
        source: &dyn Source,
        tenant_id: i64,
        spec: &SubmissionSpec,
    ) -> Result<Finished, String> {
        let problem = self.problem(source, tenant_id, &spec.problem)?;
        let backend: Runtime = spec.backend.parse()?;
        let bytes = self
            .bytes(source, &spec.module)
            .map_err(|error| error.to_string())?;
        let limits = &problem.spec.limits;
        let mut config = self.base.clone();
        config.max_memory_bytes = self.maxima.max_memory_bytes;
        if let Some(bytes) = limits.max_output_bytes {
            config.max_output_bytes = bytes;
        }
        let mut judge = Judge::on(backend, config.clone()).jobs(1).fuel(limits.fuel);
        if let Some(name) = &problem.spec.invoke {
            judge = judge.mode(Mode::function(name.clone()));
        }
        if let Some(checker) = &problem.spec.checker {
            let checker_config = SandboxConfig {
                max_fuel: None,
                max_execution_time: Duration::from_secs(10),
                max_memory_bytes: 256 << 20,
                ..self.base.clone()
            };
            let compiled = source
                .module(checker)
                .and_then(|bytes| sandbox::sandbox(backend, checker_config.clone())?.load(&bytes))
                .and_then(|module| Checker::new(module, checker_config));
            match compiled {
                Ok(checker) => judge = judge.checker(checker),
                Err(error) => return Err(format!("the problem's checker cannot run: {error}")),
            }
        }
        let report = judge.evaluate(&bytes, &problem.tests);
        Ok(Finished {
            outcome: report.verdict.name().to_string(),
            result: report.to_json(),
        })
    }
}

fn failed(backend: BackendKind, error: SandboxError) -> Finished {
    let result = ExecutionResult::new(backend, Outcome::Failed(error));
    Finished {
        outcome: result.outcome.kind().to_string(),
        result: result.to_json(),
    }
}

/// The result of a job the service itself failed on (never the guest's doing).
pub fn internal_error(message: &str) -> Finished {
    Finished {
        outcome: "internal_error".into(),
        result: serde_json::json!({
            "outcome": {"kind": "internal_error", "message": message},
        }),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A small least-recently-used map.
struct Lru<K, V> {
    entries: HashMap<K, (u64, V)>,
    order: VecDeque<(u64, K)>,
    clock: u64,
    capacity: usize,
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> Lru<K, V> {
    fn new(capacity: usize) -> Self {
        Lru {
            entries: HashMap::new(),
            order: VecDeque::new(),
            clock: 0,
            capacity,
        }
    }

    fn get(&mut self, key: &K) -> Option<V> {
        self.clock += 1;
        let clock = self.clock;
        let entry = self.entries.get_mut(key)?;
        entry.0 = clock;
        let value = entry.1.clone();
        self.order.push_back((clock, key.clone()));
        self.trim_order();
        Some(value)
    }

    fn put(&mut self, key: K, value: V) {
        self.clock += 1;
        self.entries.insert(key.clone(), (self.clock, value));
        self.order.push_back((self.clock, key));
        while self.entries.len() > self.capacity {
            let Some((stamp, key)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&key).is_some_and(|entry| entry.0 == stamp) {
                self.entries.remove(&key);
            }
        }
        self.trim_order();
    }

    /// Drops stale entries of the order queue so it stays proportional to the map.
    fn trim_order(&mut self) {
        if self.order.len() > 4 * self.capacity.max(16) {
            let entries = &self.entries;
            self.order
                .retain(|(stamp, key)| entries.get(key).is_some_and(|entry| entry.0 == *stamp));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let mut lru = Lru::new(2);
        lru.put("a", 1);
        lru.put("b", 2);
        assert_eq!(lru.get(&"a"), Some(1));
        lru.put("c", 3);
        assert_eq!(lru.get(&"b"), None);
        assert_eq!(lru.get(&"a"), Some(1));
        assert_eq!(lru.get(&"c"), Some(3));
        for n in 0..1000 {
            lru.get(&"a");
            lru.put("c", n);
        }
        assert!(lru.order.len() <= 64);
    }
}
