//! Instances, calls, WASI command runs and cancellation.

use crate::error::{sandbox_error_t, Error};
use crate::ffi::{self, tagged, Out};
use crate::module::sandbox_module_t;
use crate::result::sandbox_result_t;
use crate::value::sandbox_val_t;
use crate::wasi::sandbox_wasi_t;
use facade::{CancelHandle, Instance, SandboxConfig, WasmValue};
use std::borrow::Cow;
use std::ffi::c_char;
use std::sync::{Mutex, OnceLock, TryLockError};

/// A live instance of a module: its memory, globals and tables persist from call to call.
/// Belongs to one thread at a time: a call while another call on it is running (from
/// another thread, or from a host function it called) fails with
/// `SANDBOX_OUTCOME_INVALID_ARGUMENT`. Keeps its module alive.
pub struct sandbox_instance_t {
    instance: Mutex<Box<dyn Instance>>,
    cancel: OnceLock<CancelHandle>,
}
tagged!(sandbox_instance_t, "sandbox_instance_t");

/// The instance behind `instance`, locked for one call.
fn lock(
    instance: &sandbox_instance_t,
) -> Result<std::sync::MutexGuard<'_, Box<dyn Instance>>, Error> {
    match instance.instance.try_lock() {
        Ok(guard) => Ok(guard),
        // A panic inside an engine during an earlier call was caught at the boundary; the
        // instance's state is the engine's, still consistent.
        Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
        Err(TryLockError::WouldBlock) => Err(Error::invalid_argument(
            "the instance is in use by another call (on another thread, or the host function \
             that is running); give each thread its own instance",
        )),
    }
}

/// The configuration of a run: the engine's, with `wasi` applied.
///
/// # Safety
///
/// `wasi` must be NULL or WASI settings of this library.
unsafe fn run_config<'a>(
    module: &'a sandbox_module_t,
    wasi: *const sandbox_wasi_t,
) -> Result<Cow<'a, SandboxConfig>, Error> {
    if wasi.is_null() {
        return Ok(Cow::Borrowed(module.sandbox.config()));
    }
    // SAFETY: forwarded.
    let wasi = unsafe { ffi::get(wasi) }?;
    Ok(Cow::Owned(wasi.apply(module.sandbox.config())?))
}

/// Instantiates `module` with the WASI settings `wasi` (NULL: none) and runs its start
/// function. A start function that fails (a trap, a limit) is an error of that outcome's
/// kind.
///
/// # Safety
///
/// `module` must be NULL or a module of this library; `wasi` NULL or WASI settings of this
/// library; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_instance_new(
    module: *const sandbox_module_t,
    wasi: *const sandbox_wasi_t,
    out: *mut *mut sandbox_instance_t,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: forwarded.
        let module = unsafe { ffi::get(module) }?;
        // SAFETY: forwarded.
        let config = unsafe { run_config(module, wasi) }?;
        let instance = module
            .module
            .instantiate(&config)
            .map_err(|report| Error::from_failed_instantiation(&report))?;
        out.set(ffi::into_raw(sandbox_instance_t {
            instance: Mutex::new(instance),
            cancel: OnceLock::new(),
        }));
        Ok(())
    })
}

/// Calls the export `name` with `nargs` arguments, whose kinds must match its parameters
/// exactly. The run's report, whatever its outcome (a trap or a limit is a result, not an
/// error), goes to `out`; an error means the call could not start: no such function,
/// arguments of the wrong number or kinds, the instance busy.
///
/// # Safety
///
/// `instance` must be NULL or an instance of this library; `name` NULL or a NUL-terminated
/// string; `args` NULL or `nargs` values; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_instance_call(
    instance: *const sandbox_instance_t,
    name: *const c_char,
    args: *const sandbox_val_t,
    nargs: usize,
    out: *mut *mut sandbox_result_t,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: forwarded.
        let instance = unsafe { ffi::get(instance) }?;
        // SAFETY: forwarded.
        let name = unsafe { ffi::string(name, "name") }?;
        // SAFETY: forwarded.
        let args: Vec<WasmValue> = unsafe { ffi::slice(args, nargs, "args") }?
            .iter()
            .map(|arg| arg.to_wasm())
            .collect::<Result<_, _>>()?;
        let report = lock(instance)?.call(name, &args)?;
        out.set(ffi::into_raw(sandbox_result_t::new(report)));
        Ok(())
    })
}

/// Runs `module` as a WASI command in a fresh instance: its `_start` (a reactor: its
/// `_initialize`, then its default export `""`), with the WASI settings `wasi` (NULL: none).
/// The report, whatever the outcome (a non-zero exit code, a trap, a limit, a failed
/// instantiation), goes to `out`; an error means the run could not start (no entry point,
/// bad settings).
///
/// # Safety
///
/// `module` must be NULL or a module of this library; `wasi` NULL or WASI settings of this
/// library; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_run(
    module: *const sandbox_module_t,
    wasi: *const sandbox_wasi_t,
    out: *mut *mut sandbox_result_t,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: forwarded.
        let module = unsafe { ffi::get(module) }?;
        // SAFETY: forwarded.
        let config = unsafe { run_config(module, wasi) }?;
        let entry = facade::wasi::entry_point(module.module.info());
        module
            .module
            .info()
            .function(entry)?
            .check_args(entry, &[])?;
        let report = match module.module.instantiate(&config) {
            Ok(mut instance) => instance.call(entry, &[])?,
            Err(report) => *report,
        };
        out.set(ffi::into_raw(sandbox_result_t::new(report)));
        Ok(())
    })
}

/// Releases an instance (its memory and, with pooling, its slot). NULL is ignored.
///
/// # Safety
///
/// `instance` must be NULL or an instance of this library, not used afterwards (and not
/// running a call).
#[no_mangle]
pub unsafe extern "C" fn sandbox_instance_delete(instance: *mut sandbox_instance_t) {
    // SAFETY: forwarded.
    ffi::guard_or((), || unsafe { ffi::delete(instance) })
}

/// Stops calls running on one instance, from any thread. Thread-safe; deleting it does not
/// affect the instance.
pub struct sandbox_cancel_handle_t {
    handle: CancelHandle,
}
tagged!(sandbox_cancel_handle_t, "sandbox_cancel_handle_t");

/// A handle that cancels calls on `instance` from another thread. Take it before starting
/// the call to cancel (while the instance is idle: an error if a call is running).
///
/// # Safety
///
/// `instance` must be NULL or an instance of this library; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_instance_cancel_handle(
    instance: *const sandbox_instance_t,
    out: *mut *mut sandbox_cancel_handle_t,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: forwarded.
        let instance = unsafe { ffi::get(instance) }?;
        let handle = match instance.cancel.get() {
            Some(handle) => handle.clone(),
            None => {
                let handle = lock(instance)?.cancel_handle();
                instance.cancel.get_or_init(|| handle).clone()
            }
        };
        out.set(ffi::into_raw(sandbox_cancel_handle_t { handle }));
        Ok(())
    })
}

/// Cancels the call running on the handle's instance: it ends soon (within milliseconds)
/// with `SANDBOX_OUTCOME_CANCELLED`, its report keeping what it measured and captured. If no
/// call is running, the next call on the instance ends that way at once (a cancel racing
/// with the start of a call is never lost). Callable from any thread, any number of times.
///
/// # Safety
///
/// `handle` must be NULL or a cancel handle of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_cancel(
    handle: *const sandbox_cancel_handle_t,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        // SAFETY: forwarded.
        unsafe { ffi::get(handle) }?.handle.cancel();
        Ok(())
    })
}

/// Releases a cancel handle. NULL is ignored.
///
/// # Safety
///
/// `handle` must be NULL or a cancel handle of this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn sandbox_cancel_handle_delete(handle: *mut sandbox_cancel_handle_t) {
    // SAFETY: forwarded.
    ffi::guard_or((), || unsafe { ffi::delete(handle) })
}
