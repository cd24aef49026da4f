//! The Python configuration (a dict of `WasmSandboxConfig`'s fields) → [`SandboxConfig`], and
//! the presets as Python dicts: the Rust configuration is the single source of defaults and
//! rules, so Python and Rust cannot drift apart.

use crate::errors::{bad_type, bad_value};
use crate::host;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};
use sandbox::{
    BackendKind, CacheConfig, ClockPolicy, Preopen, Runtime, SandboxConfig, SandboxError,
};
use std::time::Duration;

/// Every field of `WasmSandboxConfig`, in its order.
pub const FIELDS: &[&str] = &[
    "max_memory_bytes",
    "timeout_seconds",
    "max_fuel",
    "max_stack_bytes",
    "max_output_bytes",
    "max_table_elements",
    "max_module_bytes",
    "allowed_imports",
    "runtime",
    "preset",
    "clock",
    "random_seed",
    "env",
    "args",
    "program_name",
    "stdin",
    "dirs",
    "dirs_rw",
    "cache",
    "host_functions",
];

/// The longest time limit accepted (as the Rust configuration's).
const MAX_TIMEOUT_SECONDS: f64 = 7.0 * 24.0 * 3600.0;

/// A parsed configuration.
pub struct Parsed {
    /// The Rust configuration.
    pub config: SandboxConfig,
    /// The engine.
    pub runtime: Runtime,
}

/// The default values of preset `name` (`default`, `minimal`, `compute`) as a dict of
/// `WasmSandboxConfig` fields.
#[pyfunction]
pub fn preset<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyDict>> {
    let config = SandboxConfig::preset(name).ok_or_else(|| {
        bad_value(
            "preset",
            format!("unknown preset {name:?}; presets are 'default', 'minimal' and 'compute'"),
        )
    })?;
    let dict = PyDict::new(py);
    dict.set_item("max_memory_bytes", config.max_memory_bytes)?;
    dict.set_item("timeout_seconds", config.max_execution_time.as_secs_f64())?;
    dict.set_item("max_fuel", config.max_fuel)?;
    dict.set_item("max_stack_bytes", config.max_stack_size)?;
    dict.set_item("max_output_bytes", config.max_output_bytes)?;
    dict.set_item("max_table_elements", config.max_table_elements)?;
    dict.set_item("max_module_bytes", config.max_module_bytes)?;
    dict.set_item("clock", config.clock.name())?;
    dict.set_item("random_seed", config.random_seed)?;
    dict.set_item("program_name", config.program_name)?;
    Ok(dict)
}

/// Checks a configuration dict the way `WasmSandbox` will use it, raising `ValueError` or
/// `TypeError` naming the field.
#[pyfunction]
pub fn check_config(config: &Bound<'_, PyDict>) -> PyResult<()> {
    parse(config).map(|_| ())
}

/// Parses the dict of every field of `WasmSandboxConfig`.
pub fn parse(dict: &Bound<'_, PyDict>) -> PyResult<Parsed> {
    for key in dict.keys() {
        let key: String = key
            .extract()
            .map_err(|_| PyTypeError::new_err("configuration keys must be strings"))?;
        if !FIELDS.contains(&key.as_str()) {
            return Err(PyTypeError::new_err(format!(
                "unknown configuration field {key:?}; fields are: {}",
                FIELDS.join(", ")
            )));
        }
    }
    let base = match get(dict, "preset")? {
        Some(value) => {
            let name = string(&value, "preset")?;
            SandboxConfig::preset(&name).ok_or_else(|| {
                bad_value(
                    "preset",
                    format!(
                        "unknown preset {name:?}; presets are 'default', 'minimal' and 'compute'"
                    ),
                )
            })?
        }
        None => SandboxConfig::default(),
    };
    let mut config = base;
    if let Some(value) = get(dict, "max_memory_bytes")? {
        config.max_memory_bytes = unsigned(&value, "max_memory_bytes")?;
    }
    if let Some(value) = get(dict, "timeout_seconds")? {
        config.max_execution_time = seconds(&value, "timeout_seconds")?;
    }
    if let Some(value) = dict.get_item("max_fuel")? {
        config.max_fuel = if value.is_none() {
            None
        } else {
            Some(unsigned(&value, "max_fuel")?)
        };
    }
    if let Some(value) = get(dict, "max_stack_bytes")? {
        let bytes = unsigned(&value, "max_stack_bytes")?;
        if !(8 << 10..=64 << 20).contains(&bytes) {
            return Err(bad_value(
                "max_stack_bytes",
                format!("{bytes} is outside 8 KiB..=64 MiB"),
            ));
        }
        config.max_stack_size = bytes;
    }
    if let Some(value) = get(dict, "max_output_bytes")? {
        config.max_output_bytes = unsigned(&value, "max_output_bytes")?;
    }
    if let Some(value) = get(dict, "max_table_elements")? {
        config.max_table_elements = unsigned(&value, "max_table_elements")?;
    }
    if let Some(value) = get(dict, "max_module_bytes")? {
        config.max_module_bytes = unsigned(&value, "max_module_bytes")?;
    }
    if let Some(value) = get(dict, "allowed_imports")? {
        config.allowed_imports = strings(&value, "allowed_imports")?
            .into_iter()
            .map(|entry| import_entry(&entry))
            .collect::<PyResult<_>>()?;
    }
    let runtime = match get(dict, "runtime")? {
        Some(value) => runtime(&value)?,
        None => sandbox::default_runtime().map_err(|err| bad_value("runtime", err))?,
    };
    if let Some(value) = get(dict, "clock")? {
        config.clock = clock(&value)?;
    }
    if let Some(value) = get(dict, "random_seed")? {
        config.random_seed = unsigned(&value, "random_seed")?;
    }
    if let Some(value) = get(dict, "env")? {
        config.env = env(&value)?;
    }
    if let Some(value) = get(dict, "args")? {
        config.args = strings(&value, "args")?;
    }
    if let Some(value) = get(dict, "program_name")? {
        config.program_name = string(&value, "program_name")?;
    }
    if let Some(value) = get(dict, "stdin")? {
        config.stdin = bytes(&value, "stdin")?;
    }
    for (field, writable) in [("dirs", false), ("dirs_rw", true)] {
        if let Some(value) = get(dict, field)? {
            for (host, guest) in dirs(&value, field)? {
                config.allow_filesystem = true;
                config.preopens.push(Preopen {
                    host: host.into(),
                    guest,
                    writable,
                });
            }
        }
    }
    if let Some(value) = get(dict, "cache")? {
        config.cache = cache(&value)?;
    }
    if let Some(value) = get(dict, "host_functions")? {
        let list = value
            .cast::<PyList>()
            .map_err(|_| bad_type("host_functions", "a list", &value))?;
        for spec in list.iter() {
            config.host_functions.define(host::from_spec(&spec)?);
        }
    }
    config.validate().map_err(|err| match err {
        SandboxError::Unsupported { reason } => bad_value(field_of(&reason), reason),
        other => bad_value("config", other),
    })?;
    Ok(Parsed { config, runtime })
}

/// The field a validation message of the Rust configuration is about.
fn field_of(reason: &str) -> &'static str {
    if reason.contains("preopen") {
        "dirs"
    } else if reason.contains("allowed import") {
        "allowed_imports"
    } else if reason.contains("max_stack_size") {
        "max_stack_bytes"
    } else if reason.contains("max_execution_time") {
        "timeout_seconds"
    } else {
        "config"
    }
}

/// The value of `key`, `None` when absent or `None`.
fn get<'py>(dict: &Bound<'py, PyDict>, key: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    Ok(dict.get_item(key)?.filter(|value| !value.is_none()))
}

/// A non-negative `int` (not a `bool`).
pub fn unsigned(value: &Bound<'_, PyAny>, field: &str) -> PyResult<u64> {
    if value.is_instance_of::<PyBool>() || !value.is_instance_of::<PyInt>() {
        return Err(bad_type(field, "an int", value));
    }
    let number: i128 = value
        .extract()
        .map_err(|_| bad_value(field, "is too large"))?;
    u64::try_from(number).map_err(|_| {
        bad_value(
            field,
            if number < 0 {
                format!("must not be negative, got {number}")
            } else {
                format!("{number} is too large")
            },
        )
    })
}

/// A positive, finite number of seconds (int or float), at most a week.
fn seconds(value: &Bound<'_, PyAny>, field: &str) -> PyResult<Duration> {
    if value.is_instance_of::<PyBool>()
        || !(value.is_instance_of::<PyInt>() || value.is_instance_of::<PyFloat>())
    {
        return Err(bad_type(field, "a number of seconds", value));
    }
    let seconds: f64 = value.extract()?;
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(bad_value(field, format!("must be positive, got {seconds}")));
    }
    if seconds > MAX_TIMEOUT_SECONDS {
        return Err(bad_value(field, "is more than a week"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A `str`.
pub fn string(value: &Bound<'_, PyAny>, field: &str) -> PyResult<String> {
    if !value.is_instance_of::<PyString>() {
        return Err(bad_type(field, "a str", value));
    }
    let text: String = value.extract()?;
    if text.contains('\0') {
        return Err(bad_value(field, "contains a NUL character"));
    }
    Ok(text)
}

/// A list or tuple of `str` (a lone `str` is refused: it is almost always a mistake).
pub fn strings(value: &Bound<'_, PyAny>, field: &str) -> PyResult<Vec<String>> {
    if !(value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>()) {
        return Err(bad_type(field, "a list of str", value));
    }
    value
        .try_iter()?
        .map(|item| string(&item?, field))
        .collect()
}

/// `bytes`, `bytearray`, or a `str` (encoded as UTF-8).
pub fn bytes(value: &Bound<'_, PyAny>, field: &str) -> PyResult<Vec<u8>> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        Ok(bytes.as_bytes().to_vec())
    } else if let Ok(array) = value.cast::<PyByteArray>() {
        Ok(array.to_vec())
    } else if let Ok(text) = value.cast::<PyString>() {
        Ok(text.to_cow()?.as_bytes().to_vec())
    } else {
        Err(bad_type(field, "bytes or str", value))
    }
}

/// An import as `module.name` or `module::name`, stored in the `::` spelling.
fn import_entry(entry: &str) -> PyResult<String> {
    let (module, name) = sandbox::config::split_import(entry);
    if module.is_empty() || name.is_empty() {
        return Err(bad_value(
            "allowed_imports",
            format!("{entry:?} is not of the form \"module.name\" or \"module::name\""),
        ));
    }
    Ok(format!("{module}::{name}"))
}

/// `"wasmtime"`, `"wasmer"` (or a `Runtime` member, whose value is one of those).
pub fn runtime(value: &Bound<'_, PyAny>) -> PyResult<Runtime> {
    let name = match value.getattr("value") {
        Ok(inner) if !value.is_instance_of::<PyString>() => inner,
        _ => value.clone(),
    };
    let name = string(&name, "runtime")?;
    BackendKind::ALL
        .into_iter()
        .find(|kind| kind.name().eq_ignore_ascii_case(name.trim()))
        .ok_or_else(|| {
            bad_value(
                "runtime",
                format!("unknown runtime {name:?}; runtimes are 'wasmtime' and 'wasmer'"),
            )
        })
}

/// `"deny"`, `"virtual"` or `"real"`.
fn clock(value: &Bound<'_, PyAny>) -> PyResult<ClockPolicy> {
    let name = string(value, "clock")?;
    [ClockPolicy::Deny, ClockPolicy::Virtual, ClockPolicy::Real]
        .into_iter()
        .find(|policy| policy.name() == name)
        .ok_or_else(|| {
            bad_value(
                "clock",
                format!("unknown clock {name:?}; clocks are 'deny', 'virtual' and 'real'"),
            )
        })
}

/// A dict of `str` to `str`.
fn env(value: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let dict = value
        .cast::<PyDict>()
        .map_err(|_| bad_type("env", "a dict of str to str", value))?;
    let mut env = Vec::with_capacity(dict.len());
    for (key, value) in dict.iter() {
        let key = string(&key, "env")?;
        if key.is_empty() || key.contains('=') {
            return Err(bad_value(
                "env",
                format!("{key:?} is not a variable name (empty or contains '=')"),
            ));
        }
        env.push((key, string(&value, "env")?));
    }
    Ok(env)
}

/// A list of `(host, guest)` pairs (the Python layer turns its other spellings into these).
fn dirs(value: &Bound<'_, PyAny>, field: &str) -> PyResult<Vec<(String, String)>> {
    let list = value
        .cast::<PyList>()
        .map_err(|_| bad_type(field, "a list of directories", value))?;
    list.iter()
        .map(|item| {
            let pair = item
                .cast::<PyTuple>()
                .map_err(|_| bad_type(field, "a list of (host, guest) pairs", &item))?;
            if pair.len() != 2 {
                return Err(bad_value(field, "each entry must be a (host, guest) pair"));
            }
            let host = string(&pair.get_item(0)?, field)?;
            let guest = string(&pair.get_item(1)?, field)?;
            let preopen = Preopen {
                host: host.clone().into(),
                guest: guest.clone(),
                writable: false,
            };
            preopen
                .guest_components()
                .map_err(|reason| bad_value(field, format!("guest path {guest:?}: {reason}")))?;
            Ok((host, guest))
        })
        .collect()
}

/// `False`/`None` (off), `True` (the default location, [`CacheConfig::from_env`]) or a
/// directory.
fn cache(value: &Bound<'_, PyAny>) -> PyResult<CacheConfig> {
    if let Ok(flag) = value.cast::<PyBool>() {
        return Ok(if flag.is_true() {
            CacheConfig::from_env()
        } else {
            CacheConfig::off()
        });
    }
    Ok(CacheConfig::at(string(value, "cache")?))
}
