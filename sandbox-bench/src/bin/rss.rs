//! Flat memory: the resident set of a long-lived process along a long run of work, on one
//! engine per process.
//!
//! ```text
//! rss --backend wasmtime|wasmer --mode runs|modules [--count N] [--samples S]
//! ```
//!
//! `runs` (default count 1,000,000) runs one module again and again, each run in a fresh
//! instance (`add.wat`: instantiate, call `add`, drop), as a service running one plugin does.
//! `modules` (default count 10,000) compiles and runs that many distinct modules (each returns
//! its own constant, so no two are alike and no cache can share their code), dropping each
//! after its run, as a judge or an execution service does with submissions. The resident set is
//! read `samples` times (default 10) along the way, at equal steps. Prints one JSON object:
//! `backend`, `mode`, `count`, `samples` (`[done, rss_bytes]` pairs), `rss_first` (after the
//! first step, a tenth of the work by default), `rss_last` and `ratio` (last / first).

use sandbox::{Runtime, SandboxConfig, WasmValue};
use sandbox_bench::{fixture, probe, resident_bytes};
use std::process::ExitCode;

struct Args {
    backend: Runtime,
    modules: bool,
    count: u64,
    samples: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut backend = None;
    let mut modules = None;
    let mut count = None;
    let mut samples = 10;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--backend" => backend = Some(probe::backend(args.next())?),
            "--mode" => {
                modules = Some(match args.next().as_deref() {
                    Some("runs") => false,
                    Some("modules") => true,
                    other => return Err(format!("unknown mode {other:?} (runs or modules)")),
                })
            }
            "--count" => count = Some(probe::positive(args.next(), "--count")?),
            "--samples" => samples = probe::positive(args.next(), "--samples")?,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let modules = modules.ok_or("--mode runs|modules is required")?;
    Ok(Args {
        backend: backend.ok_or("--backend wasmtime|wasmer is required")?,
        modules,
        count: count.unwrap_or(if modules { 10_000 } else { 1_000_000 }),
        samples,
    })
}

/// A module of its own for each `n`: `f` returns `n`.
fn distinct_module(n: u64) -> Vec<u8> {
    let text = format!(
        "(module (memory 1) (func (export \"f\") (result i64) i64.const {n}) (data (i32.const 0) \"{n}\"))"
    );
    sandbox::compile_wat_to_wasm(text).expect("the generated module parses")
}

fn measure(args: &Args) -> Result<Vec<String>, String> {
    let config = SandboxConfig::default();
    let sandbox = sandbox::sandbox(args.backend, config.clone()).map_err(|e| e.to_string())?;
    let add = sandbox
        .load(&fixture("add.wat"))
        .map_err(|e| e.to_string())?;
    let step = (args.count / args.samples).max(1);
    let mut samples = Vec::new();
    for done in 0..args.count {
        if args.modules {
            let module = sandbox
                .load(&distinct_module(done))
                .map_err(|e| e.to_string())?;
            let mut instance = module
                .instantiate(&config)
                .map_err(|report| format!("{:?}", report.outcome))?;
            let report = instance.call("f", &[]).map_err(|e| e.to_string())?;
            if report.return_values != [WasmValue::I64(done as i64)] {
                return Err(format!("module {done}: {:?}", report.outcome));
            }
        } else {
            let mut instance = add
                .instantiate(&config)
                .map_err(|report| format!("{:?}", report.outcome))?;
            let report = instance
                .call("add", &[WasmValue::I32(5), WasmValue::I32(7)])
                .map_err(|e| e.to_string())?;
            if report.return_values != [WasmValue::I32(12)] {
                return Err(format!("run {done}: {:?}", report.outcome));
            }
        }
        if (done + 1) % step == 0 {
            let rss = resident_bytes().ok_or("no /proc/self/statm on this system")?;
            samples.push((done + 1, rss));
        }
    }
    let first = samples.first().map_or(0, |s| s.1);
    let last = samples.last().map_or(0, |s| s.1);
    let list: Vec<String> = samples
        .iter()
        .map(|(done, rss)| format!("[{done},{rss}]"))
        .collect();
    Ok(vec![format!(
        "{{\"backend\":\"{}\",\"mode\":\"{}\",\"count\":{},\"samples\":[{}],\"rss_first\":{first},\"rss_last\":{last},\"ratio\":{:.3}}}",
        args.backend,
        if args.modules { "modules" } else { "runs" },
        args.count,
        list.join(","),
        last as f64 / first.max(1) as f64,
    )])
}

fn main() -> ExitCode {
    probe::finish("rss", parse_args().and_then(|args| measure(&args)))
}
