//! WASI reactors: modules that export `_initialize` instead of (or besides) `_start`, to be
//! initialised once and then called through their other exports (libraries, plugins, the
//! image tools of `itkwasm`). Written once for both engines: a backend wraps every instance it
//! creates with [`initializing`], which runs `_initialize` before the first call of any other
//! export, as the wasmtime CLI and the WASI application ABI say.

use crate::call::{CallReport, CapturedOutput, ExportFunc};
use crate::module::ModuleInfo;
use crate::{BackendKind, ExternKind};
use crate::{
    CancelHandle, ExecutionResult, FuncSignature, Instance, Outcome, SandboxError, WasmValue,
};

/// The export a reactor initialises itself with.
pub const INITIALIZE: &str = "_initialize";

/// Whether `info` is a reactor's: it exports `_initialize` taking and returning nothing.
pub fn is_reactor(info: &ModuleInfo) -> bool {
    info.exports.iter().any(|export| {
        export.name == INITIALIZE
            && matches!(&export.kind, ExternKind::Func { signature }
                if *signature == FuncSignature::new(vec![], vec![]))
    })
}

/// `instance`, made to run `_initialize` before its first call of another export when `info`
/// is a reactor's; `instance` itself otherwise.
pub fn initializing(instance: Box<dyn Instance>, info: &ModuleInfo) -> Box<dyn Instance> {
    if is_reactor(info) {
        Box::new(Reactor {
            inner: instance,
            info: info.clone(),
            initialized: false,
            stashed: CapturedOutput::default(),
        })
    } else {
        instance
    }
}

/// An instance of a reactor (see [`initializing`]).
struct Reactor {
    inner: Box<dyn Instance>,
    info: ModuleInfo,
    initialized: bool,
    /// What `_initialize` printed when it ran for [`Instance::call_func`], until
    /// [`Instance::take_output`] or the next [`Instance::call`].
    stashed: CapturedOutput,
}

impl Reactor {
    /// Runs `_initialize` the first time; its report, or `None` when it already ran.
    fn initialize(&mut self) -> Result<Option<ExecutionResult>, SandboxError> {
        if self.initialized {
            return Ok(None);
        }
        self.initialized = true;
        self.inner.call(INITIALIZE, &[]).map(Some)
    }

    /// [`Instance::call`], running `_initialize` first when it has not run.
    fn call_initialized(
        &mut self,
        name: &str,
        args: &[WasmValue],
    ) -> Result<ExecutionResult, SandboxError> {
        if name == INITIALIZE {
            self.initialized = true;
            return self.inner.call(name, args);
        }
        // What would be refused before the guest runs is refused before initialising.
        self.info.function(name)?.check_args(name, args)?;
        match self.initialize()? {
            None => self.inner.call(name, args),
            Some(init) if matches!(init.outcome, Outcome::Ok) => {
                Ok(after(init, self.inner.call(name, args)?))
            }
            Some(failed) => Ok(failed),
        }
    }
}

/// `report`, preceded by the initialisation `init`: output, time, fuel and denials of both.
fn after(init: ExecutionResult, mut report: ExecutionResult) -> ExecutionResult {
    let mut stdout = init.stdout;
    stdout.append(&mut report.stdout);
    report.stdout = stdout;
    let mut stderr = init.stderr;
    stderr.append(&mut report.stderr);
    report.stderr = stderr;
    report.stdout_truncated |= init.stdout_truncated;
    report.stderr_truncated |= init.stderr_truncated;
    report.execution_time += init.execution_time;
    report.fuel_consumed = match (init.fuel_consumed, report.fuel_consumed) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (a, b) => a.or(b),
    };
    report.peak_memory = report.peak_memory.max(init.peak_memory);
    let mut denied = init.denied;
    denied.append(&mut report.denied);
    report.denied = denied;
    report
}

impl Instance for Reactor {
    fn kind(&self) -> BackendKind {
        self.inner.kind()
    }

    fn call(&mut self, name: &str, args: &[WasmValue]) -> Result<ExecutionResult, SandboxError> {
        let report = self.call_initialized(name, args)?;
        if self.stashed == CapturedOutput::default() {
            return Ok(report);
        }
        let stash = std::mem::take(&mut self.stashed);
        let init = ExecutionResult {
            stdout: stash.stdout,
            stderr: stash.stderr,
            stdout_truncated: stash.stdout_truncated,
            stderr_truncated: stash.stderr_truncated,
            denied: stash.denied,
            ..ExecutionResult::new(report.backend, Outcome::Ok)
        };
        Ok(after(init, report))
    }

    fn export_func(&mut self, name: &str) -> Result<ExportFunc, SandboxError> {
        self.inner.export_func(name)
    }

    fn call_func(
        &mut self,
        func: &ExportFunc,
        args: &[WasmValue],
        results: &mut [WasmValue],
    ) -> Result<CallReport, SandboxError> {
        if self.initialized || func.name() == INITIALIZE {
            self.initialized = true;
            return self.inner.call_func(func, args, results);
        }
        // What would be refused before the guest runs is refused before initialising.
        func.signature().check_args(func.name(), args)?;
        let Some(mut init) = self.initialize()? else {
            return self.inner.call_func(func, args, results);
        };
        let stash = &mut self.stashed;
        stash.stdout.append(&mut init.stdout);
        stash.stderr.append(&mut init.stderr);
        stash.stdout_truncated |= init.stdout_truncated;
        stash.stderr_truncated |= init.stderr_truncated;
        stash.denied.append(&mut init.denied);
        if !matches!(init.outcome, Outcome::Ok) {
            return Ok(CallReport {
                outcome: init.outcome,
                execution_time: init.execution_time,
                fuel_consumed: init.fuel_consumed,
                peak_memory: init.peak_memory,
            });
        }
        let mut report = self.inner.call_func(func, args, results)?;
        report.execution_time += init.execution_time;
        report.fuel_consumed = match (init.fuel_consumed, report.fuel_consumed) {
            (Some(a), Some(b)) => Some(a.saturating_add(b)),
            (a, b) => a.or(b),
        };
        Ok(report)
    }

    fn take_output(&mut self) -> CapturedOutput {
        let mut output = std::mem::take(&mut self.stashed);
        let mut later = self.inner.take_output();
        output.stdout.append(&mut later.stdout);
        output.stderr.append(&mut later.stderr);
        output.stdout_truncated |= later.stdout_truncated;
        output.stderr_truncated |= later.stderr_truncated;
        output.denied.append(&mut later.denied);
        output
    }

    fn fuel_consumed(&self) -> Option<u64> {
        self.inner.fuel_consumed()
    }

    fn peak_memory(&self) -> u64 {
        self.inner.peak_memory()
    }

    /// The inner instance's: a request pending before the first call stops `_initialize`,
    /// whose report that call returns.
    fn cancel_handle(&self) -> CancelHandle {
        self.inner.cancel_handle()
    }

    fn global(&mut self, name: &str) -> Result<WasmValue, SandboxError> {
        self.inner.global(name)
    }

    fn set_global(&mut self, name: &str, value: WasmValue) -> Result<(), SandboxError> {
        self.inner.set_global(name, value)
    }

    fn memory_size(&mut self, name: &str) -> Result<u64, SandboxError> {
        self.inner.memory_size(name)
    }

    fn read_memory(
        &mut self,
        name: &str,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, SandboxError> {
        self.inner.read_memory(name, offset, len)
    }

    fn table_size(&mut self, name: &str) -> Result<u64, SandboxError> {
        self.inner.table_size(name)
    }
}
