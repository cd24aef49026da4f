//! Judge throughput: 1,000 trivial test cases of the accepted "sum of two numbers" solution
//! (`examples/judge`) per iteration. The solution is compiled once outside the timed loop, as
//! the judge compiles a submission once; each test gets a fresh instance.
//!
//! Cases are `{backend}/{fixture}` on one worker thread, so the elements per second criterion
//! reports are test cases per second per core: `accepted.wasm` is a WASI command (stdin in,
//! stdout compared), `solve.wat` the same problem in function mode (arguments in, results
//! compared). The judge allocates instances as it does by default (from a pool on wasmtime).
//! Variants sit between backend and fixture: `wasmtime/on-demand/accepted.wasm` (each test's
//! memory mapped afresh), `{backend}/jobs-2/accepted.wasm` (two workers; on a machine with two
//! free cores this shows how throughput scales; the `scaling` probe draws the whole curve)
//! and `wasmtime/jobs-2-on-demand/accepted.wasm`.

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
/// whether instances are mapped on demand instead of the judge's default (a pool, on wasmtime).
fn variants(runtime: Runtime, fixture: &str) -> Vec<(String, usize, bool)> {
    let name = runtime.name();
    let mut variants = vec![(name.to_string(), 1, false)];
    if fixture == "accepted.wasm" {
        let pooled = runtime == Runtime::Wasmtime;
        if pooled {
            variants.push((format!("{name}/on-demand"), 1, true));
        }
        variants.push((format!("{name}/jobs-2"), 2, false));
        if pooled {
            variants.push((format!("{name}/jobs-2-on-demand"), 2, true));
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
            for (label, jobs, on_demand) in variants(runtime, fixture) {
                let mut judge = Judge::on(runtime, SandboxConfig::default())
                    .mode(mode.clone())
                    .jobs(jobs);
                if on_demand {
                    judge = judge.instance_allocation(InstanceAllocation::OnDemand);
                }
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
