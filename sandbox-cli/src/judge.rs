//! `sandbox judge`: a verdict per test case for one solution, on one engine or every engine.
//!
//! Output: a line per test (`Test 3: Wrong Answer`, time, peak memory, and why: the first
//! differing line, the trap, the exit code, the limit), then `Result: 3/5 tests passed` and
//! `Verdict: Wrong Answer`; with `--backend all`, one such block per engine and the tests whose
//! verdicts differ between engines. `--json` prints one report object per engine, one per line.
//! Exit status: 0 when every test is accepted (on every engine), 1 otherwise or when the judge
//! cannot run (unreadable or invalid tests file, bad option value), 2 for a usage error.

use crate::cache::{read_module_or_artifact, CacheArgs};
use crate::lang::{Lang, StagedScript};
use crate::limits::{self, Limit};
use crate::status;
use crate::units::{format_duration, format_size, parse_duration, parse_size};
use clap::{Args, ValueEnum};
use sandbox::judge::{
    parse_tests, Detail, Judge, JudgeReport, Mode, TestCase, TestCaseResult, TimeMode,
};
use sandbox::{BackendKind, InstanceAllocation, Runtime, SandboxConfig, SandboxError};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The largest tests file read; anything larger is refused before it is read whole.
const MAX_TESTS_FILE_BYTES: u64 = 256 << 20;

/// The status when some test is not accepted (on some engine). Scripts test for 0; the
/// table or the JSON says why.
const NOT_ACCEPTED: u8 = 1;

/// Characters of an expected or printed line shown in the table.
const SHOWN_LINE_CHARS: usize = 60;

/// Which engine(s) to judge on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// wasmtime (cranelift).
    Wasmtime,
    /// wasmer (singlepass).
    Wasmer,
    /// Every engine compiled in; tests whose verdicts differ are reported.
    All,
}

/// Arguments of `sandbox judge`.
#[derive(Debug, Args)]
pub struct JudgeArgs {
    /// The solution (.wasm or .wat, or a Mini program, .mini, compiled first): a WASI
    /// command, or a module exporting --invoke's NAME; with --lang, a script.
    solution: PathBuf,
    /// Judge SOLUTION as a script of this language, run by its interpreter module
    /// (SANDBOX_PYTHON_WASM or SANDBOX_JS_WASM, or --interpreter) with each test's input on
    /// stdin; `mini` compiles SOLUTION as a Mini program whatever its extension.
    #[arg(long, value_enum)]
    lang: Option<Lang>,
    /// The interpreter module for --lang (overrides SANDBOX_PYTHON_WASM / SANDBOX_JS_WASM).
    #[arg(long, value_name = "FILE", requires = "lang")]
    interpreter: Option<PathBuf>,
    /// The test cases: {"tests": [{"id", "input", "expected_output", "time_limit_ms",
    /// "memory_limit_bytes", "fuel"}, ...]} or a bare array of them.
    #[arg(long, value_name = "TESTS.json")]
    tests: PathBuf,
    /// Engine to judge on (default: wasmtime when compiled in); `all` judges on every
    /// compiled-in engine and reports the tests whose verdicts differ.
    #[arg(long, value_enum)]
    backend: Option<BackendChoice>,
    /// Judge this export instead of the WASI `_start`: each input is its arguments, the
    /// expected output its results, separated by spaces (alias: --func).
    #[arg(long, visible_alias = "func", value_name = "NAME")]
    invoke: Option<String>,
    /// Worker threads (default: the number of CPUs; at most 256).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    jobs: Option<u16>,
    /// Print one JSON report per engine, one per line, instead of the table.
    #[arg(long)]
    json: bool,
    /// Time limit of a test that sets no time_limit_ms (default 5s): wall-clock time, or
    /// with --deterministic-time its conversion to fuel.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    timeout: Option<Duration>,
    /// Deterministic time: each test's time limit becomes a fuel budget at the calibrated
    /// rate, so verdicts are the same on every run and machine; the wall clock stays as a
    /// safety net at a multiple of the limit.
    #[arg(long)]
    deterministic_time: bool,
    /// Memory limit of a test that sets no memory_limit_bytes (default 64MiB).
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    max_memory: Option<u64>,
    /// Fuel budget of a test that sets no fuel (default: none, time is the limit; `none`
    /// says so explicitly). Under --deterministic-time it caps the converted time limit.
    #[arg(long, value_name = "N|none")]
    fuel: Option<String>,
    /// Wasm stack limit of every test, e.g. 512KiB (default 1MiB).
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    max_stack: Option<u64>,
    /// Table elements of every test (all tables of the instance together; default 10000).
    #[arg(long, value_name = "N")]
    max_table_elements: Option<u64>,
    /// Captured output per test and stream; past it the verdict is Output Limit Exceeded
    /// (default 1MiB).
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    max_output: Option<u64>,
    /// Accept an AOT artifact (`sandbox compile --aot`) as the solution. Artifacts are native
    /// code: only for solutions you trust as much as this program, never for submissions.
    #[arg(long)]
    trust_artifact: bool,
    #[command(flatten)]
    cache: CacheArgs,
    /// Take instances from a preallocated pool with one slot per job (wasmtime's pooling
    /// allocator: no mmap/munmap per test); wasmer has none and ignores it.
    #[arg(long)]
    pooling: bool,
}

impl JudgeArgs {
    fn config(&self) -> anyhow::Result<SandboxConfig> {
        let mut config = SandboxConfig {
            max_fuel: self.fuel()?,
            ..SandboxConfig::default()
        };
        if let Some(bytes) = self.max_stack {
            config.max_stack_size = bytes;
        }
        if let Some(elements) = self.max_table_elements {
            config.max_table_elements = elements;
        }
        if let Some(timeout) = self.timeout {
            config.max_execution_time = timeout;
        }
        if let Some(bytes) = self.max_memory {
            config.max_memory_bytes = bytes;
        }
        if let Some(bytes) = self.max_output {
            config.max_output_bytes = bytes;
        }
        config.cache = self.cache.config();
        if self.pooling {
            let workers = Judge::on(BackendKind::Wasmtime, config.clone())
                .jobs(self.jobs.map_or(0, usize::from))
                .worker_count(usize::MAX);
            config.instance_allocation = InstanceAllocation::pooling(
                u32::try_from(workers).unwrap_or(InstanceAllocation::MAX_POOLED_INSTANCES),
            );
        }
        config.program_name = self
            .solution
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "main.wasm".into());
        config.validate().map_err(|err| anyhow::anyhow!("{err}"))?;
        Ok(config)
    }

    /// The judge's own fuel budget: none unless --fuel N asks for one.
    fn fuel(&self) -> anyhow::Result<Option<u64>> {
        match &self.fuel {
            Some(fuel) => crate::units::parse_fuel(fuel).map_err(|err| anyhow::anyhow!(err)),
            None => Ok(None),
        }
    }

    fn time_mode(&self) -> TimeMode {
        if self.deterministic_time {
            TimeMode::deterministic()
        } else {
            TimeMode::WallClock
        }
    }

    fn runtimes(&self) -> anyhow::Result<Vec<Runtime>> {
        let runtimes = match self.backend {
            None => vec![sandbox::default_runtime()?],
            Some(BackendChoice::Wasmtime) => vec![BackendKind::Wasmtime],
            Some(BackendChoice::Wasmer) => vec![BackendKind::Wasmer],
            Some(BackendChoice::All) => sandbox::available_runtimes(),
        };
        if let Some(missing) = runtimes.iter().find(|r| !sandbox::is_available(**r)) {
            anyhow::bail!("the {missing} backend is not compiled into this build");
        }
        if runtimes.is_empty() {
            anyhow::bail!("no backend is compiled into this build");
        }
        Ok(runtimes)
    }

    fn mode(&self) -> Mode {
        match &self.invoke {
            Some(name) => Mode::function(name.clone()),
            None => Mode::Wasi,
        }
    }
}

/// Reads and parses the tests file, refusing one larger than [`MAX_TESTS_FILE_BYTES`].
fn read_tests(path: &Path) -> anyhow::Result<Vec<TestCase>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(MAX_TESTS_FILE_BYTES + 1).read_to_end(&mut bytes))
        .map_err(|err| anyhow::anyhow!("cannot read tests file {}: {err}", path.display()))?;
    if bytes.len() as u64 > MAX_TESTS_FILE_BYTES {
        anyhow::bail!(
            "tests file {} is larger than {}",
            path.display(),
            format_size(MAX_TESTS_FILE_BYTES)
        );
    }
    parse_tests(&bytes)
        .map_err(|err| anyhow::anyhow!("invalid tests file {}: {err}", path.display()))
}

/// Judges the solution and prints the report(s).
pub fn judge(args: JudgeArgs) -> anyhow::Result<u8> {
    let mut config = args.config()?;
    let mut runtimes = args.runtimes()?;
    let tests = read_tests(&args.tests)?;
    let mut module_file = args.solution.clone();
    // Kept alive while judging: the guest's view of the script.
    let mut kind = None;
    let _staged = match args.lang.map(|lang| (lang, lang.interpreted())) {
        Some((_, None)) => {
            kind = Some(sandbox::SourceKind::Mini);
            None
        }
        Some((_, Some(lang))) => {
            if args.invoke.is_some() {
                anyhow::bail!(
                    "--lang {} judges a script: it cannot be combined with --invoke",
                    lang.short_name()
                );
            }
            module_file = crate::lang::interpreter(lang, args.interpreter.as_deref())?;
            let staged = StagedScript::new(&args.solution)?;
            staged.configure(lang, &[], &mut config);
            config.validate().map_err(|err| anyhow::anyhow!("{err}"))?;
            Some(staged)
        }
        None => None,
    };
    let read = if args.trust_artifact {
        read_module_or_artifact(&module_file, config.max_module_bytes, kind)
    } else {
        sandbox::read_module_file_as(&module_file, config.max_module_bytes, kind)
    };
    let solution = match read {
        Ok(bytes) => Ok(bytes),
        // A solution too large to load is the solution's problem: a compilation error.
        Err(err @ SandboxError::InvalidModule { .. })
        | Err(err @ SandboxError::IncompatibleArtifact { .. })
        | Err(err @ SandboxError::CompilationError { .. }) => Err(err),
        Err(err) => anyhow::bail!("{err}"),
    };
    // A trusted artifact is judged on its own engine unless --backend says otherwise.
    if let (None, Ok(bytes)) = (args.backend, &solution) {
        if let Some(backend) = sandbox::cache::decode_artifact(bytes)
            .ok()
            .and_then(|artifact| artifact.backend_kind())
        {
            runtimes = vec![backend];
        }
    }
    let show_progress = std::io::stderr().is_terminal();
    let mut reports = Vec::new();
    for runtime in runtimes {
        let mut judge = Judge::on(runtime, config.clone())
            .fuel(config.max_fuel)
            .time_mode(args.time_mode())
            .mode(args.mode());
        if let Some(jobs) = args.jobs {
            judge = judge.jobs(jobs.into());
        }
        if args.trust_artifact {
            // SAFETY: the operator asked for it with --trust-artifact, whose help says an
            // artifact is native code to be trusted like this program.
            judge = unsafe { judge.trust_artifacts() };
        }
        let report = match &solution {
            Ok(bytes) => {
                let progress = Progress::new(runtime, tests.len(), show_progress);
                let report = judge.evaluate_with_progress(bytes, &tests, |_| progress.tick());
                progress.finish();
                report
            }
            Err(err) => judge.report_rejected(err.clone(), &tests),
        };
        if args.json {
            println!("{}", report.to_json());
        } else {
            if !reports.is_empty() {
                println!();
            }
            print_report(&args, &judge, &report, &tests);
        }
        let _ = std::io::stdout().flush();
        reports.push(report);
    }
    let disagreements = disagreements(&reports);
    if !disagreements.is_empty() {
        let lines: Vec<String> = disagreements
            .iter()
            .map(|(id, verdicts)| format!("  Test {id}: {verdicts}"))
            .collect();
        let message = format!(
            "The engines disagree on {} test{}:\n{}",
            disagreements.len(),
            if disagreements.len() == 1 { "" } else { "s" },
            lines.join("\n")
        );
        if args.json {
            eprintln!("warning: {message}");
        } else {
            println!("\n{message}");
        }
    } else if reports.len() > 1 && !args.json {
        println!("\nThe engines agree on every verdict.");
    }
    let accepted = reports.iter().all(JudgeReport::all_passed) && disagreements.is_empty();
    Ok(if accepted { status::OK } else { NOT_ACCEPTED })
}

/// The tests whose verdicts differ between the reports, with each engine's verdict.
fn disagreements(reports: &[JudgeReport]) -> Vec<(String, String)> {
    let Some(first) = reports.first() else {
        return Vec::new();
    };
    (0..first.results.len())
        .filter(|&index| {
            reports
                .iter()
                .any(|report| report.results[index].verdict != first.results[index].verdict)
        })
        .map(|index| {
            let verdicts: Vec<String> = reports
                .iter()
                .map(|report| format!("{} {}", report.backend, report.results[index].verdict))
                .collect();
            (
                first.results[index].test_id.to_string(),
                verdicts.join(", "),
            )
        })
        .collect()
}

fn print_report(args: &JudgeArgs, judge: &Judge, report: &JudgeReport, tests: &[TestCase]) {
    let config = judge.config();
    let what = match &report.mode {
        Mode::Wasi => String::new(),
        Mode::Function(name) => format!(" (function {name})"),
    };
    println!(
        "Judging {}{what} on {}: {} test{}, {} job{}",
        args.solution.display(),
        report.backend,
        tests.len(),
        if tests.len() == 1 { "" } else { "s" },
        judge.worker_count(tests.len()),
        if judge.worker_count(tests.len()) == 1 {
            ""
        } else {
            "s"
        },
    );
    if let InstanceAllocation::Pooling { max_instances } = config.instance_allocation {
        println!(
            "Instances: from a pool of {max_instances} (wasmtime; wasmer allocates on demand)"
        );
    }
    println!(
        "Limits unless a test sets its own: time {}, memory {}, fuel {}, output {}",
        format_duration(config.max_execution_time),
        format_size(config.max_memory_bytes),
        config
            .max_fuel
            .map_or("none".to_string(), |fuel| fuel.to_string()),
        format_size(config.max_output_bytes),
    );
    match judge.current_time_mode() {
        TimeMode::WallClock => println!("Time: wall clock"),
        TimeMode::Deterministic(rate) => println!(
            "Time: deterministic, {} fuel per ms of time limit (wall clock {}x the limit as a \
             safety net)",
            rate.fuel_per_ms, rate.wall_clock_multiple
        ),
    }
    match &report.compilation_error {
        // A program's errors as its compiler prints them (each with its line and a caret).
        Some(SandboxError::CompilationError { rendered, .. }) => {
            println!("Compilation error:\n{}", rendered.trim_end());
        }
        Some(error) => println!("Compilation error: {error}"),
        None => {}
    }
    let labels: Vec<String> = report
        .results
        .iter()
        .map(|result| format!("Test {}: {}", result.test_id, result.verdict))
        .collect();
    let width = labels
        .iter()
        .map(|label| label.chars().count())
        .max()
        .unwrap_or(0);
    for (label, result) in labels.iter().zip(&report.results) {
        let line = if report.compilation_error.is_some() {
            label.clone()
        } else {
            format!(
                "{label:<width$}  {:>10}  {:>9}  {}",
                format_duration(result.execution_time),
                format_size(result.memory_used),
                why(result),
            )
        };
        println!("{}", line.trim_end());
    }
    println!("Result: {}/{} tests passed", report.passed, report.total);
    println!("Verdict: {}", report.verdict);
}

/// Why a test got its verdict, in a few words.
fn why(result: &TestCaseResult) -> String {
    match &result.detail {
        None => String::new(),
        Some(Detail::Difference(difference)) => {
            let show = |line: &Option<String>| match line {
                Some(text) => quoted(text),
                None => "end of output".to_string(),
            };
            format!(
                "line {}: expected {}, got {}",
                difference.line,
                show(&difference.expected),
                show(&difference.got)
            )
        }
        Some(Detail::Exit {
            code,
            message: None,
        }) => format!("exit code {code}"),
        Some(Detail::Exit {
            code,
            message: Some(message),
        }) => format!("exit code {code}: {message}"),
        Some(Detail::Checker { message }) => format!("checker: {message}"),
        Some(Detail::CheckerFailed(error)) => format!("the checker failed: {}", failure(error)),
        Some(Detail::DeterministicTimeLimit {
            error,
            time_limit,
            fuel_per_ms,
        }) => {
            let used = result.fuel_consumed.unwrap_or_default();
            format!(
                "time limit {} exceeded (deterministic: {used} fuel = {} at {fuel_per_ms} \
                 fuel/ms){}",
                format_duration(*time_limit),
                format_duration(result.equivalent_time.unwrap_or_default()),
                limits::hint(error, true, limits::Command::Judge)
            )
        }
        Some(Detail::Failed(error)) => {
            let hint = Limit::of(error, false)
                .map(|limit| format!("; {}", limit.how_to_raise(limits::Command::Judge)))
                .unwrap_or_default();
            format!("{}{hint}", failure(error))
        }
    }
}

/// A failed run in a few words.
fn failure(error: &SandboxError) -> String {
    match error {
        SandboxError::RuntimeError { trap, .. } => format!("trap {trap}"),
        SandboxError::FuelExhausted { limit, .. } => format!("fuel exhausted ({limit})"),
        SandboxError::TimeLimitExceeded { elapsed, limit } => format!(
            "stopped after {} (limit {})",
            format_duration(*elapsed),
            format_duration(*limit)
        ),
        SandboxError::MemoryLimitExceeded { used, limit } => format!(
            "asked for {} of memory (limit {})",
            format_size(*used),
            format_size(*limit)
        ),
        SandboxError::TableLimitExceeded { used, limit } => {
            format!("asked for {used} table elements (limit {limit})")
        }
        SandboxError::OutputLimitExceeded { stream, limit } => {
            format!("{stream} reached {}", format_size(*limit))
        }
        other => other.to_string(),
    }
}

/// A line quoted for the table, shortened to [`SHOWN_LINE_CHARS`] characters.
fn quoted(text: &str) -> String {
    if text.chars().count() <= SHOWN_LINE_CHARS {
        format!("{text:?}")
    } else {
        let shown: String = text.chars().take(SHOWN_LINE_CHARS).collect();
        format!("{shown:?}...")
    }
}

/// A one-line progress counter on stderr, shown only when stderr is a terminal.
struct Progress {
    label: Runtime,
    total: usize,
    done: AtomicUsize,
    last_shown: Mutex<Instant>,
    enabled: bool,
}

impl Progress {
    fn new(label: Runtime, total: usize, enabled: bool) -> Self {
        let progress = Progress {
            label,
            total,
            done: AtomicUsize::new(0),
            last_shown: Mutex::new(Instant::now()),
            enabled,
        };
        progress.show(0);
        progress
    }

    fn show(&self, done: usize) {
        if self.enabled {
            eprint!("\r\x1b[2Kjudging on {}: {done}/{}", self.label, self.total);
        }
    }

    fn tick(&self) {
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if !self.enabled {
            return;
        }
        // At most ten updates a second; whoever holds the lock draws.
        if let Ok(mut last) = self.last_shown.try_lock() {
            if last.elapsed() >= Duration::from_millis(100) || done == self.total {
                *last = Instant::now();
                self.show(done);
            }
        }
    }

    fn finish(&self) {
        if self.enabled {
            eprint!("\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox::judge::{TestId, Verdict};

    fn report(backend: BackendKind, verdicts: &[Verdict]) -> JudgeReport {
        let results = verdicts
            .iter()
            .enumerate()
            .map(|(index, verdict)| TestCaseResult {
                test_id: TestId::from(index + 1),
                passed: verdict.is_accepted(),
                verdict: *verdict,
                expected_output: String::new(),
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
            backend,
            mode: Mode::Wasi,
            time_mode: TimeMode::WallClock,
            verdict: Verdict::Accepted,
            passed: 0,
            total: verdicts.len(),
            compilation_error: None,
            elapsed: Duration::ZERO,
            results,
        }
    }

    #[test]
    fn disagreements_name_each_engines_verdict() {
        use Verdict::*;
        let wasmtime = report(
            BackendKind::Wasmtime,
            &[Accepted, TimeLimitExceeded, Accepted],
        );
        let wasmer = report(BackendKind::Wasmer, &[Accepted, Accepted, Accepted]);
        assert_eq!(
            disagreements(&[wasmtime.clone(), wasmer]),
            [(
                "2".to_string(),
                "wasmtime Time Limit Exceeded, wasmer Accepted".to_string()
            )]
        );
        assert!(disagreements(&[wasmtime.clone(), wasmtime]).is_empty());
        assert!(disagreements(&[]).is_empty());
    }

    #[test]
    fn long_lines_are_shortened_in_the_table() {
        assert_eq!(quoted("12"), "\"12\"");
        let long = "x".repeat(100);
        assert_eq!(
            quoted(&long),
            format!("{:?}...", "x".repeat(SHOWN_LINE_CHARS))
        );
    }
}
