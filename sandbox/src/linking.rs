//! Several modules instantiated in one store and linked to one another by name: the product
//! brief's `link_modules([(name, bytes)])`.
//!
//! ```
//! # fn main() -> Result<(), sandbox::SandboxError> {
//! use sandbox::{link_modules, default_runtime, SandboxConfig, WasmValue};
//! let provider = r#"(module
//!     (memory (export "memory") 1)
//!     (func (export "double") (param i32) (result i32) local.get 0 i32.const 2 i32.mul))"#;
//! let consumer = r#"(module
//!     (import "provider" "memory" (memory 1))
//!     (import "provider" "double" (func $double (param i32) (result i32)))
//!     (func (export "run") (param i32) (result i32)
//!         i32.const 0 (call $double (local.get 0)) i32.store
//!         i32.const 0 i32.load))"#;
//! let mut linked = link_modules(
//!     default_runtime()?,
//!     SandboxConfig::default(),
//!     &[("provider", provider.as_bytes()), ("consumer", consumer.as_bytes())],
//! )?;
//! let result = linked.call("consumer", "run", &[WasmValue::I32(21)])?;
//! assert_eq!(result.return_values, vec![WasmValue::I32(42)]);
//! // The consumer wrote into the provider's memory.
//! assert_eq!(linked.read_memory("provider", "memory", 0, 4)?, 42i32.to_le_bytes());
//! # Ok(()) }
//! ```

use crate::{sandbox, Runtime};
use sandbox_core::{
    CompiledModule, ExecutionResult, InstanceId, Linker, ModuleInfo, Outcome, Sandbox,
    SandboxConfig, SandboxError, WasmValue,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Instances in one store, each registered under its name so that modules added later can
/// import its exports (functions, memories, tables, globals).
///
/// The store's limits come from the configuration: memory and tables count every instance,
/// the fuel budget is the store's, the time limit applies to each call and instantiation.
pub struct LinkedModules {
    sandbox: Arc<dyn Sandbox>,
    linker: Box<dyn Linker>,
    names: BTreeMap<String, InstanceId>,
    modules: BTreeMap<String, Arc<dyn CompiledModule>>,
}

impl std::fmt::Debug for LinkedModules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkedModules")
            .field("runtime", &self.linker.kind())
            .field("instances", &self.names.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// Instantiates `modules` (binary or text) in order in one store on `runtime`, registering
/// each under its name, so that each may import from the ones before it.
///
/// The first module that fails to load or instantiate ends the linking with its error
/// (`invalid_module`, `unauthorized_import`, `link_error`, a trap or a limit).
pub fn link_modules(
    runtime: Runtime,
    config: SandboxConfig,
    modules: &[(&str, &[u8])],
) -> Result<LinkedModules, SandboxError> {
    let mut linked = LinkedModules::new(sandbox(runtime, config)?)?;
    for (name, bytes) in modules {
        linked.add(name, bytes)?;
    }
    Ok(linked)
}

impl LinkedModules {
    /// An empty store on `sandbox` (its engine and configuration).
    pub fn new(sandbox: Arc<dyn Sandbox>) -> Result<Self, SandboxError> {
        let linker = sandbox.linker()?;
        Ok(LinkedModules {
            sandbox,
            linker,
            names: BTreeMap::new(),
            modules: BTreeMap::new(),
        })
    }

    /// Loads `wasm` (binary or text), instantiates it and registers it under `name`,
    /// replacing any instance registered under that name before.
    pub fn add(&mut self, name: &str, wasm: &[u8]) -> Result<InstanceId, SandboxError> {
        let module = self.sandbox.load_linkable(wasm)?;
        let id = self
            .linker
            .instantiate(module.as_ref())
            .map_err(|report| failure(*report))?;
        self.linker.register(name, id)?;
        self.names.insert(name.to_string(), id);
        self.modules.insert(name.to_string(), module);
        Ok(id)
    }

    /// The interface (imports, exports, signatures) of the module instantiated as `instance`.
    pub fn info(&self, instance: &str) -> Result<&ModuleInfo, SandboxError> {
        self.instance(instance)?;
        self.modules
            .get(instance)
            .map(|module| module.info())
            .ok_or_else(|| SandboxError::LinkError {
                reason: format!("no instance named {instance:?}"),
            })
    }

    /// The instance registered under `name`, or `link_error` naming the ones that exist.
    pub fn instance(&self, name: &str) -> Result<InstanceId, SandboxError> {
        self.names
            .get(name)
            .copied()
            .ok_or_else(|| SandboxError::LinkError {
                reason: format!(
                    "no instance named {name:?} (instances: {})",
                    self.names.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            })
    }

    /// The names of the instances, in name order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(String::as_str)
    }

    /// Calls `func`, exported by the instance `instance`.
    pub fn call(
        &mut self,
        instance: &str,
        func: &str,
        args: &[WasmValue],
    ) -> Result<ExecutionResult, SandboxError> {
        let id = self.instance(instance)?;
        self.linker.call(id, func, args)
    }

    /// The value of the global `global` exported by `instance`.
    pub fn global(&mut self, instance: &str, global: &str) -> Result<WasmValue, SandboxError> {
        let id = self.instance(instance)?;
        self.linker.global(id, global)
    }

    /// Sets the mutable global `global` exported by `instance`.
    pub fn set_global(
        &mut self,
        instance: &str,
        global: &str,
        value: WasmValue,
    ) -> Result<(), SandboxError> {
        let id = self.instance(instance)?;
        self.linker.set_global(id, global, value)
    }

    /// The size in bytes of the memory `memory` exported by `instance`.
    pub fn memory_size(&mut self, instance: &str, memory: &str) -> Result<u64, SandboxError> {
        let id = self.instance(instance)?;
        self.linker.memory_size(id, memory)
    }

    /// Copies `len` bytes at `offset` out of the memory `memory` exported by `instance`.
    pub fn read_memory(
        &mut self,
        instance: &str,
        memory: &str,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, SandboxError> {
        let id = self.instance(instance)?;
        self.linker.read_memory(id, memory, offset, len)
    }

    /// The number of elements of the table `table` exported by `instance`.
    pub fn table_size(&mut self, instance: &str, table: &str) -> Result<u64, SandboxError> {
        let id = self.instance(instance)?;
        self.linker.table_size(id, table)
    }

    /// Fuel consumed in the store so far, or `None` when metering is off.
    pub fn fuel_consumed(&self) -> Option<u64> {
        self.linker.fuel_consumed()
    }

    /// The store underneath, for what this type does not wrap (anonymous instances, for
    /// example).
    pub fn linker(&mut self) -> &mut dyn Linker {
        self.linker.as_mut()
    }
}

/// The error that ended a failed instantiation.
fn failure(report: ExecutionResult) -> SandboxError {
    match report.outcome {
        Outcome::Failed(error) => error,
        Outcome::Exit { code } => SandboxError::LinkError {
            reason: format!("the start function exited with code {code}"),
        },
        Outcome::Ok => SandboxError::LinkError {
            reason: "instantiation failed".into(),
        },
    }
}
