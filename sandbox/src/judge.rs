//! The online judge: one solution, many test cases, one verdict per test case.
//!
//! A [`Judge`] compiles the solution once, then runs every [`TestCase`] in a fresh instance
//! under that test's limits, on a few worker threads, and grades what the instance printed:
//!
//! - [`Mode::Wasi`] (the default): the input is the guest's stdin, `_start` runs, and the
//!   expected output is compared with its stdout;
//! - [`Mode::Function`]: the input is whitespace-separated arguments of an export, parsed by
//!   its signature, and the expected output is compared with the results it returns, printed
//!   on one line separated by spaces.
//!
//! Outputs are compared line by line ignoring trailing whitespace on each line and blank lines
//! at the end.
//!
//! **Time is the judge's limit.** Each test's `time_limit` (else the configuration's
//! `max_execution_time`) is measured on the wall clock ([`TimeMode::WallClock`], the default);
//! fuel is metered only when asked for ([`Judge::fuel`], or a test's `fuel`), so no hidden fuel
//! budget stops a solution that is within its time limit. [`TimeMode::Deterministic`] converts
//! each time limit to fuel at a calibrated rate ([`DeterministicTime::CALIBRATED`]) instead, so
//! a verdict is the same on every run and every machine, with the wall clock kept as a safety
//! net.
//!
//! The [`Verdict`] comes from the outcome of the run: a wall-clock or fuel limit is
//! [`Verdict::TimeLimitExceeded`], a memory or table limit [`Verdict::MemoryLimitExceeded`], the
//! output cap [`Verdict::OutputLimitExceeded`], a trap or a non-zero exit code
//! [`Verdict::RuntimeError`], and a module that cannot be loaded (invalid, an unauthorized
//! import, no entry point) [`Verdict::CompilationError`] for every test.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use sandbox::judge::{parse_tests, Judge, Mode, Verdict};
//! let solution = r#"(module (func (export "solve") (param i64 i64) (result i64)
//!                      local.get 0 local.get 1 i64.add))"#;
//! let tests = parse_tests(br#"[{"id": 1, "input": "5 7", "expected_output": "12\n"},
//!                              {"id": 2, "input": "1 1", "expected_output": "3\n"}]"#)?;
//! let report = Judge::new(sandbox::SandboxConfig::default())
//!     .mode(Mode::function("solve"))
//!     .evaluate(solution.as_bytes(), &tests);
//! assert_eq!(report.passed, 1);
//! assert_eq!(report.verdict, Verdict::WrongAnswer);
//! # Ok(()) }
//! ```

mod checker;

pub use checker::{Check, Checker, CHECK_DIR};

use crate::{
    BackendKind, CompiledModule, ExecutionResult, FuncSignature, InstanceAllocation, Outcome,
    Runtime, SandboxConfig, SandboxError, Trap, WasmValue,
};
use serde::de::{self, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest time limit a test may ask for (one week, as [`SandboxConfig::validate`] allows).
pub const MAX_TIME_LIMIT: Duration = Duration::from_secs(7 * 24 * 3600);

/// The most worker threads a judge starts, whatever [`Judge::jobs`] asks for.
pub const MAX_JOBS: usize = 256;

/// Bytes of each expected and actual output kept in a [`TestCaseResult`] unless
/// [`Judge::max_reported_output`] says otherwise.
pub const DEFAULT_MAX_REPORTED_OUTPUT: usize = 64 * 1024;

/// Bytes of each line kept in a [`LineDifference`].
const MAX_DIFFERENCE_LINE: usize = 1024;

/// How a judge measures each test's time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeMode {
    /// The time limit is wall-clock time (the default): fast to set up and what contestants
    /// expect, but a verdict near the limit can change with the machine and its load.
    #[default]
    WallClock,
    /// Deterministic time: each time limit is converted to a fuel budget at
    /// [`DeterministicTime::fuel_per_ms`], and running out of it is Time Limit Exceeded. Fuel
    /// does not depend on the machine or its load, so the verdict and `fuel_consumed` are
    /// the same on every run. The wall clock stays as a safety net at
    /// [`DeterministicTime::wall_clock_multiple`] times the limit.
    Deterministic(DeterministicTime),
}

impl TimeMode {
    /// [`TimeMode::Deterministic`] at the calibrated rate ([`DeterministicTime::CALIBRATED`]).
    pub fn deterministic() -> Self {
        TimeMode::Deterministic(DeterministicTime::CALIBRATED)
    }

    /// The conversion, under deterministic time.
    pub fn deterministic_time(&self) -> Option<DeterministicTime> {
        match self {
            TimeMode::WallClock => None,
            TimeMode::Deterministic(rate) => Some(*rate),
        }
    }
}

/// Fuel per millisecond of time limit under deterministic time: about what wasmtime (the
/// faster engine) consumes per millisecond on typical compiled C, so a deterministic time limit
/// is close to the wall-clock one there.
///
/// Calibrated with `cargo run --release -p sandbox-bench --bin fuel-rate` (metering on, time
/// limit on, median of 11 runs; x86-64, 2 cores, idle), in fuel per ms:
///
/// | workload | wasmtime | wasmer |
/// |---|---|---|
/// | kernel fib | 6.59 M | 2.60–3.40 M |
/// | kernel sieve | 7.05–8.14 M | 6.88–7.14 M |
/// | kernel matmul | 17.4 M | 8.64–8.98 M |
/// | kernel sort | 4.56–4.63 M | 3.39–3.51 M |
/// | kernel hash | 8.32–8.44 M | 8.09–8.25 M |
/// | judge heavy.wasm (WASI, 825 M fuel) | 8.07–8.16 M | 8.02–8.09 M |
///
/// The median on wasmtime is 8.1 M; the rate is that, rounded down. A workload that does more
/// per unit of fuel (matmul) gets less time than its wall clock would give it, one that does
/// less (sort) more. Pathological tight loops consume fuel slowest: `loop br` about 0.8 M per ms
/// on both engines.
pub const FUEL_PER_MS: u64 = 8_000_000;

/// The wall-clock safety net under deterministic time, as a multiple of the time limit.
///
/// The slowest calibrated workload on the slower engine (fib on wasmer, 2.6 M fuel per ms)
/// spends a limit's fuel in 3.1 times the limit, the tightest possible loop (`loop br`,
/// 0.8 M per ms) in 10 times: 20 leaves honest code at least twice that, so it runs out of
/// fuel, deterministically, before the wall clock stops it.
pub const WALL_CLOCK_MULTIPLE: u32 = 20;

/// The conversion of deterministic time: fuel per millisecond of time limit, and the
/// wall-clock safety net as a multiple of the limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DeterministicTime {
    /// Fuel a test gets per millisecond of its time limit.
    pub fuel_per_ms: u64,
    /// The wall-clock limit of a test, as a multiple of its time limit: a safety net for what
    /// fuel does not count (time spent in the host, a machine far slower than the
    /// calibration), set so that honest code on the slower engine runs out of fuel first.
    pub wall_clock_multiple: u32,
}

impl Default for DeterministicTime {
    fn default() -> Self {
        DeterministicTime::CALIBRATED
    }
}

impl DeterministicTime {
    /// The calibrated rate: [`FUEL_PER_MS`] and [`WALL_CLOCK_MULTIPLE`].
    pub const CALIBRATED: DeterministicTime = DeterministicTime {
        fuel_per_ms: FUEL_PER_MS,
        wall_clock_multiple: WALL_CLOCK_MULTIPLE,
    };

    /// The fuel budget of a time limit (rounded up, saturating).
    pub fn fuel_for(&self, limit: Duration) -> u64 {
        let fuel = limit
            .as_nanos()
            .saturating_mul(u128::from(self.fuel_per_ms))
            .div_ceil(1_000_000);
        u64::try_from(fuel).unwrap_or(u64::MAX)
    }

    /// The time a fuel amount stands for.
    pub fn time_for(&self, fuel: u64) -> Duration {
        let nanos =
            u128::from(fuel).saturating_mul(1_000_000) / u128::from(self.fuel_per_ms.max(1));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// The wall-clock safety net of a time limit (at most [`MAX_TIME_LIMIT`]).
    pub fn wall_clock_for(&self, limit: Duration) -> Duration {
        limit
            .saturating_mul(self.wall_clock_multiple.max(1))
            .min(MAX_TIME_LIMIT)
    }

    /// Turns `config`'s time limit into deterministic time: the fuel budget becomes the limit
    /// converted to fuel (or `explicit_fuel` when that is smaller), and the wall-clock limit
    /// the safety net. What `sandbox run --deterministic-time` does.
    pub fn apply(&self, config: &mut SandboxConfig, explicit_fuel: Option<u64>) {
        let limit = config.max_execution_time;
        let converted = self.fuel_for(limit);
        config.max_fuel = Some(explicit_fuel.map_or(converted, |fuel| fuel.min(converted)));
        config.max_execution_time = self.wall_clock_for(limit);
    }
}

/// A test case's identifier, as the test file gives it: a number or a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TestId {
    /// A numeric id (`"id": 3`).
    Number(i128),
    /// A textual id (`"id": "large-input"`).
    Name(String),
}

impl fmt::Display for TestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TestId::Number(number) => write!(f, "{number}"),
            TestId::Name(name) => f.write_str(name),
        }
    }
}

impl From<i64> for TestId {
    fn from(number: i64) -> Self {
        TestId::Number(number.into())
    }
}

impl From<u64> for TestId {
    fn from(number: u64) -> Self {
        TestId::Number(number.into())
    }
}

impl From<i32> for TestId {
    fn from(number: i32) -> Self {
        TestId::Number(number.into())
    }
}

impl From<usize> for TestId {
    fn from(number: usize) -> Self {
        TestId::Number(number as i128)
    }
}

impl From<&str> for TestId {
    fn from(name: &str) -> Self {
        TestId::Name(name.to_string())
    }
}

impl From<String> for TestId {
    fn from(name: String) -> Self {
        TestId::Name(name)
    }
}

impl Serialize for TestId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            TestId::Number(number) => match (i64::try_from(*number), u64::try_from(*number)) {
                (Ok(small), _) => serializer.serialize_i64(small),
                (_, Ok(large)) => serializer.serialize_u64(large),
                _ => serializer.serialize_str(&number.to_string()),
            },
            TestId::Name(name) => serializer.serialize_str(name),
        }
    }
}

impl<'de> Deserialize<'de> for TestId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl Visitor<'_> for IdVisitor {
            type Value = TestId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a test id (an integer or a string)")
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<TestId, E> {
                Ok(TestId::from(value))
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<TestId, E> {
                Ok(TestId::from(value))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<TestId, E> {
                Ok(TestId::from(value))
            }
            fn visit_string<E: de::Error>(self, value: String) -> Result<TestId, E> {
                Ok(TestId::Name(value))
            }
        }
        deserializer.deserialize_any(IdVisitor)
    }
}

/// One test case: what the solution is given, what it must print, and its own limits.
///
/// Serialised as in the test file: `{"id": 1, "input": "5 7\n", "expected_output": "12\n",
/// "time_limit_ms": 1000, "memory_limit_bytes": 67108864, "fuel": 1000000}`, the three limits
/// optional (a missing one is the judge's). Unknown fields are refused, so a misspelt limit is
/// an error rather than silently ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawTestCase", into = "RawTestCase")]
pub struct TestCase {
    /// The test's identifier, shown in reports.
    pub id: TestId,
    /// The guest's stdin ([`Mode::Wasi`]) or its arguments, separated by whitespace
    /// ([`Mode::Function`]).
    pub input: String,
    /// What the solution must print.
    pub expected_output: String,
    /// Wall-clock limit of the run (the judge's when `None`); at most [`MAX_TIME_LIMIT`].
    pub time_limit: Option<Duration>,
    /// Linear-memory limit in bytes (the judge's when `None`).
    pub memory_limit: Option<u64>,
    /// Fuel budget (the judge's when `None`).
    pub fuel: Option<u64>,
}

impl TestCase {
    /// A test case with the judge's limits.
    pub fn new(
        id: impl Into<TestId>,
        input: impl Into<String>,
        expected_output: impl Into<String>,
    ) -> Self {
        TestCase {
            id: id.into(),
            input: input.into(),
            expected_output: expected_output.into(),
            time_limit: None,
            memory_limit: None,
            fuel: None,
        }
    }

    /// Sets this test's wall-clock limit.
    pub fn with_time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = Some(limit);
        self
    }

    /// Sets this test's memory limit in bytes.
    pub fn with_memory_limit(mut self, bytes: u64) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Sets this test's fuel budget.
    pub fn with_fuel(mut self, fuel: u64) -> Self {
        self.fuel = Some(fuel);
        self
    }
}

/// The test file's spelling of a [`TestCase`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTestCase {
    id: TestId,
    input: String,
    expected_output: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_limit_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    memory_limit_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fuel: Option<u64>,
}

impl TryFrom<RawTestCase> for TestCase {
    type Error = String;

    fn try_from(raw: RawTestCase) -> Result<Self, Self::Error> {
        let time_limit = match raw.time_limit_ms {
            None => None,
            Some(0) => return Err(format!("test {}: time_limit_ms must be at least 1", raw.id)),
            Some(ms) if Duration::from_millis(ms) > MAX_TIME_LIMIT => {
                return Err(format!(
                    "test {}: time_limit_ms {ms} is above one week ({} ms)",
                    raw.id,
                    MAX_TIME_LIMIT.as_millis()
                ))
            }
            Some(ms) => Some(Duration::from_millis(ms)),
        };
        Ok(TestCase {
            id: raw.id,
            input: raw.input,
            expected_output: raw.expected_output,
            time_limit,
            memory_limit: raw.memory_limit_bytes,
            fuel: raw.fuel,
        })
    }
}

impl From<TestCase> for RawTestCase {
    fn from(test: TestCase) -> Self {
        RawTestCase {
            id: test.id,
            input: test.input,
            expected_output: test.expected_output,
            time_limit_ms: test
                .time_limit
                .map(|limit| limit.as_millis().min(u64::MAX as u128) as u64),
            memory_limit_bytes: test.memory_limit,
            fuel: test.fuel,
        }
    }
}

/// The object form of a test file; other top-level fields (a problem name, say) are ignored.
#[derive(Deserialize)]
struct TestFile {
    tests: Vec<TestCase>,
}

/// Why a test file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestFileError {
    /// Not valid JSON, or a test case with a missing, unknown or mistyped field (the message
    /// has serde's line and column).
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// Valid JSON, but neither an object with `tests` nor an array.
    #[error("expected an object {{\"tests\": [...]}} or an array of test cases, found {found}")]
    NotTests {
        /// What the file holds instead (`a string`, `a number`, ...).
        found: &'static str,
    },
    /// The file holds no test case.
    #[error("the file has no test cases")]
    Empty,
    /// Two test cases share an id.
    #[error("test id {id} is used twice (test cases #{first} and #{second})")]
    DuplicateId {
        /// The id.
        id: TestId,
        /// Position (1-based) of its first use.
        first: usize,
        /// Position (1-based) of its second use.
        second: usize,
    },
}

/// Parses a test file: `{"tests": [...]}` or a bare array of test cases.
///
/// Refuses invalid JSON, missing, unknown or mistyped fields, a time limit of 0 or above
/// [`MAX_TIME_LIMIT`], an empty list and duplicate ids, each with a message naming the problem.
pub fn parse_tests(json: &[u8]) -> Result<Vec<TestCase>, TestFileError> {
    let json = json.strip_prefix(b"\xef\xbb\xbf").unwrap_or(json);
    let tests = match json.iter().find(|byte| !byte.is_ascii_whitespace()) {
        Some(b'[') => serde_json::from_slice::<Vec<TestCase>>(json)?,
        Some(b'{') => serde_json::from_slice::<TestFile>(json)?.tests,
        _ => {
            let value: serde_json::Value = serde_json::from_slice(json)?;
            return Err(TestFileError::NotTests {
                found: match value {
                    serde_json::Value::Null => "null",
                    serde_json::Value::Bool(_) => "a boolean",
                    serde_json::Value::Number(_) => "a number",
                    serde_json::Value::String(_) => "a string",
                    serde_json::Value::Array(_) => "an array",
                    serde_json::Value::Object(_) => "an object",
                },
            });
        }
    };
    if tests.is_empty() {
        return Err(TestFileError::Empty);
    }
    let mut seen: HashMap<&TestId, usize> = HashMap::with_capacity(tests.len());
    for (position, test) in tests.iter().enumerate() {
        if let Some(first) = seen.insert(&test.id, position) {
            return Err(TestFileError::DuplicateId {
                id: test.id.clone(),
                first: first + 1,
                second: position + 1,
            });
        }
    }
    Ok(tests)
}

/// The verdict on one test case (and, for a report, on the whole submission).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The output matched.
    Accepted,
    /// The run ended normally but the output differs.
    WrongAnswer,
    /// The wall-clock limit or the fuel budget ran out.
    TimeLimitExceeded,
    /// The memory (or table) limit was reached.
    MemoryLimitExceeded,
    /// The output cap was reached.
    OutputLimitExceeded,
    /// The solution trapped or exited with a non-zero code.
    RuntimeError,
    /// The solution could not be loaded: invalid module, unauthorized import, no entry point.
    CompilationError,
}

impl Verdict {
    /// Every verdict.
    pub const ALL: [Verdict; 7] = [
        Verdict::Accepted,
        Verdict::WrongAnswer,
        Verdict::TimeLimitExceeded,
        Verdict::MemoryLimitExceeded,
        Verdict::OutputLimitExceeded,
        Verdict::RuntimeError,
        Verdict::CompilationError,
    ];

    /// The snake_case name used in JSON (`wrong_answer`).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Accepted => "accepted",
            Verdict::WrongAnswer => "wrong_answer",
            Verdict::TimeLimitExceeded => "time_limit_exceeded",
            Verdict::MemoryLimitExceeded => "memory_limit_exceeded",
            Verdict::OutputLimitExceeded => "output_limit_exceeded",
            Verdict::RuntimeError => "runtime_error",
            Verdict::CompilationError => "compilation_error",
        }
    }

    /// The name people read (`Wrong Answer`); also what `Display` prints.
    pub fn human_name(self) -> &'static str {
        match self {
            Verdict::Accepted => "Accepted",
            Verdict::WrongAnswer => "Wrong Answer",
            Verdict::TimeLimitExceeded => "Time Limit Exceeded",
            Verdict::MemoryLimitExceeded => "Memory Limit Exceeded",
            Verdict::OutputLimitExceeded => "Output Limit Exceeded",
            Verdict::RuntimeError => "Runtime Error",
            Verdict::CompilationError => "Compilation Error",
        }
    }

    /// Whether this is [`Verdict::Accepted`].
    pub fn is_accepted(self) -> bool {
        self == Verdict::Accepted
    }

    /// The verdict for a run that ended with `error`.
    pub fn for_error(error: &SandboxError) -> Verdict {
        match error {
            SandboxError::TimeLimitExceeded { .. } | SandboxError::FuelExhausted { .. } => {
                Verdict::TimeLimitExceeded
            }
            SandboxError::MemoryLimitExceeded { .. } | SandboxError::TableLimitExceeded { .. } => {
                Verdict::MemoryLimitExceeded
            }
            SandboxError::OutputLimitExceeded { .. } => Verdict::OutputLimitExceeded,
            // The judge never cancels its runs; a run a host cancelled did not finish, and no
            // limit of the test stopped it.
            SandboxError::Cancelled { .. } => Verdict::RuntimeError,
            SandboxError::InvalidModule { .. }
            | SandboxError::UnauthorizedImport { .. }
            | SandboxError::LinkError { .. }
            | SandboxError::FunctionNotFound { .. }
            | SandboxError::IncompatibleArtifact { .. }
            | SandboxError::CompilationError { .. }
            | SandboxError::Unsupported { .. } => Verdict::CompilationError,
            // Traps, arguments the solution's signature cannot take, anything else.
            _ => Verdict::RuntimeError,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.human_name())
    }
}

/// The first line where the output differs from the expected output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineDifference {
    /// The line number, from 1.
    pub line: usize,
    /// The expected line (trailing whitespace removed, at most 1 KiB), or `None` when the
    /// expected output has fewer lines.
    pub expected: Option<String>,
    /// The line printed (trailing whitespace removed, at most 1 KiB), or `None` when the
    /// output ended before it.
    pub got: Option<String>,
}

impl fmt::Display for LineDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |line: &Option<String>| match line {
            Some(text) => format!("{text:?}"),
            None => "end of output".to_string(),
        };
        write!(
            f,
            "line {}: expected {}, got {}",
            self.line,
            show(&self.expected),
            show(&self.got)
        )
    }
}

/// Why a test case got its verdict, when there is more to say than the verdict.
///
/// JSON: `{"kind": "difference", "line", "expected", "got"}` for a wrong answer,
/// `{"kind": "exit", "code"}` for a non-zero exit, and the error's own object (`{"kind":
/// "trap", "trap": "unreachable", "message"}`, `{"kind": "fuel_exhausted", ...}`) otherwise.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    /// Wrong answer: the first differing line.
    Difference(LineDifference),
    /// Runtime error: the guest exited with this non-zero code.
    Exit {
        /// The exit code.
        code: i32,
        /// The last line the guest wrote to stderr (at most 200 characters), if any: a
        /// runtime's own message, such as Mini's `runtime error: ... at line L`.
        message: Option<String>,
    },
    /// The run failed: a trap, a limit, or an error that kept it from starting.
    Failed(SandboxError),
    /// Wrong answer by the problem's [`Checker`]: its first line of output.
    /// JSON: `{"kind": "checker", "message"}`.
    Checker {
        /// What the checker printed first.
        message: String,
    },
    /// Runtime error of the problem's [`Checker`] (not of the solution): it trapped or hit a
    /// limit. JSON: `{"kind": "checker_failed", "error": {...}}`.
    CheckerFailed(SandboxError),
    /// Time Limit Exceeded under deterministic time: the fuel the test's time limit converts
    /// to ran out. JSON: the `fuel_exhausted` error object (`used`, `limit`) plus
    /// `time_limit_ms`, `fuel_per_ms` and `equivalent_time_ms` (the fuel used, as time).
    DeterministicTimeLimit {
        /// The [`SandboxError::FuelExhausted`] that ended the run.
        error: SandboxError,
        /// The test's time limit.
        time_limit: Duration,
        /// The conversion rate.
        fuel_per_ms: u64,
    },
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detail::Difference(difference) => difference.fmt(f),
            Detail::Exit {
                code,
                message: None,
            } => write!(f, "exit code {code}"),
            Detail::Exit {
                code,
                message: Some(message),
            } => write!(f, "exit code {code}: {message}"),
            Detail::Failed(error) => error.fmt(f),
            Detail::Checker { message } => write!(f, "the checker rejected the output: {message}"),
            Detail::CheckerFailed(error) => write!(f, "the checker failed: {error}"),
            Detail::DeterministicTimeLimit {
                error,
                time_limit,
                fuel_per_ms,
            } => write!(
                f,
                "time limit of {} ms exceeded under deterministic time ({error}; {fuel_per_ms} \
                 fuel per ms)",
                time_limit.as_millis()
            ),
        }
    }
}

/// The JSON of [`Detail::DeterministicTimeLimit`].
#[derive(Serialize)]
struct DeterministicTimeLimitJson {
    kind: &'static str,
    used: u64,
    limit: u64,
    time_limit_ms: f64,
    fuel_per_ms: u64,
    equivalent_time_ms: f64,
}

impl Serialize for Detail {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Detail::Difference(difference) => {
                let mut map = serializer.serialize_map(Some(4))?;
                map.serialize_entry("kind", "difference")?;
                map.serialize_entry("line", &difference.line)?;
                map.serialize_entry("expected", &difference.expected)?;
                map.serialize_entry("got", &difference.got)?;
                map.end()
            }
            Detail::Exit { code, message } => {
                let mut map = serializer.serialize_map(Some(3))?;
                map.serialize_entry("kind", "exit")?;
                map.serialize_entry("code", code)?;
                if let Some(message) = message {
                    map.serialize_entry("message", message)?;
                }
                map.end()
            }
            Detail::Failed(error) => error.serialize(serializer),
            Detail::Checker { message } => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("kind", "checker")?;
                map.serialize_entry("message", message)?;
                map.end()
            }
            Detail::CheckerFailed(error) => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("kind", "checker_failed")?;
                map.serialize_entry("error", error)?;
                map.end()
            }
            Detail::DeterministicTimeLimit {
                error,
                time_limit,
                fuel_per_ms,
            } => {
                let (used, limit) = match error {
                    SandboxError::FuelExhausted { used, limit } => (*used, *limit),
                    _ => (0, 0),
                };
                let rate = DeterministicTime {
                    fuel_per_ms: *fuel_per_ms,
                    wall_clock_multiple: 1,
                };
                DeterministicTimeLimitJson {
                    kind: error.kind(),
                    used,
                    limit,
                    time_limit_ms: time_limit.as_secs_f64() * 1000.0,
                    fuel_per_ms: *fuel_per_ms,
                    equivalent_time_ms: rate.time_for(used).as_secs_f64() * 1000.0,
                }
                .serialize(serializer)
            }
        }
    }
}

/// The result of one test case.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestCaseResult {
    /// The test's id.
    pub test_id: TestId,
    /// Whether the verdict is [`Verdict::Accepted`].
    pub passed: bool,
    /// The verdict.
    pub verdict: Verdict,
    /// The expected output (its first [`Judge::max_reported_output`] bytes).
    pub expected_output: String,
    /// What the solution printed (its first [`Judge::max_reported_output`] bytes; lossy
    /// UTF-8). In function mode, the results on one line.
    pub actual_output: String,
    /// Whether `actual_output` is not all the solution printed (cut at the output limit or at
    /// the report's cap).
    pub actual_output_truncated: bool,
    /// Wall-clock time of the run.
    #[serde(rename = "execution_time_ms", serialize_with = "millis")]
    pub execution_time: Duration,
    /// Largest linear-memory size of the run, in bytes.
    #[serde(rename = "memory_used_bytes")]
    pub memory_used: u64,
    /// Fuel consumed, when metering is on.
    pub fuel_consumed: Option<u64>,
    /// Under deterministic time, the time `fuel_consumed` stands for (what the verdict was
    /// decided on); `None` under wall-clock time.
    #[serde(rename = "equivalent_time_ms", serialize_with = "optional_millis")]
    pub equivalent_time: Option<Duration>,
    /// The first differing line, the trap, the exit code or the limit; `None` when accepted
    /// (and for a compilation error, reported once in [`JudgeReport::compilation_error`]).
    pub detail: Option<Detail>,
}

impl TestCaseResult {
    /// The trap kind, for a runtime error that was a trap.
    pub fn trap(&self) -> Option<Trap> {
        self.error().and_then(SandboxError::trap)
    }

    /// The exit code, for a runtime error that was a non-zero exit.
    pub fn exit_code(&self) -> Option<i32> {
        match &self.detail {
            Some(Detail::Exit { code, .. }) => Some(*code),
            _ => None,
        }
    }

    /// The first differing line, for a wrong answer.
    pub fn difference(&self) -> Option<&LineDifference> {
        match &self.detail {
            Some(Detail::Difference(difference)) => Some(difference),
            _ => None,
        }
    }

    /// The error that ended the run, if one did.
    pub fn error(&self) -> Option<&SandboxError> {
        match &self.detail {
            Some(Detail::Failed(error)) | Some(Detail::DeterministicTimeLimit { error, .. }) => {
                Some(error)
            }
            _ => None,
        }
    }
}

/// What the solution is judged by.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// A WASI command: the input is stdin, `_start` runs, stdout is the output.
    #[default]
    Wasi,
    /// The export of this name: the input is its arguments (whitespace-separated, parsed by
    /// its signature), the output its results printed on one line, separated by spaces.
    Function(String),
}

impl Mode {
    /// [`Mode::Function`] calling `name`.
    pub fn function(name: impl Into<String>) -> Self {
        Mode::Function(name.into())
    }

    /// The export the judge calls (`_start` for a WASI command).
    pub fn entry_point(&self) -> &str {
        match self {
            Mode::Wasi => "_start",
            Mode::Function(name) => name,
        }
    }
}

/// The verdicts on every test case of one solution on one engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgeReport {
    /// The engine that ran the solution.
    pub backend: BackendKind,
    /// How the solution was run.
    pub mode: Mode,
    /// How time limits were measured: `"wall_clock"`, or `{"deterministic": {"fuel_per_ms",
    /// "wall_clock_multiple"}}`.
    pub time_mode: TimeMode,
    /// The overall verdict: the first verdict that is not accepted, in test order, else
    /// accepted; [`Verdict::CompilationError`] when the solution could not be loaded.
    pub verdict: Verdict,
    /// Test cases accepted.
    pub passed: usize,
    /// Test cases run.
    pub total: usize,
    /// Why the solution could not be loaded, reported once (every test then has the verdict
    /// [`Verdict::CompilationError`]).
    pub compilation_error: Option<SandboxError>,
    /// Wall-clock time of the whole evaluation (compilation included).
    #[serde(rename = "elapsed_ms", serialize_with = "millis")]
    pub elapsed: Duration,
    /// One result per test case, in the order of the test cases.
    pub results: Vec<TestCaseResult>,
}

impl JudgeReport {
    /// Whether every test case was accepted (true for an empty, loadable test list).
    pub fn all_passed(&self) -> bool {
        self.verdict.is_accepted()
    }

    /// The result of the test case with this id.
    pub fn result(&self, id: &TestId) -> Option<&TestCaseResult> {
        self.results.iter().find(|result| &result.test_id == id)
    }

    /// The JSON object of the CLI's `--json` report.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

fn millis<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
}

fn optional_millis<S: Serializer>(
    duration: &Option<Duration>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match duration {
        Some(duration) => millis(duration, serializer),
        None => serializer.serialize_none(),
    }
}

/// The last non-empty line of `stderr`, cut to 200 characters.
fn last_line(stderr: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(stderr);
    let line = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|line| !line.is_empty())?;
    Some(line.chars().take(200).collect())
}

/// Fuel given to tests that set none when the judge meters no fuel of its own but some test
/// asks for a budget (metering is compiled in, so it is on for every test or none).
const UNMETERED_FUEL: u64 = u64::MAX / 4;

/// Judges solutions: compiles each once, runs every test case in a fresh instance.
///
/// ```no_run
/// # let (wasm, tests): (Vec<u8>, Vec<sandbox::judge::TestCase>) = (vec![], vec![]);
/// use sandbox::judge::{Judge, Mode};
/// use sandbox::{Runtime, SandboxConfig};
/// let report = Judge::new(SandboxConfig::default())      // the product brief's spelling
///     .runtime(Runtime::Wasmtime)
///     .mode(Mode::Wasi)
///     .jobs(4)
///     .evaluate(&wasm, &tests);
/// println!("{}/{} passed: {}", report.passed, report.total, report.verdict);
/// ```
#[derive(Debug, Clone)]
pub struct Judge {
    runtime: Runtime,
    config: SandboxConfig,
    mode: Mode,
    time_mode: TimeMode,
    jobs: usize,
    max_reported_output: usize,
    trust_artifacts: bool,
    /// Whether the pool is the judge's own choice ([`default_judge_pool`]) rather than the
    /// caller's: a default pool that cannot be reserved falls back to on-demand allocation.
    default_pool: bool,
    checker: Option<Checker>,
}

impl Default for Judge {
    fn default() -> Self {
        Judge::new(SandboxConfig::default())
    }
}

impl Judge {
    /// A judge on the default runtime ([`crate::default_runtime`]). `config` holds the limits
    /// of every test that sets none of its own (and everything else: imports, clock, stack,
    /// output cap), except fuel: `config.max_fuel` is not used. A judge's limit is time, and
    /// it meters fuel only when asked to, by [`Judge::fuel`] or a test's `fuel` (a default
    /// fuel budget would be a hidden second time limit: `SandboxConfig::default()`'s
    /// 10,000,000 fuel stops a loop of a few million iterations in about a millisecond).
    pub fn new(config: SandboxConfig) -> Self {
        let runtime = crate::default_runtime().unwrap_or(BackendKind::Wasmtime);
        Judge::on(runtime, config)
    }

    /// A judge on `runtime`. Asking for one that is not compiled in gives a report whose
    /// compilation error says so.
    pub fn on(runtime: Runtime, config: SandboxConfig) -> Self {
        // wasmtime instances come from a pool unless the configuration says otherwise (see
        // `default_judge_pool`); wasmer has no pooling allocator.
        let instance_allocation = match (runtime, config.instance_allocation) {
            (Runtime::Wasmtime, InstanceAllocation::OnDemand) => default_judge_pool(),
            (_, allocation) => allocation,
        };
        let default_pool = instance_allocation != config.instance_allocation;
        Judge {
            runtime,
            config: SandboxConfig {
                max_fuel: None,
                instance_allocation,
                ..config
            },
            mode: Mode::Wasi,
            time_mode: TimeMode::WallClock,
            jobs: 0,
            max_reported_output: DEFAULT_MAX_REPORTED_OUTPUT,
            trust_artifacts: false,
            default_pool,
            checker: None,
        }
    }

    /// Accepts ahead-of-time artifacts ([`Sandbox::compile_aot`](crate::Sandbox::compile_aot)) as solutions, loading them
    /// with [`Sandbox::load_aot`](crate::Sandbox::load_aot) instead of compiling. Off by default: any other solution
    /// bytes that look like an artifact are a compilation error.
    ///
    /// # Safety
    ///
    /// An artifact is native code. Its checks catch corruption and mismatched engines or
    /// configurations, not a crafted file, so turn this on only for solutions as trusted as the
    /// judge itself (never for contestants' submissions).
    pub unsafe fn trust_artifacts(mut self) -> Self {
        self.trust_artifacts = true;
        self
    }

    /// Decides outputs with `checker` instead of comparing them with the expected output
    /// (see [`Checker`]).
    pub fn checker(mut self, checker: Checker) -> Self {
        self.checker = Some(checker);
        self
    }

    /// Picks the engine (and, on wasmtime, the default pool when the configuration has
    /// none: see [`Judge::on`]).
    pub fn runtime(self, runtime: Runtime) -> Self {
        let Judge { config, .. } = &self;
        let allocation = match (runtime, config.instance_allocation) {
            (Runtime::Wasmtime, InstanceAllocation::OnDemand) => default_judge_pool(),
            (Runtime::Wasmer, _) => InstanceAllocation::OnDemand,
            (_, allocation) => allocation,
        };
        // The pool stays the judge's own choice (with its fallback to on-demand) when it was,
        // or when this switch is what chose it.
        let default_pool = allocation.is_pooling()
            && (self.default_pool || allocation != self.config.instance_allocation);
        let mut judge = Judge { runtime, ..self }.instance_allocation(allocation);
        judge.default_pool = default_pool;
        judge
    }

    /// How instances are allocated: on wasmtime a pool by default ([`default_judge_pool`]);
    /// [`InstanceAllocation::OnDemand`] maps each test's memory afresh.
    pub fn instance_allocation(mut self, allocation: InstanceAllocation) -> Self {
        self.config.instance_allocation = allocation;
        self.default_pool = false;
        self
    }

    /// Picks how the solution is run: [`Mode::Wasi`] (the default) or [`Mode::Function`].
    pub fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// The fuel budget of every test that sets none of its own (`None`, the default: no fuel
    /// budget, time is the limit). Under deterministic time a budget caps the fuel a time limit
    /// converts to.
    pub fn fuel(mut self, fuel: Option<u64>) -> Self {
        self.config.max_fuel = fuel;
        self
    }

    /// Picks how time limits are measured: [`TimeMode::WallClock`] (the default) or
    /// [`TimeMode::Deterministic`].
    pub fn time_mode(mut self, time_mode: TimeMode) -> Self {
        self.time_mode = time_mode;
        self
    }

    /// Deterministic time at the calibrated rate: `.time_mode(TimeMode::deterministic())`.
    pub fn deterministic_time(self) -> Self {
        self.time_mode(TimeMode::deterministic())
    }

    /// How time limits are measured.
    pub fn current_time_mode(&self) -> TimeMode {
        self.time_mode
    }

    /// Runs test cases on `jobs` threads (0, the default, is
    /// [`std::thread::available_parallelism`]; at most [`MAX_JOBS`]).
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs;
        self
    }

    /// Keeps at most `bytes` of each expected and actual output in the results (default
    /// [`DEFAULT_MAX_REPORTED_OUTPUT`]); grading always sees the whole output.
    pub fn max_reported_output(mut self, bytes: usize) -> Self {
        self.max_reported_output = bytes;
        self
    }

    /// The default limits and policy (`max_fuel` is the judge's own fuel budget,
    /// [`Judge::fuel`]).
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The engine the judge runs on.
    pub fn backend(&self) -> Runtime {
        self.runtime
    }

    /// How the solution is run.
    pub fn current_mode(&self) -> &Mode {
        &self.mode
    }

    /// The number of worker threads a run of `tests` test cases uses. Under
    /// [`InstanceAllocation::Pooling`] it is at most the pool's size: a worker holds one
    /// instance at a time, so the pool is never exhausted by the judge itself.
    pub fn worker_count(&self, tests: usize) -> usize {
        let jobs = if self.jobs == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.jobs
        };
        let pool = match self.config.instance_allocation {
            InstanceAllocation::Pooling { max_instances } => {
                usize::try_from(max_instances).unwrap_or(usize::MAX)
            }
            InstanceAllocation::OnDemand => usize::MAX,
        };
        jobs.clamp(1, MAX_JOBS).min(pool).min(tests.max(1))
    }

    /// Judges `wasm` (binary or text) on `tests`: compiles it once, runs every test case in a
    /// fresh instance, and returns the results in test order.
    pub fn evaluate(&self, wasm: &[u8], tests: &[TestCase]) -> JudgeReport {
        self.evaluate_with_progress(wasm, tests, |_| {})
    }

    /// [`Judge::evaluate`], calling `progress` (from the worker threads) as each test case
    /// finishes.
    pub fn evaluate_with_progress(
        &self,
        wasm: &[u8],
        tests: &[TestCase],
        progress: impl Fn(&TestCaseResult) + Sync,
    ) -> JudgeReport {
        let started = Instant::now();
        let config = self.metered_config(tests.iter().any(|test| test.fuel.is_some()));
        // Pool slots are sized when the module's engine is created: big enough for the
        // largest memory limit of any test.
        let mut compile_config = config.clone();
        if config.instance_allocation.is_pooling() {
            compile_config.max_memory_bytes = tests
                .iter()
                .filter_map(|test| test.memory_limit)
                .fold(config.max_memory_bytes, u64::max);
        }
        match self.compile_with(&compile_config, wasm) {
            Ok(module) => self.run_tests(&*module, &config, tests, &progress, started),
            Err(error) => self.rejected(error, tests, started),
        }
    }

    /// Compiles `wasm` (binary or text) under the judge's configuration and checks that it
    /// has the entry point of the mode, as [`Judge::evaluate`] does before running tests.
    pub fn compile(&self, wasm: &[u8]) -> Result<Arc<dyn CompiledModule>, SandboxError> {
        self.compile_with(&self.metered_config(false), wasm)
    }

    /// Judges a solution compiled by [`Judge::compile`] (or by any sandbox whose fuel metering
    /// is switched the same way as the judge's). A test's `fuel` applies only when the judge
    /// meters fuel (a fuel budget of its own, or deterministic time).
    pub fn evaluate_compiled(
        &self,
        module: &dyn CompiledModule,
        tests: &[TestCase],
    ) -> JudgeReport {
        let started = Instant::now();
        match self.check_entry_point(module) {
            Ok(()) => self.run_tests(module, &self.metered_config(false), tests, &|_| {}, started),
            Err(error) => self.rejected(error, tests, started),
        }
    }

    /// The report of a solution that could not be loaded (a file too large to read, say):
    /// every test case gets [`Verdict::CompilationError`], and `error` is reported once.
    pub fn report_rejected(&self, error: SandboxError, tests: &[TestCase]) -> JudgeReport {
        self.rejected(error, tests, Instant::now())
    }

    /// The judge's configuration with fuel metering switched as the tests need it: on when the
    /// judge has a fuel budget, under deterministic time, or when `a_test_asks` for fuel. The
    /// budget of a test without one is then the judge's, else effectively unlimited (the time
    /// limit, or its conversion, decides).
    fn metered_config(&self, a_test_asks: bool) -> SandboxConfig {
        let mut config = self.config.clone();
        let metered = a_test_asks || self.time_mode.deterministic_time().is_some();
        if config.max_fuel.is_none() && metered {
            config.max_fuel = Some(UNMETERED_FUEL);
        }
        config
    }

    fn rejected(&self, error: SandboxError, tests: &[TestCase], started: Instant) -> JudgeReport {
        let results = tests
            .iter()
            .map(|test| TestCaseResult {
                test_id: test.id.clone(),
                passed: false,
                verdict: Verdict::CompilationError,
                expected_output: cut(&test.expected_output, self.max_reported_output).0,
                actual_output: String::new(),
                actual_output_truncated: false,
                execution_time: Duration::ZERO,
                memory_used: 0,
                fuel_consumed: None,
                equivalent_time: None,
                detail: None,
            })
            .collect();
        JudgeReport {
            backend: self.runtime,
            mode: self.mode.clone(),
            time_mode: self.time_mode,
            verdict: Verdict::CompilationError,
            passed: 0,
            total: tests.len(),
            compilation_error: Some(error),
            elapsed: started.elapsed(),
            results,
        }
    }

    fn compile_with(
        &self,
        config: &SandboxConfig,
        wasm: &[u8],
    ) -> Result<Arc<dyn CompiledModule>, SandboxError> {
        let artifact = self.trust_artifacts && crate::cache::is_artifact(wasm);
        let on_demand = || SandboxConfig {
            instance_allocation: InstanceAllocation::OnDemand,
            ..config.clone()
        };
        let sandbox = match crate::sandbox(self.runtime, config.clone()) {
            // An artifact is compiled for an allocation (`sandbox compile` makes on-demand
            // ones): the judge's own pool must not refuse it.
            Ok(_) if artifact && self.default_pool => crate::sandbox(self.runtime, on_demand())?,
            // The judge's own pool could not be reserved (a process with little address
            // space, say): judge with instances mapped on demand instead.
            Err(SandboxError::Unsupported { .. }) if self.default_pool => {
                crate::sandbox(self.runtime, on_demand())?
            }
            other => other?,
        };
        let module = if artifact {
            // SAFETY: the caller of `trust_artifacts` vouched for the solution's origin.
            unsafe { sandbox.load_aot(wasm)? }
        } else {
            sandbox.load(wasm)?
        };
        self.check_entry_point(&*module)?;
        Ok(module)
    }

    /// The solution must export what the mode calls, with a signature the sandbox can call.
    fn check_entry_point(&self, module: &dyn CompiledModule) -> Result<(), SandboxError> {
        let name = self.mode.entry_point();
        let signature = module.info().function(name).map_err(|err| match err {
            SandboxError::FunctionNotFound { available, .. } if self.mode == Mode::Wasi => {
                SandboxError::FunctionNotFound {
                    name: "_start (the solution is not a WASI command: judge an export with \
                           Mode::Function / --invoke)"
                        .into(),
                    available,
                }
            }
            other => other,
        })?;
        signature.check_boundary(name)?;
        if self.mode == Mode::Wasi && !signature.params.is_empty() {
            return Err(SandboxError::TypeMismatch {
                function: name.to_string(),
                expected: "() -> ()".into(),
                given: signature.to_string(),
            });
        }
        Ok(())
    }

    /// Runs every test case on the worker threads and assembles the report.
    fn run_tests(
        &self,
        module: &dyn CompiledModule,
        config: &SandboxConfig,
        tests: &[TestCase],
        progress: &(dyn Fn(&TestCaseResult) + Sync),
        started: Instant,
    ) -> JudgeReport {
        let signature = module
            .info()
            .function(self.mode.entry_point())
            .ok()
            .cloned();
        let run_one = |test: &TestCase| self.run_test(module, config, signature.as_ref(), test);
        let results = self.in_parallel(tests, config, &run_one, progress);
        let passed = results.iter().filter(|result| result.passed).count();
        let verdict = results
            .iter()
            .map(|result| result.verdict)
            .find(|verdict| !verdict.is_accepted())
            .unwrap_or(Verdict::Accepted);
        JudgeReport {
            backend: module.kind(),
            mode: self.mode.clone(),
            time_mode: self.time_mode,
            verdict,
            passed,
            total: tests.len(),
            compilation_error: None,
            elapsed: started.elapsed(),
            results,
        }
    }

    /// Runs `run_one` over `tests` on the judge's worker threads, which take the next test
    /// from a shared index, so a slow test holds up only its own thread. Results come back in
    /// test order.
    fn in_parallel(
        &self,
        tests: &[TestCase],
        config: &SandboxConfig,
        run_one: &(dyn Fn(&TestCase) -> TestCaseResult + Sync),
        progress: &(dyn Fn(&TestCaseResult) + Sync),
    ) -> Vec<TestCaseResult> {
        let next = AtomicUsize::new(0);
        let worker = || {
            let mut done = Vec::new();
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(test) = tests.get(index) else {
                    break;
                };
                // A bug in an engine must not take the other tests down with it.
                let result = catch_unwind(AssertUnwindSafe(|| run_one(test)))
                    .unwrap_or_else(|panic| internal_failure(test, &panic_message(&*panic)));
                progress(&result);
                done.push((index, result));
            }
            done
        };
        let mut slots: Vec<Option<TestCaseResult>> = (0..tests.len()).map(|_| None).collect();
        let mut place = |done: Vec<(usize, TestCaseResult)>| {
            for (index, result) in done {
                slots[index] = Some(result);
            }
        };
        // wasm runs on the worker's own stack: give it the configured wasm stack and room for
        // the host frames below it.
        let stack = usize::try_from(config.max_stack_size)
            .unwrap_or(usize::MAX)
            .saturating_add(4 << 20);
        std::thread::scope(|scope| {
            let worker = &worker;
            let handles: Vec<_> = (0..self.worker_count(tests.len()))
                .filter_map(|_| {
                    std::thread::Builder::new()
                        .name("sandbox-judge".into())
                        .stack_size(stack)
                        .spawn_scoped(scope, worker)
                        .ok()
                })
                .collect();
            if handles.is_empty() {
                // No thread could be started: judge on this one rather than not at all.
                place(worker());
            }
            for handle in handles {
                if let Ok(done) = handle.join() {
                    place(done);
                }
            }
        });
        slots
            .into_iter()
            .zip(tests)
            .map(|(slot, test)| {
                slot.unwrap_or_else(|| internal_failure(test, "its worker thread stopped"))
            })
            .collect()
    }

    /// The configuration of one test: the judge's (`base`, metering switched by
    /// [`Judge::metered_config`]), with the test's input and limits. Under deterministic time
    /// the time limit becomes fuel (capped by the test's or the judge's own fuel budget) and
    /// the wall-clock limit its safety net.
    fn test_config(&self, base: &SandboxConfig, test: &TestCase) -> SandboxConfig {
        let mut config = base.clone();
        if self.mode == Mode::Wasi {
            config.stdin = test.input.as_bytes().to_vec();
        }
        if let Some(limit) = test.time_limit {
            config.max_execution_time = limit.min(MAX_TIME_LIMIT);
        }
        if let Some(bytes) = test.memory_limit {
            config.max_memory_bytes = bytes;
        }
        // Metering is compiled in: a test can change the budget, not switch it on or off.
        if config.max_fuel.is_some() {
            let explicit = test.fuel.or(self.config.max_fuel);
            match self.time_mode {
                TimeMode::WallClock => config.max_fuel = explicit.or(config.max_fuel),
                TimeMode::Deterministic(rate) => rate.apply(&mut config, explicit),
            }
        }
        config
    }

    /// Runs one test case in a fresh instance and grades it.
    fn run_test(
        &self,
        module: &dyn CompiledModule,
        base: &SandboxConfig,
        signature: Option<&FuncSignature>,
        test: &TestCase,
    ) -> TestCaseResult {
        let config = self.test_config(base, test);
        let entry = self.mode.entry_point();
        let args = match (&self.mode, signature) {
            (Mode::Wasi, _) => Ok(Vec::new()),
            (Mode::Function(name), Some(signature)) => {
                let tokens: Vec<&str> = test.input.split_whitespace().collect();
                signature.parse_args(name, &tokens)
            }
            (Mode::Function(name), None) => module.info().function(name).map(|_| Vec::new()),
        };
        let execution = match args {
            Ok(args) => run(module, &config, entry, &args),
            Err(error) => ExecutionResult::new(module.kind(), Outcome::Failed(error)),
        };
        let time_limit = test
            .time_limit
            .unwrap_or(base.max_execution_time)
            .min(MAX_TIME_LIMIT);
        self.grade(test, time_limit, execution)
    }

    /// Turns a run into a verdict; `time_limit` is the test's.
    fn grade(
        &self,
        test: &TestCase,
        time_limit: Duration,
        execution: ExecutionResult,
    ) -> TestCaseResult {
        let ExecutionResult {
            outcome,
            return_values,
            execution_time,
            fuel_consumed,
            peak_memory,
            stdout,
            stdout_truncated,
            stderr,
            ..
        } = execution;
        let output = match &self.mode {
            Mode::Wasi => stdout,
            Mode::Function(_) => printed(&return_values),
        };
        let (verdict, detail) = match outcome {
            Outcome::Ok | Outcome::Exit { code: 0 } if stdout_truncated => (
                Verdict::OutputLimitExceeded,
                Some(Detail::Failed(SandboxError::OutputLimitExceeded {
                    stream: "stdout".into(),
                    limit: self.config.max_output_bytes,
                })),
            ),
            Outcome::Ok | Outcome::Exit { code: 0 } if self.checker.is_some() => {
                let checker = self.checker.as_ref().expect("checked above");
                match checker.check(
                    test.input.as_bytes(),
                    &output,
                    test.expected_output.as_bytes(),
                ) {
                    Check::Accepted => (Verdict::Accepted, None),
                    Check::Rejected { message } => {
                        (Verdict::WrongAnswer, Some(Detail::Checker { message }))
                    }
                    Check::Failed(error) => {
                        (Verdict::RuntimeError, Some(Detail::CheckerFailed(error)))
                    }
                }
            }
            Outcome::Ok | Outcome::Exit { code: 0 } => {
                match first_difference(test.expected_output.as_bytes(), &output) {
                    None => (Verdict::Accepted, None),
                    Some(difference) => {
                        (Verdict::WrongAnswer, Some(Detail::Difference(difference)))
                    }
                }
            }
            Outcome::Exit { code } => (
                Verdict::RuntimeError,
                Some(Detail::Exit {
                    code,
                    message: last_line(&stderr),
                }),
            ),
            Outcome::Failed(error) => (
                Verdict::for_error(&error),
                Some(self.why(error, time_limit)),
            ),
        };
        let equivalent_time = self
            .time_mode
            .deterministic_time()
            .zip(fuel_consumed)
            .map(|(rate, fuel)| rate.time_for(fuel));
        let (actual_output, cut_here) = cut_bytes(output, self.max_reported_output);
        TestCaseResult {
            test_id: test.id.clone(),
            passed: verdict.is_accepted(),
            verdict,
            expected_output: cut(&test.expected_output, self.max_reported_output).0,
            actual_output,
            actual_output_truncated: cut_here || stdout_truncated,
            execution_time,
            memory_used: peak_memory,
            fuel_consumed,
            equivalent_time,
            detail,
        }
    }

    /// The detail of a failed run: under deterministic time, running out of the fuel the time
    /// limit converts to is the time limit (a smaller fuel budget of the test's or the judge's
    /// running out stays a fuel limit).
    fn why(&self, error: SandboxError, time_limit: Duration) -> Detail {
        match (self.time_mode, &error) {
            (TimeMode::Deterministic(rate), SandboxError::FuelExhausted { limit, .. })
                if *limit == rate.fuel_for(time_limit) =>
            {
                Detail::DeterministicTimeLimit {
                    error,
                    time_limit,
                    fuel_per_ms: rate.fuel_per_ms,
                }
            }
            _ => Detail::Failed(error),
        }
    }
}

/// Instantiates `module` under `config` and calls `entry`; every failure is a report.
fn run(
    module: &dyn CompiledModule,
    config: &SandboxConfig,
    entry: &str,
    args: &[WasmValue],
) -> ExecutionResult {
    let mut instance = match instantiate_waiting(module, config) {
        Ok(instance) => instance,
        Err(report) => return *report,
    };
    match instance.call(entry, args) {
        Ok(result) => result,
        Err(error) => ExecutionResult::new(module.kind(), Outcome::Failed(error)),
    }
}

/// How long a test waits for a pool slot that other judges of the same engine hold (a
/// judge's own workers never exhaust its pool), before the run fails with `pool_exhausted`.
const POOL_WAIT: Duration = Duration::from_secs(30);

/// Instantiates `module`, waiting for a free slot while its pool is exhausted: several
/// evaluations sharing one pooled engine (judges of the same configuration, on several
/// threads) take turns instead of failing.
fn instantiate_waiting(
    module: &dyn CompiledModule,
    config: &SandboxConfig,
) -> Result<Box<dyn crate::Instance>, Box<ExecutionResult>> {
    let started = Instant::now();
    let mut pause = Duration::from_micros(50);
    loop {
        match module.instantiate(config) {
            Err(report)
                if matches!(
                    report.outcome,
                    Outcome::Failed(SandboxError::PoolExhausted { .. })
                ) && started.elapsed() < POOL_WAIT =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(5));
            }
            other => return other,
        }
    }
}

/// The pool a judge on wasmtime gets unless its configuration asks for one (or for
/// [`Judge::instance_allocation`]): a slot per worker of the machine, twice over, at least 8.
/// Judging is many short-lived instances, and a pool reuses their memory instead of mapping
/// and unmapping it per test, which also serialised parallel workers on the kernel's memory
/// map lock and their TLB shootdowns.
pub fn default_judge_pool() -> InstanceAllocation {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let slots = u32::try_from(cores.saturating_mul(2)).unwrap_or(u32::MAX);
    InstanceAllocation::pooling(slots.clamp(8, 1024))
}

/// Function results as the judge prints them: one line, separated by spaces.
fn printed(values: &[WasmValue]) -> Vec<u8> {
    if values.is_empty() {
        return Vec::new();
    }
    let mut line = values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    line.push('\n');
    line.into_bytes()
}

/// Lines as the judge compares them: trailing whitespace removed from each, blank lines at
/// the end dropped.
fn normalized_lines(text: &[u8]) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = text
        .split(|&byte| byte == b'\n')
        .map(<[u8]>::trim_ascii_end)
        .collect();
    while lines.last().is_some_and(|line| line.is_empty()) {
        lines.pop();
    }
    lines
}

/// The first line where `actual` differs from `expected`, ignoring trailing whitespace on each
/// line and blank lines at the end; `None` when they match.
pub fn first_difference(expected: &[u8], actual: &[u8]) -> Option<LineDifference> {
    let expected = normalized_lines(expected);
    let actual = normalized_lines(actual);
    let show =
        |line: Option<&&[u8]>| line.map(|bytes| cut_bytes(bytes.to_vec(), MAX_DIFFERENCE_LINE).0);
    (0..expected.len().max(actual.len()))
        .find(|&index| expected.get(index) != actual.get(index))
        .map(|index| LineDifference {
            line: index + 1,
            expected: show(expected.get(index)),
            got: show(actual.get(index)),
        })
}

/// The first `limit` bytes of `text` (at a character boundary) and whether any were cut.
fn cut(text: &str, limit: usize) -> (String, bool) {
    if text.len() <= limit {
        return (text.to_string(), false);
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (text[..end].to_string(), true)
}

/// The first `limit` bytes of `bytes` as text (lossy UTF-8) and whether any were cut.
fn cut_bytes(mut bytes: Vec<u8>, limit: usize) -> (String, bool) {
    let cut_here = bytes.len() > limit;
    bytes.truncate(limit);
    let text = match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
    };
    (text, cut_here)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|message| message.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into())
}

/// The result of a test the judge itself failed on (a bug, never the solution's doing).
fn internal_failure(test: &TestCase, why: &str) -> TestCaseResult {
    let error = SandboxError::RuntimeError {
        trap: Trap::Other,
        message: format!("the judge failed on this test: {why}"),
    };
    TestCaseResult {
        test_id: test.id.clone(),
        passed: false,
        verdict: Verdict::RuntimeError,
        expected_output: String::new(),
        actual_output: String::new(),
        actual_output_truncated: false,
        execution_time: Duration::ZERO,
        memory_used: 0,
        fuel_consumed: None,
        equivalent_time: None,
        detail: Some(Detail::Failed(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparison_ignores_trailing_whitespace_and_blank_lines() {
        assert_eq!(first_difference(b"12\n", b"12"), None);
        assert_eq!(first_difference(b"12\n", b"12   \r\n\n\n"), None);
        assert_eq!(first_difference(b"a b\nc\n", b"a b \t\nc"), None);
        assert_eq!(first_difference(b"", b"\n \n"), None);
        let difference = first_difference(b"1\n2\n3\n", b"1\n2\n4\n").unwrap();
        assert_eq!(difference.to_string(), r#"line 3: expected "3", got "4""#);
        // Leading and inner whitespace count.
        assert!(first_difference(b"1 2", b"1  2").is_some());
        assert!(first_difference(b"12", b" 12").is_some());
        // A blank line in the middle counts.
        assert_eq!(first_difference(b"a\n\nb", b"a\nb").unwrap().line, 2);
        let missing = first_difference(b"1\n2\n", b"1\n").unwrap();
        assert_eq!((missing.line, missing.got), (2, None));
        let extra = first_difference(b"1\n", b"1\n2\n").unwrap();
        assert_eq!((extra.expected, extra.got), (None, Some("2".to_string())));
    }

    #[test]
    fn differences_keep_at_most_a_kibibyte_per_line() {
        let long = vec![b'x'; 10_000];
        let difference = first_difference(b"y", &long).unwrap();
        assert_eq!(difference.got.unwrap().len(), MAX_DIFFERENCE_LINE);
    }

    #[test]
    fn cutting_respects_character_boundaries() {
        assert_eq!(cut("héllo", 2), ("h".to_string(), true));
        assert_eq!(cut("hi", 2), ("hi".to_string(), false));
        assert_eq!(cut_bytes(vec![0xff, b'a'], 10).0, "\u{fffd}a");
    }

    #[test]
    fn deterministic_time_converts_limits_both_ways() {
        let rate = DeterministicTime {
            fuel_per_ms: 1_000,
            wall_clock_multiple: 4,
        };
        assert_eq!(rate.fuel_for(Duration::from_millis(250)), 250_000);
        assert_eq!(rate.fuel_for(Duration::from_nanos(1)), 1, "rounded up");
        assert_eq!(rate.fuel_for(MAX_TIME_LIMIT), 604_800_000_000);
        assert_eq!(rate.time_for(250_000), Duration::from_millis(250));
        assert_eq!(
            rate.wall_clock_for(Duration::from_millis(250)),
            Duration::from_secs(1)
        );
        assert_eq!(rate.wall_clock_for(MAX_TIME_LIMIT), MAX_TIME_LIMIT);
        let huge = DeterministicTime {
            fuel_per_ms: u64::MAX,
            wall_clock_multiple: 1,
        };
        assert_eq!(huge.fuel_for(MAX_TIME_LIMIT), u64::MAX, "saturates");

        let mut config = SandboxConfig {
            max_execution_time: Duration::from_millis(100),
            ..SandboxConfig::default()
        };
        rate.apply(&mut config, None);
        assert_eq!(config.max_fuel, Some(100_000));
        assert_eq!(config.max_execution_time, Duration::from_millis(400));
        let mut config = SandboxConfig {
            max_execution_time: Duration::from_millis(100),
            ..SandboxConfig::default()
        };
        rate.apply(&mut config, Some(5));
        assert_eq!(config.max_fuel, Some(5), "a smaller budget caps it");
        assert_eq!(DeterministicTime::default(), DeterministicTime::CALIBRATED);
        assert_eq!(
            serde_json::to_value(TimeMode::WallClock).unwrap(),
            "wall_clock"
        );
    }

    #[test]
    fn a_judge_meters_fuel_only_when_asked() {
        let judge = Judge::new(SandboxConfig::default());
        assert_eq!(judge.config().max_fuel, None);
        assert_eq!(judge.metered_config(false).max_fuel, None);
        assert_eq!(judge.metered_config(true).max_fuel, Some(UNMETERED_FUEL));
        let judge = judge.fuel(Some(7));
        assert_eq!(judge.metered_config(true).max_fuel, Some(7));
        let deterministic = Judge::new(SandboxConfig::default()).deterministic_time();
        assert_eq!(
            deterministic.metered_config(false).max_fuel,
            Some(UNMETERED_FUEL)
        );
        let test = TestCase::new(1, "", "").with_time_limit(Duration::from_millis(3));
        let config = deterministic.test_config(&deterministic.metered_config(false), &test);
        assert_eq!(
            config.max_fuel,
            Some(DeterministicTime::CALIBRATED.fuel_for(Duration::from_millis(3)))
        );
        assert_eq!(
            config.max_execution_time,
            Duration::from_millis(3) * WALL_CLOCK_MULTIPLE
        );
    }

    #[test]
    fn verdict_names() {
        let names: Vec<&str> = Verdict::ALL.iter().map(|v| v.name()).collect();
        for (verdict, name) in Verdict::ALL.iter().zip(&names) {
            assert_eq!(serde_json::to_value(verdict).unwrap(), *name);
        }
        assert_eq!(Verdict::WrongAnswer.to_string(), "Wrong Answer");
        assert_eq!(
            Verdict::for_error(&SandboxError::FuelExhausted { used: 1, limit: 1 }),
            Verdict::TimeLimitExceeded
        );
        assert_eq!(
            Verdict::for_error(&SandboxError::TableLimitExceeded { used: 1, limit: 1 }),
            Verdict::MemoryLimitExceeded
        );
    }

    #[test]
    fn function_results_print_on_one_line() {
        assert_eq!(printed(&[WasmValue::I64(12)]), b"12\n");
        assert_eq!(
            printed(&[WasmValue::I32(1), WasmValue::F64(0.5)]),
            b"1 0.5\n"
        );
        assert_eq!(printed(&[]), b"");
    }

    #[test]
    fn test_ids_round_trip() {
        for (json, id) in [
            ("3", TestId::from(3)),
            ("-3", TestId::from(-3)),
            ("18446744073709551615", TestId::from(u64::MAX)),
            ("\"big\"", TestId::from("big")),
        ] {
            assert_eq!(serde_json::from_str::<TestId>(json).unwrap(), id);
            assert_eq!(serde_json::to_string(&id).unwrap(), json);
        }
        let err = serde_json::from_str::<TestId>("1.5").unwrap_err();
        assert!(err.to_string().contains("a test id"), "{err}");
    }

    #[test]
    fn a_test_case_round_trips_through_the_file_format() {
        let test = TestCase::new(7, "1 2\n", "3\n")
            .with_time_limit(Duration::from_millis(250))
            .with_memory_limit(1 << 20)
            .with_fuel(99);
        let json = serde_json::to_value(&test).unwrap();
        assert_eq!(json["time_limit_ms"], 250);
        assert_eq!(json["memory_limit_bytes"], 1 << 20);
        assert_eq!(serde_json::from_value::<TestCase>(json).unwrap(), test);
    }
}
