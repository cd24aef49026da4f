//! `sandbox inspect FILE`: validity, imports, exports, memories, tables, size.

use crate::cache::read_module_or_artifact;
use crate::status;
use crate::units::format_size;
use clap::Args;
use sandbox::cache::{decode_artifact, is_artifact};
use sandbox::module::ExternKind;
use sandbox::{ModuleInfo, SandboxConfig};
use std::path::PathBuf;

/// Arguments of `sandbox inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The module (.wasm or .wat).
    file: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn describe(kind: &ExternKind) -> String {
    match kind {
        ExternKind::Func { signature } => format!("func {signature}"),
        ExternKind::Memory(m) => format!(
            "memory {} pages{}{}",
            m.initial_pages,
            m.maximum_pages
                .map(|max| format!(", max {max}"))
                .unwrap_or_default(),
            if m.memory64 { ", 64-bit" } else { "" }
        ),
        ExternKind::Table(t) => format!(
            "table {} x {}{}",
            t.initial,
            t.element,
            t.maximum
                .map(|max| format!(", max {max}"))
                .unwrap_or_default()
        ),
        ExternKind::Global { ty, mutable } => {
            format!("global {}{ty}", if *mutable { "mut " } else { "" })
        }
        ExternKind::Tag => "tag".to_string(),
    }
}

/// Prints what the module is made of; exits 3 when it is invalid.
pub fn inspect(args: InspectArgs) -> anyhow::Result<u8> {
    let config = SandboxConfig::default();
    let mut artifact = None;
    let parsed =
        read_module_or_artifact(&args.file, config.max_module_bytes, None).and_then(|bytes| {
            let wasm = if is_artifact(&bytes) {
                let decoded = decode_artifact(&bytes)?;
                artifact = Some(serde_json::json!({
                    "backend": decoded.backend(),
                    "engine_version": decoded.engine_version(),
                    "configuration": decoded.description(),
                    "code_bytes": decoded.code().len(),
                    "module_bytes": decoded.wasm().len(),
                }));
                decoded.wasm().to_vec()
            } else if looks_like_text(&bytes) {
                sandbox::compile_wat_to_wasm(&bytes)?
            } else {
                bytes
            };
            ModuleInfo::parse(&wasm, &config)
        });
    let info = match parsed {
        Ok(info) => info,
        Err(err) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "file": args.file.display().to_string(),
                        "valid": false,
                        "error": err,
                    })
                );
            } else {
                println!("File: {}", args.file.display());
                println!("Valid: no ({err})");
            }
            return Ok(status::for_error(&err));
        }
    };
    if args.json {
        let mut value = serde_json::to_value(&info)?;
        if let Some(map) = value.as_object_mut() {
            map.insert("file".into(), args.file.display().to_string().into());
            map.insert("valid".into(), true.into());
            if let Some(artifact) = &artifact {
                map.insert("artifact".into(), artifact.clone());
            }
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(status::OK);
    }
    println!("File: {}", args.file.display());
    if let Some(artifact) = &artifact {
        println!(
            "Artifact: AOT for {} {}, {} bytes of native code",
            artifact["backend"].as_str().unwrap_or("?"),
            artifact["engine_version"].as_str().unwrap_or("?"),
            artifact["code_bytes"]
        );
        println!(
            "Compiled with: {}",
            artifact["configuration"].as_str().unwrap_or("?")
        );
    }
    println!("Valid: yes");
    println!(
        "Size: {} ({} bytes)",
        format_size(info.size as u64),
        info.size
    );
    println!("Imports ({}):", info.imports.len());
    for import in &info.imports {
        println!(
            "  {}::{}: {}",
            import.module,
            import.name,
            describe(&import.kind)
        );
    }
    println!("Exports ({}):", info.exports.len());
    for export in &info.exports {
        println!("  {}: {}", export.name, describe(&export.kind));
    }
    println!("Memories ({}):", info.memories.len());
    for memory in &info.memories {
        println!(
            "  {} (initial {})",
            describe(&ExternKind::Memory(memory.clone())),
            format_size(memory.initial_bytes())
        );
    }
    println!("Tables ({}):", info.tables.len());
    for table in &info.tables {
        println!("  {}", describe(&ExternKind::Table(table.clone())));
    }
    println!("Functions defined: {}", info.defined_functions);
    println!(
        "Start function: {}",
        if info.has_start { "yes" } else { "no" }
    );
    Ok(status::OK)
}

/// Whether the bytes are WebAssembly text rather than binary.
pub fn looks_like_text(bytes: &[u8]) -> bool {
    sandbox::looks_like_text(bytes)
}
