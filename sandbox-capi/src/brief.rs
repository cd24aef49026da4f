//! The product brief's C API, with its exact names and shapes: one handle holding an engine,
//! one module and one instance; integer arguments converted by the export's signature; a
//! result struct with the values, time, fuel, peak memory, error message and success flag.
//!
//! ```c
//! sandbox_config_t config = sandbox_config_default();
//! sandbox_t *sb = sandbox_create(config);
//! sandbox_load_module(sb, wasm, wasm_len);
//! sandbox_instantiate(sb);
//! int64_t args[] = {5, 7};
//! execution_result_t r = sandbox_call(sb, "add", args, 2);
//! if (r.success) printf("Result: %lld\n", (long long)r.return_values[0]);
//! execution_result_free(&r);
//! sandbox_destroy(sb);
//! ```

use crate::error::{c_string, sandbox_outcome_t, Error};
use crate::ffi::{self, tagged};
use crate::options::{duration, fuel_limit, import_entry, sandbox_backend_t, RawBackend};
use crate::value::{from_i64, to_i64};
use facade::{
    CompiledModule, ExecutionResult, ExportFunc, Instance, Runtime, SandboxConfig, WasmValue,
};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, CString};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

/// The limits of a sandbox (the product brief's configuration).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct sandbox_config_t {
    /// Linear memory limit in bytes (default 64 MiB).
    pub max_memory_bytes: u64,
    /// Wall-clock limit of one call in seconds (default 5.0; finite, above zero).
    pub max_execution_time_sec: f64,
    /// Fuel budget of one call (default 10,000,000); `SANDBOX_FUEL_UNLIMITED` turns
    /// metering off.
    pub max_fuel: u64,
    /// Wasm stack limit in bytes (default 1 MiB; 8 KiB to 64 MiB).
    pub max_stack_size: u64,
}

/// What one `sandbox_call` reports, whatever its outcome. Release what it owns with
/// `execution_result_free`.
#[repr(C)]
#[derive(Debug)]
pub struct execution_result_t {
    /// The values the function returned, as `int64_t` (i32 sign-extended; f32/f64 converted
    /// toward zero, saturating, NaN as 0); NULL when there are none. Owned.
    pub return_values: *mut i64,
    /// How many values `return_values` holds.
    pub num_returns: usize,
    /// Wall-clock time of the call in seconds.
    pub execution_time_sec: f64,
    /// Fuel the call consumed (0 when metering is off).
    pub fuel_consumed: u64,
    /// Peak linear memory of the instance in bytes.
    pub peak_memory: u64,
    /// What went wrong (NULL on success). Owned.
    pub error_message: *mut c_char,
    /// Whether the call completed normally.
    pub success: bool,
    /// How the call ended.
    pub outcome: sandbox_outcome_t,
    /// The exit code when `outcome` is `SANDBOX_OUTCOME_EXIT` (WASI `proc_exit`), else 0.
    pub exit_code: i32,
}

impl From<SandboxConfig> for sandbox_config_t {
    fn from(config: SandboxConfig) -> Self {
        sandbox_config_t {
            max_memory_bytes: config.max_memory_bytes,
            max_execution_time_sec: config.max_execution_time.as_secs_f64(),
            max_fuel: config.max_fuel.unwrap_or(crate::SANDBOX_FUEL_UNLIMITED),
            max_stack_size: config.max_stack_size,
        }
    }
}

impl sandbox_config_t {
    /// The full configuration: the default preset with these four limits.
    fn to_config(self) -> Result<SandboxConfig, Error> {
        let config = SandboxConfig {
            max_memory_bytes: self.max_memory_bytes,
            max_execution_time: duration(self.max_execution_time_sec)?,
            max_fuel: fuel_limit(self.max_fuel),
            max_stack_size: self.max_stack_size,
            ..SandboxConfig::default()
        };
        config.validate()?;
        Ok(config)
    }
}

/// The default limits: 64 MiB of memory, 5 s, 10,000,000 fuel, 1 MiB of stack.
#[no_mangle]
pub extern "C" fn sandbox_config_default() -> sandbox_config_t {
    SandboxConfig::default().into()
}

/// The `minimal` preset's limits: 1 MiB, 100 ms, 100,000 fuel, 64 KiB of stack.
#[no_mangle]
pub extern "C" fn sandbox_config_minimal() -> sandbox_config_t {
    SandboxConfig::minimal().into()
}

/// The `compute` preset's limits: 256 MiB, 30 s, 1,000,000,000 fuel, 8 MiB of stack.
#[no_mangle]
pub extern "C" fn sandbox_config_compute() -> sandbox_config_t {
    SandboxConfig::compute().into()
}

/// One sandboxed guest: an engine under a configuration, at most one loaded module and at
/// most one live instance of it. One thread at a time (a call while another runs fails).
pub struct sandbox_t {
    state: Mutex<State>,
    last_error: Mutex<CString>,
}
tagged!(sandbox_t, "sandbox_t");

struct State {
    runtime: Runtime,
    config: SandboxConfig,
    sandbox: Arc<dyn facade::Sandbox>,
    /// The loaded module's bytes, to load again under a policy changed afterwards.
    bytes: Option<Vec<u8>>,
    module: Option<Arc<dyn CompiledModule>>,
    instance: Option<Live>,
}

/// The live instance and the exports `sandbox_call` resolved on it (the call fast path:
/// each name looked up once per instance).
struct Live {
    instance: Box<dyn Instance>,
    funcs: HashMap<String, ExportFunc>,
}

impl Live {
    fn new(instance: Box<dyn Instance>) -> Self {
        Live {
            instance,
            funcs: HashMap::new(),
        }
    }
}

thread_local! {
    /// The last failure of `sandbox_create` on this thread (`sandbox_last_error(NULL)`).
    static CREATE_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

impl sandbox_t {
    fn state(&self) -> Result<MutexGuard<'_, State>, Error> {
        match self.state.try_lock() {
            Ok(state) => Ok(state),
            Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => Err(Error::invalid_argument(
                "the sandbox is in use by another call (a sandbox_t belongs to one thread at a time)",
            )),
        }
    }

    fn remember(&self, error: &Error) {
        let mut last = self.last_error.lock().unwrap_or_else(|e| e.into_inner());
        *last = c_string(error.message.clone());
    }
}

/// Runs `body` on the sandbox behind `sandbox`: 0 on success, -1 on failure (the message
/// then available from `sandbox_last_error`).
///
/// # Safety
///
/// `sandbox` must be NULL or a sandbox of this library.
unsafe fn status(
    sandbox: *mut sandbox_t,
    body: impl FnOnce(&mut State) -> Result<(), Error>,
) -> c_int {
    let error = ffi::guard(|| {
        // SAFETY: forwarded.
        let handle = unsafe { ffi::get(sandbox) }?;
        let result = handle.state().and_then(|mut state| body(&mut state));
        if let Err(error) = &result {
            handle.remember(error);
        }
        result
    });
    if error.is_null() {
        0
    } else {
        // A NULL or invalid sandbox has nowhere to keep the message: the thread's slot.
        // SAFETY: made just above, not used afterwards.
        let message = unsafe { crate::error::sandbox_error_message(error) };
        // SAFETY: a valid C string of the error object, copied before it is freed.
        let message = unsafe { std::ffi::CStr::from_ptr(message) }.to_owned();
        // SAFETY: made just above.
        if unsafe { ffi::get(sandbox) }.is_err() {
            CREATE_ERROR.with(|slot| *slot.borrow_mut() = message);
        }
        // SAFETY: made by `guard`, not used afterwards.
        unsafe { crate::error::sandbox_error_delete(error) };
        -1
    }
}

/// A sandbox on the default engine (wasmtime) with these limits, or NULL if the
/// configuration is unusable (the reason from `sandbox_last_error(NULL)`). Nothing is
/// granted beyond WASI's capability-checked functions; the clock is virtual.
#[no_mangle]
pub extern "C" fn sandbox_create(config: sandbox_config_t) -> *mut sandbox_t {
    create(config, None)
}

/// `sandbox_create` on the engine `backend`.
#[no_mangle]
pub extern "C" fn sandbox_create_with_backend(
    config: sandbox_config_t,
    backend: RawBackend,
) -> *mut sandbox_t {
    create(config, Some(backend))
}

fn create(config: sandbox_config_t, backend: Option<RawBackend>) -> *mut sandbox_t {
    let made = ffi::guard_or(
        Err(Error::new(
            sandbox_outcome_t::SANDBOX_OUTCOME_INTERNAL_ERROR,
            "internal error while creating the sandbox",
        )),
        || {
            let runtime = match backend {
                Some(raw) => sandbox_backend_t::from_raw(raw)?,
                None => facade::default_runtime()?,
            };
            let config = config.to_config()?;
            let sandbox = facade::sandbox(runtime, config.clone())?;
            Ok(ffi::into_raw(sandbox_t {
                state: Mutex::new(State {
                    runtime,
                    config,
                    sandbox,
                    bytes: None,
                    module: None,
                    instance: None,
                }),
                last_error: Mutex::new(CString::default()),
            }))
        },
    );
    match made {
        Ok(sandbox) => sandbox,
        Err(error) => {
            CREATE_ERROR.with(|slot| *slot.borrow_mut() = c_string(error.message));
            std::ptr::null_mut()
        }
    }
}

/// Validates, checks against the import policy and compiles `len` bytes of WebAssembly
/// (binary or WAT text), replacing any loaded module and its instance. 0 on success, -1 on
/// failure (see `sandbox_last_error`).
///
/// # Safety
///
/// `sandbox` must be NULL or a sandbox of this library; `bytes` NULL or readable for `len`
/// bytes.
#[no_mangle]
pub unsafe extern "C" fn sandbox_load_module(
    sandbox: *mut sandbox_t,
    bytes: *const u8,
    len: usize,
) -> c_int {
    // SAFETY: forwarded.
    unsafe {
        status(sandbox, |state| {
            let bytes = ffi::slice(bytes, len, "bytes")?;
            state.instance = None;
            state.module = None;
            state.bytes = None;
            state.module = Some(state.sandbox.load(bytes)?);
            state.bytes = Some(bytes.to_vec());
            Ok(())
        })
    }
}

/// Creates a fresh instance of the loaded module (running its start function), replacing
/// the previous one: memory, globals and fuel start over. 0 on success, -1 on failure.
///
/// # Safety
///
/// `sandbox` must be NULL or a sandbox of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_instantiate(sandbox: *mut sandbox_t) -> c_int {
    // SAFETY: forwarded.
    unsafe { status(sandbox, instantiate) }
}

fn instantiate(state: &mut State) -> Result<(), Error> {
    let module = state.module.as_ref().ok_or_else(no_module)?;
    state.instance = None;
    let instance = module
        .instantiate(state.sandbox.config())
        .map_err(|report| Error::from_failed_instantiation(&report))?;
    state.instance = Some(Live::new(instance));
    Ok(())
}

fn no_module() -> Error {
    Error::invalid_argument("no module is loaded: call sandbox_load_module first")
}

/// Grants the import `module::name` (`name` may be `*`). A module already loaded is loaded
/// again under the new policy (its instance is dropped). 0 on success, -1 on failure.
///
/// # Safety
///
/// `sandbox` must be NULL or a sandbox of this library; `module` and `name` NULL or
/// NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn sandbox_allow_import(
    sandbox: *mut sandbox_t,
    module: *const c_char,
    name: *const c_char,
) -> c_int {
    // SAFETY: forwarded.
    unsafe {
        status(sandbox, |state| {
            let entry = import_entry(module, name)?;
            if state.config.allowed_imports.contains(&entry) {
                return Ok(());
            }
            let mut config = state.config.clone();
            config.allowed_imports.push(entry);
            let sandbox = facade::sandbox(state.runtime, config.clone())?;
            state.config = config;
            state.sandbox = sandbox;
            state.instance = None;
            state.module = None;
            if let Some(bytes) = state.bytes.take() {
                state.module = Some(state.sandbox.load(&bytes)?);
                state.bytes = Some(bytes);
            }
            Ok(())
        })
    }
}

/// Calls the export `func` with `nargs` arguments, converted by its signature (i32 takes
/// -2^31 to 2^32-1, i64 any value, f32/f64 the integer's value). Instantiates first if
/// needed. Never fails to return: a NULL sandbox or name, a missing function, a wrong
/// argument count, a trap or a limit all give `success == false` with the `outcome` and an
/// `error_message`; time, fuel and peak memory are reported whatever the outcome. Release
/// the result with `execution_result_free`.
///
/// # Safety
///
/// `sandbox` must be NULL or a sandbox of this library; `func` NULL or a NUL-terminated
/// string; `args` NULL or readable for `nargs` values.
#[no_mangle]
pub unsafe extern "C" fn sandbox_call(
    sandbox: *mut sandbox_t,
    func: *const c_char,
    args: *const i64,
    nargs: usize,
) -> execution_result_t {
    ffi::guard_with(
        || {
            failed(Error::new(
                sandbox_outcome_t::SANDBOX_OUTCOME_INTERNAL_ERROR,
                "internal error during the call",
            ))
        },
        || {
            // SAFETY: forwarded.
            let handle = match unsafe { ffi::get(sandbox) } {
                Ok(handle) => handle,
                Err(error) => return failed(error),
            };
            // SAFETY: forwarded.
            match unsafe { call(handle, func, args, nargs) } {
                Ok(result) => {
                    if !result.error_message.is_null() {
                        // SAFETY: a NUL-terminated string this library just made.
                        let message = unsafe { std::ffi::CStr::from_ptr(result.error_message) };
                        handle.remember(&Error::new(
                            result.outcome,
                            message.to_string_lossy().into_owned(),
                        ));
                    }
                    result
                }
                Err(error) => {
                    handle.remember(&error);
                    failed(error)
                }
            }
        },
    )
}

/// Arguments converted on the stack up to this many (more go to the heap).
const STACK_ARGS: usize = 4;

/// The call behind `sandbox_call`: the C struct of the run's report, or why the call could
/// not start. Kept free of per-call heap work beyond the engine's own and the returned
/// values' `malloc`.
///
/// # Safety
///
/// As `sandbox_call`.
unsafe fn call(
    handle: &sandbox_t,
    func: *const c_char,
    args: *const i64,
    nargs: usize,
) -> Result<execution_result_t, Error> {
    // SAFETY: forwarded.
    let func = unsafe { ffi::string(func, "func") }?;
    // SAFETY: forwarded.
    let args = unsafe { ffi::slice(args, nargs, "args") }?;
    let mut state = handle.state()?;
    let State {
        sandbox,
        module,
        instance,
        ..
    } = &mut *state;
    let module = module.as_ref().ok_or_else(no_module)?;
    let signature = module.info().function(func)?;
    if args.len() != signature.params.len() {
        return Err(Error::new(
            sandbox_outcome_t::SANDBOX_OUTCOME_TYPE_MISMATCH,
            format!(
                "{func} takes {} argument(s) {signature}, {} given",
                signature.params.len(),
                args.len()
            ),
        ));
    }
    let mut on_stack = [WasmValue::I32(0); STACK_ARGS];
    let on_heap: Vec<WasmValue>;
    let values: &[WasmValue] = if args.len() <= STACK_ARGS {
        // Each value written in place: no `Result` in between to copy (this loop is on the
        // path of every call).
        for (index, ((ty, value), slot)) in signature
            .params
            .iter()
            .zip(args)
            .zip(on_stack.iter_mut())
            .enumerate()
        {
            *slot = from_i64(*ty, *value, func, index)?;
        }
        &on_stack[..args.len()]
    } else {
        on_heap = signature
            .params
            .iter()
            .zip(args)
            .enumerate()
            .map(|(index, (ty, value))| from_i64(*ty, *value, func, index))
            .collect::<Result<_, _>>()?;
        &on_heap
    };
    if instance.is_none() {
        match module.instantiate(sandbox.config()) {
            Ok(made) => *instance = Some(Live::new(made)),
            Err(report) => return Ok(result_of(&report)),
        }
    }
    let Live { instance, funcs } = instance.as_mut().ok_or_else(no_module)?;
    // The fast path: the export resolved once, the results in a small array; the output the
    // brief's result has no place for is taken (and dropped) as `call` would.
    let export = match funcs.get(func) {
        Some(export) => export,
        None => {
            let export = instance.export_func(func)?;
            // Bounded by the module's exports: only exported names get here.
            funcs.entry(func.to_string()).or_insert(export)
        }
    };
    let mut on_stack = [WasmValue::I32(0); STACK_ARGS];
    let mut on_heap: Vec<WasmValue>;
    let count = export.signature().results.len();
    let results: &mut [WasmValue] = if count <= STACK_ARGS {
        &mut on_stack[..count]
    } else {
        on_heap = vec![WasmValue::I32(0); count];
        &mut on_heap
    };
    let call = instance.call_func(export, values, results)?;
    let output = instance.take_output();
    let report = call.into_execution_result(instance.kind(), results.to_vec(), output);
    Ok(result_of(&report))
}

/// The C struct of a report.
fn result_of(report: &ExecutionResult) -> execution_result_t {
    let mut result = execution_result_t {
        return_values: std::ptr::null_mut(),
        num_returns: 0,
        execution_time_sec: report.execution_time.as_secs_f64(),
        fuel_consumed: report.fuel_consumed.unwrap_or(0),
        peak_memory: report.peak_memory,
        error_message: std::ptr::null_mut(),
        success: report.outcome.is_success(),
        outcome: sandbox_outcome_t::of(&report.outcome),
        exit_code: report.exit_code().unwrap_or(0),
    };
    if let Some(error) = report.outcome.error() {
        result.error_message = malloc_string(&error.to_string());
    }
    let values = &report.return_values;
    if !values.is_empty() {
        // SAFETY: plain allocation; checked for NULL below.
        let ptr =
            unsafe { libc::malloc(std::mem::size_of_val(values.as_slice()).max(8)) }.cast::<i64>();
        if ptr.is_null() {
            result.success = false;
            result.outcome = sandbox_outcome_t::SANDBOX_OUTCOME_INTERNAL_ERROR;
        } else {
            for (index, value) in values.iter().enumerate() {
                // SAFETY: `ptr` holds `values.len()` i64s.
                unsafe { ptr.add(index).write(to_i64(value)) };
            }
            result.return_values = ptr;
            result.num_returns = values.len();
        }
    }
    result
}

/// The C struct of a call that could not run.
fn failed(error: Error) -> execution_result_t {
    execution_result_t {
        return_values: std::ptr::null_mut(),
        num_returns: 0,
        execution_time_sec: 0.0,
        fuel_consumed: 0,
        peak_memory: 0,
        error_message: malloc_string(&error.message),
        success: false,
        outcome: error.kind,
        exit_code: 0,
    }
}

/// `text` copied into a `malloc`ed C string (NUL bytes replaced); NULL if out of memory.
fn malloc_string(text: &str) -> *mut c_char {
    let text = c_string(text.to_string());
    let bytes = text.as_bytes_with_nul();
    // SAFETY: plain allocation of the string's size; checked for NULL.
    let ptr = unsafe { libc::malloc(bytes.len()) }.cast::<u8>();
    if !ptr.is_null() {
        // SAFETY: `ptr` holds `bytes.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len()) };
    }
    ptr.cast()
}

/// Releases what a result owns (`return_values`, `error_message`) and clears those fields,
/// so freeing the same struct twice is harmless. NULL is ignored.
///
/// # Safety
///
/// `result` must be NULL or point to a result returned by `sandbox_call` (or zeroed), whose
/// pointers were not changed.
#[no_mangle]
pub unsafe extern "C" fn execution_result_free(result: *mut execution_result_t) {
    if result.is_null() {
        return;
    }
    // SAFETY: `result` points to a result struct (the caller's guarantee); only its two
    // pointer fields are read, each `malloc`ed by this library or NULL.
    unsafe {
        let values = std::ptr::addr_of_mut!((*result).return_values);
        libc::free(values.read().cast());
        values.write(std::ptr::null_mut());
        std::ptr::addr_of_mut!((*result).num_returns).write(0);
        let message = std::ptr::addr_of_mut!((*result).error_message);
        libc::free(message.read().cast());
        message.write(std::ptr::null_mut());
    }
}

/// The message of the last failure on `sandbox` (of `sandbox_create` on this thread when
/// `sandbox` is NULL); an empty string if nothing has failed. Borrowed: valid until the next
/// call on that sandbox (or the next `sandbox_create` on this thread). Never NULL.
///
/// # Safety
///
/// `sandbox` must be NULL or a sandbox of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_last_error(sandbox: *const sandbox_t) -> *const c_char {
    ffi::guard_or(c"".as_ptr(), || {
        if sandbox.is_null() {
            return CREATE_ERROR.with(|slot| slot.borrow().as_ptr());
        }
        // SAFETY: forwarded.
        match unsafe { ffi::get(sandbox) } {
            Ok(sandbox) => sandbox
                .last_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_ptr(),
            Err(_) => c"invalid sandbox_t pointer".as_ptr(),
        }
    })
}

/// Releases a sandbox, its module and its instance. NULL is ignored.
///
/// # Safety
///
/// `sandbox` must be NULL or a sandbox of this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn sandbox_destroy(sandbox: *mut sandbox_t) {
    // SAFETY: forwarded.
    ffi::guard_or((), || unsafe { ffi::delete(sandbox) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_is_the_brief_default() {
        let config = sandbox_config_default();
        assert_eq!(config.max_memory_bytes, 64 << 20);
        assert_eq!(config.max_execution_time_sec, 5.0);
        assert_eq!(config.max_fuel, 10_000_000);
        assert_eq!(config.max_stack_size, 1 << 20);
        assert_eq!(sandbox_config_minimal().max_fuel, 100_000);
    }

    #[test]
    fn a_bad_config_gives_null_and_a_message() {
        let mut config = sandbox_config_default();
        config.max_execution_time_sec = f64::NAN;
        assert!(sandbox_create(config).is_null());
        let message = unsafe { std::ffi::CStr::from_ptr(sandbox_last_error(std::ptr::null())) };
        assert!(
            message.to_str().unwrap().contains("time limit"),
            "{message:?}"
        );
        assert!(sandbox_create_with_backend(sandbox_config_default(), 7).is_null());
    }
}
