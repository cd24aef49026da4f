//! The conformance harness: fixtures, the divergence list, and helpers the suite (in
//! `tests/it`) uses to run the same checks on every backend.
//!
//! The suite is written once, as plain functions over a [`Harness`]; `tests/it/main.rs`
//! instantiates every function once per backend, so each test name carries its backend
//! (`wasmtime::traps_map_to_the_closed_enum`, `wasmer::...`).

pub mod differential;
pub mod guests;

use sandbox::{
    BackendKind, CompiledModule, ExecutionResult, Runtime, Sandbox, SandboxConfig, SandboxError,
    WasmValue,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// The directory holding the fixtures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Every fixture file name (`add.wat`, ...), sorted.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures directory")
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".wat") || name.ends_with(".wasm"))
        .collect();
    names.sort();
    names
}

/// The bytes of a fixture, as WebAssembly binary.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    let bytes =
        std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    if name.ends_with(".wat") {
        sandbox::compile_wat_to_wasm(&bytes)
            .unwrap_or_else(|err| panic!("fixture {name} does not parse: {err}"))
    } else {
        bytes
    }
}

/// The checked-in list of known differences: `backend/test` → reason.
pub fn divergences() -> &'static BTreeMap<String, String> {
    static LIST: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    LIST.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("divergences.txt");
        let text = std::fs::read_to_string(&path).expect("divergences.txt");
        parse_divergences(&text)
    })
}

/// Parses the divergence list format (`backend/test: reason`, `#` comments).
pub fn parse_divergences(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (key, reason) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("divergence line without a reason: {line}"));
            assert!(
                !reason.trim().is_empty(),
                "divergence {key} must give a reason"
            );
            (key.trim().to_string(), reason.trim().to_string())
        })
        .collect()
}

/// Runs one suite test on one backend, honouring the divergence list: an unlisted test must
/// pass; a listed one must still fail (otherwise the list is stale and the test fails).
pub fn run_case(backend: BackendKind, name: &str, case: fn(&Harness)) {
    let harness = Harness::new(backend);
    let key = format!("{backend}/{name}");
    match divergences().get(&key) {
        None => case(&harness),
        Some(reason) => {
            let result = std::panic::catch_unwind(|| case(&harness));
            match result {
                Ok(()) => panic!(
                    "{key} is listed in divergences.txt ({reason}) but now behaves like the contract: remove the entry"
                ),
                Err(payload) => {
                    let message = payload
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    eprintln!("known divergence {key}: {reason}\n  observed: {message}");
                }
            }
        }
    }
}

/// Set (to anything but `0`) to run the suite with every optimisation on: the module cache in
/// memory and on disk, wasmtime's pooling allocator, and calls through the fast path
/// (`cargo xtask ci` runs the suite once this way too). Nothing the suite checks may change.
pub const OPTIMISED_ENV: &str = "SANDBOX_CONFORMANCE_OPTIMISED";

/// Whether [`OPTIMISED_ENV`] is set.
pub fn is_optimised() -> bool {
    std::env::var(OPTIMISED_ENV).is_ok_and(|v| v != "0")
}

/// `func(args)` through the call fast path ([`sandbox::Instance::call_func`]), reported as
/// [`sandbox::Instance::call`] would report it; the optimised pass runs the suite's calls
/// this way, so every check of a call's outcome also checks the fast path.
pub fn call_fast(
    instance: &mut dyn sandbox::Instance,
    func: &str,
    args: &[WasmValue],
) -> Result<ExecutionResult, SandboxError> {
    let export = instance.export_func(func)?;
    let mut results = vec![WasmValue::I32(0); export.signature().results.len()];
    let report = instance.call_func(&export, args, &mut results)?;
    let output = instance.take_output();
    Ok(report.into_execution_result(instance.kind(), results, output))
}

/// `config` with the optimisations of [`OPTIMISED_ENV`] turned on, if it is set.
pub fn optimised(mut config: SandboxConfig) -> SandboxConfig {
    if is_optimised() {
        if !config.cache.is_enabled() {
            let dir = std::env::temp_dir()
                .join(format!("sandbox-conformance-cache-{}", std::process::id()));
            config.cache = sandbox::CacheConfig::at(dir);
        }
        if config.instance_allocation == sandbox::InstanceAllocation::OnDemand {
            config.instance_allocation = sandbox::InstanceAllocation::pooling(64);
        }
    }
    config
}

/// One backend, with helpers that keep the suite short.
pub struct Harness {
    /// The backend under test.
    pub backend: BackendKind,
}

impl Harness {
    /// A harness for `backend`.
    pub fn new(backend: BackendKind) -> Self {
        Harness { backend }
    }

    /// The default configuration.
    pub fn config(&self) -> SandboxConfig {
        SandboxConfig::default()
    }

    /// A sandbox for `config`; with every optimisation on when [`OPTIMISED_ENV`] is set.
    pub fn sandbox(&self, config: SandboxConfig) -> Arc<dyn Sandbox> {
        let config = optimised(config);
        sandbox::sandbox(self.backend as Runtime, config)
            .unwrap_or_else(|err| panic!("{}: cannot create a sandbox: {err}", self.backend))
    }

    /// Loads a fixture (must succeed).
    pub fn load(&self, fixture_name: &str, config: &SandboxConfig) -> Arc<dyn CompiledModule> {
        self.try_load_bytes(&fixture(fixture_name), config)
            .unwrap_or_else(|err| panic!("{}: loading {fixture_name}: {err}", self.backend))
    }

    /// Loads bytes, returning the error if refused.
    pub fn try_load_bytes(
        &self,
        bytes: &[u8],
        config: &SandboxConfig,
    ) -> Result<Arc<dyn CompiledModule>, SandboxError> {
        self.sandbox(config.clone()).load(bytes)
    }

    /// Runs `func(args)` in a fresh instance of `fixture_name`; a failed instantiation comes
    /// back as its report. Panics if the call cannot start.
    pub fn run(
        &self,
        fixture_name: &str,
        func: &str,
        args: &[WasmValue],
        config: &SandboxConfig,
    ) -> ExecutionResult {
        let module = self.load(fixture_name, config);
        let mut instance = match module.instantiate(config) {
            Ok(instance) => instance,
            Err(report) => return *report,
        };
        let called = if is_optimised() {
            call_fast(&mut *instance, func, args)
        } else {
            instance.call(func, args)
        };
        called.unwrap_or_else(|err| panic!("{}: calling {func}: {err}", self.backend))
    }

    /// Runs a WASI command (`_start`) of `fixture_name` under `config` in a fresh instance.
    pub fn run_wasi(&self, fixture_name: &str, config: &SandboxConfig) -> ExecutionResult {
        let config = SandboxConfig {
            program_name: fixture_name.to_string(),
            ..config.clone()
        };
        self.run(fixture_name, "_start", &[], &config)
    }

    /// Like [`Harness::run`] but returns the single value of a successful call.
    pub fn value(
        &self,
        fixture_name: &str,
        func: &str,
        args: &[WasmValue],
        config: &SandboxConfig,
    ) -> WasmValue {
        let result = self.run(fixture_name, func, args, config);
        assert!(
            result.outcome.is_success(),
            "{}: {fixture_name}::{func} failed: {:?}",
            self.backend,
            result.outcome
        );
        assert_eq!(
            result.return_values.len(),
            1,
            "{}: {fixture_name}::{func} returned {:?}",
            self.backend,
            result.return_values
        );
        result.return_values[0]
    }
}

/// The normalised outcome of a run, for comparing engines: everything that must be equal.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Normalised {
    /// Outcome kind (`ok`, `trap`, ...).
    pub kind: String,
    /// Trap kind, if a trap.
    pub trap: Option<String>,
    /// Returned values.
    pub results: Vec<WasmValue>,
    /// Fuel consumed, when metered and the run completed.
    pub fuel: Option<u64>,
    /// Exit code of a WASI guest.
    pub exit_code: Option<i32>,
    /// Captured stdout.
    pub stdout: Vec<u8>,
    /// Captured stderr.
    pub stderr: Vec<u8>,
}

impl Normalised {
    /// Normalises a report. Fuel is compared only for completed runs: a run stopped by a trap
    /// or a limit may stop at a slightly different point of a basic block on each engine.
    pub fn of(result: &ExecutionResult) -> Self {
        Normalised {
            kind: result.outcome.kind().to_string(),
            trap: result
                .outcome
                .error()
                .and_then(SandboxError::trap)
                .map(|t| t.name().to_string()),
            results: result.return_values.clone(),
            fuel: if result.outcome.is_success() {
                result.fuel_consumed
            } else {
                None
            },
            exit_code: result.exit_code(),
            stdout: result.stdout.clone(),
            stderr: result.stderr.clone(),
        }
    }

    /// The same, without fuel: for WASI commands that open files, whose fuel differs by the
    /// libraries' answers about descriptor 3 (see `divergences.txt`).
    pub fn without_fuel(self) -> Self {
        Normalised { fuel: None, ..self }
    }

    /// Normalises an error that stopped a run before it started.
    pub fn of_error(error: &SandboxError) -> Self {
        Normalised {
            kind: error.kind().to_string(),
            trap: error.trap().map(|t| t.name().to_string()),
            results: Vec::new(),
            fuel: None,
            exit_code: None,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }
}
