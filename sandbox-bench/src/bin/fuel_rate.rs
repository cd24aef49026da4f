//! Measures fuel per millisecond on each engine: the evidence behind the judge's deterministic
//! time rate (`sandbox::judge::FUEL_PER_MS`) and its wall-clock safety net
//! (`sandbox::judge::WALL_CLOCK_MULTIPLE`).
//!
//! `cargo run --release -p sandbox-bench --bin fuel-rate [-- RUNS]` runs every C kernel of
//! `kernels/` (on a live instance, as the `kernel-fuel` bench does) and the compute-heavy judge
//! example (`examples/judge/heavy.wasm`, a WASI command, fresh instance per run) with fuel
//! metering on and the time limit on, RUNS times each (default 11), and prints per engine and
//! workload the fuel of one run, the median wall-clock time and their ratio in fuel per
//! millisecond; then, per engine, the lowest, median and highest rate, and how many times a
//! time limit the slowest workload takes to spend the limit's fuel at the calibrated rate (the
//! safety net must be above that). Fuel is the same on every run
//! and both engines (the cost model is shared); the times are this machine's.

use sandbox::{Runtime, SandboxConfig, WasmValue};
use sandbox_bench::{bench_file, runtimes, KERNELS};
use std::time::{Duration, Instant};

/// One workload's measurement on one engine.
struct Measured {
    runtime: Runtime,
    workload: String,
    fuel: u64,
    median: Duration,
}

impl Measured {
    fn fuel_per_ms(&self) -> f64 {
        self.fuel as f64 / (self.median.as_secs_f64() * 1000.0)
    }
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn config() -> SandboxConfig {
    SandboxConfig {
        max_fuel: Some(u64::MAX / 4),
        max_execution_time: Duration::from_secs(60),
        max_memory_bytes: 256 << 20,
        ..SandboxConfig::default()
    }
}

/// A kernel on a live instance: warm-up call, then `runs` timed calls.
fn kernel(runtime: Runtime, name: &str, args: &[WasmValue], runs: usize) -> Measured {
    let config = config();
    let sandbox = sandbox::sandbox(runtime, config.clone()).expect("engine");
    let wasm = bench_file(&format!("kernels/{name}.wasm"));
    let module = sandbox.load(&wasm).expect("kernel loads");
    let mut instance = module
        .instantiate(&config)
        .unwrap_or_else(|report| panic!("{runtime} {name}: {:?}", report.outcome));
    timed(runtime, format!("kernel {name}"), runs, || {
        instance.call(name, args).expect("kernel runs")
    })
}

/// Runs `run` once to warm up and `runs` times measured; the median time and the fuel of the
/// last run (every run must succeed).
fn timed(
    runtime: Runtime,
    workload: String,
    runs: usize,
    mut run: impl FnMut() -> sandbox::ExecutionResult,
) -> Measured {
    let mut fuel = 0;
    let mut times = Vec::with_capacity(runs);
    for index in 0..=runs {
        let started = Instant::now();
        let result = run();
        let elapsed = started.elapsed();
        assert!(
            result.outcome.is_success(),
            "{runtime} {workload}: {:?}",
            result.outcome
        );
        fuel = result.fuel_consumed.expect("metered");
        if index > 0 {
            times.push(elapsed);
        }
    }
    Measured {
        runtime,
        workload,
        fuel,
        median: median(times),
    }
}

/// A WASI command of `examples/judge`: a fresh instance per run with `input` on stdin.
fn command(runtime: Runtime, file: &str, input: &str, runs: usize) -> Measured {
    let config = SandboxConfig {
        stdin: input.as_bytes().to_vec(),
        ..config()
    };
    let sandbox = sandbox::sandbox(runtime, config.clone()).expect("engine");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/judge")
        .join(file);
    let wasm = std::fs::read(&path).expect("example readable");
    let module = sandbox.load(&wasm).expect("example loads");
    timed(runtime, format!("judge {file}"), runs, || {
        let mut instance = module
            .instantiate(&config)
            .unwrap_or_else(|report| panic!("{runtime} {file}: {:?}", report.outcome));
        instance.call("_start", &[]).expect("runs")
    })
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(11)
        .max(1);
    let mut measured = Vec::new();
    for runtime in runtimes() {
        for kernel_spec in KERNELS {
            measured.push(kernel(runtime, kernel_spec.name, kernel_spec.args, runs));
        }
        measured.push(command(
            runtime,
            "heavy.wasm",
            "1000000000 2000000000\n",
            runs,
        ));
    }
    println!(
        "{:<10} {:<20} {:>14} {:>12} {:>14}",
        "engine", "workload", "fuel", "median ms", "fuel per ms"
    );
    for m in &measured {
        println!(
            "{:<10} {:<20} {:>14} {:>12.3} {:>14.0}",
            m.runtime.name(),
            m.workload,
            m.fuel,
            m.median.as_secs_f64() * 1000.0,
            m.fuel_per_ms()
        );
    }
    println!();
    for runtime in runtimes() {
        let rates: Vec<f64> = measured
            .iter()
            .filter(|m| m.runtime == runtime)
            .map(Measured::fuel_per_ms)
            .collect();
        let low = rates.iter().copied().fold(f64::INFINITY, f64::min);
        let high = rates.iter().copied().fold(0.0, f64::max);
        let mut sorted = rates.clone();
        sorted.sort_by(f64::total_cmp);
        let middle = sorted[sorted.len() / 2];
        println!(
            "{:<10} fuel per ms: lowest {low:.0}, median {middle:.0}, highest {high:.0}",
            runtime.name()
        );
    }
    let rate = sandbox::judge::FUEL_PER_MS as f64;
    let slowest = measured
        .iter()
        .map(Measured::fuel_per_ms)
        .fold(f64::INFINITY, f64::min);
    println!(
        "calibrated rate {rate:.0} fuel per ms: the slowest workload spends a time limit's fuel \
         in {:.1}x the limit (safety net: {}x)",
        rate / slowest,
        sandbox::judge::WALL_CLOCK_MULTIPLE
    );
}
