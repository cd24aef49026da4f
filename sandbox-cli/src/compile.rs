//! `sandbox compile FILE.wat -o FILE.wasm`, `sandbox compile prog.mini [--emit wat]` and
//! `sandbox compile FILE --aot --backend B -o FILE.cwasm`.

use crate::run::Preset;
use crate::status;
use crate::units::parse_size;
use anyhow::Context;
use clap::{Args, ValueEnum};
use sandbox::{BackendKind, ModuleInfo, SandboxConfig};
use std::path::PathBuf;

/// The engine an artifact is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AotBackend {
    /// wasmtime (cranelift).
    Wasmtime,
    /// wasmer (singlepass).
    Wasmer,
}

/// What `sandbox compile` writes (without --aot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// A binary module.
    Wasm,
    /// The module as WebAssembly text (printed by wasmprinter).
    Wat,
}

/// Arguments of `sandbox compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The program to compile: WebAssembly text or binary, or a Mini program (`.mini`).
    file: PathBuf,
    /// Where to write the result (default: FILE with the extension `.wasm`, `.wat` with
    /// `--emit wat`, or `.cwasm` with --aot); `-` writes it to stdout.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// What to write: a binary module, or its text.
    #[arg(long, value_enum, default_value_t = Emit::Wasm, conflicts_with = "aot")]
    emit: Emit,
    /// Compile ahead of time to native code for one engine: an artifact `sandbox run` (and
    /// `judge --trust-artifact`) runs without compiling, on that engine, engine version and
    /// code-relevant configuration only (fuel on or off; on wasmtime also the stack limit).
    #[arg(long)]
    aot: bool,
    /// The engine of an AOT artifact.
    #[arg(long, value_enum, default_value_t = AotBackend::Wasmtime, requires = "aot")]
    backend: AotBackend,
    /// The preset the artifact will run under (it decides fuel metering and the stack limit).
    #[arg(long, value_enum, default_value_t = Preset::Default, requires = "aot")]
    preset: Preset,
    /// Fuel metering of the artifact: a number (metered) or `none`; must match the `run`.
    #[arg(long, value_name = "N|none", requires = "aot")]
    fuel: Option<String>,
    /// Wasm stack limit of the artifact, e.g. 512KiB; must match the `run` on wasmtime.
    #[arg(long, value_parser = parse_size, value_name = "SIZE", requires = "aot")]
    max_stack: Option<u64>,
}

impl CompileArgs {
    fn config(&self) -> anyhow::Result<SandboxConfig> {
        let mut config = self.preset.config();
        if let Some(fuel) = &self.fuel {
            config.max_fuel = crate::units::parse_fuel(fuel).map_err(|err| anyhow::anyhow!(err))?;
        }
        if let Some(bytes) = self.max_stack {
            config.max_stack_size = bytes;
        }
        config.validate().map_err(|err| anyhow::anyhow!("{err}"))?;
        Ok(config)
    }
}

/// Compiles text to binary (validating the result), or a module to an AOT artifact.
pub fn compile(args: CompileArgs) -> anyhow::Result<u8> {
    let config = args.config()?;
    let source = match sandbox::read_module_file(&args.file, config.max_module_bytes) {
        Ok(source) => source,
        Err(err) => {
            status::print_error(&err);
            return Ok(status::for_error(&err));
        }
    };
    let compiled = if args.aot {
        let backend = match args.backend {
            AotBackend::Wasmtime => BackendKind::Wasmtime,
            AotBackend::Wasmer => BackendKind::Wasmer,
        };
        // Imports are the run's business: the artifact keeps the module, and `run` checks its
        // imports against the policy it runs under.
        sandbox::compile_wat_to_wasm(&source)
            .and_then(|wasm| {
                let info = ModuleInfo::parse(&wasm, &config)?;
                let config = SandboxConfig {
                    allowed_imports: info
                        .imports
                        .iter()
                        .map(|import| format!("{}::{}", import.module, import.name))
                        .collect(),
                    ..config.clone()
                };
                sandbox::sandbox(backend, config)?.compile_aot(&wasm)
            })
            .map(|artifact| (artifact, format!(", {backend} AOT")))
    } else {
        sandbox::compile_wat_to_wasm(&source).and_then(|wasm| {
            ModuleInfo::parse(&wasm, &config)?;
            match args.emit {
                Emit::Wasm => Ok((wasm, String::new())),
                Emit::Wat => Ok((
                    sandbox::source::wasm_to_wat(&wasm)?.into_bytes(),
                    ", text".to_string(),
                )),
            }
        })
    };
    let (bytes, what) = match compiled {
        Ok(compiled) => compiled,
        Err(err) => {
            eprintln!("error: {}: {err}", args.file.display());
            return Ok(status::for_error(&err));
        }
    };
    let output = args.output.unwrap_or_else(|| {
        args.file.with_extension(match (args.aot, args.emit) {
            (true, _) => "cwasm",
            (false, Emit::Wasm) => "wasm",
            (false, Emit::Wat) => "wat",
        })
    });
    if output.as_os_str() == "-" {
        use std::io::Write;
        let mut stdout = std::io::stdout().lock();
        stdout
            .write_all(&bytes)
            .and_then(|()| stdout.flush())
            .context("cannot write to stdout")?;
        return Ok(status::OK);
    }
    if output == args.file {
        anyhow::bail!(
            "refusing to overwrite the input {}: pass -o",
            args.file.display()
        );
    }
    sandbox::cache::write_atomic(&output, &bytes)
        .with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "Compiled: {} -> {} ({} bytes{what})",
        args.file.display(),
        output.display(),
        bytes.len()
    );
    Ok(status::OK)
}
