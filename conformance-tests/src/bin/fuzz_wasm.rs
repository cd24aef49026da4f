//! `fuzz_wasm`: an open-ended differential campaign over generated modules (the product
//! brief's fuzz target). Run it through `cargo xtask fuzz`, which builds it in release.
//!
//! ```text
//! fuzz_wasm [--count N] [--seed S] [--jobs J] [--mutants M] [--chunk C] [--out DIR]
//! ```
//!
//! For every seed in `S..S+N`: generate a module with wasm-smith, run it on both engines and
//! compare ([`conformance_tests::differential`]); then feed `M` mutants of it and `M` random
//! byte strings through load, instantiation and every call on both engines, where any panic is
//! a failure and a mutant both engines load is compared too. Prints progress and a summary;
//! every failing module is written to `DIR/<seed>.wasm` (`DIR/<seed>-mutant-<k>.wasm`). Exits
//! 1 when anything failed (an unlisted divergence, a panic, or a worker process that died), 2
//! on bad arguments.
//!
//! The seeds are split into chunks of `C` (default 1,000), each run by a fresh worker process
//! (`J` at a time), which reports its [`Summary`] as one JSON line. Fresh processes because
//! wasmer keeps every module an engine compiled until the engine is dropped (its code memory
//! and unwind registrations; the sandbox keeps one engine per configuration for the life of
//! the process), and each trap's backtrace then searches every registered unwind table: a
//! single process slows down steadily (from 300 to 16 seeds per second within 6,000 seeds).
//! A worker process that crashes is reported with its seed range.

use conformance_tests::differential::{
    garbage, module_from_seed, mutate, Differ, Origin, Rng, Summary,
};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The prefix of a worker's summary line.
const SUMMARY_LINE: &str = "SUMMARY ";

struct Options {
    count: u64,
    seed: u64,
    jobs: usize,
    mutants: u64,
    chunk: u64,
    /// Run the seeds in this process and print the summary as JSON (a worker).
    worker: bool,
    out: PathBuf,
}

fn usage() -> ! {
    eprintln!(
        "usage: fuzz_wasm [--count N] [--seed S] [--jobs J] [--mutants M] [--chunk C] [--out DIR]"
    );
    std::process::exit(2)
}

fn options() -> Options {
    let mut options = Options {
        count: 1000,
        seed: 0,
        jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
        mutants: 2,
        chunk: 1000,
        worker: false,
        out: PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("target")
            .join("fuzz-divergences"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--count" => options.count = value().parse().unwrap_or_else(|_| usage()),
            "--seed" => options.seed = value().parse().unwrap_or_else(|_| usage()),
            "--jobs" => options.jobs = value().parse().unwrap_or_else(|_| usage()),
            "--mutants" => options.mutants = value().parse().unwrap_or_else(|_| usage()),
            "--chunk" => options.chunk = value().parse().unwrap_or_else(|_| usage()),
            "--worker" => options.worker = true,
            "--out" => options.out = PathBuf::from(value()),
            _ => usage(),
        }
    }
    if options.jobs == 0 || options.chunk == 0 {
        usage();
    }
    options
}

/// Writes a failing input where it can be reproduced from; a write error is reported, not
/// fatal (the seed reproduces it anyway).
fn save(out: &Path, name: &str, wasm: &[u8]) {
    let path = out.join(format!("{name}.wasm"));
    if let Err(err) = std::fs::create_dir_all(out).and_then(|()| std::fs::write(&path, wasm)) {
        eprintln!("cannot write {}: {err}", path.display());
    } else {
        eprintln!("  written to {}", path.display());
    }
}

/// Runs one seed: the generated module, its mutants and as many random byte strings.
fn run_seed(differ: &Differ, seed: u64, options: &Options, summary: &mut Summary) {
    summary.inputs += 1;
    let Some(wasm) = module_from_seed(seed) else {
        summary.not_generated += 1;
        return;
    };
    let mut inputs = vec![(format!("{seed}"), Origin::Generated, wasm.clone())];
    let mut rng = Rng::new(seed ^ 0x5eed_5eed_5eed_5eed);
    for k in 0..options.mutants {
        inputs.push((
            format!("{seed}-mutant-{k}"),
            Origin::Mutated,
            mutate(&wasm, &mut rng),
        ));
        inputs.push((
            format!("{seed}-garbage-{k}"),
            Origin::Mutated,
            garbage(&mut rng),
        ));
    }
    for (name, origin, bytes) in inputs {
        let report = differ.check(&bytes, origin);
        let before = summary.failures.len();
        summary.add(&format!("seed {name}"), origin, &report);
        for (label, comparison) in &summary.failures[before..] {
            eprintln!("FAILURE {label}: {comparison}");
        }
        if summary.failures.len() > before {
            save(&options.out, &name, &bytes);
        }
    }
}

/// A worker: runs `options.seed..+options.count` in this process, one thread, and prints its
/// summary as one JSON line.
fn worker(options: &Options) {
    let differ = Differ::new().expect("both engines are compiled in");
    let mut summary = Summary::default();
    for index in 0..options.count {
        run_seed(&differ, options.seed + index, options, &mut summary);
    }
    let json = serde_json::to_string(&summary).expect("a summary serialises");
    println!("{SUMMARY_LINE}{json}");
}

/// Runs one chunk in a worker process; a worker that dies is a failure of its seed range.
fn run_chunk(options: &Options, first: u64, count: u64) -> Summary {
    let failed = |why: String| {
        let mut summary = Summary {
            inputs: count,
            ..Summary::default()
        };
        summary.failures.push((
            format!("seeds {first}..{}", first + count),
            conformance_tests::differential::Comparison {
                phase: conformance_tests::differential::Phase::Load,
                wasmtime: conformance_tests::differential::Observation::Panicked(why.clone()),
                wasmer: conformance_tests::differential::Observation::Panicked(why),
                verdict: conformance_tests::differential::Verdict::Divergent,
            },
        ));
        summary
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(err) => return failed(format!("cannot find the fuzz_wasm binary: {err}")),
    };
    let child = Command::new(exe)
        .args(["--worker", "--count", &count.to_string()])
        .args(["--seed", &first.to_string()])
        .args(["--mutants", &options.mutants.to_string()])
        .arg("--out")
        .arg(&options.out)
        .stdout(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) => return failed(format!("cannot start a worker: {err}")),
    };
    let mut summary = None;
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            match line.strip_prefix(SUMMARY_LINE) {
                Some(json) => summary = serde_json::from_str::<Summary>(json).ok(),
                None => println!("{line}"),
            }
        }
    }
    let status = child.wait();
    match (summary, status) {
        (Some(summary), Ok(status)) if status.success() => summary,
        (_, status) => failed(format!(
            "the worker for seeds {first}..{} died ({status:?}): reproduce with `fuzz_wasm --worker --seed {first} --count {count}`",
            first + count
        )),
    }
}

fn main() {
    let options = options();
    if options.worker {
        worker(&options);
        return;
    }
    let started = Instant::now();
    println!(
        "fuzz_wasm: seeds {}..{} in chunks of {} on {} worker process(es), {} mutant(s) and random input(s) per seed; failures go to {}",
        options.seed,
        options.seed.saturating_add(options.count),
        options.chunk,
        options.jobs,
        options.mutants,
        options.out.display()
    );
    let chunks = options.count.div_ceil(options.chunk);
    let next = AtomicU64::new(0);
    let done = AtomicU64::new(0);
    let total = Mutex::new(Summary::default());
    std::thread::scope(|scope| {
        for _ in 0..options.jobs {
            scope.spawn(|| loop {
                let chunk = next.fetch_add(1, Ordering::Relaxed);
                if chunk >= chunks {
                    break;
                }
                let first = chunk * options.chunk;
                let count = options.chunk.min(options.count - first);
                let summary = run_chunk(&options, options.seed + first, count);
                let mut total = total.lock().unwrap_or_else(|e| e.into_inner());
                total.merge(summary);
                let finished = done.fetch_add(count, Ordering::Relaxed) + count;
                let elapsed = started.elapsed().as_secs_f64();
                println!(
                    "[{elapsed:>7.0}s] {finished}/{} seeds ({:.1}/s): {} modules, {} functions run, {} failure(s)",
                    options.count,
                    finished as f64 / elapsed.max(1e-9),
                    total.generated,
                    total.functions_run,
                    total.failures.len()
                );
            });
        }
    });
    let mut summary = total.into_inner().unwrap_or_else(|e| e.into_inner());
    summary.failures.sort_by(|a, b| a.0.cmp(&b.0));
    println!("{summary}");
    println!("time: {:.1?}", started.elapsed());
    if !summary.failures.is_empty() {
        println!(
            "FAILED: {} unlisted divergence(s) or panic(s); reproduce one with `cargo xtask fuzz --count 1 --seed SEED`",
            summary.failures.len()
        );
        std::process::exit(1);
    }
    println!("ok: no unlisted divergence, no panic");
}
