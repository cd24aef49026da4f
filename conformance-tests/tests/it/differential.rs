//! The differential check: every fixture's calls run on both engines, and the normalised
//! outcomes (kind, trap, results, fuel of completed runs) must agree.

use conformance_tests::{fixture, Harness, Normalised};
use sandbox::{BackendKind, SandboxConfig, WasmValue};
use std::time::Duration;

use WasmValue::{F32, F64, I32, I64};

/// `(fixture, function, arguments)`: every fixture appears at least once.
const CALLS: &[(&str, &str, &[WasmValue])] = &[
    ("add.wat", "add", &[I32(5), I32(7)]),
    ("add.wat", "add", &[I32(i32::MAX), I32(1)]),
    ("numeric.wat", "i32_neg", &[I32(i32::MIN)]),
    ("numeric.wat", "i64_mul", &[I64(-3), I64(i64::MAX)]),
    ("numeric.wat", "f32_div", &[F32(1.0), F32(0.0)]),
    ("numeric.wat", "f64_sqrt", &[F64(-1.0)]),
    (
        "numeric.wat",
        "multi",
        &[I32(1), I64(2), F32(3.0), F64(4.0)],
    ),
    ("numeric.wat", "nothing", &[]),
    ("traps.wat", "unreachable", &[]),
    ("traps.wat", "memory_out_of_bounds", &[]),
    ("traps.wat", "table_out_of_bounds", &[]),
    ("traps.wat", "indirect_call_type_mismatch", &[]),
    ("traps.wat", "null_reference", &[]),
    ("traps.wat", "integer_divide_by_zero", &[I32(0)]),
    ("traps.wat", "integer_divide_by_zero", &[I32(1)]),
    ("traps.wat", "integer_overflow", &[]),
    ("traps.wat", "bad_conversion_to_integer", &[]),
    ("traps.wat", "stack_overflow", &[I32(0)]),
    ("loops.wat", "count", &[I32(100)]),
    ("loops.wat", "count", &[I32(100_000_000)]),
    ("loops.wat", "heavy", &[I32(1000)]),
    ("loops.wat", "spin", &[]),
    ("start_spin.wat", "never", &[]),
    ("memory.wat", "grow", &[I32(1)]),
    ("memory.wat", "grow", &[I32(2000)]),
    ("memory.wat", "size", &[]),
    ("memory.wat", "grow_and_report", &[I32(999)]),
    ("memory_64mib.wat", "main", &[]),
    ("memory_small_max.wat", "grow", &[I32(2)]),
    ("table_bomb.wat", "grow_table", &[I32(5)]),
    ("table_bomb.wat", "grow_table", &[I32(-1)]),
    ("table_bomb.wat", "table_size", &[]),
    ("table_huge.wat", "main", &[]),
    ("counter.wat", "incr", &[]),
    ("counter.wat", "cell", &[]),
    ("imports_env.wat", "main", &[]),
    ("simd.wat", "lane", &[]),
    ("externref_param.wat", "takes_ref", &[]),
    ("externref_param.wat", "some_func", &[]),
    ("anyref_param.wat", "takes_any", &[]),
    ("linking_provider.wat", "double", &[I32(21)]),
    ("linking_consumer.wat", "repeat", &[I32(3)]),
    ("linking_partial.wat", "none", &[]),
    ("host_log.wat", "greet", &[]),
    ("sum.wasm", "_start", &[]),
    ("hello.wasm", "_start", &[]),
    ("flood.wasm", "_start", &[]),
    ("time_random.wasm", "_start", &[]),
    ("spin_output.wasm", "_start", &[]),
    ("files.wasm", "_start", &[]),
    ("sockets.wasm", "_start", &[]),
    ("clock_abort.wasm", "_start", &[]),
    ("reactor.wasm", "answer", &[]),
    ("reactor.wasm", "greet", &[]),
    ("reactor_default.wat", "", &[]),
    ("preview0.wat", "_start", &[]),
    ("stdio_probe.wasm", "_start", &[]),
    ("open_first.wat", "_start", &[]),
];

/// WASI commands whose fuel differs between the engines, with the reason (see
/// `divergences.txt`); every other command must consume the same fuel on both.
fn fuel_differs(fixture_name: &str) -> Option<&'static str> {
    match fixture_name {
        "files.wasm" => Some(
            "wasi-libc scans the preopens from descriptor 3; wasix has its virtual root `/` \
             there even without preopens, wasmtime-wasi nothing",
        ),
        _ => None,
    }
}

fn run(backend: BackendKind, fixture_name: &str, func: &str, args: &[WasmValue]) -> Normalised {
    let harness = Harness::new(backend);
    let mut config = SandboxConfig {
        max_fuel: Some(5_000_000),
        max_execution_time: Duration::from_secs(2),
        max_memory_bytes: 16 * 1024 * 1024,
        ..SandboxConfig::default()
    };
    if fixture_name == "open_first.wat" {
        // It opens `hello.txt` in the first preopen: give it one, the guest's root.
        let dir = std::env::temp_dir().join(format!(
            "sandbox-differential-open-first-{}-{backend}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("hello.txt"), "from the host\n").unwrap();
        config.allow_filesystem = true;
        config.preopens = vec![sandbox::Preopen {
            host: dir,
            guest: "/".into(),
            writable: false,
        }];
    }
    let module = match harness.try_load_bytes(&fixture(fixture_name), &config) {
        Ok(module) => module,
        Err(err) => return Normalised::of_error(&err),
    };
    let mut instance = match module.instantiate(&config) {
        Ok(instance) => instance,
        Err(report) => return Normalised::of(&report),
    };
    match instance.call(func, args) {
        Ok(result) => Normalised::of(&result),
        Err(err) => Normalised::of_error(&err),
    }
}

/// Calls whose outcomes legitimately differ, with the reason; everything else must agree.
fn known_difference(fixture_name: &str) -> Option<&'static str> {
    match fixture_name {
        "simd.wat" => Some("singlepass has no SIMD: wasmer refuses with unsupported"),
        "anyref_param.wat" => Some(
            "singlepass has no GC: wasmer refuses the module with unsupported, wasmtime the call",
        ),
        _ => None,
    }
}

#[test]
fn differential_every_fixture_agrees_across_engines() {
    let mut disagreements = Vec::new();
    for (fixture_name, func, args) in CALLS {
        let mut wasmtime = run(BackendKind::Wasmtime, fixture_name, func, args);
        let mut wasmer = run(BackendKind::Wasmer, fixture_name, func, args);
        if fuel_differs(fixture_name).is_some() {
            wasmtime = wasmtime.without_fuel();
            wasmer = wasmer.without_fuel();
        }
        if wasmtime == wasmer {
            continue;
        }
        match known_difference(fixture_name) {
            Some(reason) => {
                assert_eq!(wasmer.kind, "unsupported", "{fixture_name}: {reason}");
                eprintln!("known difference {fixture_name}::{func}: {reason}");
            }
            None => disagreements.push(format!(
                "{fixture_name}::{func}{args:?}\n  wasmtime: {wasmtime:?}\n  wasmer:   {wasmer:?}"
            )),
        }
    }
    assert!(
        disagreements.is_empty(),
        "the engines disagree:\n{}",
        disagreements.join("\n")
    );
}

/// WASI commands under several configurations: outcome, exit code, output and the fuel of
/// completed runs must agree (except where [`fuel_differs`] says why not).
#[test]
fn differential_wasi_commands_agree_across_engines() {
    use sandbox::ClockPolicy;
    let base = SandboxConfig {
        max_fuel: Some(50_000_000),
        max_output_bytes: 4096,
        ..SandboxConfig::default()
    };
    let runs: Vec<(&str, SandboxConfig)> = vec![
        (
            "sum.wasm",
            SandboxConfig {
                stdin: b"40 2".to_vec(),
                ..base.clone()
            },
        ),
        (
            "sum.wasm",
            SandboxConfig {
                stdin: b"-9223372036854775808 -1".to_vec(),
                ..base.clone()
            },
        ),
        (
            "sum.wasm",
            SandboxConfig {
                stdin: b"x".to_vec(),
                ..base.clone()
            },
        ),
        (
            "hello.wasm",
            SandboxConfig {
                args: vec!["7".into(), "é ü".into()],
                env: vec![("GREETING".into(), "bonjour".into())],
                ..base.clone()
            },
        ),
        ("flood.wasm", base.clone()),
        (
            "flood.wasm",
            SandboxConfig {
                args: vec!["stderr".into()],
                ..base.clone()
            },
        ),
        ("time_random.wasm", base.clone()),
        (
            "time_random.wasm",
            SandboxConfig {
                clock: ClockPolicy::Virtual,
                random_seed: 9,
                ..base.clone()
            },
        ),
        (
            "spin_output.wasm",
            SandboxConfig {
                max_fuel: Some(100_000),
                ..base.clone()
            },
        ),
        (
            "files.wasm",
            SandboxConfig {
                args: vec!["read-absolute".into()],
                ..base.clone()
            },
        ),
    ];
    let mut disagreements = Vec::new();
    for (name, config) in runs {
        let outcomes: Vec<Normalised> = BackendKind::ALL
            .iter()
            .map(|backend| {
                let outcome = Normalised::of(&Harness::new(*backend).run_wasi(name, &config));
                match fuel_differs(name) {
                    Some(_) => outcome.without_fuel(),
                    None => outcome,
                }
            })
            .collect();
        if outcomes[0] != outcomes[1] {
            disagreements.push(format!(
                "{name} {:?} {:?}\n  wasmtime: {:?}\n  wasmer:   {:?}",
                config.args, config.clock, outcomes[0], outcomes[1]
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "the engines disagree:\n{}",
        disagreements.join("\n")
    );
}

/// A WASI command consumes the same fuel on both engines: both WASI layers answer its stdio
/// queries alike (`wasi_stdio_answers_are_wasmtime_wasis`), so wasi-libc runs the same code.
/// (Before they did, `hello.wasm` cost 8856 fuel on wasmtime and 8523 on wasmer.)
#[test]
fn wasi_commands_consume_the_same_fuel_on_both_engines() {
    let config = SandboxConfig {
        max_fuel: Some(50_000_000),
        stdin: b"5 7\n".to_vec(),
        ..SandboxConfig::default()
    };
    for name in [
        "hello.wasm",
        "sum.wasm",
        "time_random.wasm",
        "stdio_probe.wasm",
    ] {
        let fuel: Vec<Option<u64>> = BackendKind::ALL
            .iter()
            .map(|backend| {
                let result = Harness::new(*backend).run_wasi(name, &config);
                assert!(
                    result.outcome.is_success(),
                    "{backend} {name}: {:?}",
                    result.outcome
                );
                result.fuel_consumed
            })
            .collect();
        assert!(fuel[0].is_some_and(|fuel| fuel > 0), "{name}");
        assert_eq!(fuel[0], fuel[1], "{name}: wasmtime, wasmer");
    }
}
