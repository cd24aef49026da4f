//! WASI preview 1 and host functions on the wasmer backend, with the C fixtures of the
//! conformance suite.

use sandbox_core::{
    ClockPolicy, CompiledModule, ExecutionResult, FuncSignature, HostError, HostFunction, Outcome,
    Preopen, Sandbox, SandboxConfig, SandboxError, Trap, ValType, WasmValue,
};
use sandbox_wasmer::WasmerSandbox;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../conformance-tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

fn load(name: &str, config: &SandboxConfig) -> Arc<dyn CompiledModule> {
    WasmerSandbox::new(config.clone())
        .expect("valid config")
        .load(&fixture(name))
        .unwrap_or_else(|err| panic!("{name} loads: {err}"))
}

/// Instantiates `name` and runs `_start`.
fn run_command(name: &str, config: &SandboxConfig) -> ExecutionResult {
    let module = load(name, config);
    match module.instantiate(config) {
        Ok(mut instance) => instance.call("_start", &[]).expect("_start is callable"),
        Err(report) => *report,
    }
}

fn wasi_config() -> SandboxConfig {
    SandboxConfig {
        max_fuel: Some(1_000_000_000),
        ..SandboxConfig::default()
    }
}

fn stdout(result: &ExecutionResult) -> String {
    String::from_utf8_lossy(&result.stdout).into_owned()
}

fn stderr(result: &ExecutionResult) -> String {
    String::from_utf8_lossy(&result.stderr).into_owned()
}

fn error_of(result: &ExecutionResult) -> SandboxError {
    match &result.outcome {
        Outcome::Failed(err) => err.clone(),
        other => panic!("expected a failure, got {other:?} ({result:?})"),
    }
}

#[test]
fn capabilities_include_wasi() {
    let sandbox = WasmerSandbox::new(SandboxConfig::default()).unwrap();
    assert!(sandbox.capabilities().wasi);
    assert!(!sandbox.capabilities().network);
}

#[test]
fn sum_reads_stdin() {
    let config = SandboxConfig {
        stdin: b"40 2\n".to_vec(),
        ..wasi_config()
    };
    let result = run_command("sum.wasm", &config);
    assert_eq!(result.outcome, Outcome::Ok, "{result:?}");
    assert_eq!(stdout(&result), "42\n");
    assert!(result.stderr.is_empty());
    assert!(result.fuel_consumed.is_some_and(|fuel| fuel > 0));

    // Nothing on stdin: the guest reports it and exits with 2.
    let result = run_command("sum.wasm", &wasi_config());
    assert_eq!(result.outcome, Outcome::Exit { code: 2 });
    assert_eq!(stderr(&result), "expected two integers on stdin\n");

    // Metering still applies.
    let config = SandboxConfig {
        stdin: b"40 2\n".to_vec(),
        max_fuel: Some(1_000),
        ..SandboxConfig::default()
    };
    let result = run_command("sum.wasm", &config);
    assert_eq!(error_of(&result).kind(), "fuel_exhausted", "{result:?}");
}

#[test]
fn args_env_and_exit_code() {
    let config = SandboxConfig {
        program_name: "hello".into(),
        args: vec!["3".into(), "two words".into()],
        env: vec![("GREETING".into(), "bonjour".into())],
        ..wasi_config()
    };
    let result = run_command("hello.wasm", &config);
    assert_eq!(result.outcome, Outcome::Exit { code: 3 });
    assert_eq!(result.exit_code(), Some(3));
    assert_eq!(
        stdout(&result),
        "hello from wasi\nargv[0]=hello\nargv[1]=3\nargv[2]=two words\nGREETING=bonjour\n"
    );
    assert_eq!(stderr(&result), "to stderr\n");
    assert!(!result.stdout_truncated && !result.stderr_truncated);

    // Nothing of the host's environment is inherited (the test runner's PATH, HOME, ... are
    // not listed either), and main returning 0 is a normal return.
    let result = run_command("hello.wasm", &wasi_config());
    assert_eq!(result.outcome, Outcome::Ok);
    assert!(stdout(&result).contains("argv[0]=main.wasm\nGREETING=(unset)\n"));
}

#[test]
fn proc_exit_reports_the_code_even_zero() {
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1)
      (func (export "zero") i32.const 0 call $exit)
      (func (export "big") i32.const 300 call $exit)
      (func (export "returns") (result i32) i32.const 7))"#;
    let config = wasi_config();
    let module = WasmerSandbox::new(config.clone())
        .unwrap()
        .load(wat.as_bytes())
        .unwrap();
    let mut instance = module.instantiate(&config).unwrap();
    let result = instance.call("zero", &[]).unwrap();
    assert_eq!(result.outcome, Outcome::Exit { code: 0 });
    assert!(result.outcome.is_success());
    let result = instance.call("big", &[]).unwrap();
    assert_eq!(result.outcome, Outcome::Exit { code: 300 });
    let result = instance.call("returns", &[]).unwrap();
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(result.return_values, vec![WasmValue::I32(7)]);
}

/// Peak resident set of this process, in bytes.
fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kib| kib * 1024)
}

#[test]
fn a_gibibyte_flood_stops_at_the_output_limit() {
    for stream in ["stdout", "stderr"] {
        let limit = 100_000;
        let config = SandboxConfig {
            max_output_bytes: limit,
            max_fuel: None,
            max_execution_time: Duration::from_secs(20),
            args: vec![stream.into()],
            ..SandboxConfig::default()
        };
        let before = peak_rss();
        let started = Instant::now();
        let result = run_command("flood.wasm", &config);
        let took = started.elapsed();
        assert_eq!(
            error_of(&result),
            SandboxError::OutputLimitExceeded {
                stream: stream.into(),
                limit
            }
        );
        let (kept, truncated, other, other_truncated) = if stream == "stdout" {
            (
                &result.stdout,
                result.stdout_truncated,
                &result.stderr,
                result.stderr_truncated,
            )
        } else {
            (
                &result.stderr,
                result.stderr_truncated,
                &result.stdout,
                result.stdout_truncated,
            )
        };
        assert_eq!(kept.len() as u64, limit);
        assert!(kept.iter().all(|&b| b == b'x'));
        assert!(truncated);
        assert!(other.is_empty() && !other_truncated);
        assert!(took < Duration::from_secs(5), "took {took:?}");
        let grew = peak_rss().saturating_sub(before);
        assert!(grew < 256 << 20, "the host grew by {grew} bytes");
    }
}

#[test]
fn the_output_cap_is_per_instance_and_exact() {
    // Writes "hello\n" per call; a cap of 15 bytes lets two calls through whole.
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "fd_write"
        (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "\08\00\00\00\06\00\00\00")
      (data (i32.const 8) "hello\n")
      (func (export "say") (result i32)
        (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 100))))"#;
    let config = SandboxConfig {
        max_output_bytes: 15,
        ..wasi_config()
    };
    let module = WasmerSandbox::new(config.clone())
        .unwrap()
        .load(wat.as_bytes())
        .unwrap();
    let mut instance = module.instantiate(&config).unwrap();
    for _ in 0..2 {
        let result = instance.call("say", &[]).unwrap();
        assert_eq!(result.return_values, vec![WasmValue::I32(0)]);
        assert_eq!(result.stdout, b"hello\n");
        assert!(!result.stdout_truncated);
    }
    let result = instance.call("say", &[]).unwrap();
    assert_eq!(error_of(&result).kind(), "output_limit_exceeded");
    assert_eq!(result.stdout, b"hel");
    assert!(result.stdout_truncated);
    let result = instance.call("say", &[]).unwrap();
    assert_eq!(error_of(&result).kind(), "output_limit_exceeded");
    assert!(result.stdout.is_empty() && result.stdout_truncated);
}

#[test]
fn a_timed_out_run_keeps_its_output() {
    let config = SandboxConfig {
        max_fuel: None,
        max_execution_time: Duration::from_millis(200),
        ..SandboxConfig::default()
    };
    let result = run_command("spin_output.wasm", &config);
    match error_of(&result) {
        SandboxError::TimeLimitExceeded { elapsed, limit } => {
            assert_eq!(limit, Duration::from_millis(200));
            assert!(elapsed >= limit && elapsed < limit + Duration::from_secs(2));
        }
        other => panic!("{other}"),
    }
    assert_eq!(stdout(&result), "partial stdout\n");
    assert_eq!(stderr(&result), "partial stderr\n");

    // Same with fuel: the budget runs out instead, the output is kept.
    let config = SandboxConfig {
        max_fuel: Some(5_000_000),
        max_execution_time: Duration::from_secs(30),
        ..SandboxConfig::default()
    };
    let result = run_command("spin_output.wasm", &config);
    assert_eq!(error_of(&result).kind(), "fuel_exhausted");
    assert_eq!(stdout(&result), "partial stdout\n");
}

#[test]
fn a_start_function_reports_its_output_when_instantiation_fails() {
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "fd_write"
        (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "\08\00\00\00\03\00\00\00")
      (data (i32.const 8) "hi\n")
      (func $start
        (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 100)))
        unreachable)
      (start $start))"#;
    let config = wasi_config();
    let module = WasmerSandbox::new(config.clone())
        .unwrap()
        .load(wat.as_bytes())
        .unwrap();
    let report = module.instantiate(&config).err().unwrap();
    assert_eq!(error_of(&report).trap(), Some(Trap::Unreachable));
    assert_eq!(report.stderr, b"hi\n");
}

#[test]
fn clock_policies() {
    let virtual_config = SandboxConfig {
        clock: ClockPolicy::Virtual,
        random_seed: 42,
        ..wasi_config()
    };
    let first = run_command("time_random.wasm", &virtual_config);
    let second = run_command("time_random.wasm", &virtual_config);
    assert_eq!(first.outcome, Outcome::Ok);
    assert_eq!(first.stdout, second.stdout);
    let text = stdout(&first);
    assert!(text.starts_with("realtime 946684800."), "{text}");
    assert!(text.contains("monotonic 0."), "{text}");
    assert!(text.contains("random "), "{text}");
    let other_seed = run_command(
        "time_random.wasm",
        &SandboxConfig {
            random_seed: 43,
            ..virtual_config.clone()
        },
    );
    assert_ne!(other_seed.stdout, first.stdout);

    let denied = run_command(
        "time_random.wasm",
        &SandboxConfig {
            clock: ClockPolicy::Deny,
            ..wasi_config()
        },
    );
    assert_eq!(denied.outcome, Outcome::Ok);
    assert_eq!(
        stdout(&denied),
        "realtime denied\nmonotonic denied\nrandom denied\n"
    );

    let real = run_command(
        "time_random.wasm",
        &SandboxConfig {
            clock: ClockPolicy::Real,
            ..wasi_config()
        },
    );
    let text = stdout(&real);
    let seconds: u64 = text
        .strip_prefix("realtime ")
        .and_then(|rest| rest.split('.').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(seconds.abs_diff(now) < 60, "{text}");
    assert!(!text.contains("denied"), "{text}");
}

#[test]
fn a_real_sleep_ends_at_the_time_limit() {
    // poll_oneoff with one clock subscription of 10 s, under the real clock and a 300 ms limit.
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "poll_oneoff"
        (func $poll (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      ;; subscription at 0: userdata 0, tag 0 (clock), clock id 1 (monotonic),
      ;; timeout 10 s, precision 0, flags 0 (relative)
      (data (i32.const 8) "\00")
      (data (i32.const 16) "\01\00\00\00")
      (data (i32.const 24) "\00\e4\0b\54\02\00\00\00")
      (func (export "sleep") (result i32)
        (call $poll (i32.const 0) (i32.const 256) (i32.const 1) (i32.const 512))))"#;
    let config = SandboxConfig {
        clock: ClockPolicy::Real,
        max_fuel: None,
        max_execution_time: Duration::from_millis(300),
        ..SandboxConfig::default()
    };
    let module = WasmerSandbox::new(config.clone())
        .unwrap()
        .load(wat.as_bytes())
        .unwrap();
    let mut instance = module.instantiate(&config).unwrap();
    let started = Instant::now();
    let result = instance.call("sleep", &[]).unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        error_of(&result).kind(),
        "time_limit_exceeded",
        "{result:?}"
    );
}

#[test]
fn a_real_sleep_ends_for_a_cancel() {
    // As `a_real_sleep_ends_at_the_time_limit`, under a 60 s limit: a request ends the sleep
    // early and the run is stopped as cancelled. `env::started` tells the canceller the guest
    // is about to sleep.
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "poll_oneoff"
        (func $poll (param i32 i32 i32 i32) (result i32)))
      (import "env" "started" (func $started))
      (memory (export "memory") 1)
      (data (i32.const 8) "\00")
      (data (i32.const 16) "\01\00\00\00")
      (data (i32.const 24) "\00\e4\0b\54\02\00\00\00")
      (func (export "sleep") (result i32)
        (call $started)
        (call $poll (i32.const 0) (i32.const 256) (i32.const 1) (i32.const 512))))"#;
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut config = SandboxConfig {
        clock: ClockPolicy::Real,
        max_fuel: None,
        max_execution_time: Duration::from_secs(60),
        ..SandboxConfig::default()
    };
    let flag = started.clone();
    config.host_functions.define(HostFunction::new(
        "env",
        "started",
        FuncSignature::new([], []),
        move |_, _| {
            flag.store(true, std::sync::atomic::Ordering::SeqCst);
            Ok(vec![])
        },
    ));
    let module = WasmerSandbox::new(config.clone())
        .unwrap()
        .load(wat.as_bytes())
        .unwrap();
    let mut instance = module.instantiate(&config).unwrap();
    let handle = instance.cancel_handle();
    let canceller = std::thread::spawn(move || {
        while !started.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(50));
        handle.cancel();
    });
    let result = instance.call("sleep", &[]).unwrap();
    canceller.join().unwrap();
    match error_of(&result) {
        SandboxError::Cancelled { elapsed } => {
            assert!(elapsed >= Duration::from_millis(50), "{elapsed:?}");
            assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
        }
        other => panic!("expected cancelled, got {other}"),
    }
}

/// A scratch directory laid out as files.wasm expects: `ro/` (data.txt, sub/, link-out ->
/// ../secret.txt), `rw/`, and `secret.txt` beside them.
struct Scratch {
    root: PathBuf,
}

impl Scratch {
    fn new(tag: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let root = std::env::temp_dir().join(format!(
            "sandbox-wasmer-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(root.join("ro/sub")).unwrap();
        std::fs::create_dir_all(root.join("rw")).unwrap();
        std::fs::write(root.join("ro/data.txt"), "read-only data\n").unwrap();
        std::fs::write(root.join("secret.txt"), "host secret\n").unwrap();
        std::os::unix::fs::symlink("../secret.txt", root.join("ro/link-out")).unwrap();
        Scratch { root }
    }

    fn config(&self, actions: &[&str]) -> SandboxConfig {
        SandboxConfig {
            allow_filesystem: true,
            preopens: vec![
                Preopen {
                    host: self.root.join("ro"),
                    guest: "/ro".into(),
                    writable: false,
                },
                Preopen {
                    host: self.root.join("rw"),
                    guest: "/rw".into(),
                    writable: true,
                },
            ],
            args: actions.iter().map(|a| a.to_string()).collect(),
            ..wasi_config()
        }
    }

    /// Bytes and modification time of the host files the guest must not change.
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>, SystemTime)> {
        ["ro/data.txt", "secret.txt", "ro/sub"]
            .iter()
            .map(|name| {
                let path = self.root.join(name);
                let bytes = if path.is_file() {
                    std::fs::read(&path).unwrap()
                } else {
                    Vec::new()
                };
                let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
                (path, bytes, mtime)
            })
            .collect()
    }

    fn listing(&self, dir: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root.join(dir))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

#[test]
fn preopens_allow_reads_and_writes_where_granted() {
    let scratch = Scratch::new("rw");
    let result = run_command("files.wasm", &scratch.config(&["read-ro", "write-rw"]));
    assert_eq!(result.outcome, Outcome::Ok, "{result:?}");
    assert_eq!(
        stdout(&result),
        "  content: read-only data\nread-ro ok\nwrite-rw ok\n"
    );
    assert_eq!(
        std::fs::read_to_string(scratch.root.join("rw/out.txt")).unwrap(),
        "written by the guest\n"
    );
}

#[test]
fn preopens_deny_every_escape_and_every_write_to_read_only() {
    let scratch = Scratch::new("escape");
    let before = scratch.snapshot();
    let ro_before = scratch.listing("ro");
    // The mtime check needs a visible tick between setup and the run.
    std::thread::sleep(Duration::from_millis(20));
    let actions = [
        "read-parent",
        "read-dotdot-chain",
        "read-absolute",
        "read-symlink-out",
        "read-trailing-slash",
        "make-symlink-out",
        "truncate-ro",
        "write-ro",
        "create-ro",
        "mkdir-ro",
        "unlink-ro",
        "rename-ro-to-rw",
        "rename-rw-to-ro",
        "link-ro-to-rw",
        "setsize-ro",
        "settimes-ro",
    ];
    for action in actions {
        let result = run_command("files.wasm", &scratch.config(&[action]));
        assert_eq!(result.outcome, Outcome::Ok, "{action}: {result:?}");
        let text = stdout(&result);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            !text.contains("content:"),
            "{action} read something: {text}"
        );
        assert!(
            lines.iter().all(|line| line.contains(" denied (")),
            "{action} was allowed: {text}"
        );
        assert!(
            lines.iter().any(|line| line.starts_with(action)),
            "{action}: {text}"
        );
    }
    assert_eq!(scratch.snapshot(), before, "a host file changed");
    assert_eq!(scratch.listing("ro"), ro_before);
    // rename-rw-to-ro created its source in rw (allowed); nothing else reached rw.
    assert_eq!(scratch.listing("rw"), vec!["planted.txt".to_string()]);
}

#[test]
fn no_filesystem_without_preopens() {
    let scratch = Scratch::new("none");
    let config = SandboxConfig {
        args: vec!["read-ro".into(), "read-absolute".into(), "write-rw".into()],
        ..wasi_config()
    };
    let result = run_command("files.wasm", &config);
    assert_eq!(result.outcome, Outcome::Ok);
    let text = stdout(&result);
    assert_eq!(text.matches(" denied (").count(), 3, "{text}");
    drop(scratch);
}

#[test]
fn bad_preopens_are_reported() {
    let scratch = Scratch::new("bad");
    let mut config = scratch.config(&[]);
    let module = load("files.wasm", &config);
    config.preopens[0].guest = "/a/../b".into();
    assert_eq!(
        WasmerSandbox::new(config.clone()).err().unwrap().kind(),
        "unsupported"
    );
    let report = module.instantiate(&config).err().unwrap();
    assert_eq!(error_of(&report).kind(), "unsupported");
    // Nested and root guest paths are fine.
    config.preopens[0].guest = "/a/b".into();
    config.preopens[1].guest = "/".into();
    assert!(module.instantiate(&config).is_ok());
}

/// Descriptor 3 and the preopens as a raw guest sees them: `rights(fd)` is the descriptor's
/// `fs_rights_base`, `inheriting(fd)` its `fs_rights_inheriting`, `name(fd)` its preopen name's length times 256 plus its first byte (or
/// minus the errno).
const RAW_PREOPENS: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_fdstat_get"
    (func $fdstat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get"
    (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name"
    (func $dir_name (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "rights") (param $fd i32) (result i64)
    (local $err i32)
    (local.set $err (call $fdstat (local.get $fd) (i32.const 64)))
    (if (result i64) (local.get $err)
      (then (i64.sub (i64.const 0) (i64.extend_i32_u (local.get $err))))
      (else (i64.load (i32.const 72)))))
  (func (export "inheriting") (param $fd i32) (result i64)
    (local $err i32)
    (local.set $err (call $fdstat (local.get $fd) (i32.const 64)))
    (if (result i64) (local.get $err)
      (then (i64.sub (i64.const 0) (i64.extend_i32_u (local.get $err))))
      (else (i64.load (i32.const 80)))))
  (func (export "name") (param $fd i32) (result i32)
    (local $err i32)
    (local.set $err (call $prestat (local.get $fd) (i32.const 128)))
    (if (local.get $err) (then (return (i32.sub (i32.const 0) (local.get $err)))))
    (local.set $err (call $dir_name (local.get $fd) (i32.const 256) (i32.load (i32.const 132))))
    (if (local.get $err) (then (return (i32.sub (i32.const 0) (local.get $err)))))
    (i32.add (i32.mul (i32.load (i32.const 132)) (i32.const 256)) (i32.load8_u (i32.const 256)))))"#;

#[test]
fn a_root_preopen_is_descriptor_3_with_its_own_rights() {
    let scratch = Scratch::new("root-fd");
    const FD_WRITE: i64 = 1 << 6;
    const PATH_CREATE_FILE: i64 = 1 << 10;
    for root_writable in [false, true] {
        let mut config = scratch.config(&[]);
        config.preopens[0].guest = "/".into();
        config.preopens[0].writable = root_writable;
        config.preopens.push(Preopen {
            host: scratch.root.join("ro/sub"),
            guest: "/deep/sub".into(),
            writable: false,
        });
        let module = WasmerSandbox::new(config.clone())
            .unwrap()
            .load(RAW_PREOPENS.as_bytes())
            .unwrap();
        let mut instance = module.instantiate(&config).unwrap();
        let mut call = |func: &str, fd: i32| -> i64 {
            let result = instance.call(func, &[WasmValue::I32(fd)]).unwrap();
            match result.return_values[..] {
                [WasmValue::I32(v)] => i64::from(v),
                [WasmValue::I64(v)] => v,
                ref other => panic!("{other:?}"),
            }
        };
        // The root, then the others in order, without a gap: `/`, `/rw`, `/deep/sub`.
        assert_eq!(call("name", 3), 256 + i64::from(b'/'));
        assert_eq!(call("name", 4), 3 * 256 + i64::from(b'/'));
        assert_eq!(call("name", 5), 9 * 256 + i64::from(b'/'));
        assert!(call("name", 6) < 0, "no fourth preopen");
        // Files opened beneath a writable preopen may be written (`fd_write` is inherited);
        // the directories themselves are not written to (no `fd_write` in their base rights,
        // as on wasmtime, so that reopening one with its own rights works).
        let root = call("rights", 3);
        assert!(root >= 0);
        assert_eq!(root & FD_WRITE, 0, "{root:#x}");
        assert_eq!(root & PATH_CREATE_FILE != 0, root_writable, "{root:#x}");
        let inheriting = call("inheriting", 3);
        assert_eq!(inheriting & FD_WRITE != 0, root_writable, "{inheriting:#x}");
        assert_ne!(call("inheriting", 4) & FD_WRITE, 0, "/rw is writable");
        assert_eq!(
            call("inheriting", 5) & FD_WRITE,
            0,
            "/deep/sub is read-only"
        );
        assert_eq!(
            call("rights", 5) & PATH_CREATE_FILE,
            0,
            "/deep/sub is read-only"
        );
    }
}

#[test]
fn a_read_only_root_preopen_refuses_writes_through_descriptor_3() {
    let scratch = Scratch::new("root-raw");
    let mut config = scratch.config(&[]);
    config.preopens[0].guest = "/".into();
    let module = WasmerSandbox::new(config.clone())
        .unwrap()
        .load(RAW_FS.as_bytes())
        .unwrap();
    let mut instance = module.instantiate(&config).unwrap();
    let before = scratch.snapshot();
    let mut open = |path: (i64, i64), oflags: i64, rights: i64| -> i32 {
        let args = [
            WasmValue::I32(3),
            WasmValue::I32(path.0 as i32),
            WasmValue::I32(path.1 as i32),
            WasmValue::I32(oflags as i32),
            WasmValue::I64(rights),
        ];
        let result = instance.call("open", &args).unwrap();
        match result.return_values[..] {
            [WasmValue::I32(errno)] => errno,
            ref other => panic!("{other:?}"),
        }
    };
    const TRUNC: i64 = 8;
    const CREAT: i64 = 1;
    const READ: i64 = 1 << 1;
    const WRITE: i64 = 1 << 6;
    const PERM: i32 = 63;
    let data = (1040, 8);
    assert_eq!(open(data, 0, READ), 0, "reading is granted");
    assert_eq!(open(data, TRUNC, READ | WRITE), PERM);
    assert_eq!(open(data, 0, WRITE), PERM);
    assert_eq!(open((1344, 4), CREAT, READ | WRITE), PERM, "evil");
    // `..` past the root preopen and absolute paths: refused as on wasmtime.
    assert_eq!(open((1072, 13), 0, READ), PERM, "../secret.txt");
    assert_eq!(open((1232, 11), 0, READ), PERM, "/etc/passwd");
    assert_eq!(scratch.snapshot(), before, "a host file changed");
}

/// What `env::log` received, with the fuel consumed it saw.
type Log = Arc<Mutex<Vec<(String, Option<u64>)>>>;

/// The host functions of host_log.wat, recording what `log` received and the fuel it saw.
fn host_log_config(log: Log) -> SandboxConfig {
    let mut config = SandboxConfig::default();
    config.host_functions.define(HostFunction::new(
        "env",
        "log",
        FuncSignature::new([ValType::I32, ValType::I32], []),
        move |ctx, args| {
            let (WasmValue::I32(ptr), WasmValue::I32(len)) = (args[0], args[1]) else {
                return Err(HostError::new("bad arguments"));
            };
            let text = ctx.read_string(ptr as u32, len as u32)?;
            log.lock().unwrap().push((text, ctx.fuel_consumed()));
            Ok(vec![])
        },
    ));
    config.host_functions.define(HostFunction::new(
        "env",
        "add",
        FuncSignature::new([ValType::I32, ValType::I32], [ValType::I32]),
        |_, args| match (args[0], args[1]) {
            (WasmValue::I32(a), WasmValue::I32(b)) => Ok(vec![WasmValue::I32(a.wrapping_add(b))]),
            _ => Err(HostError::new("bad arguments")),
        },
    ));
    config.host_functions.define(HostFunction::new(
        "env",
        "fail",
        FuncSignature::new([], []),
        |_, _| Err(HostError::new("the host says no")),
    ));
    config
}

#[test]
fn host_functions() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let config = host_log_config(log.clone());
    let module = load("host_log.wat", &config);
    let mut instance = module.instantiate(&config).unwrap();

    let result = instance.call("greet", &[]).unwrap();
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(result.return_values, vec![WasmValue::I32(42)]);
    let entries = log.lock().unwrap().clone();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].0, "hello from the guest");
    // Entry of greet (1), two constants (1 each) and the call (5), flushed before the call.
    assert_eq!(entries[0].1, Some(8));
    assert!(result.fuel_consumed.is_some_and(|total| total > 8));

    let result = instance.call("fails", &[]).unwrap();
    let err = error_of(&result);
    assert_eq!(err.trap(), Some(Trap::Other));
    assert!(
        err.to_string().contains("env::fail: the host says no"),
        "{err}"
    );

    let result = instance.call("bad_pointer", &[]).unwrap();
    let err = error_of(&result);
    assert_eq!(err.trap(), Some(Trap::Other));
    assert_eq!(log.lock().unwrap().len(), 1);

    // The instance is still usable after host errors.
    let result = instance.call("greet", &[]).unwrap();
    assert_eq!(result.return_values, vec![WasmValue::I32(42)]);
}

#[test]
fn host_functions_without_memory_or_fuel() {
    let wat = r#"(module
      (import "env" "peek" (func $peek (result i32)))
      (func (export "main") (result i32) call $peek))"#;
    let mut config = SandboxConfig {
        max_fuel: None,
        ..SandboxConfig::default()
    };
    config.host_functions.define(HostFunction::new(
        "env",
        "peek",
        FuncSignature::new([], [ValType::I32]),
        |ctx, _| {
            assert_eq!(ctx.fuel_consumed(), None);
            ctx.read_bytes(0, 1)?;
            Ok(vec![WasmValue::I32(1)])
        },
    ));
    let module = WasmerSandbox::new(config.clone())
        .unwrap()
        .load(wat.as_bytes())
        .unwrap();
    let mut instance = module.instantiate(&config).unwrap();
    let result = instance.call("main", &[]).unwrap();
    let err = error_of(&result);
    assert_eq!(err.trap(), Some(Trap::Other));
    assert!(err.to_string().contains("exports no memory"), "{err}");
}

#[test]
fn host_function_panics_and_bad_results_are_traps() {
    let wat = r#"(module
      (import "env" "boom" (func $boom))
      (import "env" "wrong" (func $wrong (result i32)))
      (func (export "boom") call $boom)
      (func (export "wrong") (result i32) call $wrong))"#;
    let mut config = SandboxConfig::default();
    config.host_functions.define(HostFunction::new(
        "env",
        "boom",
        FuncSignature::new([], []),
        |_, _| panic!("host bug"),
    ));
    config.host_functions.define(HostFunction::new(
        "env",
        "wrong",
        FuncSignature::new([], [ValType::I32]),
        |_, _| Ok(vec![WasmValue::I64(1)]),
    ));
    let module = WasmerSandbox::new(config.clone())
        .unwrap()
        .load(wat.as_bytes())
        .unwrap();
    let mut instance = module.instantiate(&config).unwrap();
    for func in ["boom", "wrong"] {
        let result = instance.call(func, &[]).unwrap();
        assert_eq!(error_of(&result).trap(), Some(Trap::Other), "{func}");
    }
}

#[test]
fn host_functions_take_precedence_and_unprovided_imports_are_link_errors() {
    // A host random_get replaces both wasix's and the clock policy's.
    let mut config = SandboxConfig {
        clock: ClockPolicy::Deny,
        ..wasi_config()
    };
    config.host_functions.define(HostFunction::new(
        "wasi_snapshot_preview1",
        "random_get",
        FuncSignature::new([ValType::I32, ValType::I32], [ValType::I32]),
        |ctx, args| {
            let (WasmValue::I32(ptr), WasmValue::I32(len)) = (args[0], args[1]) else {
                return Err(HostError::new("bad arguments"));
            };
            ctx.write_bytes(ptr as u32, &vec![0xab; len as usize])?;
            Ok(vec![WasmValue::I32(0)])
        },
    ));
    let result = run_command("time_random.wasm", &config);
    assert_eq!(
        stdout(&result),
        "realtime denied\nmonotonic denied\nrandom ab ab ab ab ab ab ab ab\n"
    );

    let wat = r#"(module
      (import "env" "log" (func $log (param i32 i32)))
      (import "env" "missing" (func $missing))
      (func (export "main") call $missing))"#;
    let mut config = host_log_config(Arc::default());
    config.allowed_imports = vec!["env::missing".into()];
    let module = WasmerSandbox::new(config.clone())
        .unwrap()
        .load(wat.as_bytes())
        .unwrap();
    let report = module.instantiate(&config).err().unwrap();
    let err = error_of(&report);
    assert_eq!(err.kind(), "link_error");
    assert!(err.to_string().contains("env::missing"), "{err}");
}

#[test]
fn wasi_instances_move_between_threads() {
    let config = SandboxConfig {
        stdin: b"1 2".to_vec(),
        ..wasi_config()
    };
    let module = load("sum.wasm", &config);
    let instance = module.instantiate(&config).unwrap();
    let result = std::thread::spawn(move || {
        let mut instance = instance;
        instance.call("_start", &[]).unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(stdout(&result), "3\n");
}

/// Raw WASI calls, bypassing wasi-libc: every descriptor (wasix's root, which has every right,
/// and both preopens) with paths aimed at the read-only preopen and outside.
const RAW_FS: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory"
    (func $mkdir (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file"
    (func $unlink (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename"
    (func $rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink"
    (func $symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_size"
    (func $set_size (param i32 i64) (result i32)))
  (memory (export "memory") 1)
  ;; scratch: 0..64 (iovec, fd out); paths from 1024
  (data (i32.const 64) "pwned")
  (func (export "open") (param $fd i32) (param $path i32) (param $len i32)
                        (param $oflags i32) (param $rights i64) (result i32)
    (local $err i32)
    (local.set $err (call $path_open (local.get $fd) (i32.const 1) (local.get $path)
      (local.get $len) (local.get $oflags) (local.get $rights) (i64.const 0) (i32.const 0)
      (i32.const 32)))
    (if (i32.eqz (local.get $err))
      (then
        ;; opened: try to change it through the new descriptor
        (i32.store (i32.const 0) (i32.const 64))
        (i32.store (i32.const 4) (i32.const 5))
        (drop (call $fd_write (i32.load (i32.const 32)) (i32.const 0) (i32.const 1) (i32.const 40)))
        (drop (call $set_size (i32.load (i32.const 32)) (i64.const 0)))))
    (local.get $err))
  (func (export "mkdir") (param i32 i32 i32) (result i32)
    (call $mkdir (local.get 0) (local.get 1) (local.get 2)))
  (func (export "unlink") (param i32 i32 i32) (result i32)
    (call $unlink (local.get 0) (local.get 1) (local.get 2)))
  (func (export "rename") (param i32 i32 i32 i32 i32 i32) (result i32)
    (call $rename (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4) (local.get 5)))
  (func (export "symlink") (param i32 i32 i32 i32 i32) (result i32)
    (call $symlink (local.get 0) (local.get 1) (local.get 2) (local.get 3) (local.get 4)))
  (data (i32.const 1024) "ro/data.txt")          ;; 1024, 11
  (data (i32.const 1040) "data.txt")             ;; 1040, 8
  (data (i32.const 1056) "../ro/data.txt")       ;; 1056, 14
  (data (i32.const 1072) "../secret.txt")        ;; 1072, 13
  (data (i32.const 1088) "../../secret.txt")     ;; 1088, 16
  (data (i32.const 1120) "ro/link-out")          ;; 1120, 11
  (data (i32.const 1136) "link-out")             ;; 1136, 8
  (data (i32.const 1152) "ro/../../secret.txt")  ;; 1152, 19
  (data (i32.const 1184) "ro/newdir")            ;; 1184, 9
  (data (i32.const 1200) "rw/stolen.txt")        ;; 1200, 13
  (data (i32.const 1216) "ro/evil")              ;; 1216, 7
  (data (i32.const 1232) "/etc/passwd")          ;; 1232, 11
  (data (i32.const 1248) "ro/sub/../data.txt")   ;; 1248, 18
  (data (i32.const 1280) "ro/data.txt/")         ;; 1280, 12
  (data (i32.const 1312) "newdir")               ;; 1312, 6
  (data (i32.const 1328) "../ro/newdir")         ;; 1328, 12
  (data (i32.const 1344) "evil")                 ;; 1344, 4
  (data (i32.const 1360) "../ro/evil")           ;; 1360, 10
  (data (i32.const 1376) "../rw/stolen.txt")     ;; 1376, 16
  )"#;

#[test]
fn the_filesystem_layer_holds_without_wasix_rights() {
    let scratch = Scratch::new("raw");
    let config = scratch.config(&[]);
    let module = WasmerSandbox::new(config.clone())
        .unwrap()
        .load(RAW_FS.as_bytes())
        .unwrap();
    let mut instance = module.instantiate(&config).unwrap();
    let before = scratch.snapshot();
    let mut call = |func: &str, args: &[i64]| -> i32 {
        let args: Vec<WasmValue> = args
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                if func == "open" && i == 4 {
                    WasmValue::I64(v)
                } else {
                    WasmValue::I32(v as i32)
                }
            })
            .collect();
        let result = instance.call(func, &args).unwrap();
        assert_eq!(result.outcome, Outcome::Ok, "{func} {args:?}: {result:?}");
        match result.return_values[..] {
            [WasmValue::I32(errno)] => errno,
            ref other => panic!("{other:?}"),
        }
    };
    const TRUNC: i64 = 8;
    const CREAT: i64 = 1;
    const READ: i64 = 1 << 1;
    const WRITE: i64 = 1 << 6;
    let paths: [(i64, i64); 13] = [
        (1024, 11),
        (1040, 8),
        (1056, 14),
        (1072, 13),
        (1088, 16),
        (1120, 11),
        (1136, 8),
        (1152, 19),
        (1232, 11),
        (1248, 18),
        (1280, 12),
        (1200, 13),
        (1216, 7),
    ];
    for fd in 3..=5 {
        for (ptr, len) in paths {
            for (oflags, rights) in [(TRUNC, READ | WRITE), (0, WRITE), (CREAT, READ | WRITE)] {
                let errno = call("open", &[fd, ptr, len, oflags, rights]);
                // Opening for writing is allowed only in the writable preopen: rw/stolen.txt
                // through the root (fd 3), data.txt and link-out (plain names, not the ro
                // ones) through rw (fd 5; ro is fd 4).
                let in_rw = (fd == 3 && ptr == 1200) || (fd == 5 && (ptr == 1040 || ptr == 1136));
                if !in_rw {
                    assert_ne!(
                        errno, 0,
                        "fd {fd} path at {ptr} oflags {oflags} opened for writing"
                    );
                }
            }
        }
        // Escapes stay closed for reading too.
        for (ptr, len) in [
            (1072, 13),
            (1088, 16),
            (1120, 11),
            (1136, 8),
            (1152, 19),
            (1232, 11),
        ] {
            if fd == 5 && ptr == 1136 {
                continue; // rw/link-out: the plain file created above
            }
            assert_ne!(
                call("open", &[fd, ptr, len, 0, READ]),
                0,
                "fd {fd} read at {ptr}"
            );
        }
        // The same read-only entries, as each descriptor names them.
        let (data, newdir, evil) = match fd {
            3 => ((1024, 11), (1184, 9), (1216, 7)),
            4 => ((1040, 8), (1312, 6), (1344, 4)),
            _ => ((1056, 14), (1328, 12), (1360, 10)),
        };
        let stolen = if fd == 4 { (1376, 16) } else { (1200, 13) };
        assert_ne!(
            call("mkdir", &[fd, newdir.0, newdir.1]),
            0,
            "mkdir via {fd}"
        );
        assert_ne!(call("unlink", &[fd, data.0, data.1]), 0, "unlink via {fd}");
        assert_ne!(
            call("rename", &[fd, data.0, data.1, fd, stolen.0, stolen.1]),
            0,
            "rename via {fd}"
        );
        assert_ne!(
            call("symlink", &[1040, 8, fd, evil.0, evil.1]),
            0,
            "symlink via {fd}"
        );
    }
    // A symlink out of the writable preopen is refused too.
    assert_ne!(call("symlink", &[1088, 16, 5, 1344, 4]), 0);
    assert_eq!(scratch.snapshot(), before, "a host file changed");
    assert_eq!(scratch.listing("ro"), vec!["data.txt", "link-out", "sub"]);
    assert!(scratch
        .listing("rw")
        .iter()
        .all(|name| ["stolen.txt", "data.txt", "link-out"].contains(&name.as_str())));
}
