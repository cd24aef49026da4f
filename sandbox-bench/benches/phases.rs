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

criterion_group!(benches, compile, instantiate, call, compute_fuel_on_off);
criterion_main!(benches);
