//! The C compute kernels (`kernels/*.c`, `-O2`) as WebAssembly on each engine and natively,
//! under three configurations, one group each:
//!
//! - `kernel`: fuel off, wall-clock limit on (the sandbox's ordinary run), with the native
//!   build beside the engines as `native/{kernel}`;
//! - `kernel-fuel`: fuel metering on; against `kernel` it gives the metering overhead;
//! - `kernel-no-interrupt`: fuel off and the wall-clock limit off (wasmtime: an engine
//!   without epoch checks; wasmer: no watchdog); against it `kernel` gives the cost of the
//!   time limit.
//!
//! Each case calls the kernel on one live instance (instantiation is measured elsewhere).

// `criterion_group!` generates a public function without documentation.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sandbox::SandboxConfig;
use sandbox_bench::{pace, runtimes, Pace, KERNELS};
use std::hint::black_box;

fn group(c: &mut Criterion, name: &str, config: &SandboxConfig, native: bool) {
    let mut group = c.benchmark_group(name);
    pace(&mut group, Pace::Slow);
    for kernel in KERNELS {
        if native {
            group.bench_function(BenchmarkId::new("native", kernel.name), |b| {
                b.iter(|| kernel.run_native(black_box(kernel.args)).unwrap())
            });
        }
        for runtime in runtimes() {
            let sandbox = sandbox::sandbox(runtime, config.clone()).unwrap();
            let module = sandbox.load(&kernel.wasm()).unwrap();
            let mut instance = module.instantiate(config).ok().unwrap();
            group.bench_function(BenchmarkId::new(runtime.name(), kernel.name), |b| {
                b.iter(|| {
                    instance
                        .call(kernel.name, black_box(kernel.args))
                        .unwrap()
                        .into_result()
                        .unwrap()
                })
            });
        }
    }
    group.finish();
}

fn kernels(c: &mut Criterion) {
    let base = SandboxConfig {
        max_fuel: None,
        ..SandboxConfig::default()
    };
    group(c, "kernel", &base, true);
    let fuel = SandboxConfig {
        // A budget no benchmark run can spend.
        max_fuel: Some(u64::MAX / 4),
        ..base.clone()
    };
    group(c, "kernel-fuel", &fuel, false);
    let no_interrupt = SandboxConfig {
        enforce_time_limit: false,
        ..base
    };
    group(c, "kernel-no-interrupt", &no_interrupt, false);
}

criterion_group!(benches, kernels);
criterion_main!(benches);
