//! Judge throughput: 1,000 trivial test cases of the accepted "sum of two numbers" solution
//! (`examples/judge`) per iteration. The solution is compiled once outside the timed loop, as
//! the judge compiles a submission once; each test gets a fresh instance.
//!
//! Cases are `{backend}/{fixture}` on one worker thread, so the elements per second criterion
//! reports are test cases per second per core: `accepted.wasm` is a WASI command (stdin in,
//! stdout compared), `solve.wat` the same problem in function mode (arguments in, results
//! compared). Variants sit between backend and fixture: `wasmtime/pooling/accepted.wasm`
//! (wasmtime's pooling allocator), `{backend}/jobs-2/accepted.wasm` (two workers; on a machine
//! with two free cores this shows how throughput scales) and
//! `wasmtime/jobs-2-pooling/accepted.wasm`.

// `criterion_group!` generates a public function without documentation.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sandbox::judge::{Judge, Mode, TestCase};
use sandbox::{InstanceAllocation, Runtime, SandboxConfig};
use sandbox_bench::{pace, runtimes, Pace};
use std::path::PathBuf;

const TESTS: usize = 1_000;

fn example(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/judge")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

fn trivial_tests() -> Vec<TestCase> {
    (0..TESTS)
        .map(|i| TestCase::new(i, format!("{i} 7\n"), format!("{}\n", i + 7)))
        .collect()
}

/// The judge variants measured on `runtime`: label (the id's part before the fixture), jobs,
/// whether instances come from a pool.
fn variants(runtime: Runtime, fixture: &str) -> Vec<(String, usize, bool)> {
    let name = runtime.name();
    let mut variants = vec![(name.to_string(), 1, false)];
    if fixture == "accepted.wasm" {
        let pooling = runtime == Runtime::Wasmtime;
        if pooling {
            variants.push((format!("{name}/pooling"), 1, true));
        }
        variants.push((format!("{name}/jobs-2"), 2, false));
        if pooling {
            variants.push((format!("{name}/jobs-2-pooling"), 2, true));
        }
    }
    variants
}

fn judge(c: &mut Criterion) {
    let mut group = c.benchmark_group("judge-1000");
    group.throughput(Throughput::Elements(TESTS as u64));
    pace(&mut group, Pace::Slow);
    let tests = trivial_tests();
    for (fixture, mode) in [
        ("accepted.wasm", Mode::Wasi),
        ("solve.wat", Mode::function("solve")),
    ] {
        let wasm = example(fixture);
        for runtime in runtimes() {
            for (label, jobs, pooling) in variants(runtime, fixture) {
                let config = SandboxConfig {
                    instance_allocation: if pooling {
                        InstanceAllocation::pooling(jobs as u32)
                    } else {
                        InstanceAllocation::OnDemand
                    },
                    ..SandboxConfig::default()
                };
                let judge = Judge::on(runtime, config).mode(mode.clone()).jobs(jobs);
                let module = judge.compile(&wasm).expect("the example compiles");
                group.bench_function(BenchmarkId::new(label, fixture), |b| {
                    b.iter(|| {
                        let report = judge.evaluate_compiled(&*module, &tests);
                        assert_eq!(report.passed, TESTS);
                        report
                    })
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, judge);
criterion_main!(benches);
