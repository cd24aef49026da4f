//! Rust errors as Python exceptions: a [`SandboxError`] becomes the exception class of
//! `wasm_sandbox._errors` named by its kind, carrying the error's fields; a bad configuration
//! value becomes `ValueError` or `TypeError` naming the field.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use sandbox::SandboxError;

static ERRORS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The Python module defining the exception hierarchy (imported by the package before this
/// extension, so it is always there).
fn errors_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    ERRORS
        .get_or_try_init(py, || py.import("wasm_sandbox._errors").map(Bound::unbind))
        .map(|module| module.bind(py))
}

/// The Python exception for `err`: `wasm_sandbox._errors.from_native(kind, message, detail)`
/// picks the class of the error's kind and sets its fields as attributes.
pub fn to_py_err(py: Python<'_>, err: &SandboxError) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let detail = serde_json::to_string(err).unwrap_or_else(|_| "{}".into());
        let exception = errors_module(py)?
            .call_method1("from_native", (err.kind(), err.to_string(), detail))?;
        Ok(PyErr::from_value(exception))
    };
    build().unwrap_or_else(|failure| failure)
}

/// `Result<T, SandboxError>` → `PyResult<T>`.
pub trait IntoPy<T> {
    /// Converts the error with [`to_py_err`].
    fn into_py(self, py: Python<'_>) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, SandboxError> {
    fn into_py(self, py: Python<'_>) -> PyResult<T> {
        self.map_err(|err| to_py_err(py, &err))
    }
}

/// `ValueError` naming the configuration field.
pub fn bad_value(field: &str, message: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(format!("{field}: {message}"))
}

/// `TypeError` naming the configuration field and what it must be.
pub fn bad_type(field: &str, expected: &str, given: &Bound<'_, PyAny>) -> PyErr {
    let given = given
        .get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "?".into());
    PyTypeError::new_err(format!("{field} must be {expected}, not {given}"))
}
