//! Compiled modules, instances, the per-store resource limiter and trap mapping.

use crate::engine::{PoolKey, SharedEngine, EPOCH_TICK};
use crate::wasi::OutputLimitHit;
use sandbox_core::clock::Stamp;
use sandbox_core::module::ModuleInfo;
use sandbox_core::wasi::DenialLog;
use sandbox_core::FuncSignature;
use sandbox_core::{
    wasi, BackendKind, CallReport, CancelHandle, CappedOutput, CapturedOutput, CompiledModule,
    ExecutionResult, ExportFunc, GuestMemory, HostContext, HostError, HostFunction, Instance,
    InstanceId, InstanceToken, Outcome, SandboxConfig, SandboxError, Trap, ValType, WasmValue,
};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;
use wasmtime::{Caller, FuncType, InstancePre, Linker, ResourceLimiter, Store, Val, ValRaw};
use wasmtime_wasi::p1::WasiP1Ctx;

/// A host function's error, carried through wasmtime as the error of its trap.
#[derive(Debug)]
struct HostCallFailed(HostError);

impl std::fmt::Display for HostCallFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for HostCallFailed {}

/// The guest's memory as a byte slice, for host functions.
struct SliceMemory<'a>(&'a mut [u8]);

impl GuestMemory for SliceMemory<'_> {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), HostError> {
        let start = usize::try_from(offset).map_err(|_| HostError::new("address out of range"))?;
        let bytes = self
            .0
            .get(start..start.saturating_add(buf.len()))
            .ok_or_else(|| HostError::new("read outside guest memory"))?;
        buf.copy_from_slice(bytes);
        Ok(())
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), HostError> {
        let start = usize::try_from(offset).map_err(|_| HostError::new("address out of range"))?;
        self.0
            .get_mut(start..start.saturating_add(data.len()))
            .ok_or_else(|| HostError::new("write outside guest memory"))?
            .copy_from_slice(data);
        Ok(())
    }
}

/// A module compiled by wasmtime.
pub(crate) struct WasmtimeModule {
    engine: Arc<SharedEngine>,
    /// The pool of the sandbox that compiled the module, whose slots bound its instances
    /// (also when the module did not fit the pool and runs on demand).
    pool: Option<PoolKey>,
    module: wasmtime::Module,
    info: Arc<ModuleInfo>,
    /// Pre-linked instances, per import shape.
    linked: Mutex<HashMap<LinkShape, InstancePre<StoreState>>>,
}

impl WasmtimeModule {
    pub(crate) fn new(
        engine: Arc<SharedEngine>,
        pool: Option<PoolKey>,
        module: wasmtime::Module,
        info: ModuleInfo,
    ) -> Self {
        WasmtimeModule {
            engine,
            pool,
            module,
            info: Arc::new(info),
            linked: Mutex::new(HashMap::new()),
        }
    }
}

/// Which limit a limiter refusal was about; carried as the error of the trap it raises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LimitHit {
    Memory,
    Table,
}

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitHit::Memory => f.write_str("linear memory limit exceeded"),
            LimitHit::Table => f.write_str("table limit exceeded"),
        }
    }
}

impl std::error::Error for LimitHit {}

/// Per-store accounting of memories and tables.
struct Limiter {
    memory_limit: u64,
    table_limit: u64,
    memory_total: u64,
    table_total: u64,
    peak_memory: u64,
    /// Total bytes requested by the growth that passed the limit.
    memory_hit: Option<u64>,
    /// Total elements requested by the table that passed the limit.
    table_hit: Option<u64>,
    /// The last growth granted, undone if the engine then fails to grow.
    last_memory_grant: u64,
    last_table_grant: u64,
    /// Tables of the module not created yet. wasmtime announces each table's creation to the
    /// limiter (as growth from 0) before any guest code runs; every later call is a
    /// `table.grow`, including one in the start function, which also runs inside
    /// `instantiate`. Only a creation past the limit fails the instantiation; a growth past it
    /// returns -1, as on wasmer.
    tables_to_create: usize,
    /// How many instances (and memories, and tables) the store may hold: one instance for a
    /// plain instance, more in a linked store. The byte and element limits bound the rest.
    max_instances: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            // Past the module's own maximum: plain wasm semantics, `memory.grow` returns -1.
            return Ok(false);
        }
        let delta = (desired as u64).saturating_sub(current as u64);
        let total = self.memory_total.saturating_add(delta);
        if total > self.memory_limit {
            self.memory_hit = Some(total);
            return Err(wasmtime::Error::new(LimitHit::Memory));
        }
        self.memory_total = total;
        self.last_memory_grant = delta;
        self.peak_memory = self.peak_memory.max(total);
        Ok(true)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.memory_total = self.memory_total.saturating_sub(self.last_memory_grant);
        self.last_memory_grant = 0;
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let creating = self.tables_to_create > 0;
        if creating {
            self.tables_to_create -= 1;
        }
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        let delta = (desired as u64).saturating_sub(current as u64);
        let total = self.table_total.saturating_add(delta);
        if total > self.table_limit {
            if creating {
                self.table_hit = Some(total);
                return Err(wasmtime::Error::new(LimitHit::Table));
            }
            // `table.grow` past the limit fails as the specification allows: it returns -1.
            return Ok(false);
        }
        self.table_total = total;
        self.last_table_grant = delta;
        Ok(true)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.table_total = self.table_total.saturating_sub(self.last_table_grant);
        self.last_table_grant = 0;
        Ok(())
    }

    fn instances(&self) -> usize {
        self.max_instances
    }

    fn memories(&self) -> usize {
        // Multi-memory modules are allowed; the byte limit is what bounds them.
        100 * self.max_instances
    }

    fn tables(&self) -> usize {
        100 * self.max_instances
    }
}

struct StoreState {
    limiter: Limiter,
    /// The WASI context, for modules that import WASI.
    wasi: Option<WasiP1Ctx>,
    stdout: CappedOutput,
    stderr: CappedOutput,
    /// The instance's fuel budget, so host functions can tell how much was consumed.
    fuel_limit: Option<u64>,
    /// This instance's host functions, called by the shared linker's trampolines by index.
    host_functions: Arc<[HostFunction]>,
    /// The WASI calls the policy denied since the last call's report.
    denials: DenialLog,
    /// When the current call started and how long it may run; checked on the same clock the
    /// call's time is reported on when an epoch deadline fires, so a run never stops before
    /// its limit however the ticks fall.
    started: Stamp,
    limit: Duration,
    /// Set when the deadline callback stopped the run.
    timed_out: bool,
    /// The instance's cancel request, shared with the handles it hands out.
    cancel: CancelHandle,
    /// Whether the current call looks at `cancel` at every epoch tick: only while a handle
    /// exists, so that calls nobody can cancel keep a single epoch deadline.
    watch_cancel: bool,
    /// Set when the deadline callback stopped the run for a cancel request (and consumed it).
    cancelled: bool,
}

/// The run-time limits of one instance.
#[derive(Clone, Copy)]
struct RunLimits {
    time: Duration,
    /// `time` in epoch ticks, rounded up (computed once: a 128-bit division per call).
    time_ticks: u64,
    /// Whether the wall-clock limit is enforced (the engine checks epochs).
    epoch: bool,
    stack: u64,
    fuel: Option<u64>,
    memory: u64,
    tables: u64,
}

/// One instance of a store and the interface of its module.
struct Slot {
    instance: wasmtime::Instance,
    info: Arc<ModuleInfo>,
}

/// A wasmtime store, its instances and its limits: the state behind both a plain
/// [`WasmtimeInstance`] (one instance) and a [`WasmtimeLinker`] (several, linked by name).
struct StoreSet {
    store: Store<StoreState>,
    slots: Vec<Slot>,
    /// Per slot, the exported functions called so far and their signatures: a call looks
    /// its export up once, not every time.
    funcs: Vec<FuncCache>,
    /// The functions [`StoreSet::export_func`] resolved, by the index their handles carry.
    resolved: Vec<Resolved>,
    limits: RunLimits,
}

/// A function resolved for the fast path.
struct Resolved {
    /// The instance (slot) and export it was resolved from.
    slot: usize,
    name: Box<str>,
    func: wasmtime::Func,
    /// Whether every parameter and result is a number (or a vector): the unchecked raw call.
    numeric: bool,
}

/// The exported functions of one instance looked up so far, by name, with their signatures.
type FuncCache = HashMap<Box<str>, (wasmtime::Func, Arc<FuncSignature>)>;

/// A live wasmtime instance.
pub(crate) struct WasmtimeInstance {
    set: StoreSet,
    /// This instance's identity for the function handles it resolves.
    token: InstanceToken,
}

/// The most instances a linked store may hold.
const MAX_LINKED_INSTANCES: usize = 1000;

/// A wasmtime store of instances linked to one another by name.
pub(crate) struct WasmtimeLinker {
    engine: Arc<SharedEngine>,
    config: SandboxConfig,
    set: StoreSet,
    /// Resolves imports: the host functions the configuration defines, then the registered
    /// instances (shadowing them under the same names).
    linker: Linker<StoreState>,
    registered: HashMap<String, usize>,
}

fn val_type(ty: ValType) -> Option<wasmtime::ValType> {
    match ty {
        ValType::I32 => Some(wasmtime::ValType::I32),
        ValType::I64 => Some(wasmtime::ValType::I64),
        ValType::F32 => Some(wasmtime::ValType::F32),
        ValType::F64 => Some(wasmtime::ValType::F64),
        _ => None,
    }
}

/// The import shape of an instance: whether WASI is linked, and the host functions defined
/// (by name and signature). Instances of one module with the same shape share one
/// [`InstancePre`].
type LinkShape = (bool, Vec<(String, String, FuncSignature)>);

impl WasmtimeModule {
    /// The host functions of one instance: the sandbox's clock and random functions (fresh
    /// per instance: the virtual clock's state is per instance, and they record denials in
    /// the instance's `denials`) and the embedder's.
    fn host_functions(
        config: &SandboxConfig,
        info: &ModuleInfo,
        denials: &DenialLog,
    ) -> Vec<HostFunction> {
        let mut functions = Vec::new();
        if wasi::is_wasi_module(info) {
            functions.extend(wasi::for_imported_snapshots(
                wasi::overrides(config, denials),
                info,
            ));
        }
        functions.extend(config.host_functions.iter().cloned());
        functions
    }

    /// The pre-linked module for an import shape, built on first use and then shared: linking
    /// WASI costs tens of microseconds, instantiating a pre-linked module a few.
    fn instance_pre(
        &self,
        is_wasi: bool,
        functions: &[HostFunction],
    ) -> Result<InstancePre<StoreState>, SandboxError> {
        let shape: LinkShape = (
            is_wasi,
            functions
                .iter()
                .map(|f| (f.module.clone(), f.name.clone(), f.signature.clone()))
                .collect(),
        );
        let mut cache = self.linked.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pre) = cache.get(&shape) {
            return Ok(pre.clone());
        }
        let pre = self.link(&shape)?;
        // A handful of shapes per module in practice; a bound keeps a hostile embedder from
        // growing it without end.
        if cache.len() >= 64 {
            cache.clear();
        }
        cache.insert(shape, pre.clone());
        Ok(pre)
    }

    /// Links WASI and one trampoline per host function; each trampoline calls the function at
    /// its index in the instance's own list ([`StoreState::host_functions`]).
    fn link(
        &self,
        (is_wasi, functions): &LinkShape,
    ) -> Result<InstancePre<StoreState>, SandboxError> {
        let engine = &self.engine.engine;
        let mut linker = Linker::new(engine);
        linker.allow_shadowing(true);
        let link_error = |err: wasmtime::Error| SandboxError::LinkError {
            reason: format!("cannot link WASI: {err}"),
        };
        if *is_wasi {
            wasmtime_wasi::p1::add_to_linker_sync(&mut linker, |state: &mut StoreState| {
                state
                    .wasi
                    .as_mut()
                    .expect("a WASI context exists whenever WASI is linked")
            })
            .map_err(link_error)?;
            wrap_wasi(&mut linker)?;
            if wasi::imports_from(&self.info, wasi::PREVIEW0_MODULE) {
                // Preview 0 over the same context (wasmtime-wasi adapts its types).
                wasmtime_wasi::p0::add_to_linker_sync(&mut linker, |state: &mut StoreState| {
                    state
                        .wasi
                        .as_mut()
                        .expect("a WASI context exists whenever WASI is linked")
                })
                .map_err(link_error)?;
            }
            // wasmtime-wasi refuses exit codes of 126 and above; the sandbox reports any i32
            // code, as wasmer-wasix does.
            for module in wasi::MODULES {
                linker
                    .func_wrap(module, "proc_exit", |code: i32| -> wasmtime::Result<()> {
                        Err(wasmtime::Error::new(wasmtime_wasi::I32Exit(code)))
                    })
                    .map_err(link_error)?;
            }
        }
        let signatures: Vec<_> = functions
            .iter()
            .map(|(module, name, signature)| (module.as_str(), name.as_str(), signature))
            .collect();
        define_trampolines(&mut linker, engine, &signatures)?;
        linker
            .instantiate_pre(&self.module)
            .map_err(|err| SandboxError::LinkError {
                reason: format!("{err:#}"),
            })
    }
}

/// Defines one trampoline per host function of `functions`, by index.
fn define_host_functions(
    linker: &mut Linker<StoreState>,
    engine: &wasmtime::Engine,
    functions: &[HostFunction],
) -> Result<(), SandboxError> {
    let signatures: Vec<_> = functions
        .iter()
        .map(|f| (f.module.as_str(), f.name.as_str(), &f.signature))
        .collect();
    define_trampolines(linker, engine, &signatures)
}

/// Defines, for each `(module, name, signature)`, a trampoline calling the host function at
/// the same index in the store's own list ([`StoreState::host_functions`]).
fn define_trampolines(
    linker: &mut Linker<StoreState>,
    engine: &wasmtime::Engine,
    functions: &[(&str, &str, &FuncSignature)],
) -> Result<(), SandboxError> {
    for (index, (module, name, signature)) in functions.iter().enumerate() {
        let unsupported = || {
            SandboxError::Unsupported {
            reason: format!(
                "host function {module}::{name} has signature {signature}: only numeric types cross the boundary"
            ),
        }
        };
        let params = signature
            .params
            .iter()
            .map(|ty| val_type(*ty).ok_or_else(unsupported))
            .collect::<Result<Vec<_>, _>>()?;
        let results = signature
            .results
            .iter()
            .map(|ty| val_type(*ty).ok_or_else(unsupported))
            .collect::<Result<Vec<_>, _>>()?;
        let ty = FuncType::new(engine, params, results);
        linker
            .func_new(module, name, ty, move |caller, params, results| {
                let functions = caller.data().host_functions.clone();
                match functions.get(index) {
                    Some(function) => call_host(function, caller, params, results),
                    None => Err(wasmtime::Error::new(HostCallFailed(HostError::new(
                        "host function table mismatch",
                    )))),
                }
            })
            .map_err(|err| SandboxError::LinkError {
                reason: format!("cannot define {module}::{name}: {err}"),
            })?;
    }
    Ok(())
}

/// Runs a host function for wasmtime: its context sees the caller's `memory` export and the
/// fuel consumed so far.
fn call_host(
    function: &HostFunction,
    mut caller: Caller<'_, StoreState>,
    params: &[Val],
    results: &mut [Val],
) -> wasmtime::Result<()> {
    let args: Vec<WasmValue> = params.iter().filter_map(from_val).collect();
    let fuel = caller
        .data()
        .fuel_limit
        .map(|limit| limit.saturating_sub(caller.get_fuel().unwrap_or(0)));
    let memory = caller
        .get_export("memory")
        .and_then(|export| export.into_memory());
    let outcome = match memory {
        Some(memory) => {
            let mut slice = SliceMemory(memory.data_mut(&mut caller));
            function.call(&mut HostContext::new(Some(&mut slice), fuel), &args)
        }
        None => function.call(&mut HostContext::new(None, fuel), &args),
    };
    match outcome {
        Ok(values) => {
            for (slot, value) in results.iter_mut().zip(&values) {
                *slot = to_val(value);
            }
            Ok(())
        }
        Err(err) => Err(wasmtime::Error::new(HostCallFailed(err))),
    }
}

impl CompiledModule for WasmtimeModule {
    fn kind(&self) -> BackendKind {
        BackendKind::Wasmtime
    }

    fn info(&self) -> &ModuleInfo {
        &self.info
    }

    fn serialize(&self) -> Result<Vec<u8>, SandboxError> {
        self.module
            .serialize()
            .map_err(|err| SandboxError::Unsupported {
                reason: format!("wasmtime cannot serialize this module: {err:#}"),
            })
    }

    fn instantiate(
        &self,
        config: &SandboxConfig,
    ) -> Result<Box<dyn Instance>, Box<ExecutionResult>> {
        // A pooled instance cannot outgrow its slots, whatever its config says: the limiter
        // stops it at the slot, so the outcome is `memory_limit_exceeded`, not a bare -1.
        let (memory, tables) = match self.pool {
            Some(pool) => (
                config.max_memory_bytes.min(pool.memory_bytes),
                config.max_table_elements.min(pool.table_elements),
            ),
            None => (config.max_memory_bytes, config.max_table_elements),
        };
        let limits = RunLimits {
            time: config.max_execution_time,
            time_ticks: ticks_for(config.max_execution_time),
            // The engine decides: epochs are compiled in or not.
            epoch: self.engine.epoch,
            // The engine's limit is the one wasmtime enforces.
            stack: self.engine.max_stack_size,
            fuel: config.max_fuel,
            memory,
            tables,
        };
        let fail = |error: SandboxError| {
            Box::new(ExecutionResult::new(
                BackendKind::Wasmtime,
                Outcome::Failed(error),
            ))
        };
        if let Err(err) = self.info.check_imports(config) {
            return Err(fail(err));
        }
        if limits.fuel.is_some() != self.engine.fuel {
            return Err(fail(SandboxError::Unsupported {
                reason: "the module was compiled with fuel metering switched the other way; \
                         compile it with a sandbox whose max_fuel is set the same way"
                    .into(),
            }));
        }
        let is_wasi = wasi::is_wasi_module(&self.info);
        if let Some(import) = self.info.imports.iter().find(|import| {
            config
                .host_functions
                .get(&import.module, &import.name)
                .is_none()
                && !wasi::is_granted(&import.module, &import.name, config)
        }) {
            return Err(fail(SandboxError::LinkError {
                reason: format!(
                    "import {}::{} is allowed but no host function provides it",
                    import.module, import.name
                ),
            }));
        }
        let stdout = CappedOutput::new(config.max_output_bytes);
        let stderr = CappedOutput::new(config.max_output_bytes);
        let wasi_ctx = if is_wasi {
            match crate::wasi::context(config, &stdout, &stderr) {
                Ok(ctx) => Some(ctx),
                Err(err) => return Err(fail(err)),
            }
        } else {
            None
        };
        let denials = DenialLog::default();
        let host_functions = Self::host_functions(config, &self.info, &denials);
        let pre = match self.instance_pre(is_wasi, &host_functions) {
            Ok(pre) => pre,
            Err(err) => return Err(fail(err)),
        };

        let mut store = match new_store(
            &self.engine,
            limits,
            wasi_ctx,
            (stdout, stderr),
            host_functions.into(),
            denials,
            1,
        ) {
            Ok(store) => store,
            Err(err) => return Err(fail(err)),
        };
        store.data_mut().limiter.tables_to_create = self.info.tables.len();
        let started = Stamp::now();
        arm_deadline_at(&mut store, limits, started);
        let result = on_big_enough_stack(limits.stack, || pre.instantiate(&mut store));
        let elapsed = started.elapsed();
        match result {
            Ok(instance) => Ok(sandbox_core::reactor::initializing(
                Box::new(WasmtimeInstance {
                    set: StoreSet {
                        store,
                        funcs: vec![HashMap::new()],
                        resolved: Vec::new(),
                        slots: vec![Slot {
                            instance,
                            info: self.info.clone(),
                        }],
                        limits,
                    },
                    token: InstanceToken::fresh(),
                }),
                &self.info,
            )),
            Err(err) => Err(Box::new(instantiation_failed(
                &err, &store, limits, elapsed,
            ))),
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

/// The report of an instantiation that failed.
fn instantiation_failed(
    err: &wasmtime::Error,
    store: &Store<StoreState>,
    limits: RunLimits,
    elapsed: Duration,
) -> ExecutionResult {
    let outcome = classify(err, store, limits, elapsed, true);
    let mut report = ExecutionResult::new(BackendKind::Wasmtime, outcome);
    report.execution_time = elapsed;
    report.fuel_consumed = fuel_used(store, limits);
    report.peak_memory = store.data().limiter.peak_memory;
    collect_output(store, &mut report);
    report
}

/// Shadows, in a linker where wasmtime-wasi's preview 1 functions are defined, those whose
/// refusals the sandbox names in its reports: the socket functions (there are no sockets;
/// wasmtime-wasi answers `badf` or `notsock`) and the path functions (a path outside the
/// preopens, or a change to a read-only one). Each wrapper calls wasmtime-wasi's own
/// implementation (its public preview 1 functions, on the store's [`WasiP1Ctx`] and the
/// caller's memory) and records a denial from what it returned.
fn wrap_wasi(linker: &mut Linker<StoreState>) -> Result<(), SandboxError> {
    use wasmtime_wasi::p1::wasi_snapshot_preview1 as p1;
    /// Defines the wrapper of one function: `$name` with parameters `$arg: $ty`, the path at
    /// parameters `$ptr`/`$len` (or a socket), `$call` how to reach wasmtime-wasi's function.
    macro_rules! wrap {
        ($name:ident ($($arg:ident: $ty:ty),*) socket) => {
            wrap!(@define $name ($($arg: $ty),*) |caller, errno, _args| {
                let _ = errno;
                caller.data().denials.record_socket(stringify!($name));
            } sync)
        };
        ($name:ident ($($arg:ident: $ty:ty),*) path $ptr:ident $len:ident) => {
            wrap!(@define $name ($($arg: $ty),*) |caller, errno, _args| {
                if errno != wasi::errno::SUCCESS {
                    let path = guest_string(&mut caller, $ptr, $len);
                    caller.data().denials.record_path(stringify!($name), &path, errno);
                }
            } async)
        };
        (@define $name:ident ($($arg:ident: $ty:ty),*) |$caller:ident, $errno:ident, $args:ident| $record:block $mode:ident) => {
            linker
                .func_wrap(
                    wasi::MODULE,
                    stringify!($name),
                    move |mut $caller: Caller<'_, StoreState>, $($arg: $ty),*| -> wasmtime::Result<i32> {
                        // What wiggle's own wrappers do before each call: the budget of
                        // bytes a host call may copy out of the guest. Without it, a wrapped
                        // function called before any other WASI function would find none
                        // left and fail with `nomem`.
                        let hostcall_fuel = wasmtime::AsContextMut::as_context_mut(&mut $caller).hostcall_fuel();
                        let memory = $caller
                            .get_export("memory")
                            .and_then(wasmtime::Extern::into_memory)
                            .ok_or_else(|| wasmtime::Error::msg("missing required memory export"))?;
                        let (bytes, state) = memory.data_and_store_mut(&mut $caller);
                        let ctx = state
                            .wasi
                            .as_mut()
                            .ok_or_else(|| wasmtime::Error::msg("no WASI context"))?;
                        p1::WasiSnapshotPreview1::set_hostcall_fuel(ctx, hostcall_fuel);
                        let mut guest = wiggle::GuestMemory::Unshared(bytes);
                        let $errno = wrap!(@call $mode p1::$name(ctx, &mut guest, $($arg),*))?;
                        $record
                        Ok($errno)
                    },
                )
                .map_err(|err| SandboxError::LinkError {
                    reason: format!("cannot wrap {}: {err}", stringify!($name)),
                })?;
        };
        (@call sync $call:expr) => { $call };
        (@call async $call:expr) => { wasmtime_wasi::runtime::in_tokio($call) };
    }
    wrap!(sock_accept(fd: i32, flags: i32, out: i32) socket);
    wrap!(sock_recv(fd: i32, data: i32, data_len: i32, flags: i32, out_len: i32, out_flags: i32) socket);
    wrap!(sock_send(fd: i32, data: i32, data_len: i32, flags: i32, out_len: i32) socket);
    wrap!(sock_shutdown(fd: i32, how: i32) socket);
    wrap!(path_create_directory(fd: i32, path: i32, path_len: i32) path path path_len);
    wrap!(path_filestat_get(fd: i32, flags: i32, path: i32, path_len: i32, out: i32) path path path_len);
    wrap!(path_filestat_set_times(fd: i32, flags: i32, path: i32, path_len: i32, atim: i64, mtim: i64, fst_flags: i32) path path path_len);
    wrap!(path_link(old_fd: i32, old_flags: i32, path: i32, path_len: i32, new_fd: i32, new_path: i32, new_len: i32) path path path_len);
    wrap!(path_open(fd: i32, dirflags: i32, path: i32, path_len: i32, oflags: i32, base: i64, inheriting: i64, fdflags: i32, out: i32) path path path_len);
    wrap!(path_readlink(fd: i32, path: i32, path_len: i32, buf: i32, buf_len: i32, out: i32) path path path_len);
    wrap!(path_remove_directory(fd: i32, path: i32, path_len: i32) path path path_len);
    wrap!(path_rename(fd: i32, path: i32, path_len: i32, new_fd: i32, new_path: i32, new_len: i32) path path path_len);
    wrap!(path_symlink(old_path: i32, old_len: i32, fd: i32, path: i32, path_len: i32) path path path_len);
    wrap!(path_unlink_file(fd: i32, path: i32, path_len: i32) path path path_len);
    Ok(())
}

/// The string at (`ptr`, `len`) of the caller's memory, lossily, at most 256 bytes; empty if
/// unreadable.
fn guest_string(caller: &mut Caller<'_, StoreState>, ptr: i32, len: i32) -> String {
    let Some(memory) = caller
        .get_export("memory")
        .and_then(wasmtime::Extern::into_memory)
    else {
        return String::new();
    };
    let start = ptr as u32 as usize;
    let len = (len as u32 as usize).min(256);
    memory
        .data(&caller)
        .get(start..start.saturating_add(len))
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .unwrap_or_default()
}

/// A store under `limits`: the resource limiter, the deadline callback and the fuel budget.
fn new_store(
    engine: &SharedEngine,
    limits: RunLimits,
    wasi: Option<WasiP1Ctx>,
    (stdout, stderr): (CappedOutput, CappedOutput),
    host_functions: Arc<[HostFunction]>,
    denials: DenialLog,
    max_instances: usize,
) -> Result<Store<StoreState>, SandboxError> {
    let mut store = Store::new(
        &engine.engine,
        StoreState {
            limiter: Limiter {
                memory_limit: limits.memory,
                table_limit: limits.tables,
                memory_total: 0,
                table_total: 0,
                peak_memory: 0,
                memory_hit: None,
                table_hit: None,
                last_memory_grant: 0,
                last_table_grant: 0,
                tables_to_create: 0,
                max_instances,
            },
            started: Stamp::now(),
            limit: limits.time,
            timed_out: false,
            cancel: CancelHandle::new(),
            watch_cancel: false,
            cancelled: false,
            wasi,
            stdout,
            stderr,
            fuel_limit: limits.fuel,
            host_functions,
            denials,
        },
    );
    store.limiter(|state| &mut state.limiter);
    if limits.epoch {
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            // The trap `Interrupt` is certain to follow, so consuming the request here is
            // consuming it by the call it stops.
            if state.watch_cancel && state.cancel.take_pending() {
                state.cancelled = true;
                return Ok(wasmtime::UpdateDeadline::Interrupt);
            }
            let elapsed = state.started.elapsed();
            if elapsed < state.limit {
                let ticks = if state.watch_cancel {
                    1
                } else {
                    ticks_for(state.limit - elapsed)
                };
                Ok(wasmtime::UpdateDeadline::Continue(ticks))
            } else {
                state.timed_out = true;
                Ok(wasmtime::UpdateDeadline::Interrupt)
            }
        });
    }
    if let Some(fuel) = limits.fuel {
        store
            .set_fuel(fuel)
            .map_err(|err| SandboxError::Unsupported {
                reason: format!("cannot set fuel: {err}"),
            })?;
    }
    Ok(store)
}

/// Runs `f` where at least the wasm stack limit plus room for host frames is left on the native
/// stack. wasmtime runs wasm on the calling thread's stack and only bounds how much of it wasm
/// may use; a thread with less left than the limit (the main thread under the 8 MiB `compute`
/// preset, or a 2 MiB test thread) would overflow for real and abort the process. There, the
/// call moves to a fresh stack segment of the right size.
fn on_big_enough_stack<R>(wasm_stack: u64, f: impl FnOnce() -> R) -> R {
    const HOST_ROOM: usize = 512 * 1024;
    let wasm_stack = usize::try_from(wasm_stack).unwrap_or(usize::MAX);
    let needed = wasm_stack.saturating_add(HOST_ROOM);
    stacker::maybe_grow(needed, needed.saturating_add(HOST_ROOM), f)
}

/// Epoch ticks covering `duration`, rounded up.
fn ticks_for(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos().div_ceil(EPOCH_TICK.as_nanos()))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Clears what the previous call recorded (a timeout, a cancellation, a limit hit).
fn clear_run_state(store: &mut Store<StoreState>) {
    let state = store.data_mut();
    state.timed_out = false;
    state.cancelled = false;
    state.watch_cancel = false;
    state.limiter.memory_hit = None;
    state.limiter.table_hit = None;
}

/// Starts the clock of a call that started at `now`: clears what the previous call recorded
/// and sets the deadline (when the engine enforces one): the time limit, or the next tick when
/// someone holds a cancel handle (the callback then looks at the request at every tick).
fn arm_deadline_at(store: &mut Store<StoreState>, limits: RunLimits, now: Stamp) {
    clear_run_state(store);
    let state = store.data_mut();
    state.started = now;
    state.limit = limits.time;
    state.watch_cancel = limits.epoch && state.cancel.is_shared();
    if limits.epoch {
        let ticks = if state.watch_cancel {
            1
        } else {
            limits.time_ticks
        };
        store.set_epoch_deadline(ticks);
    }
}

/// The pool slot that ran out, if `err` is the pooling allocator's refusal.
fn pool_exhausted(err: &wasmtime::Error) -> Option<SandboxError> {
    let refusal = err
        .chain()
        .find_map(|cause| cause.downcast_ref::<wasmtime::PoolConcurrencyLimitError>())?;
    // The error keeps its fields private; its message is "maximum concurrent limit of {limit}
    // for {kind} reached".
    let message = refusal.to_string();
    let parsed = message
        .strip_prefix("maximum concurrent limit of ")
        .and_then(|rest| rest.strip_suffix(" reached"))
        .and_then(|rest| rest.split_once(" for "))
        .and_then(|(limit, kind)| Some((limit.parse::<u64>().ok()?, kind.to_string())));
    let (limit, resource) = parsed.unwrap_or((0, message));
    Some(SandboxError::PoolExhausted { resource, limit })
}

fn fuel_used(store: &Store<StoreState>, limits: RunLimits) -> Option<u64> {
    let limit = limits.fuel?;
    let remaining = store.get_fuel().unwrap_or(0);
    Some(limit.saturating_sub(remaining))
}

/// Moves the output captured during a run into its report.
fn collect_output(store: &Store<StoreState>, report: &mut ExecutionResult) {
    let state = store.data();
    report.stdout = state.stdout.take();
    report.stderr = state.stderr.take();
    report.stdout_truncated = state.stdout.truncated();
    report.stderr_truncated = state.stderr.truncated();
    report.record_denials(state.denials.take());
}

/// Maps a wasmtime error onto the core outcome: a WASI exit, or a failure.
fn classify(
    err: &wasmtime::Error,
    store: &Store<StoreState>,
    limits: RunLimits,
    elapsed: Duration,
    instantiating: bool,
) -> Outcome {
    if let Some(exit) = err.downcast_ref::<wasmtime_wasi::I32Exit>() {
        return Outcome::Exit { code: exit.0 };
    }
    Outcome::Failed(classify_failure(err, store, limits, elapsed, instantiating))
}

fn classify_failure(
    err: &wasmtime::Error,
    store: &Store<StoreState>,
    limits: RunLimits,
    elapsed: Duration,
    instantiating: bool,
) -> SandboxError {
    if let Some(exhausted) = pool_exhausted(err) {
        return exhausted;
    }
    if store.data().cancelled {
        return SandboxError::Cancelled { elapsed };
    }
    if store.data().timed_out {
        return SandboxError::TimeLimitExceeded {
            elapsed,
            limit: limits.time,
        };
    }
    // A full stream traps with `OutputLimitHit` (wasmtime-wasi may wrap it, so a truncated
    // stream and an error that is not an engine trap count too).
    let output_hit = err.downcast_ref::<OutputLimitHit>().is_some()
        || err.downcast_ref::<wasmtime::Trap>().is_none();
    for (name, stream) in [
        ("stdout", &store.data().stdout),
        ("stderr", &store.data().stderr),
    ] {
        if output_hit && stream.truncated() {
            return SandboxError::OutputLimitExceeded {
                stream: name.to_string(),
                limit: stream.limit(),
            };
        }
    }
    if let Some(failed) = err.downcast_ref::<HostCallFailed>() {
        return HostFunction::trap(&failed.0);
    }
    let limiter = &store.data().limiter;
    if let Some(used) = limiter.memory_hit {
        return SandboxError::MemoryLimitExceeded {
            used,
            limit: limits.memory,
        };
    }
    if let Some(used) = limiter.table_hit {
        return SandboxError::TableLimitExceeded {
            used,
            limit: limits.tables,
        };
    }
    match err.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::OutOfFuel) => {
            let limit = limits.fuel.unwrap_or(0);
            SandboxError::FuelExhausted { used: limit, limit }
        }
        Some(wasmtime::Trap::Interrupt) => SandboxError::TimeLimitExceeded {
            elapsed,
            limit: limits.time,
        },
        Some(trap) => SandboxError::RuntimeError {
            trap: map_trap(*trap),
            message: trap.to_string(),
        },
        None if instantiating => SandboxError::LinkError {
            reason: format!("{err:#}"),
        },
        None => SandboxError::RuntimeError {
            trap: Trap::Other,
            message: format!("{err:#}"),
        },
    }
}

fn map_trap(trap: wasmtime::Trap) -> Trap {
    use wasmtime::Trap as W;
    match trap {
        W::UnreachableCodeReached => Trap::Unreachable,
        W::MemoryOutOfBounds => Trap::MemoryOutOfBounds,
        W::TableOutOfBounds => Trap::TableOutOfBounds,
        W::BadSignature => Trap::IndirectCallTypeMismatch,
        W::IndirectCallToNull | W::NullReference => Trap::NullReference,
        W::IntegerDivisionByZero => Trap::IntegerDivideByZero,
        W::IntegerOverflow => Trap::IntegerOverflow,
        W::BadConversionToInteger => Trap::BadConversionToInteger,
        W::StackOverflow => Trap::StackOverflow,
        _ => Trap::Other,
    }
}

/// A numeric value as wasmtime's raw representation (references are not raw-callable).
fn to_raw(value: &WasmValue) -> ValRaw {
    match *value {
        WasmValue::I32(v) => ValRaw::i32(v),
        WasmValue::I64(v) => ValRaw::i64(v),
        WasmValue::F32(v) => ValRaw::f32(v.to_bits()),
        WasmValue::F64(v) => ValRaw::f64(v.to_bits()),
        WasmValue::V128(v) => ValRaw::v128(v),
        WasmValue::FuncRef { .. } | WasmValue::ExternRef(_) => ValRaw::i32(0),
    }
}

/// A raw result of type `ty` (a numeric type) as a value.
fn from_raw(ty: ValType, raw: &ValRaw) -> WasmValue {
    match ty {
        ValType::I64 => WasmValue::I64(raw.get_i64()),
        ValType::F32 => WasmValue::F32(f32::from_bits(raw.get_f32())),
        ValType::F64 => WasmValue::F64(f64::from_bits(raw.get_f64())),
        ValType::V128 => WasmValue::V128(raw.get_v128()),
        _ => WasmValue::I32(raw.get_i32()),
    }
}

/// A numeric value for wasmtime (host functions take and return only numbers).
fn to_val(value: &WasmValue) -> Val {
    match *value {
        WasmValue::I32(v) => Val::I32(v),
        WasmValue::I64(v) => Val::I64(v),
        WasmValue::F32(v) => Val::F32(v.to_bits()),
        WasmValue::F64(v) => Val::F64(v.to_bits()),
        WasmValue::V128(v) => Val::V128(v.into()),
        WasmValue::FuncRef { .. } => Val::FuncRef(None),
        WasmValue::ExternRef(_) => Val::ExternRef(None),
    }
}

/// A numeric value from wasmtime; `None` for any other.
fn from_val(value: &Val) -> Option<WasmValue> {
    match *value {
        Val::I32(v) => Some(WasmValue::I32(v)),
        Val::I64(v) => Some(WasmValue::I64(v)),
        Val::F32(bits) => Some(WasmValue::F32(f32::from_bits(bits))),
        Val::F64(bits) => Some(WasmValue::F64(f64::from_bits(bits))),
        _ => None,
    }
}

/// Any boundary value for wasmtime, creating extern references in `store`.
fn to_store_val(store: &mut Store<StoreState>, value: &WasmValue) -> Result<Val, SandboxError> {
    match *value {
        WasmValue::FuncRef { null: false } => Err(SandboxError::Unsupported {
            reason: "a non-null function reference cannot be passed into the sandbox".into(),
        }),
        WasmValue::ExternRef(Some(host)) => wasmtime::ExternRef::new(&mut *store, host)
            .map(|r| Val::ExternRef(Some(r)))
            .map_err(|err| SandboxError::Unsupported {
                reason: format!("cannot create an extern reference: {err}"),
            }),
        ref other => Ok(to_val(other)),
    }
}

/// Any boundary value from wasmtime; `None` for a type that cannot cross (GC references).
fn from_store_val(store: &Store<StoreState>, value: &Val) -> Option<WasmValue> {
    match value {
        Val::V128(v) => Some(WasmValue::V128(v.as_u128())),
        Val::FuncRef(func) => Some(WasmValue::FuncRef {
            null: func.is_none(),
        }),
        Val::ExternRef(None) => Some(WasmValue::ExternRef(None)),
        Val::ExternRef(Some(r)) => {
            let host = r
                .data(store)
                .ok()
                .flatten()
                .and_then(|data| data.downcast_ref::<u32>().copied());
            // A reference the guest made itself (`any.convert_extern`) carries no host
            // value; it is reported as the value 0's reference would be, non-null.
            Some(WasmValue::ExternRef(Some(host.unwrap_or(0))))
        }
        other => from_val(other),
    }
}

fn export_not_found(info: &ModuleInfo, kind: &str, name: &str) -> SandboxError {
    SandboxError::ExportNotFound {
        extern_kind: kind.to_string(),
        name: name.to_string(),
        available: info
            .exports
            .iter()
            .filter(|export| export.kind.name() == kind)
            .map(|export| export.name.clone())
            .collect(),
    }
}

impl StoreSet {
    /// The instance at `index` (a cheap handle) and its module's interface.
    fn slot(&self, index: usize) -> Result<Slot, SandboxError> {
        self.slots
            .get(index)
            .map(|slot| Slot {
                instance: slot.instance,
                info: slot.info.clone(),
            })
            .ok_or_else(|| SandboxError::Unsupported {
                reason: format!("no instance {index} in this store"),
            })
    }

    /// The exported function `name` of slot `index` and its signature, looked up once.
    fn func(
        &mut self,
        index: usize,
        name: &str,
    ) -> Result<(wasmtime::Func, Arc<FuncSignature>), SandboxError> {
        if let Some((func, signature)) = self.funcs.get(index).and_then(|funcs| funcs.get(name)) {
            return Ok((*func, signature.clone()));
        }
        let slot = self.slot(index)?;
        let signature = Arc::new(slot.info.function(name)?.clone());
        let func = slot
            .instance
            .get_func(&mut self.store, name)
            .ok_or_else(|| SandboxError::FunctionNotFound {
                name: name.to_string(),
                available: slot.info.exported_functions().map(str::to_string).collect(),
            })?;
        if let Some(funcs) = self.funcs.get_mut(index) {
            // Bounded by the module's exports: only exported names get here.
            funcs.insert(name.into(), (func, signature.clone()));
        }
        Ok((func, signature))
    }

    fn call(
        &mut self,
        index: usize,
        name: &str,
        args: &[WasmValue],
    ) -> Result<ExecutionResult, SandboxError> {
        let (func, signature) = self.func(index, name)?;
        signature.check_args(name, args)?;
        let params = args
            .iter()
            .map(|arg| to_store_val(&mut self.store, arg))
            .collect::<Result<Vec<Val>, _>>()?;
        let mut results = vec![Val::I32(0); signature.results.len()];
        let run = self.run_armed(|store| func.call(store, &params, &mut results));

        let mut report = ExecutionResult::new(BackendKind::Wasmtime, run.outcome);
        report.execution_time = run.execution_time;
        report.fuel_consumed = run.fuel_consumed;
        report.peak_memory = run.peak_memory;
        if matches!(report.outcome, Outcome::Ok) {
            report.return_values = results
                .iter()
                .filter_map(|value| from_store_val(&self.store, value))
                .collect();
        }
        collect_output(&self.store, &mut report);
        Ok(report)
    }

    /// Runs `call` under the store's limits: the deadline armed with one clock read (which
    /// also starts the call's clock), a cancel request made before the call honoured, the
    /// outcome classified and the call's fuel and time measured.
    fn run_armed(
        &mut self,
        call: impl FnOnce(&mut Store<StoreState>) -> wasmtime::Result<()>,
    ) -> CallReport {
        let fuel_before = self.limits.fuel.map(|_| self.store.get_fuel().unwrap_or(0));
        let started = Stamp::now();
        if self.limits.epoch {
            arm_deadline_at(&mut self.store, self.limits, started);
        } else {
            clear_run_state(&mut self.store);
        }
        // A request made before the call (or racing with its start) ends it here; one made
        // from now on is seen by the deadline callback.
        let cancelled_at_start = self.store.data().cancel.take_pending();
        let result = if cancelled_at_start {
            Ok(())
        } else {
            let (store, stack) = (&mut self.store, self.limits.stack);
            on_big_enough_stack(stack, || call(store))
        };
        let elapsed = started.elapsed();
        let outcome = match result {
            Ok(()) if cancelled_at_start => Outcome::Failed(SandboxError::Cancelled { elapsed }),
            Ok(()) => Outcome::Ok,
            Err(err) => classify(&err, &self.store, self.limits, elapsed, false),
        };
        CallReport {
            outcome,
            execution_time: elapsed,
            fuel_consumed: fuel_before
                .map(|before| before.saturating_sub(self.store.get_fuel().unwrap_or(0))),
            peak_memory: self.store.data().limiter.peak_memory,
        }
    }

    /// Resolves the exported function `name` of slot `index` for [`StoreSet::call_func`].
    fn export_func(
        &mut self,
        index: usize,
        name: &str,
        token: InstanceToken,
    ) -> Result<ExportFunc, SandboxError> {
        let (func, signature) = self.func(index, name)?;
        signature.check_boundary(name)?;
        sandbox_core::clock::init();
        let numeric = signature.params.iter().chain(&signature.results).all(|ty| {
            matches!(
                ty,
                ValType::I32 | ValType::I64 | ValType::F32 | ValType::F64 | ValType::V128
            )
        });
        let known = self
            .resolved
            .iter()
            .position(|known| known.slot == index && *known.name == *name);
        let position = match known {
            Some(position) => position,
            None => {
                self.resolved.push(Resolved {
                    slot: index,
                    name: name.into(),
                    func,
                    numeric,
                });
                self.resolved.len() - 1
            }
        };
        let position = u32::try_from(position).map_err(|_| SandboxError::Unsupported {
            reason: "too many resolved functions".into(),
        })?;
        Ok(ExportFunc::new(name, signature, token, position))
    }

    /// The fast path of [`StoreSet::call`]: a resolved function, values in the caller's
    /// slices; numeric signatures go through wasmtime's unchecked raw call (the types were
    /// checked against the export's signature), with nothing allocated.
    fn call_func(
        &mut self,
        token: InstanceToken,
        func: &ExportFunc,
        args: &[WasmValue],
        results: &mut [WasmValue],
    ) -> Result<CallReport, SandboxError> {
        let position = func.check(token, args, results)?;
        let Some(&Resolved {
            func: wasm_func,
            numeric,
            ..
        }) = self.resolved.get(position as usize)
        else {
            return Err(SandboxError::Unsupported {
                reason: format!("no resolved function {position} in this instance"),
            });
        };
        if !numeric {
            return self.call_func_boxed(wasm_func, args, results);
        }
        const INLINE: usize = 8;
        let slots = args.len().max(results.len());
        let mut inline = [ValRaw::i32(0); INLINE];
        let mut spilled = Vec::new();
        let raw: &mut [ValRaw] = if slots <= INLINE {
            &mut inline[..slots]
        } else {
            spilled.resize(slots, ValRaw::i32(0));
            &mut spilled
        };
        for (slot, arg) in raw.iter_mut().zip(args) {
            *slot = to_raw(arg);
        }
        let report = self.run_armed(|store| {
            // SAFETY: `func.check` verified that the arguments have exactly the export's
            // parameter types and that every type is numeric (no reference to validate);
            // `raw` has room for the parameters and for the results; the store is the one
            // the function belongs to (the handle's token is this instance's).
            unsafe { wasm_func.call_unchecked(store, raw as *mut [ValRaw]) }
        });
        if report.is_ok() {
            for ((slot, ty), value) in results
                .iter_mut()
                .zip(&func.signature().results)
                .zip(raw.iter())
            {
                *slot = from_raw(*ty, value);
            }
        }
        Ok(report)
    }

    /// [`StoreSet::call_func`] for signatures with references: through wasmtime's checked
    /// call and its boxed values.
    fn call_func_boxed(
        &mut self,
        wasm_func: wasmtime::Func,
        args: &[WasmValue],
        results: &mut [WasmValue],
    ) -> Result<CallReport, SandboxError> {
        let params = args
            .iter()
            .map(|arg| to_store_val(&mut self.store, arg))
            .collect::<Result<Vec<Val>, _>>()?;
        let mut values = vec![Val::I32(0); results.len()];
        let report = self.run_armed(|store| wasm_func.call(store, &params, &mut values));
        if report.is_ok() {
            for (slot, value) in results.iter_mut().zip(&values) {
                if let Some(value) = from_store_val(&self.store, value) {
                    *slot = value;
                }
            }
        }
        Ok(report)
    }

    /// The output and denials captured since they were last taken.
    fn take_output(&self) -> CapturedOutput {
        let state = self.store.data();
        CapturedOutput::take_from(&state.stdout, &state.stderr, &state.denials)
    }

    fn global(&mut self, index: usize, name: &str) -> Result<wasmtime::Global, SandboxError> {
        let slot = self.slot(index)?;
        slot.instance
            .get_global(&mut self.store, name)
            .ok_or_else(|| export_not_found(&slot.info, "global", name))
    }

    fn get_global(&mut self, index: usize, name: &str) -> Result<WasmValue, SandboxError> {
        let global = self.global(index, name)?;
        let value = global.get(&mut self.store);
        from_store_val(&self.store, &value).ok_or_else(|| SandboxError::Unsupported {
            reason: format!("global {name} has a type that cannot cross the sandbox boundary"),
        })
    }

    fn set_global(
        &mut self,
        index: usize,
        name: &str,
        value: WasmValue,
    ) -> Result<(), SandboxError> {
        let global = self.global(index, name)?;
        let ty = global.ty(&self.store);
        let mismatch = |expected: String| SandboxError::TypeMismatch {
            function: format!("global {name}"),
            expected,
            given: value.ty().to_string(),
        };
        if ty.mutability() != wasmtime::Mutability::Var {
            return Err(mismatch("a mutable global (it is immutable)".into()));
        }
        let val = to_store_val(&mut self.store, &value)?;
        global
            .set(&mut self.store, val)
            .map_err(|_| mismatch(format!("{}", ty.content())))
    }

    fn memory(&mut self, index: usize, name: &str) -> Result<wasmtime::Memory, SandboxError> {
        let slot = self.slot(index)?;
        slot.instance
            .get_memory(&mut self.store, name)
            .ok_or_else(|| export_not_found(&slot.info, "memory", name))
    }

    fn memory_size(&mut self, index: usize, name: &str) -> Result<u64, SandboxError> {
        let memory = self.memory(index, name)?;
        Ok(memory.data_size(&self.store) as u64)
    }

    fn read_memory(
        &mut self,
        index: usize,
        name: &str,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, SandboxError> {
        let memory = self.memory(index, name)?;
        let data = memory.data(&self.store);
        usize::try_from(offset)
            .ok()
            .and_then(|start| data.get(start..start.checked_add(len)?))
            .map(<[u8]>::to_vec)
            .ok_or_else(|| out_of_bounds(offset, len, data.len()))
    }

    fn table_size(&mut self, index: usize, name: &str) -> Result<u64, SandboxError> {
        let slot = self.slot(index)?;
        let table = slot
            .instance
            .get_table(&mut self.store, name)
            .ok_or_else(|| export_not_found(&slot.info, "table", name))?;
        Ok(table.size(&self.store))
    }

    fn fuel_consumed(&self) -> Option<u64> {
        fuel_used(&self.store, self.limits)
    }

    fn peak_memory(&self) -> u64 {
        self.store.data().limiter.peak_memory
    }
}

/// The error of a memory read outside the memory.
fn out_of_bounds(offset: u64, len: usize, size: usize) -> SandboxError {
    SandboxError::RuntimeError {
        trap: Trap::MemoryOutOfBounds,
        message: format!("cannot read {len} bytes at {offset}: the memory has {size} bytes"),
    }
}

impl Instance for WasmtimeInstance {
    fn kind(&self) -> BackendKind {
        BackendKind::Wasmtime
    }

    fn call(&mut self, name: &str, args: &[WasmValue]) -> Result<ExecutionResult, SandboxError> {
        self.set.call(0, name, args)
    }

    fn export_func(&mut self, name: &str) -> Result<ExportFunc, SandboxError> {
        self.set.export_func(0, name, self.token)
    }

    fn call_func(
        &mut self,
        func: &ExportFunc,
        args: &[WasmValue],
        results: &mut [WasmValue],
    ) -> Result<CallReport, SandboxError> {
        self.set.call_func(self.token, func, args, results)
    }

    fn take_output(&mut self) -> CapturedOutput {
        self.set.take_output()
    }

    fn fuel_consumed(&self) -> Option<u64> {
        self.set.fuel_consumed()
    }

    fn peak_memory(&self) -> u64 {
        self.set.peak_memory()
    }

    fn cancel_handle(&self) -> CancelHandle {
        self.set.store.data().cancel.clone()
    }

    fn global(&mut self, name: &str) -> Result<WasmValue, SandboxError> {
        self.set.get_global(0, name)
    }

    fn set_global(&mut self, name: &str, value: WasmValue) -> Result<(), SandboxError> {
        self.set.set_global(0, name, value)
    }

    fn memory_size(&mut self, name: &str) -> Result<u64, SandboxError> {
        self.set.memory_size(0, name)
    }

    fn read_memory(
        &mut self,
        name: &str,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, SandboxError> {
        self.set.read_memory(0, name, offset, len)
    }

    fn table_size(&mut self, name: &str) -> Result<u64, SandboxError> {
        self.set.table_size(0, name)
    }
}

impl WasmtimeLinker {
    /// An empty linked store under `config`.
    pub(crate) fn new(
        engine: Arc<SharedEngine>,
        config: SandboxConfig,
    ) -> Result<Self, SandboxError> {
        let limits = RunLimits {
            time: config.max_execution_time,
            time_ticks: ticks_for(config.max_execution_time),
            epoch: engine.epoch,
            stack: engine.max_stack_size,
            fuel: config.max_fuel,
            memory: config.max_memory_bytes,
            tables: config.max_table_elements,
        };
        let functions: Vec<HostFunction> = config.host_functions.iter().cloned().collect();
        let mut linker = Linker::new(&engine.engine);
        linker.allow_shadowing(true);
        define_host_functions(&mut linker, &engine.engine, &functions)?;
        let outputs = (
            CappedOutput::new(config.max_output_bytes),
            CappedOutput::new(config.max_output_bytes),
        );
        let store = new_store(
            &engine,
            limits,
            None,
            outputs,
            functions.into(),
            DenialLog::default(),
            MAX_LINKED_INSTANCES,
        )?;
        Ok(WasmtimeLinker {
            engine,
            config,
            set: StoreSet {
                store,
                slots: Vec::new(),
                funcs: Vec::new(),
                resolved: Vec::new(),
                limits,
            },
            linker,
            registered: HashMap::new(),
        })
    }

    /// Checks that every import of `info` has a provider this store may use: a registered
    /// instance, or a host function the policy grants.
    fn check_imports(&self, info: &ModuleInfo) -> Result<(), SandboxError> {
        for import in &info.imports {
            if self.registered.contains_key(&import.module) {
                continue;
            }
            if wasi::is_wasi_import_module(&import.module) {
                return Err(SandboxError::Unsupported {
                    reason: format!(
                        "{}::{}: WASI is not offered in a linked store",
                        import.module, import.name
                    ),
                });
            }
            if !self.config.allows_import(&import.module, &import.name) {
                return Err(SandboxError::UnauthorizedImport {
                    module: import.module.clone(),
                    name: import.name.clone(),
                });
            }
            if self
                .config
                .host_functions
                .get(&import.module, &import.name)
                .is_none()
            {
                return Err(SandboxError::LinkError {
                    reason: format!(
                        "import {}::{} is allowed but no host function or registered instance provides it",
                        import.module, import.name
                    ),
                });
            }
        }
        Ok(())
    }
}

impl sandbox_core::Linker for WasmtimeLinker {
    fn kind(&self) -> BackendKind {
        BackendKind::Wasmtime
    }

    fn instantiate(
        &mut self,
        module: &dyn CompiledModule,
    ) -> Result<InstanceId, Box<ExecutionResult>> {
        let fail = |error: SandboxError| {
            Box::new(ExecutionResult::new(
                BackendKind::Wasmtime,
                Outcome::Failed(error),
            ))
        };
        let Some(module) = module.as_any().downcast_ref::<WasmtimeModule>() else {
            return Err(fail(SandboxError::Unsupported {
                reason: format!(
                    "a module compiled by {} cannot be linked in a wasmtime store",
                    module.kind()
                ),
            }));
        };
        if !Arc::ptr_eq(&module.engine, &self.engine) {
            return Err(fail(SandboxError::Unsupported {
                reason: "the module was compiled by a sandbox with another engine configuration \
                         (fuel or stack limit); compile it with this store's sandbox"
                    .into(),
            }));
        }
        if self.set.slots.len() >= MAX_LINKED_INSTANCES {
            return Err(fail(SandboxError::LinkError {
                reason: format!("a linked store holds at most {MAX_LINKED_INSTANCES} instances"),
            }));
        }
        if let Err(err) = self.check_imports(&module.info) {
            return Err(fail(err));
        }
        let limits = self.set.limits;
        let store = &mut self.set.store;
        store.data_mut().limiter.tables_to_create = module.info.tables.len();
        let started = Stamp::now();
        arm_deadline_at(store, limits, started);
        let linker = &self.linker;
        let result = on_big_enough_stack(limits.stack, || {
            linker.instantiate(&mut *store, &module.module)
        });
        let elapsed = started.elapsed();
        store.data_mut().limiter.tables_to_create = 0;
        match result {
            Ok(instance) => {
                self.set.funcs.push(HashMap::new());
                self.set.slots.push(Slot {
                    instance,
                    info: module.info.clone(),
                });
                Ok(InstanceId(self.set.slots.len() - 1))
            }
            Err(err) => Err(Box::new(instantiation_failed(&err, store, limits, elapsed))),
        }
    }

    fn register(&mut self, name: &str, instance: InstanceId) -> Result<(), SandboxError> {
        let slot = self.set.slot(instance.0)?;
        let handle = slot.instance;
        self.linker
            .instance(&mut self.set.store, name, handle)
            .map_err(|err| SandboxError::LinkError {
                reason: format!("cannot register {name}: {err:#}"),
            })?;
        self.registered.insert(name.to_string(), instance.0);
        Ok(())
    }

    fn lookup(&self, name: &str) -> Option<InstanceId> {
        self.registered.get(name).copied().map(InstanceId)
    }

    fn call(
        &mut self,
        instance: InstanceId,
        name: &str,
        args: &[WasmValue],
    ) -> Result<ExecutionResult, SandboxError> {
        self.set.call(instance.0, name, args)
    }

    fn global(&mut self, instance: InstanceId, name: &str) -> Result<WasmValue, SandboxError> {
        self.set.get_global(instance.0, name)
    }

    fn set_global(
        &mut self,
        instance: InstanceId,
        name: &str,
        value: WasmValue,
    ) -> Result<(), SandboxError> {
        self.set.set_global(instance.0, name, value)
    }

    fn memory_size(&mut self, instance: InstanceId, name: &str) -> Result<u64, SandboxError> {
        self.set.memory_size(instance.0, name)
    }

    fn read_memory(
        &mut self,
        instance: InstanceId,
        name: &str,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, SandboxError> {
        self.set.read_memory(instance.0, name, offset, len)
    }

    fn table_size(&mut self, instance: InstanceId, name: &str) -> Result<u64, SandboxError> {
        self.set.table_size(instance.0, name)
    }

    fn fuel_consumed(&self) -> Option<u64> {
        self.set.fuel_consumed()
    }

    fn peak_memory(&self) -> u64 {
        self.set.peak_memory()
    }
}
