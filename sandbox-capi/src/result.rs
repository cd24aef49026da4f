//! The report of one run: outcome, values, captured output, time, fuel, memory.

use crate::error::{c_string, sandbox_outcome_t, sandbox_trap_t};
use crate::ffi::{self, tagged};
use crate::value::sandbox_val_t;
use facade::ExecutionResult;
use std::ffi::{c_char, CString};
use std::sync::OnceLock;

/// The report of one run, whatever its outcome: a failed run keeps what it measured and
/// captured. Read with the `sandbox_result_*` accessors; released with
/// `sandbox_result_delete`. Pointers it returns are borrowed from it.
pub struct sandbox_result_t {
    report: ExecutionResult,
    values: Vec<sandbox_val_t>,
    message: Option<CString>,
    json: OnceLock<CString>,
}
tagged!(sandbox_result_t, "sandbox_result_t");

impl sandbox_result_t {
    /// The C report of a run.
    pub(crate) fn new(report: ExecutionResult) -> Self {
        let values = report
            .return_values
            .iter()
            .filter_map(sandbox_val_t::from_wasm)
            .collect();
        let message = report.outcome.error().map(|err| c_string(err.to_string()));
        sandbox_result_t {
            report,
            values,
            message,
            json: OnceLock::new(),
        }
    }
}

/// `f` of the result behind `result`, or `fallback` for a NULL or invalid one.
///
/// # Safety
///
/// `result` must be NULL or a result of this library.
unsafe fn field<T>(
    result: *const sandbox_result_t,
    fallback: T,
    f: impl FnOnce(&sandbox_result_t) -> T,
) -> T {
    // SAFETY: forwarded.
    match unsafe { ffi::get(result) } {
        Ok(result) => f(result),
        Err(_) => fallback,
    }
}

/// How the run ended (`SANDBOX_OUTCOME_INVALID_ARGUMENT` for a NULL or invalid result).
///
/// # Safety
///
/// `result` must be NULL or a result of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_result_outcome(
    result: *const sandbox_result_t,
) -> sandbox_outcome_t {
    // SAFETY: forwarded.
    unsafe {
        field(
            result,
            sandbox_outcome_t::SANDBOX_OUTCOME_INVALID_ARGUMENT,
            |r| sandbox_outcome_t::of(&r.report.outcome),
        )
    }
}

/// Whether the run completed normally (returned, or exited with code 0).
///
/// # Safety
///
/// `result` must be NULL or a result of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_result_success(result: *const sandbox_result_t) -> bool {
    // SAFETY: forwarded.
    unsafe { field(result, false, |r| r.report.outcome.is_success()) }
}

/// Why the guest trapped (`SANDBOX_TRAP_NONE` unless the outcome is `SANDBOX_OUTCOME_TRAP`).
///
/// # Safety
///
/// `result` must be NULL or a result of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_result_trap(result: *const sandbox_result_t) -> sandbox_trap_t {
    // SAFETY: forwarded.
    unsafe {
        field(result, sandbox_trap_t::SANDBOX_TRAP_NONE, |r| {
            sandbox_trap_t::of(r.report.outcome.error())
        })
    }
}

/// Whether the guest exited through WASI `proc_exit`; if so its code is written to `code`
/// (which may be NULL).
///
/// # Safety
///
/// `result` must be NULL or a result of this library; `code` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_result_exit_code(
    result: *const sandbox_result_t,
    code: *mut i32,
) -> bool {
    // SAFETY: forwarded.
    let exit = unsafe { field(result, None, |r| r.report.exit_code()) };
    match exit {
        Some(exit) => {
            if !code.is_null() {
                // SAFETY: non-NULL and writable by the caller's guarantee.
                unsafe { code.write(exit) };
            }
            true
        }
        None => false,
    }
}

/// What went wrong, in words (NULL when the run succeeded); borrowed from the result.
///
/// # Safety
///
/// `result` must be NULL or a result of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_result_message(result: *const sandbox_result_t) -> *const c_char {
    // SAFETY: forwarded.
    unsafe {
        field(result, std::ptr::null(), |r| {
            r.message.as_ref().map_or(std::ptr::null(), |m| m.as_ptr())
        })
    }
}

/// The values the call returned (`*count` of them; NULL and 0 when none), borrowed from the
/// result. `count` may be NULL.
///
/// # Safety
///
/// `result` must be NULL or a result of this library; `count` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_result_values(
    result: *const sandbox_result_t,
    count: *mut usize,
) -> *const sandbox_val_t {
    // SAFETY: forwarded.
    let (ptr, len) = unsafe {
        field(result, (std::ptr::null(), 0), |r| {
            if r.values.is_empty() {
                (std::ptr::null(), 0)
            } else {
                (r.values.as_ptr(), r.values.len())
            }
        })
    };
    if !count.is_null() {
        // SAFETY: non-NULL and writable by the caller's guarantee.
        unsafe { count.write(len) };
    }
    ptr
}

/// `(pointer, length)` of captured bytes.
///
/// # Safety
///
/// `len` must be NULL or writable.
unsafe fn bytes_out(bytes: &[u8], len: *mut usize) -> *const u8 {
    if !len.is_null() {
        // SAFETY: non-NULL and writable by the caller's guarantee.
        unsafe { len.write(bytes.len()) };
    }
    if bytes.is_empty() {
        std::ptr::null()
    } else {
        bytes.as_ptr()
    }
}

/// The guest's captured stdout (`*len` bytes, not NUL-terminated; NULL and 0 when empty),
/// borrowed from the result. `len` may be NULL.
///
/// # Safety
///
/// `result` must be NULL or a result of this library; `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_result_stdout(
    result: *const sandbox_result_t,
    len: *mut usize,
) -> *const u8 {
    // SAFETY: forwarded.
    match unsafe { ffi::get(result) } {
        // SAFETY: forwarded.
        Ok(r) => unsafe { bytes_out(&r.report.stdout, len) },
        // SAFETY: forwarded.
        Err(_) => unsafe { bytes_out(&[], len) },
    }
}

/// The guest's captured stderr, as `sandbox_result_stdout`.
///
/// # Safety
///
/// `result` must be NULL or a result of this library; `len` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_result_stderr(
    result: *const sandbox_result_t,
    len: *mut usize,
) -> *const u8 {
    // SAFETY: forwarded.
    match unsafe { ffi::get(result) } {
        // SAFETY: forwarded.
        Ok(r) => unsafe { bytes_out(&r.report.stderr, len) },
        // SAFETY: forwarded.
        Err(_) => unsafe { bytes_out(&[], len) },
    }
}

/// Whether stdout reached its cap and was truncated there.
///
/// # Safety
///
/// `result` must be NULL or a result of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_result_stdout_truncated(result: *const sandbox_result_t) -> bool {
    // SAFETY: forwarded.
    unsafe { field(result, false, |r| r.report.stdout_truncated) }
}

/// Whether stderr reached its cap and was truncated there.
///
/// # Safety
///
/// `result` must be NULL or a result of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_result_stderr_truncated(result: *const sandbox_result_t) -> bool {
    // SAFETY: forwarded.
    unsafe { field(result, false, |r| r.report.stderr_truncated) }
}

/// Wall-clock time of the run, in seconds.
///
/// # Safety
///
/// `result` must be NULL or a result of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_result_execution_time_sec(result: *const sandbox_result_t) -> f64 {
    // SAFETY: forwarded.
    unsafe { field(result, 0.0, |r| r.report.execution_time.as_secs_f64()) }
}

/// Fuel the run consumed (0 when metering is off).
///
/// # Safety
///
/// `result` must be NULL or a result of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_result_fuel_consumed(result: *const sandbox_result_t) -> u64 {
    // SAFETY: forwarded.
    unsafe { field(result, 0, |r| r.report.fuel_consumed.unwrap_or(0)) }
}

/// Peak linear memory of the instance during the run, in bytes.
///
/// # Safety
///
/// `result` must be NULL or a result of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_result_peak_memory(result: *const sandbox_result_t) -> u64 {
    // SAFETY: forwarded.
    unsafe { field(result, 0, |r| r.report.peak_memory) }
}

/// The whole report as the JSON object `sandbox run --json` prints (`backend`, `outcome`,
/// `results`, `exit_code`, `stdout`, `stderr`, ..., `fuel_consumed`, `peak_memory_bytes`),
/// borrowed from the result; NULL for a NULL or invalid result.
///
/// # Safety
///
/// `result` must be NULL or a result of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_result_json(result: *const sandbox_result_t) -> *const c_char {
    // SAFETY: forwarded.
    match unsafe { ffi::get(result) } {
        Ok(r) => ffi::guard_or(std::ptr::null(), || {
            r.json
                .get_or_init(|| c_string(r.report.to_json().to_string()))
                .as_ptr()
        }),
        Err(_) => std::ptr::null(),
    }
}

/// Releases a result. NULL is ignored.
///
/// # Safety
///
/// `result` must be NULL or a result of this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn sandbox_result_delete(result: *mut sandbox_result_t) {
    // SAFETY: forwarded.
    ffi::guard_or((), || unsafe { ffi::delete(result) })
}
