//! `ExecutionResult`: the report of one run, with the usage guide's field names.

use crate::values::to_py;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};
use sandbox::{Outcome, SandboxError, WasmValue};

/// How one run ended and what it used: `success`, `outcome` (the taxonomy's name), `trap`,
/// `exit_code`, `results`, `stdout`/`stderr`, `execution_time_ms`, `fuel_consumed`,
/// `memory_used_bytes`, `backend`.
#[pyclass(module = "wasm_sandbox", frozen)]
pub struct ExecutionResult {
    /// Whether the run completed normally (returned, or exited with code 0).
    #[pyo3(get)]
    success: bool,
    /// The outcome's name: `ok`, `exit`, `trap`, `fuel_exhausted`, `time_limit_exceeded`, ...
    #[pyo3(get)]
    outcome: &'static str,
    /// The trap kind when the guest trapped (`unreachable`, `stack_overflow`, ...), else `None`.
    #[pyo3(get)]
    trap: Option<&'static str>,
    /// The exit code of a WASI command (0 when `_start` returned), else `None`.
    #[pyo3(get)]
    exit_code: Option<i32>,
    /// The error's message when the run did not succeed, else `None`.
    #[pyo3(get)]
    error: Option<String>,
    /// Wall-clock time of the call, in milliseconds.
    #[pyo3(get)]
    execution_time_ms: f64,
    /// Fuel consumed, or `None` when metering is off.
    #[pyo3(get)]
    fuel_consumed: Option<u64>,
    /// Largest linear-memory size the instance had, in bytes.
    #[pyo3(get)]
    memory_used_bytes: u64,
    /// Whether stdout was cut at `max_output_bytes`.
    #[pyo3(get)]
    stdout_truncated: bool,
    /// Whether stderr was cut at `max_output_bytes`.
    #[pyo3(get)]
    stderr_truncated: bool,
    /// The engine that ran the call.
    #[pyo3(get)]
    backend: &'static str,
    /// WASI calls the policy denied during the run, described.
    #[pyo3(get)]
    denied: Vec<String>,
    values: Vec<WasmValue>,
    stdout: Py<PyBytes>,
    stderr: Py<PyBytes>,
}

impl ExecutionResult {
    /// The Python form of a Rust report; `command` says whether `_start` ran (a normal return
    /// is then exit code 0).
    pub fn new(py: Python<'_>, result: sandbox::ExecutionResult, command: bool) -> Self {
        let exit_code = match result.outcome {
            Outcome::Exit { code } => Some(code),
            Outcome::Ok if command => Some(0),
            _ => None,
        };
        let error = result.outcome.error();
        ExecutionResult {
            success: result.outcome.is_success(),
            outcome: result.outcome.kind(),
            trap: error.and_then(SandboxError::trap).map(|trap| trap.name()),
            exit_code,
            error: match &result.outcome {
                Outcome::Failed(err) => Some(err.to_string()),
                Outcome::Exit { code } if *code != 0 => {
                    Some(format!("the guest exited with code {code}"))
                }
                _ => None,
            },
            execution_time_ms: result.execution_time.as_secs_f64() * 1000.0,
            fuel_consumed: result.fuel_consumed,
            memory_used_bytes: result.peak_memory,
            stdout_truncated: result.stdout_truncated,
            stderr_truncated: result.stderr_truncated,
            backend: result.backend.name(),
            denied: result.denied.iter().map(ToString::to_string).collect(),
            values: result.return_values,
            stdout: PyBytes::new(py, &result.stdout).unbind(),
            stderr: PyBytes::new(py, &result.stderr).unbind(),
        }
    }
}

/// Python's `repr` of a string.
fn py_repr(py: Python<'_>, text: &str) -> PyResult<String> {
    Ok(PyString::new(py, text).repr()?.to_string())
}

#[pymethods]
impl ExecutionResult {
    /// Values the function returned (ints and floats), empty unless it returned.
    #[getter]
    fn results<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let values = self
            .values
            .iter()
            .map(|value| to_py(py, value))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, values)
    }

    /// Captured standard output.
    #[getter]
    fn stdout(&self, py: Python<'_>) -> Py<PyBytes> {
        self.stdout.clone_ref(py)
    }

    /// Captured standard error.
    #[getter]
    fn stderr(&self, py: Python<'_>) -> Py<PyBytes> {
        self.stderr.clone_ref(py)
    }

    /// Every field, as a dict (stdout and stderr as bytes).
    fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        dict.set_item("success", self.success)?;
        dict.set_item("outcome", self.outcome)?;
        dict.set_item("trap", self.trap)?;
        dict.set_item("exit_code", self.exit_code)?;
        dict.set_item("error", &self.error)?;
        dict.set_item("results", self.results(py)?)?;
        dict.set_item("stdout", self.stdout(py))?;
        dict.set_item("stderr", self.stderr(py))?;
        dict.set_item("stdout_truncated", self.stdout_truncated)?;
        dict.set_item("stderr_truncated", self.stderr_truncated)?;
        dict.set_item("execution_time_ms", self.execution_time_ms)?;
        dict.set_item("fuel_consumed", self.fuel_consumed)?;
        dict.set_item("memory_used_bytes", self.memory_used_bytes)?;
        dict.set_item("backend", self.backend)?;
        dict.set_item("denied", &self.denied)?;
        Ok(dict)
    }

    fn __bool__(&self) -> bool {
        self.success
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let mut parts = vec![
            format!("success={}", if self.success { "True" } else { "False" }),
            format!("outcome={}", py_repr(py, self.outcome)?),
        ];
        if let Some(trap) = self.trap {
            parts.push(format!("trap={}", py_repr(py, trap)?));
        }
        if let Some(code) = self.exit_code {
            parts.push(format!("exit_code={code}"));
        }
        if !self.values.is_empty() {
            parts.push(format!("results={}", self.results(py)?.repr()?));
        }
        for (name, bytes) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            let bytes = bytes.bind(py).as_bytes();
            if !bytes.is_empty() {
                let shown = &bytes[..bytes.len().min(60)];
                let more = if bytes.len() > shown.len() { "..." } else { "" };
                parts.push(format!("{name}={}{more}", PyBytes::new(py, shown).repr()?));
            }
        }
        parts.push(format!("execution_time_ms={:.3}", self.execution_time_ms));
        if let Some(fuel) = self.fuel_consumed {
            parts.push(format!("fuel_consumed={fuel}"));
        }
        parts.push(format!("memory_used_bytes={}", self.memory_used_bytes));
        parts.push(format!("backend={}", py_repr(py, self.backend)?));
        if let Some(error) = &self.error {
            parts.push(format!("error={}", py_repr(py, error)?));
        }
        Ok(format!("ExecutionResult({})", parts.join(", ")))
    }
}
