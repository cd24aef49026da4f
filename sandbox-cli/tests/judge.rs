//! `sandbox judge` from outside, on every compiled-in engine: each example solution's verdicts,
//! the table and the JSON report, function mode, exit statuses, and hostile test files.

mod common;

use common::{example, sandbox, stderr, stdout};
use std::path::PathBuf;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};

/// The engines `--backend all` judges on in this build.
fn engines() -> Vec<&'static str> {
    let mut engines = Vec::new();
    if cfg!(feature = "wasmtime") {
        engines.push("wasmtime");
    }
    if cfg!(feature = "wasmer") {
        engines.push("wasmer");
    }
    engines
}

/// A file in a fresh temporary directory, removed (with the directory) when dropped.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &[u8]) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sandbox-judge-test-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// `sandbox judge SOLUTION --tests TESTS --backend all --json ARGS`: one report per engine.
fn judge_json(solution: &str, tests: &str, extra: &[&str]) -> (Output, Vec<serde_json::Value>) {
    let mut args = vec![
        "judge",
        solution,
        "--tests",
        tests,
        "--backend",
        "all",
        "--json",
    ];
    args.extend_from_slice(extra);
    let output = sandbox(&args);
    let reports: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let backends: Vec<&str> = reports
        .iter()
        .map(|report| report["backend"].as_str().unwrap())
        .collect();
    assert_eq!(backends, engines(), "{output:?}");
    (output, reports)
}

fn verdicts(report: &serde_json::Value) -> Vec<String> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|result| result["verdict"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_example_gets_its_verdicts_on_every_engine() {
    let tests = example("tests.json");
    for (solution, per_test, overall, status) in [
        ("accepted.wasm", ["accepted"; 5], "accepted", 0),
        // About 50 million loop iterations per test: time is the limit, not a hidden fuel budget.
        ("heavy.wasm", ["accepted"; 5], "accepted", 0),
        (
            "wrong.wasm",
            [
                "accepted",
                "accepted",
                "accepted",
                "wrong_answer",
                "accepted",
            ],
            "wrong_answer",
            1,
        ),
        (
            "slow.wasm",
            ["time_limit_exceeded"; 5],
            "time_limit_exceeded",
            1,
        ),
        (
            "hungry.wasm",
            ["memory_limit_exceeded"; 5],
            "memory_limit_exceeded",
            1,
        ),
        (
            "chatty.wasm",
            ["output_limit_exceeded"; 5],
            "output_limit_exceeded",
            1,
        ),
        ("crash.wasm", ["runtime_error"; 5], "runtime_error", 1),
    ] {
        // Tests 1, 3, 4 and zeros take --timeout; test 2 sets 1000 ms.
        let (output, reports) = judge_json(&example(solution), &tests, &["--timeout", "1s"]);
        assert_eq!(output.status.code(), Some(status), "{solution}: {output:?}");
        for report in &reports {
            assert_eq!(verdicts(report), per_test, "{solution}: {report}");
            assert_eq!(report["verdict"], overall, "{solution}");
            assert_eq!(report["total"], 5);
        }
    }
}

#[test]
fn the_json_report_names_why() {
    let tests = example("tests.json");
    let (_, reports) = judge_json(&example("crash.wasm"), &tests, &[]);
    for report in &reports {
        assert_eq!(report["mode"], "wasi");
        assert!(report["compilation_error"].is_null());
        assert_eq!(report["passed"], 0);
        let results = report["results"].as_array().unwrap();
        assert_eq!(results[0]["test_id"], 1);
        assert_eq!(results[0]["detail"]["trap"], "integer_divide_by_zero");
        assert_eq!(results[2]["detail"]["kind"], "exit");
        assert_eq!(results[2]["detail"]["code"], 3);
        assert_eq!(results[4]["test_id"], "zeros");
        for key in [
            "passed",
            "expected_output",
            "actual_output",
            "execution_time_ms",
            "memory_used_bytes",
            "fuel_consumed",
        ] {
            assert!(results[0].get(key).is_some(), "{key} missing");
        }
    }
    let (_, reports) = judge_json(&example("wrong.wasm"), &tests, &[]);
    for report in &reports {
        let detail = &report["results"][3]["detail"];
        assert_eq!(detail["kind"], "difference");
        assert_eq!(detail["line"], 1);
        assert_eq!(detail["expected"], "3000000000");
        assert_eq!(detail["got"], "-1294967296");
        assert_eq!(report["results"][3]["actual_output"], "-1294967296\n");
    }
}

#[test]
fn the_table_reads_like_the_product_brief() {
    let output = sandbox(&[
        "judge",
        &example("wrong.wasm"),
        "--tests",
        &example("tests.json"),
        "--backend",
        "all",
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    let wrong: Vec<&str> = text
        .lines()
        .filter(|line| line.starts_with("Test 4: Wrong Answer"))
        .collect();
    assert_eq!(wrong.len(), engines().len(), "{text}");
    for line in wrong {
        assert!(
            line.contains(r#"line 1: expected "3000000000", got "-1294967296""#),
            "{line}"
        );
    }
    assert!(text.contains("Test 1: Accepted"), "{text}");
    assert!(text.contains("Test zeros: Accepted"), "{text}");
    assert_eq!(
        text.matches("Result: 4/5 tests passed").count(),
        engines().len()
    );
    assert_eq!(
        text.matches("Verdict: Wrong Answer").count(),
        engines().len()
    );
    if engines().len() > 1 {
        assert!(
            text.contains("The engines agree on every verdict."),
            "{text}"
        );
    }
    // No progress indicator when stderr is not a terminal.
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));

    let output = sandbox(&[
        "judge",
        &example("accepted.wasm"),
        "--tests",
        &example("tests.json"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("Result: 5/5 tests passed"), "{text}");
    assert!(text.contains("Verdict: Accepted"), "{text}");
    assert!(text.contains("on wasmtime"), "{text}");
}

#[test]
fn each_verdict_has_its_human_name() {
    for (solution, name, why) in [
        (
            "slow.wasm",
            "Time Limit Exceeded",
            "(limit 200.00 ms); raise it with the test's \"time_limit_ms\" or --timeout",
        ),
        (
            "hungry.wasm",
            "Memory Limit Exceeded",
            "of memory (limit 64 MiB); raise it with the test's \"memory_limit_bytes\" or \
             --max-memory",
        ),
        (
            "chatty.wasm",
            "Output Limit Exceeded",
            "stdout reached 1 MiB; raise it with --max-output",
        ),
        ("crash.wasm", "Runtime Error", "trap integer_divide_by_zero"),
    ] {
        let output = sandbox(&[
            "judge",
            &example(solution),
            "--tests",
            &example("tests.json"),
            "--backend",
            "all",
            "--timeout",
            "200ms",
        ]);
        let text = stdout(&output);
        assert!(text.contains(&format!("Test 1: {name}")), "{text}");
        assert!(text.contains(why), "{text}");
        assert!(text.contains(&format!("Verdict: {name}")), "{text}");
    }
    // A fuel budget asked for with --fuel.
    let output = sandbox(&[
        "judge",
        &example("slow.wasm"),
        "--tests",
        &example("tests.json"),
        "--fuel",
        "10000000",
    ]);
    let text = stdout(&output);
    assert!(
        text.contains(
            "fuel exhausted (10000000); raise it with the test's \"fuel\" or --fuel N (or \
             --fuel none to meter no fuel)"
        ),
        "{text}"
    );
    assert!(text.contains("fuel 10000000"), "{text}");
    let output = sandbox(&[
        "judge",
        &example("crash.wasm"),
        "--tests",
        &example("tests.json"),
    ]);
    assert!(stdout(&output).contains("exit code 3"), "{output:?}");
}

#[test]
fn the_wall_clock_limit_gives_time_limit_exceeded_too() {
    let tests = TempFile::new(
        "tests.json",
        br#"[{"id": 1, "input": "1 2", "expected_output": "3"},
             {"id": 2, "input": "1 2", "expected_output": "3", "time_limit_ms": 50}]"#,
    );
    let (output, reports) = judge_json(
        &example("slow.wasm"),
        tests.path(),
        &["--fuel", "none", "--timeout", "100ms"],
    );
    assert_eq!(output.status.code(), Some(1));
    for report in &reports {
        assert_eq!(verdicts(report), ["time_limit_exceeded"; 2]);
        let results = report["results"].as_array().unwrap();
        assert_eq!(results[0]["detail"]["kind"], "time_limit_exceeded");
        assert_eq!(results[0]["detail"]["limit_ms"], 100.0);
        assert_eq!(results[1]["detail"]["limit_ms"], 50.0);
        assert!(results[0]["fuel_consumed"].is_null());
    }
}

#[test]
fn function_mode_judges_an_export() {
    let (output, reports) = judge_json(
        &example("solve.wat"),
        &example("tests.json"),
        &["--invoke", "solve", "--jobs", "3"],
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    for report in &reports {
        assert_eq!(report["mode"]["function"], "solve");
        assert_eq!(verdicts(report), ["accepted"; 5]);
        assert_eq!(report["results"][3]["actual_output"], "3000000000\n");
    }
    // The brief's spelling.
    let output = sandbox(&[
        "judge",
        &example("solve.wat"),
        "--tests",
        &example("tests.json"),
        "--func",
        "solve",
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(stdout(&output).contains("(function solve)"));
}

#[test]
fn a_solution_that_cannot_load_is_a_compilation_error() {
    let garbage = TempFile::new("garbage.wasm", b"\0asm\x01\0\0\0\xff\xff");
    let (output, reports) = judge_json(garbage.path(), &example("tests.json"), &[]);
    assert_eq!(output.status.code(), Some(1));
    for report in &reports {
        assert_eq!(verdicts(report), ["compilation_error"; 5]);
        assert_eq!(report["compilation_error"]["kind"], "invalid_module");
    }
    let output = sandbox(&[
        "judge",
        &example("accepted.wasm"),
        "--tests",
        &example("tests.json"),
        "--invoke",
        "solve",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let text = stdout(&output);
    assert!(
        text.contains("Compilation error: function not found: solve"),
        "{text}"
    );
    assert!(text.contains("Test 1: Compilation Error"), "{text}");
    assert!(text.contains("Verdict: Compilation Error"), "{text}");
}

/// Runs the judge on a tests file holding `contents`; returns its status and stderr.
fn judge_tests_file(contents: &[u8]) -> (Option<i32>, String) {
    let tests = TempFile::new("tests.json", contents);
    let output = sandbox(&["judge", &example("accepted.wasm"), "--tests", tests.path()]);
    (output.status.code(), stderr(&output))
}

#[test]
fn hostile_tests_files_get_a_clear_error() {
    for (contents, message) in [
        (
            &b"{\"tests\": [\n{\"id\": 1, \"input\": \"1 2\"}]}"[..],
            "missing field `expected_output` at line 2",
        ),
        (
            br#"[{"id": 1, "input": ["1", "2"], "expected_output": "3"}]"#,
            "invalid type: sequence, expected a string",
        ),
        (
            br#"[{"id": true, "input": "1 2", "expected_output": "3"}]"#,
            "expected a test id (an integer or a string)",
        ),
        (
            br#"[{"id": 1, "input": "1 2", "expected_output": "3", "time_limit_ms": "1s"}]"#,
            "invalid type: string \"1s\", expected u64",
        ),
        (
            br#"[{"id": 1, "input": "1 2", "expected_output": "3", "timeout": 5}]"#,
            "unknown field `timeout`",
        ),
        (b"{\"tests\": [", "EOF while parsing a list at line 1"),
        (b"\xff\xfe garbage", "expected value at line 1 column 1"),
        (b"", "EOF while parsing a value at line 1 column 0"),
        (b"null", "found null"),
        (b"[]", "the file has no test cases"),
        (
            br#"[{"id": 1, "input": "", "expected_output": ""}, {"id": 1, "input": "", "expected_output": ""}]"#,
            "test id 1 is used twice",
        ),
    ] {
        let (status, error) = judge_tests_file(contents);
        assert_eq!(status, Some(1), "{error}");
        assert!(error.starts_with("error: invalid tests file "), "{error}");
        assert!(error.contains(message), "expected {message:?} in {error}");
        assert!(!error.contains("panicked"), "{error}");
    }
    let output = sandbox(&[
        "judge",
        &example("accepted.wasm"),
        "--tests",
        "/no/such/tests.json",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot read tests file /no/such/tests.json"));
}

#[test]
fn a_tests_file_above_the_cap_is_refused_without_reading_it_all() {
    let path = TempFile::new("huge.json", b"");
    // Sparse: no disk is used for the zeros.
    std::fs::File::options()
        .write(true)
        .open(path.path())
        .unwrap()
        .set_len((256 << 20) + 1)
        .unwrap();
    let output = sandbox(&["judge", &example("accepted.wasm"), "--tests", path.path()]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("is larger than 256 MiB"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn huge_inputs_and_ten_thousand_tests_get_a_correct_report() {
    let mut input = String::from("1 2");
    input.push_str(&" ".repeat(8 << 20));
    let huge = serde_json::json!([{"id": 1, "input": input, "expected_output": "3"}]);
    let tests = TempFile::new("huge-input.json", huge.to_string().as_bytes());
    let (output, reports) = judge_json(&example("accepted.wasm"), tests.path(), &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(reports.iter().all(|report| report["verdict"] == "accepted"));

    let many: Vec<serde_json::Value> = (0..10_000)
        .map(|i| serde_json::json!({"id": i, "input": format!("{i} {i}"), "expected_output": (2 * i).to_string()}))
        .collect();
    let tests = TempFile::new(
        "many.json",
        serde_json::json!({ "tests": many }).to_string().as_bytes(),
    );
    let (output, reports) = judge_json(&example("solve.wat"), tests.path(), &["--invoke", "solve"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    for report in &reports {
        assert_eq!(report["passed"], 10_000);
        let results = report["results"].as_array().unwrap();
        assert!(results
            .iter()
            .enumerate()
            .all(|(i, result)| result["test_id"] == i));
    }
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["judge", "x.wasm"][..],
        &["judge", "--tests", "t.json"],
        &["judge", "x.wasm", "--tests", "t.json", "--jobs", "0"],
        &["judge", "x.wasm", "--tests", "t.json", "--backend", "v8"],
        &["judge", "x.wasm", "--tests", "t.json", "--timeout", "soon"],
        &["judge", "x.wasm", "--tests", "t.json", "--frobnicate"],
    ] {
        let output = sandbox(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
    }
    let output = sandbox(&[
        "judge",
        &example("accepted.wasm"),
        "--tests",
        &example("tests.json"),
        "--fuel",
        "lots",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("invalid --fuel"));
}

#[test]
fn pooling_judges_the_same_on_every_engine() {
    let (output, reports) = judge_json(
        &example("accepted.wasm"),
        &example("tests.json"),
        &["--pooling", "--jobs", "2"],
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    for report in &reports {
        assert_eq!(verdicts(report), ["accepted"; 5]);
    }
    let output = sandbox(&[
        "judge",
        &example("accepted.wasm"),
        "--tests",
        &example("tests.json"),
        "--pooling",
        "--jobs",
        "3",
        "--backend",
        "wasmtime",
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        stdout(&output).contains("Instances: from a pool of 3"),
        "{output:?}"
    );
}

#[test]
fn deterministic_time_gives_the_same_verdicts_and_fuel_on_every_run() {
    let tests = TempFile::new(
        "deterministic.json",
        br#"[{"id": 1, "input": "1 2", "expected_output": "3", "time_limit_ms": 1000},
             {"id": 2, "input": "40 2", "expected_output": "42", "time_limit_ms": 1000}]"#,
    );
    let outcome = |report: &serde_json::Value| -> Vec<(String, serde_json::Value)> {
        report["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["verdict"].as_str().unwrap().to_string(),
                    r["fuel_consumed"].clone(),
                )
            })
            .collect()
    };
    let mut seen = Vec::new();
    for _ in 0..2 {
        let (output, reports) = judge_json(
            &example("heavy.wasm"),
            tests.path(),
            &["--deterministic-time"],
        );
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        for report in &reports {
            assert!(report["time_mode"]["deterministic"]["fuel_per_ms"].is_u64());
            assert_eq!(verdicts(report), ["accepted"; 2]);
            assert!(report["results"][0]["equivalent_time_ms"].is_f64());
            seen.push(outcome(report));
        }
    }
    seen.dedup();
    assert_eq!(seen.len(), 1, "the same on every run and engine: {seen:?}");

    // Time Limit Exceeded under deterministic time names the fuel and the time it stands for.
    let tests = TempFile::new(
        "deterministic-slow.json",
        br#"[{"id": 1, "input": "1 2", "expected_output": "3"}]"#,
    );
    let output = sandbox(&[
        "judge",
        &example("slow.wasm"),
        "--tests",
        tests.path(),
        "--deterministic-time",
        "--timeout",
        "20ms",
        "--backend",
        "all",
    ]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let text = stdout(&output);
    assert!(text.contains("Time: deterministic"), "{text}");
    let line = text
        .lines()
        .find(|line| line.starts_with("Test 1: Time Limit Exceeded"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("time limit 20.00 ms exceeded (deterministic: ")
            && line.contains(" fuel = 20.00 ms at ")
            && line.contains("raise it with the test's \"time_limit_ms\" or --timeout"),
        "{line}"
    );
    let (_, reports) = judge_json(
        &example("slow.wasm"),
        tests.path(),
        &["--deterministic-time", "--timeout", "20ms"],
    );
    for report in &reports {
        let detail = &report["results"][0]["detail"];
        assert_eq!(detail["kind"], "fuel_exhausted");
        assert_eq!(detail["time_limit_ms"], 20.0);
        assert_eq!(detail["equivalent_time_ms"], 20.0);
        assert_eq!(report["results"][0]["fuel_consumed"], detail["limit"]);
    }
}

#[test]
fn fuel_none_and_the_limit_flags_are_accepted() {
    let output = sandbox(&[
        "judge",
        &example("accepted.wasm"),
        "--tests",
        &example("tests.json"),
        "--fuel",
        "none",
        "--max-stack",
        "512KiB",
        "--max-table-elements",
        "100",
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(stdout(&output).contains("fuel none"), "{output:?}");
}
