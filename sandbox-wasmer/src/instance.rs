//! Compiled modules, instances, runs under the limits, and trap mapping.

use crate::engine::EngineEntry;
use crate::middleware::ModuleLayout;
use crate::tunables::{Accounting, RunTunables};
use sandbox_core::fuel::FUNCTION_ENTRY_COST;
use sandbox_core::module::ModuleInfo;
use sandbox_core::{
    BackendKind, CompiledModule, ExecutionResult, Instance, Outcome, SandboxConfig, SandboxError,
    Trap, WasmValue,
};
use std::cell::Cell;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmer::sys::vm::{drain_stack_pool, TrapCode};
use wasmer::sys::NativeEngineExt;
use wasmer::{Function, Global, Imports, InstantiationError, RuntimeError, Store, Value};

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
    fuel: Option<u64>,
    memory: u64,
    tables: u64,
    stack: usize,
}

impl RunLimits {
    fn of(config: &SandboxConfig) -> Self {
        RunLimits {
            time: config.max_execution_time,
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
/// - the sandbox never installs an `on_called` callback, never creates host functions or
///   host `externref`s (the only type-erased host data is the `()` wasmer attaches to exported
///   functions), and does not enable wasmer's async support (whose locks are `Rc`-based).
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
}

/// What one run (a call, or the start function) produced.
struct RunReport {
    outcome: Result<Vec<WasmValue>, SandboxError>,
    elapsed: Duration,
    fuel_consumed: Option<u64>,
}

impl RunReport {
    fn into_result(self, peak_memory: u64) -> ExecutionResult {
        let mut result = ExecutionResult::new(BackendKind::Wasmer, Outcome::Ok);
        result.execution_time = self.elapsed;
        result.fuel_consumed = self.fuel_consumed;
        result.peak_memory = peak_memory;
        match self.outcome {
            Ok(values) => result.return_values = values,
            Err(err) => result.outcome = Outcome::Failed(err),
        }
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

fn to_value(value: &WasmValue) -> Value {
    match *value {
        WasmValue::I32(v) => Value::I32(v),
        WasmValue::I64(v) => Value::I64(v),
        WasmValue::F32(v) => Value::F32(v),
        WasmValue::F64(v) => Value::F64(v),
    }
}

fn from_value(value: &Value) -> Option<WasmValue> {
    match *value {
        Value::I32(v) => Some(WasmValue::I32(v)),
        Value::I64(v) => Some(WasmValue::I64(v)),
        Value::F32(v) => Some(WasmValue::F32(v)),
        Value::F64(v) => Some(WasmValue::F64(v)),
        _ => None,
    }
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

    /// Runs `func` under the wall-clock limit counted from `started`, and measures it.
    ///
    /// `Err` only when the run could not be started (the guest did not run).
    fn run(
        &mut self,
        func: &Function,
        params: &[Value],
        started: Instant,
    ) -> Result<RunReport, SandboxError> {
        self.reset_flags()?;
        let fuel_before = self.remaining_fuel();
        prepare_stack(self.limits.stack);
        let deadline = started
            .checked_add(self.limits.time)
            .unwrap_or_else(|| started + Duration::from_secs(7 * 24 * 3600));
        let watch = self
            .engine
            .watchdog
            .watch(deadline, self.store.interrupter())
            .map_err(internal)?;
        let result = func.call(&mut self.store, params);
        drop(watch);
        let elapsed = started.elapsed();

        let fuel_after = self.remaining_fuel();
        self.fuel_left = fuel_after;
        let mut fuel_consumed = fuel_before
            .zip(fuel_after)
            .map(|(before, after)| before.saturating_sub(after));
        let outcome = match result {
            Ok(values) => Ok(values.iter().filter_map(from_value).collect()),
            Err(err) => {
                let memory_flag = self.globals.memory_limit_hit.clone();
                let fuel_flag = self.globals.fuel_exhausted.clone();
                Err(
                    if self.flag_set(Some(&memory_flag)) || self.accounting.memory_hit().is_some() {
                        memory_limit_error(&self.accounting, self.limits)
                    } else if self.flag_set(fuel_flag.as_ref()) {
                        // The run used the rest of the budget.
                        fuel_consumed = fuel_before;
                        let limit = self.limits.fuel.unwrap_or(0);
                        SandboxError::FuelExhausted { used: limit, limit }
                    } else {
                        classify_trap(&err, self.limits, elapsed)
                    },
                )
            }
        };
        Ok(RunReport {
            outcome,
            elapsed,
            fuel_consumed,
        })
    }
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
        if let Some(import) = self.info.imports.first() {
            return Err(fail(SandboxError::LinkError {
                reason: format!(
                    "import {}::{} is allowed but no host function provides it",
                    import.module, import.name
                ),
            }));
        }

        let accounting = Arc::new(Accounting::new(limits.memory, limits.tables));
        let mut engine = self.engine.engine.clone();
        engine.set_tunables(RunTunables::new(accounting.clone(), limits.stack));
        let mut store = Store::new(engine);

        let started = Instant::now();
        prepare_stack(limits.stack);
        let instance = match wasmer::Instance::new(&mut store, &self.module, &Imports::new()) {
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
        let mut live = WasmerInstance {
            engine: self.engine.clone(),
            store: SendStore(store),
            instance,
            info: self.info.clone(),
            limits,
            accounting,
            globals,
            fuel_left: None,
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
                    outcome: Err(exhausted),
                    elapsed: started.elapsed(),
                    fuel_consumed: None,
                }),
                Ok(None) => match live.run(&start, &[], started) {
                    Ok(report) if report.outcome.is_err() => Some(report),
                    Ok(_) => None,
                    Err(err) => return Err(fail(err)),
                },
            };
            if let Some(mut report) = failed {
                // Everything instantiation consumed, the startup charge included.
                report.fuel_consumed = live.fuel_consumed();
                let peak = live.accounting.peak_memory();
                return Err(Box::new(report.into_result(peak)));
            }
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
        Ok(report.into_result(self.accounting.peak_memory()))
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
