//! The stateful lifecycle of the product brief, written once over the trait: load a module,
//! instantiate it, call functions (state persists between calls), reset.

use crate::module::ModuleInfo;
use crate::source::SourceKind;
use crate::traits::{CompiledModule, Instance, Sandbox};
use crate::{ExecutionResult, SandboxConfig, SandboxError, WasmValue};
use std::path::Path;
use std::sync::Arc;

/// One sandboxed guest: a sandbox (engine + config), at most one loaded module and at most one
/// live instance of it.
pub struct Session {
    sandbox: Arc<dyn Sandbox>,
    module: Option<Arc<dyn CompiledModule>>,
    instance: Option<Box<dyn Instance>>,
    last_result: Option<ExecutionResult>,
}

impl Session {
    /// A session over `sandbox`, with nothing loaded.
    pub fn new(sandbox: Arc<dyn Sandbox>) -> Self {
        Session {
            sandbox,
            module: None,
            instance: None,
            last_result: None,
        }
    }

    /// The sandbox (engine and configuration) behind this session.
    pub fn sandbox(&self) -> &Arc<dyn Sandbox> {
        &self.sandbox
    }

    /// The configuration in force.
    pub fn config(&self) -> &SandboxConfig {
        self.sandbox.config()
    }

    /// Validates, checks and compiles a module (binary or text), replacing any loaded one and
    /// dropping its instance.
    pub fn load_module(&mut self, bytes: &[u8]) -> Result<&ModuleInfo, SandboxError> {
        let module = self.sandbox.load(bytes)?;
        self.instance = None;
        self.last_result = None;
        Ok(self.module.insert(module).info())
    }

    /// Reads and loads a module from a file.
    pub fn load_module_from_file(
        &mut self,
        path: impl AsRef<Path>,
    ) -> Result<&ModuleInfo, SandboxError> {
        let path = path.as_ref();
        let bytes = read_module_file(path, self.config().max_module_bytes)?;
        self.load_module(&bytes)
    }

    /// Compiles `bytes` (binary or text) ahead of time with this session's sandbox and writes
    /// the artifact to `path` atomically; returns its size in bytes. The product brief's
    /// `compile_aot(bytes, path)`. The module loaded in the session, if any, is kept.
    pub fn compile_aot(&self, bytes: &[u8], path: impl AsRef<Path>) -> Result<u64, SandboxError> {
        let path = path.as_ref();
        let artifact = self.sandbox.compile_aot(bytes)?;
        crate::cache::write_atomic(path, &artifact).map_err(|err| SandboxError::Io {
            path: path.display().to_string(),
            reason: err.to_string(),
        })?;
        Ok(artifact.len() as u64)
    }

    /// Loads an artifact file written by [`Session::compile_aot`] (or `sandbox compile
    /// --aot`), replacing any loaded module. The product brief's `load_aot(path)`. Refused
    /// with `incompatible_artifact` unless made for this session's engine, engine version and
    /// code-relevant configuration (see [`Sandbox::load_aot`]).
    ///
    /// # Safety
    ///
    /// As [`Sandbox::load_aot`]: the file must be as trusted as the program itself.
    pub unsafe fn load_aot(&mut self, path: impl AsRef<Path>) -> Result<&ModuleInfo, SandboxError> {
        let bytes = crate::cache::read_artifact_file(path.as_ref())?;
        // SAFETY: forwarded to the caller.
        let module = unsafe { self.sandbox.load_aot(&bytes)? };
        self.set_module(module);
        self.module.as_ref().map(|m| m.info()).ok_or_else(no_module)
    }

    /// Uses an already compiled module (for example one shared between sessions).
    pub fn set_module(&mut self, module: Arc<dyn CompiledModule>) {
        self.module = Some(module);
        self.instance = None;
        self.last_result = None;
    }

    /// The loaded module, if any.
    pub fn module(&self) -> Option<&Arc<dyn CompiledModule>> {
        self.module.as_ref()
    }

    /// Creates a fresh instance of the loaded module (running its start function).
    pub fn instantiate(&mut self) -> Result<(), SandboxError> {
        let module = self.module.as_ref().ok_or_else(no_module)?;
        self.instance = None;
        match module.instantiate(self.sandbox.config()) {
            Ok(instance) => {
                self.instance = Some(instance);
                Ok(())
            }
            Err(report) => {
                let error =
                    report
                        .outcome
                        .error()
                        .cloned()
                        .unwrap_or_else(|| SandboxError::LinkError {
                            reason: "instantiation failed".into(),
                        });
                self.last_result = Some(*report);
                Err(error)
            }
        }
    }

    /// Calls an export and returns the full report, whatever the outcome. Instantiates first if
    /// needed (a failed instantiation is returned as its report). `Err` means the call could not
    /// start (no module, function not found, type mismatch).
    pub fn call(
        &mut self,
        name: &str,
        args: &[WasmValue],
    ) -> Result<ExecutionResult, SandboxError> {
        if self.instance.is_none() {
            if let Err(err) = self.instantiate() {
                return match self.last_result.clone() {
                    Some(report) => Ok(report),
                    None => Err(err),
                };
            }
        }
        let instance = self.instance.as_mut().ok_or_else(no_module)?;
        let result = instance.call(name, args)?;
        self.last_result = Some(result.clone());
        Ok(result)
    }

    /// Calls an export; a failed run becomes its error (the report stays available from
    /// [`Session::last_result`]).
    pub fn call_function(
        &mut self,
        name: &str,
        args: &[WasmValue],
    ) -> Result<ExecutionResult, SandboxError> {
        self.call(name, args)?.into_result()
    }

    /// The report of the last run (call or failed instantiation), kept so a failure never loses
    /// what was measured and captured.
    pub fn last_result(&self) -> Option<&ExecutionResult> {
        self.last_result.as_ref()
    }

    /// Makes the session serve another run: a fresh instance (fuel refilled, memory and globals
    /// back to their initial state, usage forgotten) and the last report cleared.
    pub fn reset(&mut self) -> Result<(), SandboxError> {
        self.last_result = None;
        self.instance = None;
        if self.module.is_some() {
            self.instantiate()?;
        }
        Ok(())
    }

    /// Fuel consumed by the live instance so far.
    pub fn fuel_consumed(&self) -> Option<u64> {
        self.instance.as_ref().and_then(|i| i.fuel_consumed())
    }

    /// Peak linear memory of the live instance so far, in bytes.
    pub fn peak_memory(&self) -> u64 {
        self.instance.as_ref().map_or(0, |i| i.peak_memory())
    }
}

fn no_module() -> SandboxError {
    SandboxError::LinkError {
        reason: "no module is loaded: call load_module first".into(),
    }
}

/// Reads a module file, refusing anything larger than `limit` bytes without reading it all.
/// A Mini program (`.mini`) is compiled: its module is returned, or a
/// [`SandboxError::CompilationError`] (see [`crate::source`]).
pub fn read_module_file(path: &Path, limit: u64) -> Result<Vec<u8>, SandboxError> {
    read_module_file_as(path, limit, None)
}

/// As [`read_module_file`], with what the file holds said explicitly (`None`: by its
/// extension; binary or text WebAssembly when it names neither).
pub fn read_module_file_as(
    path: &Path,
    limit: u64,
    kind: Option<SourceKind>,
) -> Result<Vec<u8>, SandboxError> {
    let bytes = read_file_limited(path, limit)?;
    match kind.or_else(|| SourceKind::from_path(path)) {
        Some(kind) => crate::source::module_bytes(bytes, kind, &path.display().to_string()),
        None => Ok(bytes),
    }
}

/// Reads a file, refusing anything larger than `limit` bytes without reading it all.
pub(crate) fn read_file_limited(path: &Path, limit: u64) -> Result<Vec<u8>, SandboxError> {
    use std::io::Read;
    let io = |err: std::io::Error| SandboxError::Io {
        path: path.display().to_string(),
        reason: err.to_string(),
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(SandboxError::InvalidModule {
            reason: format!(
                "{} is larger than the module size limit of {limit} bytes",
                path.display()
            ),
            offset: None,
        });
    }
    Ok(bytes)
}
