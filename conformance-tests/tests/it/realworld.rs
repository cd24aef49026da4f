//! The WebAssembly people actually have: programs that link every WASI function (sockets
//! included), reactors, guests that give up when a capability is denied, and interpreters
//! nobody here wrote (CPython and QuickJS for WASI, fetched by package name; see
//! `conformance_tests::guests`). Written once, run on both engines.

use conformance_tests::guests::{self, Guest};
use conformance_tests::Harness;
use sandbox::wasi::Capability;
use sandbox::{CacheConfig, ClockPolicy, Outcome, Preopen, SandboxConfig, Trap, WasmValue};
use std::path::PathBuf;
use std::time::Duration;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn wasi_sockets_link_and_fail_with_an_errno(h: &Harness) {
    let result = h.run_wasi("sockets.wasm", &SandboxConfig::default());
    assert_eq!(result.outcome, Outcome::Ok, "{}", text(&result.stderr));
    assert_eq!(
        text(&result.stdout),
        "shutdown(99) EBADF\naccept(99) EBADF\nrecv(99) EBADF\nsend(99) EBADF\n\
         shutdown(1) ENOTSOCK\naccept(1) ENOTSOCK\nrecv(1) ENOTSOCK\nsend(1) ENOTSOCK\n"
    );
    let mut functions: Vec<&str> = result
        .denied
        .iter()
        .map(|denial| {
            assert_eq!(denial.capability, Capability::Network);
            denial.function.as_str()
        })
        .collect();
    functions.sort();
    assert_eq!(
        functions,
        ["sock_accept", "sock_recv", "sock_send", "sock_shutdown"]
    );
}

pub fn wasi_preview0_programs_run_under_the_same_policy(h: &Harness) {
    let result = h.run_wasi("preview0.wat", &SandboxConfig::default());
    assert_eq!(
        result.outcome,
        Outcome::Exit { code: 7 },
        "{:?}",
        result.outcome
    );
    assert_eq!(text(&result.stdout), "hello from preview 0\n");
    // The sandbox's clock policy holds for preview 0 too.
    let deny = SandboxConfig {
        clock: ClockPolicy::Deny,
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("preview0.wat", &deny);
    assert_eq!(result.outcome, Outcome::Exit { code: 9 });
    assert_eq!(result.denied.len(), 1, "{:?}", result.denied);
}

pub fn wasi_reactor_is_initialized_before_its_first_call(h: &Harness) {
    let config = SandboxConfig::default();
    let module = h.load("reactor.wasm", &config);
    assert!(sandbox::reactor::is_reactor(module.info()));
    let mut instance = module.instantiate(&config).unwrap();
    // `answer` is 42 only if wasi-libc's `_initialize` ran the constructors first.
    let result = instance.call("answer", &[]).unwrap();
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(result.return_values, [WasmValue::I32(42)]);
    let result = instance.call("greet", &[]).unwrap();
    assert_eq!(text(&result.stdout), "hello from a reactor (42)\n");
    // A missing export is refused before anything runs, initialised or not.
    let mut fresh = module.instantiate(&config).unwrap();
    assert_eq!(
        fresh.call("missing", &[]).unwrap_err().kind(),
        "function_not_found"
    );
    assert_eq!(
        fresh.call("answer", &[]).unwrap().return_values,
        [WasmValue::I32(42)]
    );
}

pub fn wasi_reactor_default_export_runs_after_initialize(h: &Harness) {
    let config = SandboxConfig::default();
    let module = h.load("reactor_default.wat", &config);
    // What `sandbox run` calls without --invoke.
    assert_eq!(sandbox::wasi::entry_point(module.info()), "");
    let mut instance = module.instantiate(&config).unwrap();
    let result = instance.call("", &[]).unwrap();
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(text(&result.stdout), "initialized\ndefault export\n");
    // `_initialize` runs once: the next call prints only its own line.
    let result = instance.call("", &[]).unwrap();
    assert_eq!(text(&result.stdout), "default export\n");
    // A failing `_initialize` is the report of the call it preceded, which does not run.
    let trapping = r#"(module
        (func (export "_initialize") unreachable)
        (func (export "answer") (result i32) i32.const 1))"#;
    let module = h.try_load_bytes(trapping.as_bytes(), &config).unwrap();
    let mut instance = module.instantiate(&config).unwrap();
    let result = instance.call("answer", &[]).unwrap();
    assert_eq!(
        result.outcome.error().and_then(|e| e.trap()),
        Some(Trap::Unreachable)
    );
    assert!(result.return_values.is_empty());
}

pub fn wasi_denied_clock_is_named_when_the_run_fails(h: &Harness) {
    let deny = SandboxConfig {
        clock: ClockPolicy::Deny,
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("clock_abort.wasm", &deny);
    let err = result.outcome.error().expect("the guest aborts");
    assert_eq!(err.trap(), Some(Trap::Unreachable));
    assert!(
        err.to_string()
            .contains("the guest's clock_time_get was denied (clock deny)"),
        "{err}"
    );
    assert_eq!(result.denied.len(), 1);
    assert_eq!(result.denied[0].capability, Capability::Clock);
    // The same program with a clock to read.
    let virtual_clock = SandboxConfig {
        clock: ClockPolicy::Virtual,
        ..SandboxConfig::default()
    };
    let result = h.run_wasi("clock_abort.wasm", &virtual_clock);
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(text(&result.stdout), "clock ok\n");
    assert!(result.denied.is_empty());
}

/// A compiled interpreter per engine for the whole test binary: a 25 MiB CPython compiles
/// once and later loads come from the in-memory cache.
fn interpreter_config(script_dir: PathBuf, args: &[&str]) -> SandboxConfig {
    SandboxConfig {
        max_fuel: None,
        max_execution_time: Duration::from_secs(120),
        max_memory_bytes: 256 << 20,
        clock: ClockPolicy::Virtual,
        allow_filesystem: true,
        preopens: vec![Preopen {
            host: script_dir,
            guest: "/app".into(),
            writable: false,
        }],
        args: args.iter().map(|a| a.to_string()).collect(),
        env: vec![("PYTHONHASHSEED".into(), "0".into())],
        cache: CacheConfig::memory_only(),
        ..SandboxConfig::default()
    }
}

/// A private directory holding `files`.
fn scripts(h: &Harness, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sandbox-realworld-{name}-{}-{}",
        h.backend,
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for (file, contents) in files {
        std::fs::write(dir.join(file), contents).unwrap();
    }
    dir
}

fn run_interpreter(h: &Harness, guest: Guest, config: &SandboxConfig) -> sandbox::ExecutionResult {
    let bytes = std::fs::read(guests::path(guest)).unwrap();
    let module = h
        .try_load_bytes(&bytes, config)
        .unwrap_or_else(|err| panic!("{}: loading {}: {err}", h.backend, guest.file()));
    let config = SandboxConfig {
        program_name: guest.file().trim_end_matches(".wasm").into(),
        ..config.clone()
    };
    match module.instantiate(&config) {
        Ok(mut instance) => instance.call("_start", &[]).unwrap(),
        Err(report) => *report,
    }
}

pub fn real_world_cpython_runs_scripts(h: &Harness) {
    let dir = scripts(
        h,
        "python",
        &[
            ("sum.py", "print(sum(range(10**6)))\n"),
            (
                "stdin.py",
                "import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))\n",
            ),
            ("escape.py", "print(open('/etc/passwd').read())\n"),
        ],
    );
    let result = run_interpreter(
        h,
        Guest::Python,
        &interpreter_config(dir.clone(), &["/app/sum.py"]),
    );
    assert_eq!(result.outcome, Outcome::Ok, "{}", text(&result.stderr));
    assert_eq!(text(&result.stdout), "499999500000\n");
    let mut config = interpreter_config(dir.clone(), &["/app/stdin.py"]);
    config.stdin = b"1 2 3\n40\n".to_vec();
    let result = run_interpreter(h, Guest::Python, &config);
    assert_eq!(text(&result.stdout), "46\n", "{}", text(&result.stderr));
    // Nothing outside the preopen exists for the guest.
    let result = run_interpreter(
        h,
        Guest::Python,
        &interpreter_config(dir.clone(), &["/app/escape.py"]),
    );
    assert_eq!(result.outcome, Outcome::Exit { code: 1 });
    assert!(
        text(&result.stderr).contains("Error"),
        "{}",
        text(&result.stderr)
    );
    assert!(!text(&result.stdout).contains("root:"));
    std::fs::remove_dir_all(dir).unwrap();
}

pub fn real_world_quickjs_needs_a_clock_and_says_so(h: &Harness) {
    let dir = scripts(h, "quickjs", &[("main.js", "console.log(6 * 7);\n")]);
    let mut config = interpreter_config(dir.clone(), &["--std", "/app/main.js"]);
    let result = run_interpreter(h, Guest::QuickJs, &config);
    assert_eq!(result.outcome, Outcome::Ok, "{}", text(&result.stderr));
    assert_eq!(text(&result.stdout), "42\n");
    // QuickJS aborts at start-up when the clock is denied; the report says why.
    config.clock = ClockPolicy::Deny;
    let result = run_interpreter(h, Guest::QuickJs, &config);
    let err = result
        .outcome
        .error()
        .expect("QuickJS gives up without a clock");
    assert!(
        err.to_string().contains("clock_time_get was denied"),
        "{err}"
    );
    assert!(result
        .denied
        .iter()
        .any(|denial| denial.capability == Capability::Clock));
    std::fs::remove_dir_all(dir).unwrap();
}
