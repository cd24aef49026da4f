//! Interpreter-sized modules: a fresh instance of a large module (CPython for WASI, 25 MiB)
//! from a module compiled once and kept in memory, and the per-test cost of judging a script
//! run by that interpreter, on one engine per process.
//!
//! ```text
//! fresh-instance --backend wasmtime|wasmer --wasm FILE [--on-demand] [--runs N]
//!                [--script FILE --tests T]
//! ```
//!
//! The module is compiled once (not timed), then instantiated `runs` times (default 50), each
//! instance dropped before the next: WASI context, store, memory with its data segments,
//! tables. On wasmtime the instances come from the pooling allocator with copy-on-write memory
//! images, as the judge allocates them by default; `--on-demand` maps each one afresh. With
//! `--script` the interpreter judges that script (read-only at `/script`, as `sandbox judge
//! --lang` runs it) on `tests` test cases (default 20) "`i` 7" → "`i+7`" on one worker, and
//! the time per test is reported. Prints one JSON object: `backend`, `allocation`,
//! `module_bytes`, `instantiate_median_ns`, `instantiate_min_ns`, and with a script
//! `judge_tests`, `judge_per_test_ns`.

use sandbox::judge::{Judge, TestCase};
use sandbox::lang::{Lang, StagedScript};
use sandbox::{InstanceAllocation, Runtime, SandboxConfig};
use sandbox_bench::probe;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

struct Args {
    backend: Runtime,
    wasm: PathBuf,
    on_demand: bool,
    runs: usize,
    script: Option<PathBuf>,
    tests: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut backend = None;
    let mut wasm = None;
    let mut on_demand = false;
    let mut runs = 50;
    let mut script = None;
    let mut tests = 20;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--backend" => backend = Some(probe::backend(args.next())?),
            "--wasm" => wasm = Some(PathBuf::from(args.next().ok_or("--wasm needs a file")?)),
            "--on-demand" => on_demand = true,
            "--runs" => runs = probe::positive(args.next(), "--runs")?,
            "--script" => script = Some(PathBuf::from(args.next().ok_or("--script needs a file")?)),
            "--tests" => tests = probe::positive(args.next(), "--tests")?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args {
        backend: backend.ok_or("--backend wasmtime|wasmer is required")?,
        wasm: wasm.ok_or("--wasm FILE is required")?,
        on_demand,
        runs,
        script,
        tests,
    })
}

fn measure(args: &Args) -> Result<Vec<String>, String> {
    let wasm = std::fs::read(&args.wasm)
        .map_err(|err| format!("cannot read {}: {err}", args.wasm.display()))?;
    let pooled = args.backend == Runtime::Wasmtime && !args.on_demand;
    let config = SandboxConfig {
        max_memory_bytes: 256 << 20,
        instance_allocation: if pooled {
            InstanceAllocation::pooling(4)
        } else {
            InstanceAllocation::OnDemand
        },
        ..SandboxConfig::default()
    };
    let sandbox = sandbox::sandbox(args.backend, config.clone()).map_err(|e| e.to_string())?;
    let module = sandbox.load(&wasm).map_err(|e| e.to_string())?;
    drop(
        module
            .instantiate(&config)
            .map_err(|r| format!("{:?}", r.outcome))?,
    );
    let mut times = Vec::with_capacity(args.runs);
    for _ in 0..args.runs {
        let started = Instant::now();
        let instance = module
            .instantiate(&config)
            .map_err(|report| format!("{:?}", report.outcome))?;
        times.push(started.elapsed().as_nanos());
        drop(instance);
    }
    times.sort_unstable();
    let mut line = format!(
        "{{\"backend\":\"{}\",\"allocation\":\"{}\",\"module_bytes\":{},\"instantiate_median_ns\":{},\"instantiate_min_ns\":{}",
        args.backend,
        if pooled { "pooling" } else { "on_demand" },
        wasm.len(),
        times[times.len() / 2],
        times[0],
    );
    if let Some(script) = &args.script {
        let staged = StagedScript::new(script).map_err(|e| e.to_string())?;
        let mut judge_config = config.clone();
        staged.configure(Lang::Python, &[], &mut judge_config);
        let judge = Judge::on(args.backend, judge_config)
            .instance_allocation(config.instance_allocation)
            .jobs(1);
        let solution = judge.compile(&wasm).map_err(|e| e.to_string())?;
        let tests: Vec<TestCase> = (0..args.tests)
            .map(|i| TestCase::new(i, format!("{i} 7\n"), format!("{}\n", i + 7)))
            .collect();
        let started = Instant::now();
        let report = judge.evaluate_compiled(&*solution, &tests);
        let elapsed = started.elapsed().as_nanos();
        if report.passed != tests.len() {
            let failed = report.results.iter().find(|result| !result.passed);
            return Err(format!("the script failed a test: {failed:?}"));
        }
        line.push_str(&format!(
            ",\"judge_tests\":{},\"judge_per_test_ns\":{}",
            tests.len(),
            elapsed / tests.len() as u128
        ));
    }
    line.push('}');
    Ok(vec![line])
}

fn main() -> ExitCode {
    probe::finish(
        "fresh-instance",
        parse_args().and_then(|args| measure(&args)),
    )
}
