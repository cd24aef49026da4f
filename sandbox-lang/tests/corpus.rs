//! The programs of `examples/mini/`: each `NAME.mini` with a `NAME.out` runs on both engines
//! (stdin from `NAME.in` when there is one) and prints exactly `NAME.out`; a program without
//! `.out` (a plugin in function mode) compiles to a valid module. The plugin's exports are
//! called on both engines.

use sandbox::{Outcome, SandboxConfig, WasmValue};
use std::path::{Path, PathBuf};

fn directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/mini")
}

/// Every `.mini` of the corpus, sorted by name.
fn programs() -> Vec<PathBuf> {
    let mut programs: Vec<PathBuf> = std::fs::read_dir(directory())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "mini")
        })
        .collect();
    programs.sort();
    programs
}

fn compile(path: &Path) -> Vec<u8> {
    let source = std::fs::read_to_string(path).unwrap();
    let file = path.file_name().unwrap().to_string_lossy();
    sandbox_lang::compile(&source).unwrap_or_else(|errors| {
        panic!(
            "{}",
            errors
                .iter()
                .map(|error| error.render(&file, &source))
                .collect::<String>()
        )
    })
}

fn config(stdin: &[u8]) -> SandboxConfig {
    SandboxConfig {
        stdin: stdin.to_vec(),
        max_fuel: Some(10_000_000_000),
        ..SandboxConfig::default()
    }
}

#[test]
fn every_program_prints_its_expected_output_on_both_engines() {
    let mut ran = 0;
    for path in programs() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let wasm = compile(&path);
        let Ok(expected) = std::fs::read_to_string(path.with_extension("out")) else {
            // No expected output: it must at least compile to a module every engine loads.
            for backend in sandbox::available_runtimes() {
                sandbox::sandbox(backend, config(b""))
                    .unwrap()
                    .load(&wasm)
                    .unwrap_or_else(|error| panic!("{name} does not load on {backend}: {error}"));
            }
            continue;
        };
        let stdin = std::fs::read(path.with_extension("in")).unwrap_or_default();
        for backend in sandbox::available_runtimes() {
            let config = config(&stdin);
            let module = sandbox::sandbox(backend, config.clone())
                .unwrap()
                .load(&wasm)
                .unwrap_or_else(|error| panic!("{name} does not load on {backend}: {error}"));
            let result = match module.instantiate(&config) {
                Ok(mut instance) => instance.call("_start", &[]).unwrap(),
                Err(report) => *report,
            };
            let stderr = String::from_utf8_lossy(&result.stderr);
            assert!(
                matches!(result.outcome, Outcome::Ok),
                "{name} on {backend}: {:?}\n{stderr}",
                result.outcome
            );
            assert_eq!(stderr, "", "{name} on {backend}");
            assert_eq!(
                String::from_utf8_lossy(&result.stdout),
                expected,
                "{name} on {backend}"
            );
        }
        ran += 1;
    }
    // The corpus is there: the classics run.
    assert!(ran >= 10, "only {ran} programs with an expected output");
}

#[test]
fn every_program_is_documented_in_the_readme() {
    let readme = std::fs::read_to_string(directory().join("README.md")).unwrap();
    for path in programs() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            readme.contains(&format!("`{name}`")),
            "{name} is not in examples/mini/README.md"
        );
    }
}

#[test]
fn the_plugin_s_exports_are_functions_on_both_engines() {
    let wasm = compile(&directory().join("plugin.mini"));
    let calls: &[(&str, &[WasmValue], WasmValue)] = &[
        (
            "add",
            &[WasmValue::I64(40), WasmValue::I64(2)],
            WasmValue::I64(42),
        ),
        (
            "lcm",
            &[WasmValue::I64(4), WasmValue::I64(6)],
            WasmValue::I64(12),
        ),
        (
            "lcm",
            &[WasmValue::I64(0), WasmValue::I64(6)],
            WasmValue::I64(0),
        ),
        ("is_prime", &[WasmValue::I64(97)], WasmValue::I32(1)),
        ("is_prime", &[WasmValue::I64(91)], WasmValue::I32(0)),
        ("is_prime", &[WasmValue::I64(1)], WasmValue::I32(0)),
        (
            "hypot",
            &[WasmValue::F64(3.0), WasmValue::F64(4.0)],
            WasmValue::F64(5.0),
        ),
        ("count_primes", &[WasmValue::I64(100)], WasmValue::I64(25)),
        (
            "count_primes",
            &[WasmValue::I64(100000)],
            WasmValue::I64(9592),
        ),
    ];
    for backend in sandbox::available_runtimes() {
        let config = config(b"");
        let module = sandbox::sandbox(backend, config.clone())
            .unwrap()
            .load(&wasm)
            .unwrap();
        let mut instance = module.instantiate(&config).map_err(|r| r.outcome).unwrap();
        // Twice through, on one instance: each call's arrays do not disturb the next.
        for round in 0..2 {
            for (function, args, expected) in calls {
                let result = instance.call(function, args).unwrap();
                assert!(
                    matches!(result.outcome, Outcome::Ok),
                    "{function} on {backend}: {:?}",
                    result.outcome
                );
                assert_eq!(
                    result.return_values,
                    [*expected],
                    "{function}{args:?} on {backend}, round {round}"
                );
            }
        }
    }
}
