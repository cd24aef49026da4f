//! WASI programs people have, from outside: reactors, socket-linking programs, preview 0,
//! and denials that explain themselves, on both engines.

mod common;

use common::{fixture, text};
use std::process::{Command, Output};

fn sandbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .args(args)
        .arg("--no-cache")
        .output()
        .expect("the sandbox binary runs")
}

#[test]
fn a_reactor_without_invoke_runs_its_default_export_after_initialize() {
    for backend in ["wasmtime", "wasmer"] {
        let output = sandbox(&["run", &fixture("reactor_default.wat"), "--backend", backend]);
        assert_eq!(output.status.code(), Some(0), "{backend}: {output:?}");
        assert_eq!(text(&output.stdout), "initialized\ndefault export\n");
        // A C reactor's exports see what `_initialize` set up.
        let output = sandbox(&[
            "run",
            &fixture("reactor.wasm"),
            "--invoke",
            "answer",
            "--backend",
            backend,
            "--json",
        ]);
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(json["results"], serde_json::json!([42]), "{backend}");
    }
}

#[test]
fn programs_linking_sockets_run_and_their_calls_fail() {
    for backend in ["wasmtime", "wasmer"] {
        let output = sandbox(&["run", &fixture("sockets.wasm"), "--backend", backend]);
        assert_eq!(output.status.code(), Some(0), "{backend}: {output:?}");
        assert!(
            text(&output.stdout).contains("shutdown(1) ENOTSOCK"),
            "{backend}: {}",
            text(&output.stdout)
        );
    }
}

#[test]
fn preview0_programs_run() {
    for backend in ["wasmtime", "wasmer"] {
        let output = sandbox(&["run", &fixture("preview0.wat"), "--backend", backend]);
        assert_eq!(output.status.code(), Some(7), "{backend}: {output:?}");
        assert_eq!(text(&output.stdout), "hello from preview 0\n");
    }
}

#[test]
fn a_denied_clock_is_named_with_the_flag_that_grants_it() {
    for backend in ["wasmtime", "wasmer"] {
        let output = sandbox(&[
            "run",
            &fixture("clock_abort.wasm"),
            "--backend",
            backend,
            "--clock",
            "deny",
        ]);
        assert_eq!(output.status.code(), Some(134), "{backend}: {output:?}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains(
                "sandbox: the guest's clock_time_get was denied (--clock deny); try --clock virtual"
            ),
            "{backend}: {stderr}"
        );
        // The default clock is virtual: the same program runs.
        let output = sandbox(&["run", &fixture("clock_abort.wasm"), "--backend", backend]);
        assert_eq!(output.status.code(), Some(0), "{backend}: {output:?}");
        assert_eq!(text(&output.stdout), "clock ok\n");
        // JSON names the denial too.
        let output = sandbox(&[
            "run",
            &fixture("clock_abort.wasm"),
            "--backend",
            backend,
            "--clock",
            "deny",
            "--json",
        ]);
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(json["denied"][0]["function"], "clock_time_get", "{backend}");
        assert_eq!(json["denied"][0]["capability"], "clock", "{backend}");
    }
}

#[test]
fn the_demo_shows_every_limit_and_denial_on_every_engine() {
    let output = Command::new(env!("CARGO_BIN_EXE_sandbox"))
        .arg("demo")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let out = text(&output.stdout);
    assert!(out.contains("Every engine enforced every limit."), "{out}");
    assert!(!out.contains('✗'), "{out}");
    // The same module at scale, on every engine.
    assert!(out.contains("At scale: 100000 calls of fib(20)"), "{out}");
    assert_eq!(out.matches(" ns per call; judge: ").count(), 2, "{out}");
    assert_eq!(
        out.matches("denied: the guest's clock_time_get was denied")
            .count(),
        2,
        "{out}"
    );
}
