//! Run untrusted WebAssembly under hard limits, on wasmtime or wasmer, behind one API.
//!
//! Cargo features decide which engines are compiled in (`wasmtime`, the default, and
//! `wasmer`; both at once is fine); a [`Runtime`] value decides which one a sandbox uses.
//!
//! ```
//! # fn main() -> Result<(), sandbox::SandboxError> {
//! use sandbox::{execute_wat, SandboxConfig, WasmValue};
//! let wat = r#"(module (func (export "add") (param i32 i32) (result i32)
//!                 local.get 0 local.get 1 i32.add))"#;
//! let result = execute_wat(wat, "add", &[WasmValue::I32(5), WasmValue::I32(7)], None)?;
//! assert_eq!(result.return_values, vec![WasmValue::I32(12)]);
//! # Ok(()) }
//! ```
//!
//! For more than one call, compile once with [`sandbox`] + [`Sandbox::load`] and instantiate
//! as often as needed, or use a [`Session`] (built by [`SandboxBuilder`]) for the product
//! brief's load / instantiate / call / reset lifecycle.
//!
//! Compiled code can outlive the process: [`SandboxBuilder::cache`] (or
//! [`SandboxConfig::cache`]) turns on the module cache (in memory and on disk, keyed by the
//! SHA-256 of the bytes, the engine and its configuration), and [`compile_aot`] /
//! [`load_aot`] (or [`Session::compile_aot`] / [`Session::load_aot`]) write and read
//! ahead-of-time artifacts. See [`cache`] for the formats and guarantees.

pub mod judge;
pub mod lang;
mod linking;

use std::sync::Arc;
use std::time::Duration;

pub use sandbox_core::session::{read_module_file, read_module_file_as};
pub use sandbox_core::source::{self, compile_mini, compile_mini_to_wat, SourceKind};
pub use sandbox_core::traits::looks_like_text;
pub use sandbox_core::{
    cache, call, compile_wat_to_wasm, config, error, fuel, host, module, outcome, reactor, wasi,
    ArtifactError, BackendKind, CacheConfig, CacheStatus, CallReport, CancelHandle, Capabilities,
    CappedOutput, CapturedOutput, ClockPolicy, CompiledModule, ExecutionResult, ExportFunc,
    FuncSignature, GuestMemory, HostContext, HostError, HostFunction, HostFunctions, Instance,
    InstanceAllocation, InstanceId, Linker, ModuleInfo, Outcome, Preopen, Sandbox, SandboxConfig,
    SandboxError, Session, SourceDiagnostic, Trap, ValType, WasmValue,
};

pub use linking::{link_modules, LinkedModules};

/// Compiles a program in Mini, the project's small language (`sandbox-lang`), to a
/// WebAssembly module; the product brief's `compile_source`. A program that does not compile
/// is a [`SandboxError::CompilationError`] with every diagnostic (as data and rendered).
/// [`compile_mini`] names the file in the diagnostics.
///
/// ```
/// let wasm = sandbox::compile_source("export func add(a: int, b: int) -> int { return a + b; }")?;
/// let result = sandbox::execute_wasm(&wasm, "add", &[sandbox::WasmValue::I64(5), sandbox::WasmValue::I64(7)], None)?;
/// assert_eq!(result.return_values, vec![sandbox::WasmValue::I64(12)]);
/// # Ok::<(), sandbox::SandboxError>(())
/// ```
pub fn compile_source(source: &str) -> Result<Vec<u8>, SandboxError> {
    compile_mini(source, source::UNNAMED)
}

/// Compiles a Mini program and prints its module as WebAssembly text (wasmprinter); the
/// product brief's `compile_source_to_wat`, no longer a stub.
///
/// ```
/// let wat = sandbox::compile_source_to_wat("func main() { println(6 * 7); }")?;
/// assert!(wat.starts_with("(module"));
/// assert!(wat.contains("(export \"_start\""));
/// # Ok::<(), sandbox::SandboxError>(())
/// ```
pub fn compile_source_to_wat(source: &str) -> Result<String, SandboxError> {
    compile_mini_to_wat(source, source::UNNAMED)
}

/// The engine a sandbox runs on. Every variant exists whatever the features; asking for one
/// that is not compiled in is an `unsupported` error, never a panic.
pub type Runtime = BackendKind;

/// The runtimes compiled into this build, wasmtime first.
pub fn available_runtimes() -> Vec<Runtime> {
    BackendKind::ALL
        .into_iter()
        .filter(|runtime| is_available(*runtime))
        .collect()
}

/// Whether `runtime` is compiled into this build.
pub fn is_available(runtime: Runtime) -> bool {
    match runtime {
        BackendKind::Wasmtime => cfg!(feature = "wasmtime"),
        BackendKind::Wasmer => cfg!(feature = "wasmer"),
    }
}

/// The runtime used when none is named: wasmtime if compiled in, else wasmer.
pub fn default_runtime() -> Result<Runtime, SandboxError> {
    available_runtimes()
        .into_iter()
        .next()
        .ok_or_else(|| SandboxError::Unsupported {
            reason: "no backend is compiled in: enable feature `wasmtime` or `wasmer`".into(),
        })
}

/// A sandbox (an engine configured for `config`) on `runtime`.
pub fn sandbox(runtime: Runtime, config: SandboxConfig) -> Result<Arc<dyn Sandbox>, SandboxError> {
    match runtime {
        #[cfg(feature = "wasmtime")]
        BackendKind::Wasmtime => Ok(Arc::new(sandbox_wasmtime::WasmtimeSandbox::new(config)?)),
        #[cfg(feature = "wasmer")]
        BackendKind::Wasmer => Ok(Arc::new(sandbox_wasmer::WasmerSandbox::new(config)?)),
        #[allow(unreachable_patterns)]
        other => {
            let _ = config;
            Err(SandboxError::Unsupported {
                reason: format!(
                    "the {other} backend is not compiled in: enable the `{other}` feature of the sandbox crate"
                ),
            })
        }
    }
}

/// Compiles `wasm` (binary or text) and calls `func` once in a fresh instance on the default
/// runtime. `config` defaults to [`SandboxConfig::default`].
///
/// A run that fails (trap, limit) is returned as its error; use [`execute_on`] to keep the
/// full report of a failed run.
pub fn execute_wasm(
    wasm: &[u8],
    func: &str,
    args: &[WasmValue],
    config: Option<SandboxConfig>,
) -> Result<ExecutionResult, SandboxError> {
    execute_on(
        default_runtime()?,
        wasm,
        func,
        args,
        config.unwrap_or_default(),
    )?
    .into_result()
}

/// [`execute_wasm`] for WebAssembly text.
pub fn execute_wat(
    source: &str,
    func: &str,
    args: &[WasmValue],
    config: Option<SandboxConfig>,
) -> Result<ExecutionResult, SandboxError> {
    let wasm = compile_wat_to_wasm(source)?;
    execute_wasm(&wasm, func, args, config)
}

/// Compiles `wasm` (binary or text) on `runtime` and calls `func` once in a fresh instance,
/// returning the full report whatever the outcome. `Err` means the call could not start
/// (invalid module, unauthorized import, function not found, type mismatch, ...).
pub fn execute_on(
    runtime: Runtime,
    wasm: &[u8],
    func: &str,
    args: &[WasmValue],
    config: SandboxConfig,
) -> Result<ExecutionResult, SandboxError> {
    let sandbox = sandbox(runtime, config)?;
    let module = sandbox.load(wasm)?;
    // Refuse a bad call before paying for instantiation.
    module.info().function(func)?.check_args(func, args)?;
    let mut instance = match module.instantiate(sandbox.config()) {
        Ok(instance) => instance,
        Err(report) => return Ok(*report),
    };
    instance.call(func, args)
}

/// Compiles `wasm` (binary or text) ahead of time on the default runtime under
/// [`SandboxConfig::default`] and writes the artifact to `path`; returns its size in bytes.
///
/// An artifact runs only on a sandbox with the same engine, engine version and code-relevant
/// configuration (fuel metering on or off; on wasmtime also the stack limit). For another
/// configuration, use [`Session::compile_aot`] on a session built with it, or
/// [`Sandbox::compile_aot`].
pub fn compile_aot(wasm: &[u8], path: impl AsRef<std::path::Path>) -> Result<u64, SandboxError> {
    let session = Session::new(sandbox(default_runtime()?, SandboxConfig::default())?);
    session.compile_aot(wasm, path)
}

/// Loads an artifact written by [`compile_aot`] on the engine named in its header, under
/// [`SandboxConfig::default`]. Refused with `incompatible_artifact` when it is not an artifact,
/// is damaged, or was made for another engine version or configuration (see
/// [`Sandbox::load_aot`]); with `unsupported` when its engine is not compiled in.
///
/// # Safety
///
/// As [`Sandbox::load_aot`]: an artifact is native code; its checks catch accidents, not a
/// crafted file. Load only files as trusted as the program itself.
pub unsafe fn load_aot(
    path: impl AsRef<std::path::Path>,
) -> Result<Arc<dyn CompiledModule>, SandboxError> {
    let bytes = cache::read_artifact_file(path.as_ref())?;
    let runtime = cache::decode_artifact(&bytes)?
        .backend_kind()
        .ok_or_else(|| SandboxError::IncompatibleArtifact {
            reason: "the artifact names an engine this build does not know".into(),
        })?;
    let sandbox = sandbox(runtime, SandboxConfig::default())?;
    // SAFETY: forwarded to the caller.
    unsafe { sandbox.load_aot(&bytes) }
}

/// Builds a [`Session`] (or a bare [`Sandbox`]) step by step, starting from the default preset.
///
/// ```
/// # fn main() -> Result<(), sandbox::SandboxError> {
/// use std::time::Duration;
/// let mut session = sandbox::SandboxBuilder::new()
///     .max_memory(1 << 20)
///     .max_time(Duration::from_millis(100))
///     .max_fuel(100_000)
///     .allow_import("env::log")
///     .allow_filesystem(false)
///     .build()?;
/// session.load_module(br#"(module (func (export "f") (result i32) i32.const 7))"#)?;
/// assert_eq!(session.call_function("f", &[])?.return_values, vec![sandbox::WasmValue::I32(7)]);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SandboxBuilder {
    runtime: Option<Runtime>,
    config: SandboxConfig,
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl SandboxBuilder {
    /// Starts from [`SandboxConfig::default`] on the default runtime.
    pub fn new() -> Self {
        SandboxBuilder {
            runtime: None,
            config: SandboxConfig::default(),
        }
    }

    /// Starts from an existing configuration (a preset, say).
    pub fn from_config(config: SandboxConfig) -> Self {
        SandboxBuilder {
            runtime: None,
            config,
        }
    }

    /// Picks the engine.
    pub fn runtime(mut self, runtime: Runtime) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// Linear memory limit in bytes.
    pub fn max_memory(mut self, bytes: u64) -> Self {
        self.config.max_memory_bytes = bytes;
        self
    }

    /// Wall-clock limit per call.
    pub fn max_time(mut self, limit: Duration) -> Self {
        self.config.max_execution_time = limit;
        self
    }

    /// Fuel budget per instance.
    pub fn max_fuel(mut self, fuel: u64) -> Self {
        self.config.max_fuel = Some(fuel);
        self
    }

    /// Turns fuel metering off (the wall-clock limit still applies).
    pub fn no_fuel(mut self) -> Self {
        self.config.max_fuel = None;
        self
    }

    /// Wasm stack limit in bytes.
    pub fn max_stack(mut self, bytes: u64) -> Self {
        self.config.max_stack_size = bytes;
        self
    }

    /// Table elements limit.
    pub fn max_table_elements(mut self, elements: u64) -> Self {
        self.config.max_table_elements = elements;
        self
    }

    /// Module size limit in bytes.
    pub fn max_module_size(mut self, bytes: u64) -> Self {
        self.config.max_module_bytes = bytes;
        self
    }

    /// Captured bytes per output stream.
    pub fn max_output(mut self, bytes: u64) -> Self {
        self.config.max_output_bytes = bytes;
        self
    }

    /// Grants an import, spelled `module::name` (or `module::*`).
    pub fn allow_import(mut self, import: impl Into<String>) -> Self {
        self.config.allowed_imports.push(import.into());
        self
    }

    /// Grants or denies filesystem access (preopened directories only).
    pub fn allow_filesystem(mut self, allow: bool) -> Self {
        self.config.allow_filesystem = allow;
        self
    }

    /// Grants or denies network access.
    pub fn allow_network(mut self, allow: bool) -> Self {
        self.config.allow_network = allow;
        self
    }

    /// Grants or denies clocks.
    pub fn allow_clock(mut self, allow: bool) -> Self {
        self.config.clock = if allow {
            ClockPolicy::Real
        } else {
            ClockPolicy::Deny
        };
        self
    }

    /// Sets the clock and randomness policy (deny, real, or deterministic virtual).
    pub fn clock(mut self, policy: ClockPolicy) -> Self {
        self.config.clock = policy;
        self
    }

    /// How instances are allocated: on demand (the default) or from wasmtime's pool of
    /// `max_instances` slots ([`InstanceAllocation::pooling`]); wasmer ignores it.
    pub fn instance_allocation(mut self, allocation: InstanceAllocation) -> Self {
        self.config.instance_allocation = allocation;
        self
    }

    /// Enforces the wall-clock limit (the default) or removes the mechanism that enforces it
    /// (see [`SandboxConfig::enforce_time_limit`]: only for trusted or fuel-bounded code).
    pub fn enforce_time_limit(mut self, enforce: bool) -> Self {
        self.config.enforce_time_limit = enforce;
        self
    }

    /// Registers a host function; registering grants its import.
    pub fn host_function(mut self, function: HostFunction) -> Self {
        self.config.host_functions.define(function);
        self
    }

    /// Makes a host directory visible to the guest at `guest` (read-only unless `writable`),
    /// and turns filesystem access on.
    pub fn preopen(
        mut self,
        host: impl Into<std::path::PathBuf>,
        guest: impl Into<String>,
        writable: bool,
    ) -> Self {
        self.config.allow_filesystem = true;
        self.config.preopens.push(Preopen {
            host: host.into(),
            guest: guest.into(),
            writable,
        });
        self
    }

    /// Arguments of a WASI guest (after `argv[0]`).
    pub fn args(mut self, args: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.config.args = args.into_iter().map(Into::into).collect();
        self
    }

    /// Sets an environment variable of a WASI guest.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.env.push((key.into(), value.into()));
        self
    }

    /// What a WASI guest reads from stdin.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.config.stdin = bytes.into();
        self
    }

    /// Where compiled modules are cached ([`CacheConfig::off`] by default;
    /// [`CacheConfig::from_env`] for the documented default location).
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.config.cache = cache;
        self
    }

    /// Caches compiled modules in memory and in `dir` (bounded to the default 512 MiB).
    pub fn cache_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.config.cache = CacheConfig::at(dir);
        self
    }

    /// The configuration built so far.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The sandbox (engine + configuration).
    pub fn build_sandbox(self) -> Result<Arc<dyn Sandbox>, SandboxError> {
        let runtime = match self.runtime {
            Some(runtime) => runtime,
            None => default_runtime()?,
        };
        sandbox(runtime, self.config)
    }

    /// A session, ready for `load_module`.
    pub fn build(self) -> Result<Session, SandboxError> {
        Ok(Session::new(self.build_sandbox()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_sets_every_field() {
        let builder = SandboxBuilder::new()
            .max_memory(1)
            .max_time(Duration::from_millis(2))
            .max_fuel(3)
            .max_stack(65536)
            .allow_import("env::log")
            .allow_filesystem(true)
            .allow_network(true)
            .allow_clock(true)
            .instance_allocation(InstanceAllocation::pooling(3))
            .enforce_time_limit(false);
        let config = builder.config();
        assert_eq!(config.instance_allocation, InstanceAllocation::pooling(3));
        assert!(!config.enforce_time_limit);
        assert_eq!(config.max_memory_bytes, 1);
        assert_eq!(config.max_execution_time, Duration::from_millis(2));
        assert_eq!(config.max_fuel, Some(3));
        assert_eq!(config.max_stack_size, 65536);
        assert_eq!(config.allowed_imports, vec!["env::log".to_string()]);
        assert!(config.allow_filesystem && config.allow_network && config.allow_clock());
        assert_eq!(builder.no_fuel().config().max_fuel, None);
    }

    #[test]
    fn compile_aot_and_load_aot_round_trip_through_a_file() {
        let dir = std::env::temp_dir().join(format!("sandbox-facade-aot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("add.cwasm");
        let wat = br#"(module (func (export "add") (param i32 i32) (result i32)
                        local.get 0 local.get 1 i32.add))"#;
        let size = compile_aot(wat, &path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
        // SAFETY: written just above.
        let module = unsafe { load_aot(&path) }.unwrap();
        let mut instance = module.instantiate(&SandboxConfig::default()).unwrap();
        let result = instance
            .call("add", &[WasmValue::I32(5), WasmValue::I32(7)])
            .unwrap();
        assert_eq!(result.return_values, vec![WasmValue::I32(12)]);
        // A plain module is refused by load_aot, with the typed error.
        std::fs::write(&path, compile_wat_to_wasm(wat).unwrap()).unwrap();
        // SAFETY: refused before any code is loaded.
        let err = unsafe { load_aot(&path) }.err().unwrap();
        assert_eq!(err.kind(), "incompatible_artifact");
        // And the session spelling, with a cache directory from the builder.
        let mut session = SandboxBuilder::new()
            .cache_dir(dir.join("cache"))
            .build()
            .unwrap();
        session.compile_aot(wat, &path).unwrap();
        // SAFETY: written just above.
        unsafe { session.load_aot(&path) }.unwrap();
        assert_eq!(
            session
                .call_function("add", &[WasmValue::I32(1), WasmValue::I32(2)])
                .unwrap()
                .return_values,
            vec![WasmValue::I32(3)]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn every_runtime_answers_without_panicking() {
        for runtime in BackendKind::ALL {
            match sandbox(runtime, SandboxConfig::default()) {
                Ok(sandbox) => assert_eq!(sandbox.kind(), runtime),
                Err(err) => {
                    assert!(!is_available(runtime));
                    assert_eq!(err.kind(), "unsupported");
                }
            }
        }
    }
}
