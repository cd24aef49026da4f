//! The Python package (`sandbox-py`, `wasm_sandbox`): its virtual environment, its wheel and
//! its pytest suite.
//!
//! - [`ci`]: creates `<target>/py-venv` (PyPI packages by name only: maturin, pytest), builds
//!   the wheel with maturin in the `dev` profile (the profile the rest of CI compiled, so the
//!   engines are reused, not rebuilt), installs it into a fresh environment with nothing else
//!   and imports it there, then installs it into the test environment and runs the suite.
//! - [`overhead`]: the same in the `release` profile (what the `bench` profile of the Rust
//!   benches inherits; maturin cannot use `bench` itself, which `cargo rustc` builds as a test
//!   harness executable), then `sandbox-py/bench/overhead.py`, whose per-run times the bench
//!   report sets beside the Rust benches of the same work.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// maturin's version range (the one that builds PyO3 0.30's abi3 wheels here).
const MATURIN: &str = "maturin>=1.16,<1.17";

/// pytest, by name.
const PYTEST: &str = "pytest>=7";

/// The target directory (`CARGO_TARGET_DIR` or `<root>/target`).
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_relative() {
                root.join(dir)
            } else {
                dir
            }
        })
        .unwrap_or_else(|| root.join("target"))
}

/// Builds the wheel, checks it installs alone, and runs the pytest suite on it.
pub fn ci(root: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    let target = target_dir(root);
    let venv = environment(&target.join("py-venv"), &[MATURIN, PYTEST])?;
    let wheel = build_wheel(root, &venv, "dev", &target.join("wheels"))?;
    // `pip install` of the wheel into a fresh environment works with nothing else installed.
    let fresh = target.join("py-fresh");
    let _ = std::fs::remove_dir_all(&fresh);
    let fresh = environment(&fresh, &[])?;
    pip(&fresh, &["install", "--no-index", "--no-deps"], &wheel)?;
    run(
        Command::new(fresh.python())
            .args(["-c", SMOKE])
            .current_dir(&target),
        "the wheel in a fresh environment",
    )?;
    pip(
        &venv,
        &["install", "--force-reinstall", "--no-deps", "--no-index"],
        &wheel,
    )?;
    let sandbox_cli = target.join("debug").join("sandbox");
    if !sandbox_cli.is_file() {
        bail!(
            "{} is not built (the suite compares with the CLI)",
            sandbox_cli.display()
        );
    }
    println!("==> pytest sandbox-py/tests");
    run(
        Command::new(venv.python())
            .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
            .current_dir(root.join("sandbox-py"))
            .env("CARGO_TARGET_DIR", &target),
        "the Python suite",
    )?;
    println!("<== python ({:.0?})", started.elapsed());
    Ok(())
}

/// Builds the wheel in the `release` profile and measures per-run overhead from Python into
/// `out` (JSON lines), which the report reads.
pub fn overhead(root: &Path, out: &Path) -> anyhow::Result<()> {
    let target = target_dir(root);
    let venv = environment(&target.join("py-venv-bench"), &[MATURIN])?;
    let wheel = build_wheel(root, &venv, "release", &target.join("wheels-release"))?;
    pip(
        &venv,
        &["install", "--force-reinstall", "--no-deps", "--no-index"],
        &wheel,
    )?;
    println!("==> sandbox-py/bench/overhead.py");
    run(
        Command::new(venv.python())
            .arg(root.join("sandbox-py/bench/overhead.py"))
            .arg("--out")
            .arg(out)
            .current_dir(root),
        "the Python overhead bench",
    )
}

/// Imports the package and runs the guide's example on both engines.
const SMOKE: &str = r#"
import asyncio, wasm_sandbox
from wasm_sandbox import WasmSandbox, WasmSandboxConfig
wat = '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))'
async def main(runtime):
    async with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
        result = await sandbox.execute(wat, function="add", args=[5, 7])
    assert result.success and result.results == [12], result
    print(runtime, result)
for runtime in ("wasmtime", "wasmer"):
    asyncio.run(main(runtime))
print("wasm_sandbox", wasm_sandbox.__version__, "installed alone and ran")
"#;

/// A virtual environment.
struct Venv {
    dir: PathBuf,
}

impl Venv {
    fn python(&self) -> PathBuf {
        self.dir.join("bin").join("python")
    }

    fn bin(&self, name: &str) -> PathBuf {
        self.dir.join("bin").join(name)
    }
}

/// The environment at `dir` with `packages` (PyPI names), created when missing.
fn environment(dir: &Path, packages: &[&str]) -> anyhow::Result<Venv> {
    let venv = Venv {
        dir: dir.to_path_buf(),
    };
    if !venv.python().is_file() {
        let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        println!("==> {python} -m venv {}", dir.display());
        let status = Command::new(&python)
            .args(["-m", "venv"])
            .arg(dir)
            .status()
            .with_context(|| format!("cannot run {python}"))?;
        if !status.success() {
            let _ = std::fs::remove_dir_all(dir);
            bail!(
                "{python} -m venv failed: install the venv module (Debian: apt-get install python3-venv)"
            );
        }
    }
    if !packages.is_empty() {
        let mut args = vec![
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--upgrade-strategy",
            "only-if-needed",
        ];
        args.extend_from_slice(packages);
        run(
            Command::new(venv.python()).args(["-m", "pip"]).args(&args),
            "pip install",
        )?;
    }
    Ok(venv)
}

/// Builds the wheel with maturin in `profile` into `out`; returns its path.
fn build_wheel(root: &Path, venv: &Venv, profile: &str, out: &Path) -> anyhow::Result<PathBuf> {
    let _ = std::fs::remove_dir_all(out);
    println!("==> maturin build --profile {profile}");
    let started = Instant::now();
    run(
        Command::new(venv.bin("maturin"))
            .args(["build", "--quiet", "--profile", profile, "--manifest-path"])
            .arg(root.join("sandbox-py/Cargo.toml"))
            .arg("--out")
            .arg(out)
            .env("VIRTUAL_ENV", &venv.dir)
            .env("PYO3_PYTHON", venv.python()),
        "maturin build",
    )?;
    println!("<== maturin ({:.0?})", started.elapsed());
    std::fs::read_dir(out)
        .with_context(|| format!("cannot list {}", out.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| path.extension().is_some_and(|ext| ext == "whl"))
        .with_context(|| format!("maturin wrote no wheel into {}", out.display()))
}

fn pip(venv: &Venv, args: &[&str], wheel: &Path) -> anyhow::Result<()> {
    run(
        Command::new(venv.python())
            .args(["-m", "pip", "--disable-pip-version-check", "--quiet"])
            .args(args)
            .arg(wheel),
        "pip install of the wheel",
    )
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot start {what}: {command:?}"))?;
    if !status.success() {
        bail!("{what} failed with {status}");
    }
    Ok(())
}
