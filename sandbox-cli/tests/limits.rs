//! Every limit that ends a run names the flag that raises it, in `sandbox run`'s text report
//! and in the `sandbox:` line after a WASI command's output, on every engine; and `sandbox run
//! --deterministic-time` turns --timeout into fuel. (`sandbox judge`'s messages are tested in
//! `judge.rs`.)

mod common;

use common::{fixture, sandbox, text};
use std::path::PathBuf;
use std::process::Output;

const BACKENDS: [&str; 2] = ["wasmtime", "wasmer"];

#[test]
fn each_limit_of_run_names_its_flag() {
    let cases: [(&[&str], u8, &str); 6] = [
        (
            &["loops.wat", "--invoke", "heavy", "100000", "--fuel", "1000"],
            125,
            "raise it with --fuel N (or --fuel none to meter no fuel)",
        ),
        (
            &[
                "loops.wat",
                "--invoke",
                "spin",
                "--fuel",
                "none",
                "--timeout",
                "50ms",
            ],
            124,
            "raise it with --timeout",
        ),
        (
            &[
                "memory_64mib.wat",
                "--invoke",
                "main",
                "--max-memory",
                "1MiB",
            ],
            137,
            "raise it with --max-memory",
        ),
        (
            &["table_huge.wat", "--invoke", "main"],
            137,
            "raise it with --max-table-elements",
        ),
        (
            &[
                "traps.wat",
                "--invoke",
                "stack_overflow",
                "0",
                "--fuel",
                "none",
            ],
            134,
            "raise it with --max-stack",
        ),
        (
            &["flood.wasm", "--max-output", "1KiB"],
            120,
            "raise it with --max-output",
        ),
    ];
    for backend in BACKENDS {
        for (args, status, hint) in cases {
            let mut full = vec!["run".to_string(), fixture(args[0])];
            full.extend(args[1..].iter().map(|arg| arg.to_string()));
            full.extend(["--backend".to_string(), backend.to_string()]);
            let full: Vec<&str> = full.iter().map(String::as_str).collect();
            let output = sandbox(&full);
            assert_eq!(
                output.status.code(),
                Some(status.into()),
                "{full:?}: {output:?}"
            );
            // A WASI command's report is the `sandbox:` line on stderr; a call's the Outcome.
            let message = if args.contains(&"--invoke") {
                text(&output.stdout)
            } else {
                text(&output.stderr)
            };
            assert!(message.contains(hint), "{backend} {args:?}: {message}");
        }
    }
    // Side by side too.
    let output = sandbox(&[
        "run",
        &fixture("loops.wat"),
        "--invoke",
        "heavy",
        "100000",
        "--fuel",
        "1000",
        "--backend",
        "all",
    ]);
    assert!(
        text(&output.stdout).contains("fuel_exhausted: raise it with --fuel N"),
        "{output:?}"
    );
}

#[test]
fn the_limit_flag_of_a_wasi_command_follows_its_output() {
    for backend in BACKENDS {
        let output = sandbox(&[
            "run",
            &fixture("spin_output.wasm"),
            "--fuel",
            "2000000",
            "--backend",
            backend,
        ]);
        assert_eq!(output.status.code(), Some(125), "{output:?}");
        assert_eq!(text(&output.stdout), "partial stdout\n");
        let stderr = text(&output.stderr);
        assert!(stderr.starts_with("partial stderr\n"), "{stderr}");
        assert!(
            stderr.contains(
                "sandbox: fuel_exhausted (fuel exhausted: used 2000000 of 2000000; raise it \
                 with --fuel N (or --fuel none to meter no fuel))"
            ),
            "{stderr}"
        );
    }
}

#[test]
fn run_with_deterministic_time_turns_the_timeout_into_fuel() {
    let dir = std::env::temp_dir().join(format!("sandbox-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("input.txt");
    std::fs::write(&input, "1 2\n").unwrap();
    let input = input.to_str().unwrap();
    let slow = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/judge/slow.wasm")
        .display()
        .to_string();
    let run = |backend: &str, extra: &[&str]| -> Output {
        let mut args = vec![
            "run",
            &slow,
            "--stdin",
            input,
            "--timeout",
            "20ms",
            "--deterministic-time",
            "--backend",
            backend,
        ];
        args.extend_from_slice(extra);
        sandbox(&args)
    };
    let mut fuel = Vec::new();
    for backend in BACKENDS {
        for _ in 0..2 {
            let output = run(backend, &["--json"]);
            assert_eq!(output.status.code(), Some(125), "{output:?}");
            let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
            assert_eq!(json["outcome"]["kind"], "fuel_exhausted", "{json}");
            fuel.push(json["fuel_consumed"].as_u64().unwrap());
        }
        let stderr = text(&run(backend, &[]).stderr);
        assert!(
            stderr.contains("raise it with --timeout (deterministic time converts it to fuel)"),
            "{stderr}"
        );
    }
    fuel.dedup();
    assert_eq!(
        fuel.len(),
        1,
        "the same fuel on every run and engine: {fuel:?}"
    );
    // --fuel caps the converted budget, and is then the limit named.
    let output = run("wasmtime", &["--fuel", "1000000"]);
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("used 1000000 of 1000000; raise it with --fuel N"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
