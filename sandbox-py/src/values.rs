//! Python values ↔ [`WasmValue`]s, typed by a function's signature.
//!
//! Integers go to `i32`/`i64` parameters (an `i32` accepts -2³¹..2³², the upper half as its
//! unsigned spelling, as `i32.const` does), ints and floats to `f32`/`f64`, `None` to a null
//! reference; a `bool`, a `str` or anything else is a `type_mismatch`. Results come back as
//! Python ints (signed) and floats.

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyFloat, PyInt, PyList, PyTuple};
use sandbox::{FuncSignature, SandboxError, ValType, WasmValue};

/// Converts `args` (a list or tuple) for a call of `function` with `signature`.
pub fn arguments(
    function: &str,
    signature: &FuncSignature,
    args: Option<&Bound<'_, PyAny>>,
) -> Result<Vec<WasmValue>, SandboxError> {
    let mismatch = |given: String| SandboxError::TypeMismatch {
        function: function.to_string(),
        expected: signature.to_string(),
        given,
    };
    let Some(args) = args.filter(|args| !args.is_none()) else {
        return if signature.params.is_empty() {
            Ok(Vec::new())
        } else {
            Err(mismatch("no arguments".into()))
        };
    };
    if !(args.is_instance_of::<PyList>() || args.is_instance_of::<PyTuple>()) {
        return Err(mismatch(format!(
            "args of type {} (expected a list)",
            type_name(args)
        )));
    }
    let items: Vec<Bound<'_, PyAny>> = args
        .try_iter()
        .and_then(|iter| iter.collect::<PyResult<_>>())
        .map_err(|err| mismatch(err.to_string()))?;
    if items.len() != signature.params.len() {
        return Err(mismatch(format!("{} arguments", items.len())));
    }
    items
        .iter()
        .zip(&signature.params)
        .enumerate()
        .map(|(index, (item, ty))| {
            value(item, *ty)
                .ok_or_else(|| mismatch(format!("{} for parameter {index} ({ty})", describe(item))))
        })
        .collect()
}

/// One Python value as a value of type `ty`, if it is one.
pub fn value(item: &Bound<'_, PyAny>, ty: ValType) -> Option<WasmValue> {
    if item.is_instance_of::<PyBool>() {
        return None;
    }
    let is_int = item.is_instance_of::<PyInt>();
    match ty {
        ValType::I32 if is_int => {
            let n: i64 = item.extract().ok()?;
            if (i64::from(i32::MIN)..=i64::from(u32::MAX)).contains(&n) {
                Some(WasmValue::I32(n as i32))
            } else {
                None
            }
        }
        ValType::I64 if is_int => {
            let n: i128 = item.extract().ok()?;
            if (i128::from(i64::MIN)..=i128::from(u64::MAX)).contains(&n) {
                Some(WasmValue::I64(n as i64))
            } else {
                None
            }
        }
        ValType::F32 if is_int || item.is_instance_of::<PyFloat>() => {
            Some(WasmValue::F32(item.extract::<f64>().ok()? as f32))
        }
        ValType::F64 if is_int || item.is_instance_of::<PyFloat>() => {
            Some(WasmValue::F64(item.extract().ok()?))
        }
        ValType::V128 if is_int => {
            let n: u128 = item.extract().ok()?;
            Some(WasmValue::V128(n))
        }
        ValType::FuncRef if item.is_none() => Some(WasmValue::FuncRef { null: true }),
        ValType::ExternRef if item.is_none() => Some(WasmValue::ExternRef(None)),
        _ => None,
    }
}

/// A value as Python: ints, floats, `None` for a null reference.
pub fn to_py<'py>(py: Python<'py>, value: &WasmValue) -> PyResult<Bound<'py, PyAny>> {
    Ok(match *value {
        WasmValue::I32(n) => n.into_pyobject(py)?.into_any(),
        WasmValue::I64(n) => n.into_pyobject(py)?.into_any(),
        WasmValue::F32(x) => f64::from(x).into_pyobject(py)?.into_any(),
        WasmValue::F64(x) => x.into_pyobject(py)?.into_any(),
        WasmValue::V128(bits) => bits.into_pyobject(py)?.into_any(),
        WasmValue::FuncRef { null: true } | WasmValue::ExternRef(None) => py.None().into_bound(py),
        WasmValue::FuncRef { null: false } => true.into_pyobject(py)?.to_owned().into_any(),
        WasmValue::ExternRef(Some(id)) => id.into_pyobject(py)?.into_any(),
    })
}

/// `int 5`, `str 'x'`: what a value was, for messages.
fn describe(item: &Bound<'_, PyAny>) -> String {
    let repr = item
        .repr()
        .map(|repr| repr.to_string())
        .unwrap_or_else(|_| "?".into());
    let repr = if repr.chars().count() > 40 {
        format!("{}...", repr.chars().take(40).collect::<String>())
    } else {
        repr
    };
    format!("{} {repr}", type_name(item))
}

/// The Python type name of `item`.
pub fn type_name(item: &Bound<'_, PyAny>) -> String {
    item.get_type()
        .name()
        .map(|name| name.to_string())
        .unwrap_or_else(|_| "?".into())
}
