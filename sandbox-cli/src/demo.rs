//! `sandbox demo`: the main job on an embedded module, nothing else needed. Runs a bundled WAT
//! module on every compiled-in engine under hard limits and shows each limit doing its work.

use crate::status;
use crate::units::{format_duration, format_size};
use sandbox::{Outcome, SandboxConfig, WasmValue};
use std::time::Duration;

/// The bundled guest: honest work, and three kinds of misbehaviour.
pub const DEMO_WAT: &str = r#"(module
  (memory 1)
  ;; Honest work: the n-th Fibonacci number, iteratively.
  (func (export "fib") (param $n i32) (result i64)
    (local $a i64) (local $b i64) (local $t i64)
    (local.set $b (i64.const 1))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $t (i64.add (local.get $a) (local.get $b)))
        (local.set $a (local.get $b))
        (local.set $b (local.get $t))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $a))
  ;; Spins forever.
  (func (export "spin") (loop $forever (br $forever)))
  ;; Grows memory a page at a time until something stops it.
  (func (export "hog") (result i32)
    (loop $more
      (br_if $more (i32.ne (memory.grow (i32.const 1)) (i32.const -1))))
    (memory.size))
  ;; Recurses without end.
  (func $dive (export "dive") (param i32) (result i32)
    (call $dive (i32.add (local.get 0) (i32.const 1)))))
"#;

/// The bundled WASI guest: a reactor (`_initialize` runs before its first call) that reaches
/// for what the sandbox does not give by default.
pub const DEMO_WASI_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "sock_accept"
    (func $accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get"
    (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (global $ready (mut i32) (i32.const 0))
  (func (export "_initialize") (global.set $ready (i32.const 1)))
  ;; Accepts a connection on stdin's descriptor: the errno it gets (57, not a socket).
  (func (export "network") (result i32)
    (if (i32.eqz (global.get $ready)) (then unreachable))
    (call $accept (i32.const 0) (i32.const 0) (i32.const 64)))
  ;; Reads the wall clock, and gives up (traps) without one, as QuickJS does.
  (func (export "clock") (result i64)
    (if (call $clock (i32.const 0) (i64.const 1) (i32.const 64)) (then unreachable))
    (i64.load (i32.const 64))))
"#;

struct Case {
    title: &'static str,
    /// Whether the case runs [`DEMO_WASI_WAT`] rather than [`DEMO_WAT`].
    wasi: bool,
    func: &'static str,
    args: Vec<WasmValue>,
    config: SandboxConfig,
}

/// Runs the demo; exits 0 when every engine behaved as the contract says.
pub fn demo() -> anyhow::Result<u8> {
    let base = SandboxConfig {
        max_memory_bytes: 4 << 20,
        max_execution_time: Duration::from_millis(200),
        max_fuel: Some(1_000_000),
        max_stack_size: 256 << 10,
        ..SandboxConfig::default()
    };
    let cases = [
        Case {
            title: "fib(90): honest work",
            wasi: false,
            func: "fib",
            args: vec![WasmValue::I32(90)],
            config: base.clone(),
        },
        Case {
            title: "spin: infinite loop, fuel on",
            wasi: false,
            func: "spin",
            args: vec![],
            config: base.clone(),
        },
        Case {
            title: "spin: infinite loop, fuel off, 200 ms limit",
            wasi: false,
            func: "spin",
            args: vec![],
            config: SandboxConfig {
                max_fuel: None,
                ..base.clone()
            },
        },
        Case {
            title: "hog: grows memory past 4 MiB",
            wasi: false,
            func: "hog",
            args: vec![],
            config: base.clone(),
        },
        Case {
            title: "dive: unbounded recursion, 256 KiB stack",
            wasi: false,
            func: "dive",
            args: vec![WasmValue::I32(0)],
            config: base.clone(),
        },
        Case {
            title: "network: a WASI reactor accepts a connection (no sockets exist)",
            wasi: true,
            func: "network",
            args: vec![],
            config: base.clone(),
        },
        Case {
            title: "clock: reads the clock, virtual (the default)",
            wasi: true,
            func: "clock",
            args: vec![],
            config: base.clone(),
        },
        Case {
            title: "clock: reads the clock, --clock deny, gives up without it",
            wasi: true,
            func: "clock",
            args: vec![],
            config: SandboxConfig {
                clock: sandbox::ClockPolicy::Deny,
                ..base.clone()
            },
        },
    ];
    let expected = [
        "ok",
        "fuel_exhausted",
        "time_limit_exceeded",
        "memory_limit_exceeded",
        "trap",
        "ok",
        "ok",
        "trap",
    ];
    let runtimes = sandbox::available_runtimes();
    println!(
        "Running the bundled module on {} under {} memory, {} per call, {} fuel, {} stack.\n",
        runtimes
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(" and "),
        format_size(base.max_memory_bytes),
        format_duration(base.max_execution_time),
        base.max_fuel.unwrap_or(0),
        format_size(base.max_stack_size),
    );
    let wasm = sandbox::compile_wat_to_wasm(DEMO_WAT)?;
    let wasi_wasm = sandbox::compile_wat_to_wasm(DEMO_WASI_WAT)?;
    let mut all_as_expected = true;
    for (case, expected) in cases.iter().zip(expected) {
        println!("{}", case.title);
        for runtime in &runtimes {
            let module = if case.wasi { &wasi_wasm } else { &wasm };
            let result =
                sandbox::execute_on(*runtime, module, case.func, &case.args, case.config.clone());
            let (line, kind) = match &result {
                Ok(result) => {
                    let what = match &result.outcome {
                        Outcome::Ok => format!(
                            "ok: {}",
                            result
                                .return_values
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                        Outcome::Exit { code } => format!("exit {code}"),
                        Outcome::Failed(err) => err.to_string(),
                    };
                    (
                        format!(
                            "{what}  [{}, fuel {}, peak memory {}]",
                            format_duration(result.execution_time),
                            result
                                .fuel_consumed
                                .map_or("off".to_string(), |f| f.to_string()),
                            format_size(result.peak_memory)
                        ),
                        result.outcome.kind(),
                    )
                }
                Err(err) => (err.to_string(), err.kind()),
            };
            let mark = if kind == expected { "✓" } else { "✗" };
            all_as_expected &= kind == expected;
            println!("  {mark} {:<9} {line}", runtime.to_string());
            if let Ok(result) = &result {
                for denial in &result.denied {
                    println!("              denied: {denial}");
                }
            }
        }
    }
    println!();
    all_as_expected &= at_scale(&wasm, &base)?;
    println!();
    all_as_expected &= crate::demo_mini::mini()?;
    println!();
    all_as_expected &= crate::demo_service::through_the_service(DEMO_WAT)?;
    println!();
    if all_as_expected {
        println!("Every engine enforced every limit.");
        Ok(status::OK)
    } else {
        println!("Some engine did not behave as the contract says (marked ✗).");
        Ok(status::TOOL_ERROR)
    }
}

/// Calls through the fast path on one live instance.
const FAST_CALLS: u32 = 100_000;
/// Test cases the judge demo runs.
const JUDGED: usize = 2_000;

/// The same module at scale: many calls on one live instance through the fast path, and the
/// judge (function mode, `fib`) on one worker and on one per core. Prints what it measured;
/// `false` when a result was wrong.
fn at_scale(wasm: &[u8], base: &SandboxConfig) -> anyhow::Result<bool> {
    use sandbox::judge::{Judge, Mode, TestCase};
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "At scale: {FAST_CALLS} calls of fib(20) on one live instance (the fast path: the export resolved once), \
         and the judge on {JUDGED} tests of fib, with 1 worker and with {cores} (one per core)"
    );
    let fib = |n: u64| (0..n).fold((0u64, 1u64), |(a, b), _| (b, a + b)).0;
    let tests: Vec<TestCase> = (0..JUDGED)
        .map(|i| {
            TestCase::new(
                i,
                format!("{}", i % 90),
                format!("{}\n", fib(i as u64 % 90)),
            )
        })
        .collect();
    let mut all_right = true;
    for runtime in sandbox::available_runtimes() {
        let config = SandboxConfig {
            max_fuel: None,
            ..base.clone()
        };
        let sandbox = sandbox::sandbox(runtime, config.clone())?;
        let module = sandbox.load(wasm)?;
        let mut instance = module
            .instantiate(&config)
            .map_err(|report| anyhow::anyhow!("{}", report.outcome.kind()))?;
        let export = instance.export_func("fib")?;
        let args = [WasmValue::I32(20)];
        let mut results = [WasmValue::I64(0)];
        let started = std::time::Instant::now();
        let mut calls_right = true;
        for _ in 0..FAST_CALLS {
            let report = instance.call_func(&export, &args, &mut results)?;
            calls_right &= report.is_ok() && results == [WasmValue::I64(6765)];
        }
        let per_call = started.elapsed() / FAST_CALLS;
        let mut judged = Vec::new();
        for jobs in [1, cores] {
            let judge = Judge::on(runtime, SandboxConfig::default())
                .mode(Mode::function("fib"))
                .jobs(jobs);
            let started = std::time::Instant::now();
            let report = judge.evaluate(wasm, &tests);
            let rate = JUDGED as f64 / started.elapsed().as_secs_f64();
            calls_right &= report.passed == JUDGED;
            judged.push(format!("{rate:.0} tests/s with {jobs}"));
        }
        all_right &= calls_right;
        let mark = if calls_right { "✓" } else { "✗" };
        println!(
            "  {mark} {:<9} {} ns per call; judge: {}",
            runtime.to_string(),
            per_call.as_nanos(),
            judged.join(", ")
        );
    }
    Ok(all_right)
}
