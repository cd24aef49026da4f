//! Each phase apart, as Sightglass separates them: compile, instantiate, call, and a WASI
//! command end to end. Cases are named `{backend}/{fixture}` (with a variant between the two
//! where there is one: `wasmtime/pooling/add.wat`) so both engines sit side by side in
//! criterion's report and in `cargo xtask bench`'s table.
//!
//! The disk-cache phase (load a serialized module) is not here yet: it lands with the module
//! cache; the xtask report keeps a row for it.

// `criterion_group!` generates a public function without documentation.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sandbox::{InstanceAllocation, Outcome, SandboxConfig, WasmValue};
use sandbox_bench::{bench_file, fixture, pace, runtimes, Pace, HELLO_WORLD_OUTPUT, KERNELS};
use std::hint::black_box;

/// The compile fixtures: a tiny module, a WASI command with wasi-libc, two C kernels.
fn compile_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut fixtures = vec![
        ("add.wat".to_string(), fixture("add.wat")),
        (
            "hello_world.wasm".to_string(),
            bench_file("fixtures/hello_world.wasm"),
        ),
        // The module of the `cache-load` group: the report compares loading it from the
        // disk cache with compiling it.
        ("sum.wasm".to_string(), fixture("sum.wasm")),
    ];
    for kernel in KERNELS
        .iter()
        .filter(|k| ["sort", "matmul"].contains(&k.name))
    {
        fixtures.push((format!("{}.wasm", kernel.name), kernel.wasm()));
    }
    fixtures
}

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    pace(&mut group, Pace::Fast);
    for (name, wasm) in compile_fixtures() {
        group.throughput(Throughput::Bytes(wasm.len() as u64));
        for runtime in runtimes() {
            let sandbox = sandbox::sandbox(runtime, SandboxConfig::default()).unwrap();
            group.bench_function(BenchmarkId::new(runtime.name(), &name), |b| {
                b.iter(|| sandbox.load(black_box(&wasm)).unwrap())
            });
        }
    }
    group.finish();
}

/// The allocations each engine is measured with: on demand everywhere, and wasmtime's pool.
fn allocations(runtime: sandbox::Runtime) -> Vec<(String, InstanceAllocation)> {
    let mut allocations = vec![(runtime.name().to_string(), InstanceAllocation::OnDemand)];
    if sandbox::sandbox(runtime, SandboxConfig::default())
        .is_ok_and(|sandbox| sandbox.capabilities().instance_pooling)
    {
        allocations.push((
            format!("{}/pooling", runtime.name()),
            InstanceAllocation::pooling(16),
        ));
    }
    allocations
}

fn instantiate(c: &mut Criterion) {
    let mut group = c.benchmark_group("instantiate");
    pace(&mut group, Pace::Fast);
    for name in ["add.wat", "counter.wat"] {
        for runtime in runtimes() {
            for (label, allocation) in allocations(runtime) {
                let config = SandboxConfig {
                    instance_allocation: allocation,
                    ..SandboxConfig::default()
                };
                let sandbox = sandbox::sandbox(runtime, config.clone()).unwrap();
                let module = sandbox.load(&fixture(name)).unwrap();
                // Each iteration creates an instance and drops it (freeing a pool slot).
                group.bench_function(BenchmarkId::new(label, name), |b| {
                    b.iter(|| module.instantiate(&config).ok().unwrap())
                });
            }
        }
    }
    group.finish();
}

fn call(c: &mut Criterion) {
    let mut group = c.benchmark_group("call");
    pace(&mut group, Pace::Fast);
    // Metered, with a budget no run of the bench exhausts: the budget is the instance's,
    // and the default 10,000,000 would run out after 2.5 million calls, turning the rest of
    // the measurement into fuel-exhausted calls. (`sandbox-capi/bench/calls.c` does the same.)
    let config = SandboxConfig {
        max_fuel: Some(1 << 60),
        ..SandboxConfig::default()
    };
    let args = [WasmValue::I32(5), WasmValue::I32(7)];
    for runtime in runtimes() {
        let sandbox = sandbox::sandbox(runtime, config.clone()).unwrap();
        let module = sandbox.load(&fixture("add.wat")).unwrap();
        let mut instance = module.instantiate(&config).ok().unwrap();
        group.bench_function(BenchmarkId::new(runtime.name(), "add.wat"), |b| {
            b.iter(|| instance.call("add", black_box(&args)).unwrap())
        });
        // The fast path: the export resolved once, arguments and results in arrays.
        let add = instance.export_func("add").unwrap();
        let mut results = [WasmValue::I32(0)];
        group.bench_function(BenchmarkId::new(runtime.name(), "fast/add.wat"), |b| {
            b.iter(|| {
                instance
                    .call_func(&add, black_box(&args), &mut results)
                    .is_ok_and(|report| report.is_ok())
            })
        });
    }
    group.finish();
}

/// A trivial export in a fresh instance from a compiled module: what one `execute` of the
/// Python package (or the one-call API) does, so the report can set the two side by side.
fn run_export(c: &mut Criterion) {
    let mut group = c.benchmark_group("run-export");
    pace(&mut group, Pace::Fast);
    let config = SandboxConfig::default();
    let args = [WasmValue::I32(5), WasmValue::I32(7)];
    for runtime in runtimes() {
        let sandbox = sandbox::sandbox(runtime, config.clone()).unwrap();
        let module = sandbox.load(&fixture("add.wat")).unwrap();
        group.bench_function(BenchmarkId::new(runtime.name(), "add.wat"), |b| {
            b.iter(|| {
                let mut instance = module.instantiate(&config).ok().unwrap();
                let result = instance.call("add", black_box(&args)).unwrap();
                assert_eq!(result.return_values, [WasmValue::I32(12)]);
                result
            })
        });
    }
    group.finish();
}

/// A WASI command end to end from a compiled module: a fresh instance (WASI context, capture
/// buffers), `_start`, the captured stdout checked.
fn wasi_hello(c: &mut Criterion) {
    let mut group = c.benchmark_group("wasi-hello");
    pace(&mut group, Pace::Fast);
    let wasm = bench_file("fixtures/hello_world.wasm");
    for runtime in runtimes() {
        for (label, allocation) in allocations(runtime) {
            let config = SandboxConfig {
                instance_allocation: allocation,
                ..SandboxConfig::default()
            };
            let sandbox = sandbox::sandbox(runtime, config.clone()).unwrap();
            let module = sandbox.load(&wasm).unwrap();
            group.bench_function(BenchmarkId::new(label, "hello_world.wasm"), |b| {
                b.iter(|| {
                    let mut instance = module.instantiate(&config).ok().unwrap();
                    let result = instance.call("_start", &[]).unwrap();
                    assert!(matches!(
                        result.outcome,
                        Outcome::Ok | Outcome::Exit { code: 0 }
                    ));
                    assert_eq!(result.stdout, HELLO_WORLD_OUTPUT);
                    result
                })
            });
        }
    }
    group.finish();
}

/// Loading a compiled module from the disk cache (a fresh sandbox, the in-memory layer off, as
/// in a new process) and from an AOT artifact already read into memory.
fn cached_load(c: &mut Criterion) {
    let mut group = c.benchmark_group("cache-load");
    // wasmer engines keep the code of every module they load for their lifetime (this is
    // what the in-memory layer is for), so keep the iteration count (and mappings) bounded.
    group
        .sampling_mode(criterion::SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(100))
        .measurement_time(std::time::Duration::from_millis(300));
    let dir = std::env::temp_dir().join(format!("sandbox-bench-cache-{}", std::process::id()));
    let config = SandboxConfig {
        cache: sandbox::CacheConfig {
            memory: false,
            ..sandbox::CacheConfig::at(&dir)
        },
        ..SandboxConfig::default()
    };
    for name in ["sum.wasm"] {
        let wasm = fixture(name);
        for runtime in runtimes() {
            let sandbox = sandbox::sandbox(runtime, config.clone()).unwrap();
            sandbox.load(&wasm).unwrap();
            group.bench_function(
                BenchmarkId::new(format!("{}/disk", runtime.name()), name),
                |b| {
                    b.iter(|| {
                        let (module, status) = sandbox.load_with_status(black_box(&wasm)).unwrap();
                        assert_eq!(status, sandbox::CacheStatus::DiskHit);
                        module
                    })
                },
            );
            let artifact = sandbox.compile_aot(&wasm).unwrap();
            group.bench_function(
                BenchmarkId::new(format!("{}/aot", runtime.name()), name),
                |b| {
                    // SAFETY: made just above by this process.
                    b.iter(|| unsafe { sandbox.load_aot(black_box(&artifact)) }.unwrap())
                },
            );
        }
    }
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(
    benches,
    compile,
    instantiate,
    call,
    run_export,
    wasi_hello,
    cached_load
);
criterion_main!(benches);
