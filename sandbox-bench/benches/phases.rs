//! Each phase apart, as Sightglass separates them: compile, instantiate, call, end to end, and a
//! compute kernel with fuel on and off. Cases are named `{backend}/{fixture}` so both engines
//! sit side by side in criterion's report.

// `criterion_group!` generates a public function without documentation.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sandbox::{SandboxConfig, WasmValue};
use sandbox_bench::{fixture, runtimes};
use std::hint::black_box;

fn compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    for name in ["add.wat", "loops.wat"] {
        let wasm = fixture(name);
        group.throughput(Throughput::Bytes(wasm.len() as u64));
        for runtime in runtimes() {
            let sandbox = sandbox::sandbox(runtime, SandboxConfig::default()).unwrap();
            group.bench_function(BenchmarkId::new(runtime.name(), name), |b| {
                b.iter(|| sandbox.load(black_box(&wasm)).unwrap())
            });
        }
    }
    group.finish();
}

fn instantiate(c: &mut Criterion) {
    let mut group = c.benchmark_group("instantiate");
    let config = SandboxConfig::default();
    for name in ["add.wat", "counter.wat"] {
        for runtime in runtimes() {
            let sandbox = sandbox::sandbox(runtime, config.clone()).unwrap();
            let module = sandbox.load(&fixture(name)).unwrap();
            group.bench_function(BenchmarkId::new(runtime.name(), name), |b| {
                b.iter(|| module.instantiate(&config).ok().unwrap())
            });
        }
    }
    group.finish();
}

fn call(c: &mut Criterion) {
    let mut group = c.benchmark_group("call");
    let config = SandboxConfig::default();
    let args = [WasmValue::I32(5), WasmValue::I32(7)];
    for runtime in runtimes() {
        let sandbox = sandbox::sandbox(runtime, config.clone()).unwrap();
        let module = sandbox.load(&fixture("add.wat")).unwrap();
        let mut instance = module.instantiate(&config).ok().unwrap();
        group.bench_function(BenchmarkId::new(runtime.name(), "add.wat"), |b| {
            b.iter(|| instance.call("add", black_box(&args)).unwrap())
        });
    }
    group.finish();
}

fn compute_fuel_on_off(c: &mut Criterion) {
    let mut group = c.benchmark_group("kernel-heavy-100k");
    let args = [WasmValue::I32(100_000)];
    for (label, fuel) in [("fuel-on", Some(u64::MAX / 4)), ("fuel-off", None)] {
        let config = SandboxConfig {
            max_fuel: fuel,
            ..SandboxConfig::default()
        };
        for runtime in runtimes() {
            let sandbox = sandbox::sandbox(runtime, config.clone()).unwrap();
            let module = sandbox.load(&fixture("loops.wat")).unwrap();
            let mut instance = module.instantiate(&config).ok().unwrap();
            group.bench_function(
                BenchmarkId::new(format!("{}/{label}", runtime.name()), "loops.wat"),
                |b| b.iter(|| instance.call("heavy", black_box(&args)).unwrap()),
            );
        }
    }
    group.finish();
}

/// Loading a compiled module from the disk cache (a fresh sandbox, the in-memory layer off, as
/// in a new process) and from an AOT artifact already read into memory.
fn cached_load(c: &mut Criterion) {
    let mut group = c.benchmark_group("cached_load");
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
    compute_fuel_on_off,
    cached_load
);
criterion_main!(benches);
