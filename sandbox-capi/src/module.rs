//! Compiled modules: from bytes (wasm or WAT, through the module cache) or from an
//! ahead-of-time artifact.

use crate::error::sandbox_error_t;
use crate::ffi::{self, tagged, Out};
use crate::options::sandbox_engine_t;
use facade::CompiledModule;
use std::ffi::{c_char, CString};
use std::sync::Arc;

/// A compiled module: validated, checked against the engine's import policy, compiled once.
/// Immutable and thread-safe: share one module between threads and give each thread its own
/// instance (`sandbox_instance_new`). Keeps its engine alive.
pub struct sandbox_module_t {
    pub(crate) sandbox: Arc<dyn facade::Sandbox>,
    pub(crate) module: Arc<dyn CompiledModule>,
    /// The exported functions' names, for `sandbox_module_export_name`.
    exports: Vec<CString>,
}
tagged!(sandbox_module_t, "sandbox_module_t");

impl sandbox_module_t {
    pub(crate) fn new(sandbox: Arc<dyn facade::Sandbox>, module: Arc<dyn CompiledModule>) -> Self {
        let exports = module
            .info()
            .exported_functions()
            .map(|name| crate::error::c_string(name.to_string()))
            .collect();
        sandbox_module_t {
            sandbox,
            module,
            exports,
        }
    }
}

/// Compiles `len` bytes of WebAssembly (binary, or text: WAT) on `engine`: validated,
/// its imports checked against the policy, compiled, or found in the module cache when the
/// engine's options turned it on.
///
/// # Safety
///
/// `engine` must be NULL or an engine of this library; `bytes` NULL or readable for `len`
/// bytes; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_module_new(
    engine: *const sandbox_engine_t,
    bytes: *const u8,
    len: usize,
    out: *mut *mut sandbox_module_t,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: forwarded.
        let engine = unsafe { ffi::get(engine) }?;
        // SAFETY: forwarded.
        let bytes = unsafe { ffi::slice(bytes, len, "bytes") }?;
        let module = engine.sandbox.load(bytes)?;
        out.set(ffi::into_raw(sandbox_module_t::new(
            engine.sandbox.clone(),
            module,
        )));
        Ok(())
    })
}

/// Compiles a program in Mini, the project's small language (`len` bytes of UTF-8 source),
/// to a module and compiles that on `engine`, as `sandbox_module_new` does. A program that
/// does not compile is an error of kind `SANDBOX_OUTCOME_COMPILATION_ERROR` whose message
/// is every diagnostic as the compiler prints them (`<source>:LINE:COLUMN: error: ...`, the
/// source line, a caret, a help line).
///
/// # Safety
///
/// `engine` must be NULL or an engine of this library; `source` NULL or readable for `len`
/// bytes; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_module_new_mini(
    engine: *const sandbox_engine_t,
    source: *const c_char,
    len: usize,
    out: *mut *mut sandbox_module_t,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: forwarded.
        let engine = unsafe { ffi::get(engine) }?;
        // SAFETY: forwarded.
        let source = unsafe { ffi::slice(source.cast::<u8>(), len, "source") }?;
        let file = facade::source::UNNAMED;
        let wasm = facade::compile_mini(facade::source::utf8(source, file)?, file)?;
        let module = engine.sandbox.load(&wasm)?;
        out.set(ffi::into_raw(sandbox_module_t::new(
            engine.sandbox.clone(),
            module,
        )));
        Ok(())
    })
}

/// Checks that `len` bytes are a valid module (binary or WAT) under the default
/// configuration, without compiling it: NULL if valid, else an error of kind
/// `SANDBOX_OUTCOME_INVALID_MODULE` naming the problem.
///
/// # Safety
///
/// `bytes` must be NULL or readable for `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn sandbox_module_validate(
    bytes: *const u8,
    len: usize,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        // SAFETY: forwarded.
        let bytes = unsafe { ffi::slice(bytes, len, "bytes") }?;
        let config = facade::SandboxConfig::default();
        let wasm = if facade::looks_like_text(bytes) {
            std::borrow::Cow::Owned(facade::compile_wat_to_wasm(bytes)?)
        } else {
            std::borrow::Cow::Borrowed(bytes)
        };
        facade::module::ModuleInfo::parse(&wasm, &config)?;
        Ok(())
    })
}

/// Compiles `len` bytes of WebAssembly ahead of time on `engine` and writes the artifact to
/// the file `path` (atomically); its size in bytes goes to `size_out` (may be NULL). The
/// artifact loads only on an engine of the same backend, engine version and code-relevant
/// configuration (`sandbox_module_load_aot`).
///
/// # Safety
///
/// `engine` must be NULL or an engine of this library; `bytes` NULL or readable for `len`
/// bytes; `path` NULL or a NUL-terminated string; `size_out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_module_compile_aot(
    engine: *const sandbox_engine_t,
    bytes: *const u8,
    len: usize,
    path: *const c_char,
    size_out: *mut u64,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        // SAFETY: forwarded.
        let engine = unsafe { ffi::get(engine) }?;
        // SAFETY: forwarded.
        let bytes = unsafe { ffi::slice(bytes, len, "bytes") }?;
        // SAFETY: forwarded.
        let path = unsafe { ffi::string(path, "path") }?;
        let session = facade::Session::new(engine.sandbox.clone());
        let size = session.compile_aot(bytes, path)?;
        if !size_out.is_null() {
            // SAFETY: non-NULL and writable by the caller's guarantee.
            unsafe { size_out.write(size) };
        }
        Ok(())
    })
}

/// Loads an artifact written by `sandbox_module_compile_aot` (or `sandbox compile --aot`)
/// without compiling. Refused with `SANDBOX_OUTCOME_INCOMPATIBLE_ARTIFACT` when it is not an
/// artifact, is truncated or damaged, or was made for another backend, engine version or
/// configuration; the wasm inside is validated and policy-checked again.
///
/// An artifact is native code: its checks catch accidents, not a crafted file. Load only
/// files you trust as much as the program itself.
///
/// # Safety
///
/// `engine` must be NULL or an engine of this library; `path` NULL or a NUL-terminated
/// string; `out` NULL or writable; the file must be trusted (above).
#[no_mangle]
pub unsafe extern "C" fn sandbox_module_load_aot(
    engine: *const sandbox_engine_t,
    path: *const c_char,
    out: *mut *mut sandbox_module_t,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        let out = Out::new(out, "out")?;
        // SAFETY: forwarded.
        let engine = unsafe { ffi::get(engine) }?;
        // SAFETY: forwarded.
        let path = unsafe { ffi::string(path, "path") }?;
        let bytes = facade::cache::read_artifact_file(std::path::Path::new(path))?;
        // SAFETY: the caller vouches for the file (documented above); the artifact's header
        // and checksum are verified before its code is loaded.
        let module = unsafe { engine.sandbox.load_aot(&bytes) }?;
        out.set(ffi::into_raw(sandbox_module_t::new(
            engine.sandbox.clone(),
            module,
        )));
        Ok(())
    })
}

/// A new reference to the same compiled module (for another thread, say); both must be
/// deleted. NULL for a NULL or invalid module.
///
/// # Safety
///
/// `module` must be NULL or a module of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_module_clone(
    module: *const sandbox_module_t,
) -> *mut sandbox_module_t {
    ffi::guard_or(std::ptr::null_mut(), || {
        // SAFETY: forwarded.
        match unsafe { ffi::get(module) } {
            Ok(module) => ffi::into_raw(sandbox_module_t::new(
                module.sandbox.clone(),
                module.module.clone(),
            )),
            Err(_) => std::ptr::null_mut(),
        }
    })
}

/// How many functions the module exports (0 for a NULL or invalid module).
///
/// # Safety
///
/// `module` must be NULL or a module of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_module_export_count(module: *const sandbox_module_t) -> usize {
    // SAFETY: forwarded.
    unsafe { ffi::get(module) }.map_or(0, |module| module.exports.len())
}

/// The name of exported function `index` (in export order), borrowed from the module; NULL
/// when `index` is out of range or the module invalid.
///
/// # Safety
///
/// `module` must be NULL or a module of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_module_export_name(
    module: *const sandbox_module_t,
    index: usize,
) -> *const c_char {
    // SAFETY: forwarded.
    unsafe { ffi::get(module) }
        .ok()
        .and_then(|module| module.exports.get(index))
        .map_or(std::ptr::null(), |name| name.as_ptr())
}

/// Releases a module. Instances made from it stay usable. NULL is ignored.
///
/// # Safety
///
/// `module` must be NULL or a module of this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn sandbox_module_delete(module: *mut sandbox_module_t) {
    // SAFETY: forwarded.
    ffi::guard_or((), || unsafe { ffi::delete(module) })
}
