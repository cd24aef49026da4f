//! `sandbox compile FILE.wat -o FILE.wasm`.

use crate::status;
use anyhow::Context;
use clap::Args;
use sandbox::{ModuleInfo, SandboxConfig};
use std::path::PathBuf;

/// Arguments of `sandbox compile`.
#[derive(Debug, Args)]
pub struct CompileArgs {
    /// The WebAssembly text (or binary) to compile.
    file: PathBuf,
    /// Where to write the binary (default: FILE with the extension `.wasm`).
    #[arg(short, long)]
    output: Option<PathBuf>,
}

/// Compiles text to binary and validates the result.
pub fn compile(args: CompileArgs) -> anyhow::Result<u8> {
    let config = SandboxConfig::default();
    let source = match sandbox::read_module_file(&args.file, config.max_module_bytes) {
        Ok(source) => source,
        Err(err) => {
            eprintln!("error: {err}");
            return Ok(status::for_error(&err));
        }
    };
    let wasm = match sandbox::compile_wat_to_wasm(&source).and_then(|wasm| {
        ModuleInfo::parse(&wasm, &config)?;
        Ok(wasm)
    }) {
        Ok(wasm) => wasm,
        Err(err) => {
            eprintln!("error: {}: {err}", args.file.display());
            return Ok(status::for_error(&err));
        }
    };
    let output = args
        .output
        .unwrap_or_else(|| args.file.with_extension("wasm"));
    if output == args.file {
        anyhow::bail!(
            "refusing to overwrite the input {}: pass -o",
            args.file.display()
        );
    }
    std::fs::write(&output, &wasm).with_context(|| format!("cannot write {}", output.display()))?;
    println!(
        "Compiled: {} -> {} ({} bytes)",
        args.file.display(),
        output.display(),
        wasm.len()
    );
    Ok(status::OK)
}
