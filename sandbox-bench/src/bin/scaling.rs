//! Judge throughput across workers: 1,000 trivial WASI test cases (the accepted "sum of two
//! numbers" solution of `examples/judge`) judged with 1, 2, 4 and 8 worker threads, on one
//! engine and allocation per process.
//!
//! ```text
//! scaling --backend wasmtime|wasmer [--on-demand] [--jobs 1,2,4,8] [--tests N] [--rounds R]
//! ```
//!
//! The judge allocates instances as it does by default (a pool of instances on wasmtime,
//! `Judge::on`); `--on-demand` makes it map each instance's memory afresh instead.
//!
//! The solution is compiled once; each round judges every test in a fresh instance, and each
//! worker count runs `rounds` rounds (default 7) after one round of warm-up, the counts taking
//! turns so that all of them see the same machine. Prints one JSON object per worker count:
//! `backend`, `allocation` (`pooling` or `on_demand`), `jobs`, `tests`, `cores` (the machine's available parallelism),
//! `median_ns` and `min_ns` of a round, and `tests_per_sec` from the median.

use sandbox::judge::{Judge, TestCase};
use sandbox::{InstanceAllocation, Runtime, SandboxConfig};
use sandbox_bench::probe;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

struct Args {
    backend: Runtime,
    on_demand: bool,
    jobs: Vec<usize>,
    tests: usize,
    rounds: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut backend = None;
    let mut on_demand = false;
    let mut jobs = vec![1, 2, 4, 8];
    let mut tests = 1000;
    let mut rounds = 7;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--backend" => backend = Some(probe::backend(args.next())?),
            "--on-demand" => on_demand = true,
            "--jobs" => {
                jobs = args
                    .next()
                    .ok_or("--jobs needs a list such as 1,2,4,8")?
                    .split(',')
                    .map(|n| probe::positive(Some(n.to_string()), "--jobs"))
                    .collect::<Result<_, _>>()?
            }
            "--tests" => tests = probe::positive(args.next(), "--tests")?,
            "--rounds" => rounds = probe::positive(args.next(), "--rounds")?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args {
        backend: backend.ok_or("--backend wasmtime|wasmer is required")?,
        on_demand,
        jobs,
        tests,
        rounds,
    })
}

fn solution() -> Result<Vec<u8>, String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/judge/accepted.wasm");
    std::fs::read(&path).map_err(|err| format!("cannot read {}: {err}", path.display()))
}

fn measure(args: &Args) -> Result<Vec<String>, String> {
    let wasm = solution()?;
    let tests: Vec<TestCase> = (0..args.tests)
        .map(|i| TestCase::new(i, format!("{i} 7\n"), format!("{}\n", i + 7)))
        .collect();
    let judges = args
        .jobs
        .iter()
        .map(|&jobs| {
            let mut judge = Judge::on(args.backend, SandboxConfig::default()).jobs(jobs);
            if args.on_demand {
                judge = judge.instance_allocation(InstanceAllocation::OnDemand);
            }
            let module = judge.compile(&wasm).map_err(|err| err.to_string())?;
            Ok((judge, module))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let mut rounds: Vec<Vec<u128>> = vec![Vec::new(); judges.len()];
    for round in 0..=args.rounds {
        for (((judge, module), times), jobs) in judges.iter().zip(&mut rounds).zip(&args.jobs) {
            let started = Instant::now();
            let report = judge.evaluate_compiled(&**module, &tests);
            let elapsed = started.elapsed().as_nanos();
            if report.passed != tests.len() {
                let failed = report.results.iter().find(|result| !result.passed);
                return Err(format!(
                    "{} of {} tests passed with {jobs} workers; the first failure: {failed:?}",
                    report.passed,
                    tests.len(),
                ));
            }
            if round > 0 {
                times.push(elapsed);
            }
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pooled = judges
        .first()
        .is_some_and(|(judge, _)| judge.config().instance_allocation.is_pooling());
    Ok(args
        .jobs
        .iter()
        .zip(&mut rounds)
        .map(|(jobs, times)| {
            times.sort_unstable();
            let median = times[times.len() / 2];
            format!(
                "{{\"backend\":\"{}\",\"allocation\":\"{}\",\"jobs\":{jobs},\"tests\":{},\"cores\":{cores},\"median_ns\":{median},\"min_ns\":{},\"tests_per_sec\":{:.0}}}",
                args.backend,
                if pooled { "pooling" } else { "on_demand" },
                args.tests,
                times[0],
                args.tests as f64 / (median as f64 / 1e9),
            )
        })
        .collect())
}

fn main() -> ExitCode {
    probe::finish("scaling", parse_args().and_then(|args| measure(&args)))
}
