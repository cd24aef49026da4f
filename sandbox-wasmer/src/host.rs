//! Host functions: the embedder's ([`SandboxConfig::host_functions`]) and the sandbox's own
//! WASI clock and random functions, registered as wasmer functions.
//!
//! Each call builds a [`HostContext`] over the calling instance's memory exported as `memory`
//! (through wasmer's bounds-checked `MemoryView`) and the fuel the instance has consumed so far
//! (the budget minus what is left in the metering global, which the instrumentation brings up
//! to date before every call, as wasmtime does). A [`sandbox_core::HostError`] (or a panic) ends
//! the run with [`HostFunction::trap`].
//!
//! Each call is counted in the run's [`crate::watchdog::RunSignal`], and a run the watchdog
//! says must stop (its deadline passed, or it was cancelled) ends at the call's entry or exit
//! with [`RunStopped`]: such runs are stopped without an interrupt signal, which wasmer
//! mishandles around host calls (see `watchdog`).
//!
//! [`SandboxConfig::host_functions`]: sandbox_core::SandboxConfig::host_functions

use crate::watchdog::{with_current_signal, RunStopped};
use sandbox_core::{
    GuestMemory, HostContext, HostError, HostFunction, SandboxError, Trap, ValType, WasmValue,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use wasmer::{
    AsStoreMut, Function, FunctionEnv, FunctionEnvMut, FunctionType, Global, Memory, MemoryView,
    RuntimeError, Type, Value,
};

/// What host functions of one instance can reach, filled in once the instance exists.
#[derive(Debug, Default)]
pub(crate) struct HostState {
    /// The instance's export `memory`, if it has one.
    pub(crate) memory: Option<Memory>,
    /// The instance's remaining-fuel global and its budget, when metering is on.
    pub(crate) fuel: Option<(Global, u64)>,
    /// Host calls made so far.
    calls: u64,
}

/// The error a host function ends the run with.
#[derive(Debug)]
pub(crate) struct HostTrap(pub(crate) SandboxError);

impl std::fmt::Display for HostTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for HostTrap {}

/// Guest memory as a [`GuestMemory`]: every access bounds-checked by wasmer.
struct ViewMemory<'a> {
    view: MemoryView<'a>,
}

impl GuestMemory for ViewMemory<'_> {
    fn size(&self) -> u64 {
        self.view.data_size()
    }

    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), HostError> {
        self.view.read(offset, buf).map_err(|err| {
            HostError::new(format!(
                "cannot read {} bytes of guest memory at {offset}: {err}",
                buf.len()
            ))
        })
    }

    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), HostError> {
        self.view.write(offset, data).map_err(|err| {
            HostError::new(format!(
                "cannot write {} bytes of guest memory at {offset}: {err}",
                data.len()
            ))
        })
    }
}

fn wasmer_type(ty: ValType) -> Option<Type> {
    match ty {
        ValType::I32 => Some(Type::I32),
        ValType::I64 => Some(Type::I64),
        ValType::F32 => Some(Type::F32),
        ValType::F64 => Some(Type::F64),
        _ => None,
    }
}

pub(crate) fn to_value(value: &WasmValue) -> Value {
    match *value {
        WasmValue::I32(v) => Value::I32(v),
        WasmValue::I64(v) => Value::I64(v),
        WasmValue::F32(v) => Value::F32(v),
        WasmValue::F64(v) => Value::F64(v),
        // Host functions take numbers only (their signatures are checked when they are
        // defined); the other values are converted with the store in `instance`.
        WasmValue::V128(v) => Value::V128(v),
        WasmValue::FuncRef { .. } => Value::FuncRef(None),
        WasmValue::ExternRef(_) => Value::ExternRef(None),
    }
}

pub(crate) fn from_value(value: &Value) -> Option<WasmValue> {
    match *value {
        Value::I32(v) => Some(WasmValue::I32(v)),
        Value::I64(v) => Some(WasmValue::I64(v)),
        Value::F32(v) => Some(WasmValue::F32(v)),
        Value::F64(v) => Some(WasmValue::F64(v)),
        _ => None,
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".to_string())
}

/// `function` as a wasmer function over `env`.
///
/// Fails with `unsupported` if its signature has types that cannot cross the sandbox boundary.
pub(crate) fn define(
    store: &mut impl AsStoreMut,
    env: &FunctionEnv<HostState>,
    function: &HostFunction,
) -> Result<Function, SandboxError> {
    let types = |list: &[ValType]| -> Result<Vec<Type>, SandboxError> {
        list.iter()
            .map(|ty| {
                wasmer_type(*ty).ok_or_else(|| SandboxError::Unsupported {
                    reason: format!(
                        "host function {}::{} has the signature {}, whose types cannot cross \
                         the sandbox boundary",
                        function.module, function.name, function.signature
                    ),
                })
            })
            .collect()
    };
    let ty = FunctionType::new(
        types(&function.signature.params)?,
        types(&function.signature.results)?,
    );
    let function = function.clone();
    Ok(Function::new_with_env(
        store,
        env,
        ty,
        move |mut env: FunctionEnvMut<HostState>, args: &[Value]| {
            with_current_signal(|signal| signal.map_or(Ok(()), |signal| signal.enter_host()))
                .map_err(stopped)?;
            let result = call(&function, &mut env, args);
            let left =
                with_current_signal(|signal| signal.map_or(Ok(()), |signal| signal.leave_host()));
            // The function's own error, if it failed, is the run's outcome.
            let results = result?;
            left.map_err(stopped)?;
            Ok(results)
        },
    ))
}

/// The error that ends a run the watchdog stopped.
fn stopped(stop: RunStopped) -> RuntimeError {
    RuntimeError::user(Box::new(stop))
}

/// Calls `function` with a context over the calling instance.
fn call(
    function: &HostFunction,
    env: &mut FunctionEnvMut<HostState>,
    args: &[Value],
) -> Result<Vec<Value>, RuntimeError> {
    let (state, mut store) = env.data_and_store_mut();
    let fuel_consumed = state.fuel.as_ref().map(|(global, budget)| {
        let remaining = match global.get(&mut store) {
            Value::I64(v) => u64::try_from(v).unwrap_or(0),
            _ => 0,
        };
        budget.saturating_sub(remaining)
    });
    let calls = state.calls;
    state.calls = calls.saturating_add(1);
    // Arguments arrive checked against the signature, which is numeric.
    let args: Vec<WasmValue> = args.iter().filter_map(from_value).collect();
    let mut memory = state.memory.as_ref().map(|memory| ViewMemory {
        view: memory.view(&store),
    });
    let mut ctx = HostContext::new(
        memory.as_mut().map(|m| m as &mut dyn GuestMemory),
        fuel_consumed,
    );
    ctx.calls = calls;
    let outcome = catch_unwind(AssertUnwindSafe(|| function.call(&mut ctx, &args)));
    match outcome {
        Ok(Ok(results)) => Ok(results.iter().map(to_value).collect()),
        Ok(Err(err)) => Err(RuntimeError::user(Box::new(HostTrap(HostFunction::trap(
            &err,
        ))))),
        Err(panic) => Err(RuntimeError::user(Box::new(HostTrap(
            SandboxError::trap_with(
                Trap::Other,
                format!(
                    "host function {}::{} panicked: {}",
                    function.module,
                    function.name,
                    panic_message(&*panic)
                ),
            ),
        )))),
    }
}
