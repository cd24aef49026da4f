//! Project automation, run as `cargo xtask <task>`.
//!
//! - `ci`: exactly what CI runs (`.ci/run` calls it): format check, clippy with warnings denied,
//!   the facade checked with each engine feature alone and both together, the whole
//!   workspace's tests (conformance on both engines included), and the tidy checks.
//! - `fixtures`: rebuilds the C fixtures (`conformance-tests/fixtures/c/*.c`) and the judge
//!   example's solutions (`examples/judge/*.c`) into checked-in `.wasm` files with Debian's
//!   clang and wasi-libc
//!   (`apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32`).
//! - `bench`: the criterion benches of `sandbox-bench`, both engines side by side.
//! - `fuzz [--count N] [--seed S] [--jobs J] [--mutants M]`: an open-ended differential
//!   campaign: builds `fuzz_wasm` (conformance-tests) in release and runs it over seeds
//!   `S..S+N`; failing modules are written to `<target>/fuzz-divergences/<seed>.wasm`, and the
//!   task fails on any unlisted divergence or panic.

mod tidy;

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("ci") => ci(&root),
        Some("bench") => bench(&root, &args[1..]),
        Some("fixtures") => fixtures(&root),
        Some("fuzz") => fuzz(&root, &args[1..]),
        Some("help") | Some("--help") | Some("-h") | None => {
            println!(
                "usage: cargo xtask <ci|fixtures|bench [criterion args]|fuzz [--count N] [--seed S] [--jobs J] [--mutants M]>"
            );
            Ok(())
        }
        Some(other) => bail!("unknown task {other:?}; try `cargo xtask help`"),
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

fn cargo(root: &Path, args: &[&str]) -> anyhow::Result<()> {
    let started = Instant::now();
    println!("==> cargo {}", args.join(" "));
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .current_dir(root)
        .status()
        .with_context(|| format!("cannot run cargo {}", args.join(" ")))?;
    println!(
        "<== cargo {} ({:.0?})",
        args.first().copied().unwrap_or(""),
        started.elapsed()
    );
    if !status.success() {
        bail!("cargo {} failed with {status}", args.join(" "));
    }
    Ok(())
}

fn ci(root: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    cargo(root, &["fmt", "--all", "--", "--check"])?;
    tidy::check(root)?;
    cargo(
        root,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // Features are additive: each engine alone and both together must build.
    for features in [
        &["--no-default-features", "--features", "wasmtime"][..],
        &["--no-default-features", "--features", "wasmer"],
        &["--features", "wasmtime,wasmer"],
        &["--no-default-features"],
    ] {
        let mut args = vec!["clippy", "-p", "sandbox"];
        args.extend_from_slice(features);
        args.extend_from_slice(&["--", "-D", "warnings"]);
        cargo(root, &args)?;
    }
    cargo(root, &["test", "--workspace", "--no-fail-fast"])?;
    println!("ci passed in {:.0?}", started.elapsed());
    Ok(())
}

fn bench(root: &Path, extra: &[String]) -> anyhow::Result<()> {
    let mut args = vec!["bench", "-p", "sandbox-bench"];
    if !extra.is_empty() {
        args.push("--");
        args.extend(extra.iter().map(String::as_str));
    }
    cargo(root, &args)
}

/// Builds the `fuzz_wasm` campaign binary in release and runs it with `extra` (its own flags);
/// failing modules go to `<target dir>/fuzz-divergences` unless `--out` says otherwise.
fn fuzz(root: &Path, extra: &[String]) -> anyhow::Result<()> {
    cargo(
        root,
        &[
            "build",
            "--release",
            "-p",
            "conformance-tests",
            "--bin",
            "fuzz_wasm",
        ],
    )?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_relative() {
                root.join(dir)
            } else {
                dir
            }
        })
        .unwrap_or_else(|| root.join("target"));
    let binary = target
        .join("release")
        .join(format!("fuzz_wasm{}", std::env::consts::EXE_SUFFIX));
    let mut command = Command::new(&binary);
    command.args(extra).current_dir(root);
    if !extra.iter().any(|arg| arg == "--out") {
        command.arg("--out").arg(target.join("fuzz-divergences"));
    }
    let status = command
        .status()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if !status.success() {
        bail!("fuzz_wasm failed with {status}");
    }
    Ok(())
}

/// Compiles every C fixture to a WASI command next to the WAT fixtures, and every C solution
/// of the judge example next to its source.
fn fixtures(root: &Path) -> anyhow::Result<()> {
    let fixtures = root.join("conformance-tests/fixtures");
    let judge = root.join("examples/judge");
    for (source_dir, output_dir) in [(fixtures.join("c"), &fixtures), (judge.clone(), &judge)] {
        let mut sources: Vec<PathBuf> = std::fs::read_dir(&source_dir)
            .with_context(|| format!("cannot list {}", source_dir.display()))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
            .collect();
        sources.sort();
        for source in sources {
            let stem = source
                .file_stem()
                .context("file name")?
                .to_string_lossy()
                .into_owned();
            let output = output_dir.join(format!("{stem}.wasm"));
            println!("==> clang {} -> {}", source.display(), output.display());
            let status = Command::new("clang")
                .args(["--target=wasm32-wasi", "-O2", "-Wl,--strip-all", "-o"])
                .arg(&output)
                .arg(&source)
                .status()
                .context(
                    "cannot run clang: apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32",
                )?;
            if !status.success() {
                bail!("clang failed on {}", source.display());
            }
        }
    }
    Ok(())
}
