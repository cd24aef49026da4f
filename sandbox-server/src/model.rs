//! The JSON of the API: requests, responses and the stored job specs. The OpenAPI document
//! is generated from these types.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Limits of a run; each defaults to the server's and may not exceed the tenant's maxima.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunLimits {
    /// Fuel budget (instructions, by the sandbox's cost model).
    pub fuel: Option<u64>,
    /// Wall-clock limit in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Linear memory bound in bytes.
    pub max_memory_bytes: Option<u64>,
    /// Bound on each captured stream (stdout, stderr) in bytes.
    pub max_output_bytes: Option<u64>,
}

/// `POST /v1/runs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// SHA-256 (hex) of a module uploaded with `PUT /v1/modules` (this or `module_base64`).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub module: Option<String>,
    /// The module itself (wasm or WAT), base64; stored like an upload.
    pub module_base64: Option<String>,
    /// A Mini program (the project's small language), compiled and stored like an upload
    /// (one of `module`, `module_base64`, `mini`). A program that does not compile is a 422
    /// `compilation_error` with its `diagnostics`.
    pub mini: Option<String>,
    /// `wasmtime` (default) or `wasmer`.
    pub backend: Option<String>,
    /// An export to call; without it the WASI command's `_start` runs.
    pub invoke: Option<String>,
    /// Arguments of `invoke`, converted by its signature (numbers or numeric strings).
    #[serde(default)]
    #[schema(value_type = Vec<Object>)]
    pub args: Vec<serde_json::Value>,
    /// Standard input (UTF-8 text).
    pub stdin: Option<String>,
    /// Standard input as base64, for binary input.
    pub stdin_base64: Option<String>,
    /// Environment variables.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Arguments after the program name.
    #[serde(default)]
    pub argv: Vec<String>,
    /// Limits.
    #[serde(default)]
    pub limits: RunLimits,
    /// Where to POST the result when it is ready (http or https).
    #[schema(format = "uri")]
    pub callback_url: Option<String>,
}

/// The stored spec of a run: the request with the module resolved and the limits filled in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSpec {
    /// SHA-256 of the module.
    pub module: String,
    /// Engine.
    pub backend: String,
    /// Export to call, if not `_start`.
    pub invoke: Option<String>,
    /// Arguments of `invoke`, as text.
    pub args: Vec<String>,
    /// Standard input.
    #[serde(with = "base64_bytes")]
    pub stdin: Vec<u8>,
    /// Environment.
    pub env: Vec<(String, String)>,
    /// Arguments after the program name.
    pub argv: Vec<String>,
    /// Fuel budget.
    pub fuel: u64,
    /// Wall-clock limit.
    pub timeout_ms: u64,
    /// Memory bound.
    pub max_memory_bytes: u64,
    /// Output bound per stream.
    pub max_output_bytes: u64,
}

/// Limits of a problem's tests (a test's own limits win).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemLimits {
    /// Time limit of each test in milliseconds.
    pub time_limit_ms: Option<u64>,
    /// Memory limit of each test in bytes.
    pub memory_limit_bytes: Option<u64>,
    /// A fuel budget per test (off by default: time is the limit).
    pub fuel: Option<u64>,
    /// Output bound per stream in bytes.
    pub max_output_bytes: Option<u64>,
}

/// `POST /v1/problems`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemRequest {
    /// Test cases, in the judge's format: `[{"id", "input", "expected_output",
    /// "time_limit_ms"?, "memory_limit_bytes"?, "fuel"?}]`.
    #[schema(value_type = Vec<Object>, min_items = 1)]
    pub tests: serde_json::Value,
    /// Limits of every test that sets none.
    #[serde(default)]
    pub limits: ProblemLimits,
    /// SHA-256 of a checker module (a WASI command: exit 0 accepts), for problems with more
    /// than one right answer.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub checker: Option<String>,
    /// Judge a function instead of a WASI command: the input is its arguments, the expected
    /// output its printed results.
    pub invoke: Option<String>,
}

/// The stored spec of a problem.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProblemSpec {
    /// Test cases, in the judge's file format.
    pub tests: serde_json::Value,
    /// Default limits.
    pub limits: ProblemLimits,
    /// Checker module.
    pub checker: Option<String>,
    /// Function mode.
    pub invoke: Option<String>,
}

/// `POST /v1/submissions` (and each entry of a batch).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmissionRequest {
    /// The problem's id.
    pub problem: String,
    /// SHA-256 of an uploaded module (this or `module_base64`).
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub module: Option<String>,
    /// The module itself (wasm or WAT), base64.
    pub module_base64: Option<String>,
    /// The solution as a Mini program, compiled and stored like an upload (one of `module`,
    /// `module_base64`, `mini`). A program that does not compile is refused with 422
    /// `compilation_error` and its `diagnostics`: nothing is queued.
    pub mini: Option<String>,
    /// `wasmtime` (default) or `wasmer`.
    pub backend: Option<String>,
    /// Where to POST the verdict.
    #[schema(format = "uri")]
    pub callback_url: Option<String>,
}

/// The stored spec of a submission.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmissionSpec {
    /// The problem's id.
    pub problem: String,
    /// SHA-256 of the module.
    pub module: String,
    /// Engine.
    pub backend: String,
}

/// `POST /v1/submissions/batch`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Up to 100 submissions.
    #[schema(min_items = 1, max_items = 100)]
    pub submissions: Vec<SubmissionRequest>,
}

/// The answer to an upload.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModuleUploaded {
    /// SHA-256 (hex) of the uploaded bytes: the module's name in later requests.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// Imports (`module::name`).
    pub imports: Vec<String>,
    /// Exported functions.
    pub exports: Vec<String>,
}

/// A job accepted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// The job's id.
    pub id: String,
    /// `queued` (or the state it has reached).
    pub state: crate::store::JobState,
}

/// Jobs accepted by a batch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchAccepted {
    /// The ids, in request order.
    pub ids: Vec<String>,
}

/// A problem stored.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProblemCreated {
    /// The problem's id.
    pub id: String,
    /// How many tests it has.
    pub tests: usize,
}

/// A run or submission, as `GET` shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// Its id.
    pub id: String,
    /// `queued`, `running` or `done`.
    pub state: crate::store::JobState,
    /// When it was accepted (ms since the epoch).
    pub created_at: i64,
    /// When its last attempt started.
    pub started_at: Option<i64>,
    /// When its result was stored.
    pub finished_at: Option<i64>,
    /// How many times a worker took it.
    pub attempts: i64,
    /// A run's result, as `sandbox run --json` prints it; a submission's judge report
    /// (`verdict`, `passed`, `total`, `results`, ...). `null` until done.
    #[schema(value_type = Option<Object>)]
    pub result: Option<serde_json::Value>,
    /// The submission's problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// A submission's verdict (also in `result`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<String>,
    /// Tests passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passed: Option<u64>,
    /// Tests in all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// Submissions looked up by `GET /v1/submissions/batch`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchView {
    /// In the order asked; `null` for an id this tenant does not have.
    pub submissions: Vec<Option<JobView>>,
}

/// `POST /v1/tenants` (administrator).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TenantRequest {
    /// A unique name.
    pub name: String,
    /// Maxima.
    #[serde(flatten)]
    pub limits: crate::store::TenantLimits,
}

/// A tenant and its secrets, shown once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TenantCreated {
    /// The tenant's name.
    pub name: String,
    /// The API key (`Authorization: Bearer ...`); stored only as a hash, shown only now.
    pub api_key: String,
    /// The key of the callbacks' `X-Sandbox-Signature` (HMAC-SHA256).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

/// An error: `{"error": {"kind", "message", "field"?}}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable name: `bad_json`, `invalid_request`, `limit_above_maximum`, `not_found`,
    /// `unauthorized`, `rate_limited`, `queue_full`, `payload_too_large`, or an outcome of the
    /// sandbox's taxonomy (`invalid_module`, `unauthorized_import`, ...).
    pub kind: String,
    /// A sentence for people.
    pub message: String,
    /// The request field at fault, when there is one (`limits.fuel`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `compilation_error`: every error of the program, each with `file`, `line`,
    /// `column`, `end_line`, `end_column`, `message` and `help`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<Object>>)]
    pub diagnostics: Option<Vec<sandbox::SourceDiagnostic>>,
}

/// Base64 for byte fields of stored specs.
pub mod base64_bytes {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes bytes as base64.
    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    /// Reads base64.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(serde::de::Error::custom)
    }
}
