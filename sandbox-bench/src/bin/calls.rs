//! The Rust side of the C call bench: the same loop as `sandbox-capi/bench/calls.c` (a
//! warm-up of 100,000 calls, then five rounds of 1,000,000 calls of `add(5, 7)` on one live
//! instance, default configuration with a fuel budget no round exhausts), through
//! `Instance::call` (`call-rust`) and through the fast path, `Instance::call_func` with the
//! export resolved once and the values in arrays on the stack (`call-func-rust`). Prints one
//! JSON line per engine and case: `case`, `backend`, `calls`, `rounds`, `median_ns`,
//! `mad_ns` (per call). `cargo xtask bench` runs it and the C program alternately, so the two
//! are compared under the same machine conditions.

use sandbox::{SandboxConfig, WasmValue};
use sandbox_bench::{fixture, runtimes};
use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

const CALLS: u32 = 1_000_000;
const ROUNDS: usize = 5;

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The median and median absolute deviation of `ROUNDS` rounds of `CALLS` calls of `call`,
/// in nanoseconds per call, after a warm-up of a tenth of a round.
fn rounds(mut call: impl FnMut() -> Result<(), String>) -> Result<(f64, f64), String> {
    for _ in 0..CALLS / 10 {
        call()?;
    }
    let mut per_call = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..CALLS {
            call()?;
        }
        per_call.push(started.elapsed().as_nanos() as f64 / f64::from(CALLS));
    }
    let mid = median(&mut per_call);
    let mut deviations: Vec<f64> = per_call.iter().map(|t| (t - mid).abs()).collect();
    Ok((mid, median(&mut deviations)))
}

fn main() -> ExitCode {
    // `calls [BACKEND] [CASE]`: only that engine and case (for profiling one of them).
    let only: Vec<String> = std::env::args().skip(1).collect();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| o == name);
    let config = SandboxConfig {
        max_fuel: Some(1 << 60),
        ..SandboxConfig::default()
    };
    let args = [WasmValue::I32(5), WasmValue::I32(7)];
    for runtime in runtimes() {
        if !wanted(runtime.name()) && only.iter().all(|o| o.starts_with("call")) {
            // Only a case was named: every engine.
        } else if !wanted(runtime.name()) {
            continue;
        }
        let run = |fast: bool| -> Result<(f64, f64), String> {
            let sandbox = sandbox::sandbox(runtime, config.clone()).map_err(|e| e.to_string())?;
            let module = sandbox
                .load(&fixture("add.wat"))
                .map_err(|e| e.to_string())?;
            let mut instance = module
                .instantiate(&config)
                .map_err(|report| report.outcome.kind().to_string())?;
            if fast {
                let add = instance.export_func("add").map_err(|e| e.to_string())?;
                let mut results = [WasmValue::I32(0)];
                rounds(|| {
                    let report = instance
                        .call_func(&add, black_box(&args), &mut results)
                        .map_err(|e| e.to_string())?;
                    if !report.is_ok() || results != [WasmValue::I32(12)] {
                        return Err(format!("unexpected report: {:?}", report.outcome));
                    }
                    Ok(())
                })
            } else {
                rounds(|| {
                    let report = instance
                        .call("add", black_box(&args))
                        .map_err(|e| e.to_string())?;
                    if report.return_values != [WasmValue::I32(12)] {
                        return Err(format!("unexpected report: {:?}", report.outcome));
                    }
                    Ok(())
                })
            }
        };
        for (case, fast) in [("call-rust", false), ("call-func-rust", true)] {
            if only.iter().any(|o| o.starts_with("call")) && !wanted(case) {
                continue;
            }
            match run(fast) {
                Ok((median_ns, mad_ns)) => println!(
                    "{{\"case\": \"{case}\", \"backend\": \"{}\", \"calls\": {CALLS}, \"rounds\": {ROUNDS}, \"median_ns\": {median_ns:.2}, \"mad_ns\": {mad_ns:.2}}}",
                    runtime.name()
                ),
                Err(err) => {
                    eprintln!("calls: {} {case}: {err}", runtime.name());
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    ExitCode::SUCCESS
}
