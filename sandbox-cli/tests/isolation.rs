//! The wall behind the wall: runner processes lock themselves down, and what a guest that
//! broke out of WebAssembly would try first is denied by the kernel. The probes run natively
//! in a real runner (the `sandbox` binary's `runner` command), through a test-only request;
//! one test per probe. A runner that dies of a probe is replaced, and jobs go on.

mod common;

use sandbox_server::exec::{EnginesConfig, Task};
use sandbox_server::runner::probe::Probe;
use sandbox_server::runner::{RunnerDirs, RunnerError, RunnerSettings, RunnerSlot};
use sandbox_server::store::JobKind;
use sandbox_server::ServerConfig;
use serde_json::json;
use std::path::Path;

fn settings() -> RunnerSettings {
    RunnerSettings::new(env!("CARGO_BIN_EXE_sandbox"), &["runner"])
}

fn slot(dir: &Path, settings: RunnerSettings) -> RunnerSlot {
    let config = ServerConfig::new(dir);
    RunnerSlot::new(
        settings,
        EnginesConfig::of(&config),
        RunnerDirs {
            modules: dir.join("modules"),
            cache: dir.join("cache"),
            scratch: dir.join("runners"),
        },
        3,
    )
    .with_probes()
}

/// Puts `source` in the module cache; a task running it with `stdin`.
fn task(dir: &Path, source: &str, stdin: &str) -> Task {
    let sha = sandbox_server::keys::sha256_hex(source.as_bytes());
    std::fs::create_dir_all(dir.join("modules")).unwrap();
    std::fs::write(dir.join("modules").join(format!("{sha}.wasm")), source).unwrap();
    let spec = json!({
        "module": sha, "backend": "wasmtime", "invoke": null, "args": [],
        "stdin": base64(stdin.as_bytes()), "env": [], "argv": [],
        "fuel": 100_000_000u64, "timeout_ms": 5_000, "max_memory_bytes": 1u64 << 30,
        "max_output_bytes": 1 << 20,
    });
    Task {
        tenant_id: 1,
        kind: JobKind::Run,
        spec: spec.to_string(),
        problem: None,
    }
}

fn base64(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| (n << 8) | b as u32) << (8 * (3 - chunk.len()));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The echo job works in `slot` (a fresh runner if the last one died).
fn echo_works(slot: &mut RunnerSlot, dir: &Path) {
    let finished = slot.run(&task(dir, common::ECHO, "still here"));
    assert_eq!(
        finished.result["stdout"], "still here",
        "{:?}",
        finished.result
    );
}

/// A probe the runner survives, denied with `errno`.
fn denied_with(probe: Probe, errno: i32) {
    let dir = tempfile::tempdir().unwrap();
    let mut slot = slot(dir.path(), settings());
    let lockdown = slot.runner().unwrap().lockdown().to_string();
    assert!(lockdown.contains("Landlock (fully enforced)"), "{lockdown}");
    assert!(lockdown.contains("seccomp"), "{lockdown}");
    let report = slot.probe(&probe).expect("the runner survives");
    assert!(
        report.starts_with(&format!("denied: errno {errno} ")),
        "{probe:?}: {report}"
    );
    echo_works(&mut slot, dir.path());
    assert_eq!(slot.started, 1);
}

/// A probe that kills the runner (seccomp: SIGSYS); the next job runs in a new one.
fn killed_by_seccomp(probe: Probe) {
    let dir = tempfile::tempdir().unwrap();
    let mut slot = slot(dir.path(), settings());
    let first = slot.runner().unwrap().pid();
    match slot.probe(&probe) {
        Err(RunnerError::Died(how)) => assert!(how.contains("SIGSYS"), "{probe:?}: {how}"),
        other => panic!("{probe:?} was not stopped by the kernel: {other:?}"),
    }
    echo_works(&mut slot, dir.path());
    assert_eq!(slot.started, 2, "the runner was replaced");
    assert_ne!(slot.pid(), Some(first));
}

#[test]
fn reading_a_file_outside_the_allowed_set_is_denied() {
    denied_with(Probe::OpenOutside("/etc/passwd".into()), libc_eacces());
}

#[test]
fn writing_a_file_outside_the_allowed_set_is_denied() {
    let outside = std::env::temp_dir().join(format!("escape-{}", std::process::id()));
    denied_with(Probe::CreateOutside(outside.clone()), libc_eacces());
    assert!(!outside.exists());
}

#[test]
fn execve_kills_the_runner() {
    killed_by_seccomp(Probe::Execve("/bin/true".into()));
}

#[test]
fn opening_a_socket_kills_the_runner() {
    killed_by_seccomp(Probe::Socket);
}

#[test]
fn forking_kills_the_runner() {
    killed_by_seccomp(Probe::Fork);
}

#[test]
fn signalling_the_worker_kills_the_runner() {
    killed_by_seccomp(Probe::KillParent);
}

fn libc_eacces() -> i32 {
    13
}

#[test]
fn a_runner_past_its_memory_ceiling_is_replaced_and_the_job_fails_after_its_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings();
    settings.memory_ceiling_bytes = 96 << 20;
    let mut slot = slot(dir.path(), settings);
    // 256 MiB of linear memory, touched, then a loop until the time limit.
    let hog = r#"(module
        (memory 4096)
        (func (export "_start")
            (memory.fill (i32.const 0) (i32.const 1) (i32.const 268435456))
            (loop $spin (br $spin))))"#;
    let finished = slot.run(&task(dir.path(), hog, ""));
    assert_eq!(finished.outcome, "internal_error", "{:?}", finished.result);
    let message = finished.result["outcome"]["message"].as_str().unwrap();
    assert!(
        message.contains("ceiling") && message.contains("3 times"),
        "{message}"
    );
    assert_eq!(slot.started, 3);
    // The worker goes on with a fresh runner.
    echo_works(&mut slot, dir.path());
    assert_eq!(slot.started, 4);
}

#[test]
fn runners_are_replaced_after_their_job_bound_invisibly_to_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings();
    settings.max_jobs = 3;
    let mut slot = slot(dir.path(), settings);
    for n in 0..7 {
        let finished = slot.run(&task(dir.path(), common::ECHO, &format!("job {n}")));
        assert_eq!(finished.result["stdout"], format!("job {n}"));
    }
    assert_eq!(slot.started, 3, "jobs 1-3, 4-6, 7");
}
