//! Multi-module linking through the trait: instances registered by name, imports of every
//! kind resolved from them, the store's shared limits, and exported globals, memories and
//! tables read (and globals written) from outside.

use conformance_tests::{fixture, Harness};
use sandbox::{link_modules, LinkedModules, SandboxConfig, Trap, WasmValue};
use std::time::Duration;

fn linked(h: &Harness, config: SandboxConfig) -> LinkedModules {
    link_modules(
        h.backend,
        config,
        &[
            ("provider", &fixture("linking_provider.wat")),
            ("consumer", &fixture("linking_consumer.wat")),
        ],
    )
    .unwrap_or_else(|err| panic!("{}: linking failed: {err}", h.backend))
}

pub fn linked_module_imports_memory_function_global_and_table(h: &Harness) {
    let mut linked = linked(h, h.config());
    let result = linked
        .call(
            "consumer",
            "store_double",
            &[WasmValue::I32(8), WasmValue::I32(21)],
        )
        .unwrap();
    assert!(result.outcome.is_success(), "{:?}", result.outcome);
    // The consumer wrote through the imported memory and called the imported function...
    assert_eq!(
        linked.read_memory("provider", "memory", 8, 4).unwrap(),
        42i32.to_le_bytes()
    );
    let load = linked
        .call("provider", "load", &[WasmValue::I32(8)])
        .unwrap();
    assert_eq!(load.return_values, vec![WasmValue::I32(42)]);
    // ...bumped the imported global...
    assert_eq!(
        linked.global("provider", "counter").unwrap(),
        WasmValue::I32(1)
    );
    // ...and calls through the imported table.
    let via_table = linked
        .call("consumer", "call_table", &[WasmValue::I32(5)])
        .unwrap();
    assert_eq!(via_table.return_values, vec![WasmValue::I32(10)]);
    // A global written from outside is what the other instance sees.
    linked
        .set_global("provider", "counter", WasmValue::I32(10))
        .unwrap();
    linked
        .call(
            "consumer",
            "store_double",
            &[WasmValue::I32(0), WasmValue::I32(1)],
        )
        .unwrap();
    assert_eq!(
        linked.global("provider", "counter").unwrap(),
        WasmValue::I32(11)
    );
    // Growing the imported memory grows the provider's.
    let grown = linked.call("consumer", "grow", &[]).unwrap();
    assert_eq!(grown.return_values, vec![WasmValue::I32(1)]);
    assert_eq!(linked.memory_size("provider", "memory").unwrap(), 2 * 65536);
    assert_eq!(linked.table_size("provider", "table").unwrap(), 3);
}

pub fn exported_globals_memories_and_tables_are_reachable(h: &Harness) {
    let module = h.load("linking_provider.wat", &h.config());
    let mut instance = module.instantiate(&h.config()).unwrap();
    assert_eq!(instance.global("answer").unwrap(), WasmValue::I64(42));
    assert_eq!(instance.global("counter").unwrap(), WasmValue::I32(0));
    instance.set_global("counter", WasmValue::I32(-7)).unwrap();
    assert_eq!(instance.global("counter").unwrap(), WasmValue::I32(-7));
    // Immutable globals and values of the wrong type are refused, the global unchanged.
    let err = instance
        .set_global("answer", WasmValue::I64(1))
        .unwrap_err();
    assert_eq!(err.kind(), "type_mismatch", "{err}");
    assert!(err.to_string().contains("immutable"), "{err}");
    let err = instance
        .set_global("counter", WasmValue::I64(1))
        .unwrap_err();
    assert_eq!(err.kind(), "type_mismatch", "{err}");
    assert_eq!(instance.global("answer").unwrap(), WasmValue::I64(42));
    assert_eq!(instance.global("counter").unwrap(), WasmValue::I32(-7));
    // Unknown names list what exists.
    let err = instance.global("nope").unwrap_err();
    assert_eq!(err.kind(), "export_not_found");
    assert!(err.to_string().contains("counter, answer"), "{err}");
    assert_eq!(
        instance.memory_size("table").unwrap_err().kind(),
        "export_not_found"
    );
    assert_eq!(instance.memory_size("memory").unwrap(), 65536);
    assert_eq!(instance.table_size("table").unwrap(), 3);
    assert_eq!(
        instance.read_memory("memory", 0, 4).unwrap(),
        vec![0, 0, 0, 0]
    );
    // Reads outside the memory are refused without allocating what was asked.
    let err = instance
        .read_memory("memory", 65534, usize::MAX)
        .unwrap_err();
    assert_eq!(err.trap(), Some(Trap::MemoryOutOfBounds), "{err}");
    let err = instance.read_memory("memory", u64::MAX, 1).unwrap_err();
    assert_eq!(err.trap(), Some(Trap::MemoryOutOfBounds), "{err}");
}

pub fn unlinkable_imports_are_refused(h: &Harness) {
    let consumer = fixture("linking_consumer.wat");
    // Nothing registered as "provider": the imports fall to the policy, which grants none.
    let err = link_modules(h.backend, h.config(), &[("consumer", &consumer)]).unwrap_err();
    assert_eq!(err.kind(), "unauthorized_import", "{err}");
    // Registered, but without the field or with another type: link errors.
    for bad in [
        r#"(module (import "provider" "missing" (func)))"#,
        r#"(module (import "provider" "double" (func (param i64))))"#,
        r#"(module (import "provider" "counter" (global i32)))"#,
        r#"(module (import "provider" "memory" (memory 5)))"#,
        r#"(module (import "provider" "double" (memory 1)))"#,
    ] {
        let err = link_modules(
            h.backend,
            h.config(),
            &[
                ("provider", &fixture("linking_provider.wat")),
                ("bad", bad.as_bytes()),
            ],
        )
        .unwrap_err();
        assert_eq!(err.kind(), "link_error", "{bad}: {err}");
    }
    // WASI is a per-program interface, not offered in a linked store.
    let err = link_modules(
        h.backend,
        h.config(),
        &[(
            "wasi",
            br#"(module (import "wasi_snapshot_preview1" "proc_exit" (func (param i32))))"#,
        )],
    )
    .unwrap_err();
    assert_eq!(err.kind(), "unsupported", "{err}");
}

pub fn traps_and_limits_in_linked_calls(h: &Harness) {
    let mut linked = linked(h, h.config());
    let boom = linked.call("consumer", "call_boom", &[]).unwrap();
    assert_eq!(
        boom.outcome.error().and_then(|e| e.trap()),
        Some(Trap::Unreachable)
    );
    // The store stays usable after a trap.
    let ok = linked
        .call("consumer", "call_table", &[WasmValue::I32(2)])
        .unwrap();
    assert_eq!(ok.return_values, vec![WasmValue::I32(4)]);

    let config = SandboxConfig {
        max_fuel: None,
        max_execution_time: Duration::from_millis(50),
        ..h.config()
    };
    let mut linked = self::linked(h, config);
    let spin = linked.call("provider", "spin", &[]).unwrap();
    assert_eq!(
        spin.outcome.error().map(|e| e.kind()),
        Some("time_limit_exceeded")
    );
}

pub fn linked_store_shares_one_fuel_budget(h: &Harness) {
    let config = SandboxConfig {
        max_fuel: Some(100_000),
        ..h.config()
    };
    let mut linked = linked(h, config);
    // A completed call crossing instances costs the same on both engines.
    let small = linked
        .call("consumer", "repeat", &[WasmValue::I32(10)])
        .unwrap();
    assert_eq!(small.return_values, vec![WasmValue::I32(20)]);
    assert_eq!(small.fuel_consumed, Some(REPEAT_10_FUEL), "{:?}", small);
    assert_eq!(linked.fuel_consumed(), Some(REPEAT_10_FUEL));
    // Work spread over both instances runs out of the one budget.
    let big = linked
        .call("consumer", "repeat", &[WasmValue::I32(1_000_000)])
        .unwrap();
    assert_eq!(
        big.outcome.error().map(|e| e.kind()),
        Some("fuel_exhausted"),
        "{:?}",
        big.outcome
    );
    assert_eq!(linked.fuel_consumed(), Some(100_000));
}

/// `repeat(n)` under the core cost model is 22n + 5: entry 1; per iteration the exit test 3
/// (`local.get`, `i32.eqz`, `br_if`), the call 14 (`local.get`, `i32.const`, `call` 5, then in
/// the provider entry 1 + `local.get`, `i32.const`, `i32.mul` 2, then `i32.add`, `local.set`),
/// the decrement 4 and the `br` 1; the last exit test 3 and `local.get` 1.
const REPEAT_10_FUEL: u64 = 22 * 10 + 5;

pub fn linked_store_shares_the_memory_limit(h: &Harness) {
    let config = SandboxConfig {
        max_memory_bytes: 2 * 65536,
        ..h.config()
    };
    let own_memory = r#"(module (memory 2))"#;
    let err = link_modules(
        h.backend,
        config.clone(),
        &[
            ("provider", &fixture("linking_provider.wat")),
            ("second", own_memory.as_bytes()),
        ],
    )
    .unwrap_err();
    assert_eq!(err.kind(), "memory_limit_exceeded", "{err}");
    // Alone, the same module fits.
    link_modules(h.backend, config, &[("second", own_memory.as_bytes())]).unwrap();
}

pub fn failed_instantiation_keeps_its_writes_to_imported_memory(h: &Harness) {
    let mut linked = link_modules(
        h.backend,
        h.config(),
        &[("provider", &fixture("linking_provider.wat"))],
    )
    .unwrap();
    let err = linked
        .add("partial", &fixture("linking_partial.wat"))
        .unwrap_err();
    assert_eq!(err.trap(), Some(Trap::MemoryOutOfBounds), "{err}");
    assert_eq!(
        linked.read_memory("provider", "memory", 0, 2).unwrap(),
        b"hi"
    );
    assert!(linked.instance("partial").is_err());
}

pub fn instances_added_after_a_call_run_under_the_store_budget(h: &Harness) {
    let config = h.config();
    let sandbox = h.sandbox(config.clone());
    let add = sandbox.load(&fixture("add.wat")).unwrap();
    let loops = sandbox.load(&fixture("loops.wat")).unwrap();
    let mut linker = sandbox.linker().unwrap();
    let first = linker.instantiate(&*add).unwrap();
    let result = linker
        .call(first, "add", &[WasmValue::I32(2), WasmValue::I32(3)])
        .unwrap();
    assert_eq!(result.return_values, [WasmValue::I32(5)]);
    // A second instance, added after the store ran a call, gets what is left of the budget.
    let second = linker.instantiate(&*loops).unwrap();
    let result = linker.call(second, "count", &[WasmValue::I32(10)]).unwrap();
    assert_eq!(
        result.return_values,
        [WasmValue::I32(55)],
        "{}: {:?}",
        h.backend,
        result.outcome
    );
    let result = linker
        .call(first, "add", &[WasmValue::I32(1), WasmValue::I32(1)])
        .unwrap();
    assert_eq!(result.return_values, [WasmValue::I32(2)]);
}
