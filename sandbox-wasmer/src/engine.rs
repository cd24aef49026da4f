//! The sandbox entry point, the process-wide engine registry and the feature set.

use crate::instance::WasmerModule;
use crate::middleware::ModuleLayout;
use crate::middleware::SandboxMiddleware;
use crate::watchdog::Watchdog;
use sandbox_core::cache::CodeFingerprint;
use sandbox_core::module::ModuleInfo;
use sandbox_core::wasmparser::WasmFeatures;
use sandbox_core::{
    BackendKind, Capabilities, CompiledModule, Sandbox, SandboxConfig, SandboxError,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use wasmer::sys::{CompilerConfig, Features, NativeEngineExt, Singlepass, Target};
use wasmer_wasix::PluggableRuntime;

/// The wasmer version this backend is built on.
pub(crate) const ENGINE_VERSION: &str = "7.4.2";

/// Bumped whenever the sandbox's instrumentation (the middleware) or the compiler settings
/// change the generated code in a way the fingerprint's other fields do not capture, so older
/// cached code is no longer used.
const CODEGEN_REVISION: u32 = 2;

/// What changes the code an engine generates. Everything else (limits, stack size) is per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct EngineKey {
    fuel: bool,
}

/// How much compiled code one engine takes before new compiles go to a fresh engine (an
/// estimate: [`code_estimate`] per module). wasmer frees a module's code only with its engine,
/// so a process compiling module after module would grow for ever; recycling bounds it by
/// this, plus the code of the modules still alive.
const RECYCLE_AFTER_BYTES: u64 = 8 << 20;

/// The estimated code footprint of a module of `wasm_len` bytes: singlepass emits several
/// bytes of machine code per byte of wasm, and wasmer maps every module's code, data and
/// trampolines in page-sized pieces of their own.
fn code_estimate(wasm_len: usize) -> u64 {
    (wasm_len as u64).saturating_mul(4).saturating_add(16 << 10)
}

/// A shared engine with its compile lock and its watchdog.
pub(crate) struct EngineEntry {
    /// The wasmer engine; runs clone the handle and install their own tunables on the clone.
    pub(crate) engine: wasmer::Engine,
    /// Whether code compiled here is metered.
    pub(crate) fuel: bool,
    middleware: Arc<SandboxMiddleware>,
    /// Serialises compiles: the middleware records one module's layout at a time.
    compile_lock: Mutex<()>,
    /// Interrupts runs of this engine past their wall-clock deadline.
    pub(crate) watchdog: Watchdog,
    /// The wasix runtime of WASI instances of this engine, created on first use.
    wasix: OnceLock<Arc<PluggableRuntime>>,
    /// What this engine's code depends on, for the module cache and AOT artifacts.
    fingerprint: CodeFingerprint,
    /// The estimated code compiled or loaded into this engine so far.
    code_bytes: AtomicU64,
}

/// The fingerprint of an engine: metering, the instrumentation revision, the features, the
/// target and the host CPU features singlepass compiles for.
fn fingerprint(key: EngineKey, target: &Target) -> CodeFingerprint {
    let mut builder = CodeFingerprint::builder();
    builder
        .field("backend", "wasmer")
        .field("compiler", "singlepass")
        .field("codegen", CODEGEN_REVISION)
        .field("fuel", if key.fuel { "on" } else { "off" })
        .field("nan_canonicalization", "off")
        .secret_field("features", format_args!("{:?}", engine_features()))
        .secret_field("triple", target.triple())
        .secret_field("cpu", format_args!("{:?}", target.cpu_features()));
    builder.finish()
}

impl EngineEntry {
    /// Counts a module's code against the recycling bound.
    pub(crate) fn add_code(&self, wasm_len: usize) {
        self.code_bytes
            .fetch_add(code_estimate(wasm_len), Ordering::Relaxed);
    }

    /// Whether new modules should go to a fresh engine.
    fn is_full(&self) -> bool {
        self.code_bytes.load(Ordering::Relaxed) >= RECYCLE_AFTER_BYTES
    }

    /// The wasix runtime (task manager on the backend's Tokio runtime, this engine).
    pub(crate) fn wasix_runtime(&self) -> Result<Arc<PluggableRuntime>, SandboxError> {
        if let Some(runtime) = self.wasix.get() {
            return Ok(runtime.clone());
        }
        let runtime = crate::wasi::wasix_runtime(&self.engine)?;
        Ok(self.wasix.get_or_init(|| runtime).clone())
    }
}

fn registry() -> &'static Mutex<HashMap<EngineKey, Arc<EngineEntry>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<EngineKey, Arc<EngineEntry>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The current engine for `key`: created on first use, shared by every sandbox of that key,
/// and replaced by a fresh one once it holds [`RECYCLE_AFTER_BYTES`] of code. A replaced
/// engine lives on while any module compiled on it (or instance of one) does, and is freed
/// with the last of them, its code with it.
fn shared_engine(key: EngineKey) -> Arc<EngineEntry> {
    let mut registry = registry().lock().unwrap_or_else(|e| e.into_inner());
    if registry.get(&key).is_some_and(|entry| entry.is_full()) {
        registry.remove(&key);
    }
    registry
        .entry(key)
        .or_insert_with(|| {
            let middleware = Arc::new(SandboxMiddleware::new(key.fuel));
            let mut compiler = Singlepass::new();
            // wasmtime does not canonicalise NaNs either; results must agree bit for bit.
            compiler.canonicalize_nans(false);
            compiler.push_middleware(middleware.clone());
            let target = Target::default();
            let fingerprint = fingerprint(key, &target);
            let engine = <wasmer::Engine as NativeEngineExt>::new(
                Box::new(compiler),
                target,
                engine_features(),
            );
            Arc::new(EngineEntry {
                engine,
                fuel: key.fuel,
                middleware,
                compile_lock: Mutex::new(()),
                watchdog: Watchdog::default(),
                wasix: OnceLock::new(),
                fingerprint,
                code_bytes: AtomicU64::new(0),
            })
        })
        .clone()
}

/// The proposals singlepass compiles and the sandbox accepts, by their `wasmparser` names.
const PROPOSALS: [&str; 7] = [
    "mutable_global",
    "saturating_float_to_int",
    "sign_extension",
    "multi_value",
    "bulk_memory",
    "reference_types",
    "extended_const",
];

/// The features modules are validated against: WebAssembly 2.0 without SIMD, plus extended
/// constant expressions. singlepass has no SIMD; threads, tail calls, exceptions, GC,
/// memory64 and multi-memory are refused as `unsupported` (see the crate documentation).
pub(crate) fn features() -> WasmFeatures {
    WasmFeatures::WASM2
        .difference(WasmFeatures::SIMD)
        .union(WasmFeatures::EXTENDED_CONST)
}

/// The same feature set in wasmer's terms, for wasmer's own validation.
fn engine_features() -> Features {
    let mut features = Features::none();
    features.reference_types = true;
    features.bulk_memory = true;
    features.multi_value = true;
    features.extended_const = true;
    features
}

/// wasmer (singlepass) behind the sandbox contract.
#[derive(Clone)]
pub struct WasmerSandbox {
    config: SandboxConfig,
    key: EngineKey,
    /// The engine current when the sandbox was made (compiles take the current one).
    engine: Arc<EngineEntry>,
}

impl WasmerSandbox {
    /// A sandbox for `config`, sharing an engine with every other sandbox whose configuration
    /// generates the same code (fuel metering on or off).
    ///
    /// Fails with `unsupported` when the configuration does not validate.
    pub fn new(config: SandboxConfig) -> Result<Self, SandboxError> {
        config.validate()?;
        let key = EngineKey {
            fuel: config.max_fuel.is_some(),
        };
        let engine = shared_engine(key);
        Ok(WasmerSandbox {
            config,
            key,
            engine,
        })
    }

    /// The shared wasmer engine current when this sandbox was made. Modules compiled later
    /// may be on a newer one: engines are recycled after a bound of compiled code (see the
    /// crate documentation).
    pub fn engine(&self) -> &wasmer::Engine {
        &self.engine.engine
    }
}

impl Sandbox for WasmerSandbox {
    fn kind(&self) -> BackendKind {
        BackendKind::Wasmer
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            backend: BackendKind::Wasmer,
            engine_version: ENGINE_VERSION,
            compiler: "singlepass",
            fuel: true,
            wall_clock_limit: true,
            memory_limit: true,
            stack_limit: true,
            wasi: true,
            network: false,
            instance_pooling: false,
            proposals: PROPOSALS.to_vec(),
            features: features(),
        }
    }

    fn config(&self) -> &SandboxConfig {
        &self.config
    }

    fn compile_validated(
        &self,
        wasm: &[u8],
        info: ModuleInfo,
    ) -> Result<Arc<dyn CompiledModule>, SandboxError> {
        let entry = &shared_engine(self.key);
        // The middleware keeps the layout of the module being compiled: one compile at a time.
        let guard = entry.compile_lock.lock().unwrap_or_else(|e| e.into_inner());
        // Drop any stale layout from a compile that failed half-way.
        let _ = entry.middleware.take_layout();
        // wasmer panics when the process runs out of mappings for code memory (its engines
        // keep every module's code for their lifetime): an error, not a crash.
        // Unwind safety: after such a panic the engine may refuse further work, which is
        // reported as errors too.
        let compiled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            wasmer::Module::new(&entry.engine, wasm)
        }))
        .unwrap_or_else(|_| {
            Err(wasmer::CompileError::Resource(
                "wasmer panicked while compiling (out of code memory?)".into(),
            ))
        });
        let layout = entry.middleware.take_layout();
        drop(guard);
        entry.add_code(wasm.len());
        let module = compiled.map_err(|err| {
            // Core validated the bytes already, so a refusal here is a feature or limit of
            // this engine, not a malformed module.
            SandboxError::Unsupported {
                reason: format!("wasmer cannot compile this module: {err}"),
            }
        })?;
        let layout = layout.ok_or_else(|| SandboxError::Unsupported {
            reason: "wasmer compiled the module without the sandbox instrumentation".into(),
        })?;
        Ok(Arc::new(WasmerModule::new(
            entry.clone(),
            module,
            info,
            layout,
        )))
    }

    fn linker(&self) -> Result<Box<dyn sandbox_core::Linker>, SandboxError> {
        Ok(Box::new(crate::instance::WasmerLinker::new(
            shared_engine(self.key),
            self.config.clone(),
        )))
    }

    fn code_fingerprint(&self) -> CodeFingerprint {
        self.engine.fingerprint.clone()
    }

    unsafe fn deserialize_validated(
        &self,
        _wasm: &[u8],
        info: ModuleInfo,
        code: &[u8],
    ) -> Result<Arc<dyn CompiledModule>, SandboxError> {
        let refused = |reason: String| SandboxError::IncompatibleArtifact {
            reason: format!("wasmer refused the compiled code: {reason}"),
        };
        let (length, rest) = code
            .split_first_chunk::<4>()
            .ok_or_else(|| refused("no instrumentation layout".into()))?;
        let length = usize::try_from(u32::from_le_bytes(*length)).unwrap_or(usize::MAX);
        if rest.len() < length {
            return Err(refused("truncated instrumentation layout".into()));
        }
        let (layout, module) = rest.split_at(length);
        let layout = ModuleLayout::decode(layout)
            .ok_or_else(|| refused("malformed instrumentation layout".into()))?;
        // SAFETY: the caller guarantees `code` is what `WasmerModule::serialize` produced on an
        // engine with this one's fingerprint (engine version, target, CPU features, metering,
        // instrumentation revision), unmodified.
        // wasmer panics when the process runs out of mappings for code memory (its engines
        // keep every module's code for their lifetime): an error, not a crash.
        let entry = shared_engine(self.key);
        entry.add_code(module.len());
        let module = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
            wasmer::Module::deserialize(&entry.engine, module.to_vec())
        }))
        .map_err(|_| {
            refused("wasmer panicked while loading the code (out of code memory?)".into())
        })?
        .map_err(|err| refused(err.to_string()))?;
        Ok(Arc::new(WasmerModule::new(
            entry,
            module,
            info,
            Arc::new(layout),
        )))
    }
}

impl std::fmt::Debug for WasmerSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmerSandbox")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
