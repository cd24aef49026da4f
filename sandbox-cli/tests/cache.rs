//! The module cache and AOT artifacts from outside, as users and scripts see them: a second
//! process hits the cache, bad entries are rebuilt silently, the size bound holds, concurrent
//! processes share a directory, the opt-outs write nothing, and artifacts run only where they
//! belong, on every engine.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const ENGINES: [&str; 2] = ["wasmtime", "wasmer"];

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../conformance-tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

fn example(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/judge")
        .join(name)
        .display()
        .to_string()
}

/// A fresh directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
            "cli-cache-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn join(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the binary with the environment's cache settings cleared, so only what the test
/// passes counts; `home` stands in for `$HOME`.
fn sandbox_in(home: &TempDir, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sandbox"));
    command
        .args(args)
        .env_remove("SANDBOX_CACHE")
        .env_remove("SANDBOX_CACHE_DIR")
        .env_remove("SANDBOX_CACHE_MAX_SIZE")
        .env_remove("XDG_CACHE_HOME")
        .env("HOME", &home.0);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("the sandbox binary runs")
}

fn json(output: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|err| {
        panic!(
            "{err}: {text} / {}",
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// `run FILE --invoke add 5 7 --json` with `extra` options; returns the JSON object.
fn run_add(home: &TempDir, file: &str, backend: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "run",
        file,
        "--invoke",
        "add",
        "5",
        "7",
        "--json",
        "--backend",
        backend,
    ];
    args.extend_from_slice(extra);
    let output = sandbox_in(home, &args, &[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let value = json(&output);
    assert_eq!(value["results"], serde_json::json!([12]), "{value}");
    value
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn size_of(dir: &Path) -> u64 {
    entries(dir)
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

#[test]
fn a_second_process_hits_the_disk_cache() {
    for backend in ENGINES {
        let home = TempDir::new("hit");
        let cache = home.join("cache");
        let first = run_add(
            &home,
            &fixture("add.wat"),
            backend,
            &["--cache-dir", &cache],
        );
        assert_eq!(first["cache"], "miss", "{backend}: {first}");
        let second = run_add(
            &home,
            &fixture("add.wat"),
            backend,
            &["--cache-dir", &cache],
        );
        assert_eq!(second["cache"], "disk_hit", "{backend}: {second}");
        assert_eq!(second["fuel_consumed"], first["fuel_consumed"]);
        assert_eq!(entries(Path::new(&cache)).len(), 1);
        // The text output says so too.
        let output = sandbox_in(
            &home,
            &[
                "run",
                &fixture("add.wat"),
                "--invoke",
                "add",
                "1",
                "2",
                "--backend",
                backend,
                "--cache-dir",
                &cache,
            ],
            &[],
        );
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("Module: from the disk cache"), "{text}");
    }
}

#[test]
fn the_default_location_follows_the_environment() {
    let home = TempDir::new("default");
    let value = run_add(&home, &fixture("add.wat"), "wasmtime", &[]);
    assert_eq!(value["cache"], "miss");
    let default = home.0.join(".cache/sandbox/modules");
    assert_eq!(entries(&default).len(), 1, "{}", default.display());
    let value = run_add(&home, &fixture("add.wat"), "wasmtime", &[]);
    assert_eq!(value["cache"], "disk_hit");

    let elsewhere = home.join("elsewhere");
    let output = sandbox_in(
        &home,
        &[
            "run",
            &fixture("add.wat"),
            "--invoke",
            "add",
            "1",
            "2",
            "--json",
        ],
        &[("SANDBOX_CACHE_DIR", &elsewhere)],
    );
    assert_eq!(json(&output)["cache"], "miss");
    assert_eq!(entries(Path::new(&elsewhere)).len(), 1);
}

#[test]
fn corrupt_and_truncated_entries_are_rebuilt_silently() {
    for backend in ENGINES {
        let home = TempDir::new("corrupt");
        let cache = home.join("cache");
        run_add(
            &home,
            &fixture("add.wat"),
            backend,
            &["--cache-dir", &cache],
        );
        let entry = entries(Path::new(&cache)).remove(0);
        let good = std::fs::read(&entry).unwrap();
        for (what, bytes) in [
            ("garbage", b"garbage".repeat(100)),
            ("truncated", good[..good.len() / 3].to_vec()),
            ("empty", Vec::new()),
        ] {
            std::fs::write(&entry, &bytes).unwrap();
            let output = sandbox_in(
                &home,
                &[
                    "run",
                    &fixture("add.wat"),
                    "--invoke",
                    "add",
                    "5",
                    "7",
                    "--json",
                    "--backend",
                    backend,
                    "--cache-dir",
                    &cache,
                ],
                &[],
            );
            assert_eq!(
                output.status.code(),
                Some(0),
                "{backend} {what}: {output:?}"
            );
            assert!(
                output.stderr.is_empty(),
                "{backend} {what}: silent: {output:?}"
            );
            assert_eq!(json(&output)["cache"], "miss", "{backend} {what}");
            let again = run_add(
                &home,
                &fixture("add.wat"),
                backend,
                &["--cache-dir", &cache],
            );
            assert_eq!(again["cache"], "disk_hit", "{backend} {what}: rebuilt");
        }
    }
}

#[test]
fn the_size_bound_evicts_least_recently_used_entries() {
    for backend in ENGINES {
        let home = TempDir::new("evict");
        let cache = home.join("cache");
        let modules: Vec<String> = (0..4)
            .map(|i| {
                let path = home.join(&format!("add{i}.wat"));
                let wat = format!(
                    "(module (func (export \"add\") (param i32 i32) (result i32) \
                     local.get 0 local.get 1 i32.add) (func (export \"id{i}\")))"
                );
                std::fs::write(&path, wat).unwrap();
                path
            })
            .collect();
        run_add(&home, &modules[0], backend, &["--cache-dir", &cache]);
        let one = size_of(Path::new(&cache));
        let bound = (one * 2 + one / 2).to_string();
        for module in &modules[1..] {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let value = run_add(
                &home,
                module,
                backend,
                &["--cache-dir", &cache, "--cache-max-size", &bound],
            );
            assert_eq!(value["cache"], "miss");
        }
        let bound: u64 = bound.parse().unwrap();
        assert!(size_of(Path::new(&cache)) <= bound, "{backend}");
        assert_eq!(entries(Path::new(&cache)).len(), 2, "{backend}");
        let newest = run_add(&home, &modules[3], backend, &["--cache-dir", &cache]);
        assert_eq!(newest["cache"], "disk_hit", "{backend}: the newest stays");
    }
}

#[test]
fn concurrent_processes_share_one_directory() {
    for backend in ENGINES {
        let home = TempDir::new("concurrent");
        let cache = home.join("cache");
        let file = fixture("add.wat");
        let children: Vec<_> = (0..4)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_sandbox"))
                    .args([
                        "run",
                        &file,
                        "--invoke",
                        "add",
                        "5",
                        "7",
                        "--json",
                        "--backend",
                        backend,
                        "--cache-dir",
                        &cache,
                    ])
                    .env("HOME", &home.0)
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for child in children {
            let output = child.wait_with_output().unwrap();
            assert_eq!(output.status.code(), Some(0), "{backend}: {output:?}");
            assert_eq!(json(&output)["results"], serde_json::json!([12]));
        }
        let files = entries(Path::new(&cache));
        assert_eq!(
            files.len(),
            1,
            "{backend}: one entry, no temporary files: {files:?}"
        );
        let value = run_add(&home, &file, backend, &["--cache-dir", &cache]);
        assert_eq!(value["cache"], "disk_hit", "{backend}");
    }
}

#[test]
fn the_opt_outs_write_nothing() {
    let home = TempDir::new("optout");
    let cache = home.join("cache");
    let value = run_add(&home, &fixture("add.wat"), "wasmtime", &["--no-cache"]);
    assert_eq!(value["cache"], "off");
    let output = sandbox_in(
        &home,
        &[
            "run",
            &fixture("add.wat"),
            "--invoke",
            "add",
            "5",
            "7",
            "--json",
        ],
        &[("SANDBOX_CACHE", "off"), ("SANDBOX_CACHE_DIR", &cache)],
    );
    assert_eq!(json(&output)["cache"], "off");
    let output = sandbox_in(
        &home,
        &[
            "judge",
            &example("accepted.wasm"),
            "--tests",
            &example("tests.json"),
            "--no-cache",
        ],
        &[("SANDBOX_CACHE_DIR", &cache)],
    );
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        !Path::new(&cache).exists(),
        "nothing under SANDBOX_CACHE_DIR"
    );
    assert!(
        !home.0.join(".cache").exists(),
        "nothing under $HOME/.cache"
    );
    // --no-cache and --cache-dir contradict each other.
    let output = sandbox_in(
        &home,
        &[
            "run",
            &fixture("add.wat"),
            "--no-cache",
            "--cache-dir",
            &cache,
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn the_judge_uses_the_cache() {
    let home = TempDir::new("judge");
    let cache = home.join("cache");
    for _ in 0..2 {
        let output = sandbox_in(
            &home,
            &[
                "judge",
                &example("accepted.wasm"),
                "--tests",
                &example("tests.json"),
                "--cache-dir",
                &cache,
            ],
            &[],
        );
        assert_eq!(output.status.code(), Some(0), "{output:?}");
    }
    assert_eq!(entries(Path::new(&cache)).len(), 1);
}

/// `compile FILE --aot --backend B -o OUT` with `extra` options; must succeed.
fn compile_aot(home: &TempDir, file: &str, backend: &str, out: &str, extra: &[&str]) {
    let mut args = vec!["compile", file, "--aot", "--backend", backend, "-o", out];
    args.extend_from_slice(extra);
    let output = sandbox_in(home, &args, &[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(&format!("{backend} AOT")), "{text}");
}

#[test]
fn aot_artifacts_run_on_their_engine() {
    for backend in ENGINES {
        let home = TempDir::new("aot");
        let artifact = home.join("add.cwasm");
        compile_aot(&home, &fixture("add.wat"), backend, &artifact, &[]);
        // Without --backend, the artifact's own engine.
        let output = sandbox_in(
            &home,
            &["run", &artifact, "--invoke", "add", "5", "7", "--json"],
            &[],
        );
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        let value = json(&output);
        assert_eq!(value["cache"], "aot");
        assert_eq!(value["backend"], backend);
        assert_eq!(value["results"], serde_json::json!([12]));
        assert_eq!(value["fuel_consumed"], 4);

        // A WASI command, with its output.
        let hello = home.join("hello.cwasm");
        compile_aot(&home, &fixture("hello.wasm"), backend, &hello, &[]);
        let output = sandbox_in(&home, &["run", &hello], &[]);
        assert_eq!(output.status.code(), Some(0), "{output:?}");
        assert!(String::from_utf8_lossy(&output.stdout).contains("hello"));

        // inspect shows the header and the embedded module.
        let output = sandbox_in(&home, &["inspect", &artifact], &[]);
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.contains(&format!("Artifact: AOT for {backend}")),
            "{text}"
        );
        assert!(text.contains("add: func (i32, i32) -> (i32)"), "{text}");

        // The judge runs a trusted artifact, and refuses it otherwise.
        let solution = home.join("accepted.cwasm");
        compile_aot(&home, &example("accepted.wasm"), backend, &solution, &[]);
        let tests = example("tests.json");
        let output = sandbox_in(
            &home,
            &[
                "judge",
                &solution,
                "--tests",
                &tests,
                "--trust-artifact",
                "--json",
            ],
            &[],
        );
        assert_eq!(output.status.code(), Some(0), "{backend}: {output:?}");
        let output = sandbox_in(&home, &["judge", &solution, "--tests", &tests], &[]);
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("Compilation Error"),
            "{output:?}"
        );
    }
}

/// Runs `file` (an artifact that must be refused) with `extra` options: exit status 9, the
/// typed error in the JSON.
fn refused(home: &TempDir, file: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", file, "--invoke", "add", "5", "7", "--json"];
    args.extend_from_slice(extra);
    let output = sandbox_in(home, &args, &[]);
    assert_eq!(output.status.code(), Some(9), "{output:?}");
    let value = json(&output);
    assert_eq!(value["outcome"]["kind"], "incompatible_artifact", "{value}");
    value["outcome"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn aot_artifacts_are_refused_elsewhere() {
    for (backend, other) in [("wasmtime", "wasmer"), ("wasmer", "wasmtime")] {
        let home = TempDir::new("aot-refused");
        let artifact = home.join("add.cwasm");
        compile_aot(&home, &fixture("add.wat"), backend, &artifact, &[]);
        let reason = refused(&home, &artifact, &["--backend", other]);
        assert!(
            reason.contains(&format!("compiled for {backend}")),
            "{reason}"
        );
        // Fuel on at compile time, off at run time (and the other way round).
        let reason = refused(&home, &artifact, &["--fuel", "none"]);
        assert!(
            reason.contains("fuel=on") && reason.contains("fuel=off"),
            "{reason}"
        );
        let unmetered = home.join("unmetered.cwasm");
        compile_aot(
            &home,
            &fixture("add.wat"),
            backend,
            &unmetered,
            &["--fuel", "none"],
        );
        refused(&home, &unmetered, &[]);
        let output = sandbox_in(
            &home,
            &[
                "run", &unmetered, "--invoke", "add", "5", "7", "--fuel", "none",
            ],
            &[],
        );
        assert_eq!(output.status.code(), Some(0), "{output:?}");

        let bytes = std::fs::read(&artifact).unwrap();
        let mut tampered = bytes.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 0x5a;
        let path = home.join("tampered.cwasm");
        std::fs::write(&path, &tampered).unwrap();
        let reason = refused(&home, &path, &[]);
        assert!(reason.contains("checksum"), "{reason}");
        let path = home.join("truncated.cwasm");
        std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
        let reason = refused(&home, &path, &[]);
        assert!(reason.contains("truncated"), "{reason}");
        let path = home.join("garbage.cwasm");
        let mut garbage = b"SBXCWASM".to_vec();
        garbage.extend_from_slice(&[0xff; 64]);
        std::fs::write(&path, &garbage).unwrap();
        refused(&home, &path, &[]);
        // Without the magic, a file is a module to validate, whatever its name.
        let path = home.join("noise.cwasm");
        std::fs::write(&path, [0x42; 64]).unwrap();
        let output = sandbox_in(&home, &["run", &path, "--invoke", "add"], &[]);
        assert_eq!(output.status.code(), Some(3), "{output:?}");
    }
}

#[test]
fn compiling_text_to_a_module_still_works() {
    let home = TempDir::new("compile");
    let out = home.join("add.wasm");
    let output = sandbox_in(&home, &["compile", &fixture("add.wat"), "-o", &out], &[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let bytes = std::fs::read(&out).unwrap();
    assert!(bytes.starts_with(b"\0asm"));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Compiled:"));
    // --backend and friends only make sense with --aot.
    let output = sandbox_in(
        &home,
        &[
            "compile",
            &fixture("add.wat"),
            "--backend",
            "wasmer",
            "-o",
            &out,
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}
