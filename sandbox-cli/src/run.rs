//! `sandbox run`: one module, one call (or `_start`), under limits, on one or every engine.

use crate::cache::{read_module_or_artifact, CacheArgs};
use crate::lang::{Lang, StagedScript};
use crate::limits;
use crate::status;
use crate::units::{format_duration, format_size, parse_duration, parse_size};
use clap::{Args, ValueEnum};
use sandbox::cache::{decode_artifact, is_artifact};
use sandbox::{
    BackendKind, CacheStatus, ClockPolicy, CompiledModule, ExecutionResult, LinkedModules, Outcome,
    Preopen, Runtime, SandboxConfig, SandboxError, WasmValue,
};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
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
    /// The module to run (.wasm or .wat), a Mini program (.mini, compiled first), or an
    /// artifact of `sandbox compile --aot` (.cwasm; run only artifacts you made: they are
    /// native code); with --lang, the script.
    file: PathBuf,
    /// Run FILE as a script of this language with its interpreter module (SANDBOX_PYTHON_WASM
    /// or SANDBOX_JS_WASM, or --interpreter); the script is seen read-only at /script. Fuel is
    /// off unless --fuel is given: time is the limit. `mini` compiles FILE as a Mini program
    /// whatever its extension.
    #[arg(long, value_enum)]
    lang: Option<Lang>,
    /// The interpreter module for --lang (overrides SANDBOX_PYTHON_WASM / SANDBOX_JS_WASM).
    #[arg(long, value_name = "FILE", requires = "lang")]
    interpreter: Option<PathBuf>,
    /// Arguments for the guest: with --invoke, parsed by the export's signature (put them
    /// after `--` if they start with `-` and are not numbers).
    #[arg(value_name = "ARGS")]
    guest_args: Vec<String>,
    /// Engine to run on; `all` runs every compiled-in engine side by side (default: wasmtime,
    /// or the engine an artifact was compiled for).
    #[arg(long, value_enum)]
    backend: Option<BackendChoice>,
    /// Call this export instead of the WASI `_start` (alias: --func).
    #[arg(long, visible_alias = "func", value_name = "NAME")]
    invoke: Option<String>,
    /// Instantiate FILE (.wasm or .wat) first and register it as NAME, so the module run can
    /// import its functions, memories, tables and globals (repeatable, in order; needs
    /// --invoke: WASI is not offered in a linked store).
    #[arg(long = "link", value_name = "NAME=FILE")]
    link: Vec<String>,
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
    /// Elements per table (all tables of the instance together).
    #[arg(long, value_name = "N")]
    max_table_elements: Option<u64>,
    /// Deterministic time: --timeout becomes a fuel budget at the calibrated rate (the same
    /// outcome on every run and machine) and the wall clock a safety net at a multiple of it;
    /// --fuel, if given, caps the budget.
    #[arg(long)]
    deterministic_time: bool,
    /// Grant an import, as MODULE::NAME (repeatable).
    #[arg(long = "allow-import", value_name = "MODULE::NAME")]
    allow_import: Vec<String>,
    /// Preopen a host directory read-only, seen by the guest at GUEST: any path, `/` included
    /// (default: /NAME, NAME being the directory's last component; a relative GUEST is taken
    /// from the root, so `.` is `/`).
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dirs: Vec<String>,
    /// Preopen a host directory read-write.
    #[arg(long = "dir-rw", value_name = "HOST[::GUEST]")]
    dirs_rw: Vec<String>,
    /// Set an environment variable of the guest (repeatable; nothing is inherited).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// What the guest reads on stdin: a file, or `-` for this process's stdin (default: empty).
    #[arg(long, value_name = "FILE|-")]
    stdin: Option<String>,
    /// Clocks and randomness: deny (calls fail), real, or virtual (deterministic).
    #[arg(long, value_name = "deny|real|virtual")]
    clock: Option<ClockPolicy>,
    /// Print one JSON object per run instead of text (with a `cache` field: off, miss,
    /// memory_hit, disk_hit or aot).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    cache: CacheArgs,
}

impl Preset {
    /// The preset's configuration.
    pub fn config(self) -> SandboxConfig {
        match self {
            Preset::Minimal => SandboxConfig::minimal(),
            Preset::Default => SandboxConfig::default(),
            Preset::Compute => SandboxConfig::compute(),
        }
    }
}

impl RunArgs {
    fn config(&self) -> anyhow::Result<SandboxConfig> {
        let mut config = self.preset.config();
        if let Some(fuel) = &self.fuel {
            config.max_fuel = crate::units::parse_fuel(fuel).map_err(|err| anyhow::anyhow!(err))?;
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
        if let Some(elements) = self.max_table_elements {
            config.max_table_elements = elements;
        }
        if self.deterministic_time {
            let explicit = match &self.fuel {
                Some(fuel) => crate::units::parse_fuel(fuel).map_err(|err| anyhow::anyhow!(err))?,
                None => None,
            };
            sandbox::judge::DeterministicTime::CALIBRATED.apply(&mut config, explicit);
        }
        config
            .allowed_imports
            .extend(self.allow_import.iter().cloned());
        for (spec, writable) in self
            .dirs
            .iter()
            .map(|d| (d, false))
            .chain(self.dirs_rw.iter().map(|d| (d, true)))
        {
            let (host, guest) = parse_dir(spec)?;
            config.allow_filesystem = true;
            config.preopens.push(Preopen {
                host,
                guest,
                writable,
            });
        }
        for pair in &self.env {
            let Some((key, value)) = pair.split_once('=') else {
                anyhow::bail!("invalid --env {pair:?}: expected KEY=VALUE");
            };
            config.env.push((key.to_string(), value.to_string()));
        }
        if let Some(clock) = self.clock {
            config.clock = clock;
        }
        if let Some(source) = &self.stdin {
            let limit = 64 << 20;
            let mut bytes = Vec::new();
            let read = if source == "-" {
                std::io::stdin().take(limit + 1).read_to_end(&mut bytes)
            } else {
                std::fs::File::open(source)
                    .and_then(|file| file.take(limit + 1).read_to_end(&mut bytes))
            };
            read.map_err(|err| anyhow::anyhow!("cannot read stdin from {source}: {err}"))?;
            if bytes.len() as u64 > limit {
                anyhow::bail!("stdin from {source} is larger than 64 MiB");
            }
            config.stdin = bytes;
        }
        config.program_name = self
            .file
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "main.wasm".into());
        if self.invoke.is_none() {
            config.args = self.arguments();
        }
        config.cache = self.cache.config();
        config.validate().map_err(|err| anyhow::anyhow!("{err}"))?;
        Ok(config)
    }

    /// Under --deterministic-time, the fuel budget --timeout converts to.
    fn time_fuel(&self) -> Option<u64> {
        let timeout = self
            .timeout
            .unwrap_or(self.preset.config().max_execution_time);
        self.deterministic_time
            .then(|| sandbox::judge::DeterministicTime::CALIBRATED.fuel_for(timeout))
    }

    fn arguments(&self) -> Vec<String> {
        let mut args = self.guest_args.clone();
        if let Some(extra) = &self.args_string {
            args.extend(extra.split_whitespace().map(str::to_string));
        }
        args
    }
}

/// Splits a `--dir`/`--dir-rw` value, `HOST` or `HOST::GUEST`, into the host directory and the
/// guest path. Without `::GUEST` the guest path is `/NAME`, NAME being the host directory's
/// last component. Any guest path under the root is accepted (`/`, `/data`, `/data/in`; a
/// relative one is taken from the root, as wasi-libc does: `.` is `/`, `data` is `/data`);
/// an empty host or guest path, or a guest path with `..` or NUL, is an error.
fn parse_dir(spec: &str) -> anyhow::Result<(PathBuf, String)> {
    let (host, guest) = match spec.split_once("::") {
        Some((host, guest)) => (host, guest.to_string()),
        None => {
            let name = std::path::Path::new(spec)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.is_empty() {
                anyhow::bail!(
                    "invalid directory {spec:?}: it has no last component to name it after; \
                     write HOST::/GUEST"
                );
            }
            (spec, format!("/{name}"))
        }
    };
    if host.is_empty() {
        anyhow::bail!("invalid directory {spec:?}: the host directory is empty (HOST::/GUEST)");
    }
    let preopen = Preopen {
        host: PathBuf::from(host),
        guest,
        writable: false,
    };
    preopen
        .guest_components()
        .map_err(|reason| anyhow::anyhow!("invalid directory {spec:?}: {reason}"))?;
    Ok((preopen.host, preopen.guest))
}

/// Runs the module and prints the report(s).
pub fn run(args: RunArgs) -> anyhow::Result<u8> {
    let mut config = args.config()?;
    let mut module_file = args.file.clone();
    // Kept alive for the run: the guest's view of the script.
    let mut kind = None;
    let _staged = match args.lang.map(|lang| (lang, lang.interpreted())) {
        Some((_, None)) => {
            kind = Some(sandbox::SourceKind::Mini);
            None
        }
        Some((_, Some(lang))) => {
            if args.invoke.is_some() || !args.link.is_empty() {
                anyhow::bail!(
                    "--lang runs a script: it cannot be combined with --invoke or --link"
                );
            }
            module_file = crate::lang::interpreter(lang, args.interpreter.as_deref())?;
            let staged = StagedScript::new(&args.file)?;
            staged.configure(lang, &args.arguments(), &mut config);
            if args.fuel.is_none() {
                config.max_fuel = None;
            }
            config.validate().map_err(|err| anyhow::anyhow!("{err}"))?;
            Some(staged)
        }
        None => None,
    };
    let bytes = match read_module_or_artifact(&module_file, config.max_module_bytes, kind) {
        Ok(bytes) => bytes,
        Err(err) => {
            if args.json && matches!(err, SandboxError::CompilationError { .. }) {
                // A program that did not compile is a report too: its outcome carries the
                // diagnostics as data.
                let backend = match args.backend {
                    Some(BackendChoice::Wasmer) => BackendKind::Wasmer,
                    _ => BackendKind::Wasmtime,
                };
                let status = status::for_error(&err);
                let mut json = ExecutionResult::new(backend, Outcome::Failed(err)).to_json();
                if let Some(map) = json.as_object_mut() {
                    map.insert("cache".into(), serde_json::Value::Null);
                }
                println!("{json}");
                return Ok(status);
            }
            status::print_error(&err);
            return Ok(status::for_error(&err));
        }
    };
    // An artifact runs on the engine it was compiled for unless told otherwise (and is then
    // refused with a message naming both).
    let artifact_backend = is_artifact(&bytes)
        .then(|| decode_artifact(&bytes).ok().and_then(|a| a.backend_kind()))
        .flatten();
    let runtimes: Vec<Runtime> = match args.backend {
        Some(BackendChoice::Wasmtime) => vec![BackendKind::Wasmtime],
        Some(BackendChoice::Wasmer) => vec![BackendKind::Wasmer],
        Some(BackendChoice::All) => sandbox::available_runtimes(),
        None => vec![artifact_backend.unwrap_or(BackendKind::Wasmtime)],
    };
    let guest_args = args.arguments();
    let links = match read_links(&args, &config) {
        Ok(links) => links,
        Err(err) => {
            status::print_error(&err);
            return Ok(status::for_error(&err));
        }
    };
    let results: Vec<(ExecutionResult, Option<CacheStatus>)> = runtimes
        .iter()
        .map(|runtime| match (&links, args.invoke.as_deref()) {
            (Some(links), Some(invoke)) => (
                run_linked(*runtime, links, &bytes, invoke, &guest_args, &config),
                None,
            ),
            _ => run_one(
                *runtime,
                &bytes,
                args.invoke.as_deref(),
                &guest_args,
                &config,
            ),
        })
        .collect();

    if args.json {
        for (result, cache) in &results {
            let mut json = result.to_json();
            if let Some(map) = json.as_object_mut() {
                map.insert(
                    "cache".into(),
                    serde_json::json!(cache.map(CacheStatus::name)),
                );
            }
            println!("{json}");
        }
    } else if args.invoke.is_none() && results.len() == 1 {
        // A WASI command behaves like the program: its output is ours, its exit code ours.
        print_command(&results[0].0, args.time_fuel());
    } else if results.len() == 1 {
        print_output(&results[0].0, false);
        print_one(&results[0].0, results[0].1, &config, args.time_fuel());
    } else {
        for (result, _) in &results {
            print_output(result, true);
        }
        print_side_by_side(&results, &config, args.time_fuel());
    }
    let statuses: Vec<u8> = results
        .iter()
        .map(|(r, _)| status::for_outcome(&r.outcome))
        .collect();
    Ok(statuses
        .iter()
        .copied()
        .find(|s| *s != status::OK)
        .unwrap_or(status::OK))
}

/// A module of `--link`: its name and bytes.
type Link = (String, Vec<u8>);

/// The modules of `--link`, read; `None` without any.
fn read_links(args: &RunArgs, config: &SandboxConfig) -> Result<Option<Vec<Link>>, SandboxError> {
    if args.link.is_empty() {
        return Ok(None);
    }
    if args.invoke.is_none() {
        return Err(SandboxError::Unsupported {
            reason: "--link needs --invoke: WASI commands are not run in a linked store".into(),
        });
    }
    args.link
        .iter()
        .map(|spec| {
            let Some((name, file)) = spec
                .split_once('=')
                .filter(|(n, f)| !n.is_empty() && !f.is_empty())
            else {
                return Err(SandboxError::LinkError {
                    reason: format!("invalid --link {spec:?}: expected NAME=FILE"),
                });
            };
            let bytes =
                sandbox::read_module_file(std::path::Path::new(file), config.max_module_bytes)?;
            Ok((name.to_string(), bytes))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// Runs `invoke` of the module in one store with the `--link` modules instantiated and
/// registered before it.
fn run_linked(
    runtime: Runtime,
    links: &[Link],
    bytes: &[u8],
    invoke: &str,
    args: &[String],
    config: &SandboxConfig,
) -> ExecutionResult {
    const MAIN: &str = "main";
    let result = (|| {
        let mut linked = LinkedModules::new(sandbox::sandbox(runtime, config.clone())?)?;
        for (name, module) in links {
            linked.add(name, module)?;
        }
        linked.add(MAIN, bytes)?;
        let values = linked
            .info(MAIN)?
            .function(invoke)?
            .parse_args(invoke, args)?;
        linked.call(MAIN, invoke, &values)
    })();
    result.unwrap_or_else(|err| ExecutionResult::new(runtime, Outcome::Failed(err)))
}

/// One run on one engine, with where its compiled code came from (`None` when it never
/// loaded); a failure to start becomes a report too, so every path prints the same shape.
fn run_one(
    runtime: Runtime,
    bytes: &[u8],
    invoke: Option<&str>,
    args: &[String],
    config: &SandboxConfig,
) -> (ExecutionResult, Option<CacheStatus>) {
    let (module, cache) = match load(runtime, bytes, config) {
        Ok(loaded) => loaded,
        Err(err) => return (ExecutionResult::new(runtime, Outcome::Failed(err)), None),
    };
    (call(runtime, &*module, invoke, args, config), Some(cache))
}

/// Loads a module (through the cache) or an artifact.
fn load(
    runtime: Runtime,
    bytes: &[u8],
    config: &SandboxConfig,
) -> Result<(Arc<dyn CompiledModule>, CacheStatus), SandboxError> {
    let sandbox = sandbox::sandbox(runtime, config.clone())?;
    if is_artifact(bytes) {
        // SAFETY: the user named this file to run, as they would a native program; the header,
        // checksum, engine and configuration are verified before any code is loaded.
        let module = unsafe { sandbox.load_aot(bytes)? };
        Ok((module, CacheStatus::Aot))
    } else {
        sandbox.load_with_status(bytes)
    }
}

/// Calls `invoke` (or `_start`) in a fresh instance.
fn call(
    runtime: Runtime,
    module: &dyn CompiledModule,
    invoke: Option<&str>,
    args: &[String],
    config: &SandboxConfig,
) -> ExecutionResult {
    let failed = |err: SandboxError| ExecutionResult::new(runtime, Outcome::Failed(err));
    let func = invoke.unwrap_or_else(|| sandbox::wasi::entry_point(module.info()));
    let values: Vec<WasmValue> = match module
        .info()
        .function(func)
        .map_err(|err| match (invoke, err) {
            (None, SandboxError::FunctionNotFound { available, .. }) => {
                SandboxError::FunctionNotFound {
                    name: "_start (the module is neither a WASI command nor a reactor with a \
                           default export \"\": pick an export with --invoke)"
                        .into(),
                    available,
                }
            }
            (_, err) => err,
        })
        .and_then(|signature| match invoke {
            Some(_) => signature.parse_args(func, args),
            // A WASI command's ARGS are its argv (already in the config), not call arguments.
            None => signature.parse_args(func, &[] as &[&str]),
        }) {
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

/// Passes a WASI command's output through; says why it stopped when the sandbox stopped it.
fn print_command(result: &ExecutionResult, time_fuel: Option<u64>) {
    let _ = std::io::stdout().write_all(&result.stdout);
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().write_all(&result.stderr);
    if let Outcome::Failed(_) = &result.outcome {
        eprintln!("sandbox: {}", outcome_line(&result.outcome, time_fuel));
    }
    for note in crate::denials::notes(result) {
        eprintln!("sandbox: {note}");
    }
    for (truncated, stream) in [
        (result.stdout_truncated, "stdout"),
        (result.stderr_truncated, "stderr"),
    ] {
        if truncated {
            eprintln!("sandbox: {stream} was truncated at the output limit");
        }
    }
}

/// Shows what the guest wrote, if anything, before the report.
fn print_output(result: &ExecutionResult, label_backend: bool) {
    for (bytes, truncated, stream) in [
        (&result.stdout, result.stdout_truncated, "stdout"),
        (&result.stderr, result.stderr_truncated, "stderr"),
    ] {
        if bytes.is_empty() {
            continue;
        }
        let backend = if label_backend {
            format!("{} ", result.backend)
        } else {
            String::new()
        };
        println!(
            "--- {backend}{stream}{} ---",
            if truncated { " (truncated)" } else { "" }
        );
        let text = String::from_utf8_lossy(bytes);
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
    }
}

fn describe_config(config: &SandboxConfig) -> String {
    format!(
        "memory {}, timeout {}, fuel {}, stack {}, clock {}, imports [{}]",
        format_size(config.max_memory_bytes),
        format_duration(config.max_execution_time),
        config
            .max_fuel
            .map_or("off".to_string(), |fuel| fuel.to_string()),
        format_size(config.max_stack_size),
        config.clock.name(),
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

/// The outcome for people; a limit says which flag raises it (`time_fuel`: the budget
/// --timeout converts to under --deterministic-time).
fn outcome_line(outcome: &Outcome, time_fuel: Option<u64>) -> String {
    match outcome {
        Outcome::Ok => "ok".to_string(),
        Outcome::Exit { code } => format!("exit {code}"),
        Outcome::Failed(err) => format!(
            "{} ({err}{})",
            err.kind(),
            limits::hint(err, is_time_fuel(err, time_fuel), limits::Command::Run)
        ),
    }
}

/// Whether `err` is the run out of the fuel --timeout converts to (not of a smaller --fuel).
fn is_time_fuel(err: &SandboxError, time_fuel: Option<u64>) -> bool {
    matches!(err, SandboxError::FuelExhausted { limit, .. } if Some(*limit) == time_fuel)
}

fn print_one(
    result: &ExecutionResult,
    cache: Option<CacheStatus>,
    config: &SandboxConfig,
    time_fuel: Option<u64>,
) {
    println!("Backend: {}", result.backend);
    println!("Configuration: {}", describe_config(config));
    if let Some(cache) = cache {
        println!("Module: {}", describe_cache(cache));
    }
    match &result.outcome {
        Outcome::Ok => println!("Result: {}", values(&result.return_values)),
        other => println!("Outcome: {}", outcome_line(other, time_fuel)),
    }
    for note in crate::denials::notes(result) {
        println!("Note: {note}");
    }
    let started = !matches!(
        result.outcome.kind(),
        "invalid_module"
            | "unauthorized_import"
            | "function_not_found"
            | "type_mismatch"
            | "unsupported"
            | "incompatible_artifact"
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

/// Where the compiled code came from, for people.
fn describe_cache(cache: CacheStatus) -> &'static str {
    match cache {
        CacheStatus::Off => "compiled (cache off)",
        CacheStatus::Miss => "compiled (cache miss, stored)",
        CacheStatus::MemoryHit => "from the in-memory cache",
        CacheStatus::DiskHit => "from the disk cache (cache hit)",
        CacheStatus::Aot => "loaded from an AOT artifact",
    }
}

fn print_side_by_side(
    results: &[(ExecutionResult, Option<CacheStatus>)],
    config: &SandboxConfig,
    time_fuel: Option<u64>,
) {
    println!("Configuration: {}", describe_config(config));
    let caches: Vec<String> = results
        .iter()
        .map(|(_, cache)| cache.map_or("-", CacheStatus::name).to_string())
        .collect();
    let results: Vec<&ExecutionResult> = results.iter().map(|(r, _)| r).collect();
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
        ("module", caches),
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
    let hints: std::collections::BTreeSet<String> = results
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Failed(err) => {
                limits::Limit::of(err, is_time_fuel(err, time_fuel)).map(|limit| {
                    format!(
                        "{}: {}",
                        err.kind(),
                        limit.how_to_raise(limits::Command::Run)
                    )
                })
            }
            _ => None,
        })
        .collect();
    for hint in hints {
        println!("{hint}");
    }
    let kinds: std::collections::BTreeSet<_> = results.iter().map(|r| r.outcome.kind()).collect();
    if kinds.len() > 1 {
        println!("warning: the engines disagree on the outcome");
    }
}

#[cfg(test)]
mod tests {
    use super::parse_dir;

    #[test]
    fn dir_values_accept_any_guest_path_under_the_root() {
        let ok = |spec: &str| parse_dir(spec).unwrap();
        assert_eq!(ok("data::/").1, "/");
        assert_eq!(ok("data::/data/in").1, "/data/in");
        assert_eq!(ok("data::.").1, ".");
        assert_eq!(ok("some/dir").1, "/dir");
        assert_eq!(ok("some/dir").0.to_str(), Some("some/dir"));
        for bad in [
            "::/x",
            "data::",
            "data::/../etc",
            "data::/a/..",
            "data::/a\0",
            "/",
        ] {
            let err = parse_dir(bad).unwrap_err().to_string();
            assert!(err.contains("invalid directory"), "{bad:?}: {err}");
        }
    }
}
