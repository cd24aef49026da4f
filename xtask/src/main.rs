//! Project automation, run as `cargo xtask <task>`.
//!
//! - `ci`: exactly what CI runs (`.ci/run` calls it): the Debian packages it needs installed
//!   when missing (`setup.rs`), format check, the tidy checks, the feature-unification check,
//!   the facade checked with each engine feature alone and with none, clippy with warnings
//!   denied on every target (inside the test build: clippy-driver as the members' compiler),
//!   the whole workspace's tests (conformance on both engines and the execution service
//!   included), the conformance suite once more with every optimisation on (module cache,
//!   pooling allocator), the C library's tests and the Python package's.
//! - `setup`: installs and starts what `ci` needs beyond Rust (Debian packages; PostgreSQL
//!   started with the tests' role and database), as `ci` does first.
//! - `features`: checks that the packages CI or the bench report build alone (the Python
//!   extension, the C library, the benches) resolve shared dependencies with the workspace
//!   build's features (`workspace-hack`), so nothing is compiled twice; part of `ci`.
//! - `fixtures`: rebuilds the C fixtures (`conformance-tests/fixtures/c/*.c`), the judge
//!   example's solutions (`examples/judge/*.c`), the bench's WASI hello-world
//!   (`sandbox-bench/fixtures/*.c`) and compute kernels (`sandbox-bench/kernels/*.c`) into
//!   checked-in `.wasm` files with Debian's clang and wasi-libc
//!   (`apt-get install clang lld wasi-libc libclang-rt-14-dev-wasm32`). CI has no clang: it
//!   uses the checked-in files (the kernels' native builds come from `sandbox-bench/build.rs`
//!   and the system C compiler).
//! - `bench [--quick] [--report-only] [CRITERION ARGS]`: the criterion benches of
//!   `sandbox-bench` (`phases`: compile, instantiate, call, WASI hello-world; `judge`: judge
//!   throughput; `kernels`: the C kernels natively and on both engines, fuel and time limit
//!   on and off) in the bench profile, then the `instance-memory` probe (resident memory per
//!   live instance, per engine), the scale probes (`scaling`: judge throughput across 1, 2,
//!   4 and 8 workers; `fresh-instance`: a fresh CPython instance and a judged Python test;
//!   `rss`: resident memory over a million runs and ten thousand modules; `http-load`: the
//!   service over HTTP; `scale-out`: 1, 2, 3 workers on PostgreSQL and the cost of runner
//!   processes, against the tests' PostgreSQL, started by `setup`), then the report: `bench/REPORT.md` (phase × case, wasmtime
//!   and wasmer medians ± spread, the design's targets met or not, the gap and its cause
//!   when not) and `bench/report.svg` (the same as log-scale bars), with the machine it ran
//!   on, with the Python package's per-run overhead beside the same work from Rust (the wheel
//!   built in the release profile, `sandbox-py/bench/overhead.py`). Criterion's estimates are read from `$CARGO_TARGET_DIR/criterion` (default
//!   `target/criterion`); only those this run wrote are reported. The full run takes about
//!   10 minutes; `--quick` (sets `SANDBOX_BENCH_QUICK`, see `sandbox_bench::pace`) about 3,
//!   for iterating; `--report-only` regenerates the report from the estimates on disk.
//!   Criterion arguments (a filter, say) follow; a filtered run reports what it measured.
//! - `capi [--release] [--check] [--header] [--test] [--bench]`: the C library (`sandbox-capi`): regenerates
//!   `sandbox-capi/include/sandbox.h` with cbindgen, builds `libsandbox.so` / `libsandbox.a`
//!   and writes `include/sandbox.h` and `sandbox.pc` next to them (`<target>/<profile>/`);
//!   `--check` only compares the checked-in header with a fresh generation, `--test` runs the
//!   C library's part of `ci`, `--bench` the C call bench alone (see `capi.rs`).
//!   `ci` also compiles the header alone as C11 and C++17 and runs the C tests through
//!   pkg-config under valgrind and ASan/UBSan; `bench` adds the C call bench.
//! - `fuzz [--count N] [--seed S] [--jobs J] [--mutants M]`: an open-ended differential
//!   campaign: builds `fuzz_wasm` (conformance-tests) in release and runs it over seeds
//!   `S..S+N`; failing modules are written to `<target>/fuzz-divergences/<seed>.wasm`, and the
//!   task fails on any unlisted divergence or panic.

mod c_report;
mod capi;
mod features;
mod python;
mod python_report;
mod report;
mod scale_out_report;
mod scale_report;
mod setup;
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
        Some("features") => features::check(&root),
        Some("setup") => setup::ensure().and_then(|()| setup::postgres()),
        Some("bench") => bench(&root, &args[1..]),
        Some("fixtures") => fixtures(&root),
        Some("fuzz") => fuzz(&root, &args[1..]),
        Some("capi") => capi::task(&root, &args[1..]),
        Some("help") | Some("--help") | Some("-h") | None => {
            println!(
                "usage: cargo xtask <ci | setup | features | fixtures | bench [--quick] [--report-only] [criterion args] | fuzz [--count N] [--seed S] [--jobs J] [--mutants M] | capi [--release] [--check] [--header] [--test] [--bench]>"
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
    // A CI build is built once and thrown away: incremental compilation's caches would only
    // cost disk (gigabytes for this workspace) and time.
    std::env::set_var("CARGO_INCREMENTAL", "0");
    disk_space(root);
    setup::ensure()?;
    setup::postgres()?;
    cargo(root, &["fmt", "--all", "--", "--check"])?;
    tidy::check(root)?;
    features::check(root)?;
    // Features are additive: each engine alone and without any engine must build (both
    // together is what every other step builds).
    for features in [
        &["--no-default-features", "--features", "wasmtime"][..],
        &["--no-default-features", "--features", "wasmer"],
        &["--no-default-features"],
    ] {
        let mut args = vec!["clippy", "-p", "sandbox"];
        args.extend_from_slice(features);
        args.extend_from_slice(&["--", "-D", "warnings"]);
        cargo(root, &args)?;
    }
    // Clippy on every target of every member, while the tests are built: `cargo clippy` is
    // `cargo check` with clippy-driver as the workspace members' compiler, and the same
    // wrapper on the test build lints each member once and compiles the dependencies once (a
    // separate `cargo clippy --workspace` checked every dependency again, both engines
    // included: a third of CI's time). The wrapper stays set for every later step, so none
    // of them rebuilds the members for having dropped it.
    if lint_while_building() {
        std::env::set_var("RUSTC_WORKSPACE_WRAPPER", "clippy-driver");
        std::env::set_var(
            "CLIPPY_ARGS",
            "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
        );
        println!(
            "==> clippy -D warnings through the test build (RUSTC_WORKSPACE_WRAPPER=clippy-driver)"
        );
        cargo(root, &["test", "--workspace", "--all-targets", "--no-run"])?;
    } else {
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
    }
    cargo(root, &["test", "--workspace", "--no-fail-fast"])?;
    // The conformance suite again with every optimisation on (module cache in memory and on
    // disk, wasmtime's pooling allocator): nothing it checks may change.
    println!("==> conformance suite with every optimisation on");
    std::env::set_var("SANDBOX_CONFORMANCE_OPTIMISED", "1");
    let optimised = cargo(root, &["test", "-p", "conformance-tests", "--test", "it"]);
    std::env::remove_var("SANDBOX_CONFORMANCE_OPTIMISED");
    optimised?;
    // The C library: header fresh and compiling alone (C11, C++17), the C tests through
    // pkg-config under valgrind and under ASan/UBSan.
    capi::ci(root, true)?;
    // The Python package: wheel built by maturin in the same profile, installed alone in a
    // fresh environment, its pytest suite run.
    python::ci(root)?;
    disk_space(root);
    println!("ci passed in {:.0?}", started.elapsed());
    Ok(())
}

/// Prints the free space of the disk holding the workspace (a full disk is the first thing
/// to rule out when a build fails for no reason of its own).
fn disk_space(root: &Path) {
    let _ = std::process::Command::new("df")
        .args(["-h", "--output=avail,used,size,target"])
        .arg(root)
        .status();
}

/// Whether clippy-driver runs here (the toolchain's clippy component), so that the lints can
/// run inside the test build.
fn lint_while_building() -> bool {
    std::process::Command::new("clippy-driver")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
}

fn bench(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let quick = args.iter().any(|arg| arg == "--quick");
    let report_only = args.iter().any(|arg| arg == "--report-only");
    let criterion_args: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|arg| !["--quick", "--report-only"].contains(arg))
        .collect();
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|dir| {
            if dir.is_relative() {
                root.join(dir)
            } else {
                dir
            }
        })
        .unwrap_or_else(|| root.join("target"));
    let criterion_dir = target_dir.join("criterion");
    // File times have coarse resolution on some filesystems: a little slack.
    let started = std::time::SystemTime::now() - std::time::Duration::from_secs(2);
    let mut memory = Vec::new();
    if !report_only {
        if quick {
            std::env::set_var("SANDBOX_BENCH_QUICK", "1");
        }
        let mut cargo_args = vec!["bench", "-p", "sandbox-bench"];
        if !criterion_args.is_empty() {
            cargo_args.push("--");
            cargo_args.extend(&criterion_args);
        }
        cargo(root, &cargo_args)?;
        memory = instance_memory(root)?;
        let lines: Vec<String> = memory.iter().map(report::InstanceMemory::to_json).collect();
        std::fs::write(criterion_dir.join(MEMORY_FILE), lines.join("\n"))
            .context("cannot save the instance-memory results")?;
        if criterion_args.is_empty() {
            python::overhead(root, &criterion_dir.join(python_report::FILE))?;
            let calls = capi::calls(root)?;
            std::fs::write(criterion_dir.join(capi::CALLS_FILE), calls.join("\n"))
                .context("cannot save the C call bench's results")?;
            let scale = scale_report::run_probes(root, &target_dir)?;
            std::fs::write(criterion_dir.join(scale_report::FILE), scale.join("\n"))
                .context("cannot save the scaling probes' results")?;
        }
    } else if let Ok(saved) = std::fs::read_to_string(criterion_dir.join(MEMORY_FILE)) {
        memory = saved
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(report::parse_instance_memory)
            .collect::<anyhow::Result<_>>()?;
    }
    // Runs measured from a host language (Python, C), kept beside criterion's estimates.
    let host_runs = |file: &str| -> anyhow::Result<Vec<python_report::HostRun>> {
        match std::fs::read_to_string(criterion_dir.join(file)) {
            Ok(saved) if report_only || criterion_args.is_empty() => saved
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(python_report::parse)
                .collect(),
            _ => Ok(Vec::new()),
        }
    };
    let python_runs = host_runs(python_report::FILE)?;
    let scale_lines: Vec<String> =
        match std::fs::read_to_string(criterion_dir.join(scale_report::FILE)) {
            Ok(saved) if report_only || criterion_args.is_empty() => saved
                .lines()
                .filter(|line| !line.trim().is_empty())
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
    let c_runs = host_runs(capi::CALLS_FILE)?;
    let results = report::collect(&criterion_dir, (!report_only).then_some(started))?;
    if results.is_empty() {
        bail!("no criterion estimates under {}", criterion_dir.display());
    }
    let machine = report::Machine::detect();
    let out = root.join("bench");
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let markdown = report::markdown(&report::Report {
        results: &results,
        memory: &memory,
        machine: &machine,
        quick,
        python: &python_runs,
        c: &c_runs,
        scale: &scale_lines,
    });
    std::fs::write(out.join("REPORT.md"), markdown).context("cannot write bench/REPORT.md")?;
    std::fs::write(out.join("report.svg"), report::svg(&results, &machine))
        .context("cannot write bench/report.svg")?;
    println!(
        "{} results reported in bench/REPORT.md and bench/report.svg",
        results.len()
    );
    Ok(())
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

/// Where the last run's `instance-memory` results are kept (in the criterion directory), for
/// `--report-only`.
const MEMORY_FILE: &str = "instance-memory.jsonl";

/// Runs the `instance-memory` probe (release build) once per engine and allocation.
fn instance_memory(root: &Path) -> anyhow::Result<Vec<report::InstanceMemory>> {
    let mut measured = Vec::new();
    for extra in [
        &["--backend", "wasmtime"][..],
        &["--backend", "wasmtime", "--pooling"],
        &["--backend", "wasmer"],
    ] {
        let mut args = vec![
            "run",
            "--quiet",
            "--release",
            "-p",
            "sandbox-bench",
            "--bin",
            "instance-memory",
            "--",
        ];
        args.extend_from_slice(extra);
        println!("==> cargo {}", args.join(" "));
        let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(&args)
            .current_dir(root)
            .output()
            .context("cannot run cargo")?;
        if !output.status.success() {
            bail!(
                "instance-memory {} failed: {}",
                extra.join(" "),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        let line = String::from_utf8_lossy(&output.stdout);
        measured.push(report::parse_instance_memory(&line)?);
    }
    Ok(measured)
}

/// The flags a C source asks for on a first line `// clang: FLAGS` (a WASI reactor says
/// `// clang: -mexec-model=reactor`).
fn extra_flags(source: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(source)
        .with_context(|| format!("cannot read {}", source.display()))?;
    Ok(text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("// clang:"))
        .map(|flags| flags.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default())
}

/// Compiles every C fixture to a WASI command (or, when its first line asks, a reactor) next
/// to the WAT fixtures, every C solution of
/// the judge example next to its source, the bench's WASI hello-world next to its source, and
/// the bench's compute kernels (`sandbox-bench/kernels/*.c`) to import-free modules that
/// export their functions (no `_start`, no libc calls).
fn fixtures(root: &Path) -> anyhow::Result<()> {
    let fixtures = root.join("conformance-tests/fixtures");
    let judge = root.join("examples/judge");
    let bench = root.join("sandbox-bench/fixtures");
    let kernels = root.join("sandbox-bench/kernels");
    let command: &[&str] = &[];
    let library: &[&str] = &["-nostartfiles", "-Wl,--no-entry"];
    for (source_dir, output_dir, flags) in [
        (fixtures.join("c"), &fixtures, command),
        (judge.clone(), &judge, command),
        (bench.clone(), &bench, command),
        (kernels.clone(), &kernels, library),
    ] {
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
            let extra = extra_flags(&source)?;
            println!("==> clang {} -> {}", source.display(), output.display());
            let status = Command::new("clang")
                .args(["--target=wasm32-wasi", "-O2", "-Wl,--strip-all"])
                .args(flags)
                .args(&extra)
                .arg("-o")
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
