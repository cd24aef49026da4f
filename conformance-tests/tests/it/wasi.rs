//! What the guest may reach: WASI preview 1, captured and capped output, preopens and their
//! escapes, clocks and randomness by policy, host functions. Written once, run on both engines.

use conformance_tests::{fixture, Harness};
use sandbox::{
    ClockPolicy, FuncSignature, HostError, HostFunction, Outcome, Preopen, SandboxConfig,
    SandboxError, Trap, ValType, WasmValue,
};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn wasi_sum_reads_stdin(h: &Harness) {
    let config = SandboxConfig {
        stdin: b"5 7\n".to_vec(),
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("sum.wasm", &config);
    assert_eq!(result.outcome, Outcome::Ok, "{}", text(&result.stderr));
    assert_eq!(text(&result.stdout), "12\n");
    // Bad input is the guest's business: it reports and exits 2.
    let config = SandboxConfig {
        stdin: b"five seven".to_vec(),
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("sum.wasm", &config);
    assert_eq!(result.outcome, Outcome::Exit { code: 2 });
    assert_eq!(text(&result.stderr), "expected two integers on stdin\n");
}

pub fn wasi_args_env_and_exit_code(h: &Harness) {
    let config = SandboxConfig {
        args: vec!["3".into(), "two words".into()],
        env: vec![("GREETING".into(), "hi".into())],
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("hello.wasm", &config);
    assert_eq!(result.outcome, Outcome::Exit { code: 3 });
    assert_eq!(result.exit_code(), Some(3));
    assert_eq!(
        text(&result.stdout),
        "hello from wasi\nargv[0]=hello.wasm\nargv[1]=3\nargv[2]=two words\nGREETING=hi\n"
    );
    assert_eq!(text(&result.stderr), "to stderr\n");
    // Nothing of the host's environment leaks in.
    let result = h.run_wasi("hello.wasm", &SandboxConfig::default());
    assert_eq!(result.outcome, Outcome::Ok);
    assert!(text(&result.stdout).contains("GREETING=(unset)"));
}

fn flood(h: &Harness, stream: &str) {
    let limit = 64 * 1024;
    let config = SandboxConfig {
        max_output_bytes: limit,
        args: if stream == "stderr" {
            vec!["stderr".into()]
        } else {
            vec![]
        },
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("flood.wasm", &config);
    assert_eq!(
        result.outcome,
        Outcome::Failed(SandboxError::OutputLimitExceeded {
            stream: stream.into(),
            limit
        })
    );
    let (kept, truncated, other) = if stream == "stdout" {
        (&result.stdout, result.stdout_truncated, &result.stderr)
    } else {
        (&result.stderr, result.stderr_truncated, &result.stdout)
    };
    assert_eq!(
        kept.len() as u64,
        limit,
        "exactly the first max_output_bytes are kept"
    );
    assert!(kept.iter().all(|b| *b == b'x'));
    assert!(truncated);
    assert!(other.is_empty());
    // Stopped at the cap, not after writing a gigabyte.
    assert!(result.execution_time < Duration::from_secs(2));
}

pub fn wasi_output_flood_is_capped_on_stdout(h: &Harness) {
    flood(h, "stdout");
}

pub fn wasi_output_flood_is_capped_on_stderr(h: &Harness) {
    flood(h, "stderr");
}

pub fn wasi_failed_run_keeps_partial_output(h: &Harness) {
    let config = SandboxConfig {
        max_fuel: None,
        max_execution_time: Duration::from_millis(200),
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("spin_output.wasm", &config);
    assert_eq!(result.outcome.kind(), "time_limit_exceeded");
    assert_eq!(text(&result.stdout), "partial stdout\n");
    assert_eq!(text(&result.stderr), "partial stderr\n");
    let config = SandboxConfig {
        max_fuel: Some(2_000_000),
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("spin_output.wasm", &config);
    assert_eq!(result.outcome.kind(), "fuel_exhausted");
    assert_eq!(text(&result.stdout), "partial stdout\n");
}

pub fn wasi_virtual_clock_and_random_are_deterministic(h: &Harness) {
    let config = SandboxConfig {
        clock: ClockPolicy::Virtual,
        random_seed: 42,
        ..SandboxConfig::default()
    };
    let first = h.run_wasi("time_random.wasm", &config);
    assert_eq!(first.outcome, Outcome::Ok);
    let out = text(&first.stdout);
    assert!(out.starts_with("realtime 946684800."), "{out}");
    assert!(out.contains("random "), "{out}");
    let second = h.run_wasi("time_random.wasm", &config);
    assert_eq!(first.stdout, second.stdout, "same inputs, same output");
    // Instances of one compiled module each start their own clock and random sequence.
    let config = SandboxConfig {
        program_name: "time_random.wasm".into(),
        ..config
    };
    let module = h.load("time_random.wasm", &config);
    for _ in 0..3 {
        let mut instance = module.instantiate(&config).unwrap();
        let again = instance.call("_start", &[]).unwrap();
        assert_eq!(again.stdout, first.stdout);
    }
    let other_seed = h.run_wasi(
        "time_random.wasm",
        &SandboxConfig {
            random_seed: 43,
            ..config
        },
    );
    assert_ne!(first.stdout, other_seed.stdout);
}

pub fn wasi_denied_clock_and_random_fail(h: &Harness) {
    let result = h.run_wasi("time_random.wasm", &SandboxConfig::default());
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(
        text(&result.stdout),
        "realtime denied\nmonotonic denied\nrandom denied\n"
    );
}

pub fn wasi_real_clock_reads_the_host_time(h: &Harness) {
    let config = SandboxConfig {
        clock: ClockPolicy::Real,
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("time_random.wasm", &config);
    let out = text(&result.stdout);
    let seconds: u64 = out
        .strip_prefix("realtime ")
        .and_then(|rest| rest.split('.').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(seconds.abs_diff(now) < 60, "{out}");
}

/// A scratch tree: `secret.txt` beside a read-only `ro/` (with `data.txt`, `sub/` and a
/// symlink `link-out` to the secret) and a writable `rw/`.
struct Tree {
    root: PathBuf,
}

impl Tree {
    fn new(tag: &str) -> Tree {
        let root = std::env::temp_dir().join(format!(
            "sandbox-conformance-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("ro/sub")).unwrap();
        std::fs::create_dir_all(root.join("rw")).unwrap();
        std::fs::write(root.join("secret.txt"), "the host's secret\n").unwrap();
        std::fs::write(root.join("ro/data.txt"), "read-only data\n").unwrap();
        std::os::unix::fs::symlink("../secret.txt", root.join("ro/link-out")).unwrap();
        Tree { root }
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
            ..SandboxConfig::default()
        }
    }

    /// Bytes and modification time of every file under the root, to prove nothing changed.
    fn snapshot(&self) -> Vec<(PathBuf, Vec<u8>, SystemTime)> {
        fn walk(dir: &Path, out: &mut Vec<(PathBuf, Vec<u8>, SystemTime)>) {
            let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
            entries.sort_by_key(|e| e.path());
            for entry in entries {
                let path = entry.path();
                let meta = std::fs::symlink_metadata(&path).unwrap();
                if meta.is_dir() {
                    walk(&path, out);
                } else if meta.is_file() {
                    out.push((
                        path.clone(),
                        std::fs::read(&path).unwrap(),
                        meta.modified().unwrap(),
                    ));
                } else {
                    out.push((path.clone(), Vec::new(), meta.modified().unwrap()));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root, &mut out);
        out
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

const ESCAPES: &[&str] = &[
    "read-parent",
    "read-dotdot-chain",
    "read-absolute",
    "read-symlink-out",
    "read-trailing-slash",
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

pub fn wasi_escapes_are_denied_and_host_files_unchanged(h: &Harness) {
    let tree = Tree::new(&format!("escape-{}", h.backend));
    let before = tree.snapshot();
    let result = h.run_wasi("files.wasm", &tree.config(ESCAPES));
    assert_eq!(result.outcome, Outcome::Ok, "{}", text(&result.stderr));
    let out = text(&result.stdout);
    for action in ESCAPES {
        let line = out
            .lines()
            .find(|line| line.starts_with(&format!("{action} ")))
            .unwrap_or_else(|| panic!("no line for {action}: {out}"));
        assert!(
            line.contains("denied"),
            "{}: escape allowed: {line}",
            h.backend
        );
    }
    assert!(!out.contains("the host's secret"), "{out}");
    // rename-rw-to-ro created /rw/planted.txt on purpose; everything else is as it was.
    let after: Vec<_> = tree
        .snapshot()
        .into_iter()
        .filter(|(path, _, _)| !path.ends_with("planted.txt"))
        .collect();
    assert_eq!(before, after, "host files changed");
}

pub fn wasi_symlink_made_by_the_guest_does_not_escape(h: &Harness) {
    let tree = Tree::new(&format!("symlink-{}", h.backend));
    let result = h.run_wasi("files.wasm", &tree.config(&["make-symlink-out"]));
    let out = text(&result.stdout);
    let line = out
        .lines()
        .find(|line| line.starts_with("read-made-symlink "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains("denied"), "{}: {out}", h.backend);
    assert!(!out.contains("root:"), "{out}");
}

pub fn wasi_preopens_read_and_write_as_granted(h: &Harness) {
    let tree = Tree::new(&format!("rw-{}", h.backend));
    let result = h.run_wasi("files.wasm", &tree.config(&["read-ro", "write-rw"]));
    let out = text(&result.stdout);
    assert!(out.contains("read-ro ok"), "{out}");
    assert!(out.contains("content: read-only data"), "{out}");
    assert!(out.contains("write-rw ok"), "{out}");
    assert_eq!(
        std::fs::read_to_string(tree.root.join("rw/out.txt")).unwrap(),
        "written by the guest\n",
        "a guest write to a read-write preopen is visible to the host"
    );
}

pub fn wasi_without_preopens_sees_no_files(h: &Harness) {
    let config = SandboxConfig {
        args: vec!["read-ro".into(), "read-absolute".into(), "write-rw".into()],
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("files.wasm", &config);
    let out = text(&result.stdout);
    assert_eq!(out.matches("denied").count(), 3, "{out}");
}

pub fn wasi_imports_outside_the_policy_are_unauthorized(h: &Harness) {
    for (module, name) in [
        ("wasi_unstable", "fd_write"),
        ("wasi_snapshot_preview1", "sock_accept"),
        ("wasi_snapshot_preview1", "not_a_wasi_function"),
        ("env", "anything"),
    ] {
        let wat = format!(
            r#"(module (import "{module}" "{name}" (func (param i32 i32) (result i32))) (memory (export "memory") 1) (func (export "_start")))"#
        );
        let err = h
            .try_load_bytes(wat.as_bytes(), &SandboxConfig::default())
            .err()
            .unwrap_or_else(|| panic!("{module}::{name} was accepted"));
        assert_eq!(
            err,
            SandboxError::UnauthorizedImport {
                module: module.into(),
                name: name.into()
            }
        );
    }
}

fn host_config(log: Arc<Mutex<Vec<String>>>) -> SandboxConfig {
    let mut config = SandboxConfig::default();
    config.host_functions.define(HostFunction::new(
        "env",
        "log",
        FuncSignature::new([ValType::I32, ValType::I32], []),
        move |ctx, args| {
            let (WasmValue::I32(ptr), WasmValue::I32(len)) = (args[0], args[1]) else {
                return Err(HostError::new("bad arguments"));
            };
            let message = ctx.read_string(ptr as u32, len as u32)?;
            log.lock().unwrap().push(message);
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

pub fn host_functions_read_guest_memory(h: &Harness) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let config = host_config(log.clone());
    let result = h.run("host_log.wat", "greet", &[], &config);
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(result.return_values, vec![WasmValue::I32(42)]);
    assert_eq!(
        *log.lock().unwrap(),
        vec!["hello from the guest".to_string()]
    );
}

pub fn host_function_errors_are_trap_other(h: &Harness) {
    let config = host_config(Arc::default());
    for func in ["fails", "bad_pointer"] {
        let result = h.run("host_log.wat", func, &[], &config);
        let err = result.outcome.error().cloned().expect("a failure");
        assert_eq!(err.trap(), Some(Trap::Other), "{func}: {err}");
    }
    let result = h.run("host_log.wat", "fails", &[], &config);
    assert!(
        result
            .outcome
            .error()
            .unwrap()
            .to_string()
            .contains("the host says no"),
        "{:?}",
        result.outcome
    );
}

pub fn host_functions_must_be_registered(h: &Harness) {
    let err = h
        .try_load_bytes(&fixture("host_log.wat"), &SandboxConfig::default())
        .err()
        .unwrap();
    assert_eq!(err.kind(), "unauthorized_import");
}

pub fn wasi_exit_codes_cross_intact(h: &Harness) {
    for code in [0, 1, 125, 126, 200, 255, 256, -1] {
        let wat = format!(
            r#"(module
                 (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
                 (memory (export "memory") 1)
                 (func (export "_start") (call $exit (i32.const {code}))))"#
        );
        let module = h
            .try_load_bytes(wat.as_bytes(), &SandboxConfig::default())
            .unwrap();
        let mut instance = module.instantiate(&SandboxConfig::default()).unwrap();
        let result = instance.call("_start", &[]).unwrap();
        assert_eq!(result.outcome, Outcome::Exit { code }, "proc_exit({code})");
    }
}

/// What the WASI layer answers a guest about its stdio, on every engine: wasmtime-wasi's
/// answers (stdin a pipe with `fd_read` only, stdout and stderr character devices with
/// `fd_write` only, no flags, no preopen, `spipe` on seek), and one buffer per `fd_write` and
/// `fd_read`. wasi-libc's stdio takes its paths from these answers, so a WASI command runs the
/// same code, and consumes the same fuel, on both engines.
pub fn wasi_stdio_answers_are_wasmtime_wasis(h: &Harness) {
    let config = SandboxConfig {
        stdin: b"5 7\n".to_vec(),
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("stdio_probe.wasm", &config);
    assert_eq!(result.outcome, Outcome::Ok, "{}", text(&result.stderr));
    let mut expected = String::new();
    for (fd, filetype, rights) in [(0, 0, "0x2"), (1, 2, "0x40"), (2, 2, "0x40")] {
        expected.push_str(&format!(
            "fd {fd} fdstat errno 0 filetype {filetype} flags 0 rights {rights} inheriting \
             {rights}\nfd {fd} filestat errno 0 filetype {filetype} size 0 nlink 0\n\
             fd {fd} prestat errno 8 tag 0 len 0\nfd {fd} seek errno 70\nfd {fd} tell errno 70\n"
        ));
    }
    // "ab" is the first buffer of the two-buffer write: one buffer per call.
    expected.push_str(
        "ab\nwrite of 2+3 bytes: errno 0, 2 written\nread into 2+8 bytes: errno 0, 2 read\n",
    );
    assert_eq!(text(&result.stdout), expected);
}
