//! How a run ended and what it measured.

use crate::wasi::Denial;
use crate::{BackendKind, SandboxError, WasmValue};
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use std::time::Duration;

/// How a run ended. Serialises as `{"kind": ..., fields}` with the design's taxonomy names.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The call returned normally.
    Ok,
    /// The guest exited with this code (WASI `proc_exit`).
    Exit {
        /// The exit code.
        code: i32,
    },
    /// The run failed: a trap, a limit, or an error before the guest ran.
    Failed(SandboxError),
}

impl Outcome {
    /// The taxonomy name: `ok`, `exit`, or the error's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Exit { .. } => "exit",
            Outcome::Failed(err) => err.kind(),
        }
    }

    /// Whether the run completed normally (returned, or exited with code 0).
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Ok | Outcome::Exit { code: 0 })
    }

    /// The error, if the run failed.
    pub fn error(&self) -> Option<&SandboxError> {
        match self {
            Outcome::Failed(err) => Some(err),
            _ => None,
        }
    }
}

impl Serialize for Outcome {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Outcome::Ok => {
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("kind", "ok")?;
                map.end()
            }
            Outcome::Exit { code } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("kind", "exit")?;
                map.serialize_entry("code", code)?;
                map.end()
            }
            Outcome::Failed(err) => err.serialize(serializer),
        }
    }
}

/// Everything one call reports, whether it succeeded or not.
///
/// A failed run keeps what it measured and captured up to the failure.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionResult {
    /// The engine that ran the call.
    pub backend: BackendKind,
    /// How the run ended.
    pub outcome: Outcome,
    /// Values returned (empty unless the outcome is `ok`).
    #[serde(rename = "results", serialize_with = "values")]
    pub return_values: Vec<WasmValue>,
    /// Wall-clock time of the call.
    #[serde(rename = "elapsed_ms", serialize_with = "millis")]
    pub execution_time: Duration,
    /// Fuel consumed under the core cost model; `None` when metering is off.
    pub fuel_consumed: Option<u64>,
    /// Largest linear-memory size of the instance seen so far, in bytes.
    #[serde(rename = "peak_memory_bytes")]
    pub peak_memory: u64,
    /// Captured standard output.
    #[serde(serialize_with = "lossy")]
    pub stdout: Vec<u8>,
    /// Captured standard error.
    #[serde(serialize_with = "lossy")]
    pub stderr: Vec<u8>,
    /// Whether stdout was cut at the output limit.
    pub stdout_truncated: bool,
    /// Whether stderr was cut at the output limit.
    pub stderr_truncated: bool,
    /// WASI calls the policy denied during the run (a clock, randomness, a socket, a path
    /// outside the preopens), in the order they were first made. When the run then failed,
    /// these are the likely cause, and a trap's message names them too.
    pub denied: Vec<Denial>,
}

impl ExecutionResult {
    /// A result with nothing measured yet, for `backend` and `outcome`.
    pub fn new(backend: BackendKind, outcome: Outcome) -> Self {
        ExecutionResult {
            backend,
            outcome,
            return_values: Vec::new(),
            execution_time: Duration::ZERO,
            fuel_consumed: None,
            peak_memory: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
            stdout_truncated: false,
            stderr_truncated: false,
            denied: Vec::new(),
        }
    }

    /// Attaches the denials of this run; when the run trapped, its message names them
    /// (`... (after the guest's clock_time_get was denied (clock deny))`).
    pub fn record_denials(&mut self, denied: Vec<Denial>) {
        if denied.is_empty() {
            return;
        }
        if let Outcome::Failed(SandboxError::RuntimeError { message, .. }) = &mut self.outcome {
            let names: Vec<String> = denied.iter().map(ToString::to_string).collect();
            message.push_str(&format!(" (after {})", names.join("; ")));
        }
        self.denied.extend(denied);
    }

    /// The exit code, when the guest exited.
    pub fn exit_code(&self) -> Option<i32> {
        match self.outcome {
            Outcome::Exit { code } => Some(code),
            _ => None,
        }
    }

    /// Turns a failed outcome into its error, for `?`-style callers who do not need the partial
    /// report.
    pub fn into_result(self) -> Result<ExecutionResult, SandboxError> {
        match self.outcome {
            Outcome::Failed(err) => Err(err),
            _ => Ok(self),
        }
    }

    /// The JSON object of the CLI contract (`backend`, `outcome`, `results`, `exit_code`,
    /// `stdout`, ...).
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(map) = value.as_object_mut() {
            map.insert("exit_code".into(), serde_json::json!(self.exit_code()));
        }
        value
    }
}

fn millis<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
}

fn lossy<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&String::from_utf8_lossy(bytes))
}

fn values<S: Serializer>(values: &[WasmValue], serializer: S) -> Result<S::Ok, S::Error> {
    // Results are plain JSON numbers; NaN and infinities (not JSON numbers) become strings.
    serializer.collect_seq(values.iter().map(|v| match v {
        WasmValue::I32(x) => serde_json::json!(x),
        WasmValue::I64(x) => serde_json::json!(x),
        WasmValue::F32(x) if x.is_finite() => serde_json::json!(x),
        WasmValue::F64(x) if x.is_finite() => serde_json::json!(x),
        other => serde_json::json!(other.to_string()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_of_the_cli_contract() {
        let mut result = ExecutionResult::new(BackendKind::Wasmtime, Outcome::Ok);
        result.return_values = vec![WasmValue::I32(12), WasmValue::F64(f64::NAN)];
        result.fuel_consumed = Some(4);
        let json = result.to_json();
        for key in [
            "backend",
            "outcome",
            "results",
            "exit_code",
            "stdout",
            "stderr",
            "stdout_truncated",
            "stderr_truncated",
            "elapsed_ms",
            "fuel_consumed",
            "peak_memory_bytes",
        ] {
            assert!(json.get(key).is_some(), "missing {key} in {json}");
        }
        assert_eq!(json["outcome"]["kind"], "ok");
        assert_eq!(json["results"][0], 12);
        assert_eq!(json["results"][1], "NaN");
        assert_eq!(json["backend"], "wasmtime");
    }

    #[test]
    fn failed_outcomes_carry_their_data() {
        let outcome = Outcome::Failed(SandboxError::FuelExhausted {
            used: 1000,
            limit: 1000,
        });
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(json["kind"], "fuel_exhausted");
        assert_eq!(json["limit"], 1000);
        assert!(!outcome.is_success());
        assert!(Outcome::Exit { code: 0 }.is_success());
    }
}
