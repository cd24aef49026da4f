//! Host memory per live instance: the growth of this process's resident set while it keeps
//! N instances (default 1,000) of a small module alive, on one engine.
//!
//! ```text
//! instance-memory --backend wasmtime|wasmer [--pooling] [--instances N]
//! ```
//!
//! The module (`counter.wat`: one 64 KiB page of memory, a global) is compiled, and one
//! instance created and dropped, before the first measurement, so the engine, the compiled
//! code and the allocator's warm-up are not counted. Each instance then gets one call, which
//! writes to its memory, as a live instance would. Prints one JSON object: `backend`,
//! `allocation`, `instances`, `rss_before`, `rss_after`, `bytes_per_instance`. One engine per
//! process, so one engine's freed memory cannot hide another's growth; `cargo xtask bench`
//! runs it once per engine and allocation.

use sandbox::{InstanceAllocation, Runtime, SandboxConfig};
use sandbox_bench::{fixture, probe, resident_bytes};
use std::process::ExitCode;

struct Args {
    backend: Runtime,
    pooling: bool,
    instances: u32,
}

fn parse_args() -> Result<Args, String> {
    let mut backend = None;
    let mut pooling = false;
    let mut instances = 1000;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--backend" => backend = Some(probe::backend(args.next())?),
            "--pooling" => pooling = true,
            "--instances" => {
                instances = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0 && n < InstanceAllocation::MAX_POOLED_INSTANCES)
                    .ok_or("--instances needs a number from 1 to 9999")?
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(Args {
        backend: backend.ok_or("--backend wasmtime|wasmer is required")?,
        pooling,
        instances,
    })
}

fn measure(args: &Args) -> Result<Vec<String>, String> {
    let config = SandboxConfig {
        instance_allocation: if args.pooling {
            InstanceAllocation::pooling(args.instances + 1)
        } else {
            InstanceAllocation::OnDemand
        },
        ..SandboxConfig::default()
    };
    let sandbox = sandbox::sandbox(args.backend, config).map_err(|err| err.to_string())?;
    let module = sandbox
        .load(&fixture("counter.wat"))
        .map_err(|err| err.to_string())?;
    let instantiate = || {
        let mut instance = module
            .instantiate(sandbox.config())
            .map_err(|report| format!("{:?}", report.outcome))?;
        instance
            .call("incr", &[])
            .map_err(|err| err.to_string())?
            .into_result()
            .map_err(|err| err.to_string())?;
        Ok::<_, String>(instance)
    };
    drop(instantiate()?);
    let before = resident_bytes().ok_or("no /proc/self/statm on this system")?;
    let mut live = Vec::with_capacity(args.instances as usize);
    for _ in 0..args.instances {
        live.push(instantiate()?);
    }
    let after = resident_bytes().ok_or("no /proc/self/statm on this system")?;
    drop(live);
    let per_instance = after.saturating_sub(before) / u64::from(args.instances);
    Ok(vec![format!(
        "{{\"backend\":\"{}\",\"allocation\":\"{}\",\"instances\":{},\"rss_before\":{before},\"rss_after\":{after},\"bytes_per_instance\":{per_instance}}}",
        args.backend,
        if args.pooling { "pooling" } else { "on_demand" },
        args.instances,
    )])
}

fn main() -> ExitCode {
    probe::finish(
        "instance-memory",
        parse_args().and_then(|args| measure(&args)),
    )
}
