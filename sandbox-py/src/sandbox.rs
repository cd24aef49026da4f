//! `NativeSandbox` (an engine under one configuration, with its compiled modules) and `Module`.
//!
//! Every compile and every run happens with the GIL released (`Python::detach`), so Python
//! threads and the asyncio event loop go on while guests run. A panic inside an engine is
//! caught and reported as a trap, never unwound into Python.

use crate::config::{self, bytes};
use crate::errors::{bad_type, IntoPy};
use crate::result::ExecutionResult;
use crate::values;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};
use sandbox::lang::{Lang, StagedScript};
use sandbox::{CompiledModule, SandboxConfig, SandboxError, Trap};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

/// Modules kept per sandbox; when full, the cache starts over (modules in use stay alive).
const MAX_CACHED_MODULES: usize = 256;

/// A compiled module: load once with `WasmSandbox.load`, run as often as needed.
#[pyclass(module = "wasm_sandbox", frozen)]
pub struct Module {
    module: Arc<dyn CompiledModule>,
    /// The sandbox that compiled it (modules run only there).
    owner: usize,
}

#[pymethods]
impl Module {
    /// The engine that compiled it.
    #[getter]
    fn backend(&self) -> &'static str {
        self.module.kind().name()
    }

    /// Exported functions and their signatures, e.g. `{"add": "(i32, i32) -> i32"}`.
    #[getter]
    fn exports(&self) -> HashMap<String, String> {
        let info = self.module.info();
        info.exported_functions()
            .filter_map(|name| {
                let signature = info.function(name).ok()?;
                Some((name.to_string(), signature.to_string()))
            })
            .collect()
    }

    /// Imports, as `module::name`.
    #[getter]
    fn imports(&self) -> Vec<String> {
        self.module
            .info()
            .imports
            .iter()
            .map(|import| format!("{}::{}", import.module, import.name))
            .collect()
    }

    /// The function `execute` calls when none is named: `_start` for a WASI command, the
    /// default export `""` for a reactor.
    #[getter]
    fn entry_point(&self) -> &'static str {
        sandbox::wasi::entry_point(self.module.info())
    }

    fn __repr__(&self) -> String {
        let mut exports: Vec<String> = self.exports().into_keys().collect();
        exports.sort();
        format!(
            "<Module backend={:?} exports={exports:?}>",
            self.module.kind().name()
        )
    }
}

/// One engine under one configuration: compiles modules (each once per content) and runs them.
#[pyclass(module = "wasm_sandbox", frozen)]
pub struct NativeSandbox {
    sandbox: Arc<dyn sandbox::Sandbox>,
    modules: Mutex<HashMap<[u8; 32], Arc<dyn CompiledModule>>>,
    /// Whether the configuration named a fuel budget itself (scripts run unmetered otherwise:
    /// an interpreter's start-up alone takes ~270 million fuel).
    explicit_fuel: bool,
    /// The sandbox scripts run on (the same limits, fuel as above), made on first use.
    scripts: OnceLock<Arc<dyn sandbox::Sandbox>>,
    /// Interpreter modules by path.
    interpreters: Mutex<HashMap<PathBuf, Arc<dyn CompiledModule>>>,
}

impl NativeSandbox {
    fn id(&self) -> usize {
        Arc::as_ptr(&self.sandbox) as *const () as usize
    }

    /// The compiled module for `wasm`: a `Module` of this sandbox, or bytes / WAT text,
    /// compiled once per content.
    fn resolve(
        &self,
        py: Python<'_>,
        wasm: &Bound<'_, PyAny>,
    ) -> PyResult<Arc<dyn CompiledModule>> {
        if let Ok(module) = wasm.cast::<Module>() {
            let module = module.get();
            if module.owner != self.id() {
                return Err(PyValueError::new_err(
                    "this Module was loaded by another sandbox; load it with this one",
                ));
            }
            return Ok(module.module.clone());
        }
        let bytes = module_bytes(wasm)?;
        self.load_bytes(py, bytes)
    }

    fn load_bytes(&self, py: Python<'_>, bytes: Vec<u8>) -> PyResult<Arc<dyn CompiledModule>> {
        // Hashing a large module (CPython is 25 MiB) takes milliseconds: without the GIL.
        let key: [u8; 32] = if bytes.len() > 1 << 16 {
            py.detach(|| Sha256::digest(&bytes).into())
        } else {
            Sha256::digest(&bytes).into()
        };
        if let Some(module) = self.lock_modules().get(&key) {
            return Ok(module.clone());
        }
        let sandbox = self.sandbox.clone();
        let module = py
            .detach(move || guarded(|| sandbox.load(&bytes)))
            .into_py(py)?;
        let mut modules = self.lock_modules();
        if modules.len() >= MAX_CACHED_MODULES {
            modules.clear();
        }
        modules.insert(key, module.clone());
        Ok(module)
    }

    fn lock_modules(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Arc<dyn CompiledModule>>> {
        self.modules
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn script_sandbox(&self) -> PyResult<Arc<dyn sandbox::Sandbox>> {
        if let Some(sandbox) = self.scripts.get() {
            return Ok(sandbox.clone());
        }
        let mut config = self.sandbox.config().clone();
        if !self.explicit_fuel {
            config.max_fuel = None;
        }
        let made = Python::attach(|py| sandbox::sandbox(self.sandbox.kind(), config).into_py(py))?;
        Ok(self.scripts.get_or_init(|| made).clone())
    }

    fn interpreter(
        &self,
        py: Python<'_>,
        lang: Lang,
        path: Option<PathBuf>,
    ) -> PyResult<Arc<dyn CompiledModule>> {
        let path = sandbox::lang::interpreter(lang, path.as_deref()).into_py(py)?;
        if let Some(module) = self
            .interpreters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&path)
        {
            return Ok(module.clone());
        }
        let sandbox = self.script_sandbox()?;
        let file = path.clone();
        let module = py
            .detach(move || {
                guarded(|| {
                    let bytes =
                        sandbox::read_module_file(&file, sandbox.config().max_module_bytes)?;
                    sandbox.load(&bytes)
                })
            })
            .into_py(py)?;
        self.interpreters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(path, module.clone());
        Ok(module)
    }
}

#[pymethods]
impl NativeSandbox {
    /// An engine for the configuration dict (see `WasmSandboxConfig`); `explicit_fuel` says
    /// whether its fuel budget was asked for rather than taken from a preset.
    #[new]
    #[pyo3(signature = (config, explicit_fuel=true))]
    fn new(py: Python<'_>, config: &Bound<'_, PyDict>, explicit_fuel: bool) -> PyResult<Self> {
        let parsed = config::parse(config)?;
        let sandbox = py
            .detach(move || guarded(|| sandbox::sandbox(parsed.runtime, parsed.config)))
            .into_py(py)?;
        Ok(NativeSandbox {
            sandbox,
            modules: Mutex::new(HashMap::new()),
            explicit_fuel,
            scripts: OnceLock::new(),
            interpreters: Mutex::new(HashMap::new()),
        })
    }

    /// The engine's name.
    #[getter]
    fn backend(&self) -> &'static str {
        self.sandbox.kind().name()
    }

    /// Compiles (or finds already compiled) a module from bytes or WAT text.
    fn load(&self, py: Python<'_>, wasm: &Bound<'_, PyAny>) -> PyResult<Module> {
        let module = self.resolve(py, wasm)?;
        Ok(Module {
            module,
            owner: self.id(),
        })
    }

    /// Runs `function` (default: the module's entry point) with `args` in a fresh instance.
    #[pyo3(signature = (wasm, function=None, args=None, stdin=None))]
    fn execute(
        &self,
        py: Python<'_>,
        wasm: &Bound<'_, PyAny>,
        function: Option<&str>,
        args: Option<&Bound<'_, PyAny>>,
        stdin: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<ExecutionResult> {
        let module = self.resolve(py, wasm)?;
        let function = function.unwrap_or_else(|| sandbox::wasi::entry_point(module.info()));
        let signature = module.info().function(function).into_py(py)?;
        let args = values::arguments(function, signature, args).into_py(py)?;
        signature.check_args(function, &args).into_py(py)?;
        let stdin = stdin
            .filter(|stdin| !stdin.is_none())
            .map(|stdin| bytes(stdin, "stdin"))
            .transpose()?;
        let config = match stdin {
            Some(stdin) => {
                let mut config = self.sandbox.config().clone();
                config.stdin = stdin;
                std::borrow::Cow::Owned(config)
            }
            None => std::borrow::Cow::Borrowed(self.sandbox.config()),
        };
        let command = function == "_start";
        let report = py.detach(|| run(&*module, &config, function, &args));
        finish(py, report, command)
    }

    /// Runs `source` with the interpreter of `lang`, the script and `files` preopened
    /// read-only at `/script`.
    #[pyo3(signature = (source, lang, stdin=None, files=None, args=None, interpreter=None))]
    #[allow(clippy::too_many_arguments)]
    fn run_script(
        &self,
        py: Python<'_>,
        source: &Bound<'_, PyAny>,
        lang: &str,
        stdin: Option<&Bound<'_, PyAny>>,
        files: Option<&Bound<'_, PyDict>>,
        args: Option<Vec<String>>,
        interpreter: Option<PathBuf>,
    ) -> PyResult<ExecutionResult> {
        let lang: Lang = lang
            .parse()
            .map_err(|err: SandboxError| crate::errors::bad_value("lang", err))?;
        let source = bytes(source, "source")?;
        let mut staged_files = Vec::new();
        if let Some(files) = files {
            for (name, data) in files.iter() {
                let name = config::string(&name, "files")?;
                staged_files.push((name, bytes(&data, "files")?));
            }
        }
        let module = self.interpreter(py, lang, interpreter)?;
        let sandbox = self.script_sandbox()?;
        let mut config = sandbox.config().clone();
        if let Some(stdin) = stdin.filter(|stdin| !stdin.is_none()) {
            config.stdin = bytes(stdin, "stdin")?;
        }
        let args = args.unwrap_or_default();
        let report = py.detach(move || {
            guarded(|| {
                let staged = StagedScript::from_source(lang, &source, &staged_files)?;
                staged.configure(lang, &args, &mut config);
                run(&*module, &config, "_start", &[])
            })
        });
        finish(py, report, true)
    }

    /// Compiles `wasm` ahead of time into the file `path`; returns its size in bytes.
    fn compile_aot(&self, py: Python<'_>, wasm: &Bound<'_, PyAny>, path: PathBuf) -> PyResult<u64> {
        let bytes = module_bytes(wasm)?;
        let session = sandbox::Session::new(self.sandbox.clone());
        py.detach(move || guarded(|| session.compile_aot(&bytes, &path)))
            .into_py(py)
    }

    /// Loads an artifact written by `compile_aot` (by a sandbox with the same engine and
    /// configuration). Artifacts are native code: load only files you trust as much as this
    /// program.
    fn load_aot(&self, py: Python<'_>, path: PathBuf) -> PyResult<Module> {
        let sandbox = self.sandbox.clone();
        let module = py
            .detach(move || {
                guarded(|| {
                    let bytes = sandbox::cache::read_artifact_file(&path)?;
                    // SAFETY: the caller vouches for the file (documented on the Python
                    // method); the artifact's header and checksum are verified first.
                    unsafe { sandbox.load_aot(&bytes) }
                })
            })
            .into_py(py)?;
        Ok(Module {
            module,
            owner: self.id(),
        })
    }

    fn __repr__(&self) -> String {
        format!("<NativeSandbox backend={:?}>", self.sandbox.kind().name())
    }
}

/// Checks that `wasm` (bytes or WAT text) is a valid module, raising `InvalidModule` if not.
#[pyfunction]
pub fn validate(py: Python<'_>, wasm: &Bound<'_, PyAny>) -> PyResult<()> {
    let bytes = module_bytes(wasm)?;
    let config = SandboxConfig::default();
    py.detach(move || {
        guarded(|| {
            let wasm = if sandbox::looks_like_text(&bytes) {
                sandbox::compile_wat_to_wasm(&bytes)?
            } else {
                bytes
            };
            sandbox::module::ModuleInfo::parse(&wasm, &config).map(|_| ())
        })
    })
    .into_py(py)
}

/// Compiles WebAssembly text to binary.
#[pyfunction]
pub fn wat_to_wasm<'py>(
    py: Python<'py>,
    source: &Bound<'_, PyAny>,
) -> PyResult<Bound<'py, PyBytes>> {
    let text = module_bytes(source)?;
    let wasm = sandbox::compile_wat_to_wasm(&text).into_py(py)?;
    Ok(PyBytes::new(py, &wasm))
}

/// Compiles a Mini program (the project's small language) to a module; a program that does
/// not compile raises `CompilationError` with every diagnostic.
#[pyfunction]
#[pyo3(signature = (source, filename = None))]
pub fn compile_mini<'py>(
    py: Python<'py>,
    source: &Bound<'_, PyAny>,
    filename: Option<String>,
) -> PyResult<Bound<'py, PyBytes>> {
    let text = mini_source(source)?;
    let file = filename.unwrap_or_else(|| sandbox::source::UNNAMED.to_string());
    let wasm = py
        .detach(move || {
            guarded(|| {
                let text = sandbox::source::utf8(&text, &file)?;
                sandbox::compile_mini(text, &file)
            })
        })
        .into_py(py)?;
    Ok(PyBytes::new(py, &wasm))
}

/// Compiles a Mini program and prints its module as WebAssembly text.
#[pyfunction]
#[pyo3(signature = (source, filename = None))]
pub fn compile_mini_to_wat(
    py: Python<'_>,
    source: &Bound<'_, PyAny>,
    filename: Option<String>,
) -> PyResult<String> {
    let text = mini_source(source)?;
    let file = filename.unwrap_or_else(|| sandbox::source::UNNAMED.to_string());
    py.detach(move || {
        guarded(|| {
            let text = sandbox::source::utf8(&text, &file)?;
            sandbox::compile_mini_to_wat(text, &file)
        })
    })
    .into_py(py)
}

/// The text of a Mini program given as `str` or UTF-8 `bytes`.
fn mini_source(source: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    bytes(source, "source").map_err(|_| bad_type("source", "str or bytes", source))
}

/// The bytes of a module given as `bytes`, `bytearray`, `memoryview`-less bytes-likes or WAT
/// text (`str`).
fn module_bytes(wasm: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if wasm.is_instance_of::<PyString>() {
        return bytes(wasm, "wasm");
    }
    bytes(wasm, "wasm").map_err(|_| bad_type("wasm", "bytes, WAT text or a Module", wasm))
}

/// Instantiates `module` under `config` and calls `function`.
fn run(
    module: &dyn CompiledModule,
    config: &SandboxConfig,
    function: &str,
    args: &[sandbox::WasmValue],
) -> Result<sandbox::ExecutionResult, SandboxError> {
    guarded(|| match module.instantiate(config) {
        Ok(mut instance) => instance.call(function, args),
        Err(report) => Ok(*report),
    })
}

/// `f`, with a panic reported as a trap instead of unwinding into Python.
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T, SandboxError>) -> Result<T, SandboxError> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(SandboxError::trap_with(
            Trap::Other,
            format!("internal error in the engine: {message}"),
        ))
    })
}

/// The Python result of a run: a report, or the exception of a problem with the input (a run
/// that could not start: invalid module, unauthorized import, link error, ...).
fn finish(
    py: Python<'_>,
    report: Result<sandbox::ExecutionResult, SandboxError>,
    command: bool,
) -> PyResult<ExecutionResult> {
    let report = report.into_py(py)?;
    if let Some(error) = report.outcome.error() {
        if is_input_problem(error) {
            return Err(crate::errors::to_py_err(py, error));
        }
    }
    Ok(ExecutionResult::new(py, report, command))
}

/// Errors that are the caller's input, raised rather than reported: everything but how a run
/// ended (traps and limits).
fn is_input_problem(error: &SandboxError) -> bool {
    !(error.is_limit() || matches!(error, SandboxError::RuntimeError { .. }))
}
