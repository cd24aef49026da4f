//! Judge throughput across workers: trivial WASI test cases (1,000 by default) (the accepted "sum of two
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
//! `backend`, `allocation` (`pooling` or `on_demand`), `jobs`, `tests`, `cores` (the machine's
//! available parallelism), `median_ns` and `min_ns` of a round, `tests_per_sec` from the
//! median, and `speedup`: the median over rounds of (the first count's time / this count's
//! time) in the same round, a paired comparison that a slow spell of the machine does not
//! tilt; `machine_speedup`: the same paired ratio for plain CPU work (threads spinning through
//! a fixed loop, in the same rounds), that is, how much parallel capacity the machine itself
//! offered while the judge was measured (a shared host's other tenants take some of it).

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
    let mut machine: Vec<Vec<u128>> = vec![Vec::new(); judges.len()];
    for round in 0..=args.rounds {
        for (&jobs, spins) in args.jobs.iter().zip(&mut machine) {
            let elapsed = spin(jobs);
            if round > 0 {
                spins.push(elapsed);
            }
        }
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
    // The speed-up over the first worker count, round by round: the counts of one round ran
    // back to back, so a slow spell of the machine (another tenant of the host) weighs on
    // both sides of a ratio instead of on one count's median.
    let base = rounds.first().cloned().unwrap_or_default();
    let machine_base = machine.first().cloned().unwrap_or_default();
    Ok(args
        .jobs
        .iter()
        .zip(&mut rounds)
        .zip(&machine)
        .map(|((jobs, times), spins)| {
            let speedup = paired_speedup(&base, times);
            // The same work per thread on `jobs` threads: throughput relative to one thread.
            let machine_speedup = paired_speedup(&machine_base, spins) * *jobs as f64
                / args.jobs.first().copied().unwrap_or(1) as f64;
            times.sort_unstable();
            let median = times[times.len() / 2];
            format!(
                "{{\"backend\":\"{}\",\"allocation\":\"{}\",\"jobs\":{jobs},\"tests\":{},\"cores\":{cores},\"median_ns\":{median},\"min_ns\":{},\"tests_per_sec\":{:.0},\"speedup\":{speedup:.3},\"machine_speedup\":{machine_speedup:.3}}}",
                args.backend,
                if pooled { "pooling" } else { "on_demand" },
                args.tests,
                times[0],
                args.tests as f64 / (median as f64 / 1e9),
            )
        })
        .collect())
}

/// The median over rounds of `base[r] / times[r]`.
fn paired_speedup(base: &[u128], times: &[u128]) -> f64 {
    let mut ratios: Vec<f64> = base
        .iter()
        .zip(times)
        .map(|(&one, &this)| one as f64 / this as f64)
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The machine's own parallel capacity at the moment: `threads` threads each spinning through
/// the same fixed amount of integer work (about 20 ms on one core of the reference machine);
/// the wall time of all of them.
fn spin(threads: usize) -> u128 {
    let work = || {
        let mut x: u64 = 0;
        for i in 0..20_000_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        x
    };
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(work);
        }
    });
    started.elapsed().as_nanos()
}

fn main() -> ExitCode {
    probe::finish("scaling", parse_args().and_then(|args| measure(&args)))
}
