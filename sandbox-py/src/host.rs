//! Host functions written in Python.
//!
//! The guest runs with the GIL released; a call of a Python host function takes the GIL,
//! calls `func(context, *args)` and converts what it returns by the declared result types. An
//! exception raised by it (or a result of the wrong type) ends the guest's run with trap
//! `other`, its message kept.

use crate::config::{string, strings};
use crate::errors::{bad_type, bad_value};
use crate::values::{to_py, type_name, value};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};
use sandbox::{FuncSignature, HostError, HostFunction, ValType, WasmValue};
use std::sync::Mutex;

/// What a Python host function sees of the guest during its call: the guest's memory (its
/// export named `memory`) and the fuel consumed so far. Valid only during the call; using it
/// afterwards raises `RuntimeError`.
#[pyclass(module = "wasm_sandbox", frozen)]
pub struct HostContext {
    /// The Rust context of the call in progress, as an address; `None` once it returned.
    inner: Mutex<Option<usize>>,
}

impl HostContext {
    /// Runs `f` on the live context, or raises if the call it belonged to is over.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut sandbox::HostContext<'_>) -> Result<T, HostError>,
    ) -> PyResult<T> {
        let guard = self
            .inner
            .lock()
            .map_err(|_| PyRuntimeError::new_err("the host context is poisoned"))?;
        let address = guard.ok_or_else(|| {
            PyRuntimeError::new_err(
                "this HostContext belongs to a host call that has returned; use it only during the call",
            )
        })?;
        // SAFETY: `address` is the `&mut HostContext` of the host call in progress: it is set
        // by `call` just before the Python function runs and cleared (under this same lock)
        // before `call` returns, so the reference is live here, and the lock makes this the
        // only use of it at a time.
        let context = unsafe { &mut *(address as *mut sandbox::HostContext<'_>) };
        f(context).map_err(|err| PyValueError::new_err(err.0))
    }
}

#[pymethods]
impl HostContext {
    /// Reads `length` bytes of guest memory at `address`.
    fn read<'py>(
        &self,
        py: Python<'py>,
        address: u32,
        length: u32,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let data = self.with(|context| context.read_bytes(address, length))?;
        Ok(PyBytes::new(py, &data))
    }

    /// Reads `length` bytes of guest memory at `address` as UTF-8 text.
    fn read_string(&self, address: u32, length: u32) -> PyResult<String> {
        self.with(|context| context.read_string(address, length))
    }

    /// Writes `data` into guest memory at `address`.
    fn write(&self, address: u32, data: &[u8]) -> PyResult<()> {
        self.with(|context| context.write_bytes(address, data))
    }

    /// The size of the guest's memory, in bytes.
    #[getter]
    fn memory_size(&self) -> PyResult<u64> {
        self.with(|context| Ok(context.memory()?.size()))
    }

    /// Fuel the guest has consumed so far, or `None` when metering is off.
    #[getter]
    fn fuel_consumed(&self) -> PyResult<Option<u64>> {
        self.with(|context| Ok(context.fuel_consumed()))
    }

    fn __repr__(&self) -> String {
        let live = self
            .inner
            .lock()
            .map(|inner| inner.is_some())
            .unwrap_or(false);
        format!(
            "<HostContext {}>",
            if live {
                "(in a host call)"
            } else {
                "(call returned)"
            }
        )
    }
}

/// A host function from the Python spec `(module, name, params, results, func)`.
pub fn from_spec(spec: &Bound<'_, PyAny>) -> PyResult<HostFunction> {
    let field = "host_functions";
    let tuple = spec
        .cast::<PyTuple>()
        .map_err(|_| bad_type(field, "a list of host function specs", spec))?;
    if tuple.len() != 5 {
        return Err(bad_value(
            field,
            "a spec is (module, name, params, results, func)",
        ));
    }
    let module = string(&tuple.get_item(0)?, field)?;
    let name = string(&tuple.get_item(1)?, field)?;
    let types = |index: usize, what: &str| -> PyResult<Vec<ValType>> {
        strings(&tuple.get_item(index)?, what)?
            .iter()
            .map(|ty| {
                parse_type(ty).ok_or_else(|| {
                    bad_value(
                        what,
                        format!("unknown type {ty:?}; types are 'i32', 'i64', 'f32' and 'f64'"),
                    )
                })
            })
            .collect()
    };
    let params = types(2, "params")?;
    let results = types(3, "results")?;
    let func = tuple.get_item(4)?;
    if !func.is_callable() {
        return Err(bad_type("func", "callable", &func));
    }
    let func = func.unbind();
    let signature = FuncSignature::new(params, results.clone());
    Ok(HostFunction::new(
        module,
        name,
        signature,
        move |context, args| Python::attach(|py| call(py, &func, &results, context, args)),
    ))
}

fn parse_type(name: &str) -> Option<ValType> {
    match name {
        "i32" => Some(ValType::I32),
        "i64" => Some(ValType::I64),
        "f32" => Some(ValType::F32),
        "f64" => Some(ValType::F64),
        _ => None,
    }
}

/// One call of a Python host function.
fn call(
    py: Python<'_>,
    func: &Py<PyAny>,
    results: &[ValType],
    context: &mut sandbox::HostContext<'_>,
    args: &[WasmValue],
) -> Result<Vec<WasmValue>, HostError> {
    let described = |err: PyErr| {
        let kind = err
            .get_type(py)
            .name()
            .map(|name| name.to_string())
            .unwrap_or_else(|_| "Exception".into());
        HostError::new(format!("{kind}: {}", err.value(py)))
    };
    let handle = Py::new(
        py,
        HostContext {
            inner: Mutex::new(Some(context as *mut sandbox::HostContext<'_> as usize)),
        },
    )
    .map_err(described)?;
    let mut call_args = vec![handle.clone_ref(py).into_any().into_bound(py)];
    for arg in args {
        call_args.push(to_py(py, arg).map_err(described)?);
    }
    let returned = PyTuple::new(py, call_args).and_then(|args| func.bind(py).call1(args));
    // The context dies with this call, whatever the function kept of it.
    if let Ok(mut inner) = handle.get().inner.lock() {
        *inner = None;
    }
    let returned = returned.map_err(described)?;
    convert_results(&returned, results)
}

/// What a host function returned, by its declared result types: `None` for none, a value
/// for one, a tuple or list for several.
fn convert_results(
    returned: &Bound<'_, PyAny>,
    results: &[ValType],
) -> Result<Vec<WasmValue>, HostError> {
    let items: Vec<Bound<'_, PyAny>> = match results.len() {
        0 if returned.is_none() => Vec::new(),
        1 => vec![returned.clone()],
        n if n > 1
            && (returned.is_instance_of::<PyTuple>() || returned.is_instance_of::<PyList>()) =>
        {
            returned
                .try_iter()
                .and_then(|iter| iter.collect::<PyResult<_>>())
                .map_err(|err| HostError::new(err.to_string()))?
        }
        _ => {
            return Err(HostError::new(format!(
                "returned {} where {} result(s) were declared",
                type_name(returned),
                results.len()
            )))
        }
    };
    if items.len() != results.len() {
        return Err(HostError::new(format!(
            "returned {} values where {} were declared",
            items.len(),
            results.len()
        )));
    }
    items
        .iter()
        .zip(results)
        .map(|(item, ty)| {
            value(item, *ty).ok_or_else(|| {
                HostError::new(format!(
                    "returned {} for a result of type {ty}",
                    type_name(item)
                ))
            })
        })
        .collect()
}
