//! The engine-neutral contract of the sandbox.
//!
//! `sandbox-core` owns everything both engines must agree on: the [`Sandbox`] trait and the
//! [`CompiledModule`] / [`Instance`] objects it hands out, the [`SandboxConfig`] (limits and
//! policy) with its presets, [`WasmValue`]s, the [`ExecutionResult`] every call reports, the one
//! [`SandboxError`] type with its closed [`Trap`] enum, the fuel [`cost model`](fuel), and the
//! module inspection ([`ModuleInfo`]) that validates bytes and checks imports before an engine
//! sees them, the module cache and AOT artifact format ([`cache`]), and the [`CancelHandle`]
//! that stops a running call from another thread ([`cancel`]). It depends on no engine:
//! backends depend on it, never the other way round.
//!
//! The stateful lifecycle of the product brief (load a module, instantiate it, call functions,
//! reset) is the [`Session`] type, written once over the trait.

pub mod cache;
pub mod call;
pub mod cancel;
pub mod clock;
pub mod config;
pub mod error;
pub mod fuel;
pub mod host;
pub mod module;
pub mod outcome;
pub mod reactor;
pub mod session;
pub mod source;
pub mod traits;
pub mod value;
pub mod wasi;

pub use cache::{ArtifactError, CacheConfig, CacheStatus};
pub use call::{CallReport, CapturedOutput, ExportFunc, InstanceToken};
pub use cancel::CancelHandle;
pub use config::{ClockPolicy, InstanceAllocation, Preopen, SandboxConfig};
pub use error::{SandboxError, SourceDiagnostic, Trap};
pub use host::{CappedOutput, GuestMemory, HostContext, HostError, HostFunction, HostFunctions};
pub use module::{ExportInfo, ExternKind, ImportInfo, MemoryInfo, ModuleInfo, TableInfo};
pub use outcome::{ExecutionResult, Outcome};
pub use session::Session;
pub use source::SourceKind;
pub use traits::{
    BackendKind, Capabilities, CompiledModule, Instance, InstanceId, Linker, Sandbox,
};
pub use value::{FuncSignature, ValType, WasmValue};
/// The `wasmparser` version core validates with (its `WasmFeatures` type appears in
/// [`Capabilities`]).
pub use wasmparser;

/// Compiles WebAssembly text to the binary format.
///
/// Binary input is passed through unchanged, so callers can hand over either form.
pub fn compile_wat_to_wasm(source: impl AsRef<[u8]>) -> Result<Vec<u8>, SandboxError> {
    let source = source.as_ref();
    wat::parse_bytes(source)
        .map(|bytes| bytes.into_owned())
        .map_err(|err| SandboxError::InvalidModule {
            reason: format!("cannot parse WebAssembly text: {err}"),
            offset: None,
        })
}
