//! The judge: one solution, many test cases, a verdict each.

use crate::error::{c_string, sandbox_error_t, Error};
use crate::ffi::{self, tagged, Out};
use crate::options::sandbox_options_t;
use facade::judge::{parse_tests, Judge, JudgeReport, Mode, Verdict};
use facade::SandboxConfig;
use std::ffi::{c_char, CString};

/// A verdict on a test case, or on a whole submission.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum sandbox_verdict_t {
    /// The output matched.
    SANDBOX_VERDICT_ACCEPTED = 0,
    /// The run ended normally but the output differs.
    SANDBOX_VERDICT_WRONG_ANSWER = 1,
    /// The wall-clock limit or the fuel budget ran out.
    SANDBOX_VERDICT_TIME_LIMIT_EXCEEDED = 2,
    /// The memory (or table) limit was reached.
    SANDBOX_VERDICT_MEMORY_LIMIT_EXCEEDED = 3,
    /// The output cap was reached.
    SANDBOX_VERDICT_OUTPUT_LIMIT_EXCEEDED = 4,
    /// The solution trapped or exited with a non-zero code.
    SANDBOX_VERDICT_RUNTIME_ERROR = 5,
    /// The solution could not be loaded (invalid module, unauthorized import, no entry
    /// point).
    SANDBOX_VERDICT_COMPILATION_ERROR = 6,
}

impl sandbox_verdict_t {
    fn of(verdict: Verdict) -> Self {
        use sandbox_verdict_t::*;
        match verdict {
            Verdict::Accepted => SANDBOX_VERDICT_ACCEPTED,
            Verdict::WrongAnswer => SANDBOX_VERDICT_WRONG_ANSWER,
            Verdict::TimeLimitExceeded => SANDBOX_VERDICT_TIME_LIMIT_EXCEEDED,
            Verdict::MemoryLimitExceeded => SANDBOX_VERDICT_MEMORY_LIMIT_EXCEEDED,
            Verdict::OutputLimitExceeded => SANDBOX_VERDICT_OUTPUT_LIMIT_EXCEEDED,
            Verdict::RuntimeError => SANDBOX_VERDICT_RUNTIME_ERROR,
            Verdict::CompilationError => SANDBOX_VERDICT_COMPILATION_ERROR,
        }
    }
}

/// A judge's report: the overall verdict, counts, a verdict per test and the full report as
/// JSON. Released with `sandbox_judge_report_delete`.
pub struct sandbox_judge_report_t {
    report: JudgeReport,
    json: CString,
}
tagged!(sandbox_judge_report_t, "sandbox_judge_report_t");

/// Judges `solution` (`len` bytes: a wasm or WAT module) on the test cases of `tests_json`
/// (the design's test file: `{"tests": [{"id": 1, "input": "5 7\n", "expected_output":
/// "12\n", "time_limit_ms": 1000, "memory_limit_bytes": 67108864}]}`, or a bare array).
/// The solution is compiled once; each test runs in a fresh instance with the input as
/// stdin and its stdout compared with the expected output (trailing whitespace ignored), or,
/// with `function` not NULL, the export `function` called with the input's numbers as
/// arguments and its results compared. `options` (NULL: the default preset) give the limits
/// and the backend; fuel is metered only if they set `max_fuel`. `jobs` tests run in
/// parallel (0: one per core).
///
/// A solution that fails to load is a report (every test `SANDBOX_VERDICT_COMPILATION_ERROR`),
/// not an error; an error means the test file or the options are unusable.
///
/// # Safety
///
/// `options` must be NULL or options of this library; `solution` NULL or readable for `len`
/// bytes; `tests_json` and `function` NULL or NUL-terminated strings; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn sandbox_judge(
    options: *const sandbox_options_t,
    solution: *const u8,
    len: usize,
    tests_json: *const c_char,
    function: *const c_char,
    jobs: usize,
    out: *mut *mut sandbox_judge_report_t,
) -> *mut sandbox_error_t {
    ffi::guard(|| {
        let out = Out::new(out, "out")?;
        let (runtime, config, fuel) = if options.is_null() {
            (facade::default_runtime()?, SandboxConfig::default(), None)
        } else {
            // SAFETY: forwarded.
            let options = unsafe { ffi::get(options) }?;
            let fuel = options
                .explicit_fuel
                .then_some(options.config.max_fuel)
                .flatten();
            (options.runtime, options.config.clone(), fuel)
        };
        // SAFETY: forwarded.
        let solution = unsafe { ffi::slice(solution, len, "solution") }?;
        // SAFETY: forwarded.
        let tests = unsafe { ffi::string(tests_json, "tests_json") }?;
        let tests = parse_tests(tests.as_bytes())
            .map_err(|err| Error::invalid_argument(format!("tests_json: {err}")))?;
        // SAFETY: forwarded.
        let function = unsafe { ffi::optional_string(function, "function") }?;
        config.validate()?;
        let mut judge = Judge::on(runtime, config).jobs(jobs).fuel(fuel);
        if let Some(function) = function {
            judge = judge.mode(Mode::function(function));
        }
        let report = judge.evaluate(solution, &tests);
        let json = c_string(report.to_json().to_string());
        out.set(ffi::into_raw(sandbox_judge_report_t { report, json }));
        Ok(())
    })
}

/// The overall verdict: the first test's verdict that is not accepted (in test order), else
/// accepted. `SANDBOX_VERDICT_COMPILATION_ERROR` for a NULL or invalid report.
///
/// # Safety
///
/// `report` must be NULL or a judge report of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_judge_report_verdict(
    report: *const sandbox_judge_report_t,
) -> sandbox_verdict_t {
    // SAFETY: forwarded.
    unsafe { ffi::get(report) }.map_or(sandbox_verdict_t::SANDBOX_VERDICT_COMPILATION_ERROR, |r| {
        sandbox_verdict_t::of(r.report.verdict)
    })
}

/// Test cases accepted.
///
/// # Safety
///
/// `report` must be NULL or a judge report of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_judge_report_passed(
    report: *const sandbox_judge_report_t,
) -> usize {
    // SAFETY: forwarded.
    unsafe { ffi::get(report) }.map_or(0, |r| r.report.passed)
}

/// Test cases run.
///
/// # Safety
///
/// `report` must be NULL or a judge report of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_judge_report_total(
    report: *const sandbox_judge_report_t,
) -> usize {
    // SAFETY: forwarded.
    unsafe { ffi::get(report) }.map_or(0, |r| r.report.total)
}

/// The verdict on test case `index` (in the order of the test file);
/// `SANDBOX_VERDICT_COMPILATION_ERROR` when `index` is out of range.
///
/// # Safety
///
/// `report` must be NULL or a judge report of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_judge_report_test_verdict(
    report: *const sandbox_judge_report_t,
    index: usize,
) -> sandbox_verdict_t {
    // SAFETY: forwarded.
    unsafe { ffi::get(report) }
        .ok()
        .and_then(|r| r.report.results.get(index))
        .map_or(
            sandbox_verdict_t::SANDBOX_VERDICT_COMPILATION_ERROR,
            |result| sandbox_verdict_t::of(result.verdict),
        )
}

/// The whole report as the JSON object `sandbox judge --json` prints (verdict, passed,
/// total, compilation error, and per test: verdict, expected and actual output, time,
/// memory, fuel, detail), borrowed from the report; NULL for a NULL or invalid report.
///
/// # Safety
///
/// `report` must be NULL or a judge report of this library.
#[no_mangle]
pub unsafe extern "C" fn sandbox_judge_report_json(
    report: *const sandbox_judge_report_t,
) -> *const c_char {
    // SAFETY: forwarded.
    unsafe { ffi::get(report) }.map_or(std::ptr::null(), |r| r.json.as_ptr())
}

/// A `sandbox_verdict_t` as C passes it: read as an integer and checked.
pub type RawVerdict = u32;

/// The name of a verdict (`"wrong_answer"`; `"unknown"` outside the enum); static.
#[no_mangle]
pub extern "C" fn sandbox_verdict_name(verdict: RawVerdict) -> *const c_char {
    Verdict::ALL
        .get(verdict as usize)
        .map_or(c"unknown".as_ptr(), |verdict| match verdict {
            Verdict::Accepted => c"accepted".as_ptr(),
            Verdict::WrongAnswer => c"wrong_answer".as_ptr(),
            Verdict::TimeLimitExceeded => c"time_limit_exceeded".as_ptr(),
            Verdict::MemoryLimitExceeded => c"memory_limit_exceeded".as_ptr(),
            Verdict::OutputLimitExceeded => c"output_limit_exceeded".as_ptr(),
            Verdict::RuntimeError => c"runtime_error".as_ptr(),
            Verdict::CompilationError => c"compilation_error".as_ptr(),
        })
}

/// Releases a judge report. NULL is ignored.
///
/// # Safety
///
/// `report` must be NULL or a judge report of this library, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn sandbox_judge_report_delete(report: *mut sandbox_judge_report_t) {
    // SAFETY: forwarded.
    ffi::guard_or((), || unsafe { ffi::delete(report) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_constants_follow_the_judge_order() {
        for (index, verdict) in Verdict::ALL.iter().enumerate() {
            assert_eq!(sandbox_verdict_t::of(*verdict) as usize, index);
            let name = unsafe { std::ffi::CStr::from_ptr(sandbox_verdict_name(index as u32)) };
            assert_eq!(name.to_str().unwrap(), verdict.name());
        }
    }
}
