//! The call fast path ([`sandbox::Instance::export_func`] / [`sandbox::Instance::call_func`]):
//! the same values, fuel and outcomes as [`sandbox::Instance::call`], every limit kept, bad
//! input refused, output left for [`sandbox::Instance::take_output`]. (The optimised pass of
//! the suite also runs every `Harness::run` call through it.)

use conformance_tests::Harness;
use sandbox::{Instance, Outcome, SandboxConfig, SandboxError, WasmValue};
use std::time::Duration;

const MIB: u64 = 1024 * 1024;
const PAGE: u64 = 65536;

fn instance(h: &Harness, fixture: &str, config: &SandboxConfig) -> Box<dyn Instance> {
    h.load(fixture, config)
        .instantiate(config)
        .unwrap_or_else(|report| panic!("{}: {:?}", h.backend, report.outcome))
}

/// `func(args)` on the fast path: the report and the results.
fn fast(
    h: &Harness,
    instance: &mut dyn Instance,
    func: &str,
    args: &[WasmValue],
) -> (sandbox::CallReport, Vec<WasmValue>) {
    let export = instance
        .export_func(func)
        .unwrap_or_else(|err| panic!("{}: {func}: {err}", h.backend));
    let mut results = vec![WasmValue::I32(0); export.signature().results.len()];
    let report = instance
        .call_func(&export, args, &mut results)
        .unwrap_or_else(|err| panic!("{}: {func}: {err}", h.backend));
    (report, results)
}

/// A value with floats as their bits, so NaN payloads compare.
fn bits(value: &WasmValue) -> (u8, u128) {
    match *value {
        WasmValue::I32(v) => (0, v as u32 as u128),
        WasmValue::I64(v) => (1, v as u64 as u128),
        WasmValue::F32(v) => (2, v.to_bits() as u128),
        WasmValue::F64(v) => (3, v.to_bits() as u128),
        ref other => panic!("not a number: {other:?}"),
    }
}

fn failure(h: &Harness, report: &sandbox::CallReport) -> SandboxError {
    match &report.outcome {
        Outcome::Failed(err) => err.clone(),
        other => panic!("{}: expected a failure, got {other:?}", h.backend),
    }
}

pub fn fast_calls_return_what_calls_return(h: &Harness) {
    let config = h.config();
    let cases: Vec<(&str, Vec<WasmValue>)> = vec![
        ("i32_neg", vec![WasmValue::I32(7)]),
        ("i64_mul", vec![WasmValue::I64(-3), WasmValue::I64(1 << 40)]),
        ("f32_div", vec![WasmValue::F32(1.0), WasmValue::F32(3.0)]),
        ("f64_sqrt", vec![WasmValue::F64(2.0)]),
        (
            "f64_bits",
            vec![WasmValue::F64(f64::from_bits(0x7ff8_0000_dead_beef))],
        ),
        (
            "multi",
            vec![
                WasmValue::I32(1),
                WasmValue::I64(2),
                WasmValue::F32(3.5),
                WasmValue::F64(4.25),
            ],
        ),
    ];
    for (func, args) in cases {
        let slow = instance(h, "numeric.wat", &config)
            .call(func, &args)
            .unwrap();
        let mut fresh = instance(h, "numeric.wat", &config);
        let (report, results) = fast(h, &mut *fresh, func, &args);
        assert!(
            report.is_ok(),
            "{}: {func}: {:?}",
            h.backend,
            report.outcome
        );
        let same = results.len() == slow.return_values.len()
            && results
                .iter()
                .zip(&slow.return_values)
                .all(|(a, b)| bits(a) == bits(b));
        assert!(
            same,
            "{}: {func}: {results:?} vs {:?}",
            h.backend, slow.return_values
        );
        assert_eq!(
            report.fuel_consumed, slow.fuel_consumed,
            "{}: {func}",
            h.backend
        );
    }
    // Repeated calls through one handle, fuel adding up as for `call`.
    let mut loops = instance(h, "loops.wat", &config);
    let export = loops.export_func("count").unwrap();
    let mut total = 0;
    for n in [10, 20, 30] {
        let mut results = [WasmValue::I32(0)];
        let report = loops
            .call_func(&export, &[WasmValue::I32(n)], &mut results)
            .unwrap();
        assert_eq!(results, [WasmValue::I32(n * (n + 1) / 2)]);
        total += report.fuel_consumed.unwrap();
    }
    assert_eq!(loops.fuel_consumed(), Some(total), "{}", h.backend);
}

pub fn fast_calls_refuse_what_calls_refuse(h: &Harness) {
    let config = h.config();
    let mut first = instance(h, "add.wat", &config);
    let add = first.export_func("add").unwrap();
    let mut one = [WasmValue::I32(0)];
    let kind = |result: Result<sandbox::CallReport, SandboxError>| match result {
        Err(err) => err.kind(),
        Ok(report) => panic!("{}: accepted: {:?}", h.backend, report.outcome),
    };
    assert_eq!(
        kind(first.call_func(&add, &[WasmValue::I64(5), WasmValue::I32(7)], &mut one)),
        "type_mismatch"
    );
    assert_eq!(
        kind(first.call_func(&add, &[WasmValue::I32(5)], &mut one)),
        "type_mismatch"
    );
    assert_eq!(
        kind(first.call_func(&add, &[WasmValue::I32(5), WasmValue::I32(7)], &mut [])),
        "type_mismatch"
    );
    let mut second = instance(h, "add.wat", &config);
    assert_eq!(
        kind(second.call_func(&add, &[WasmValue::I32(5), WasmValue::I32(7)], &mut one)),
        "unsupported"
    );
    assert_eq!(
        first.export_func("missing").unwrap_err().kind(),
        "function_not_found"
    );
    // Nothing ran: the instance still works.
    let report = first
        .call_func(&add, &[WasmValue::I32(5), WasmValue::I32(7)], &mut one)
        .unwrap();
    assert!(report.is_ok());
    assert_eq!(one, [WasmValue::I32(12)]);
}

pub fn fast_calls_keep_every_limit(h: &Harness) {
    // Memory: growth past the limit ends the call as `memory_limit_exceeded`, and the next
    // call on the same instance runs normally.
    let config = SandboxConfig {
        max_memory_bytes: 2 * MIB,
        ..h.config()
    };
    let mut memory = instance(h, "memory.wat", &config);
    let (report, results) = fast(h, &mut *memory, "grow", &[WasmValue::I32(10)]);
    assert!(report.is_ok());
    assert_eq!(results, [WasmValue::I32(1)]);
    let (report, _) = fast(h, &mut *memory, "grow", &[WasmValue::I32(100)]);
    assert_eq!(
        failure(h, &report),
        SandboxError::MemoryLimitExceeded {
            used: 111 * PAGE,
            limit: 2 * MIB
        }
    );
    let (report, results) = fast(h, &mut *memory, "size", &[]);
    assert!(report.is_ok(), "{}: {:?}", h.backend, report.outcome);
    assert_eq!(results, [WasmValue::I32(11)]);
    assert_eq!(report.peak_memory, 11 * PAGE);

    // Fuel: the budget runs out as it does for `call`.
    let config = SandboxConfig {
        max_fuel: Some(1000),
        ..h.config()
    };
    let mut loops = instance(h, "loops.wat", &config);
    let (report, _) = fast(h, &mut *loops, "count", &[WasmValue::I32(1_000_000)]);
    assert_eq!(
        failure(h, &report),
        SandboxError::FuelExhausted {
            used: 1000,
            limit: 1000
        }
    );
    assert_eq!(report.fuel_consumed, Some(1000));

    // Time: an endless loop is stopped at the limit.
    let limit = Duration::from_millis(100);
    let config = SandboxConfig {
        max_execution_time: limit,
        max_fuel: None,
        ..h.config()
    };
    let mut loops = instance(h, "loops.wat", &config);
    let (report, _) = fast(h, &mut *loops, "spin", &[]);
    match failure(h, &report) {
        SandboxError::TimeLimitExceeded {
            elapsed,
            limit: reported,
        } => {
            assert_eq!(reported, limit);
            assert!(
                elapsed >= limit,
                "{}: stopped early: {elapsed:?}",
                h.backend
            );
            assert!(
                elapsed < Duration::from_secs(5),
                "{}: late: {elapsed:?}",
                h.backend
            );
        }
        other => panic!("{}: {other}", h.backend),
    }
    // And the next call on that instance has its own deadline.
    let (report, results) = fast(h, &mut *loops, "count", &[WasmValue::I32(3)]);
    assert!(report.is_ok(), "{}: {:?}", h.backend, report.outcome);
    assert_eq!(results, [WasmValue::I32(6)]);
}

/// A WASI module with an export (not `_start`) that writes a line to stdout.
const SAYS_HI: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "hi\n")
  (func (export "say") (result i32)
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 3))
    (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))"#;

pub fn fast_calls_leave_output_for_take_output(h: &Harness) {
    let config = h.config();
    let module = h.sandbox(config.clone()).load(SAYS_HI.as_bytes()).unwrap();
    let mut instance = module.instantiate(&config).unwrap();
    for _ in 0..2 {
        let (report, results) = fast(h, &mut *instance, "say", &[]);
        assert!(report.is_ok(), "{}: {:?}", h.backend, report.outcome);
        assert_eq!(results, [WasmValue::I32(0)], "{}: errno", h.backend);
    }
    let output = instance.take_output();
    assert_eq!(output.stdout, b"hi\nhi\n", "{}", h.backend);
    assert!(instance.take_output().stdout.is_empty(), "taken once");
    // A plain call reports its own output only.
    let result = instance.call("say", &[]).unwrap();
    assert_eq!(result.stdout, b"hi\n");
}
