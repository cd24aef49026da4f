//! The contract each backend implements.
//!
//! Three objects, each with a small, object-safe trait:
//! - a [`Sandbox`] is an engine configured for one [`SandboxConfig`]; it compiles bytes;
//! - a [`CompiledModule`] is compiled code, immutable and shareable; it instantiates;
//! - an [`Instance`] is live guest state; it runs calls;
//! - a [`Linker`] is a store of several instances linked together by name (a later module
//!   imports the functions, memories, tables and globals of an instance registered earlier).
//!
//! Validation, the feature check and the import policy are written once here
//! ([`Sandbox::load`]) so that both engines refuse the same modules with the same errors; so
//! are the module cache and ahead-of-time artifacts ([`Sandbox::load_with_status`],
//! [`Sandbox::compile_aot`], [`Sandbox::load_aot`]), for which a backend only supplies
//! [`Sandbox::code_fingerprint`], [`CompiledModule::serialize`] and
//! [`Sandbox::deserialize_validated`].

use crate::cache::{
    encode_artifact, ArtifactIdentity, CacheKey, CacheStatus, CodeFingerprint, DiskCache,
};
use crate::call::{CallReport, CapturedOutput, ExportFunc};
use crate::module::ModuleInfo;
use crate::{CancelHandle, ExecutionResult, SandboxConfig, SandboxError, WasmValue};
use serde::{Deserialize, Serialize};
use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The engines the project knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// wasmtime with the cranelift compiler.
    Wasmtime,
    /// wasmer with the singlepass compiler.
    Wasmer,
}

impl BackendKind {
    /// Every backend kind, whether compiled in or not.
    pub const ALL: [BackendKind; 2] = [BackendKind::Wasmtime, BackendKind::Wasmer];

    /// The lowercase name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Wasmtime => "wasmtime",
            BackendKind::Wasmer => "wasmer",
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for BackendKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "wasmtime" => Ok(BackendKind::Wasmtime),
            "wasmer" => Ok(BackendKind::Wasmer),
            other => Err(format!(
                "unknown backend {other:?} (expected wasmtime or wasmer)"
            )),
        }
    }
}

/// What a backend supports, declared up front so nobody has to discover it by failing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capabilities {
    /// The engine.
    pub backend: BackendKind,
    /// The engine's version.
    pub engine_version: &'static str,
    /// The compiler behind it (`cranelift`, `singlepass`).
    pub compiler: &'static str,
    /// Fuel metering under the core cost model.
    pub fuel: bool,
    /// Interrupting running code at the wall-clock limit.
    pub wall_clock_limit: bool,
    /// Linear-memory and table limits.
    pub memory_limit: bool,
    /// A configurable wasm stack limit.
    pub stack_limit: bool,
    /// WASI preview 1.
    pub wasi: bool,
    /// Network sockets for guests.
    pub network: bool,
    /// A pooling instance allocator behind [`crate::InstanceAllocation::Pooling`]; without
    /// one the setting is ignored and instances are allocated on demand.
    pub instance_pooling: bool,
    /// Proposals beyond the MVP this backend runs, by their `wasmparser` names.
    pub proposals: Vec<&'static str>,
    /// The WebAssembly features this backend accepts; a module valid under the full feature
    /// set but not under this one is refused as `unsupported`.
    #[serde(skip)]
    pub features: wasmparser::WasmFeatures,
}

/// An engine configured for one [`SandboxConfig`]: the entry point of a backend.
///
/// Engines are expensive; a backend shares one engine between every `Sandbox` whose
/// configuration compiles to the same code, and creates per-run state only in
/// [`CompiledModule::instantiate`].
pub trait Sandbox: Send + Sync {
    /// Which engine this is.
    fn kind(&self) -> BackendKind;

    /// What this backend supports.
    fn capabilities(&self) -> Capabilities;

    /// The configuration this sandbox was created with.
    fn config(&self) -> &SandboxConfig;

    /// Compiles bytes that [`Sandbox::load`] has validated and checked against the policy.
    /// Callers should use `load`.
    fn compile_validated(
        &self,
        wasm: &[u8],
        info: ModuleInfo,
    ) -> Result<Arc<dyn CompiledModule>, SandboxError>;

    /// Everything besides the engine's name and version that changes the code this sandbox's
    /// engine generates (fuel metering, the cost model, a compiled-in stack limit, features,
    /// target and CPU, the engine's own compatibility hash). Two sandboxes with equal
    /// [`Sandbox::identity`] share an engine and can run each other's compiled code.
    fn code_fingerprint(&self) -> CodeFingerprint;

    /// Rebuilds a compiled module from `code`, the output of [`CompiledModule::serialize`].
    /// Callers should use [`Sandbox::load`] (the cache) or [`Sandbox::load_aot`].
    ///
    /// # Safety
    ///
    /// The engine maps `code` as executable machine code and trusts its layout. `code` must be
    /// exactly what `serialize` returned for the module compiled from `wasm` by a sandbox with
    /// this sandbox's [`Sandbox::identity`], and `wasm` must have passed the checks of `load`
    /// (`info` being its interface). Core guarantees this with the artifact header and payload
    /// hash ([`crate::cache`]) for bytes from a trusted place.
    unsafe fn deserialize_validated(
        &self,
        wasm: &[u8],
        info: ModuleInfo,
        code: &[u8],
    ) -> Result<Arc<dyn CompiledModule>, SandboxError>;

    /// What compiled code must have been made for to run here: engine, version, fingerprint.
    fn identity(&self) -> ArtifactIdentity {
        ArtifactIdentity {
            backend: self.kind(),
            engine_version: self.capabilities().engine_version.to_string(),
            fingerprint: self.code_fingerprint(),
        }
    }

    /// The module-cache key of `wasm` (binary bytes) under this sandbox: the bytes' SHA-256,
    /// the engine identity and the validation feature set of the configuration.
    fn cache_key(&self, wasm: &[u8]) -> Result<CacheKey, SandboxError> {
        let features = self.config().features()?;
        Ok(CacheKey::new(wasm, &self.identity()).salted(&features.bits().to_le_bytes()))
    }

    /// The binary form of `wasm` (text is compiled); a precompiled artifact is refused with
    /// `invalid_module` pointing to [`Sandbox::load_aot`].
    fn binary_of<'a>(&self, wasm: &'a [u8]) -> Result<Cow<'a, [u8]>, SandboxError> {
        if crate::cache::is_artifact(wasm) {
            return Err(SandboxError::InvalidModule {
                reason: "this is a precompiled (AOT) artifact, not a WebAssembly module: load it \
                         with load_aot"
                    .into(),
                offset: None,
            });
        }
        Ok(if looks_like_text(wasm) {
            Cow::Owned(crate::compile_wat_to_wasm(wasm)?)
        } else {
            Cow::Borrowed(wasm)
        })
    }

    /// Validates `wasm` (binary or text), checks features and imports, and returns the binary
    /// bytes with the module's interface: everything [`Sandbox::load`] does before compiling.
    ///
    /// Refuses with `invalid_module` (with the validator's reason and offset),
    /// `unsupported` (a feature this engine cannot run) or `unauthorized_import`.
    fn check_module<'a>(
        &self,
        wasm: &'a [u8],
    ) -> Result<(Cow<'a, [u8]>, ModuleInfo), SandboxError> {
        let config = self.config();
        let wasm = self.binary_of(wasm)?;
        let info = validate(self, &wasm)?;
        info.check_imports(config)?;
        Ok((wasm, info))
    }

    /// Validates `wasm` (binary or text), checks features and imports, and compiles it, or
    /// reuses compiled code from the cache when [`SandboxConfig::cache`] turns one on.
    ///
    /// Refuses with `invalid_module` (with the validator's reason and offset),
    /// `unsupported` (a feature this engine cannot run) or `unauthorized_import`. A cache
    /// problem (unreadable, corrupt, stale entry; unwritable directory) is never an error: the
    /// module is compiled.
    fn load(&self, wasm: &[u8]) -> Result<Arc<dyn CompiledModule>, SandboxError> {
        self.load_with_status(wasm).map(|(module, _)| module)
    }

    /// [`Sandbox::load`], also saying whether the compiled code came from a cache.
    ///
    /// The import policy is always this sandbox's, whoever compiled the code. Then: the
    /// in-memory layer, then the disk layer (an entry is used only if its header, checksum,
    /// engine identity and embedded wasm bytes all match), else the module is validated, the
    /// bytes that were hashed are compiled and stored in both. The cache key includes the
    /// validation feature set, so an entry proves its bytes were validated under this
    /// configuration's features and a hit skips validating them again (it only reads the
    /// module's interface): that is what makes a disk hit cost little more than the engine's
    /// own deserialisation.
    fn load_with_status(
        &self,
        wasm: &[u8],
    ) -> Result<(Arc<dyn CompiledModule>, CacheStatus), SandboxError> {
        let config = self.config();
        let cache = &config.cache;
        if !cache.is_enabled() {
            let (wasm, info) = self.check_module(wasm)?;
            return Ok((self.compile_validated(&wasm, info)?, CacheStatus::Off));
        }
        let wasm = self.binary_of(wasm)?;
        let identity = self.identity();
        let key = self.cache_key(&wasm)?;
        let fits = wasm.len() as u64 <= config.max_module_bytes;
        if cache.memory && fits {
            if let Some(module) = crate::cache::memory_get(&key) {
                if module.kind() == self.kind() {
                    module.info().check_imports(config)?;
                    return Ok((module, CacheStatus::MemoryHit));
                }
            }
        }
        let disk = cache
            .dir
            .as_ref()
            .map(|dir| DiskCache::new(dir, cache.max_disk_bytes));
        if let (Some(disk), true) = (&disk, fits) {
            if let Some(bytes) = disk.get(&key) {
                if let Some(artifact) =
                    crate::cache::disk_lookup(disk, &key, &identity, &wasm, &bytes)
                {
                    if let Ok(info) = ModuleInfo::read_validated(&wasm) {
                        info.check_imports(config)?;
                        // SAFETY: the entry's header names this engine, version and
                        // fingerprint, its checksum matches, and it embeds exactly these
                        // bytes, validated under these features when it was stored; the cache
                        // directory is as trusted as the program (created private to the
                        // user; see the module docs of `cache`).
                        let loaded =
                            unsafe { self.deserialize_validated(&wasm, info, artifact.code()) };
                        match loaded {
                            Ok(module) => {
                                if cache.memory {
                                    crate::cache::memory_put(
                                        key,
                                        module.clone(),
                                        cache.max_memory_entries,
                                    );
                                }
                                return Ok((module, CacheStatus::DiskHit));
                            }
                            // The engine refused it after all: a miss, rebuilt below.
                            Err(_) => disk.remove(&key),
                        }
                    }
                }
            }
        }
        let (wasm, info) = self.check_module(&wasm)?;
        let module = self.compile_validated(&wasm, info)?;
        if let Some(disk) = &disk {
            if let Ok(code) = module.serialize() {
                // A full disk or a read-only directory only costs the next load a compile.
                let _ = disk.put(&key, &encode_artifact(&identity, &wasm, &code));
            }
        }
        if cache.memory {
            crate::cache::memory_put(key, module.clone(), cache.max_memory_entries);
        }
        Ok((module, CacheStatus::Miss))
    }

    /// Compiles `wasm` (binary or text; checked as by [`Sandbox::load`]) ahead of time into an
    /// artifact: a header naming this engine, its version and configuration fingerprint, the
    /// module's wasm bytes and the engine's compiled code ([`crate::cache`] has the layout).
    /// [`Sandbox::load_aot`] on a sandbox with the same identity runs it without compiling.
    fn compile_aot(&self, wasm: &[u8]) -> Result<Vec<u8>, SandboxError> {
        let (wasm, _) = self.check_module(wasm)?;
        let (module, _) = self.load_with_status(&wasm)?;
        let code = module.serialize()?;
        Ok(encode_artifact(&self.identity(), &wasm, &code))
    }

    /// Loads an artifact written by [`Sandbox::compile_aot`].
    ///
    /// Before the engine sees any compiled code, the artifact's header is parsed and checked
    /// (magic, format version, engine, engine version, configuration fingerprint) and its
    /// SHA-256 checksum verified; the embedded wasm is then validated and checked against this
    /// sandbox's import policy as by [`Sandbox::load`]. Anything else (a plain `.wasm`,
    /// garbage, a truncated or modified file, another engine or configuration) is refused with
    /// `incompatible_artifact`.
    ///
    /// # Safety
    ///
    /// The checks catch accidents, not attacks: a file crafted by someone who can write it
    /// passes them and its machine code runs in this process. Load only artifacts as trusted
    /// as the program itself (made by `compile_aot`, stored where others cannot write).
    unsafe fn load_aot(&self, artifact: &[u8]) -> Result<Arc<dyn CompiledModule>, SandboxError> {
        let artifact = crate::cache::decode_artifact(artifact)?;
        artifact.check(&self.identity())?;
        if looks_like_text(artifact.wasm()) {
            return Err(SandboxError::IncompatibleArtifact {
                reason: "the embedded module is not binary WebAssembly".into(),
            });
        }
        let (wasm, info) = self.check_module(artifact.wasm())?;
        // SAFETY: the header names this engine, version and fingerprint, the checksum matches,
        // the wasm passed the checks; the caller vouches for the file's origin.
        unsafe { self.deserialize_validated(&wasm, info, artifact.code()) }
    }

    /// Like [`Sandbox::load`], but for modules meant for a [`Linker`]: imports are not checked
    /// against the policy here, because they may be satisfied by other instances (wasm linked
    /// to wasm grants the guest nothing). The policy still applies to every import that no
    /// linked instance provides, when [`Linker::instantiate`] resolves it, and
    /// [`CompiledModule::instantiate`] of such a module checks the policy as for any module.
    fn load_linkable(&self, wasm: &[u8]) -> Result<Arc<dyn CompiledModule>, SandboxError> {
        let wasm = self.binary_of(wasm)?;
        let info = validate(self, &wasm)?;
        self.compile_validated(&wasm, info)
    }

    /// A new, empty store in which modules compiled by this sandbox are instantiated and
    /// linked together, under this sandbox's configuration: the memory and table limits and
    /// the fuel budget are for the whole store, the time limit is per call.
    fn linker(&self) -> Result<Box<dyn Linker>, SandboxError>;
}

/// Validates `wasm` for `sandbox`: valid under the configuration's features (else
/// `invalid_module`) and runnable by the engine (else `unsupported`). The common case, a module
/// valid under both, takes one validation pass; only a refusal takes a second, to tell the two
/// apart.
fn validate<S: Sandbox + ?Sized>(sandbox: &S, wasm: &[u8]) -> Result<ModuleInfo, SandboxError> {
    let config = sandbox.config();
    let runnable = config.features()? & sandbox.capabilities().features;
    if wasm.len() as u64 <= config.max_module_bytes {
        if let Ok(info) = ModuleInfo::parse_with_features(wasm, runnable) {
            return Ok(info);
        }
    }
    let info = ModuleInfo::parse(wasm, config)?;
    check_features(sandbox, wasm)?;
    Ok(info)
}

/// Refuses, as `unsupported`, a module valid under the full feature set but using a feature
/// `sandbox`'s engine does not run.
fn check_features<S: Sandbox + ?Sized>(sandbox: &S, wasm: &[u8]) -> Result<(), SandboxError> {
    let features = sandbox.capabilities().features;
    if let Err(err) = ModuleInfo::parse_with_features(wasm, features) {
        let reason = match err {
            SandboxError::InvalidModule { reason, .. } => reason,
            other => other.to_string(),
        };
        return Err(SandboxError::Unsupported {
            reason: format!("{} cannot run this module: {reason}", sandbox.kind()),
        });
    }
    Ok(())
}

/// Whether `bytes` look like WebAssembly text rather than binary.
pub fn looks_like_text(bytes: &[u8]) -> bool {
    !bytes.starts_with(b"\0asm")
        && std::str::from_utf8(bytes)
            .map(|s| s.trim_start().starts_with('(') || s.trim_start().starts_with(";;"))
            .unwrap_or(false)
}

/// Compiled code: immutable, shareable across threads, instantiated as often as needed.
pub trait CompiledModule: Send + Sync {
    /// The engine that compiled it.
    fn kind(&self) -> BackendKind;

    /// The module's interface.
    fn info(&self) -> &ModuleInfo;

    /// Creates a fresh instance under `config`'s per-run limits (memory, tables, time, fuel,
    /// stack) and runs its start function, if any, under them.
    ///
    /// A failure (a limit, a trap in the start function, a link error) comes back as the
    /// report of that failed run, with the error in its outcome.
    fn instantiate(
        &self,
        config: &SandboxConfig,
    ) -> Result<Box<dyn Instance>, Box<ExecutionResult>>;

    /// The concrete type, so a backend's [`Linker`] can recognise its own modules.
    fn as_any(&self) -> &dyn Any;

    /// The engine's serialised form of this compiled code, for
    /// [`Sandbox::deserialize_validated`] on a sandbox with the same identity (the cache and
    /// AOT artifacts wrap it in a verified header).
    fn serialize(&self) -> Result<Vec<u8>, SandboxError>;
}

/// A live instance: guest state that persists across calls until dropped.
pub trait Instance: Send {
    /// The engine running it.
    fn kind(&self) -> BackendKind;

    /// Calls the exported function `name`.
    ///
    /// Returns `Err` only for problems found before the guest runs (`function_not_found`,
    /// `type_mismatch`, `unsupported`); every run, successful or not, returns its report. The
    /// fuel budget is per instance: each call reports what it consumed, and the budget is
    /// refilled only by a fresh instance.
    fn call(&mut self, name: &str, args: &[WasmValue]) -> Result<ExecutionResult, SandboxError>;

    /// Resolves the exported function `name` once, for [`Instance::call_func`]; refuses a
    /// missing export (`function_not_found`) and a signature with values that cannot cross the
    /// boundary (`unsupported`).
    fn export_func(&mut self, name: &str) -> Result<ExportFunc, SandboxError>;

    /// The fast path of [`Instance::call`]: calls `func` (resolved on this instance) with
    /// `args`, writing its results into `results` (one slot per result of the signature).
    /// Every limit applies and a failure has the outcome `call` would give it; the captured
    /// output is not collected (see [`Instance::take_output`]), and nothing is allocated
    /// when the call returns normally. `Err` as for `call`: a handle of another instance,
    /// arguments or a results slice that do not fit the signature.
    fn call_func(
        &mut self,
        func: &ExportFunc,
        args: &[WasmValue],
        results: &mut [WasmValue],
    ) -> Result<CallReport, SandboxError>;

    /// Takes the output (and the policy's denials) captured since the last report that
    /// included them: what [`Instance::call_func`] calls wrote.
    fn take_output(&mut self) -> CapturedOutput;

    /// Fuel consumed by this instance so far, or `None` when metering is off.
    fn fuel_consumed(&self) -> Option<u64>;

    /// The largest linear-memory size this instance has had, in bytes.
    fn peak_memory(&self) -> u64;

    /// A handle that stops this instance's calls from another thread (every handle of one
    /// instance shares one request; see [`CancelHandle`]). A call running when
    /// [`CancelHandle::cancel`] is called ends within a few milliseconds with
    /// [`SandboxError::Cancelled`] in its outcome and a complete report (time, fuel, peak
    /// memory, captured output); a request made while no call runs ends the next call at its
    /// start, and one that arrives as a call ends for another reason stays pending for the next
    /// (see [`crate::cancel`]). Both engines deliver it through their time-limit mechanism, watching for
    /// requests only while a handle exists, so calls on instances nobody asked a handle of
    /// cost nothing more.
    ///
    /// Limitations: on wasmtime under `enforce_time_limit = false` no interrupt check is
    /// compiled into the code, so running wasm cannot be stopped: the request stays pending and
    /// ends the next call at its start (wasmer watches a run with a handle whatever that
    /// setting). Code blocked in the host is stopped only when it returns to wasm: a host
    /// function, or, on wasmtime, WASI's `poll_oneoff` sleeping under the real clock (wasmer
    /// cuts such a sleep short for a request, as it does at the deadline).
    fn cancel_handle(&self) -> CancelHandle;

    /// The value of the exported global `name`.
    fn global(&mut self, name: &str) -> Result<WasmValue, SandboxError>;

    /// Sets the exported mutable global `name`; refuses an immutable global or a value of
    /// another type with `type_mismatch`.
    fn set_global(&mut self, name: &str, value: WasmValue) -> Result<(), SandboxError>;

    /// The current size of the exported memory `name`, in bytes.
    fn memory_size(&mut self, name: &str) -> Result<u64, SandboxError>;

    /// Copies `len` bytes at `offset` out of the exported memory `name`; refuses a range
    /// outside the memory with `memory_out_of_bounds`.
    fn read_memory(&mut self, name: &str, offset: u64, len: usize)
        -> Result<Vec<u8>, SandboxError>;

    /// The current number of elements of the exported table `name`.
    fn table_size(&mut self, name: &str) -> Result<u64, SandboxError>;
}

/// An instance inside a [`Linker`], as handed out by [`Linker::instantiate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InstanceId(pub usize);

/// A store holding several instances that link to one another.
///
/// [`Linker::instantiate`] resolves each import of a module, in order, from the exports of the
/// instance [registered](Linker::register) under the import's module name (functions,
/// memories, tables and globals, type-checked by the engine), else from the sandbox's host
/// functions under the import policy. Instances share the store's limits: the memory and
/// table limits count every instance's memories and tables, the fuel budget is the store's
/// (see each backend for how exactly it is metered), and the time limit applies to each call
/// and instantiation. WASI is not offered in a linked store (it is a per-program interface;
/// run WASI programs with [`CompiledModule::instantiate`]).
pub trait Linker: Send {
    /// The engine behind this store.
    fn kind(&self) -> BackendKind;

    /// Instantiates `module` (compiled by the same sandbox) in this store and runs its start
    /// function. On failure, the report of the failed run; what the failed instantiation
    /// already wrote to imported memories and tables stays, as the specification says.
    fn instantiate(
        &mut self,
        module: &dyn CompiledModule,
    ) -> Result<InstanceId, Box<ExecutionResult>>;

    /// Makes `instance`'s exports importable under the module name `name` (replacing any
    /// instance registered under that name before).
    fn register(&mut self, name: &str, instance: InstanceId) -> Result<(), SandboxError>;

    /// The instance registered under `name`, if any.
    fn lookup(&self, name: &str) -> Option<InstanceId>;

    /// Calls the exported function `name` of `instance`; see [`Instance::call`].
    fn call(
        &mut self,
        instance: InstanceId,
        name: &str,
        args: &[WasmValue],
    ) -> Result<ExecutionResult, SandboxError>;

    /// The value of `instance`'s exported global `name`.
    fn global(&mut self, instance: InstanceId, name: &str) -> Result<WasmValue, SandboxError>;

    /// Sets `instance`'s exported mutable global `name`.
    fn set_global(
        &mut self,
        instance: InstanceId,
        name: &str,
        value: WasmValue,
    ) -> Result<(), SandboxError>;

    /// The size in bytes of `instance`'s exported memory `name`.
    fn memory_size(&mut self, instance: InstanceId, name: &str) -> Result<u64, SandboxError>;

    /// Copies `len` bytes at `offset` out of `instance`'s exported memory `name`.
    fn read_memory(
        &mut self,
        instance: InstanceId,
        name: &str,
        offset: u64,
        len: usize,
    ) -> Result<Vec<u8>, SandboxError>;

    /// The number of elements of `instance`'s exported table `name`.
    fn table_size(&mut self, instance: InstanceId, name: &str) -> Result<u64, SandboxError>;

    /// Fuel consumed in this store so far, or `None` when metering is off.
    fn fuel_consumed(&self) -> Option<u64>;

    /// The largest total linear-memory size of the store, in bytes.
    fn peak_memory(&self) -> u64;
}
