//! The contract each backend implements.
//!
//! Three objects, each with a small, object-safe trait:
//! - a [`Sandbox`] is an engine configured for one [`SandboxConfig`]; it compiles bytes;
//! - a [`CompiledModule`] is compiled code, immutable and shareable; it instantiates;
//! - an [`Instance`] is live guest state; it runs calls.
//!
//! Validation, the feature check and the import policy are written once here
//! ([`Sandbox::load`]) so that both engines refuse the same modules with the same errors.

use crate::module::ModuleInfo;
use crate::{ExecutionResult, SandboxConfig, SandboxError, WasmValue};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The engines the project knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// wasmtime with the cranelift compiler.
    Wasmtime,
    /// wasmer with the singlepass compiler.
    Wasmer,
}

impl BackendKind {
    /// Every backend kind, whether compiled in or not.
    pub const ALL: [BackendKind; 2] = [BackendKind::Wasmtime, BackendKind::Wasmer];

    /// The lowercase name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Wasmtime => "wasmtime",
            BackendKind::Wasmer => "wasmer",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "wasmtime" => Ok(BackendKind::Wasmtime),
            "wasmer" => Ok(BackendKind::Wasmer),
            other => Err(format!(
                "unknown backend {other:?} (expected wasmtime or wasmer)"
            )),
        }
    }
}

/// What a backend supports, declared up front so nobody has to discover it by failing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// The engine.
    pub backend: BackendKind,
    /// The engine's version.
    pub engine_version: &'static str,
    /// The compiler behind it (`cranelift`, `singlepass`).
    pub compiler: &'static str,
    /// Fuel metering under the core cost model.
    pub fuel: bool,
    /// Interrupting running code at the wall-clock limit.
    pub wall_clock_limit: bool,
    /// Linear-memory and table limits.
    pub memory_limit: bool,
    /// A configurable wasm stack limit.
    pub stack_limit: bool,
    /// WASI preview 1.
    pub wasi: bool,
    /// Network sockets for guests.
    pub network: bool,
    /// A pooling instance allocator behind [`crate::InstanceAllocation::Pooling`]; without
    /// one the setting is ignored and instances are allocated on demand.
    pub instance_pooling: bool,
    /// Proposals beyond the MVP this backend runs, by their `wasmparser` names.
    pub proposals: Vec<&'static str>,
    /// The WebAssembly features this backend accepts; a module valid under the full feature
    /// set but not under this one is refused as `unsupported`.
    #[serde(skip)]
    pub features: wasmparser::WasmFeatures,
}

/// An engine configured for one [`SandboxConfig`]: the entry point of a backend.
///
/// Engines are expensive; a backend shares one engine between every `Sandbox` whose
/// configuration compiles to the same code, and creates per-run state only in
/// [`CompiledModule::instantiate`].
pub trait Sandbox: Send + Sync {
    /// Which engine this is.
    fn kind(&self) -> BackendKind;

    /// What this backend supports.
    fn capabilities(&self) -> Capabilities;

    /// The configuration this sandbox was created with.
    fn config(&self) -> &SandboxConfig;

    /// Compiles bytes that [`Sandbox::load`] has validated and checked against the policy.
    /// Callers should use `load`.
    fn compile_validated(
        &self,
        wasm: &[u8],
        info: ModuleInfo,
    ) -> Result<Arc<dyn CompiledModule>, SandboxError>;

    /// Validates `wasm` (binary or text), checks features and imports, and compiles it.
    ///
    /// Refuses with `invalid_module` (with the validator's reason and offset),
    /// `unsupported` (a feature this engine cannot run) or `unauthorized_import`.
    fn load(&self, wasm: &[u8]) -> Result<Arc<dyn CompiledModule>, SandboxError> {
        let config = self.config();
        let binary;
        let wasm = if looks_like_text(wasm) {
            binary = crate::compile_wat_to_wasm(wasm)?;
            &binary[..]
        } else {
            wasm
        };
        let info = ModuleInfo::parse(wasm, config)?;
        let features = self.capabilities().features;
        if let Err(err) = ModuleInfo::parse_with_features(wasm, features) {
            let reason = match err {
                SandboxError::InvalidModule { reason, .. } => reason,
                other => other.to_string(),
            };
            return Err(SandboxError::Unsupported {
                reason: format!("{} cannot run this module: {reason}", self.kind()),
            });
        }
        info.check_imports(config)?;
        self.compile_validated(wasm, info)
    }
}

/// Whether `bytes` look like WebAssembly text rather than binary.
pub fn looks_like_text(bytes: &[u8]) -> bool {
    !bytes.starts_with(b"\0asm")
        && std::str::from_utf8(bytes)
            .map(|s| s.trim_start().starts_with('(') || s.trim_start().starts_with(";;"))
            .unwrap_or(false)
}

/// Compiled code: immutable, shareable across threads, instantiated as often as needed.
pub trait CompiledModule: Send + Sync {
    /// The engine that compiled it.
    fn kind(&self) -> BackendKind;

    /// The module's interface.
    fn info(&self) -> &ModuleInfo;

    /// Creates a fresh instance under `config`'s per-run limits (memory, tables, time, fuel,
    /// stack) and runs its start function, if any, under them.
    ///
    /// A failure (a limit, a trap in the start function, a link error) comes back as the
    /// report of that failed run, with the error in its outcome.
    fn instantiate(
        &self,
        config: &SandboxConfig,
    ) -> Result<Box<dyn Instance>, Box<ExecutionResult>>;
}

/// A live instance: guest state that persists across calls until dropped.
pub trait Instance: Send {
    /// The engine running it.
    fn kind(&self) -> BackendKind;

    /// Calls the exported function `name`.
    ///
    /// Returns `Err` only for problems found before the guest runs (`function_not_found`,
    /// `type_mismatch`, `unsupported`); every run, successful or not, returns its report. The
    /// fuel budget is per instance: each call reports what it consumed, and the budget is
    /// refilled only by a fresh instance.
    fn call(&mut self, name: &str, args: &[WasmValue]) -> Result<ExecutionResult, SandboxError>;

    /// Fuel consumed by this instance so far, or `None` when metering is off.
    fn fuel_consumed(&self) -> Option<u64>;

    /// The largest linear-memory size this instance has had, in bytes.
    fn peak_memory(&self) -> u64;
}
