//! Compiled modules, instances, runs under the limits, and trap mapping.

use crate::engine::EngineEntry;
use crate::fastcall::{Resolved, Typed};
use crate::host::{self, from_value, to_value, HostState, HostTrap};
use crate::middleware::ModuleLayout;
use crate::tunables::{Accounting, RunTunables};
use crate::wasi::{self, Captured, DeadlineGuard, GuestExit};
use crate::watchdog::{Cause, RunSignal, SignalGuard};
use sandbox_core::clock::Stamp;
use sandbox_core::fuel::FUNCTION_ENTRY_COST;
use sandbox_core::module::ModuleInfo;
use sandbox_core::{
    BackendKind, CallReport, CancelHandle, CapturedOutput, CompiledModule, ExecutionResult,
    ExportFunc, Instance, InstanceId, InstanceToken, Outcome, SandboxConfig, SandboxError, Trap,
    WasmValue,
};
use std::cell::Cell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;
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
    /// This module on `engine`, an engine of the same configuration (another generation of
    /// it, see the engine registry): its compiled code serialised and loaded there, not
    /// recompiled.
    fn on_engine(&self, engine: &Arc<EngineEntry>) -> Result<WasmerModule, SandboxError> {
        let refused = |err: &dyn std::fmt::Display| SandboxError::Unsupported {
            reason: format!("cannot move the module to this store's engine: {err}"),
        };
        let code = self.module.serialize().map_err(|err| refused(&err))?;
        engine.add_code(code.len());
        // SAFETY: `code` is what wasmer serialised a moment ago, in this process, from a module
        // of an engine with the same key and so the same fingerprint (compiler, features,
        // target, metering, instrumentation) as `engine`.
        let module = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe {
            wasmer::Module::deserialize(&engine.engine, code)
        }))
        .map_err(|_| refused(&"wasmer panicked while loading the code"))?
        .map_err(|err| refused(&err))?;
        Ok(WasmerModule {
            engine: engine.clone(),
            module,
            info: self.info.clone(),
            layout: self.layout.clone(),
        })
    }

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

impl Slot {
    /// The exported function `name`.
    fn exported_function(&self, name: &str) -> Result<Function, SandboxError> {
        self.instance
            .exports
            .get_function(name)
            .cloned()
            .map_err(|_| SandboxError::FunctionNotFound {
                name: name.to_string(),
                available: self.info.exported_functions().map(str::to_string).collect(),
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

/// One instance of a store, its module's interface and the sandbox globals in it.
struct Slot {
    instance: wasmer::Instance,
    info: Arc<ModuleInfo>,
    globals: SandboxGlobals,
}

/// A wasmer store, its instances and its limits: the state behind both a plain
/// [`WasmerInstance`] (one instance) and a [`WasmerLinker`] (several, linked by name).
struct StoreSet {
    engine: Arc<EngineEntry>,
    store: SendStore,
    slots: Vec<Slot>,
    limits: RunLimits,
    accounting: Arc<Accounting>,
    /// Fuel left in the store's budget after the last run, when metering is on.
    fuel_left: Option<u64>,
    /// The captured stdout and stderr, when the module imports WASI.
    captured: Option<Arc<Captured>>,
    /// The store's cancel request, shared with the handles a plain instance hands out; its
    /// notifier wakes the engine's watchdog.
    cancel: CancelHandle,
    /// Whether the sandbox globals already hold what the next run needs (no flag set, every
    /// fuel counter at the budget left), so the run need not write them first.
    globals_clean: bool,
    /// The functions [`StoreSet::export_func`] resolved, by the index their handles carry.
    resolved: Vec<Resolved>,
    /// The last watched run's signal, for the next run to recycle.
    spare_signal: Option<Arc<RunSignal>>,
    /// Whether any instance imports anything: without imports a run makes no host call (no
    /// WASI sleep to cap, no host function to count), so the per-thread guards are skipped.
    imports_anything: bool,
}

/// A live wasmer instance.
pub(crate) struct WasmerInstance {
    set: StoreSet,
    /// This instance's identity for the function handles it resolves.
    token: InstanceToken,
}

/// What one run (a call, or the start function) produced.
struct RunReport {
    outcome: Outcome,
    values: Vec<WasmValue>,
    elapsed: Duration,
    fuel_consumed: Option<u64>,
}

impl RunReport {
    fn into_result(self, peak_memory: u64, output: CapturedOutput) -> ExecutionResult {
        CallReport {
            outcome: self.outcome,
            execution_time: self.elapsed,
            fuel_consumed: self.fuel_consumed,
            peak_memory,
        }
        .into_execution_result(BackendKind::Wasmer, self.values, output)
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
///
/// A run that ends in a trap after its deadline, while the watchdog was interrupting it, is
/// over its time limit: when two runs are interrupted at about the same time, wasmer 7.4
/// sometimes delivers the interrupt as a `HeapAccessOutOfBounds` trap instead of
/// `HostInterrupt` (seen with `sandbox judge --jobs 2` on an endless loop, one test in six).
fn classify_trap(err: &RuntimeError, limits: RunLimits, elapsed: Duration) -> SandboxError {
    let code = err.clone().to_trap();
    let past_deadline = limits.enforce_time && elapsed >= limits.time;
    match code {
        Some(TrapCode::HostInterrupt) => SandboxError::TimeLimitExceeded {
            elapsed,
            limit: limits.time,
        },
        Some(_) | None if past_deadline => SandboxError::TimeLimitExceeded {
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

impl StoreSet {
    /// An empty store under `limits`, with its own memory and table accounting.
    fn new(engine: Arc<EngineEntry>, limits: RunLimits) -> Self {
        let accounting = Arc::new(Accounting::new(limits.memory, limits.tables));
        let mut tuned = engine.engine.clone();
        tuned.set_tunables(RunTunables::new(accounting.clone(), limits.stack));
        let cancel = CancelHandle::new();
        cancel.set_notifier(engine.watchdog.waker());
        StoreSet {
            engine,
            store: SendStore(Store::new(tuned)),
            slots: Vec::new(),
            limits,
            accounting,
            fuel_left: limits.fuel,
            captured: None,
            cancel,
            globals_clean: false,
            resolved: Vec::new(),
            spare_signal: None,
            imports_anything: false,
        }
    }

    /// The instance at `index`.
    fn slot(&self, index: usize) -> Result<&Slot, SandboxError> {
        self.slots
            .get(index)
            .ok_or_else(|| internal(format!("no instance {index} in this store")))
    }

    /// Fuel left in an instance's global (never below zero), or `None` when metering is off.
    fn remaining_fuel(&mut self, index: usize) -> Option<u64> {
        let global = self.slots.get(index)?.globals.fuel_remaining.clone()?;
        match global.get(&mut self.store) {
            Value::I64(v) => Some(u64::try_from(v).unwrap_or(0)),
            _ => Some(0),
        }
    }

    /// Whether the flag global `pick` selects is set in any instance.
    fn any_flag(&mut self, pick: impl Fn(&SandboxGlobals) -> Option<&Global>) -> bool {
        (0..self.slots.len()).any(|index| {
            let flag = pick(&self.slots[index].globals).cloned();
            flag.is_some_and(|g| matches!(g.get(&mut self.store), Value::I32(v) if v != 0))
        })
    }

    /// Writes the per-run values into a new instance before any of its code runs.
    fn initialise_globals(&mut self, index: usize) -> Result<(), SandboxError> {
        let Some(slot) = self.slots.get(index) else {
            return Ok(());
        };
        if let Some(global) = slot.globals.table_limit.clone() {
            let limit = i64::try_from(self.limits.tables).unwrap_or(i64::MAX);
            global
                .set(&mut self.store, Value::I64(limit))
                .map_err(|err| internal(format!("cannot set the table limit: {err}")))?;
        }
        Ok(())
    }

    /// Tells a new instance the actual maximum of each memory it imports, which its
    /// `memory.grow` needs to tell the memory's own maximum from the sandbox's limit.
    fn set_imported_memory_max(
        &mut self,
        instance: &wasmer::Instance,
        layout: &crate::middleware::ModuleLayout,
        imports: &Imports,
    ) -> Result<(), SandboxError> {
        for imported in &layout.imported_memory_max {
            let Some(wasmer::Extern::Memory(memory)) =
                imports.get_export(&imported.module, &imported.field)
            else {
                continue;
            };
            let max = memory
                .ty(&self.store)
                .maximum
                .map(|pages| u64::from(pages.0))
                .unwrap_or(u64::from(wasmer::WASM_MAX_PAGES))
                .min(u64::from(wasmer::WASM_MAX_PAGES));
            let global = instance
                .exports
                .get_global(&imported.slot.name)
                .map_err(|err| internal(format!("memory maximum global: {err}")))?;
            global
                .set(
                    &mut self.store,
                    Value::I64(i64::try_from(max).unwrap_or(i64::MAX)),
                )
                .map_err(|err| internal(format!("cannot set a memory maximum: {err}")))?;
        }
        Ok(())
    }

    /// Clears the flags a previous run may have left set and hands every instance the fuel
    /// left in the store's budget.
    fn prepare_globals(&mut self) -> Result<(), SandboxError> {
        self.accounting.clear_hits();
        let budget = self
            .fuel_left
            .map(|fuel| i64::try_from(fuel).unwrap_or(i64::MAX));
        let set = |store: &mut Store, global: &Global, value: Value| {
            global
                .set(store, value)
                .map_err(|err| internal(format!("cannot reset a sandbox global: {err}")))
        };
        for index in 0..self.slots.len() {
            let globals = &self.slots[index].globals;
            let (hit, exhausted, remaining) = (
                globals.memory_limit_hit.clone(),
                globals.fuel_exhausted.clone(),
                globals.fuel_remaining.clone(),
            );
            set(&mut self.store, &hit, Value::I32(0))?;
            if let Some(flag) = exhausted {
                set(&mut self.store, &flag, Value::I32(0))?;
            }
            if let (Some(global), Some(budget)) = (remaining, budget) {
                set(&mut self.store, &global, Value::I64(budget))?;
            }
        }
        Ok(())
    }

    /// Charges what wasmtime's module-startup code charges around a start function before the
    /// start function itself runs: the entry of the startup function ([`FUNCTION_ENTRY_COST`],
    /// checked like any function entry) and the call into the start function
    /// ([`START_CALL_COST`], not checked). Returns the error if that exhausts the budget.
    fn charge_startup(&mut self) -> Option<SandboxError> {
        let budget = i64::try_from(self.fuel_left?).unwrap_or(i64::MAX);
        let entry = i64::try_from(FUNCTION_ENTRY_COST).unwrap_or(i64::MAX);
        let after_entry = budget.saturating_sub(entry);
        let exhausted = after_entry <= 0;
        let remaining = if exhausted {
            after_entry
        } else {
            after_entry.saturating_sub(START_CALL_COST)
        };
        self.fuel_left = Some(u64::try_from(remaining).unwrap_or(0));
        exhausted.then(|| {
            let limit = self.limits.fuel.unwrap_or(0);
            SandboxError::FuelExhausted { used: limit, limit }
        })
    }

    /// Fuel consumed in the store so far, or `None` when metering is off.
    fn fuel_consumed(&self) -> Option<u64> {
        let budget = self.limits.fuel?;
        Some(budget.saturating_sub(self.fuel_left.unwrap_or(0)))
    }

    /// Runs `func` under the wall-clock limit counted from `started`, and measures it. What the
    /// run wrote stays captured (see [`StoreSet::take_output`]).
    ///
    /// A pending cancel request ends the run before `func` starts; while someone holds a cancel
    /// handle, the run is watched for requests (registered with the watchdog even when the
    /// time limit is not enforced), and an interrupt the watchdog sent for a request is
    /// reported as `cancelled`, consuming it.
    ///
    /// The fuel budget is the store's: every instance's counter starts the run with what is
    /// left of it, and the run consumed what all of them used together. With one instance
    /// (every plain instance) that is exact; in a linked store a call that crosses instances
    /// can use up to the budget in each instance before one of them stops it, and is then
    /// reported as `fuel_exhausted` all the same.
    ///
    /// `Err` only when the run could not be started (the guest did not run).
    fn run(
        &mut self,
        func: &Function,
        params: &[Value],
        started: Stamp,
    ) -> Result<RunReport, SandboxError> {
        let (mut report, values) = self.run_with(started, |store| func.call(store, params))?;
        if let Some(values) = values {
            report.values = values
                .iter()
                .filter_map(|value| from_store_value(&self.store, value))
                .collect();
        }
        Ok(report)
    }

    /// [`StoreSet::run`] for any way of calling: `call` runs the guest and returns what it
    /// returned, handed back when the run ended normally (the report's `values` stay empty).
    fn run_with<T>(
        &mut self,
        started: Stamp,
        call: impl FnOnce(&mut Store) -> Result<T, RuntimeError>,
    ) -> Result<(RunReport, Option<T>), SandboxError> {
        if !self.globals_clean {
            self.prepare_globals()?;
        }
        self.globals_clean = false;
        if let Some(captured) = &self.captured {
            captured.reset();
        }
        let fuel_before = self.fuel_left;
        if self.cancel.take_pending() {
            let elapsed = started.elapsed();
            let report = RunReport {
                outcome: Outcome::Failed(SandboxError::Cancelled { elapsed }),
                values: Vec::new(),
                elapsed,
                fuel_consumed: fuel_before.map(|_| 0),
            };
            return Ok((report, None));
        }
        prepare_stack(self.limits.stack);
        // The watchdog's deadline is on the clock the run's time is reported on; the sleeps of
        // WASI are capped by the same deadline as an `Instant`.
        let limit_nanos = u64::try_from(self.limits.time.as_nanos()).unwrap_or(u64::MAX);
        let deadline_nanos = started.as_nanos().saturating_add(limit_nanos);
        let sleep_deadline = || {
            let start = started.to_instant();
            start
                .checked_add(self.limits.time)
                .unwrap_or_else(|| start + Duration::from_secs(7 * 24 * 3600))
        };
        let _runtime = match &self.captured {
            Some(_) => Some(wasi::tokio_runtime()?.enter()),
            None => None,
        };
        // Only a run someone can cancel is watched for requests (checked before the watchdog
        // takes a clone of the handle).
        let cancel = self.cancel.is_shared().then(|| self.cancel.clone());
        // Without the wall-clock limit or a cancel handle nothing watches the run, and sleeps
        // are not cut short.
        let deadline = self.limits.enforce_time.then_some(deadline_nanos);
        let watch = if deadline.is_some() || cancel.is_some() {
            let watch = self
                .engine
                .watchdog
                .watch(
                    deadline,
                    cancel,
                    self.store.interrupter(),
                    self.spare_signal.take(),
                )
                .map_err(internal)?;
            Some(watch)
        } else {
            None
        };
        let host = self.imports_anything;
        let _deadline = (host && deadline.is_some()).then(|| DeadlineGuard::set(sleep_deadline()));
        let _signal = watch
            .as_ref()
            .filter(|_| host)
            .map(|watch| SignalGuard::set(watch.signal().clone()));
        // wasmer re-raises a host function's panic once the guest's frames are gone; it ends
        // this run rather than the embedder's thread.
        let result = catch_unwind(AssertUnwindSafe(|| call(&mut self.store)));
        let cause = watch.and_then(|watch| {
            let (cause, signal) = watch.finish();
            self.spare_signal = Some(signal);
            cause
        });
        let elapsed = started.elapsed();

        let mut fuel_consumed = None;
        let mut over_budget = false;
        if let Some(before) = fuel_before {
            let mut used: u64 = 0;
            for index in 0..self.slots.len() {
                let left = self.remaining_fuel(index).unwrap_or(before);
                used = used.saturating_add(before.saturating_sub(left));
            }
            over_budget = used > before;
            fuel_consumed = Some(used.min(before));
        }
        // A write past the output cap traps at once; should anything have let the run finish
        // anyway, the overflow still decides the outcome.
        let output_error = self.captured.as_ref().and_then(|c| c.exceeded());
        let fuel_limit = self.limits.fuel.unwrap_or(0);
        let fuel_error = || SandboxError::FuelExhausted {
            used: fuel_limit,
            limit: fuel_limit,
        };
        let (outcome, returned) = match (output_error, result) {
            (Some(error), _) => (Outcome::Failed(error), None),
            (None, Ok(Ok(_))) if over_budget => {
                // Only possible across instances of a linked store: see above.
                fuel_consumed = fuel_before;
                (Outcome::Failed(fuel_error()), None)
            }
            (None, Ok(Ok(returned))) => {
                // A normal return of a plain instance leaves the globals as the next run
                // needs them, unless a `memory.grow` was refused on the way (its flag is set)
                // or the fuel counter no longer holds the budget (linked stores).
                // (The middleware sets the memory flag only on its way to a trap.)
                self.globals_clean = self.slots.len() == 1 && !self.accounting.any_memory_hit();
                (Outcome::Ok, Some(returned))
            }
            (None, Ok(Err(err))) => {
                let fuel_flag = self.any_flag(|g| g.fuel_exhausted.as_ref());
                let memory_flag = self.any_flag(|g| Some(&g.memory_limit_hit));
                let outcome = if memory_flag || self.accounting.memory_hit().is_some() {
                    Outcome::Failed(memory_limit_error(&self.accounting, self.limits))
                } else if fuel_flag || over_budget {
                    // The run used the rest of the budget.
                    fuel_consumed = fuel_before;
                    Outcome::Failed(fuel_error())
                } else if let Some(GuestExit(code)) = err.downcast_ref::<GuestExit>() {
                    Outcome::Exit { code: *code }
                } else if let Some(HostTrap(error)) = err.downcast_ref::<HostTrap>() {
                    Outcome::Failed(error.clone())
                } else if cause == Some(Cause::Cancel) {
                    // Stopped for the request (by a host function of the sandbox, see
                    // `watchdog`, or by the watchdog's interrupt, whatever trap code wasmer
                    // delivered it as, see `classify_trap`): it is consumed here.
                    self.cancel.take_pending();
                    Outcome::Failed(SandboxError::Cancelled { elapsed })
                } else {
                    Outcome::Failed(classify_trap(&err, self.limits, elapsed))
                };
                (outcome, None)
            }
            (None, Err(panic)) => {
                let message = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_string());
                let error =
                    SandboxError::trap_with(Trap::Other, format!("host code panicked: {message}"));
                (Outcome::Failed(error), None)
            }
        };
        if let (Some(before), Some(used)) = (fuel_before, fuel_consumed) {
            self.fuel_left = Some(before.saturating_sub(used));
        }
        let report = RunReport {
            outcome,
            values: Vec::new(),
            elapsed,
            fuel_consumed,
        };
        Ok((report, returned))
    }

    /// What the guest wrote since the last take.
    fn take_output(&self) -> CapturedOutput {
        self.captured
            .as_ref()
            .map(|captured| captured.take())
            .unwrap_or_default()
    }

    /// Creates an instance of `module` from `imports` and runs its start function under the
    /// limits; on success the new instance's index.
    fn add_instance(
        &mut self,
        module: &WasmerModule,
        imports: &Imports,
        host_env: &FunctionEnv<HostState>,
        wasi_env: Option<WasiFunctionEnv>,
    ) -> Result<usize, Box<ExecutionResult>> {
        let fail = |error: SandboxError| {
            Box::new(ExecutionResult::new(
                BackendKind::Wasmer,
                Outcome::Failed(error),
            ))
        };
        let limits = self.limits;
        let started = Stamp::now();
        prepare_stack(limits.stack);
        let instance = match wasmer::Instance::new(&mut self.store, &module.module, imports) {
            Ok(instance) => instance,
            Err(err) => {
                let elapsed = started.elapsed();
                let accounting = &self.accounting;
                let error = if accounting.memory_hit().is_some() {
                    memory_limit_error(accounting, limits)
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
                report.fuel_consumed = self.fuel_consumed();
                report.peak_memory = accounting.peak_memory();
                return Err(Box::new(report));
            }
        };
        let globals = match SandboxGlobals::lookup(&instance, &module.layout) {
            Ok(globals) => globals,
            Err(reason) => return Err(fail(internal(reason))),
        };
        // What host functions reach: the export `memory` and the fuel global.
        {
            let state = host_env.as_mut(&mut self.store);
            state.memory = instance.exports.get_memory("memory").ok().cloned();
            state.fuel = globals.fuel_remaining.clone().zip(self.fuel_left);
        }
        if let Some(mut func_env) = wasi_env {
            if let Err(err) = func_env.initialize(&mut self.store, instance.clone()) {
                return Err(fail(SandboxError::LinkError {
                    reason: format!("a WASI module must export its memory: {err}"),
                }));
            }
        }
        if let Err(err) = self.set_imported_memory_max(&instance, &module.layout, imports) {
            return Err(fail(err));
        }
        self.imports_anything |= !module.info.imports.is_empty();
        // The new instance's globals have not been written yet.
        self.globals_clean = false;
        self.slots.push(Slot {
            instance: instance.clone(),
            info: module.info.clone(),
            globals,
        });
        let index = self.slots.len() - 1;
        if let Err(err) = self.initialise_globals(index) {
            self.slots.pop();
            return Err(fail(err));
        }

        if let Some(name) = &module.layout.start_export {
            let start = match instance.exports.get_function(name) {
                Ok(func) => func.clone(),
                Err(err) => {
                    self.slots.pop();
                    return Err(fail(internal(format!("start function: {err}"))));
                }
            };
            let failed = match self.charge_startup() {
                Some(exhausted) => Some(RunReport {
                    outcome: Outcome::Failed(exhausted),
                    values: Vec::new(),
                    elapsed: started.elapsed(),
                    fuel_consumed: None,
                }),
                // A start function that exits (WASI `proc_exit`) ends instantiation too.
                None => match self.run(&start, &[], started) {
                    Ok(report) if report.outcome != Outcome::Ok => Some(report),
                    Ok(_) => None,
                    Err(err) => {
                        self.slots.pop();
                        return Err(fail(err));
                    }
                },
            };
            if let Some(mut report) = failed {
                // Everything instantiation consumed, the startup charge included.
                report.fuel_consumed = self.fuel_consumed();
                let peak = self.accounting.peak_memory();
                let output = self.take_output();
                self.slots.pop();
                return Err(Box::new(report.into_result(peak, output)));
            }
            // On success, what the start function wrote stays captured and is reported by the
            // first call (there is no instantiation report to carry it).
        }
        Ok(index)
    }

    fn call(
        &mut self,
        index: usize,
        name: &str,
        args: &[WasmValue],
    ) -> Result<ExecutionResult, SandboxError> {
        let slot = self.slot(index)?;
        let signature = slot.info.function(name)?;
        signature.check_args(name, args)?;
        let func = slot.exported_function(name)?;
        let params = args
            .iter()
            .map(|arg| to_store_value(&mut self.store, arg))
            .collect::<Result<Vec<Value>, _>>()?;
        let report = self.run(&func, &params, Stamp::now())?;
        let output = self.take_output();
        Ok(report.into_result(self.accounting.peak_memory(), output))
    }

    /// Resolves the exported function `name` of slot `index` for [`StoreSet::call_func`].
    fn export_func(
        &mut self,
        index: usize,
        name: &str,
        token: InstanceToken,
    ) -> Result<ExportFunc, SandboxError> {
        let slot = self.slot(index)?;
        let signature = Arc::new(slot.info.function(name)?.clone());
        signature.check_boundary(name)?;
        sandbox_core::clock::init();
        let known = self
            .resolved
            .iter()
            .position(|known| known.slot == index && *known.name == *name);
        let position = match known {
            Some(position) => position,
            None => {
                let func = slot.exported_function(name)?;
                let typed = Typed::of(&self.store, &func, &signature);
                self.resolved.push(Resolved {
                    slot: index,
                    name: name.into(),
                    func,
                    typed,
                });
                self.resolved.len() - 1
            }
        };
        let position =
            u32::try_from(position).map_err(|_| internal("too many resolved functions"))?;
        Ok(ExportFunc::new(name, signature, token, position))
    }

    /// The fast path of [`StoreSet::call`]: a resolved function, values in the caller's
    /// slices, a typed call for the common signatures; the output stays captured.
    fn call_func(
        &mut self,
        token: InstanceToken,
        func: &ExportFunc,
        args: &[WasmValue],
        results: &mut [WasmValue],
    ) -> Result<CallReport, SandboxError> {
        let position = func.check(token, args, results)? as usize;
        // Handles are cheap copies; the run needs the whole store set.
        let Some(Resolved {
            func: dynamic,
            typed,
            ..
        }) = self.resolved.get(position)
        else {
            return Err(internal(format!(
                "no resolved function {position} in this instance"
            )));
        };
        let typed = typed.clone();
        let started = Stamp::now();
        let run = if matches!(typed, Typed::Dynamic) {
            let dynamic = dynamic.clone();
            let params = args
                .iter()
                .map(|arg| to_store_value(&mut self.store, arg))
                .collect::<Result<Vec<Value>, _>>()?;
            self.run_with(started, |store| dynamic.call(store, &params))
                .map(|(report, values)| {
                    for (slot, value) in results.iter_mut().zip(values.iter().flatten()) {
                        if let Some(value) = from_store_value(&self.store, value) {
                            *slot = value;
                        }
                    }
                    report
                })
        } else {
            self.run_with(started, |store| {
                typed
                    .call(store, args, results)
                    .unwrap_or_else(|| Err(RuntimeError::new("not a typed function")))
            })
            .map(|(report, _)| report)
        };
        let run = run?;
        Ok(CallReport {
            outcome: run.outcome,
            execution_time: run.elapsed,
            fuel_consumed: run.fuel_consumed,
            peak_memory: self.accounting.peak_memory(),
        })
    }

    fn global(&self, index: usize, name: &str) -> Result<Global, SandboxError> {
        let slot = self.slot(index)?;
        slot.instance
            .exports
            .get_global(name)
            .cloned()
            .map_err(|_| export_not_found(&slot.info, "global", name))
    }

    fn get_global(&mut self, index: usize, name: &str) -> Result<WasmValue, SandboxError> {
        let global = self.global(index, name)?;
        let value = global.get(&mut self.store);
        from_store_value(&self.store, &value).ok_or_else(|| SandboxError::Unsupported {
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
        if ty.mutability != wasmer::Mutability::Var {
            return Err(mismatch("a mutable global (it is immutable)".into()));
        }
        let val = to_store_value(&mut self.store, &value)?;
        if val.ty() != ty.ty {
            return Err(mismatch(ty.ty.to_string()));
        }
        global
            .set(&mut self.store, val)
            .map_err(|_| mismatch(ty.ty.to_string()))
    }

    fn memory(&self, index: usize, name: &str) -> Result<wasmer::Memory, SandboxError> {
        let slot = self.slot(index)?;
        slot.instance
            .exports
            .get_memory(name)
            .cloned()
            .map_err(|_| export_not_found(&slot.info, "memory", name))
    }

    fn memory_size(&mut self, index: usize, name: &str) -> Result<u64, SandboxError> {
        let memory = self.memory(index, name)?;
        Ok(memory.view(&self.store).data_size())
    }

    fn read_memory(
        &mut self,
        index: usize,
        name: &str,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, SandboxError> {
        let memory = self.memory(index, name)?;
        let view = memory.view(&self.store);
        let size = view.data_size();
        let end = offset.checked_add(len as u64).filter(|end| *end <= size);
        if end.is_none() {
            return Err(SandboxError::RuntimeError {
                trap: Trap::MemoryOutOfBounds,
                message: format!(
                    "cannot read {len} bytes at {offset}: the memory has {size} bytes"
                ),
            });
        }
        let mut buf = vec![0; len];
        view.read(offset, &mut buf)
            .map_err(|err| SandboxError::RuntimeError {
                trap: Trap::MemoryOutOfBounds,
                message: err.to_string(),
            })?;
        Ok(buf)
    }

    fn table_size(&mut self, index: usize, name: &str) -> Result<u64, SandboxError> {
        let slot = self.slot(index)?;
        let table = slot
            .instance
            .exports
            .get_table(name)
            .cloned()
            .map_err(|_| export_not_found(&slot.info, "table", name))?;
        Ok(u64::from(table.size(&self.store)))
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

/// Any boundary value for wasmer, creating extern references in `store`.
fn to_store_value(store: &mut Store, value: &WasmValue) -> Result<Value, SandboxError> {
    Ok(match *value {
        WasmValue::V128(v) => Value::V128(v),
        WasmValue::FuncRef { null: true } => Value::FuncRef(None),
        WasmValue::FuncRef { null: false } => {
            return Err(SandboxError::Unsupported {
                reason: "a non-null function reference cannot be passed into the sandbox".into(),
            })
        }
        WasmValue::ExternRef(None) => Value::ExternRef(None),
        WasmValue::ExternRef(Some(host)) => {
            Value::ExternRef(Some(wasmer::ExternRef::new(store, host)))
        }
        ref numeric => to_value(numeric),
    })
}

/// Any boundary value from wasmer; `None` for a type that cannot cross.
fn from_store_value(store: &Store, value: &Value) -> Option<WasmValue> {
    match value {
        Value::V128(v) => Some(WasmValue::V128(*v)),
        Value::FuncRef(func) => Some(WasmValue::FuncRef {
            null: func.is_none(),
        }),
        Value::ExternRef(None) => Some(WasmValue::ExternRef(None)),
        Value::ExternRef(Some(r)) => Some(WasmValue::ExternRef(Some(
            r.downcast::<u32>(store).copied().unwrap_or(0),
        ))),
        other => from_value(other),
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
            && !(uses_wasi && sandbox_core::wasi::is_wasi_import_module(&import.module))
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
        let (env, captured, root_fd) = wasi::build_env(config, engine.wasix_runtime()?)?;
        let func_env = WasiFunctionEnv::new(store, env);
        for module in sandbox_core::wasi::MODULES {
            if sandbox_core::wasi::imports_from(info, module) {
                wasi::define_imports(
                    store,
                    &func_env,
                    &captured,
                    &root_fd,
                    host_env,
                    module,
                    &mut imports,
                );
            }
        }
        for function in sandbox_core::wasi::for_imported_snapshots(
            sandbox_core::wasi::overrides(config, captured.denials()),
            info,
        ) {
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

    /// The sandbox instrumentation's layout (length-prefixed), then wasmer's serialised module.
    fn serialize(&self) -> Result<Vec<u8>, SandboxError> {
        let module = self
            .module
            .serialize()
            .map_err(|err| SandboxError::Unsupported {
                reason: format!("wasmer cannot serialize this module: {err}"),
            })?;
        let layout = self.layout.encode();
        let mut out = Vec::with_capacity(4 + layout.len() + module.len());
        out.extend_from_slice(
            &u32::try_from(layout.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        out.extend_from_slice(&layout);
        out.extend_from_slice(&module);
        Ok(out)
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

        let mut set = StoreSet::new(self.engine.clone(), limits);
        let host_env = FunctionEnv::new(&mut set.store, HostState::default());
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
            match build_imports(&self.engine, &mut set.store, &self.info, config, &host_env) {
                Ok(built) => built,
                Err(err) => return Err(fail(err)),
            };
        let wasi_env = wasi_parts.map(|(func_env, captured)| {
            set.captured = Some(captured);
            func_env
        });
        set.add_instance(self, &imports, &host_env, wasi_env)?;
        Ok(sandbox_core::reactor::initializing(
            Box::new(WasmerInstance {
                set,
                token: InstanceToken::fresh(),
            }),
            &self.info,
        ))
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl Instance for WasmerInstance {
    fn kind(&self) -> BackendKind {
        BackendKind::Wasmer
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
        self.set.accounting.peak_memory()
    }

    fn cancel_handle(&self) -> CancelHandle {
        self.set.cancel.clone()
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

/// The most instances a linked store may hold.
const MAX_LINKED_INSTANCES: usize = 1000;

/// A wasmer store of instances linked to one another by name.
pub(crate) struct WasmerLinker {
    config: SandboxConfig,
    set: StoreSet,
    registered: HashMap<String, usize>,
}

impl WasmerLinker {
    /// An empty linked store under `config`.
    pub(crate) fn new(engine: Arc<EngineEntry>, config: SandboxConfig) -> Self {
        let limits = RunLimits::of(&config);
        WasmerLinker {
            set: StoreSet::new(engine, limits),
            config,
            registered: HashMap::new(),
        }
    }

    /// Resolves every import of `info`: from the instance registered under the import's
    /// module name, else from a host function the policy grants.
    fn imports(
        &mut self,
        info: &ModuleInfo,
        host_env: &FunctionEnv<HostState>,
    ) -> Result<Imports, SandboxError> {
        let mut imports = Imports::new();
        for import in &info.imports {
            if let Some(&index) = self.registered.get(&import.module) {
                let slot = self.set.slot(index)?;
                let export = slot.instance.exports.get_extern(&import.name).cloned();
                match export {
                    Some(export) => imports.define(&import.module, &import.name, export),
                    None => {
                        return Err(SandboxError::LinkError {
                            reason: format!(
                                "unknown import: {}::{} is not exported by the instance registered as {}",
                                import.module, import.name, import.module
                            ),
                        })
                    }
                }
                continue;
            }
            if sandbox_core::wasi::is_wasi_import_module(&import.module) {
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
            let Some(function) = self.config.host_functions.get(&import.module, &import.name)
            else {
                return Err(SandboxError::LinkError {
                    reason: format!(
                        "import {}::{} is allowed but no host function or registered instance provides it",
                        import.module, import.name
                    ),
                });
            };
            let defined = host::define(&mut self.set.store, host_env, function)?;
            imports.define(&import.module, &import.name, defined);
        }
        Ok(imports)
    }
}

impl sandbox_core::Linker for WasmerLinker {
    fn kind(&self) -> BackendKind {
        BackendKind::Wasmer
    }

    fn instantiate(
        &mut self,
        module: &dyn CompiledModule,
    ) -> Result<InstanceId, Box<ExecutionResult>> {
        let fail = |error: SandboxError| {
            Box::new(ExecutionResult::new(
                BackendKind::Wasmer,
                Outcome::Failed(error),
            ))
        };
        let Some(module) = module.as_any().downcast_ref::<WasmerModule>() else {
            return Err(fail(SandboxError::Unsupported {
                reason: format!(
                    "a module compiled by {} cannot be linked in a wasmer store",
                    module.kind()
                ),
            }));
        };
        let moved;
        let module = if Arc::ptr_eq(&module.engine, &self.set.engine) {
            module
        } else if module.engine.fuel != self.set.engine.fuel {
            return Err(fail(SandboxError::Unsupported {
                reason: "the module was compiled by a sandbox with another engine configuration \
                         (fuel metering); compile it with this store's sandbox"
                    .into(),
            }));
        } else {
            // The same configuration on another engine (engines are recycled after a bound of
            // compiled code): the code moves over to this store's engine.
            moved = module.on_engine(&self.set.engine).map_err(fail)?;
            &moved
        };
        if self.set.slots.len() >= MAX_LINKED_INSTANCES {
            return Err(fail(SandboxError::LinkError {
                reason: format!("a linked store holds at most {MAX_LINKED_INSTANCES} instances"),
            }));
        }
        let host_env = FunctionEnv::new(&mut self.set.store, HostState::default());
        let imports = match self.imports(&module.info, &host_env) {
            Ok(imports) => imports,
            Err(err) => return Err(fail(err)),
        };
        self.set
            .add_instance(module, &imports, &host_env, None)
            .map(InstanceId)
    }

    fn register(&mut self, name: &str, instance: InstanceId) -> Result<(), SandboxError> {
        self.set.slot(instance.0)?;
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
        self.set.accounting.peak_memory()
    }
}
