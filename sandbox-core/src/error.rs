//! The one error type of the sandbox and the closed set of guest traps.

use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// Why guest code trapped. Both engines map their own trap codes onto this closed set, so
/// tests can compare traps across engines with `assert_eq!`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trap {
    /// `unreachable` was executed.
    Unreachable,
    /// A load or store outside linear memory.
    MemoryOutOfBounds,
    /// A table access outside the table.
    TableOutOfBounds,
    /// `call_indirect` through a function of the wrong type.
    IndirectCallTypeMismatch,
    /// A null reference was called or dereferenced (including an uninitialised table slot).
    NullReference,
    /// Integer division or remainder by zero.
    IntegerDivideByZero,
    /// Integer overflow (`i32.div_s` of `MIN / -1`).
    IntegerOverflow,
    /// A float-to-integer conversion of NaN or an out-of-range value.
    BadConversionToInteger,
    /// The wasm stack limit was reached.
    StackOverflow,
    /// Any other trap (unaligned atomics, host function errors, ...).
    Other,
}

impl Trap {
    /// The stable snake_case name used in JSON and by the CLI.
    pub fn name(self) -> &'static str {
        match self {
            Trap::Unreachable => "unreachable",
            Trap::MemoryOutOfBounds => "memory_out_of_bounds",
            Trap::TableOutOfBounds => "table_out_of_bounds",
            Trap::IndirectCallTypeMismatch => "indirect_call_type_mismatch",
            Trap::NullReference => "null_reference",
            Trap::IntegerDivideByZero => "integer_divide_by_zero",
            Trap::IntegerOverflow => "integer_overflow",
            Trap::BadConversionToInteger => "bad_conversion_to_integer",
            Trap::StackOverflow => "stack_overflow",
            Trap::Other => "other",
        }
    }

    /// Every trap kind, for exhaustive tests.
    pub const ALL: [Trap; 10] = [
        Trap::Unreachable,
        Trap::MemoryOutOfBounds,
        Trap::TableOutOfBounds,
        Trap::IndirectCallTypeMismatch,
        Trap::NullReference,
        Trap::IntegerDivideByZero,
        Trap::IntegerOverflow,
        Trap::BadConversionToInteger,
        Trap::StackOverflow,
        Trap::Other,
    ];
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Everything that can stop a module from loading or a call from completing.
///
/// The variant names follow the product brief; [`SandboxError::kind`] gives the outcome name of
/// the design's taxonomy (`invalid_module`, `fuel_exhausted`, ...), which is also the `kind` tag
/// of the JSON form. Engine-specific detail only ever appears inside the human-readable strings.
#[derive(Debug, Clone, PartialEq, thiserror::Error, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SandboxError {
    /// The bytes are not a valid module (bad magic, truncated, fails validation, too large).
    #[error("invalid module: {reason}")]
    InvalidModule {
        /// The validator's message.
        reason: String,
        /// Byte offset of the problem, when the validator knows it.
        offset: Option<usize>,
    },
    /// The module imports something the policy does not grant.
    #[error("unauthorized import {module}::{name}")]
    UnauthorizedImport {
        /// Import module name.
        module: String,
        /// Import field name.
        name: String,
    },
    /// An allowed import could not be satisfied, or instantiation failed for a reason that is
    /// not a limit (for example an out-of-bounds data segment).
    #[error("link error: {reason}")]
    LinkError {
        /// What failed.
        reason: String,
    },
    /// No exported function has this name.
    #[error(
        "function not found: {name} (exported functions: {})",
        list_or_none(available)
    )]
    FunctionNotFound {
        /// The name asked for.
        name: String,
        /// The exported functions that do exist.
        available: Vec<String>,
    },
    /// No export of this kind has this name (a global, memory or table asked for by name).
    #[error(
        "{extern_kind} not found: {name} (exported {extern_kind}s: {})",
        list_or_none(available)
    )]
    ExportNotFound {
        /// The kind of export asked for (`global`, `memory`, `table`).
        extern_kind: String,
        /// The name asked for.
        name: String,
        /// The exports of that kind that do exist.
        available: Vec<String>,
    },
    /// The arguments do not match the function's signature.
    #[error("type mismatch calling {function}: expected {expected}, given {given}")]
    TypeMismatch {
        /// The function called.
        function: String,
        /// Its signature.
        expected: String,
        /// What was given.
        given: String,
    },
    /// The module or call uses something this backend or the sandbox boundary cannot do.
    #[error("unsupported: {reason}")]
    Unsupported {
        /// What is unsupported.
        reason: String,
    },
    /// Guest code trapped.
    #[serde(rename = "trap")]
    #[error("trap: {trap}: {message}")]
    RuntimeError {
        /// The normalised trap kind.
        trap: Trap,
        /// The engine's message.
        message: String,
    },
    /// The fuel budget ran out.
    #[error("fuel exhausted: used {used} of {limit}")]
    FuelExhausted {
        /// Fuel consumed (equal to the limit when exhausted).
        used: u64,
        /// The budget.
        limit: u64,
    },
    /// The wall-clock limit was reached.
    #[error("time limit exceeded: {elapsed:?} elapsed, limit {limit:?}")]
    TimeLimitExceeded {
        /// Time spent when the run was stopped.
        #[serde(rename = "elapsed_ms", serialize_with = "millis")]
        elapsed: Duration,
        /// The limit.
        #[serde(rename = "limit_ms", serialize_with = "millis")]
        limit: Duration,
    },
    /// The host cancelled the call through the instance's [`crate::CancelHandle`]. Not a
    /// limit and not the guest's fault: the host asked for the run to end.
    #[error("cancelled by the host after {elapsed:.1?}")]
    Cancelled {
        /// Time spent when the run was stopped (near zero for a call cancelled at its start).
        #[serde(rename = "elapsed_ms", serialize_with = "millis")]
        elapsed: Duration,
    },
    /// Linear memory (at instantiation or on `memory.grow`) would exceed the limit.
    #[error("resource limit exceeded: memory: {used} bytes requested, limit {limit} bytes")]
    MemoryLimitExceeded {
        /// Bytes the module asked for (all memories of the instance together).
        used: u64,
        /// The limit in bytes.
        limit: u64,
    },
    /// A table declared at instantiation is larger than the limit.
    #[error("resource limit exceeded: table: {used} elements requested, limit {limit} elements")]
    TableLimitExceeded {
        /// Elements the module asked for.
        used: u64,
        /// The limit in elements.
        limit: u64,
    },
    /// A captured output stream reached its cap.
    #[error("output limit exceeded: {stream} reached {limit} bytes")]
    OutputLimitExceeded {
        /// `stdout` or `stderr`.
        stream: String,
        /// The cap in bytes.
        limit: u64,
    },
    /// An ahead-of-time artifact was refused before its code was loaded: not an artifact,
    /// truncated, corrupted, or made for another engine, engine version or configuration.
    /// Loading foreign compiled code is unsafe, so nothing is attempted.
    #[error("incompatible artifact: {reason}")]
    IncompatibleArtifact {
        /// Why it was refused.
        reason: String,
    },
    /// Every slot of the instance pool ([`crate::InstanceAllocation::Pooling`]) is taken by a
    /// live instance; dropping one frees its slot. A capacity limit of the host, not a fault
    /// of the guest.
    #[error("instance pool exhausted: {resource}: all {limit} slots are in use")]
    PoolExhausted {
        /// What ran out (`instances`, `memories`, `tables`, ...).
        resource: String,
        /// The size of the pool.
        limit: u64,
    },
    /// A program in a source language (Mini, `.mini`) did not compile: every error found,
    /// as data and rendered. Nothing was run. The judge's `compilation_error`.
    #[error("compilation error: {}", summary(diagnostics))]
    CompilationError {
        /// The source language (`mini`).
        language: String,
        /// Every error found, in source order (never empty).
        diagnostics: Vec<SourceDiagnostic>,
        /// The errors as a compiler prints them: `file:line:column: error: message`, the
        /// source line, a caret under the offending text, and the help line.
        rendered: String,
    },
    /// The host could not read or write a file the caller named.
    #[error("i/o error on {path}: {reason}")]
    Io {
        /// The path.
        path: String,
        /// The operating system's message.
        reason: String,
    },
}

/// One error of a source program, as data (the JSON reports carry these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceDiagnostic {
    /// The file name given to the compiler (`<source>` when there is none).
    pub file: String,
    /// 1-based line where the offending text starts.
    pub line: usize,
    /// 1-based column (in characters) where it starts.
    pub column: usize,
    /// 1-based line where it ends.
    pub end_line: usize,
    /// 1-based column (in characters) just past its end.
    pub end_column: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when the compiler knows.
    pub help: Option<String>,
}

impl fmt::Display for SourceDiagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.message
        )
    }
}

fn summary(diagnostics: &[SourceDiagnostic]) -> String {
    match diagnostics {
        [] => "no diagnostics".to_string(),
        [only] => only.to_string(),
        [first, rest @ ..] => format!(
            "{first} (and {} more error{})",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

fn millis<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
}

impl From<crate::cache::ArtifactError> for SandboxError {
    fn from(err: crate::cache::ArtifactError) -> Self {
        SandboxError::IncompatibleArtifact {
            reason: err.to_string(),
        }
    }
}

impl SandboxError {
    /// The outcome name of the design's taxonomy (also the `kind` tag of the JSON form).
    pub fn kind(&self) -> &'static str {
        match self {
            SandboxError::InvalidModule { .. } => "invalid_module",
            SandboxError::UnauthorizedImport { .. } => "unauthorized_import",
            SandboxError::LinkError { .. } => "link_error",
            SandboxError::FunctionNotFound { .. } => "function_not_found",
            SandboxError::ExportNotFound { .. } => "export_not_found",
            SandboxError::TypeMismatch { .. } => "type_mismatch",
            SandboxError::Unsupported { .. } => "unsupported",
            SandboxError::RuntimeError { .. } => "trap",
            SandboxError::FuelExhausted { .. } => "fuel_exhausted",
            SandboxError::TimeLimitExceeded { .. } => "time_limit_exceeded",
            SandboxError::Cancelled { .. } => "cancelled",
            SandboxError::MemoryLimitExceeded { .. } => "memory_limit_exceeded",
            SandboxError::TableLimitExceeded { .. } => "table_limit_exceeded",
            SandboxError::OutputLimitExceeded { .. } => "output_limit_exceeded",
            SandboxError::IncompatibleArtifact { .. } => "incompatible_artifact",
            SandboxError::PoolExhausted { .. } => "pool_exhausted",
            SandboxError::CompilationError { .. } => "compilation_error",
            SandboxError::Io { .. } => "io_error",
        }
    }

    /// The trap kind, if this is a trap.
    pub fn trap(&self) -> Option<Trap> {
        match self {
            SandboxError::RuntimeError { trap, .. } => Some(*trap),
            _ => None,
        }
    }

    /// Whether a limit the sandbox enforces (rather than the guest or the module) ended the run.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            SandboxError::FuelExhausted { .. }
                | SandboxError::TimeLimitExceeded { .. }
                | SandboxError::MemoryLimitExceeded { .. }
                | SandboxError::TableLimitExceeded { .. }
                | SandboxError::OutputLimitExceeded { .. }
        )
    }

    /// Shorthand for a trap with a message.
    pub fn trap_with(trap: Trap, message: impl Into<String>) -> Self {
        SandboxError::RuntimeError {
            trap,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_what_failed() {
        let err = SandboxError::UnauthorizedImport {
            module: "env".into(),
            name: "system".into(),
        };
        assert_eq!(err.to_string(), "unauthorized import env::system");
        let err = SandboxError::FunctionNotFound {
            name: "ad".into(),
            available: vec!["add".into(), "sub".into()],
        };
        assert_eq!(
            err.to_string(),
            "function not found: ad (exported functions: add, sub)"
        );
    }

    #[test]
    fn json_uses_the_taxonomy_names() {
        let err = SandboxError::RuntimeError {
            trap: Trap::IntegerDivideByZero,
            message: "x".into(),
        };
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(json["kind"], "trap");
        assert_eq!(json["trap"], "integer_divide_by_zero");
        let err = SandboxError::TimeLimitExceeded {
            elapsed: Duration::from_millis(101),
            limit: Duration::from_millis(100),
        };
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(json["kind"], err.kind());
        assert_eq!(json["limit_ms"], 100.0);
    }

    #[test]
    fn pool_exhaustion_is_its_own_kind() {
        let err = SandboxError::PoolExhausted {
            resource: "instances".into(),
            limit: 4,
        };
        assert_eq!(err.kind(), "pool_exhausted");
        assert!(!err.is_limit());
        assert_eq!(
            err.to_string(),
            "instance pool exhausted: instances: all 4 slots are in use"
        );
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(json["kind"], "pool_exhausted");
        assert_eq!(json["limit"], 4);
    }

    #[test]
    fn cancellation_is_its_own_kind_and_not_a_limit() {
        let err = SandboxError::Cancelled {
            elapsed: Duration::from_micros(12_345),
        };
        assert_eq!(err.kind(), "cancelled");
        assert!(!err.is_limit());
        assert_eq!(err.trap(), None);
        assert_eq!(err.to_string(), "cancelled by the host after 12.3ms");
        let json = serde_json::to_value(&err).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "cancelled", "elapsed_ms": 12.345})
        );
    }

    #[test]
    fn trap_names_are_unique() {
        let names: std::collections::HashSet<_> = Trap::ALL.iter().map(|t| t.name()).collect();
        assert_eq!(names.len(), Trap::ALL.len());
    }
}
