//! `sandbox run`: one module, one call (or `_start`), under limits, on one or every engine.

use crate::status;
use crate::units::{format_duration, format_size, parse_duration, parse_size};
use clap::{Args, ValueEnum};
use sandbox::{
    BackendKind, ExecutionResult, Outcome, Runtime, SandboxConfig, SandboxError, WasmValue,
};
use std::path::PathBuf;
use std::time::Duration;

/// Which engine(s) to run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// wasmtime (cranelift).
    Wasmtime,
    /// wasmer (singlepass).
    Wasmer,
    /// Every engine compiled in, side by side.
    All,
}

/// A configuration preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// 1 MiB memory, 100 ms, 100,000 fuel, 64 KiB stack.
    Minimal,
    /// 64 MiB memory, 5 s, 10,000,000 fuel, 1 MiB stack.
    Default,
    /// 256 MiB memory, 30 s, 1,000,000,000 fuel, 8 MiB stack, clock allowed.
    Compute,
}

/// Arguments of `sandbox run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The module to run (.wasm or .wat).
    file: PathBuf,
    /// Arguments for the guest: with --invoke, parsed by the export's signature (put them
    /// after `--` if they start with `-` and are not numbers).
    #[arg(value_name = "ARGS")]
    guest_args: Vec<String>,
    /// Engine to run on; `all` runs every compiled-in engine side by side.
    #[arg(long, value_enum, default_value_t = BackendChoice::Wasmtime)]
    backend: BackendChoice,
    /// Call this export instead of the WASI `_start` (alias: --func).
    #[arg(long, visible_alias = "func", value_name = "NAME")]
    invoke: Option<String>,
    /// Arguments as one whitespace-separated string (the product brief's spelling), appended
    /// to ARGS.
    #[arg(long = "args", value_name = "\"A B ...\"", allow_hyphen_values = true)]
    args_string: Option<String>,
    /// Configuration preset; explicit flags override it.
    #[arg(long, value_enum, default_value_t = Preset::Default)]
    preset: Preset,
    /// Fuel budget (a number, or `none` to turn metering off).
    #[arg(long, value_name = "N|none")]
    fuel: Option<String>,
    /// Wall-clock limit per call, e.g. 100ms or 2s.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    timeout: Option<Duration>,
    /// Linear memory limit, e.g. 64MiB.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    max_memory: Option<u64>,
    /// Wasm stack limit, e.g. 512KiB.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    max_stack: Option<u64>,
    /// Captured bytes per output stream, e.g. 1MiB.
    #[arg(long, value_parser = parse_size, value_name = "SIZE")]
    max_output: Option<u64>,
    /// Grant an import, as MODULE::NAME (repeatable).
    #[arg(long = "allow-import", value_name = "MODULE::NAME")]
    allow_import: Vec<String>,
    /// Print one JSON object per run instead of text.
    #[arg(long)]
    json: bool,
}

impl RunArgs {
    fn config(&self) -> anyhow::Result<SandboxConfig> {
        let mut config = match self.preset {
            Preset::Minimal => SandboxConfig::minimal(),
            Preset::Default => SandboxConfig::default(),
            Preset::Compute => SandboxConfig::compute(),
        };
        if let Some(fuel) = &self.fuel {
            config.max_fuel = match fuel.trim().to_ascii_lowercase().as_str() {
                "none" | "off" | "unlimited" => None,
                number => Some(number.replace('_', "").parse().map_err(|_| {
                    anyhow::anyhow!("invalid --fuel {fuel:?}: expected a number or `none`")
                })?),
            };
        }
        if let Some(timeout) = self.timeout {
            config.max_execution_time = timeout;
        }
        if let Some(bytes) = self.max_memory {
            config.max_memory_bytes = bytes;
        }
        if let Some(bytes) = self.max_stack {
            config.max_stack_size = bytes;
        }
        if let Some(bytes) = self.max_output {
            config.max_output_bytes = bytes;
        }
        config
            .allowed_imports
            .extend(self.allow_import.iter().cloned());
        config.validate().map_err(|err| anyhow::anyhow!("{err}"))?;
        Ok(config)
    }

    fn arguments(&self) -> Vec<String> {
        let mut args = self.guest_args.clone();
        if let Some(extra) = &self.args_string {
            args.extend(extra.split_whitespace().map(str::to_string));
        }
        args
    }
}

/// Runs the module and prints the report(s).
pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let config = args.config()?;
    let runtimes: Vec<Runtime> = match args.backend {
        BackendChoice::Wasmtime => vec![BackendKind::Wasmtime],
        BackendChoice::Wasmer => vec![BackendKind::Wasmer],
        BackendChoice::All => sandbox::available_runtimes(),
    };
    let bytes = match sandbox::read_module_file(&args.file, config.max_module_bytes) {
        Ok(bytes) => bytes,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(status::for_error(&err));
        }
    };
    let guest_args = args.arguments();
    let results: Vec<ExecutionResult> = runtimes
        .iter()
        .map(|runtime| {
            run_one(
                *runtime,
                &bytes,
                args.invoke.as_deref(),
                &guest_args,
                &config,
            )
        })
        .collect();

    if args.json {
        for result in &results {
            println!("{}", result.to_json());
        }
    } else if results.len() == 1 {
        print_one(&results[0], &config);
    } else {
        print_side_by_side(&results, &config);
    }
    let statuses: Vec<u8> = results
        .iter()
        .map(|r| status::for_outcome(&r.outcome))
        .collect();
    Ok(statuses
        .iter()
        .copied()
        .find(|s| *s != status::OK)
        .unwrap_or(status::OK))
}

/// One run on one engine; a failure to start becomes a report too, so every path prints the
/// same shape.
fn run_one(
    runtime: Runtime,
    bytes: &[u8],
    invoke: Option<&str>,
    args: &[String],
    config: &SandboxConfig,
) -> ExecutionResult {
    let failed = |err: SandboxError| ExecutionResult::new(runtime, Outcome::Failed(err));
    let sandbox = match sandbox::sandbox(runtime, config.clone()) {
        Ok(sandbox) => sandbox,
        Err(err) => return failed(err),
    };
    let module = match sandbox.load(bytes) {
        Ok(module) => module,
        Err(err) => return failed(err),
    };
    let func = invoke.unwrap_or("_start");
    let values: Vec<WasmValue> = match module
        .info()
        .function(func)
        .map_err(|err| match (invoke, err) {
            (None, SandboxError::FunctionNotFound { available, .. }) => {
                SandboxError::FunctionNotFound {
                    name: "_start (the module is not a WASI command: pick an export with --invoke)"
                        .into(),
                    available,
                }
            }
            (_, err) => err,
        })
        .and_then(|signature| signature.parse_args(func, args))
    {
        Ok(values) => values,
        Err(err) => return failed(err),
    };
    let mut instance = match module.instantiate(config) {
        Ok(instance) => instance,
        Err(report) => return *report,
    };
    match instance.call(func, &values) {
        Ok(result) => result,
        Err(err) => failed(err),
    }
}

fn describe_config(config: &SandboxConfig) -> String {
    format!(
        "memory {}, timeout {}, fuel {}, stack {}, imports [{}]",
        format_size(config.max_memory_bytes),
        format_duration(config.max_execution_time),
        config
            .max_fuel
            .map_or("off".to_string(), |fuel| fuel.to_string()),
        format_size(config.max_stack_size),
        config.allowed_imports.join(", ")
    )
}

fn values(values: &[WasmValue]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

fn outcome_line(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ok => "ok".to_string(),
        Outcome::Exit { code } => format!("exit {code}"),
        Outcome::Failed(err) => format!("{} ({err})", err.kind()),
    }
}

fn print_one(result: &ExecutionResult, config: &SandboxConfig) {
    println!("Backend: {}", result.backend);
    println!("Configuration: {}", describe_config(config));
    match &result.outcome {
        Outcome::Ok => println!("Result: {}", values(&result.return_values)),
        other => println!("Outcome: {}", outcome_line(other)),
    }
    let started = !matches!(
        result.outcome.kind(),
        "invalid_module"
            | "unauthorized_import"
            | "function_not_found"
            | "type_mismatch"
            | "unsupported"
            | "io_error"
    );
    if !started {
        return;
    }
    println!("Time: {}", format_duration(result.execution_time));
    println!(
        "Fuel consumed: {}",
        result
            .fuel_consumed
            .map_or("(metering off)".to_string(), |fuel| fuel.to_string())
    );
    println!("Peak memory: {}", format_size(result.peak_memory));
}

fn print_side_by_side(results: &[ExecutionResult], config: &SandboxConfig) {
    println!("Configuration: {}", describe_config(config));
    let rows: Vec<(&str, Vec<String>)> = vec![
        (
            "backend",
            results.iter().map(|r| r.backend.to_string()).collect(),
        ),
        (
            "outcome",
            results
                .iter()
                .map(|r| r.outcome.kind().to_string())
                .collect(),
        ),
        (
            "result",
            results
                .iter()
                .map(|r| match &r.outcome {
                    Outcome::Ok => values(&r.return_values),
                    Outcome::Exit { code } => format!("exit {code}"),
                    Outcome::Failed(err) => err.to_string(),
                })
                .collect(),
        ),
        (
            "time",
            results
                .iter()
                .map(|r| format_duration(r.execution_time))
                .collect(),
        ),
        (
            "fuel",
            results
                .iter()
                .map(|r| r.fuel_consumed.map_or("off".into(), |f| f.to_string()))
                .collect(),
        ),
        (
            "peak memory",
            results.iter().map(|r| format_size(r.peak_memory)).collect(),
        ),
    ];
    let width = rows
        .iter()
        .flat_map(|(_, cells)| cells.iter().map(|c| c.len()))
        .max()
        .unwrap_or(8)
        .clamp(8, 60);
    for (label, cells) in rows {
        let cells: Vec<String> = cells.iter().map(|c| format!("{c:<width$}")).collect();
        println!("{label:<12} {}", cells.join("  ").trim_end());
    }
    let kinds: std::collections::BTreeSet<_> = results.iter().map(|r| r.outcome.kind()).collect();
    if kinds.len() > 1 {
        println!("warning: the engines disagree on the outcome");
    }
}
