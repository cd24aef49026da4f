//! Host functions, written once and registered on either engine, and the capped output buffer
//! both engines capture guest output into.

use crate::value::FuncSignature;
use crate::{SandboxError, Trap, WasmValue};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex};

/// An error a host function returns; the guest's run ends with trap `other` carrying it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HostError(pub String);

impl HostError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        HostError(message.into())
    }
}

/// The guest's linear memory as a host function sees it, whatever the engine.
pub trait GuestMemory {
    /// Size in bytes.
    fn size(&self) -> u64;
    /// Reads `buf.len()` bytes at `offset`; fails if any falls outside the memory.
    fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), HostError>;
    /// Writes `data` at `offset`; fails if any byte falls outside the memory.
    fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), HostError>;
}

/// What a host function can reach during a call: the caller's exported memory (named `memory`)
/// and the fuel consumed so far.
pub struct HostContext<'a> {
    memory: Option<&'a mut dyn GuestMemory>,
    fuel_consumed: Option<u64>,
    /// Host calls made by this instance before this one (used by the virtual clock when
    /// metering is off).
    pub calls: u64,
}

impl<'a> HostContext<'a> {
    /// A context over `memory` (if the guest exports one).
    pub fn new(memory: Option<&'a mut dyn GuestMemory>, fuel_consumed: Option<u64>) -> Self {
        HostContext {
            memory,
            fuel_consumed,
            calls: 0,
        }
    }

    /// The guest's memory, or an error if it exports none.
    pub fn memory(&mut self) -> Result<&mut dyn GuestMemory, HostError> {
        match self.memory.as_mut() {
            Some(memory) => Ok(&mut **memory),
            None => Err(HostError::new("the guest exports no memory named `memory`")),
        }
    }

    /// Fuel the instance has consumed so far, when metering is on.
    pub fn fuel_consumed(&self) -> Option<u64> {
        self.fuel_consumed
    }

    /// Reads `len` bytes at guest address `ptr`.
    pub fn read_bytes(&mut self, ptr: u32, len: u32) -> Result<Vec<u8>, HostError> {
        let memory = self.memory()?;
        if u64::from(ptr) + u64::from(len) > memory.size() {
            return Err(HostError::new(format!(
                "guest range {ptr}+{len} is outside its memory of {} bytes",
                memory.size()
            )));
        }
        let mut buf = vec![0; len as usize];
        memory.read(u64::from(ptr), &mut buf)?;
        Ok(buf)
    }

    /// Reads a UTF-8 string of `len` bytes at guest address `ptr`.
    pub fn read_string(&mut self, ptr: u32, len: u32) -> Result<String, HostError> {
        String::from_utf8(self.read_bytes(ptr, len)?)
            .map_err(|_| HostError::new("guest string is not valid UTF-8"))
    }

    /// Writes `data` at guest address `ptr`.
    pub fn write_bytes(&mut self, ptr: u32, data: &[u8]) -> Result<(), HostError> {
        self.memory()?.write(u64::from(ptr), data)
    }
}

/// The body of a host function.
pub type HostFn =
    dyn Fn(&mut HostContext<'_>, &[WasmValue]) -> Result<Vec<WasmValue>, HostError> + Send + Sync;

/// A function the host offers the guest as the import `module::name`.
#[derive(Clone)]
pub struct HostFunction {
    /// Import module name.
    pub module: String,
    /// Import field name.
    pub name: String,
    /// Its type; parameters arrive checked against it and results must match it.
    pub signature: FuncSignature,
    func: Arc<HostFn>,
}

impl HostFunction {
    /// A host function. Registering it (see [`HostFunctions::define`]) grants the import.
    pub fn new(
        module: impl Into<String>,
        name: impl Into<String>,
        signature: FuncSignature,
        func: impl Fn(&mut HostContext<'_>, &[WasmValue]) -> Result<Vec<WasmValue>, HostError>
            + Send
            + Sync
            + 'static,
    ) -> Self {
        HostFunction {
            module: module.into(),
            name: name.into(),
            signature,
            func: Arc::new(func),
        }
    }

    /// Runs the function and checks its results against the signature.
    pub fn call(
        &self,
        ctx: &mut HostContext<'_>,
        args: &[WasmValue],
    ) -> Result<Vec<WasmValue>, HostError> {
        let results = (self.func)(ctx, args)
            .map_err(|err| HostError::new(format!("{}::{}: {err}", self.module, self.name)))?;
        let types: Vec<_> = results.iter().map(WasmValue::ty).collect();
        if types != self.signature.results {
            return Err(HostError::new(format!(
                "{}::{} returned {results:?}, its signature is {}",
                self.module, self.name, self.signature
            )));
        }
        Ok(results)
    }

    /// The error a failed host call ends the run with.
    pub fn trap(error: &HostError) -> SandboxError {
        SandboxError::RuntimeError {
            trap: Trap::Other,
            message: format!("host function failed: {error}"),
        }
    }
}

impl fmt::Debug for HostFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}::{} {}", self.module, self.name, self.signature)
    }
}

/// The host functions of a configuration. Compared and hashed by name and signature.
#[derive(Debug, Clone, Default)]
pub struct HostFunctions {
    functions: Vec<HostFunction>,
}

impl HostFunctions {
    /// Registers (or replaces) a function.
    pub fn define(&mut self, function: HostFunction) -> &mut Self {
        self.functions
            .retain(|f| !(f.module == function.module && f.name == function.name));
        self.functions.push(function);
        self
    }

    /// The function registered as `module::name`.
    pub fn get(&self, module: &str, name: &str) -> Option<&HostFunction> {
        self.functions
            .iter()
            .find(|f| f.module == module && f.name == name)
    }

    /// Every registered function.
    pub fn iter(&self) -> impl Iterator<Item = &HostFunction> {
        self.functions.iter()
    }

    /// Whether none is registered.
    pub fn is_empty(&self) -> bool {
        self.functions.is_empty()
    }
}

impl PartialEq for HostFunctions {
    fn eq(&self, other: &Self) -> bool {
        self.functions.len() == other.functions.len()
            && self.functions.iter().zip(&other.functions).all(|(a, b)| {
                a.module == b.module && a.name == b.name && a.signature == b.signature
            })
    }
}

impl Eq for HostFunctions {}

impl Hash for HostFunctions {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for f in &self.functions {
            f.module.hash(state);
            f.name.hash(state);
            f.signature.hash(state);
        }
    }
}

/// A captured output stream with a cap: keeps the first `limit` bytes, then flags truncation.
/// Shared (`Clone` is a handle) between the engine's stream object and the backend.
#[derive(Debug, Clone)]
pub struct CappedOutput {
    inner: Arc<Mutex<CappedInner>>,
}

#[derive(Debug)]
struct CappedInner {
    limit: u64,
    /// Bytes kept since creation, taken or not: the cap is on this.
    kept: u64,
    bytes: Vec<u8>,
    truncated: bool,
}

impl CappedOutput {
    /// An empty buffer keeping at most `limit` bytes.
    pub fn new(limit: u64) -> Self {
        CappedOutput {
            inner: Arc::new(Mutex::new(CappedInner {
                limit,
                kept: 0,
                bytes: Vec::new(),
                truncated: false,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CappedInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends what fits. Returns `false` when some of `data` did not fit: the caller should
    /// end the run with `output_limit_exceeded`. Host memory never grows past the limit.
    pub fn write(&self, data: &[u8]) -> bool {
        let mut inner = self.lock();
        let room = inner
            .limit
            .saturating_sub(inner.kept)
            .min(usize::MAX as u64) as usize;
        let fits = data.len() <= room;
        let kept = if fits { data } else { &data[..room] };
        inner.bytes.extend_from_slice(kept);
        inner.kept += kept.len() as u64;
        if !fits {
            inner.truncated = true;
        }
        fits
    }

    /// Whether the cap was reached.
    pub fn truncated(&self) -> bool {
        self.lock().truncated
    }

    /// Takes what was captured since the last call (the truncation flag stays).
    pub fn take(&self) -> Vec<u8> {
        std::mem::take(&mut self.lock().bytes)
    }

    /// The cap in bytes.
    pub fn limit(&self) -> u64 {
        self.lock().limit
    }
}

/// A guest memory over a vector, for unit tests of host functions.
#[cfg(test)]
pub(crate) mod testing {
    use super::{GuestMemory, HostError};

    /// Guest memory backed by a `Vec<u8>`.
    pub(crate) struct Vector(pub(crate) Vec<u8>);

    impl GuestMemory for Vector {
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
        fn read(&self, offset: u64, buf: &mut [u8]) -> Result<(), HostError> {
            let start = offset as usize;
            buf.copy_from_slice(
                self.0
                    .get(start..start + buf.len())
                    .ok_or_else(|| HostError::new("out of bounds"))?,
            );
            Ok(())
        }
        fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), HostError> {
            let start = offset as usize;
            self.0
                .get_mut(start..start + data.len())
                .ok_or_else(|| HostError::new("out of bounds"))?
                .copy_from_slice(data);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ValType;

    use crate::host::testing::Vector;

    #[test]
    fn capped_output_keeps_the_first_bytes() {
        let out = CappedOutput::new(5);
        assert!(out.write(b"abc"));
        assert!(!out.write(b"defgh"));
        assert!(out.truncated());
        assert_eq!(out.take(), b"abcde");
        assert!(!out.write(b"x"));
    }

    #[test]
    fn host_context_reads_strings_and_checks_bounds() {
        let mut memory = Vector(b"hello world".to_vec());
        let mut ctx = HostContext::new(Some(&mut memory), None);
        assert_eq!(ctx.read_string(6, 5).unwrap(), "world");
        assert!(ctx.read_bytes(8, 10).is_err());
        ctx.write_bytes(0, b"J").unwrap();
        assert_eq!(ctx.read_string(0, 5).unwrap(), "Jello");
        let mut none = HostContext::new(None, None);
        assert!(none.read_bytes(0, 1).is_err());
    }

    #[test]
    fn results_are_checked_against_the_signature() {
        let f = HostFunction::new(
            "env",
            "bad",
            FuncSignature::new([], [ValType::I32]),
            |_, _| Ok(vec![WasmValue::I64(1)]),
        );
        let err = f.call(&mut HostContext::new(None, None), &[]).unwrap_err();
        assert!(err.to_string().contains("env::bad"), "{err}");
        assert_eq!(HostFunction::trap(&err).trap(), Some(Trap::Other));
    }

    #[test]
    fn registering_grants_the_import() {
        let mut config = crate::SandboxConfig::default();
        assert!(!config.allows_import("env", "log"));
        config.host_functions.define(HostFunction::new(
            "env",
            "log",
            FuncSignature::new([ValType::I32, ValType::I32], []),
            |_, _| Ok(vec![]),
        ));
        assert!(config.allows_import("env", "log"));
    }
}
