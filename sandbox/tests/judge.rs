//! The judge on every compiled-in engine: each verdict produced by the example solutions of
//! `examples/judge`, time as the default limit and deterministic time, function mode, the
//! overall verdict, test order with several workers, and hostile test files.

use sandbox::judge::{
    parse_tests, Detail, DeterministicTime, Judge, JudgeReport, Mode, TestCase, TestFileError,
    TimeMode, Verdict,
};
use sandbox::{available_runtimes, Runtime, SandboxConfig, Trap};
use std::path::PathBuf;
use std::time::Duration;

fn example(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/judge")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

fn example_tests() -> Vec<TestCase> {
    parse_tests(&example("tests.json")).expect("the example tests parse")
}

/// A judge with a fuel budget, so that the endless loops of these tests end in milliseconds.
fn judge(runtime: Runtime) -> Judge {
    Judge::on(runtime, SandboxConfig::default())
        .fuel(Some(10_000_000))
        .jobs(2)
}

fn verdicts(report: &JudgeReport) -> Vec<Verdict> {
    report.results.iter().map(|result| result.verdict).collect()
}

use Verdict::*;

#[test]
fn the_correct_solution_is_accepted() {
    for runtime in available_runtimes() {
        let report = judge(runtime).evaluate(&example("accepted.wasm"), &example_tests());
        assert_eq!(report.backend, runtime);
        assert_eq!(verdicts(&report), [Accepted; 5], "{runtime}: {report:#?}");
        assert_eq!((report.passed, report.total), (5, 5));
        assert_eq!(report.verdict, Accepted);
        assert!(report.all_passed() && report.compilation_error.is_none());
        let first = &report.results[0];
        assert_eq!(first.actual_output, "3\n");
        assert_eq!(first.expected_output, "3\n");
        assert!(first.detail.is_none() && first.passed);
        assert!(first.fuel_consumed.is_some_and(|fuel| fuel > 0));
        assert!(first.memory_used > 0);
    }
}

#[test]
fn a_wrong_solution_gets_wrong_answer_with_the_first_differing_line() {
    for runtime in available_runtimes() {
        let report = judge(runtime).evaluate(&example("wrong.wasm"), &example_tests());
        assert_eq!(
            verdicts(&report),
            [Accepted, Accepted, Accepted, WrongAnswer, Accepted],
            "{runtime}"
        );
        assert_eq!((report.passed, report.verdict), (4, WrongAnswer));
        let wrong = &report.results[3];
        assert!(!wrong.passed);
        let difference = wrong.difference().expect("a wrong answer names its line");
        assert_eq!(difference.line, 1);
        assert_eq!(difference.expected.as_deref(), Some("3000000000"));
        assert_eq!(difference.got.as_deref(), Some("-1294967296"));
        assert_eq!(wrong.actual_output, "-1294967296\n");
    }
}

#[test]
fn an_endless_loop_is_time_limit_exceeded_by_fuel_or_by_the_clock() {
    let tests = &example_tests()[..2];
    for runtime in available_runtimes() {
        let report = judge(runtime).evaluate(&example("slow.wasm"), tests);
        assert_eq!(verdicts(&report), [TimeLimitExceeded; 2], "{runtime}");
        assert_eq!(report.results[0].error().unwrap().kind(), "fuel_exhausted");

        let unmetered = SandboxConfig {
            max_fuel: None,
            max_execution_time: Duration::from_millis(100),
            ..SandboxConfig::default()
        };
        let report = Judge::on(runtime, unmetered).evaluate(&example("slow.wasm"), tests);
        assert_eq!(verdicts(&report), [TimeLimitExceeded; 2], "{runtime}");
        let error = report.results[0].error().unwrap();
        assert_eq!(error.kind(), "time_limit_exceeded", "{error}");
        assert!(report.results[0].fuel_consumed.is_none());
    }
}

/// The example tests, each with a time limit of one second (test `zeros` keeps its own fuel
/// budget, which is generous).
fn one_second_tests() -> Vec<TestCase> {
    example_tests()
        .into_iter()
        .map(|test| test.with_time_limit(Duration::from_secs(1)))
        .collect()
}

#[test]
fn time_is_the_default_limit_so_heavy_correct_code_is_accepted() {
    assert_eq!(Judge::new(SandboxConfig::default()).config().max_fuel, None);
    assert_eq!(Judge::default().current_time_mode(), TimeMode::WallClock);
    let tests = one_second_tests();
    for runtime in available_runtimes() {
        // About 50 million loop iterations per test, well within a second on either engine.
        let report = Judge::on(runtime, SandboxConfig::default())
            .jobs(1)
            .evaluate(&example("heavy.wasm"), &tests);
        assert_eq!(verdicts(&report), [Accepted; 5], "{runtime}: {report:#?}");
        assert_eq!(report.results[3].actual_output, "3000000000\n");
        // Test `zeros` sets a fuel budget, so the solution is compiled with metering and every
        // test reports its fuel; the others have no budget.
        assert!(report.results[0].fuel_consumed.unwrap() > 100_000_000);
        assert!(report.results.iter().all(|r| r.equivalent_time.is_none()));

        // What the default used to be: 10,000,000 fuel, a hidden limit of about a millisecond.
        let report = Judge::on(runtime, SandboxConfig::default())
            .fuel(Some(10_000_000))
            .evaluate(&example("heavy.wasm"), &tests[..1]);
        assert_eq!(report.verdict, TimeLimitExceeded, "{runtime}");
        assert_eq!(report.results[0].error().unwrap().kind(), "fuel_exhausted");
    }
}

#[test]
fn deterministic_time_accepts_heavy_code_with_the_same_fuel_everywhere() {
    let tests = one_second_tests();
    let mut fuel_per_engine = Vec::new();
    for runtime in available_runtimes() {
        let judge = Judge::on(runtime, SandboxConfig::default())
            .deterministic_time()
            .jobs(2);
        let first = judge.evaluate(&example("heavy.wasm"), &tests);
        let second = judge.evaluate(&example("heavy.wasm"), &tests);
        assert_eq!(verdicts(&first), [Accepted; 5], "{runtime}: {first:#?}");
        let fuel = |report: &JudgeReport| -> Vec<Option<u64>> {
            report.results.iter().map(|r| r.fuel_consumed).collect()
        };
        assert_eq!(verdicts(&first), verdicts(&second), "{runtime}");
        assert_eq!(
            fuel(&first),
            fuel(&second),
            "{runtime}: same fuel on every run"
        );
        let rate = DeterministicTime::CALIBRATED;
        let result = &first.results[0];
        let used = result.fuel_consumed.unwrap();
        assert!(used < rate.fuel_for(Duration::from_secs(1)));
        assert_eq!(result.equivalent_time, Some(rate.time_for(used)));
        assert_eq!(first.time_mode, TimeMode::Deterministic(rate));
        fuel_per_engine.push(fuel(&first));
    }
    // A WASI command's fuel is the same on both engines too (their stdio answers agree).
    fuel_per_engine.dedup();
    assert_eq!(fuel_per_engine.len(), 1, "{fuel_per_engine:?}");
}

#[test]
fn deterministic_time_limit_exceeded_reports_the_fuel_and_the_time_it_stands_for() {
    let tests = [
        TestCase::new(1, "1 2\n", "3\n").with_time_limit(Duration::from_millis(20)),
        TestCase::new(2, "1 2\n", "3\n").with_time_limit(Duration::from_millis(30)),
        // A smaller fuel budget of the test's own is a fuel limit, not the time limit.
        TestCase::new(3, "1 2\n", "3\n")
            .with_time_limit(Duration::from_millis(30))
            .with_fuel(50_000),
    ];
    let rate = DeterministicTime::CALIBRATED;
    let mut reports = Vec::new();
    for runtime in available_runtimes() {
        let judge = Judge::on(runtime, SandboxConfig::default())
            .time_mode(TimeMode::Deterministic(rate))
            .jobs(2);
        for _ in 0..2 {
            let report = judge.evaluate(&example("slow.wasm"), &tests);
            assert_eq!(verdicts(&report), [TimeLimitExceeded; 3], "{runtime}");
            for (result, ms) in report.results.iter().zip([20, 30]) {
                let limit = rate.fuel_for(Duration::from_millis(ms));
                assert_eq!(result.fuel_consumed, Some(limit), "{runtime}");
                assert_eq!(result.equivalent_time, Some(Duration::from_millis(ms)));
                match &result.detail {
                    Some(Detail::DeterministicTimeLimit {
                        error,
                        time_limit,
                        fuel_per_ms,
                    }) => {
                        assert_eq!(error.kind(), "fuel_exhausted");
                        assert_eq!(*time_limit, Duration::from_millis(ms));
                        assert_eq!(*fuel_per_ms, rate.fuel_per_ms);
                    }
                    other => panic!("{runtime}: {other:?}"),
                }
                let json = serde_json::to_value(result).unwrap();
                assert_eq!(json["detail"]["kind"], "fuel_exhausted");
                assert_eq!(json["detail"]["limit"], limit);
                assert_eq!(json["detail"]["time_limit_ms"], ms as f64);
                assert_eq!(json["detail"]["equivalent_time_ms"], ms as f64);
                assert_eq!(json["equivalent_time_ms"], ms as f64);
            }
            let own = &report.results[2];
            assert!(
                matches!(
                    &own.detail,
                    Some(Detail::Failed(sandbox::SandboxError::FuelExhausted {
                        limit: 50_000,
                        ..
                    }))
                ),
                "{runtime}: {:?}",
                own.detail
            );
            let json = report.to_json();
            assert_eq!(
                json["time_mode"]["deterministic"]["fuel_per_ms"],
                rate.fuel_per_ms
            );
            reports.push(report);
        }
    }
    // The same verdicts and fuel on every run and both engines.
    let outcome = |report: &JudgeReport| -> Vec<(Verdict, Option<u64>)> {
        report
            .results
            .iter()
            .map(|r| (r.verdict, r.fuel_consumed))
            .collect()
    };
    for report in &reports {
        assert_eq!(outcome(report), outcome(&reports[0]));
    }
}

#[test]
fn a_test_can_ask_for_fuel_when_the_judge_meters_none() {
    let unmetered = SandboxConfig {
        max_fuel: None,
        max_execution_time: Duration::from_secs(10),
        ..SandboxConfig::default()
    };
    let tests = [TestCase::new(1, "1 2\n", "3\n").with_fuel(100_000)];
    for runtime in available_runtimes() {
        let report = Judge::on(runtime, unmetered.clone()).evaluate(&example("slow.wasm"), &tests);
        assert_eq!(
            report.results[0].error().unwrap().kind(),
            "fuel_exhausted",
            "{runtime}"
        );
        let report =
            Judge::on(runtime, unmetered.clone()).evaluate(&example("accepted.wasm"), &tests);
        assert_eq!(report.verdict, Accepted, "{runtime}: {report:#?}");
    }
}

#[test]
fn a_memory_hog_is_memory_limit_exceeded_under_each_tests_own_limit() {
    for runtime in available_runtimes() {
        let report = judge(runtime).evaluate(&example("hungry.wasm"), &example_tests());
        assert_eq!(verdicts(&report), [MemoryLimitExceeded; 5], "{runtime}");
        // Test 4 sets a 16 MiB limit; the others have the judge's 64 MiB.
        let limit = |index: usize| match report.results[index].error() {
            Some(sandbox::SandboxError::MemoryLimitExceeded { limit, .. }) => *limit,
            other => panic!("{other:?}"),
        };
        assert_eq!(limit(3), 16 << 20);
        assert_eq!(limit(0), 64 << 20);
        assert!(report.results[3].memory_used <= 16 << 20);
    }
}

#[test]
fn endless_output_is_output_limit_exceeded() {
    let config = SandboxConfig {
        max_output_bytes: 100_000,
        ..SandboxConfig::default()
    };
    for runtime in available_runtimes() {
        let report = Judge::on(runtime, config.clone())
            .evaluate(&example("chatty.wasm"), &example_tests()[..2]);
        assert_eq!(verdicts(&report), [OutputLimitExceeded; 2], "{runtime}");
        let result = &report.results[0];
        assert!(result.actual_output_truncated);
        assert!(result.actual_output.starts_with("3\n...."));
        assert!(result.actual_output.len() <= 100_000);
    }
}

#[test]
fn crashes_are_runtime_errors_with_the_trap_or_the_exit_code() {
    for runtime in available_runtimes() {
        let report = judge(runtime).evaluate(&example("crash.wasm"), &example_tests());
        assert_eq!(verdicts(&report), [RuntimeError; 5], "{runtime}");
        assert_eq!(report.results[0].trap(), Some(Trap::IntegerDivideByZero));
        // Test 3 has a negative number: the solution exits with status 3.
        assert_eq!(report.results[2].exit_code(), Some(3));
        assert_eq!(report.results[2].trap(), None);
        assert_eq!(report.verdict, RuntimeError);
    }
}

#[test]
fn a_module_that_cannot_load_is_a_compilation_error_for_every_test() {
    let tests = example_tests();
    let system = br#"(module (import "env" "system" (func)) (func (export "_start")))"#;
    let library = br#"(module (func (export "solve") (param i32) (result i32) local.get 0))"#;
    for runtime in available_runtimes() {
        for (wasm, kind) in [
            (&b"\0asm garbage"[..], "invalid_module"),
            (&b"not wasm at all"[..], "invalid_module"),
            (&system[..], "unauthorized_import"),
            (&library[..], "function_not_found"),
        ] {
            let report = judge(runtime).evaluate(wasm, &tests);
            assert_eq!(verdicts(&report), [CompilationError; 5], "{runtime} {kind}");
            assert_eq!((report.verdict, report.passed), (CompilationError, 0));
            let error = report.compilation_error.as_ref().expect("reported once");
            assert_eq!(error.kind(), kind, "{runtime}: {error}");
            assert!(report.results.iter().all(|result| result.detail.is_none()));
        }
        let rejected = judge(runtime).report_rejected(
            sandbox::SandboxError::InvalidModule {
                reason: "too large".into(),
                offset: None,
            },
            &tests,
        );
        assert_eq!(rejected.verdict, CompilationError);
        assert_eq!(rejected.total, 5);
    }
}

#[test]
fn function_mode_parses_the_input_as_arguments_and_prints_the_results() {
    for runtime in available_runtimes() {
        let judge = judge(runtime).mode(Mode::function("solve"));
        let report = judge.evaluate(&example("solve.wat"), &example_tests());
        assert_eq!(verdicts(&report), [Accepted; 5], "{runtime}: {report:#?}");
        assert_eq!(report.results[3].actual_output, "3000000000\n");

        let tests = [
            TestCase::new(1, "2 2", "5"),
            TestCase::new(2, "two 2", "4"),
            TestCase::new(3, "1 2 3", "3"),
        ];
        let report = judge.evaluate(&example("solve.wat"), &tests);
        assert_eq!(verdicts(&report), [WrongAnswer, RuntimeError, RuntimeError]);
        assert_eq!(report.results[1].error().unwrap().kind(), "type_mismatch");

        // A WASI command has no `solve`.
        let report = judge.evaluate(&example("accepted.wasm"), &tests);
        assert_eq!(
            report.compilation_error.unwrap().kind(),
            "function_not_found"
        );
    }
}

/// `solve(x)`: 0 → 0, 1 → traps, 2 → loops forever, 3 → grows memory without end,
/// 4 → wrong (returns 5), anything else → x.
const VERDICTS_WAT: &str = r#"(module
  (memory 1)
  (func (export "solve") (param $x i64) (result i64)
    (if (i64.eq (local.get $x) (i64.const 1)) (then unreachable))
    (if (i64.eq (local.get $x) (i64.const 2)) (then (loop $l (br $l))))
    (if (i64.eq (local.get $x) (i64.const 3))
      (then (loop $l (drop (memory.grow (i32.const 16))) (br $l))))
    (if (i64.eq (local.get $x) (i64.const 4)) (then (return (i64.const 5))))
    local.get $x))"#;

fn verdict_tests(inputs: &[i64]) -> Vec<TestCase> {
    inputs
        .iter()
        .enumerate()
        .map(|(index, x)| TestCase::new(index, x.to_string(), x.to_string()))
        .collect()
}

#[test]
fn the_overall_verdict_is_the_first_that_is_not_accepted_in_test_order() {
    for runtime in available_runtimes() {
        let judge = judge(runtime).mode(Mode::function("solve"));
        for (inputs, per_test, overall) in [
            (
                &[0, 4, 1, 2, 3][..],
                &[
                    Accepted,
                    WrongAnswer,
                    RuntimeError,
                    TimeLimitExceeded,
                    MemoryLimitExceeded,
                ][..],
                WrongAnswer,
            ),
            (
                &[3, 2, 1, 4, 0],
                &[
                    MemoryLimitExceeded,
                    TimeLimitExceeded,
                    RuntimeError,
                    WrongAnswer,
                    Accepted,
                ],
                MemoryLimitExceeded,
            ),
            (
                &[0, 5, 2],
                &[Accepted, Accepted, TimeLimitExceeded],
                TimeLimitExceeded,
            ),
            (&[0, 6, 7], &[Accepted; 3], Accepted),
        ] {
            let report = judge.evaluate(VERDICTS_WAT.as_bytes(), &verdict_tests(inputs));
            assert_eq!(verdicts(&report), per_test, "{runtime} {inputs:?}");
            assert_eq!(report.verdict, overall, "{runtime} {inputs:?}");
            assert_eq!(
                report.passed,
                per_test.iter().filter(|v| v.is_accepted()).count()
            );
        }
    }
}

#[test]
fn results_come_back_in_test_order_with_several_workers() {
    // Slow tests first, so later tests finish before earlier ones.
    let mut inputs = vec![2, 2, 1, 3];
    inputs.extend(10..300);
    let tests = verdict_tests(&inputs);
    for runtime in available_runtimes() {
        for jobs in [1, 3, 8] {
            let judge = Judge::on(runtime, SandboxConfig::default())
                .fuel(Some(10_000_000))
                .mode(Mode::function("solve"))
                .jobs(jobs);
            let report = judge.evaluate(VERDICTS_WAT.as_bytes(), &tests);
            assert_eq!(report.total, tests.len());
            for (test, result) in tests.iter().zip(&report.results) {
                assert_eq!(result.test_id, test.id, "{runtime} jobs {jobs}");
                if result.passed {
                    assert_eq!(result.actual_output.trim(), test.input);
                }
            }
            assert_eq!(report.passed, tests.len() - 4, "{runtime} jobs {jobs}");
            assert_eq!(report.verdict, TimeLimitExceeded);
        }
    }
}

#[test]
fn progress_is_reported_once_per_test() {
    let tests = verdict_tests(&(0..50).collect::<Vec<_>>());
    let seen = std::sync::atomic::AtomicUsize::new(0);
    let report = Judge::new(SandboxConfig::default())
        .fuel(Some(10_000_000))
        .mode(Mode::function("solve"))
        .jobs(4)
        .evaluate_with_progress(VERDICTS_WAT.as_bytes(), &tests, |_| {
            seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
    assert_eq!(seen.into_inner(), 50);
    assert_eq!(report.verdict, RuntimeError);
}

#[test]
fn hostile_limits_in_test_cases_end_in_verdicts() {
    for runtime in available_runtimes() {
        let tests = [
            TestCase::new(1, "1 2\n", "3\n").with_memory_limit(0),
            TestCase::new(2, "1 2\n", "3\n").with_time_limit(Duration::MAX),
            TestCase::new(3, "1 2\n", "3\n").with_fuel(0),
            TestCase::new(4, "1 2\n", "3\n").with_fuel(u64::MAX),
            TestCase::new(5, "1 2\n", "3\n").with_time_limit(Duration::ZERO),
        ];
        let report = judge(runtime).evaluate(&example("accepted.wasm"), &tests);
        assert_eq!(
            &verdicts(&report)[..4],
            [MemoryLimitExceeded, Accepted, TimeLimitExceeded, Accepted],
            "{runtime}: {report:#?}"
        );
        assert!(matches!(
            report.results[4].verdict,
            TimeLimitExceeded | Accepted
        ));
    }
}

#[test]
fn a_compiled_solution_can_be_judged_again() {
    for runtime in available_runtimes() {
        let judge = judge(runtime);
        let module = judge.compile(&example("accepted.wasm")).unwrap();
        for _ in 0..2 {
            let report = judge.evaluate_compiled(&*module, &example_tests());
            assert_eq!(report.verdict, Accepted);
        }
        let report = judge
            .clone()
            .mode(Mode::function("solve"))
            .evaluate_compiled(&*module, &example_tests());
        assert_eq!(report.verdict, CompilationError);
    }
}

#[test]
fn the_report_serialises_with_the_designs_names() {
    let report = Judge::new(SandboxConfig::default())
        .evaluate(&example("crash.wasm"), &example_tests()[..3]);
    let json = report.to_json();
    for key in [
        "backend",
        "mode",
        "verdict",
        "passed",
        "total",
        "compilation_error",
        "elapsed_ms",
        "results",
    ] {
        assert!(json.get(key).is_some(), "missing {key} in {json}");
    }
    assert_eq!(json["verdict"], "runtime_error");
    assert_eq!(json["mode"], "wasi");
    let first = &json["results"][0];
    for key in [
        "test_id",
        "passed",
        "verdict",
        "expected_output",
        "actual_output",
        "actual_output_truncated",
        "execution_time_ms",
        "memory_used_bytes",
        "fuel_consumed",
        "detail",
    ] {
        assert!(first.get(key).is_some(), "missing {key} in {first}");
    }
    assert_eq!(first["test_id"], 1);
    assert_eq!(first["detail"]["kind"], "trap");
    assert_eq!(first["detail"]["trap"], "integer_divide_by_zero");
    assert_eq!(json["results"][2]["detail"]["kind"], "exit");
    assert_eq!(json["results"][2]["detail"]["code"], 3);

    let wrong = Judge::new(SandboxConfig::default())
        .evaluate(&example("wrong.wasm"), &example_tests()[3..4])
        .to_json();
    let detail = &wrong["results"][0]["detail"];
    assert_eq!(detail["kind"], "difference");
    assert_eq!(detail["line"], 1);
    assert_eq!(detail["expected"], "3000000000");
    let mode = Judge::new(SandboxConfig::default())
        .mode(Mode::function("solve"))
        .evaluate(b"(module)", &example_tests())
        .to_json();
    assert_eq!(mode["mode"]["function"], "solve");
    assert_eq!(mode["compilation_error"]["kind"], "function_not_found");
}

#[test]
fn test_files_parse_in_both_shapes() {
    let tests = example_tests();
    assert_eq!(tests.len(), 5);
    assert_eq!(tests[1].time_limit, Some(Duration::from_secs(1)));
    assert_eq!(tests[3].memory_limit, Some(16 << 20));
    assert_eq!(tests[4].id, "zeros".into());
    assert_eq!(tests[4].fuel, Some(2_000_000_000));
    assert_eq!(tests[0].time_limit, None);

    let array =
        parse_tests(b"\xef\xbb\xbf [{\"id\": \"a\", \"input\": \"\", \"expected_output\": \"\"}]")
            .unwrap();
    assert_eq!(array, [TestCase::new("a", "", "")]);
}

fn refusal(json: &str) -> String {
    match parse_tests(json.as_bytes()) {
        Ok(tests) => panic!("{json} parsed as {tests:?}"),
        Err(err) => err.to_string(),
    }
}

#[test]
fn hostile_test_files_are_refused_with_the_reason() {
    let missing = refusal("{\"tests\": [\n  {\"id\": 1, \"input\": \"1 2\"}\n]}");
    assert!(
        missing.contains("missing field `expected_output`") && missing.contains("line 2"),
        "{missing}"
    );
    let mistyped = refusal(r#"[{"id": 1, "input": 5, "expected_output": "5"}]"#);
    assert!(mistyped.contains("invalid type: integer `5`"), "{mistyped}");
    let misspelt = refusal(r#"[{"id": 1, "input": "", "expected_output": "", "time_limit": 5}]"#);
    assert!(
        misspelt.contains("unknown field `time_limit`"),
        "{misspelt}"
    );
    let negative = refusal(r#"[{"id": 1, "input": "", "expected_output": "", "fuel": -1}]"#);
    assert!(
        negative.contains("invalid value: integer `-1`"),
        "{negative}"
    );
    let zero = refusal(r#"[{"id": 1, "input": "", "expected_output": "", "time_limit_ms": 0}]"#);
    assert!(zero.contains("time_limit_ms must be at least 1"), "{zero}");
    let huge = refusal(
        r#"[{"id": 1, "input": "", "expected_output": "", "time_limit_ms": 18446744073709551615}]"#,
    );
    assert!(huge.contains("above one week"), "{huge}");
    let float_id = refusal(r#"[{"id": 1.5, "input": "", "expected_output": ""}]"#);
    assert!(float_id.contains("a test id"), "{float_id}");
    let duplicate = refusal(
        r#"[{"id": 1, "input": "", "expected_output": ""}, {"id": 1, "input": "", "expected_output": ""}]"#,
    );
    assert!(duplicate.contains("test id 1 is used twice"), "{duplicate}");
    assert!(refusal("[]").contains("no test cases"));
    assert!(refusal(r#"{"tests": []}"#).contains("no test cases"));
    assert!(refusal(r#"{"cases": []}"#).contains("missing field `tests`"));
    assert!(refusal("\"tests\"").contains("found a string"));
    assert!(refusal("42").contains("found a number"));
    let invalid = refusal("{\"tests\": [");
    assert!(invalid.contains("EOF while parsing"), "{invalid}");
    let garbage = refusal("\u{1}\u{2}");
    assert!(garbage.contains("line 1 column 1"), "{garbage}");
    assert!(refusal("").contains("EOF"));
    let deep = refusal(&"[".repeat(100_000));
    assert!(deep.contains("invalid type: sequence"), "{deep}");
    let deep = refusal(&format!("{{\"tests\": {}", "[".repeat(100_000)));
    assert!(deep.contains("invalid type: sequence"), "{deep}");
    assert!(matches!(parse_tests(b"[]"), Err(TestFileError::Empty)));
}

#[test]
fn ten_thousand_tests_get_ten_thousand_results() {
    let tests: Vec<TestCase> = (0..10_000)
        .map(|i| TestCase::new(i, format!("{i} 1"), (i + 1).to_string()))
        .collect();
    let json = serde_json::to_vec(&serde_json::json!({ "tests": tests })).unwrap();
    let parsed = parse_tests(&json).unwrap();
    assert_eq!(parsed, tests);
    let report = Judge::new(SandboxConfig::default())
        .mode(Mode::function("solve"))
        .evaluate(&example("solve.wat"), &parsed);
    assert_eq!((report.passed, report.total), (10_000, 10_000));
}

fn pooled(max_instances: u32) -> SandboxConfig {
    SandboxConfig {
        instance_allocation: sandbox::InstanceAllocation::pooling(max_instances),
        ..SandboxConfig::default()
    }
}

#[test]
fn pooling_judges_the_same_and_never_runs_more_workers_than_slots() {
    for runtime in available_runtimes() {
        let judge = Judge::on(runtime, pooled(2)).jobs(4);
        assert_eq!(judge.worker_count(100), 2);
        let report = judge.evaluate(&example("accepted.wasm"), &example_tests());
        assert_eq!(verdicts(&report), [Accepted; 5], "{runtime}: {report:#?}");
        // Memory limits still hold per test: the slots are sized for the largest limit.
        let report = judge.evaluate(&example("hungry.wasm"), &example_tests());
        assert_eq!(verdicts(&report), [MemoryLimitExceeded; 5], "{runtime}");
        let limit = |index: usize| match report.results[index].error() {
            Some(sandbox::SandboxError::MemoryLimitExceeded { limit, .. }) => *limit,
            other => panic!("{other:?}"),
        };
        assert_eq!((limit(3), limit(0)), (16 << 20, 64 << 20));
    }
    assert_eq!(
        Judge::on(Runtime::Wasmtime, SandboxConfig::default())
            .jobs(4)
            .worker_count(100),
        4
    );
}

#[test]
fn a_judge_on_wasmtime_takes_instances_from_a_pool_by_default() {
    let judge = Judge::on(Runtime::Wasmtime, SandboxConfig::default());
    assert_eq!(
        judge.config().instance_allocation,
        sandbox::judge::default_judge_pool()
    );
    assert!(judge.config().instance_allocation.is_pooling());
    // On demand when asked, and on wasmer (no pooling allocator).
    let on_demand = judge
        .clone()
        .instance_allocation(sandbox::InstanceAllocation::OnDemand);
    assert!(!on_demand.config().instance_allocation.is_pooling());
    let wasmer = Judge::on(Runtime::Wasmer, SandboxConfig::default());
    assert!(!wasmer.config().instance_allocation.is_pooling());
    assert!(!judge
        .clone()
        .runtime(Runtime::Wasmer)
        .config()
        .instance_allocation
        .is_pooling());
    assert!(wasmer
        .runtime(Runtime::Wasmtime)
        .config()
        .instance_allocation
        .is_pooling());
    // An explicit pool is kept.
    assert_eq!(
        Judge::on(Runtime::Wasmtime, pooled(3))
            .config()
            .instance_allocation,
        sandbox::InstanceAllocation::pooling(3)
    );
}

#[test]
fn evaluations_sharing_a_full_pool_wait_for_slots_instead_of_failing() {
    if !available_runtimes().contains(&Runtime::Wasmtime) {
        return;
    }
    // One slot, four evaluations at once on the same engine: each test waits its turn.
    let judge = Judge::on(Runtime::Wasmtime, pooled(1)).jobs(1);
    let wasm = example("accepted.wasm");
    let module = judge.compile(&wasm).unwrap();
    let tests: Vec<TestCase> = (0..50)
        .map(|i| TestCase::new(i, format!("{i} 1\n"), format!("{}\n", i + 1)))
        .collect();
    std::thread::scope(|scope| {
        let runs: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| judge.evaluate_compiled(&*module, &tests)))
            .collect();
        for run in runs {
            let report = run.join().unwrap();
            assert_eq!(report.passed, tests.len(), "{report:#?}");
        }
    });
}
