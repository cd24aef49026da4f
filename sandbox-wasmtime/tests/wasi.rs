//! Backend-level smoke tests of WASI on wasmtime; the full contract is in conformance-tests.

use sandbox_core::{ClockPolicy, Outcome, Sandbox, SandboxConfig, SandboxError};
use sandbox_wasmtime::WasmtimeSandbox;
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../conformance-tests/fixtures")
            .join(name),
    )
    .unwrap()
}

fn run(name: &str, config: SandboxConfig) -> sandbox_core::ExecutionResult {
    let sandbox = WasmtimeSandbox::new(config.clone()).unwrap();
    let module = sandbox.load(&fixture(name)).unwrap();
    match module.instantiate(&config) {
        Ok(mut instance) => instance.call("_start", &[]).unwrap(),
        Err(report) => *report,
    }
}

#[test]
fn stdin_to_stdout() {
    let result = run(
        "sum.wasm",
        SandboxConfig {
            stdin: b"5 7".to_vec(),
            ..SandboxConfig::default()
        },
    );
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(result.stdout, b"12\n");
}

#[test]
fn exit_codes_and_output_caps() {
    let result = run(
        "hello.wasm",
        SandboxConfig {
            args: vec!["4".into()],
            ..SandboxConfig::default()
        },
    );
    assert_eq!(result.outcome, Outcome::Exit { code: 4 });
    let result = run(
        "flood.wasm",
        SandboxConfig {
            max_output_bytes: 1000,
            ..SandboxConfig::default()
        },
    );
    assert_eq!(
        result.outcome,
        Outcome::Failed(SandboxError::OutputLimitExceeded {
            stream: "stdout".into(),
            limit: 1000
        })
    );
    assert_eq!(result.stdout.len(), 1000);
}

#[test]
fn clocks_follow_the_policy() {
    let denied = run(
        "time_random.wasm",
        SandboxConfig {
            clock: ClockPolicy::Deny,
            ..SandboxConfig::default()
        },
    );
    // Two distinct denials: clock_time_get (read twice) and random_get.
    assert_eq!(denied.denied.len(), 2, "{:?}", denied.denied);
    assert_eq!(
        String::from_utf8_lossy(&denied.stdout),
        "realtime denied\nmonotonic denied\nrandom denied\n"
    );
    let config = SandboxConfig {
        clock: ClockPolicy::Virtual,
        ..SandboxConfig::default()
    };
    let a = run("time_random.wasm", config.clone());
    let b = run("time_random.wasm", config);
    assert_eq!(a.stdout, b.stdout);
    assert!(String::from_utf8_lossy(&a.stdout).starts_with("realtime 946684800."));
}
