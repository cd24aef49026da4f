//! Behaviour of the wasmer backend through the public contract.

use sandbox_core::{
    compile_wat_to_wasm, BackendKind, CompiledModule, ExecutionResult, Outcome, Sandbox,
    SandboxConfig, SandboxError, Trap, WasmValue,
};
use sandbox_wasmer::WasmerSandbox;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod wasi;

const PAGE: u64 = 65536;
const MIB: u64 = 1024 * 1024;

const ADD: &str = r#"(module
  (func (export "add") (param i32 i32) (result i32)
    local.get 0
    local.get 1
    i32.add))"#;

const LOOPS: &str = r#"(module
  (func (export "spin")
    (loop $l (br $l)))
  (func (export "count") (param $n i32) (result i32)
    (local $acc i32)
    (block $done
      (loop $l
        local.get $n
        i32.eqz
        br_if $done
        local.get $acc
        local.get $n
        i32.add
        local.set $acc
        local.get $n
        i32.const 1
        i32.sub
        local.set $n
        br $l))
    local.get $acc)
  (func $square (param i64) (result i64)
    local.get 0 local.get 0 i64.mul)
  (func (export "heavy") (param $n i32) (result i64)
    (local $acc i64)
    (loop $l
      local.get $acc
      local.get $n
      i64.extend_i32_u
      call $square
      i64.add
      local.set $acc
      local.get $n
      i32.const 1
      i32.sub
      local.tee $n
      br_if $l)
    local.get $acc))"#;

const MEMORY: &str = r#"(module
  (memory (export "memory") 1 1000)
  (func (export "grow") (param i32) (result i32)
    local.get 0 memory.grow)
  (func (export "size") (result i32)
    memory.size)
  (func (export "div") (param i32) (result i32)
    i32.const 1 local.get 0 i32.div_u))"#;

const TRAPS: &str = r#"(module
  (type $i2i (func (param i32) (result i32)))
  (type $void (func))
  (memory 1)
  (table 2 funcref)
  (elem (i32.const 0) $void_fn)
  (func $void_fn)
  (func (export "unreachable") unreachable)
  (func (export "memory_out_of_bounds") (result i32)
    i32.const 0xfffffff0 i32.load)
  (func (export "table_out_of_bounds")
    i32.const 7 call_indirect (type $void))
  (func (export "indirect_call_type_mismatch") (result i32)
    i32.const 1 i32.const 0 call_indirect (type $i2i))
  (func (export "null_reference")
    i32.const 1 call_indirect (type $void))
  (func (export "integer_divide_by_zero") (param i32) (result i32)
    i32.const 1 local.get 0 i32.div_u)
  (func (export "integer_overflow") (result i32)
    i32.const 0x80000000 i32.const -1 i32.div_s)
  (func (export "bad_conversion_to_integer") (result i32)
    f32.const nan i32.trunc_f32_s)
  (func $recurse (export "stack_overflow") (param i32) (result i32)
    local.get 0 i32.const 1 i32.add call $recurse))"#;

fn i32s(values: &[i32]) -> Vec<WasmValue> {
    values.iter().copied().map(WasmValue::I32).collect()
}

fn sandbox(config: SandboxConfig) -> WasmerSandbox {
    WasmerSandbox::new(config).expect("valid config")
}

fn load(wat: &str, config: &SandboxConfig) -> Arc<dyn CompiledModule> {
    let wasm = compile_wat_to_wasm(wat).expect("wat parses");
    sandbox(config.clone()).load(&wasm).expect("module loads")
}

/// Instantiates and calls once.
fn run(wat: &str, func: &str, args: &[WasmValue], config: &SandboxConfig) -> ExecutionResult {
    let module = load(wat, config);
    let mut instance = match module.instantiate(config) {
        Ok(instance) => instance,
        Err(report) => return *report,
    };
    instance.call(func, args).expect("call starts")
}

fn error_of(result: &ExecutionResult) -> SandboxError {
    match &result.outcome {
        Outcome::Failed(err) => err.clone(),
        other => panic!("expected a failure, got {other:?} ({result:?})"),
    }
}

fn no_fuel() -> SandboxConfig {
    SandboxConfig {
        max_fuel: None,
        ..SandboxConfig::default()
    }
}

#[test]
fn add_returns_twelve_and_costs_three() {
    let result = run(ADD, "add", &i32s(&[5, 7]), &SandboxConfig::default());
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(result.return_values, i32s(&[12]));
    assert_eq!(result.backend, BackendKind::Wasmer);
    assert_eq!(
        result.fuel_consumed,
        Some(4),
        "function entry, local.get, local.get, i32.add"
    );
    let result = run(ADD, "add", &i32s(&[i32::MAX, 1]), &no_fuel());
    assert_eq!(result.return_values, i32s(&[i32::MIN]));
    assert_eq!(result.fuel_consumed, None);
}

#[test]
fn numeric_values_keep_their_bits() {
    let wat = r#"(module
      (func (export "f64_id") (param f64) (result f64) local.get 0)
      (func (export "f32_id") (param f32) (result f32) local.get 0)
      (func (export "multi") (param i32 i64 f32 f64) (result f64 f32 i64 i32)
        local.get 3 local.get 2 local.get 1 local.get 0)
      (func (export "nan") (result f64) f64.const 0 f64.const 0 f64.div))"#;
    let config = SandboxConfig::default();
    let payload = f64::from_bits(0x7ff4_0000_0000_0001);
    let result = run(wat, "f64_id", &[WasmValue::F64(payload)], &config);
    assert_eq!(result.return_values, vec![WasmValue::F64(payload)]);
    let payload = f32::from_bits(0x7fa0_0001);
    let result = run(wat, "f32_id", &[WasmValue::F32(payload)], &config);
    assert_eq!(result.return_values, vec![WasmValue::F32(payload)]);
    let args = [
        WasmValue::I32(1),
        WasmValue::I64(2),
        WasmValue::F32(3.5),
        WasmValue::F64(4.25),
    ];
    let result = run(wat, "multi", &args, &config);
    let mut reversed = args.to_vec();
    reversed.reverse();
    assert_eq!(result.return_values, reversed);
    // No NaN canonicalisation: the hardware's default NaN, as cranelift produces it on x86.
    let result = run(wat, "nan", &[], &config);
    match result.return_values[..] {
        [WasmValue::F64(v)] => assert!(v.is_nan()),
        ref other => panic!("{other:?}"),
    }
}

#[test]
fn fuel_exhaustion_stops_a_long_loop() {
    let config = SandboxConfig {
        max_fuel: Some(1000),
        ..SandboxConfig::default()
    };
    let result = run(LOOPS, "count", &i32s(&[1_000_000]), &config);
    assert_eq!(
        error_of(&result),
        SandboxError::FuelExhausted {
            used: 1000,
            limit: 1000
        }
    );
    assert_eq!(result.fuel_consumed, Some(1000));
    let started = Instant::now();
    let result = run(LOOPS, "spin", &[], &config);
    assert_eq!(error_of(&result).kind(), "fuel_exhausted");
    assert_eq!(result.fuel_consumed, Some(1000));
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn fuel_consumed_follows_the_cost_model() {
    let config = SandboxConfig::default();
    // count(n): function entry (1), 12 per iteration, 3 for the exit test, 1 for the final
    // local.get.
    for n in [0, 1, 10, 1000] {
        let result = run(LOOPS, "count", &i32s(&[n]), &config);
        assert_eq!(result.return_values, i32s(&[n * (n + 1) / 2]));
        assert_eq!(result.fuel_consumed, Some(12 * n as u64 + 5), "count({n})");
    }
    // heavy(n): entry (1); per iteration 10 operators of cost 1, `call` (5), and the callee's
    // entry (1), local.get, local.get, i64.mul (2): 20; then the final local.get.
    let result = run(LOOPS, "heavy", &i32s(&[100]), &config);
    assert_eq!(
        result.return_values,
        vec![WasmValue::I64((1..=100i64).map(|i| i * i).sum())]
    );
    assert_eq!(result.fuel_consumed, Some(20 * 100 + 2));
    // Branchy code: if/else arms, br_table and a return are charged for what ran only.
    let wat = r#"(module
      (func (export "pick") (param i32) (result i32)
        (block $b2 (block $b1 (block $b0
          local.get 0
          br_table $b0 $b1 $b2)
          i32.const 10 return)
          i32.const 20 return)
        local.get 0
        if (result i32) i32.const 1 i32.const 2 i32.add else i32.const 3 end))"#;
    // entry; local.get, br_table; then i32.const, return (free).
    assert_eq!(
        run(wat, "pick", &i32s(&[0]), &config).fuel_consumed,
        Some(4)
    );
    assert_eq!(
        run(wat, "pick", &i32s(&[1]), &config).fuel_consumed,
        Some(4)
    );
    // entry; local.get, br_table; local.get, if; i32.const, i32.const, i32.add.
    let result = run(wat, "pick", &i32s(&[5]), &config);
    assert_eq!(result.return_values, i32s(&[3]));
    assert_eq!(result.fuel_consumed, Some(8));
}

#[test]
fn fuel_budget_is_per_instance() {
    let config = SandboxConfig {
        max_fuel: Some(100),
        ..SandboxConfig::default()
    };
    let module = load(LOOPS, &config);
    let mut instance = module.instantiate(&config).unwrap();
    assert_eq!(instance.fuel_consumed(), Some(0));
    let first = instance.call("count", &i32s(&[5])).unwrap();
    assert_eq!(first.fuel_consumed, Some(65));
    assert_eq!(instance.fuel_consumed(), Some(65));
    let second = instance.call("count", &i32s(&[5])).unwrap();
    assert_eq!(
        error_of(&second),
        SandboxError::FuelExhausted {
            used: 100,
            limit: 100
        }
    );
    assert_eq!(second.fuel_consumed, Some(35), "the rest of the budget");
    assert_eq!(instance.fuel_consumed(), Some(100));
    // Still exhausted on the next call, immediately.
    let third = instance.call("count", &i32s(&[0])).unwrap();
    assert_eq!(error_of(&third).kind(), "fuel_exhausted");
    assert_eq!(third.fuel_consumed, Some(0));
    let mut fresh = module.instantiate(&config).unwrap();
    assert!(fresh
        .call("count", &i32s(&[5]))
        .unwrap()
        .outcome
        .is_success());
}

#[test]
fn time_limit_stops_an_infinite_loop_without_fuel() {
    let limit = Duration::from_millis(100);
    let config = SandboxConfig {
        max_execution_time: limit,
        ..no_fuel()
    };
    let module = load(LOOPS, &config);
    let mut instance = module.instantiate(&config).unwrap();
    for _ in 0..3 {
        let result = instance.call("spin", &[]).unwrap();
        match error_of(&result) {
            SandboxError::TimeLimitExceeded {
                elapsed,
                limit: reported,
            } => {
                assert_eq!(reported, limit);
                assert!(elapsed >= limit, "stopped early: {elapsed:?}");
                assert!(
                    elapsed < Duration::from_secs(1),
                    "stopped late: {elapsed:?}"
                );
            }
            other => panic!("{other}"),
        }
        assert_eq!(result.fuel_consumed, None);
        // The instance keeps working after an interrupt.
        let ok = instance.call("count", &i32s(&[3])).unwrap();
        assert_eq!(ok.return_values, i32s(&[6]));
    }
}

#[test]
fn time_limit_catches_a_loop_that_lives_in_libcalls() {
    // Most of the time is spent inside wasmer's memory.size/grow libcalls, where an interrupt
    // signal is lost; the watchdog must keep retrying.
    let wat = r#"(module (memory 1)
      (func (export "spin") (loop $l i32.const 0 memory.grow drop br $l)))"#;
    let config = SandboxConfig {
        max_execution_time: Duration::from_millis(100),
        ..no_fuel()
    };
    let result = run(wat, "spin", &[], &config);
    assert_eq!(error_of(&result).kind(), "time_limit_exceeded");
    assert!(result.execution_time < Duration::from_secs(1));
}

#[test]
fn limits_apply_in_a_start_function() {
    let spin = r#"(module
      (func $start (loop $l (br $l)))
      (start $start)
      (func (export "never") (result i32) i32.const 1))"#;
    let config = SandboxConfig {
        max_fuel: Some(10_000),
        ..SandboxConfig::default()
    };
    let module = load(spin, &config);
    let report = module.instantiate(&config).err().expect("start spins");
    assert_eq!(
        error_of(&report),
        SandboxError::FuelExhausted {
            used: 10_000,
            limit: 10_000
        }
    );
    assert_eq!(report.fuel_consumed, Some(10_000));

    let config = SandboxConfig {
        max_execution_time: Duration::from_millis(100),
        ..no_fuel()
    };
    let module = load(spin, &config);
    let report = module.instantiate(&config).err().expect("start spins");
    assert_eq!(error_of(&report).kind(), "time_limit_exceeded");
    assert!(report.execution_time >= Duration::from_millis(100));
    assert!(report.execution_time < Duration::from_secs(1));

    // A start function that completes is charged to the instance's budget and ran before
    // the first call; a trap in it fails instantiation with the trap.
    let counted = r#"(module
      (global $g (mut i32) (i32.const 0))
      (func $start i32.const 41 i32.const 1 i32.add global.set $g)
      (start $start)
      (func (export "get") (result i32) global.get $g))"#;
    let config = SandboxConfig::default();
    let module = load(counted, &config);
    let mut instance = module.instantiate(&config).unwrap();
    // What wasmtime's startup code charges (its entry and the call: 2), then the start
    // function's entry and four operators (5).
    assert_eq!(instance.fuel_consumed(), Some(7));
    let result = instance.call("get", &[]).unwrap();
    assert_eq!(result.return_values, i32s(&[42]));
    assert_eq!(result.fuel_consumed, Some(2));
    assert_eq!(instance.fuel_consumed(), Some(9));
    // Budgets around the startup charge (checked, like wasmtime, only at function entries and
    // loop headers): 1 is exhausted at the startup entry, 2 and 3 at the start function's entry;
    // from 4 on the start function completes (overspending up to 3 below 7, reported as the
    // whole budget).
    for (budget, ok) in [
        (1, false),
        (2, false),
        (3, false),
        (4, true),
        (7, true),
        (8, true),
    ] {
        let config = SandboxConfig {
            max_fuel: Some(budget),
            ..SandboxConfig::default()
        };
        match module.instantiate(&config) {
            Ok(instance) => {
                assert!(ok, "budget {budget} instantiated");
                assert_eq!(instance.fuel_consumed(), Some(budget.min(7)));
            }
            Err(report) => {
                assert!(!ok, "budget {budget}: {report:?}");
                assert_eq!(
                    error_of(&report),
                    SandboxError::FuelExhausted {
                        used: budget,
                        limit: budget
                    }
                );
                assert_eq!(report.fuel_consumed, Some(budget));
            }
        }
    }
    let trapping = r#"(module (func $start unreachable) (start $start))"#;
    let report = run(trapping, "x", &[], &config);
    assert_eq!(error_of(&report).trap(), Some(Trap::Unreachable));
}

#[test]
fn reserved_export_names_do_not_collide() {
    // The module's own exports with the reserved prefix stay the module's.
    let wat = r#"(module
      (global $g (mut i32) (i32.const 0))
      (func $start i32.const 7 global.set $g)
      (start $start)
      (func (export "__sandbox_start") (result i32) i32.const 99)
      (func (export "__sandbox_fuel_remaining") (result i32) global.get $g))"#;
    let config = SandboxConfig::default();
    let module = load(wat, &config);
    let mut instance = module.instantiate(&config).unwrap();
    let result = instance.call("__sandbox_start", &[]).unwrap();
    assert_eq!(result.return_values, i32s(&[99]));
    let result = instance.call("__sandbox_fuel_remaining", &[]).unwrap();
    assert_eq!(result.return_values, i32s(&[7]));
    assert_eq!(result.fuel_consumed, Some(2));
}

#[test]
fn memory_limit_at_instantiation() {
    let wat = r#"(module (memory 1024) (func (export "main") (result i32) i32.const 0))"#;
    let config = SandboxConfig {
        max_memory_bytes: MIB,
        ..SandboxConfig::default()
    };
    let result = run(wat, "main", &[], &config);
    assert_eq!(
        error_of(&result),
        SandboxError::MemoryLimitExceeded {
            used: 64 * MIB,
            limit: MIB
        }
    );
    let result = run(wat, "main", &[], &SandboxConfig::default());
    assert_eq!(result.return_values, i32s(&[0]));
    assert_eq!(result.peak_memory, 64 * MIB);
}

#[test]
fn memory_limit_on_growth_ends_the_run() {
    let config = SandboxConfig {
        max_memory_bytes: 2 * MIB,
        ..SandboxConfig::default()
    };
    let module = load(MEMORY, &config);
    let mut instance = module.instantiate(&config).unwrap();
    assert_eq!(instance.peak_memory(), PAGE);
    let grown = instance.call("grow", &i32s(&[10])).unwrap();
    assert_eq!(grown.return_values, i32s(&[1]));
    assert_eq!(grown.peak_memory, 11 * PAGE);
    let result = instance.call("grow", &i32s(&[100])).unwrap();
    assert_eq!(
        error_of(&result),
        SandboxError::MemoryLimitExceeded {
            used: 111 * PAGE,
            limit: 2 * MIB
        }
    );
    let size = instance.call("size", &[]).unwrap();
    assert_eq!(size.return_values, i32s(&[11]));
    // A later trap is reported as itself, not as the earlier limit.
    let trap = instance.call("div", &i32s(&[0])).unwrap();
    assert_eq!(error_of(&trap).trap(), Some(Trap::IntegerDivideByZero));
    // Growing exactly to the limit works.
    let to_limit = instance.call("grow", &i32s(&[32 - 11])).unwrap();
    assert_eq!(to_limit.return_values, i32s(&[11]));
    assert_eq!(instance.peak_memory(), 2 * MIB);
    let one_more = instance.call("grow", &i32s(&[1])).unwrap();
    assert_eq!(error_of(&one_more).kind(), "memory_limit_exceeded");
}

#[test]
fn growth_past_the_module_maximum_returns_minus_one() {
    let wat = r#"(module (memory 1 2)
      (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))"#;
    let config = SandboxConfig::default();
    let module = load(wat, &config);
    let mut instance = module.instantiate(&config).unwrap();
    let result = instance.call("grow", &i32s(&[5])).unwrap();
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(result.return_values, i32s(&[-1]));
    assert_eq!(
        result.fuel_consumed,
        Some(257),
        "entry, local.get and memory.grow"
    );
    let result = instance.call("grow", &i32s(&[1])).unwrap();
    assert_eq!(result.return_values, i32s(&[1]));
    // Past the wasm32 maximum with no declared maximum: -1 as well, whatever the limit.
    let wat = r#"(module (memory 1)
      (func (export "grow") (param i32) (result i32) local.get 0 memory.grow))"#;
    let result = run(wat, "grow", &i32s(&[-1]), &config);
    assert_eq!(result.return_values, i32s(&[-1]));
    let result = run(wat, "grow", &i32s(&[65536]), &config);
    assert_eq!(result.return_values, i32s(&[-1]));
    // Within the wasm32 maximum but past the sandbox limit: the run ends.
    let result = run(wat, "grow", &i32s(&[65535]), &config);
    assert_eq!(
        error_of(&result),
        SandboxError::MemoryLimitExceeded {
            used: 65536 * PAGE,
            limit: config.max_memory_bytes
        }
    );
}

#[test]
fn table_limits() {
    let huge =
        r#"(module (table 10000000 funcref) (func (export "main") (result i32) i32.const 0))"#;
    let config = SandboxConfig::default();
    let result = run(huge, "main", &[], &config);
    assert_eq!(
        error_of(&result),
        SandboxError::TableLimitExceeded {
            used: 10_000_000,
            limit: config.max_table_elements
        }
    );

    let bomb = r#"(module
      (table $t 1 funcref)
      (table $u 5 externref)
      (func (export "grow_table") (param i32) (result i32)
        ref.null func local.get 0 table.grow $t)
      (func (export "grow_other") (param i32) (result i32)
        ref.null extern local.get 0 table.grow $u)
      (func (export "table_size") (result i32)
        table.size $t))"#;
    let config = SandboxConfig {
        max_table_elements: 1000,
        ..SandboxConfig::default()
    };
    let module = load(bomb, &config);
    let mut instance = module.instantiate(&config).unwrap();
    let grown = instance.call("grow_table", &i32s(&[10])).unwrap();
    assert_eq!(grown.return_values, i32s(&[1]));
    let result = instance.call("grow_table", &i32s(&[1_000_000])).unwrap();
    assert_eq!(result.return_values, i32s(&[-1]));
    let result = instance.call("grow_table", &i32s(&[-1])).unwrap();
    assert_eq!(result.return_values, i32s(&[-1]));
    assert_eq!(
        instance.call("table_size", &[]).unwrap().return_values,
        i32s(&[11])
    );
    // 11 + 5 elements so far: the limit counts both tables.
    let result = instance.call("grow_other", &i32s(&[985])).unwrap();
    assert_eq!(result.return_values, i32s(&[-1]));
    let result = instance.call("grow_other", &i32s(&[984])).unwrap();
    assert_eq!(result.return_values, i32s(&[5]));
    let result = instance.call("grow_table", &i32s(&[1])).unwrap();
    assert_eq!(result.return_values, i32s(&[-1]));
}

#[test]
fn deep_recursion_overflows_the_stack() {
    // First a run with a large stack on this thread, so a cached large stack would be reused if
    // the backend did not take care.
    let big = SandboxConfig {
        max_fuel: None,
        max_stack_size: 8 * MIB,
        ..SandboxConfig::default()
    };
    let result = run(TRAPS, "stack_overflow", &i32s(&[0]), &big);
    assert_eq!(error_of(&result).trap(), Some(Trap::StackOverflow));

    let small = SandboxConfig {
        max_fuel: None,
        max_execution_time: Duration::from_secs(5),
        ..SandboxConfig::minimal()
    };
    let result = run(TRAPS, "stack_overflow", &i32s(&[0]), &small);
    assert_eq!(error_of(&result).trap(), Some(Trap::StackOverflow));

    // A recursion depth that fits 8 MiB but not 64 KiB.
    let depth = r#"(module
      (func $down (export "down") (param i32) (result i32)
        (local i64 i64 i64 i64 i64 i64 i64 i64)
        local.get 0
        i32.eqz
        if (result i32)
          i32.const 0
        else
          local.get 0 i32.const 1 i32.sub call $down i32.const 1 i32.add
        end))"#;
    let result = run(depth, "down", &i32s(&[20_000]), &big);
    assert_eq!(result.return_values, i32s(&[20_000]));
    let result = run(depth, "down", &i32s(&[20_000]), &small);
    assert_eq!(error_of(&result).trap(), Some(Trap::StackOverflow));
}

#[test]
fn traps_map_to_the_closed_enum() {
    let config = SandboxConfig::default();
    let module = load(TRAPS, &config);
    let cases: &[(&str, &[WasmValue], Trap)] = &[
        ("unreachable", &[], Trap::Unreachable),
        ("memory_out_of_bounds", &[], Trap::MemoryOutOfBounds),
        ("table_out_of_bounds", &[], Trap::TableOutOfBounds),
        (
            "indirect_call_type_mismatch",
            &[],
            Trap::IndirectCallTypeMismatch,
        ),
        ("null_reference", &[], Trap::NullReference),
        (
            "integer_divide_by_zero",
            &[WasmValue::I32(0)],
            Trap::IntegerDivideByZero,
        ),
        ("integer_overflow", &[], Trap::IntegerOverflow),
        (
            "bad_conversion_to_integer",
            &[],
            Trap::BadConversionToInteger,
        ),
        ("stack_overflow", &[WasmValue::I32(0)], Trap::StackOverflow),
    ];
    for (func, args, expected) in cases {
        let mut instance = module.instantiate(&config).unwrap();
        let result = instance.call(func, args).unwrap();
        let err = error_of(&result);
        assert_eq!(err.trap(), Some(*expected), "{func}: {err}");
        assert_eq!(err.kind(), "trap");
        let ok = instance
            .call("integer_divide_by_zero", &[WasmValue::I32(1)])
            .unwrap();
        assert_eq!(ok.return_values, i32s(&[1]), "{func}");
    }
}

#[test]
fn out_of_bounds_segments_fail_instantiation_with_the_trap() {
    let wat = r#"(module (memory 1) (data (i32.const 65535) "ab"))"#;
    let result = run(wat, "x", &[], &SandboxConfig::default());
    assert_eq!(error_of(&result).trap(), Some(Trap::MemoryOutOfBounds));
    let wat = r#"(module (table 1 funcref) (func $f) (elem (i32.const 1) $f))"#;
    let result = run(wat, "x", &[], &SandboxConfig::default());
    assert_eq!(error_of(&result).trap(), Some(Trap::TableOutOfBounds));
}

#[test]
fn state_is_kept_across_calls() {
    let wat = r#"(module
      (memory 1)
      (global $count (mut i32) (i32.const 0))
      (func (export "incr") (result i32)
        global.get $count i32.const 1 i32.add global.set $count
        i32.const 0 i32.const 0 i32.load i32.const 10 i32.add i32.store
        global.get $count)
      (func (export "cell") (result i32)
        i32.const 0 i32.load))"#;
    let config = SandboxConfig::default();
    let module = load(wat, &config);
    let mut instance = module.instantiate(&config).unwrap();
    for expected in 1..=3 {
        let result = instance.call("incr", &[]).unwrap();
        assert_eq!(result.return_values, i32s(&[expected]));
    }
    assert_eq!(
        instance.call("cell", &[]).unwrap().return_values,
        i32s(&[30])
    );
    let mut other = module.instantiate(&config).unwrap();
    assert_eq!(other.call("incr", &[]).unwrap().return_values, i32s(&[1]));
    // An instance may move to another thread between calls.
    let handle = std::thread::spawn(move || instance.call("incr", &[]).unwrap());
    assert_eq!(handle.join().unwrap().return_values, i32s(&[4]));
}

#[test]
fn calls_are_checked_before_the_guest_runs() {
    let config = SandboxConfig::default();
    let module = load(ADD, &config);
    let mut instance = module.instantiate(&config).unwrap();
    let err = instance.call("sub", &[]).err().unwrap();
    assert_eq!(
        err,
        SandboxError::FunctionNotFound {
            name: "sub".into(),
            available: vec!["add".into()]
        }
    );
    let err = instance.call("add", &i32s(&[1])).err().unwrap();
    assert_eq!(err.kind(), "type_mismatch");
    assert!(err.to_string().contains("(i32, i32) -> (i32)"), "{err}");
    let err = instance
        .call("add", &[WasmValue::I32(1), WasmValue::F64(2.0)])
        .err()
        .unwrap();
    assert!(err.to_string().contains("given (i32, f64)"), "{err}");
    assert!(instance.call("add", &i32s(&[1, 2])).is_ok());

    let wat = r#"(module (func (export "takes_ref") (param externref) (result i32) i32.const 1))"#;
    let module = load(wat, &config);
    let mut instance = module.instantiate(&config).unwrap();
    let err = instance.call("takes_ref", &[]).err().unwrap();
    assert_eq!(err.kind(), "type_mismatch");
    let result = instance
        .call("takes_ref", &[WasmValue::ExternRef(None)])
        .unwrap();
    assert_eq!(result.return_values, i32s(&[1]));
}

#[test]
fn imports_and_features() {
    let wat = r#"(module
      (import "env" "system" (func $system (param i32) (result i32)))
      (func (export "main") (result i32) i32.const 0 call $system))"#;
    let wasm = compile_wat_to_wasm(wat).unwrap();
    let err = sandbox(SandboxConfig::default()).load(&wasm).err().unwrap();
    assert_eq!(err.to_string(), "unauthorized import env::system");
    let allowed = SandboxConfig {
        allowed_imports: vec!["env::system".into()],
        ..SandboxConfig::default()
    };
    let result = run(wat, "main", &[], &allowed);
    let err = error_of(&result);
    assert_eq!(err.kind(), "link_error");
    assert!(err.to_string().contains("env::system"), "{err}");
    let module = load(wat, &allowed);
    let report = module.instantiate(&SandboxConfig::default()).err().unwrap();
    assert_eq!(error_of(&report).kind(), "unauthorized_import");

    let simd = r#"(module (func (export "lane") (result i32)
      v128.const i32x4 1 2 3 4 i32x4.extract_lane 2))"#;
    let wasm = compile_wat_to_wasm(simd).unwrap();
    let sandbox = sandbox(SandboxConfig::default());
    assert!(!sandbox.capabilities().proposals.contains(&"simd"));
    let err = sandbox.load(&wasm).err().unwrap();
    assert_eq!(err.kind(), "unsupported", "{err}");
    for wat in [
        r#"(module (memory 1 1 shared))"#,
        r#"(module (func $f) (func (export "g") return_call $f))"#,
        r#"(module (memory 1) (memory 1))"#,
        r#"(module (memory i64 1))"#,
        r#"(module (tag $t) (func (export "f") throw $t))"#,
    ] {
        let wasm = compile_wat_to_wasm(wat).unwrap();
        let err = sandbox.load(&wasm).err().unwrap();
        assert_eq!(err.kind(), "unsupported", "{wat}: {err}");
    }
    // Fuel switched the other way than the module was compiled for.
    let module = load(ADD, &SandboxConfig::default());
    let report = module.instantiate(&no_fuel()).err().unwrap();
    assert_eq!(error_of(&report).kind(), "unsupported");
}

#[test]
fn modules_compiled_in_parallel_keep_their_own_instrumentation() {
    // Different global layouts per module; compiled concurrently on the same engine.
    let config = SandboxConfig::default();
    let sandbox = Arc::new(sandbox(config.clone()));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let sandbox = sandbox.clone();
            let config = config.clone();
            std::thread::spawn(move || {
                let globals: String = (0..i)
                    .map(|g| format!("(global $g{g} (mut i64) (i64.const {g}))"))
                    .collect();
                let tables = if i % 2 == 0 { "(table 1 funcref)" } else { "" };
                let wat = format!(
                    r#"(module {globals} {tables} (memory 1)
                      (func (export "f") (param i32) (result i32)
                        local.get 0 i32.const {i} i32.add))"#
                );
                let wasm = compile_wat_to_wasm(wat).unwrap();
                let module = sandbox.load(&wasm).unwrap();
                let mut instance = module.instantiate(&config).unwrap();
                let result = instance.call("f", &i32s(&[100])).unwrap();
                assert_eq!(result.return_values, i32s(&[100 + i]));
                assert_eq!(result.fuel_consumed, Some(4));
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
}

#[test]
fn engines_are_shared() {
    let a = sandbox(SandboxConfig::default());
    let b = sandbox(SandboxConfig::minimal());
    let c = sandbox(no_fuel());
    assert_eq!(a.engine().id(), b.engine().id());
    assert_ne!(a.engine().id(), c.engine().id());
    let caps = a.capabilities();
    assert_eq!(caps.backend, BackendKind::Wasmer);
    assert_eq!(caps.engine_version, "7.4.2");
    assert_eq!(caps.compiler, "singlepass");
    assert!(caps.fuel && caps.wall_clock_limit && caps.memory_limit && caps.stack_limit);
    assert!(caps.wasi && !caps.network);
    assert!(WasmerSandbox::new(SandboxConfig {
        max_stack_size: 10,
        ..SandboxConfig::default()
    })
    .is_err());
}

#[test]
fn fuel_is_checked_where_wasmtime_checks_it() {
    let budget = |fuel| SandboxConfig {
        max_fuel: Some(fuel),
        ..SandboxConfig::default()
    };
    // add costs 4. With 1, the entry check finds nothing left.
    let result = run(ADD, "add", &i32s(&[1, 2]), &budget(1));
    assert_eq!(error_of(&result).kind(), "fuel_exhausted");
    assert_eq!(result.fuel_consumed, Some(1));
    // With 2, the entry check passes and nothing checks again: the call completes, having used
    // the whole budget (and a little more, which is not reported).
    let result = run(ADD, "add", &i32s(&[1, 2]), &budget(2));
    assert_eq!(result.return_values, i32s(&[3]));
    assert_eq!(result.fuel_consumed, Some(2));
    // With exactly 4 the call completes; the next one is refused at its entry.
    let module = load(ADD, &budget(4));
    let mut instance = module.instantiate(&budget(4)).unwrap();
    assert_eq!(
        instance.call("add", &i32s(&[1, 2])).unwrap().fuel_consumed,
        Some(4)
    );
    let next = instance.call("add", &i32s(&[1, 2])).unwrap();
    assert_eq!(error_of(&next).kind(), "fuel_exhausted");

    // A bulk operator with a non-constant length is a check point; with a constant one it is
    // not. Both functions cost 5 (entry, three operands, memory.fill).
    let wat = r#"(module (memory 1)
      (func (export "dynamic") (param i32)
        i32.const 0 i32.const 0 local.get 0 memory.fill)
      (func (export "constant") (param i32)
        i32.const 0 i32.const 0 i32.const 10 memory.fill))"#;
    let result = run(wat, "dynamic", &i32s(&[10]), &budget(4));
    assert_eq!(error_of(&result).kind(), "fuel_exhausted");
    let result = run(wat, "constant", &i32s(&[10]), &budget(4));
    assert_eq!(result.outcome, Outcome::Ok);
    assert_eq!(result.fuel_consumed, Some(4));
    for func in ["dynamic", "constant"] {
        let result = run(wat, func, &i32s(&[10]), &budget(5));
        assert_eq!(result.fuel_consumed, Some(5), "{func}");
    }
}

#[test]
fn one_watchdog_serves_concurrent_runs() {
    // Different deadlines on several threads at once; each run stops at its own.
    let handles: Vec<_> = [50u64, 150, 100, 250]
        .into_iter()
        .map(|millis| {
            std::thread::spawn(move || {
                let limit = Duration::from_millis(millis);
                let config = SandboxConfig {
                    max_execution_time: limit,
                    ..no_fuel()
                };
                let result = run(LOOPS, "spin", &[], &config);
                match error_of(&result) {
                    SandboxError::TimeLimitExceeded { elapsed, .. } => {
                        assert!(elapsed >= limit, "{millis} ms: stopped early: {elapsed:?}");
                        assert!(
                            elapsed < limit + Duration::from_millis(900),
                            "{millis} ms: stopped late: {elapsed:?}"
                        );
                    }
                    other => panic!("{millis} ms: {other}"),
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    // A call that finishes in time is not disturbed by the watchdog afterwards.
    let config = SandboxConfig {
        max_execution_time: Duration::from_millis(20),
        ..no_fuel()
    };
    let module = load(LOOPS, &config);
    let mut instance = module.instantiate(&config).unwrap();
    for _ in 0..20 {
        let result = instance.call("count", &i32s(&[10])).unwrap();
        assert_eq!(result.return_values, i32s(&[55]));
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Cancels through `handle` from another thread after `after`.
fn cancel_after(
    handle: sandbox_core::CancelHandle,
    after: Duration,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(after);
        handle.cancel();
    })
}

#[test]
fn cancel_interrupts_a_run_with_the_time_limit_off() {
    // Without the time limit runs are not registered for a deadline, but a run someone can
    // cancel is registered for its request.
    let config = SandboxConfig {
        enforce_time_limit: false,
        ..no_fuel()
    };
    let module = load(LOOPS, &config);
    let mut instance = module.instantiate(&config).unwrap();
    let canceller = cancel_after(instance.cancel_handle(), Duration::from_millis(50));
    let result = instance.call("spin", &[]).unwrap();
    canceller.join().unwrap();
    assert_eq!(error_of(&result).kind(), "cancelled", "{result:?}");
    assert!(result.execution_time < Duration::from_secs(5));
    let ok = instance.call("count", &i32s(&[3])).unwrap();
    assert_eq!(ok.return_values, i32s(&[6]));
}

#[test]
fn cancel_catches_a_loop_that_lives_in_libcalls() {
    // As for the time limit: the interrupts that land in wasmer's memory.grow libcall are
    // lost, and the watchdog keeps sending them while the request is pending.
    let wat = r#"(module (memory 1)
      (func (export "spin") (loop $l i32.const 0 memory.grow drop br $l)))"#;
    let config = SandboxConfig {
        max_execution_time: Duration::from_secs(60),
        ..no_fuel()
    };
    let module = load(wat, &config);
    let mut instance = module.instantiate(&config).unwrap();
    let handle = instance.cancel_handle();
    let canceller = cancel_after(handle.clone(), Duration::from_millis(50));
    let result = instance.call("spin", &[]).unwrap();
    canceller.join().unwrap();
    assert_eq!(error_of(&result).kind(), "cancelled", "{result:?}");
    assert!(result.execution_time < Duration::from_secs(5));
    assert!(!handle.is_pending());
}

#[test]
fn a_cancel_stops_its_own_run_only() {
    // Two runs watched at once: the cancelled one reports `cancelled`, the other one reaches
    // its own deadline and reports the time limit.
    let limit = Duration::from_millis(300);
    let config = SandboxConfig {
        max_execution_time: limit,
        ..no_fuel()
    };
    let module = load(LOOPS, &config);
    let mut cancelled = module.instantiate(&config).unwrap();
    let mut timed = module.instantiate(&config).unwrap();
    let _kept = timed.cancel_handle();
    let timed_run = std::thread::spawn(move || timed.call("spin", &[]).unwrap());
    let canceller = cancel_after(cancelled.cancel_handle(), Duration::from_millis(20));
    let result = cancelled.call("spin", &[]).unwrap();
    canceller.join().unwrap();
    assert_eq!(error_of(&result).kind(), "cancelled", "{result:?}");
    let timed = timed_run.join().unwrap();
    match error_of(&timed) {
        SandboxError::TimeLimitExceeded { elapsed, .. } => assert!(elapsed >= limit),
        other => panic!("{other}"),
    }
}

/// A module of its own for each `n`: `f` returns `n`.
fn distinct(n: i64) -> Vec<u8> {
    compile_wat_to_wasm(format!(
        "(module (func (export \"f\") (result i64) i64.const {n}))"
    ))
    .unwrap()
}

#[test]
fn engines_are_recycled_invisibly_after_many_compiles() {
    // Enough small modules to pass the recycling bound (8 MiB of estimated code, about 16
    // KiB a small module) more than once, from one sandbox.
    let sandbox = WasmerSandbox::new(SandboxConfig::default()).unwrap();
    let first = sandbox.load(ADD.as_bytes()).unwrap();
    let mut first_instance = first.instantiate(sandbox.config()).unwrap();
    let mut kept = Vec::new();
    for n in 0..1200 {
        let module = sandbox.load(&distinct(n)).unwrap();
        let mut instance = module.instantiate(sandbox.config()).unwrap();
        let result = instance.call("f", &[]).unwrap();
        assert_eq!(result.return_values, [WasmValue::I64(n)]);
        if n % 300 == 0 {
            kept.push((n, module));
        }
    }
    // A module compiled on a retired engine still instantiates and runs, and so does an
    // instance created before the engine was retired.
    let result = first
        .instantiate(sandbox.config())
        .unwrap()
        .call("add", &[WasmValue::I32(2), WasmValue::I32(3)])
        .unwrap();
    assert_eq!(result.return_values, [WasmValue::I32(5)]);
    let result = first_instance
        .call("add", &[WasmValue::I32(4), WasmValue::I32(5)])
        .unwrap();
    assert_eq!(result.return_values, [WasmValue::I32(9)]);
    // A linked store takes modules of any generation of its engine.
    let mut linker = sandbox.linker().unwrap();
    let id = linker.instantiate(&*first).unwrap();
    let result = linker
        .call(id, "add", &[WasmValue::I32(6), WasmValue::I32(7)])
        .unwrap();
    assert_eq!(result.return_values, [WasmValue::I32(13)]);
    let fresh = sandbox.load(&distinct(-1)).unwrap();
    let id = linker.instantiate(&*fresh).unwrap();
    let result = linker.call(id, "f", &[]).unwrap();
    assert_eq!(
        result.return_values,
        [WasmValue::I64(-1)],
        "{:?}",
        result.outcome
    );
    for (n, module) in kept {
        let result = module
            .instantiate(sandbox.config())
            .unwrap()
            .call("f", &[])
            .unwrap();
        assert_eq!(result.return_values, [WasmValue::I64(n)]);
    }
    // The time limit still holds on a module of a fresh engine (its watchdog runs).
    let config = SandboxConfig {
        max_execution_time: Duration::from_millis(50),
        max_fuel: None,
        ..SandboxConfig::default()
    };
    let sandbox = WasmerSandbox::new(config.clone()).unwrap();
    let result = sandbox
        .load(LOOPS.as_bytes())
        .unwrap()
        .instantiate(&config)
        .unwrap()
        .call("spin", &[])
        .unwrap();
    assert_eq!(result.outcome.kind(), "time_limit_exceeded");
}
