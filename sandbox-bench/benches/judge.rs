//! Judge throughput: 1,000 trivial test cases of the accepted "sum of two numbers" solution
//! (`examples/judge`) per iteration, on one worker thread, so the elements per second criterion
//! reports are test cases per second per core. The solution is compiled once outside the timed
//! loop, as the judge compiles a submission once; each test gets a fresh instance.
//!
//! Cases are `{backend}/{fixture}`: `accepted.wasm` is a WASI command (stdin in, stdout
//! compared), `solve.wat` the same problem in function mode (arguments in, results compared).

// `criterion_group!` generates a public function without documentation.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sandbox::judge::{Judge, Mode, TestCase};
use sandbox::SandboxConfig;
use sandbox_bench::runtimes;
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

fn judge(c: &mut Criterion) {
    let mut group = c.benchmark_group("judge-1000");
    group.throughput(Throughput::Elements(TESTS as u64));
    group.sample_size(10);
    let tests = trivial_tests();
    for (fixture, mode) in [
        ("accepted.wasm", Mode::Wasi),
        ("solve.wat", Mode::function("solve")),
    ] {
        let wasm = example(fixture);
        for runtime in runtimes() {
            let judge = Judge::on(runtime, SandboxConfig::default())
                .mode(mode.clone())
                .jobs(1);
            let module = judge.compile(&wasm).expect("the example compiles");
            group.bench_function(BenchmarkId::new(runtime.name(), fixture), |b| {
                b.iter(|| {
                    let report = judge.evaluate_compiled(&*module, &tests);
                    assert_eq!(report.passed, TESTS);
                    report
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, judge);
criterion_main!(benches);
