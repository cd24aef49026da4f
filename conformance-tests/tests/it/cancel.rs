//! Cancelling a call from another thread ([`sandbox::CancelHandle`]), on every backend.
//!
//! The guests tell the host they are running through the host function `env::started`, and the
//! canceller waits for it before its delay, so a slow machine can only make a run longer, never
//! turn a cancel meant for a running call into one that ends the call at its start. Time bounds
//! are loose on purpose: a call stopped within 5 s, under a 60 s limit, was cancelled.

use conformance_tests::Harness;
use sandbox::{
    CancelHandle, ExecutionResult, FuncSignature, HostFunction, Instance, Outcome, SandboxConfig,
    SandboxError, WasmValue,
};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A time limit no test reaches: a run that stops was cancelled.
const LONG_LIMIT: Duration = Duration::from_secs(60);
/// How soon a cancelled run must have stopped, however loaded the machine.
const STOPPED_WITHIN: Duration = Duration::from_secs(5);
/// How long the canceller lets a run go on after it started.
const CANCEL_AFTER: Duration = Duration::from_millis(50);

/// Endless loops that say when they are running, and a function that returns.
const LOOPS: &str = r#"(module
  (import "env" "started" (func $started))
  (func (export "spin")
    (call $started)
    (loop $l (br $l)))
  ;; Spends much of its time in the host: an interrupt there cannot take effect.
  (func (export "spin_calling_host")
    (loop $l
      (call $started)
      (br $l)))
  (func (export "add") (param i32 i32) (result i32)
    local.get 0
    local.get 1
    i32.add))"#;

/// A WASI command that writes a line, then loops for ever.
const WASI_SPIN: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "env" "started" (func $started))
  (memory (export "memory") 1)
  (data (i32.const 16) "partial stdout\n")
  (func (export "_start")
    ;; One iovec at 0: the 15 bytes at 16.
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 15))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $started)
    (loop $l (br $l))))"#;

/// `config` with the time limit far away, fuel enough for minutes of looping (when metered),
/// and `env::started` setting the returned flag.
fn cancel_config(config: SandboxConfig) -> (SandboxConfig, Arc<AtomicBool>) {
    let started = Arc::new(AtomicBool::new(false));
    let mut config = SandboxConfig {
        max_execution_time: LONG_LIMIT,
        max_fuel: config.max_fuel.map(|_| 1 << 60),
        ..config
    };
    let flag = started.clone();
    config.host_functions.define(HostFunction::new(
        "env",
        "started",
        FuncSignature::new([], []),
        move |_, _| {
            flag.store(true, Ordering::SeqCst);
            Ok(vec![])
        },
    ));
    (config, started)
}

/// A thread that cancels through `handle` once `started` is set and [`CANCEL_AFTER`] more has
/// passed.
fn cancel_once_started(handle: CancelHandle, started: Arc<AtomicBool>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        while !started.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(CANCEL_AFTER);
        handle.cancel();
    })
}

/// Runs `func` of `wat` under `config` (see [`cancel_config`]) while another thread cancels it
/// once it is running; checks what every cancelled report must say and returns it with the
/// instance.
fn run_cancelled(
    h: &Harness,
    wat: &str,
    func: &str,
    config: SandboxConfig,
) -> (ExecutionResult, Box<dyn Instance>) {
    let (config, started) = cancel_config(config);
    let module = h
        .sandbox(config.clone())
        .load(wat.as_bytes())
        .unwrap_or_else(|err| panic!("{}: {err}", h.backend));
    let mut instance = module
        .instantiate(&config)
        .unwrap_or_else(|report| panic!("{}: {:?}", h.backend, report.outcome));
    let handle = instance.cancel_handle();
    let canceller = cancel_once_started(handle.clone(), started);
    let called = Instant::now();
    let result = instance.call(func, &[]).unwrap();
    let waited = called.elapsed();
    canceller.join().unwrap();
    let elapsed = match &result.outcome {
        Outcome::Failed(SandboxError::Cancelled { elapsed }) => *elapsed,
        other => panic!("{}: {func}: expected cancelled, got {other:?}", h.backend),
    };
    assert_eq!(result.outcome.kind(), "cancelled");
    assert!(
        waited < STOPPED_WITHIN,
        "{}: {func} stopped only after {waited:?}",
        h.backend
    );
    // Cancelled while running: after the guest said so, and after the canceller's delay.
    assert!(elapsed >= CANCEL_AFTER, "{}: {elapsed:?}", h.backend);
    assert_eq!(result.execution_time, elapsed, "{}", h.backend);
    assert!(
        !handle.is_pending(),
        "{}: the call it stopped consumed the request",
        h.backend
    );
    (result, instance)
}

/// Checks that `instance` (of [`LOOPS`]) runs its next call normally.
fn next_call_runs(h: &Harness, instance: &mut dyn Instance) {
    let next = instance
        .call("add", &[WasmValue::I32(2), WasmValue::I32(3)])
        .unwrap();
    assert_eq!(next.outcome, Outcome::Ok, "{}", h.backend);
    assert_eq!(next.return_values, [WasmValue::I32(5)]);
}

pub fn cancel_stops_an_endless_loop_from_another_thread(h: &Harness) {
    let (result, mut instance) = run_cancelled(h, LOOPS, "spin", h.config());
    let fuel = result.fuel_consumed.expect("metering is on");
    assert!(fuel > 0, "{}: fuel {fuel}", h.backend);
    assert_eq!(
        result.peak_memory, 0,
        "{}: the module has no memory",
        h.backend
    );
    next_call_runs(h, instance.as_mut());
}

pub fn cancel_before_a_call_ends_it_at_its_start(h: &Harness) {
    let (config, started) = cancel_config(h.config());
    let module = h.sandbox(config.clone()).load(LOOPS.as_bytes()).unwrap();
    let mut instance = module.instantiate(&config).unwrap();
    let handle = instance.cancel_handle();
    assert!(!handle.is_pending());
    handle.cancel();
    assert!(handle.is_pending() && instance.cancel_handle().is_pending());
    // Even an endless loop: it never starts.
    let result = instance.call("spin", &[]).unwrap();
    match &result.outcome {
        Outcome::Failed(SandboxError::Cancelled { elapsed }) => {
            assert!(*elapsed < STOPPED_WITHIN, "{}: {elapsed:?}", h.backend);
        }
        other => panic!("{}: expected cancelled, got {other:?}", h.backend),
    }
    assert!(
        !started.load(Ordering::SeqCst),
        "{}: the guest ran",
        h.backend
    );
    assert_eq!(result.fuel_consumed, Some(0), "{}", h.backend);
    assert!(result.return_values.is_empty());
    assert!(
        !handle.is_pending(),
        "{}: the request was consumed",
        h.backend
    );
    // One request stops one call: the next one runs.
    let next = instance
        .call("add", &[WasmValue::I32(40), WasmValue::I32(2)])
        .unwrap();
    assert_eq!(next.outcome, Outcome::Ok, "{}", h.backend);
    assert_eq!(next.return_values, [WasmValue::I32(42)]);
    // A request withdrawn before the call stops nothing.
    handle.cancel();
    assert!(handle.take_pending());
    let next = instance
        .call("add", &[WasmValue::I32(1), WasmValue::I32(2)])
        .unwrap();
    assert_eq!(next.outcome, Outcome::Ok, "{}", h.backend);
    // A call refused before the guest runs does not consume the request.
    handle.cancel();
    let refused = instance.call("no_such_function", &[]);
    assert_eq!(refused.unwrap_err().kind(), "function_not_found");
    assert!(handle.is_pending(), "{}", h.backend);
    let cancelled = instance
        .call("add", &[WasmValue::I32(1), WasmValue::I32(2)])
        .unwrap();
    assert_eq!(cancelled.outcome.kind(), "cancelled", "{}", h.backend);
}

pub fn cancel_stops_a_loop_calling_a_host_function(h: &Harness) {
    let (result, mut instance) = run_cancelled(h, LOOPS, "spin_calling_host", h.config());
    assert!(result.fuel_consumed.is_some_and(|fuel| fuel > 0));
    next_call_runs(h, instance.as_mut());
}

pub fn cancel_works_without_fuel_metering(h: &Harness) {
    let config = SandboxConfig {
        max_fuel: None,
        ..h.config()
    };
    for func in ["spin", "spin_calling_host"] {
        let (result, mut instance) = run_cancelled(h, LOOPS, func, config.clone());
        assert_eq!(result.fuel_consumed, None, "{}: metering is off", h.backend);
        next_call_runs(h, instance.as_mut());
    }
}

pub fn cancel_stops_a_wasi_command_and_keeps_its_output(h: &Harness) {
    let (result, _) = run_cancelled(h, WASI_SPIN, "_start", h.config());
    assert_eq!(
        String::from_utf8_lossy(&result.stdout),
        "partial stdout\n",
        "{}",
        h.backend
    );
    assert!(result.fuel_consumed.is_some_and(|fuel| fuel > 0));
    assert_eq!(result.peak_memory, 65536, "{}", h.backend);
}

pub fn cancel_handles_of_an_instance_share_one_request(h: &Harness) {
    let (config, _) = cancel_config(h.config());
    let module = h.sandbox(config.clone()).load(LOOPS.as_bytes()).unwrap();
    let mut first = module.instantiate(&config).unwrap();
    let mut second = module.instantiate(&config).unwrap();
    let (a, b) = (first.cancel_handle(), first.cancel_handle());
    a.cancel();
    assert!(b.is_pending(), "{}", h.backend);
    // Another instance has its own request.
    assert!(!second.cancel_handle().is_pending());
    let add = [WasmValue::I32(1), WasmValue::I32(1)];
    assert_eq!(second.call("add", &add).unwrap().outcome, Outcome::Ok);
    assert_eq!(first.call("add", &add).unwrap().outcome.kind(), "cancelled");
    assert!(!a.is_pending() && !b.is_pending());
}

pub fn time_limit_still_applies_while_a_cancel_handle_exists(h: &Harness) {
    let limit = Duration::from_millis(100);
    let (config, _) = cancel_config(SandboxConfig {
        max_fuel: None,
        ..h.config()
    });
    let config = SandboxConfig {
        max_execution_time: limit,
        ..config
    };
    let module = h.sandbox(config.clone()).load(LOOPS.as_bytes()).unwrap();
    let mut instance = module.instantiate(&config).unwrap();
    let handle = instance.cancel_handle();
    let result = instance.call("spin", &[]).unwrap();
    match &result.outcome {
        Outcome::Failed(SandboxError::TimeLimitExceeded { elapsed, .. }) => {
            assert!(
                *elapsed >= limit,
                "{}: stopped early: {elapsed:?}",
                h.backend
            );
            assert!(*elapsed < STOPPED_WITHIN, "{}: {elapsed:?}", h.backend);
        }
        other => panic!("{}: expected the time limit, got {other:?}", h.backend),
    }
    assert!(!handle.is_pending());
    next_call_runs(h, instance.as_mut());
}

pub fn cancel_with_the_time_limit_off_ends_the_next_call(h: &Harness) {
    // Without the time limit wasmtime compiles no interrupt check into the code, so only a
    // request made before the call is certain to stop it on every engine.
    let (config, _) = cancel_config(SandboxConfig {
        enforce_time_limit: false,
        max_fuel: None,
        ..h.config()
    });
    let module = h.sandbox(config.clone()).load(LOOPS.as_bytes()).unwrap();
    let mut instance = module.instantiate(&config).unwrap();
    let handle = instance.cancel_handle();
    handle.cancel();
    let result = instance.call("spin", &[]).unwrap();
    assert_eq!(result.outcome.kind(), "cancelled", "{}", h.backend);
    assert!(!handle.is_pending());
    next_call_runs(h, instance.as_mut());
}
