//! The call fast path: an export resolved once ([`ExportFunc`]) and called with arguments and
//! results in caller-owned slices ([`crate::Instance::call_func`]), reporting in a
//! [`CallReport`] that allocates nothing when the call returns normally.
//!
//! [`crate::Instance::call`] looks the export up by name, builds vectors of values and moves the
//! captured output into every report; a loop making millions of calls pays for that each time.
//! The fast path keeps every limit (fuel, the wall-clock deadline, memory, the stack,
//! cancellation) and classifies a failure exactly as `call` does; what it leaves out is the
//! per-call collection of output: what the guest writes stays in the instance's capture buffers
//! until [`crate::Instance::take_output`] (or the next `call`, whose report includes it).

use crate::wasi::Denial;
use crate::{FuncSignature, Outcome, SandboxError, WasmValue};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An exported function of one instance, resolved by [`crate::Instance::export_func`]: calls
/// through it skip the lookup by name and the signature's re-reading.
///
/// A handle belongs to the instance that resolved it; another instance refuses it with
/// `unsupported`.
#[derive(Debug, Clone)]
pub struct ExportFunc {
    name: Arc<str>,
    signature: Arc<FuncSignature>,
    owner: u64,
    index: u32,
}

impl ExportFunc {
    /// A handle for backends: `owner` is the resolving instance's [`InstanceToken`], `index`
    /// what the backend needs to find the function again.
    pub fn new(
        name: &str,
        signature: Arc<FuncSignature>,
        owner: InstanceToken,
        index: u32,
    ) -> Self {
        ExportFunc {
            name: name.into(),
            signature,
            owner: owner.0,
            index,
        }
    }

    /// The export's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The function's signature.
    pub fn signature(&self) -> &FuncSignature {
        &self.signature
    }

    /// The backend's index of the function, once `token` is checked to be the owner and
    /// `args` and `results` to fit the signature.
    pub fn check(
        &self,
        token: InstanceToken,
        args: &[WasmValue],
        results: &[WasmValue],
    ) -> Result<u32, SandboxError> {
        if self.owner != token.0 {
            return Err(SandboxError::Unsupported {
                reason: format!(
                    "the handle of {} belongs to another instance; resolve it with export_func on this one",
                    self.name
                ),
            });
        }
        let params = &self.signature.params;
        if args.len() != params.len() || args.iter().zip(params).any(|(arg, ty)| arg.ty() != *ty) {
            return self
                .signature
                .check_args(&self.name, args)
                .map(|()| self.index);
        }
        if results.len() != self.signature.results.len() {
            return Err(SandboxError::TypeMismatch {
                function: self.name.to_string(),
                expected: self.signature.to_string(),
                given: format!("room for {} results", results.len()),
            });
        }
        Ok(self.index)
    }
}

/// The identity of one live instance, for the [`ExportFunc`] handles it gives out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceToken(u64);

impl InstanceToken {
    /// A token no other instance of this process has.
    pub fn fresh() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        InstanceToken(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// What a fast-path call reports: the outcome and the measurements of
/// [`crate::ExecutionResult`], without return values (they are in the caller's slice) or
/// output (it stays in the instance until [`crate::Instance::take_output`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CallReport {
    /// How the call ended; the results slice holds the values only when this is `ok`.
    pub outcome: Outcome,
    /// Wall-clock time of the call.
    pub execution_time: Duration,
    /// Fuel the call consumed; `None` when metering is off.
    pub fuel_consumed: Option<u64>,
    /// Largest linear-memory size of the instance so far, in bytes.
    pub peak_memory: u64,
}

impl CallReport {
    /// Whether the call returned normally.
    pub fn is_ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok)
    }

    /// The [`crate::ExecutionResult`] [`crate::Instance::call`] would have returned for the
    /// same call: this report, the values the call wrote into its results slice (kept only
    /// for a normal return) and the output taken after it ([`crate::Instance::take_output`]).
    pub fn into_execution_result(
        self,
        backend: crate::BackendKind,
        return_values: Vec<WasmValue>,
        output: CapturedOutput,
    ) -> crate::ExecutionResult {
        let returned = matches!(self.outcome, Outcome::Ok);
        let mut result = crate::ExecutionResult::new(backend, self.outcome);
        if returned {
            result.return_values = return_values;
        }
        result.execution_time = self.execution_time;
        result.fuel_consumed = self.fuel_consumed;
        result.peak_memory = self.peak_memory;
        result.stdout = output.stdout;
        result.stderr = output.stderr;
        result.stdout_truncated = output.stdout_truncated;
        result.stderr_truncated = output.stderr_truncated;
        result.record_denials(output.denied);
        result
    }

    /// The report, or its failure as an error (a WASI exit is not a failure), as
    /// [`crate::ExecutionResult::into_result`].
    pub fn into_result(self) -> Result<CallReport, SandboxError> {
        match self.outcome {
            Outcome::Failed(err) => Err(err),
            _ => Ok(self),
        }
    }
}

/// Output an instance captured and not yet handed out, from [`crate::Instance::take_output`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapturedOutput {
    /// Standard output since the last report that included it.
    pub stdout: Vec<u8>,
    /// Standard error likewise.
    pub stderr: Vec<u8>,
    /// Whether stdout was cut at the output limit (it stays cut for the instance's life).
    pub stdout_truncated: bool,
    /// Whether stderr was cut likewise.
    pub stderr_truncated: bool,
    /// WASI calls the policy denied since they were last handed out.
    pub denied: Vec<Denial>,
}

impl CapturedOutput {
    /// Takes what the capture buffers and the denial log hold (the truncation flags stay).
    pub fn take_from(
        stdout: &crate::CappedOutput,
        stderr: &crate::CappedOutput,
        denials: &crate::wasi::DenialLog,
    ) -> Self {
        CapturedOutput {
            stdout: stdout.take(),
            stderr: stderr.take(),
            stdout_truncated: stdout.truncated(),
            stderr_truncated: stderr.truncated(),
            denied: denials.take(),
        }
    }
}
