//! Mini (`sandbox-lang`), two groups:
//!
//! - `mini-kernel`: the C compute kernels written in Mini (`kernels/mini/*.mini`), compiled by
//!   `sandbox_lang::compile`, under the `kernel` group's configuration (fuel off, wall-clock
//!   limit on), each called on one live instance; against `kernel/{engine}/{kernel}` it gives
//!   Mini's generated code against clang -O2's;
//! - `mini-compile`: `sandbox_lang::compile` of a generated 1,000-line program
//!   (`sandbox_bench::mini_program`), source text to module bytes; its throughput is in lines.

// `criterion_group!` generates a public function without documentation.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sandbox::SandboxConfig;
use sandbox_bench::{mini_program, pace, runtimes, Pace, KERNELS};
use std::hint::black_box;

fn kernels(c: &mut Criterion) {
    let config = SandboxConfig {
        max_fuel: None,
        ..SandboxConfig::default()
    };
    let mut group = c.benchmark_group("mini-kernel");
    pace(&mut group, Pace::Slow);
    for kernel in KERNELS {
        let wasm = kernel.mini_wasm();
        let args = kernel.mini_args();
        for runtime in runtimes() {
            let sandbox = sandbox::sandbox(runtime, config.clone()).unwrap();
            let module = sandbox.load(&wasm).unwrap();
            let mut instance = module.instantiate(&config).ok().unwrap();
            group.bench_function(BenchmarkId::new(runtime.name(), kernel.name), |b| {
                b.iter(|| {
                    instance
                        .call(kernel.name, black_box(&args))
                        .unwrap()
                        .into_result()
                        .unwrap()
                })
            });
        }
    }
    group.finish();
}

fn compile(c: &mut Criterion) {
    let source = mini_program(1000);
    let mut group = c.benchmark_group("mini-compile");
    pace(&mut group, Pace::Fast);
    group.throughput(Throughput::Elements(source.lines().count() as u64));
    group.bench_function(BenchmarkId::new("sandbox-lang", "1000-lines"), |b| {
        b.iter(|| sandbox_lang::compile(black_box(&source)).unwrap())
    });
    group.finish();
}

criterion_group!(benches, kernels, compile);
criterion_main!(benches);
