//! WASI settings of a run: arguments, environment, stdin, preopened directories, clock.

use crate::error::{sandbox_error_t, Error};
use crate::ffi::{self, tagged};
use crate::options::{sandbox_clock_t, RawClock};
use facade::{ClockPolicy, Preopen, SandboxConfig};
use std::ffi::c_char;

/// What a WASI guest sees of the world for one instance or run: program name and arguments,
/// environment, stdin bytes, preopened directories (read-only or read-write) and the clock
/// policy. Everything else is denied. Applied by `sandbox_instance_new` and `sandbox_run`,
/// which copy it (it may be reused and must be deleted by its owner). One thread at a time.
pub struct sandbox_wasi_t {
    program_name: Option<String>,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Vec<u8>,
    preopens: Vec<Preopen>,
    clock: Option<ClockPolicy>,
}
tagged!(sandbox_wasi_t, "sandbox_wasi_t");

impl sandbox_wasi_t {
    /// The configuration of one run: `base` with these settings applied, checked.
    pub(crate) fn apply(&self, base: &SandboxConfig) -> Result<SandboxConfig, Error> {
        let mut config = base.clone();
        if let Some(name) = &self.program_name {
            config.program_name = name.clone();
        }
        config.args = self.args.clone();
        config.env = self.env.clone();
        config.stdin = self.stdin.clone();
        if !self.preopens.is_empty() {
            config.allow_filesystem = true;
            config.preopens = self.preopens.clone();
        }
        if let Some(clock) = self.clock {
            config.clock = clock;
        }
        config.validate()?;
        Ok(config)
    }
}

/// New, empty WASI settings: no arguments, no environment, empty stdin, no directories, the
/// engine's clock policy. Never NULL.
#[no_mangle]
pub extern "C" fn sandbox_wasi_new() -> *mut sandbox_wasi_t {
    ffi::into_raw(sandbox_wasi_t {
        program_name: None,
        args: Vec::new(),
        env: Vec::new(),
        stdin: Vec::new(),
        preopens: Vec::new(),
        clock: None,
    })
}

/// Releases WASI settings. NULL is ignored.
///
/// # Safety
///
/// `wasi` must be NULL or WASI settings of this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn sandbox_wasi_delete(wasi: *mut sandbox_wasi_t) {
    // SAFETY: forwarded.
    ffi::guard_or((), || unsafe { ffi::delete(wasi) })
}

/// Runs `change` on the settings behind `wasi`.
///
/// # Safety
///
/// `wasi` must be NULL or WASI settings of this library, used by no other thread.
unsafe fn change(
    wasi: *mut sandbox_wasi_t,
    change: impl FnOnce(&mut sandbox_wasi_t) -> Result<(), Error>,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        // SAFETY: forwarded.
        change(unsafe { ffi::get_mut(wasi) }?)
    })
}

/// The program name the guest sees as `argv[0]` (default `"main.wasm"`).
///
/// # Safety
///
/// `wasi` must be NULL or WASI settings of this library, used by no other thread; `name` NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn sandbox_wasi_set_program_name(
    wasi: *mut sandbox_wasi_t,
    name: *const c_char,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(wasi, |wasi| {
            wasi.program_name = Some(ffi::string(name, "name")?.to_string());
            Ok(())
        })
    }
}

/// Appends an argument (`argv[1]`, `argv[2]`, ...).
///
/// # Safety
///
/// `wasi` must be NULL or WASI settings of this library, used by no other thread; `arg` NULL
/// or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn sandbox_wasi_push_arg(
    wasi: *mut sandbox_wasi_t,
    arg: *const c_char,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(wasi, |wasi| {
            wasi.args.push(ffi::string(arg, "arg")?.to_string());
            Ok(())
        })
    }
}

/// Sets the environment variable `key` to `value` (replacing an earlier value). The guest
/// sees no other variable.
///
/// # Safety
///
/// `wasi` must be NULL or WASI settings of this library, used by no other thread; `key` and
/// `value` NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn sandbox_wasi_set_env(
    wasi: *mut sandbox_wasi_t,
    key: *const c_char,
    value: *const c_char,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(wasi, |wasi| {
            let key = ffi::string(key, "key")?;
            let value = ffi::string(value, "value")?;
            if key.is_empty() || key.contains('=') {
                return Err(Error::invalid_argument(format!(
                    "{key:?} is not an environment variable name"
                )));
            }
            wasi.env.retain(|(existing, _)| existing != key);
            wasi.env.push((key.to_string(), value.to_string()));
            Ok(())
        })
    }
}

/// The bytes the guest reads from stdin (copied; default: none, end of file at once).
///
/// # Safety
///
/// `wasi` must be NULL or WASI settings of this library, used by no other thread; `bytes`
/// NULL or readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn sandbox_wasi_set_stdin(
    wasi: *mut sandbox_wasi_t,
    bytes: *const u8,
    len: usize,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(wasi, |wasi| {
            wasi.stdin = ffi::slice(bytes, len, "bytes")?.to_vec();
            Ok(())
        })
    }
}

/// Makes the host directory `host_path` visible to the guest at `guest_path` (`/`, `/data`,
/// `/data/in`, ...), read-only unless `writable`. Paths cannot escape it (`..`, absolute
/// paths and symlinks out are refused). The directory must exist.
///
/// # Safety
///
/// `wasi` must be NULL or WASI settings of this library, used by no other thread;
/// `host_path` and `guest_path` NULL or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn sandbox_wasi_preopen_dir(
    wasi: *mut sandbox_wasi_t,
    host_path: *const c_char,
    guest_path: *const c_char,
    writable: bool,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(wasi, |wasi| {
            let preopen = Preopen {
                host: ffi::string(host_path, "host_path")?.into(),
                guest: ffi::string(guest_path, "guest_path")?.to_string(),
                writable,
            };
            preopen
                .guest_components()
                .map_err(Error::invalid_argument)?;
            if !preopen.host.is_dir() {
                return Err(Error::new(
                    crate::error::sandbox_outcome_t::SANDBOX_OUTCOME_IO_ERROR,
                    format!(
                        "{} does not exist or is not a directory",
                        preopen.host.display()
                    ),
                ));
            }
            wasi.preopens.push(preopen);
            Ok(())
        })
    }
}

/// The clock policy of these runs (overriding the engine's).
///
/// # Safety
///
/// `wasi` must be NULL or WASI settings of this library, used by no other thread.
#[no_mangle]
pub unsafe extern "C" fn sandbox_wasi_set_clock(
    wasi: *mut sandbox_wasi_t,
    clock: RawClock,
) -> *mut sandbox_error_t {
    // SAFETY: forwarded.
    unsafe {
        change(wasi, |wasi| {
            wasi.clock = Some(sandbox_clock_t::from_raw(clock)?);
            Ok(())
        })
    }
}
