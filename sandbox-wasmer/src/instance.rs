//! Compiled modules, instances, runs under the limits, and trap mapping.

use crate::engine::EngineEntry;
use crate::host::{self, from_value, to_value, HostState, HostTrap};
use crate::middleware::ModuleLayout;
use crate::tunables::{Accounting, RunTunables};
use crate::wasi::{self, Captured, DeadlineGuard, GuestExit, RunOutput};
use sandbox_core::fuel::FUNCTION_ENTRY_COST;
use sandbox_core::module::ModuleInfo;
use sandbox_core::{
    BackendKind, CompiledModule, ExecutionResult, Instance, Outcome, SandboxConfig, SandboxError,
    Trap, WasmValue,
};
use std::cell::Cell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmer::sys::vm::{drain_stack_pool, TrapCode};
use wasmer::sys::NativeEngineExt;
use wasmer::{
    Function, FunctionEnv, Global, Imports, InstantiationError, RuntimeError, Store, Value,
};
use wasmer_wasix::WasiFunctionEnv;

/// What wasmtime's module-startup code charges for calling the start function, on top of the
/// start function's own cost (it bumps its counter by one "as the `call` opcode does").
const START_CALL_COST: i64 = 1;

/// A module compiled by wasmer, with the layout of the sandbox instrumentation.
pub(crate) struct WasmerModule {
    engine: Arc<EngineEntry>,
    module: wasmer::Module,
    info: Arc<ModuleInfo>,
    layout: Arc<ModuleLayout>,
}

impl WasmerModule {
    pub(crate) fn new(
        engine: Arc<EngineEntry>,
        module: wasmer::Module,
        info: ModuleInfo,
        layout: Arc<ModuleLayout>,
    ) -> Self {
        WasmerModule {
            engine,
            module,
            info: Arc::new(info),
            layout,
        }
    }
}

/// The run-time limits of one instance.
#[derive(Debug, Clone, Copy)]
struct RunLimits {
    time: Duration,
    /// Whether the wall-clock limit is enforced (runs registered with the watchdog).
    enforce_time: bool,
    fuel: Option<u64>,
    memory: u64,
    tables: u64,
    stack: usize,
}

impl RunLimits {
    fn of(config: &SandboxConfig) -> Self {
        RunLimits {
            time: config.max_execution_time,
            enforce_time: config.enforce_time_limit,
            fuel: config.max_fuel,
            memory: config.max_memory_bytes,
            tables: config.max_table_elements,
            stack: usize::try_from(config.max_stack_size).unwrap_or(usize::MAX),
        }
    }

    /// The budget as stored in the `i64` fuel global.
    fn fuel_budget(&self) -> Option<i64> {
        self.fuel
            .map(|fuel| i64::try_from(fuel).unwrap_or(i64::MAX))
    }
}

/// The instance's handles on the globals the middleware added.
struct SandboxGlobals {
    fuel_remaining: Option<Global>,
    fuel_exhausted: Option<Global>,
    memory_limit_hit: Global,
    table_limit: Option<Global>,
}

impl SandboxGlobals {
    fn lookup(instance: &wasmer::Instance, layout: &ModuleLayout) -> Result<Self, String> {
        let global = |name: &str| {
            instance
                .exports
                .get_global(name)
                .cloned()
                .map_err(|err| format!("sandbox global {name} is missing: {err}"))
        };
        Ok(SandboxGlobals {
            fuel_remaining: layout
                .fuel
                .as_ref()
                .map(|fuel| global(&fuel.remaining.name))
                .transpose()?,
            fuel_exhausted: layout
                .fuel
                .as_ref()
                .map(|fuel| global(&fuel.exhausted.name))
                .transpose()?,
            memory_limit_hit: global(&layout.memory_limit_hit.name)?,
            table_limit: layout
                .table_limit
                .as_ref()
                .map(|slot| global(&slot.name))
                .transpose()?,
        })
    }
}

/// A wasmer `Store` that may move to another thread between calls.
///
/// wasmer 7 does not mark `Store` as `Send` because it is built from raw pointers into its own
/// allocations, type-erased host data and an optional `on_called` callback. None of it is tied to
/// the thread that created it:
/// - the raw pointers point into heap allocations the store owns, and the store is only ever
///   used through `&mut` (one thread at a time);
/// - the thread-bound state wasmer keeps for a run (the interrupt registration with the
///   thread's pthread id, the current-store and trap-handler thread-locals, the coroutine
///   stack) is installed when a call starts and removed before it returns;
/// - host data: wasmer requires `Send` of every `FunctionEnv` value and `Send + Sync` of every
///   host closure; the sandbox's (`HostState`, the host-function and output-checking closures,
///   wasix's `WasiEnv` and syscalls) satisfy it, and hold no thread-local state: wasix's
///   "threads" and "processes" are bookkeeping objects, not OS threads, and its files are the
///   sandbox's own (`Send + Sync`);
/// - `on_called`: wasix installs such callbacks (not `Send`) only while unwinding a guest with
///   asyncify, and wasmer takes and runs them before the call that installed them returns, so
///   none is left in the store between calls;
/// - wasmer-wasix turns on wasmer's `experimental-async` feature, whose store variant
///   (`StoreAsync`, behind an `Rc`-based `LocalRwLock`) and async host functions are
///   single-threaded. The sandbox never creates a `StoreAsync` (it never calls `call_async` or
///   `Store::into_async`), and the only async host functions wasix defines are in its `wasix_*`
///   namespaces, which the sandbox never instantiates (it takes wasix's
///   `wasi_snapshot_preview1` namespace only). The feature's other addition, waking pending
///   async calls on an interrupt, goes through a global thread-safe map.
struct SendStore(Store);

// SAFETY: see the type's documentation: no thread-affine state outlives a call, and access is
// exclusive (`&mut`).
unsafe impl Send for SendStore {}

impl std::ops::Deref for SendStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.0
    }
}

impl std::ops::DerefMut for SendStore {
    fn deref_mut(&mut self) -> &mut Store {
        &mut self.0
    }
}

/// A live wasmer instance.
pub(crate) struct WasmerInstance {
    engine: Arc<EngineEntry>,
    store: SendStore,
    instance: wasmer::Instance,
    info: Arc<ModuleInfo>,
    limits: RunLimits,
    accounting: Arc<Accounting>,
    globals: SandboxGlobals,
    /// Fuel left after the last run (the budget before the first), when metering is on.
    fuel_left: Option<u64>,
    /// The captured stdout and stderr, when the module imports WASI.
    captured: Option<Arc<Captured>>,
}

/// What one run (a call, or the start function) produced.
struct RunReport {
    outcome: Outcome,
    values: Vec<WasmValue>,
    elapsed: Duration,
    fuel_consumed: Option<u64>,
}

impl RunReport {
    fn into_result(self, peak_memory: u64, output: RunOutput) -> ExecutionResult {
        let mut result = ExecutionResult::new(BackendKind::Wasmer, self.outcome);
        result.return_values = self.values;
        result.execution_time = self.elapsed;
        result.fuel_consumed = self.fuel_consumed;
        result.peak_memory = peak_memory;
        result.stdout = output.stdout;
        result.stderr = output.stderr;
        result.stdout_truncated = output.stdout_truncated;
        result.stderr_truncated = output.stderr_truncated;
        result
    }
}

fn internal(reason: impl std::fmt::Display) -> SandboxError {
    SandboxError::Unsupported {
        reason: format!("wasmer backend: {reason}"),
    }
}

thread_local! {
    /// The wasm stack size the last run on this thread used.
    static STACK_SIZE: Cell<usize> = const { Cell::new(0) };
}

/// wasmer caches coroutine stacks per thread and reuses any stack at least as large as asked,
/// which would let a run inherit a previous run's larger stack limit. When the size changes,
/// drop the cached stacks so this run gets a stack of exactly its size.
fn prepare_stack(size: usize) {
    STACK_SIZE.with(|last| {
        if last.get() != size {
            drain_stack_pool();
            last.set(size);
        }
    });
}

/// Maps wasmer's trap codes onto the closed core set.
fn map_trap(code: TrapCode) -> Trap {
    match code {
        TrapCode::UnreachableCodeReached => Trap::Unreachable,
        TrapCode::HeapAccessOutOfBounds => Trap::MemoryOutOfBounds,
        TrapCode::TableAccessOutOfBounds => Trap::TableOutOfBounds,
        TrapCode::BadSignature => Trap::IndirectCallTypeMismatch,
        TrapCode::IndirectCallToNull => Trap::NullReference,
        TrapCode::IntegerDivisionByZero => Trap::IntegerDivideByZero,
        TrapCode::IntegerOverflow => Trap::IntegerOverflow,
        TrapCode::BadConversionToInteger => Trap::BadConversionToInteger,
        TrapCode::StackOverflow => Trap::StackOverflow,
        _ => Trap::Other,
    }
}

/// Maps a runtime error that no sandbox limit explains: the deadline, or a guest trap.
fn classify_trap(err: &RuntimeError, limits: RunLimits, elapsed: Duration) -> SandboxError {
    match err.clone().to_trap() {
        Some(TrapCode::HostInterrupt) => SandboxError::TimeLimitExceeded {
            elapsed,
            limit: limits.time,
        },
        Some(code) => SandboxError::RuntimeError {
            trap: map_trap(code),
            message: err.message(),
        },
        None => SandboxError::RuntimeError {
            trap: Trap::Other,
            message: err.message(),
        },
    }
}

fn memory_limit_error(accounting: &Accounting, limits: RunLimits) -> SandboxError {
    SandboxError::MemoryLimitExceeded {
        used: accounting
            .memory_hit()
            .unwrap_or_else(|| accounting.memory_total()),
        limit: limits.memory,
    }
}

impl WasmerInstance {
    /// Fuel left in the instance (never below zero), or `None` when metering is off.
    fn remaining_fuel(&mut self) -> Option<u64> {
        let global = self.globals.fuel_remaining.as_ref()?;
        match global.get(&mut self.store) {
            Value::I64(v) => Some(u64::try_from(v).unwrap_or(0)),
            _ => Some(0),
        }
    }

    fn flag_set(&mut self, global: Option<&Global>) -> bool {
        global.is_some_and(|g| matches!(g.get(&mut self.store), Value::I32(v) if v != 0))
    }

    /// Writes the per-run values into the instance before any guest code runs.
    fn initialise_globals(&mut self) -> Result<(), SandboxError> {
        if let (Some(global), Some(budget)) = (
            self.globals.fuel_remaining.as_ref(),
            self.limits.fuel_budget(),
        ) {
            global
                .set(&mut self.store, Value::I64(budget))
                .map_err(|err| internal(format!("cannot set the fuel budget: {err}")))?;
        }
        if let Some(global) = self.globals.table_limit.as_ref() {
            let limit = i64::try_from(self.limits.tables).unwrap_or(i64::MAX);
            global
                .set(&mut self.store, Value::I64(limit))
                .map_err(|err| internal(format!("cannot set the table limit: {err}")))?;
        }
        Ok(())
    }

    /// Clears the flags a previous run may have left set.
    fn reset_flags(&mut self) -> Result<(), SandboxError> {
        self.accounting.clear_hits();
        let flags = [
            Some(self.globals.memory_limit_hit.clone()),
            self.globals.fuel_exhausted.clone(),
        ];
        for global in flags.into_iter().flatten() {
            global
                .set(&mut self.store, Value::I32(0))
                .map_err(|err| internal(format!("cannot reset a sandbox flag: {err}")))?;
        }
        Ok(())
    }

    /// Charges what wasmtime's module-startup code charges around a start function before the
    /// start function itself runs: the entry of the startup function ([`FUNCTION_ENTRY_COST`],
    /// checked like any function entry) and the call into the start function
    /// ([`START_CALL_COST`], not checked). Returns the error if that exhausts the budget.
    fn charge_startup(&mut self) -> Result<Option<SandboxError>, SandboxError> {
        let (Some(global), Some(budget)) = (
            self.globals.fuel_remaining.clone(),
            self.limits.fuel_budget(),
        ) else {
            return Ok(None);
        };
        let entry = i64::try_from(FUNCTION_ENTRY_COST).unwrap_or(i64::MAX);
        let after_entry = budget.saturating_sub(entry);
        let exhausted = after_entry <= 0;
        let remaining = if exhausted {
            after_entry
        } else {
            after_entry.saturating_sub(START_CALL_COST)
        };
        global
            .set(&mut self.store, Value::I64(remaining))
            .map_err(|err| internal(format!("cannot charge the start function: {err}")))?;
        self.fuel_left = Some(u64::try_from(remaining).unwrap_or(0));
        Ok(exhausted.then(|| {
            let limit = self.limits.fuel.unwrap_or(0);
            SandboxError::FuelExhausted { used: limit, limit }
        }))
    }

    /// Runs `func` under the wall-clock limit counted from `started`, and measures it. What the
    /// run wrote stays captured (see [`WasmerInstance::take_output`]).
    ///
    /// `Err` only when the run could not be started (the guest did not run).
    fn run(
        &mut self,
        func: &Function,
        params: &[Value],
        started: Instant,
    ) -> Result<RunReport, SandboxError> {
        self.reset_flags()?;
        if let Some(captured) = &self.captured {
            captured.reset();
        }
        let fuel_before = self.remaining_fuel();
        prepare_stack(self.limits.stack);
        let deadline = started
            .checked_add(self.limits.time)
            .unwrap_or_else(|| started + Duration::from_secs(7 * 24 * 3600));
        let _runtime = match &self.captured {
            Some(_) => Some(wasi::tokio_runtime()?.enter()),
            None => None,
        };
        // Without the wall-clock limit nothing watches the run and sleeps are not cut short.
        let (_deadline, watch) = if self.limits.enforce_time {
            let watch = self
                .engine
                .watchdog
                .watch(deadline, self.store.interrupter())
                .map_err(internal)?;
            (Some(DeadlineGuard::set(deadline)), Some(watch))
        } else {
            (None, None)
        };
        // wasmer re-raises a host function's panic once the guest's frames are gone; it ends
        // this run rather than the embedder's thread.
        let result = catch_unwind(AssertUnwindSafe(|| func.call(&mut self.store, params)));
        drop(watch);
        let elapsed = started.elapsed();

        let fuel_after = self.remaining_fuel();
        self.fuel_left = fuel_after;
        let mut fuel_consumed = fuel_before
            .zip(fuel_after)
            .map(|(before, after)| before.saturating_sub(after));
        // A write past the output cap traps at once; should anything have let the run finish
        // anyway, the overflow still decides the outcome.
        let output_error = self.captured.as_ref().and_then(|c| c.exceeded());
        let (outcome, values) = match (output_error, result) {
            (Some(error), _) => (Outcome::Failed(error), Vec::new()),
            (None, Ok(Ok(values))) => (Outcome::Ok, values.iter().filter_map(from_value).collect()),
            (None, Ok(Err(err))) => {
                let memory_flag = self.globals.memory_limit_hit.clone();
                let fuel_flag = self.globals.fuel_exhausted.clone();
                let outcome = if self.flag_set(Some(&memory_flag))
                    || self.accounting.memory_hit().is_some()
                {
                    Outcome::Failed(memory_limit_error(&self.accounting, self.limits))
                } else if self.flag_set(fuel_flag.as_ref()) {
                    // The run used the rest of the budget.
                    fuel_consumed = fuel_before;
                    let limit = self.limits.fuel.unwrap_or(0);
                    Outcome::Failed(SandboxError::FuelExhausted { used: limit, limit })
                } else if let Some(GuestExit(code)) = err.downcast_ref::<GuestExit>() {
                    Outcome::Exit { code: *code }
                } else if let Some(HostTrap(error)) = err.downcast_ref::<HostTrap>() {
                    Outcome::Failed(error.clone())
                } else {
                    Outcome::Failed(classify_trap(&err, self.limits, elapsed))
                };
                (outcome, Vec::new())
            }
            (None, Err(panic)) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_string());
                let error =
                    SandboxError::trap_with(Trap::Other, format!("host code panicked: {message}"));
                (Outcome::Failed(error), Vec::new())
            }
        };
        Ok(RunReport {
            outcome,
            values,
            elapsed,
            fuel_consumed,
        })
    }

    /// What the guest wrote since the last take.
    fn take_output(&self) -> RunOutput {
        self.captured
            .as_ref()
            .map(|captured| captured.take())
            .unwrap_or_default()
    }
}

/// The WASI environment of an instance and its captured output.
type WasiParts = (WasiFunctionEnv, Arc<Captured>);

/// The imports of one instance: the WASI layer (for modules importing WASI), then the sandbox's
/// clock and random overrides, then the embedder's host functions, each taking precedence over
/// the ones before. Also returns the WASI environment and its captured output.
fn build_imports(
    engine: &EngineEntry,
    store: &mut Store,
    info: &ModuleInfo,
    config: &SandboxConfig,
    host_env: &FunctionEnv<HostState>,
) -> Result<(Imports, Option<WasiParts>), SandboxError> {
    let uses_wasi = sandbox_core::wasi::is_wasi_module(info);
    // Every import needs a provider: a host function, or WASI for its own namespace.
    if let Some(import) = info.imports.iter().find(|import| {
        config
            .host_functions
            .get(&import.module, &import.name)
            .is_none()
            && !(uses_wasi && import.module == wasi::MODULE)
    }) {
        return Err(SandboxError::LinkError {
            reason: format!(
                "import {}::{} is allowed but no host function provides it",
                import.module, import.name
            ),
        });
    }
    let mut imports = Imports::new();
    let mut wasi_parts = None;
    if uses_wasi {
        let (env, captured) = wasi::build_env(config, engine.wasix_runtime()?)?;
        let func_env = WasiFunctionEnv::new(store, env);
        wasi::define_imports(store, &func_env, &captured, host_env, &mut imports);
        for function in sandbox_core::wasi::overrides(config) {
            let defined = host::define(store, host_env, &function)?;
            imports.define(&function.module, &function.name, defined);
        }
        wasi_parts = Some((func_env, captured));
    }
    for import in &info.imports {
        if let Some(function) = config.host_functions.get(&import.module, &import.name) {
            let defined = host::define(store, host_env, function)?;
            imports.define(&import.module, &import.name, defined);
        }
    }
    Ok((imports, wasi_parts))
}

impl CompiledModule for WasmerModule {
    fn kind(&self) -> BackendKind {
        BackendKind::Wasmer
    }

    fn info(&self) -> &ModuleInfo {
        &self.info
    }

    fn instantiate(
        &self,
        config: &SandboxConfig,
    ) -> Result<Box<dyn Instance>, Box<ExecutionResult>> {
        let fail = |error: SandboxError| {
            Box::new(ExecutionResult::new(
                BackendKind::Wasmer,
                Outcome::Failed(error),
            ))
        };
        if let Err(err) = self.info.check_imports(config) {
            return Err(fail(err));
        }
        let limits = RunLimits::of(config);
        if limits.fuel.is_some() != self.engine.fuel {
            return Err(fail(SandboxError::Unsupported {
                reason: "the module was compiled with fuel metering switched the other way; \
                         compile it with a sandbox whose max_fuel is set the same way"
                    .into(),
            }));
        }

        let accounting = Arc::new(Accounting::new(limits.memory, limits.tables));
        let mut engine = self.engine.engine.clone();
        engine.set_tunables(RunTunables::new(accounting.clone(), limits.stack));
        let mut store = Store::new(engine);

        let host_env = FunctionEnv::new(&mut store, HostState::default());
        let uses_wasi = sandbox_core::wasi::is_wasi_module(&self.info);
        let _runtime = if uses_wasi {
            match wasi::tokio_runtime() {
                Ok(runtime) => Some(runtime.enter()),
                Err(err) => return Err(fail(err)),
            }
        } else {
            None
        };
        let (imports, wasi_parts) =
            match build_imports(&self.engine, &mut store, &self.info, config, &host_env) {
                Ok(built) => built,
                Err(err) => return Err(fail(err)),
            };

        let started = Instant::now();
        prepare_stack(limits.stack);
        let instance = match wasmer::Instance::new(&mut store, &self.module, &imports) {
            Ok(instance) => instance,
            Err(err) => {
                let elapsed = started.elapsed();
                let error = if accounting.memory_hit().is_some() {
                    memory_limit_error(&accounting, limits)
                } else if let Some(used) = accounting.table_hit() {
                    SandboxError::TableLimitExceeded {
                        used,
                        limit: limits.tables,
                    }
                } else {
                    match err {
                        // With the start function taken out, this is segment initialisation
                        // trapping (out of bounds), reported as the trap, as on wasmtime.
                        InstantiationError::Start(err) => classify_trap(&err, limits, elapsed),
                        other => SandboxError::LinkError {
                            reason: other.to_string(),
                        },
                    }
                };
                let mut report = ExecutionResult::new(BackendKind::Wasmer, Outcome::Failed(error));
                report.execution_time = elapsed;
                report.fuel_consumed = limits.fuel.map(|_| 0);
                report.peak_memory = accounting.peak_memory();
                return Err(Box::new(report));
            }
        };
        let globals = match SandboxGlobals::lookup(&instance, &self.layout) {
            Ok(globals) => globals,
            Err(reason) => return Err(fail(internal(reason))),
        };
        // What host functions reach: the export `memory` and the fuel global.
        {
            let state = host_env.as_mut(&mut store);
            state.memory = instance.exports.get_memory("memory").ok().cloned();
            state.fuel = globals.fuel_remaining.clone().zip(
                limits
                    .fuel_budget()
                    .map(|budget| u64::try_from(budget).unwrap_or(0)),
            );
        }
        let captured = match wasi_parts {
            Some((mut func_env, captured)) => {
                if let Err(err) = func_env.initialize(&mut store, instance.clone()) {
                    return Err(fail(SandboxError::LinkError {
                        reason: format!("a WASI module must export its memory: {err}"),
                    }));
                }
                Some(captured)
            }
            None => None,
        };
        let mut live = WasmerInstance {
            engine: self.engine.clone(),
            store: SendStore(store),
            instance,
            info: self.info.clone(),
            limits,
            accounting,
            globals,
            fuel_left: None,
            captured,
        };
        if let Err(err) = live.initialise_globals() {
            return Err(fail(err));
        }
        live.fuel_left = live.remaining_fuel();

        if let Some(name) = &self.layout.start_export {
            let start = match live.instance.exports.get_function(name) {
                Ok(func) => func.clone(),
                Err(err) => return Err(fail(internal(format!("start function: {err}")))),
            };
            let failed = match live.charge_startup() {
                Err(err) => return Err(fail(err)),
                Ok(Some(exhausted)) => Some(RunReport {
                    outcome: Outcome::Failed(exhausted),
                    values: Vec::new(),
                    elapsed: started.elapsed(),
                    fuel_consumed: None,
                }),
                // A start function that exits (WASI `proc_exit`) ends instantiation too.
                Ok(None) => match live.run(&start, &[], started) {
                    Ok(report) if report.outcome != Outcome::Ok => Some(report),
                    Ok(_) => None,
                    Err(err) => return Err(fail(err)),
                },
            };
            if let Some(mut report) = failed {
                // Everything instantiation consumed, the startup charge included.
                report.fuel_consumed = live.fuel_consumed();
                let peak = live.accounting.peak_memory();
                let output = live.take_output();
                return Err(Box::new(report.into_result(peak, output)));
            }
            // On success, what the start function wrote stays captured and is reported by the
            // first call (there is no instantiation report to carry it).
        }
        Ok(Box::new(live))
    }
}

impl Instance for WasmerInstance {
    fn kind(&self) -> BackendKind {
        BackendKind::Wasmer
    }

    fn call(&mut self, name: &str, args: &[WasmValue]) -> Result<ExecutionResult, SandboxError> {
        let signature = self.info.function(name)?;
        signature.check_args(name, args)?;
        let func = self
            .instance
            .exports
            .get_function(name)
            .map_err(|_| SandboxError::FunctionNotFound {
                name: name.to_string(),
                available: self.info.exported_functions().map(str::to_string).collect(),
            })?
            .clone();
        let params: Vec<Value> = args.iter().map(to_value).collect();
        let report = self.run(&func, &params, Instant::now())?;
        let output = self.take_output();
        Ok(report.into_result(self.accounting.peak_memory(), output))
    }

    fn fuel_consumed(&self) -> Option<u64> {
        // Guest code only runs inside `run`, which records what is left afterwards (reading the
        // global needs the store mutably).
        let budget = u64::try_from(self.limits.fuel_budget()?).unwrap_or(0);
        Some(budget.saturating_sub(self.fuel_left.unwrap_or(0)))
    }

    fn peak_memory(&self) -> u64 {
        self.accounting.peak_memory()
    }
}
