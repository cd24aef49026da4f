//! Engines, their registry and the epoch ticker.

use crate::instance::{WasmtimeLinker, WasmtimeModule};
use sandbox_core::cache::CodeFingerprint;
use sandbox_core::fuel::operator_cost;
use sandbox_core::module::ModuleInfo;
use sandbox_core::wasmparser::WasmFeatures;
use sandbox_core::{
    BackendKind, Capabilities, CompiledModule, InstanceAllocation, Linker, Sandbox, SandboxConfig,
    SandboxError,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use wasmtime::{
    Config, Enabled, Engine, InstanceAllocationStrategy, OperatorCost, PoolingAllocationConfig,
    VariableOperatorCost,
};

/// How often the ticker advances the epoch; the wall-clock limit's resolution.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(1);

/// The largest memory slot of the pool: a 32-bit memory's whole address space, which is also
/// the engine's default memory reservation (a slot cannot be larger than the reservation).
const MAX_POOLED_MEMORY: u64 = 4 << 30;

/// The largest table slot of the pool, in elements (8 bytes each, reserved per slot).
const MAX_POOLED_TABLE_ELEMENTS: u64 = 10_000_000;

/// Memories and tables one module may define under pooling; the per-instance byte and element
/// limits are what bound them. A module with more is refused at compile time as `unsupported`.
const POOLED_PER_MODULE: u32 = 4;

/// Bytes of a pool slot's memory (and of its table) reset in place when an instance is
/// dropped; above it, pages are returned to the kernel.
const POOL_KEEP_RESIDENT: usize = 1 << 20;

/// What changes the code an engine generates or how it allocates. Everything else is per
/// store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct EngineKey {
    fuel: bool,
    max_stack_size: u64,
    /// Epoch interruption compiled in (the wall-clock limit enforced).
    epoch: bool,
    pool: Option<PoolKey>,
}

/// The shape of a pooling allocator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct PoolKey {
    /// Instances (and memory slots, and table slots) alive at once.
    pub(crate) max_instances: u32,
    /// Bytes of one memory slot (a multiple of the wasm page).
    pub(crate) memory_bytes: u64,
    /// Elements of one table slot.
    pub(crate) table_elements: u64,
}

impl PoolKey {
    /// The pool for `config`, if it asks for one: slots sized from its memory and table limits.
    fn of(config: &SandboxConfig) -> Option<PoolKey> {
        match config.instance_allocation {
            InstanceAllocation::OnDemand => None,
            InstanceAllocation::Pooling { max_instances } => Some(PoolKey {
                max_instances,
                memory_bytes: config
                    .max_memory_bytes
                    .min(MAX_POOLED_MEMORY)
                    .next_multiple_of(65536),
                table_elements: config.max_table_elements.min(MAX_POOLED_TABLE_ELEMENTS),
            }),
        }
    }

    fn allocation_config(self) -> PoolingAllocationConfig {
        let mut pool = PoolingAllocationConfig::new();
        pool.total_core_instances(self.max_instances)
            .total_memories(self.max_instances)
            .total_tables(self.max_instances)
            .total_gc_heaps(self.max_instances)
            .max_memories_per_module(POOLED_PER_MODULE)
            .max_tables_per_module(POOLED_PER_MODULE)
            .max_memory_size(usize::try_from(self.memory_bytes).unwrap_or(usize::MAX))
            .table_elements(usize::try_from(self.table_elements).unwrap_or(usize::MAX))
            // A slot is reset for its next instance with `memset` up to these sizes (the
            // pages resident `PAGEMAP_SCAN` finds, where the kernel has it) instead of
            // `madvise`: no page-table change, so no TLB shootdown on the other cores and no
            // `mmap_lock` taken, which is what serialised parallel runs.
            .linear_memory_keep_resident(POOL_KEEP_RESIDENT)
            .table_keep_resident(POOL_KEEP_RESIDENT)
            .pagemap_scan(Enabled::Auto);
        pool
    }
}

/// A shared engine.
pub(crate) struct SharedEngine {
    pub(crate) engine: Engine,
    pub(crate) fuel: bool,
    /// The wasm stack limit compiled into the engine's configuration.
    pub(crate) max_stack_size: u64,
    /// Whether the engine checks epochs (enforces the wall-clock limit).
    pub(crate) epoch: bool,
    /// The pool, when instances come from one.
    pub(crate) pool: Option<PoolKey>,
    /// What this engine's code depends on, for the module cache and AOT artifacts.
    fingerprint: CodeFingerprint,
}

/// The wasmtime version this backend is built on.
const ENGINE_VERSION: &str = "48.0.8";

/// Bumped whenever this backend changes the code it asks wasmtime to generate in a way the
/// fingerprint's other fields do not capture, so older cached code is no longer used.
const CODEGEN_REVISION: u32 = 1;

/// The fingerprint of an engine: the sandbox-level settings plus wasmtime's own
/// compatibility hash (its configuration, compiler flags and target CPU features).
fn fingerprint(engine: &Engine, key: EngineKey) -> CodeFingerprint {
    let mut builder = CodeFingerprint::builder();
    builder
        .field("backend", "wasmtime")
        .field("compiler", "cranelift")
        .field("codegen", CODEGEN_REVISION)
        .field("fuel", if key.fuel { "on" } else { "off" })
        .field("max_stack", key.max_stack_size)
        .field("epoch", key.epoch)
        // A module keeps the pool of the sandbox that compiled it (its slots bound every
        // instance), so modules of different pools must never be shared through a cache.
        .field(
            "pool",
            match key.pool {
                Some(pool) => format!(
                    "{}x{}B/{}el",
                    pool.max_instances, pool.memory_bytes, pool.table_elements
                ),
                None => "none".into(),
            },
        )
        .secret_field("features", format_args!("{:?}", features()))
        .hash_field("engine", &engine.precompile_compatibility_hash());
    builder.finish()
}

fn registry() -> &'static Mutex<HashMap<EngineKey, Arc<SharedEngine>>> {
    static REGISTRY: OnceLock<Mutex<HashMap<EngineKey, Arc<SharedEngine>>>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The engine for `key`, created (with its ticker) on first use.
fn shared_engine(key: EngineKey) -> Result<Arc<SharedEngine>, SandboxError> {
    let mut registry = registry().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(engine) = registry.get(&key) {
        return Ok(engine.clone());
    }
    let mut config = Config::new();
    config
        .consume_fuel(key.fuel)
        .operator_cost(cost_table())
        .epoch_interruption(key.epoch)
        .max_wasm_stack(usize::try_from(key.max_stack_size).unwrap_or(usize::MAX))
        // wasmtime requires the async stack (unused: calls are synchronous) to hold the wasm
        // stack.
        .async_stack_size(
            usize::try_from(key.max_stack_size)
                .unwrap_or(usize::MAX)
                .saturating_add(1 << 20),
        )
        .wasm_backtrace_max_frames(None)
        .cranelift_opt_level(wasmtime::OptLevel::Speed);
    if let Some(pool) = key.pool {
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(
            pool.allocation_config(),
        ));
    }
    let engine = Engine::new(&config).map_err(|err| SandboxError::Unsupported {
        reason: format!("cannot create the wasmtime engine: {err:#}"),
    })?;
    if key.epoch {
        start_ticker(&engine);
    }
    let shared = Arc::new(SharedEngine {
        fingerprint: fingerprint(&engine, key),
        engine,
        fuel: key.fuel,
        max_stack_size: key.max_stack_size,
        epoch: key.epoch,
        pool: key.pool,
    });
    registry.insert(key, shared.clone());
    Ok(shared)
}

/// An engine the ticker advances: its epoch tracks real time from `started`.
struct Ticked {
    engine: wasmtime::EngineWeak,
    started: std::time::Instant,
    ticks: u128,
}

/// Registers `engine` with the process's one epoch ticker, starting the ticker on first use.
///
/// One thread advances the epoch of every engine that enforces time limits, every
/// [`EPOCH_TICK`] (a thread per engine would wake the machine once per tick per engine
/// configuration: a process with a dozen configurations, fuel on and off, pools of several
/// shapes, took a dozen wake-ups a millisecond from the threads running wasm). The epoch
/// tracks real time: ticks that `sleep` delivered late are caught up, so deadlines do not
/// drift with the sleep overshoot. Engines live in the registry for the life of the process.
fn start_ticker(engine: &Engine) {
    static TICKED: Mutex<Vec<Ticked>> = Mutex::new(Vec::new());
    static STARTED: OnceLock<()> = OnceLock::new();
    TICKED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(Ticked {
            engine: engine.weak(),
            started: std::time::Instant::now(),
            ticks: 0,
        });
    STARTED.get_or_init(|| {
        let spawned = std::thread::Builder::new()
            .name("sandbox-wasmtime-epoch".into())
            .spawn(|| loop {
                std::thread::sleep(EPOCH_TICK);
                let mut ticked = TICKED.lock().unwrap_or_else(|e| e.into_inner());
                ticked.retain_mut(|entry| {
                    let Some(engine) = entry.engine.upgrade() else {
                        return false;
                    };
                    let due = entry.started.elapsed().as_nanos() / EPOCH_TICK.as_nanos();
                    while entry.ticks < due {
                        engine.increment_epoch();
                        entry.ticks += 1;
                    }
                    true
                });
            });
        if let Err(err) = spawned {
            tracing::error!("cannot start the epoch ticker: {err}; time limits will not fire");
        }
    });
}

/// The core cost model as wasmtime's per-operator table.
fn cost_table() -> OperatorCost {
    let mut table = OperatorCost::new();
    macro_rules! set_costs {
        ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*) )*) => {
            $( table.$op = operator_cost(stringify!($op)); )*
        };
    }
    sandbox_core::wasmparser::for_each_operator!(set_costs);
    // wasmer's metering charges per operator only, so neither engine charges by operand.
    table.variable = VariableOperatorCost {
        memory_copy_per_byte: 0,
        memory_fill_per_byte: 0,
        memory_init_per_byte: 0,
        memory_grow_per_page: 0,
        table_copy_per_element: 0,
        table_fill_per_element: 0,
        table_init_per_element: 0,
        table_grow_per_element: 0,
        array_copy_per_element: 0,
        array_fill_per_element: 0,
        array_new_data_per_element: 0,
        array_init_data_per_element: 0,
        array_new_elem_per_element: 0,
        array_init_elem_per_element: 0,
        array_new_default_per_element: 0,
        array_new_per_element: 0,
    };
    table
}

/// The features this backend accepts: everything but threads, stack switching and the
/// component model, which the engine is built without.
fn features() -> WasmFeatures {
    let mut features = WasmFeatures::default();
    features.remove(WasmFeatures::THREADS);
    features.remove(WasmFeatures::SHARED_EVERYTHING_THREADS);
    features.remove(WasmFeatures::STACK_SWITCHING);
    features.remove(WasmFeatures::LEGACY_EXCEPTIONS);
    features
}

/// wasmtime behind the sandbox contract.
#[derive(Clone)]
pub struct WasmtimeSandbox {
    config: SandboxConfig,
    key: EngineKey,
    engine: Arc<SharedEngine>,
}

impl WasmtimeSandbox {
    /// A sandbox for `config`, sharing an engine with every other sandbox whose configuration
    /// generates the same code and allocates instances the same way (fuel on or off, the stack
    /// limit, the wall-clock limit enforced or not, on-demand or a pool of the same shape).
    ///
    /// A pooling engine reserves the address space of its whole pool when it is created; the
    /// reservation fails (as `unsupported`) when the process has too little address space.
    pub fn new(config: SandboxConfig) -> Result<Self, SandboxError> {
        config.validate()?;
        let key = EngineKey {
            fuel: config.max_fuel.is_some(),
            max_stack_size: config.max_stack_size,
            epoch: config.enforce_time_limit,
            pool: PoolKey::of(&config),
        };
        let engine = shared_engine(key)?;
        Ok(WasmtimeSandbox {
            config,
            key,
            engine,
        })
    }

    /// The underlying wasmtime engine.
    pub fn engine(&self) -> &Engine {
        &self.engine.engine
    }
}

impl Sandbox for WasmtimeSandbox {
    fn kind(&self) -> BackendKind {
        BackendKind::Wasmtime
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            backend: BackendKind::Wasmtime,
            engine_version: ENGINE_VERSION,
            compiler: "cranelift",
            fuel: true,
            wall_clock_limit: true,
            memory_limit: true,
            stack_limit: true,
            wasi: true,
            network: false,
            instance_pooling: true,
            proposals: vec![
                "mutable_global",
                "saturating_float_to_int",
                "sign_extension",
                "multi_value",
                "bulk_memory",
                "reference_types",
                "simd",
                "relaxed_simd",
                "tail_call",
                "extended_const",
                "multi_memory",
                "memory64",
                "function_references",
                "gc",
                "exceptions",
            ],
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
        // Core validated the bytes already, so a refusal here is a feature or limit of this
        // engine, not a malformed module.
        let refused = |err: wasmtime::Error| SandboxError::Unsupported {
            reason: format!("wasmtime cannot compile this module: {err:#}"),
        };
        let (engine, module) = match wasmtime::Module::from_binary(&self.engine.engine, wasm) {
            Ok(module) => (self.engine.clone(), module),
            // A pool refuses modules that do not fit its slots (a memory or table declared
            // larger than a slot, more memories or tables than a slot holds, very large
            // instance state). Such a module runs on demand instead, still held to the
            // pool's limits, so it fails or runs exactly as it would without a pool
            // (typically `memory_limit_exceeded` at instantiation), never `unsupported`.
            Err(_) if self.key.pool.is_some() => {
                let engine = shared_engine(EngineKey {
                    pool: None,
                    ..self.key
                })?;
                let module =
                    wasmtime::Module::from_binary(&engine.engine, wasm).map_err(refused)?;
                (engine, module)
            }
            Err(err) => return Err(refused(err)),
        };
        Ok(Arc::new(WasmtimeModule::new(
            engine,
            self.engine.pool,
            module,
            info,
        )))
    }

    fn linker(&self) -> Result<Box<dyn Linker>, SandboxError> {
        Ok(Box::new(WasmtimeLinker::new(
            self.engine.clone(),
            self.config.clone(),
        )?))
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
        // SAFETY: the caller guarantees `code` is what `Module::serialize` produced on an
        // engine with this one's fingerprint (which includes wasmtime's compatibility hash);
        // wasmtime still checks its own header and refuses what does not fit.
        let module =
            unsafe { wasmtime::Module::deserialize(&self.engine.engine, code) }.map_err(|err| {
                SandboxError::IncompatibleArtifact {
                    reason: format!("wasmtime refused the compiled code: {err:#}"),
                }
            })?;
        Ok(Arc::new(WasmtimeModule::new(
            self.engine.clone(),
            self.engine.pool,
            module,
            info,
        )))
    }
}

impl std::fmt::Debug for WasmtimeSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmtimeSandbox")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
