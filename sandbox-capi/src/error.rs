//! Outcomes, traps and error objects.

use crate::ffi::{self, tagged};
use facade::{SandboxError, Trap};
use std::ffi::{c_char, CStr, CString};

/// How a run ended, or what kind of error an error object is: one constant per outcome of
/// the sandbox's taxonomy (the `kind` names of `sandbox run --json`), plus
/// `SANDBOX_OUTCOME_INVALID_ARGUMENT` (the C caller passed something unusable) and
/// `SANDBOX_OUTCOME_INTERNAL_ERROR` (a bug in the library or an engine).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sandbox_outcome_t {
    /// The call returned normally.
    SANDBOX_OUTCOME_OK = 0,
    /// The guest exited through WASI `proc_exit` (see `exit_code`; 0 counts as success).
    SANDBOX_OUTCOME_EXIT = 1,
    /// The guest trapped (see `sandbox_result_trap`).
    SANDBOX_OUTCOME_TRAP = 2,
    /// The fuel budget ran out.
    SANDBOX_OUTCOME_FUEL_EXHAUSTED = 3,
    /// The wall-clock limit was reached.
    SANDBOX_OUTCOME_TIME_LIMIT_EXCEEDED = 4,
    /// Linear memory would exceed the limit.
    SANDBOX_OUTCOME_MEMORY_LIMIT_EXCEEDED = 5,
    /// A table would exceed the limit.
    SANDBOX_OUTCOME_TABLE_LIMIT_EXCEEDED = 6,
    /// A captured output stream reached its cap.
    SANDBOX_OUTCOME_OUTPUT_LIMIT_EXCEEDED = 7,
    /// The call was cancelled by the host (`sandbox_cancel`).
    SANDBOX_OUTCOME_CANCELLED = 8,
    /// The bytes are not a valid module.
    SANDBOX_OUTCOME_INVALID_MODULE = 9,
    /// The module imports something the policy does not grant.
    SANDBOX_OUTCOME_UNAUTHORIZED_IMPORT = 10,
    /// An allowed import could not be satisfied, or instantiation failed.
    SANDBOX_OUTCOME_LINK_ERROR = 11,
    /// No exported function has the name called.
    SANDBOX_OUTCOME_FUNCTION_NOT_FOUND = 12,
    /// No export of the kind asked for has the name given.
    SANDBOX_OUTCOME_EXPORT_NOT_FOUND = 13,
    /// The arguments do not match the function's signature.
    SANDBOX_OUTCOME_TYPE_MISMATCH = 14,
    /// Something this engine or the C boundary cannot do (or a bad configuration value).
    SANDBOX_OUTCOME_UNSUPPORTED = 15,
    /// An ahead-of-time artifact was refused (another engine, version or configuration;
    /// damaged; not an artifact).
    SANDBOX_OUTCOME_INCOMPATIBLE_ARTIFACT = 16,
    /// Every slot of the instance pool is in use.
    SANDBOX_OUTCOME_POOL_EXHAUSTED = 17,
    /// A file the caller named could not be read or written.
    SANDBOX_OUTCOME_IO_ERROR = 18,
    /// The caller passed a NULL, out-of-range or otherwise unusable argument.
    SANDBOX_OUTCOME_INVALID_ARGUMENT = 19,
    /// A bug: a panic inside the library or an engine, caught at the boundary.
    SANDBOX_OUTCOME_INTERNAL_ERROR = 20,
    /// A Mini program did not compile (`sandbox_module_new_mini`); the error's message is
    /// every diagnostic as the compiler prints them (line, source line, caret, help).
    SANDBOX_OUTCOME_COMPILATION_ERROR = 21,
}

use sandbox_outcome_t::*;

/// Each outcome with its taxonomy name.
const OUTCOME_NAMES: [(sandbox_outcome_t, &CStr); 22] = [
    (SANDBOX_OUTCOME_OK, c"ok"),
    (SANDBOX_OUTCOME_EXIT, c"exit"),
    (SANDBOX_OUTCOME_TRAP, c"trap"),
    (SANDBOX_OUTCOME_FUEL_EXHAUSTED, c"fuel_exhausted"),
    (SANDBOX_OUTCOME_TIME_LIMIT_EXCEEDED, c"time_limit_exceeded"),
    (
        SANDBOX_OUTCOME_MEMORY_LIMIT_EXCEEDED,
        c"memory_limit_exceeded",
    ),
    (
        SANDBOX_OUTCOME_TABLE_LIMIT_EXCEEDED,
        c"table_limit_exceeded",
    ),
    (
        SANDBOX_OUTCOME_OUTPUT_LIMIT_EXCEEDED,
        c"output_limit_exceeded",
    ),
    (SANDBOX_OUTCOME_CANCELLED, c"cancelled"),
    (SANDBOX_OUTCOME_INVALID_MODULE, c"invalid_module"),
    (SANDBOX_OUTCOME_UNAUTHORIZED_IMPORT, c"unauthorized_import"),
    (SANDBOX_OUTCOME_LINK_ERROR, c"link_error"),
    (SANDBOX_OUTCOME_FUNCTION_NOT_FOUND, c"function_not_found"),
    (SANDBOX_OUTCOME_EXPORT_NOT_FOUND, c"export_not_found"),
    (SANDBOX_OUTCOME_TYPE_MISMATCH, c"type_mismatch"),
    (SANDBOX_OUTCOME_UNSUPPORTED, c"unsupported"),
    (
        SANDBOX_OUTCOME_INCOMPATIBLE_ARTIFACT,
        c"incompatible_artifact",
    ),
    (SANDBOX_OUTCOME_POOL_EXHAUSTED, c"pool_exhausted"),
    (SANDBOX_OUTCOME_IO_ERROR, c"io_error"),
    (SANDBOX_OUTCOME_INVALID_ARGUMENT, c"invalid_argument"),
    (SANDBOX_OUTCOME_INTERNAL_ERROR, c"internal_error"),
    (SANDBOX_OUTCOME_COMPILATION_ERROR, c"compilation_error"),
];

impl sandbox_outcome_t {
    /// The taxonomy name (`"fuel_exhausted"`).
    pub fn name(self) -> &'static CStr {
        OUTCOME_NAMES[self as usize].1
    }

    /// The outcome named `kind` (a taxonomy name); an unknown name is an internal error.
    pub fn from_kind(kind: &str) -> Self {
        OUTCOME_NAMES
            .iter()
            .find(|(_, name)| name.to_bytes() == kind.as_bytes())
            .map_or(SANDBOX_OUTCOME_INTERNAL_ERROR, |(outcome, _)| *outcome)
    }

    /// The outcome of a run that ended as `outcome`.
    #[inline]
    pub fn of(outcome: &facade::Outcome) -> Self {
        match outcome {
            facade::Outcome::Ok => SANDBOX_OUTCOME_OK,
            facade::Outcome::Exit { .. } => SANDBOX_OUTCOME_EXIT,
            facade::Outcome::Failed(error) => Self::from_kind(error.kind()),
        }
    }
}

/// A `sandbox_outcome_t` as C passes it: read as an integer and checked.
pub type RawOutcome = u32;

/// The name of an outcome (`"fuel_exhausted"`), as `sandbox run --json` spells it; static,
/// never NULL (`"unknown"` for a value outside the enum).
#[no_mangle]
pub extern "C" fn sandbox_outcome_name(outcome: RawOutcome) -> *const c_char {
    OUTCOME_NAMES
        .get(outcome as usize)
        .map_or(c"unknown", |(_, name)| name)
        .as_ptr()
}

/// Why guest code trapped (`SANDBOX_TRAP_NONE` when the outcome is not a trap).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sandbox_trap_t {
    /// Not a trap.
    SANDBOX_TRAP_NONE = 0,
    /// `unreachable` was executed.
    SANDBOX_TRAP_UNREACHABLE = 1,
    /// A memory access out of bounds.
    SANDBOX_TRAP_MEMORY_OUT_OF_BOUNDS = 2,
    /// A table access out of bounds.
    SANDBOX_TRAP_TABLE_OUT_OF_BOUNDS = 3,
    /// `call_indirect` with the wrong signature.
    SANDBOX_TRAP_INDIRECT_CALL_TYPE_MISMATCH = 4,
    /// A null reference was used.
    SANDBOX_TRAP_NULL_REFERENCE = 5,
    /// Integer division by zero.
    SANDBOX_TRAP_INTEGER_DIVIDE_BY_ZERO = 6,
    /// Integer overflow (`INT_MIN / -1`).
    SANDBOX_TRAP_INTEGER_OVERFLOW = 7,
    /// A float that does not fit the integer it was converted to.
    SANDBOX_TRAP_BAD_CONVERSION_TO_INTEGER = 8,
    /// The wasm stack limit was reached.
    SANDBOX_TRAP_STACK_OVERFLOW = 9,
    /// Any other trap (a host function's failure, for one).
    SANDBOX_TRAP_OTHER = 10,
}

impl sandbox_trap_t {
    /// The C trap of a sandbox error (`SANDBOX_TRAP_NONE` if it is not a trap).
    pub fn of(error: Option<&SandboxError>) -> Self {
        use sandbox_trap_t::*;
        match error.and_then(SandboxError::trap) {
            None => SANDBOX_TRAP_NONE,
            Some(Trap::Unreachable) => SANDBOX_TRAP_UNREACHABLE,
            Some(Trap::MemoryOutOfBounds) => SANDBOX_TRAP_MEMORY_OUT_OF_BOUNDS,
            Some(Trap::TableOutOfBounds) => SANDBOX_TRAP_TABLE_OUT_OF_BOUNDS,
            Some(Trap::IndirectCallTypeMismatch) => SANDBOX_TRAP_INDIRECT_CALL_TYPE_MISMATCH,
            Some(Trap::NullReference) => SANDBOX_TRAP_NULL_REFERENCE,
            Some(Trap::IntegerDivideByZero) => SANDBOX_TRAP_INTEGER_DIVIDE_BY_ZERO,
            Some(Trap::IntegerOverflow) => SANDBOX_TRAP_INTEGER_OVERFLOW,
            Some(Trap::BadConversionToInteger) => SANDBOX_TRAP_BAD_CONVERSION_TO_INTEGER,
            Some(Trap::StackOverflow) => SANDBOX_TRAP_STACK_OVERFLOW,
            Some(_) => SANDBOX_TRAP_OTHER,
        }
    }
}

/// An error inside the library, before it crosses the boundary.
#[derive(Debug, Clone)]
pub struct Error {
    /// Its kind.
    pub kind: sandbox_outcome_t,
    /// Its message.
    pub message: String,
}

impl Error {
    /// An error of `kind`.
    pub fn new(kind: sandbox_outcome_t, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The caller passed something unusable.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(SANDBOX_OUTCOME_INVALID_ARGUMENT, message)
    }

    /// A panic caught at the boundary.
    pub fn from_panic(panic: Box<dyn std::any::Any + Send>) -> Self {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Self::new(
            SANDBOX_OUTCOME_INTERNAL_ERROR,
            format!("internal error (please report it): {message}"),
        )
    }

    /// The owned error object C receives.
    pub fn into_raw(self) -> *mut sandbox_error_t {
        ffi::into_raw(sandbox_error_t {
            kind: self.kind,
            message: c_string(self.message),
        })
    }
}

impl Error {
    /// The error of an instantiation that failed (its start function trapped, a limit, a link
    /// error): the report's error, whose kind is the outcome's.
    pub fn from_failed_instantiation(report: &facade::ExecutionResult) -> Self {
        report
            .outcome
            .error()
            .cloned()
            .map(Error::from)
            .unwrap_or_else(|| Error::invalid_argument("instantiation failed"))
    }
}

impl From<SandboxError> for Error {
    fn from(error: SandboxError) -> Self {
        let message = match &error {
            // Every diagnostic, not only the first: a C host shows this to its user.
            SandboxError::CompilationError { rendered, .. } => rendered.trim_end().to_string(),
            other => other.to_string(),
        };
        Error::new(sandbox_outcome_t::from_kind(error.kind()), message)
    }
}

/// `text` as a C string, NUL bytes replaced (a message never fails to cross).
pub fn c_string(text: String) -> CString {
    CString::new(text).unwrap_or_else(|err| {
        let text = String::from_utf8_lossy(&err.into_vec()).replace('\0', "\\0");
        CString::new(text).unwrap_or_default()
    })
}

/// An error: a kind and a message. Owned by whoever received it; released with
/// `sandbox_error_delete`.
pub struct sandbox_error_t {
    kind: sandbox_outcome_t,
    message: CString,
}
tagged!(sandbox_error_t, "sandbox_error_t");

impl sandbox_error_t {
    /// Takes back an error object a C callback returned: its message (NULL gives a generic
    /// one). The object is freed.
    ///
    /// # Safety
    ///
    /// `ptr` must be NULL or an error object made by this library, not used afterwards.
    pub(crate) unsafe fn take_message(ptr: *mut sandbox_error_t) -> String {
        // SAFETY: forwarded.
        let message = match unsafe { ffi::get(ptr) } {
            Ok(error) => error.message.to_string_lossy().into_owned(),
            Err(_) => "the host function failed (it returned an invalid error object)".into(),
        };
        // SAFETY: forwarded; ignored if not a live error object.
        unsafe { ffi::delete(ptr) };
        message
    }
}

/// A new error object with `message` (kind `SANDBOX_OUTCOME_TRAP`), for a host function to
/// return when it fails: the guest's run then ends as a trap whose message includes this
/// one. NULL `message` gives a generic message. Never returns NULL.
///
/// # Safety
///
/// `message` must be NULL or a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn sandbox_error_new(message: *const c_char) -> *mut sandbox_error_t {
    ffi::guard_or(std::ptr::null_mut(), || {
        // SAFETY: forwarded.
        let message = match unsafe { ffi::optional_string(message, "message") } {
            Ok(Some(message)) => message.to_string(),
            Ok(None) => "the host function failed".to_string(),
            Err(err) => err.message,
        };
        Error::new(SANDBOX_OUTCOME_TRAP, message).into_raw()
    })
}

/// The error's kind (`SANDBOX_OUTCOME_INVALID_ARGUMENT` for a NULL or invalid pointer).
///
/// # Safety
///
/// `error` must be NULL or an error object of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_error_kind(error: *const sandbox_error_t) -> sandbox_outcome_t {
    // SAFETY: forwarded.
    unsafe { ffi::get(error) }.map_or(SANDBOX_OUTCOME_INVALID_ARGUMENT, |error| error.kind)
}

/// The name of the error's kind (`"invalid_module"`); static, never NULL.
///
/// # Safety
///
/// `error` must be NULL or an error object of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_error_kind_name(error: *const sandbox_error_t) -> *const c_char {
    // SAFETY: forwarded.
    unsafe { sandbox_error_kind(error) }.name().as_ptr()
}

/// The error's message, borrowed from the error object (valid until it is deleted); never
/// NULL.
///
/// # Safety
///
/// `error` must be NULL or an error object of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_error_message(error: *const sandbox_error_t) -> *const c_char {
    // SAFETY: forwarded.
    match unsafe { ffi::get(error) } {
        Ok(error) => error.message.as_ptr(),
        Err(_) => c"invalid sandbox_error_t pointer".as_ptr(),
    }
}

/// Releases an error object. NULL is ignored.
///
/// # Safety
///
/// `error` must be NULL or an error object of this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn sandbox_error_delete(error: *mut sandbox_error_t) {
    // SAFETY: forwarded.
    ffi::guard_or((), || unsafe { ffi::delete(error) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_name_at_its_index() {
        for (index, (outcome, name)) in OUTCOME_NAMES.iter().enumerate() {
            assert_eq!(*outcome as usize, index);
            assert_eq!(
                sandbox_outcome_t::from_kind(name.to_str().unwrap()),
                *outcome
            );
        }
    }

    #[test]
    fn sandbox_errors_map_to_their_outcome() {
        let error = SandboxError::FuelExhausted { used: 5, limit: 5 };
        assert_eq!(Error::from(error).kind, SANDBOX_OUTCOME_FUEL_EXHAUSTED);
        let error = SandboxError::Io {
            path: "x".into(),
            reason: "y".into(),
        };
        assert_eq!(Error::from(error).kind, SANDBOX_OUTCOME_IO_ERROR);
        assert_eq!(
            sandbox_outcome_t::from_kind("no_such_kind"),
            SANDBOX_OUTCOME_INTERNAL_ERROR
        );
    }

    #[test]
    fn messages_with_nul_bytes_still_cross() {
        assert_eq!(c_string("a\0b".into()).to_str().unwrap(), "a\\0b");
    }
}
