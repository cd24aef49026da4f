//! `wasm_sandbox._native`: the sandbox facade as a CPython extension module (stable ABI, 3.9+).
//!
//! The Python package `wasm_sandbox` (in `python/`) is the public surface: its configuration
//! dataclass, the `WasmSandbox` context manager with its asyncio and blocking methods, the
//! exception hierarchy and the judge. This module is what those are built on:
//!
//! - [`NativeSandbox`]: one engine configured by one configuration, with a cache of the modules
//!   it compiled (keyed by the SHA-256 of their bytes), running guests with the GIL released;
//! - [`Module`]: a compiled module, reusable across runs;
//! - [`ExecutionResult`]: the report of one run;
//! - [`HostContext`]: what a Python host function sees of the guest while it is called;
//! - `judge`, `preset`, `check_config`: the judge and the configuration's single source of
//!   defaults and validation.
//!
//! Problems with the input raise the exception of `wasm_sandbox._errors` named by the error's
//! kind; a run that fails (a trap, a limit, an exit code) is an `ExecutionResult`.

mod config;
mod errors;
mod host;
mod judge;
mod result;
mod sandbox;
mod values;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
#[pyo3(name = "_native")]
fn native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    module.add(
        "RUNTIMES",
        ::sandbox::available_runtimes()
            .into_iter()
            .map(|runtime| runtime.name())
            .collect::<Vec<_>>(),
    )?;
    module.add_class::<sandbox::NativeSandbox>()?;
    module.add_class::<sandbox::Module>()?;
    module.add_class::<result::ExecutionResult>()?;
    module.add_class::<host::HostContext>()?;
    module.add_function(wrap_pyfunction!(config::preset, module)?)?;
    module.add_function(wrap_pyfunction!(config::check_config, module)?)?;
    module.add_function(wrap_pyfunction!(judge::judge, module)?)?;
    module.add_function(wrap_pyfunction!(sandbox::validate, module)?)?;
    module.add_function(wrap_pyfunction!(sandbox::wat_to_wasm, module)?)?;
    module.add_function(wrap_pyfunction!(sandbox::compile_mini, module)?)?;
    module.add_function(wrap_pyfunction!(sandbox::compile_mini_to_wat, module)?)?;
    Ok(())
}
