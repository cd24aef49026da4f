//! Options (the configuration, built step by step) and engines.

use crate::error::{sandbox_error_t, Error};
use crate::ffi::{self, tagged, Out};
use facade::{CacheConfig, ClockPolicy, InstanceAllocation, Runtime, SandboxConfig};
use std::ffi::c_char;
use std::sync::Arc;
use std::time::Duration;

/// The engine a sandbox runs on.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sandbox_backend_t {
    /// wasmtime (cranelift): the faster code, the default.
    SANDBOX_BACKEND_WASMTIME = 0,
    /// wasmer (singlepass): the faster compiler.
    SANDBOX_BACKEND_WASMER = 1,
}

/// A `sandbox_backend_t` as C passes it: read as an integer and checked.
pub type RawBackend = u32;

impl sandbox_backend_t {
    /// The backend C passed, checked.
    pub fn from_raw(raw: RawBackend) -> Result<Runtime, Error> {
        match raw {
            0 => Ok(Runtime::Wasmtime),
            1 => Ok(Runtime::Wasmer),
            other => Err(Error::invalid_argument(format!(
                "{other} is not a sandbox_backend_t (SANDBOX_BACKEND_WASMTIME or SANDBOX_BACKEND_WASMER)"
            ))),
        }
    }

    /// The C constant of a runtime.
    pub fn of(runtime: Runtime) -> Self {
        match runtime {
            Runtime::Wasmtime => sandbox_backend_t::SANDBOX_BACKEND_WASMTIME,
            Runtime::Wasmer => sandbox_backend_t::SANDBOX_BACKEND_WASMER,
        }
    }
}

/// Time and randomness as the guest sees them (WASI clocks, `poll_oneoff` sleeps,
/// `random_get`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sandbox_clock_t {
    /// Deterministic (the default): the clock starts at 2000-01-01 and advances 1 ms per
    /// read, randomness comes from a seeded generator, sleeping is refused.
    SANDBOX_CLOCK_VIRTUAL = 0,
    /// The host's clocks and random source.
    SANDBOX_CLOCK_REAL = 1,
    /// Clock, sleep and random calls fail (`ENOTCAPABLE`).
    SANDBOX_CLOCK_DENY = 2,
}

/// A `sandbox_clock_t` as C passes it: read as an integer and checked.
pub type RawClock = u32;

impl sandbox_clock_t {
    /// The policy C passed, checked.
    pub fn from_raw(raw: RawClock) -> Result<ClockPolicy, Error> {
        match raw {
            0 => Ok(ClockPolicy::Virtual),
            1 => Ok(ClockPolicy::Real),
            2 => Ok(ClockPolicy::Deny),
            other => Err(Error::invalid_argument(format!(
                "{other} is not a sandbox_clock_t (SANDBOX_CLOCK_VIRTUAL, SANDBOX_CLOCK_REAL or SANDBOX_CLOCK_DENY)"
            ))),
        }
    }
}

/// Whether the engine `backend` is compiled into this library (both are, in the default
/// build). False for a value outside the enum.
#[no_mangle]
pub extern "C" fn sandbox_backend_available(backend: RawBackend) -> bool {
    sandbox_backend_t::from_raw(backend).is_ok_and(facade::is_available)
}

/// The engine's name (`"wasmtime"`, `"wasmer"`; `"unknown"` outside the enum); static.
#[no_mangle]
pub extern "C" fn sandbox_backend_name(backend: RawBackend) -> *const c_char {
    match sandbox_backend_t::from_raw(backend) {
        Ok(Runtime::Wasmtime) => c"wasmtime".as_ptr(),
        Ok(Runtime::Wasmer) => c"wasmer".as_ptr(),
        Err(_) => c"unknown".as_ptr(),
    }
}

/// A configuration under construction: limits, policy, host functions, cache, backend.
/// Made by `sandbox_options_new` (the default preset) or `sandbox_options_new_preset`,
/// changed by the `sandbox_options_set_*` functions, used by `sandbox_engine_new` and
/// `sandbox_judge` (which copy it: changing the options later does not change an engine).
/// One thread at a time.
pub struct sandbox_options_t {
    pub(crate) runtime: Runtime,
    pub(crate) config: SandboxConfig,
    /// Whether `max_fuel` was set explicitly (the judge meters fuel only then).
    pub(crate) explicit_fuel: bool,
}
tagged!(sandbox_options_t, "sandbox_options_t");

impl sandbox_options_t {
    fn new(config: SandboxConfig) -> Self {
        sandbox_options_t {
            runtime: facade::default_runtime().unwrap_or(Runtime::Wasmtime),
            config,
            explicit_fuel: false,
        }
    }
}

/// New options holding the default preset (64 MiB memory, 5 s, 10,000,000 fuel, 1 MiB
/// stack, 1 MiB of output per stream, no imports beyond WASI, virtual clock, wasmtime).
/// Never NULL.
#[no_mangle]
pub extern "C" fn sandbox_options_new() -> *mut sandbox_options_t {
    ffi::into_raw(sandbox_options_t::new(SandboxConfig::default()))
}

/// New options holding the preset `name`: `"default"`, `"minimal"` (1 MiB, 100 ms, 100,000
/// fuel, 64 KiB stack) or `"compute"` (256 MiB, 30 s, 1,000,000,000 fuel, 8 MiB stack, real
/// clock).
///
/// # Safety
///
/// `name` must be NULL or a NUL-terminated string; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_options_new_preset(
    name: *const c_char,
    out: *mut *mut sandbox_options_t,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: forwarded.
        let name = unsafe { ffi::string(name, "name") }?;
        let config = SandboxConfig::preset(name).ok_or_else(|| {
            Error::invalid_argument(format!(
                "unknown preset {name:?} (presets: default, minimal, compute)"
            ))
        })?;
        out.set(ffi::into_raw(sandbox_options_t::new(config)));
        Ok(())
    })
}

/// Releases options. NULL is ignored.
///
/// # Safety
///
/// `options` must be NULL or options of this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn sandbox_options_delete(options: *mut sandbox_options_t) {
    // SAFETY: forwarded.
    ffi::guard_or((), || unsafe { ffi::delete(options) })
}

/// Runs `change` on the options behind `options`.
///
/// # Safety
///
/// `options` must be NULL or options of this library, used by no other thread.
unsafe fn change(
    options: *mut sandbox_options_t,
    change: impl FnOnce(&mut sandbox_options_t) -> Result<(), Error>,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        // SAFETY: forwarded.
        let options = unsafe { ffi::get_mut(options) }?;
        change(options)
    })
}

/// The engine runs use.
///
/// # Safety
///
/// `options` must be NULL or options of this library, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn sandbox_options_set_backend(
    options: *mut sandbox_options_t,
    backend: RawBackend,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(options, |options| {
            options.runtime = sandbox_backend_t::from_raw(backend)?;
            Ok(())
        })
    }
}

/// Linear memory limit in bytes, all memories of an instance together.
///
/// # Safety
///
/// `options` must be NULL or options of this library, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn sandbox_options_set_max_memory_bytes(
    options: *mut sandbox_options_t,
    bytes: u64,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(options, |options| {
            options.config.max_memory_bytes = bytes;
            Ok(())
        })
    }
}

/// Wall-clock limit of one call, in seconds (finite, above zero, at most a week).
///
/// # Safety
///
/// `options` must be NULL or options of this library, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn sandbox_options_set_max_execution_time_sec(
    options: *mut sandbox_options_t,
    seconds: f64,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(options, |options| {
            options.config.max_execution_time = duration(seconds)?;
            Ok(())
        })
    }
}

/// Fuel budget of one call; `SANDBOX_FUEL_UNLIMITED` turns metering off.
///
/// # Safety
///
/// `options` must be NULL or options of this library, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn sandbox_options_set_max_fuel(
    options: *mut sandbox_options_t,
    fuel: u64,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(options, |options| {
            options.config.max_fuel = fuel_limit(fuel);
            options.explicit_fuel = true;
            Ok(())
        })
    }
}

/// Wasm stack limit in bytes (8 KiB to 64 MiB).
///
/// # Safety
///
/// `options` must be NULL or options of this library, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn sandbox_options_set_max_stack_size(
    options: *mut sandbox_options_t,
    bytes: u64,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(options, |options| {
            options.config.max_stack_size = bytes;
            options.config.validate().map_err(Error::from)
        })
    }
}

/// Cap of each captured output stream (stdout, stderr) in bytes; a run that writes more is
/// truncated there and ends `SANDBOX_OUTCOME_OUTPUT_LIMIT_EXCEEDED`.
///
/// # Safety
///
/// `options` must be NULL or options of this library, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn sandbox_options_set_max_output_bytes(
    options: *mut sandbox_options_t,
    bytes: u64,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(options, |options| {
            options.config.max_output_bytes = bytes;
            Ok(())
        })
    }
}

/// Elements of all tables of an instance together.
///
/// # Safety
///
/// `options` must be NULL or options of this library, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn sandbox_options_set_max_table_elements(
    options: *mut sandbox_options_t,
    elements: u64,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(options, |options| {
            options.config.max_table_elements = elements;
            Ok(())
        })
    }
}

/// Largest module accepted, in bytes (binary, or text before compilation).
///
/// # Safety
///
/// `options` must be NULL or options of this library, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn sandbox_options_set_max_module_bytes(
    options: *mut sandbox_options_t,
    bytes: u64,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(options, |options| {
            options.config.max_module_bytes = bytes;
            Ok(())
        })
    }
}

/// Grants the import `module::name` (`name` may be `*` for every name of `module`). A
/// granted import must still be satisfied: by a host function
/// (`sandbox_options_define_function`, which grants its own import) or it fails to link.
///
/// # Safety
///
/// `options` must be NULL or options of this library, used by no other thread; `module` and
/// `name` NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn sandbox_options_allow_import(
    options: *mut sandbox_options_t,
    module: *const c_char,
    name: *const c_char,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(options, |options| {
            let entry = import_entry(module, name)?;
            if !options.config.allowed_imports.contains(&entry) {
                options.config.allowed_imports.push(entry);
            }
            Ok(())
        })
    }
}

/// The clock and randomness policy (default `SANDBOX_CLOCK_VIRTUAL`).
///
/// # Safety
///
/// `options` must be NULL or options of this library, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn sandbox_options_set_clock(
    options: *mut sandbox_options_t,
    clock: RawClock,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(options, |options| {
            options.config.clock = sandbox_clock_t::from_raw(clock)?;
            Ok(())
        })
    }
}

/// The seed of the virtual clock's random generator (default 0).
///
/// # Safety
///
/// `options` must be NULL or options of this library, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn sandbox_options_set_random_seed(
    options: *mut sandbox_options_t,
    seed: u64,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(options, |options| {
            options.config.random_seed = seed;
            Ok(())
        })
    }
}

/// Turns the module cache on: compiled modules are kept in memory (per process, bounded)
/// and, when `dir` is not NULL, on disk in `dir` (created on first use; keyed by the SHA-256
/// of the bytes, the engine and its configuration; a damaged entry is a miss). Loading the
/// same bytes again then skips compilation, in this process and the next.
///
/// # Safety
///
/// `options` must be NULL or options of this library, used by no other thread; `dir` NULL or
/// a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn sandbox_options_set_cache(
    options: *mut sandbox_options_t,
    dir: *const c_char,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(options, |options| {
            options.config.cache = match ffi::optional_string(dir, "dir")? {
                Some(dir) => CacheConfig::at(dir),
                None => CacheConfig::memory_only(),
            };
            Ok(())
        })
    }
}

/// Instantiates from a pool of `max_instances` preallocated slots (wasmtime's pooling
/// allocator: faster instantiation; the wasmer engine ignores it). 0 turns pooling off. A
/// pool with every slot taken by a live instance refuses more with
/// `SANDBOX_OUTCOME_POOL_EXHAUSTED`.
///
/// # Safety
///
/// `options` must be NULL or options of this library, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn sandbox_options_set_pooling(
    options: *mut sandbox_options_t,
    max_instances: u32,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(options, |options| {
            options.config.instance_allocation = if max_instances == 0 {
                InstanceAllocation::OnDemand
            } else {
                InstanceAllocation::pooling(max_instances)
            };
            options.config.validate().map_err(Error::from)
        })
    }
}

/// `seconds` as a time limit, checked.
pub(crate) fn duration(seconds: f64) -> Result<Duration, Error> {
    if !(seconds.is_finite() && seconds > 0.0) {
        return Err(Error::invalid_argument(format!(
            "a time limit must be a finite number of seconds above zero, not {seconds}"
        )));
    }
    Duration::try_from_secs_f64(seconds).map_err(|err| Error::invalid_argument(err.to_string()))
}

/// The fuel budget C gives: `SANDBOX_FUEL_UNLIMITED` is none.
pub(crate) fn fuel_limit(fuel: u64) -> Option<u64> {
    (fuel != crate::SANDBOX_FUEL_UNLIMITED).then_some(fuel)
}

/// `module::name`, both checked.
///
/// # Safety
///
/// As [`ffi::string`].
pub(crate) unsafe fn import_entry(
    module: *const c_char,
    name: *const c_char,
) -> Result<String, Error> {
    // SAFETY: forwarded.
    let (module, name) = unsafe { (ffi::string(module, "module")?, ffi::string(name, "name")?) };
    if module.is_empty() || name.is_empty() || module.contains("::") {
        return Err(Error::invalid_argument(format!(
            "{module:?}::{name:?} is not an import name (module and name must be non-empty)"
        )));
    }
    Ok(format!("{module}::{name}"))
}

/// An engine: one backend under one configuration, compiling modules and holding what they
/// share (compiled code, the epoch ticker or watchdog, the instance pool). Thread-safe: one
/// engine may compile and run on many threads at once.
pub struct sandbox_engine_t {
    pub(crate) sandbox: Arc<dyn facade::Sandbox>,
}
tagged!(sandbox_engine_t, "sandbox_engine_t");

/// An engine for `options` (NULL: the default preset on the default backend). Engines are
/// shared inside the library: creating one for a configuration already in use is cheap.
///
/// # Safety
///
/// `options` must be NULL or options of this library; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_engine_new(
    options: *const sandbox_options_t,
    out: *mut *mut sandbox_engine_t,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        let out = Out::new(out, "out")?;
        let (runtime, config) = if options.is_null() {
            (facade::default_runtime()?, SandboxConfig::default())
        } else {
            // SAFETY: forwarded.
            let options = unsafe { ffi::get(options) }?;
            (options.runtime, options.config.clone())
        };
        let sandbox = facade::sandbox(runtime, config)?;
        out.set(ffi::into_raw(sandbox_engine_t { sandbox }));
        Ok(())
    })
}

/// The engine's backend, written to `out`.
///
/// # Safety
///
/// `engine` must be NULL or an engine of this library; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_engine_backend(
    engine: *const sandbox_engine_t,
    out: *mut sandbox_backend_t,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: forwarded.
        let engine = unsafe { ffi::get(engine) }?;
        out.set(sandbox_backend_t::of(engine.sandbox.kind()));
        Ok(())
    })
}

/// Releases an engine. Modules and instances made from it stay usable (they keep what they
/// need alive). NULL is ignored.
///
/// # Safety
///
/// `engine` must be NULL or an engine of this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn sandbox_engine_delete(engine: *mut sandbox_engine_t) {
    // SAFETY: forwarded.
    ffi::guard_or((), || unsafe { ffi::delete(engine) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_limits_are_checked() {
        assert!(duration(0.0).is_err());
        assert!(duration(-1.0).is_err());
        assert!(duration(f64::NAN).is_err());
        assert!(duration(f64::INFINITY).is_err());
        assert_eq!(duration(0.25).unwrap(), Duration::from_millis(250));
    }

    #[test]
    fn enums_from_c_are_checked() {
        assert!(sandbox_backend_t::from_raw(2).is_err());
        assert!(sandbox_clock_t::from_raw(3).is_err());
        assert_eq!(sandbox_backend_t::from_raw(1).unwrap(), Runtime::Wasmer);
        assert!(!sandbox_backend_available(9));
    }
}
