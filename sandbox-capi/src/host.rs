//! Host functions: C callbacks the guest imports, with a user pointer and its finalizer.

use crate::error::{sandbox_error_t, Error};
use crate::ffi::{self, tagged, Out};
use crate::options::sandbox_options_t;
use crate::value::{sandbox_val_t, sandbox_valkind_t, RawValKind};
use facade::{FuncSignature, HostContext, HostError, HostFunction, WasmValue};
use std::ffi::{c_char, c_void};
use std::sync::Arc;

/// What a host function sees of the guest while it runs: its memory and its fuel. Valid
/// only during the callback it was passed to.
pub struct sandbox_caller_t {
    context: *mut HostContext<'static>,
}
tagged!(sandbox_caller_t, "sandbox_caller_t");

/// A host function's body. `args` holds `nargs` values of the declared parameter kinds;
/// `results` holds `nresults` slots whose kinds are preset to the declared result kinds:
/// write each payload (`results[i].of.i32 = ...`). Return NULL on success, or an error from
/// `sandbox_error_new` to end the guest's run with a trap carrying its message (the library
/// takes ownership of it).
///
/// It may be called on any thread that runs an instance of a module using it (once at a
/// time per instance), so `user_data` must be safe to use from those threads. It must not
/// unwind (C++ exceptions, `longjmp`) through the library, nor call back into the instance
/// that called it.
pub type sandbox_host_callback_t = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        caller: *mut sandbox_caller_t,
        args: *const sandbox_val_t,
        nargs: usize,
        results: *mut sandbox_val_t,
        nresults: usize,
    ) -> *mut sandbox_error_t,
>;

/// Releases a host function's `user_data`: called exactly once, when nothing can call the
/// function any more (its options, engines, modules and instances are all deleted), or at
/// once if it could not be defined.
pub type sandbox_finalizer_t = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// The callback, its data and its finalizer, run on drop.
struct Callback {
    callback: unsafe extern "C" fn(
        *mut c_void,
        *mut sandbox_caller_t,
        *const sandbox_val_t,
        usize,
        *mut sandbox_val_t,
        usize,
    ) -> *mut sandbox_error_t,
    user_data: *mut c_void,
    finalizer: sandbox_finalizer_t,
}

// SAFETY: the C caller guarantees that the callback and `user_data` may be used from any
// thread that runs the module (documented on `sandbox_host_callback_t`).
unsafe impl Send for Callback {}
// SAFETY: as above.
unsafe impl Sync for Callback {}

impl Drop for Callback {
    fn drop(&mut self) {
        if let Some(finalizer) = self.finalizer {
            // SAFETY: the C caller's finalizer for its own data, called once.
            unsafe { finalizer(self.user_data) }
        }
    }
}

/// Calls the finalizer of data the library was given but could not use.
struct Finalize(sandbox_finalizer_t, *mut c_void);

impl Drop for Finalize {
    fn drop(&mut self) {
        if let Some(finalizer) = self.0 {
            // SAFETY: the C caller's finalizer for its own data, called once.
            unsafe { finalizer(self.1) }
        }
    }
}

impl Callback {
    fn call(
        &self,
        signature: &FuncSignature,
        context: &mut HostContext<'_>,
        args: &[WasmValue],
    ) -> Result<Vec<WasmValue>, HostError> {
        let args: Vec<sandbox_val_t> = args
            .iter()
            .map(|arg| {
                sandbox_val_t::from_wasm(arg)
                    .ok_or_else(|| HostError::new("an argument of a type C cannot hold"))
            })
            .collect::<Result<_, _>>()?;
        let kinds: Vec<sandbox_valkind_t> = signature
            .results
            .iter()
            .map(|ty| sandbox_valkind_t::of(*ty).ok_or_else(|| HostError::new("bad result type")))
            .collect::<Result<_, _>>()?;
        let mut results: Vec<sandbox_val_t> =
            kinds.iter().map(|k| sandbox_val_t::zero(*k)).collect();
        // The context outlives the callback, and the caller object dies with it.
        let mut caller = ffi::Slot::new(sandbox_caller_t {
            context: (context as *mut HostContext<'_>).cast(),
        });
        // SAFETY: the callback is the C caller's, with its own data; the arrays are valid for
        // the lengths given, and the caller object for the duration of the call.
        let error = unsafe {
            (self.callback)(
                self.user_data,
                caller.as_handle(),
                args.as_ptr(),
                args.len(),
                results.as_mut_ptr(),
                results.len(),
            )
        };
        if !error.is_null() {
            // SAFETY: the callback returned an error object it made with `sandbox_error_new`.
            return Err(HostError::new(unsafe {
                sandbox_error_t::take_message(error)
            }));
        }
        results
            .iter()
            .zip(&kinds)
            .map(|(value, kind)| {
                if value.kind != *kind as RawValKind {
                    return Err(HostError::new(format!(
                        "the callback changed a result's kind to {} (its signature says {:?})",
                        value.kind, kind
                    )));
                }
                value.to_wasm().map_err(|err| HostError::new(err.message))
            })
            .collect()
    }
}

/// Defines the host function `module::name` with the given parameter and result kinds:
/// a guest importing it gets `callback`, called with `user_data`. Defining it grants the
/// import. A definition with the same name replaces the previous one.
///
/// Ownership: from this call on, the library owns `user_data`; `finalizer` (may be NULL) is
/// called exactly once with it, when the function can no longer be called, or before this
/// function returns if the definition fails.
///
/// # Safety
///
/// `options` must be NULL or options of this library, used by no other thread; `module` and
/// `name` NULL or NUL-terminated strings; `params` / `results` NULL or arrays of `nparams` /
/// `nresults` kinds; `callback` and `user_data` as described on `sandbox_host_callback_t`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn sandbox_options_define_function(
    options: *mut sandbox_options_t,
    module: *const c_char,
    name: *const c_char,
    params: *const RawValKind,
    nparams: usize,
    results: *const RawValKind,
    nresults: usize,
    callback: sandbox_host_callback_t,
    user_data: *mut c_void,
    finalizer: sandbox_finalizer_t,
) -> *mut sandbox_error_t {
    // Finalised on every early return; disarmed once the callback owns the data.
    let pending = Finalize(finalizer, user_data);
    ffi::guard(move || {
        // SAFETY: forwarded.
        let options = unsafe { ffi::get_mut(options) }?;
        // SAFETY: forwarded.
        let entry = unsafe { crate::options::import_entry(module, name) }?;
        let (module, name) = entry.split_once("::").unwrap_or((&entry, ""));
        let kinds = |ptr, len, what| -> Result<Vec<facade::ValType>, Error> {
            // SAFETY: forwarded.
            unsafe { ffi::slice(ptr, len, what) }?
                .iter()
                .map(|raw| sandbox_valkind_t::from_raw(*raw).map(sandbox_valkind_t::val_type))
                .collect()
        };
        let signature = FuncSignature::new(
            kinds(params, nparams, "params")?,
            kinds(results, nresults, "results")?,
        );
        let callback =
            callback.ok_or_else(|| Error::invalid_argument("callback is NULL".to_string()))?;
        std::mem::forget(pending);
        let callback = Arc::new(Callback {
            callback,
            user_data,
            finalizer,
        });
        let declared = signature.clone();
        let function = HostFunction::new(module, name, signature, move |context, args| {
            callback.call(&declared, context, args)
        });
        options.config.host_functions.define(function);
        Ok(())
    })
}

/// Copies `len` bytes of the guest's memory (its export `memory`) at `offset` into `buffer`.
/// An error (and `buffer` untouched) if the range is outside the memory or the guest exports
/// none.
///
/// # Safety
///
/// `caller` must be the caller object of a running callback; `buffer` NULL or writable for
/// `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn sandbox_caller_read_memory(
    caller: *mut sandbox_caller_t,
    offset: u64,
    buffer: *mut u8,
    len: usize,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        // SAFETY: forwarded.
        let context = unsafe { context(caller) }?;
        if len > 0 && buffer.is_null() {
            return Err(Error::invalid_argument("buffer is NULL"));
        }
        let mut bytes = vec![0u8; len];
        memory(context)?
            .read(offset, &mut bytes)
            .map_err(|err| Error::invalid_argument(err.to_string()))?;
        if len > 0 {
            // SAFETY: `buffer` is writable for `len` bytes (the caller's guarantee).
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buffer, len) };
        }
        Ok(())
    })
}

/// Copies `len` bytes from `data` into the guest's memory at `offset`. An error (and the
/// memory untouched) if the range is outside the memory or the guest exports none.
///
/// # Safety
///
/// `caller` must be the caller object of a running callback; `data` NULL or readable for
/// `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn sandbox_caller_write_memory(
    caller: *mut sandbox_caller_t,
    offset: u64,
    data: *const u8,
    len: usize,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        // SAFETY: forwarded.
        let context = unsafe { context(caller) }?;
        // SAFETY: forwarded.
        let data = unsafe { ffi::slice(data, len, "data") }?;
        memory(context)?
            .write(offset, data)
            .map_err(|err| Error::invalid_argument(err.to_string()))
    })
}

/// The size of the guest's memory in bytes, written to `out`.
///
/// # Safety
///
/// `caller` must be the caller object of a running callback; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_caller_memory_size(
    caller: *mut sandbox_caller_t,
    out: *mut u64,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: forwarded.
        let context = unsafe { context(caller) }?;
        out.set(memory(context)?.size());
        Ok(())
    })
}

/// Fuel the instance has consumed so far in this call (0 when metering is off).
///
/// # Safety
///
/// `caller` must be NULL or the caller object of a running callback.
#[no_mangle]
pub unsafe extern "C" fn sandbox_caller_fuel_consumed(caller: *mut sandbox_caller_t) -> u64 {
    ffi::guard_or(0, || {
        // SAFETY: forwarded.
        unsafe { context(caller) }.map_or(0, |context| context.fuel_consumed().unwrap_or(0))
    })
}

/// The host context behind a caller object.
///
/// # Safety
///
/// `caller` must be NULL or point to a caller object (live during its callback).
unsafe fn context<'a>(
    caller: *mut sandbox_caller_t,
) -> Result<&'a mut HostContext<'static>, Error> {
    // SAFETY: forwarded.
    let caller = unsafe { ffi::get_mut(caller) }?;
    // SAFETY: set from a live `&mut HostContext` for the duration of the callback (the
    // caller object lives on the stack of that call).
    Ok(unsafe { &mut *caller.context })
}

fn memory<'a>(
    context: &'a mut HostContext<'static>,
) -> Result<&'a mut dyn facade::GuestMemory, Error> {
    context
        .memory()
        .map_err(|err| Error::invalid_argument(err.to_string()))
}
