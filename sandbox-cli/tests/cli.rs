//! The CLI contract, tried from outside as users and scripts do: exit statuses, output and
//! JSON shape, on every engine.

mod common;

use common::{fixture, sandbox, stdout};
use std::process::Output;
use std::time::{Duration, Instant};

fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    stdout(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn add_on_every_backend_prints_12() {
    let output = sandbox(&[
        "run",
        &fixture("add.wat"),
        "--invoke",
        "add",
        "5",
        "7",
        "--backend",
        "all",
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let text = stdout(&output);
    let result_row = text
        .lines()
        .find(|line| line.starts_with("result"))
        .expect("a result row");
    assert_eq!(result_row.matches("12").count(), 2, "{text}");
    assert!(
        text.contains("wasmtime") && text.contains("wasmer"),
        "{text}"
    );
}

#[test]
fn the_product_brief_spelling_works() {
    let output = sandbox(&["run", &fixture("add.wat"), "--func", "add", "--args", "5 7"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        stdout(&output).contains("Result: 12"),
        "{}",
        stdout(&output)
    );
    // Negative numbers are arguments, not flags.
    let output = sandbox(&["run", &fixture("add.wat"), "--invoke", "add", "-5", "7"]);
    assert!(stdout(&output).contains("Result: 2"), "{}", stdout(&output));
}

#[test]
fn json_has_the_contract_fields_for_every_backend() {
    let output = sandbox(&[
        "run",
        &fixture("add.wat"),
        "--invoke",
        "add",
        "5",
        "7",
        "--backend",
        "all",
        "--json",
    ]);
    let runs = json_lines(&output);
    assert_eq!(runs.len(), 2);
    for run in runs {
        for key in [
            "backend",
            "outcome",
            "results",
            "exit_code",
            "stdout",
            "stderr",
            "stdout_truncated",
            "stderr_truncated",
            "elapsed_ms",
            "fuel_consumed",
            "peak_memory_bytes",
        ] {
            assert!(run.get(key).is_some(), "{key} missing: {run}");
        }
        assert_eq!(run["outcome"]["kind"], "ok");
        assert_eq!(run["results"][0], 12);
        assert_eq!(run["fuel_consumed"], 4);
    }
}

#[test]
fn timeout_stops_an_infinite_loop_on_every_backend() {
    for backend in ["wasmtime", "wasmer"] {
        let started = Instant::now();
        let output = sandbox(&[
            "run",
            &fixture("loops.wat"),
            "--invoke",
            "spin",
            "--timeout",
            "100ms",
            "--fuel",
            "none",
            "--backend",
            backend,
            "--json",
        ]);
        let wall = started.elapsed();
        assert_eq!(output.status.code(), Some(124), "{backend}: {output:?}");
        let run = &json_lines(&output)[0];
        assert_eq!(run["outcome"]["kind"], "time_limit_exceeded", "{run}");
        assert_eq!(run["outcome"]["limit_ms"], 100.0);
        let elapsed = run["elapsed_ms"].as_f64().unwrap();
        assert!(
            (100.0..1000.0).contains(&elapsed),
            "{backend}: {elapsed} ms"
        );
        // The whole process, compile included, stays well under the old 5 s default.
        assert!(wall < Duration::from_secs(3), "{backend}: {wall:?}");
    }
}

#[test]
fn fuel_limit_gives_fuel_exhausted() {
    for backend in ["wasmtime", "wasmer"] {
        let output = sandbox(&[
            "run",
            &fixture("loops.wat"),
            "--invoke",
            "heavy",
            "100000",
            "--fuel",
            "1000",
            "--backend",
            backend,
        ]);
        assert_eq!(output.status.code(), Some(125), "{backend}: {output:?}");
        assert!(
            stdout(&output).contains("fuel_exhausted"),
            "{}",
            stdout(&output)
        );
        assert!(stdout(&output).contains("used 1000 of 1000"));
    }
}

#[test]
fn max_memory_below_the_declared_memory_gives_memory_limit_exceeded() {
    for backend in ["wasmtime", "wasmer"] {
        let output = sandbox(&[
            "run",
            &fixture("memory_64mib.wat"),
            "--invoke",
            "main",
            "--max-memory",
            "1MiB",
            "--backend",
            backend,
            "--json",
        ]);
        assert_eq!(output.status.code(), Some(137), "{backend}: {output:?}");
        let run = &json_lines(&output)[0];
        assert_eq!(run["outcome"]["kind"], "memory_limit_exceeded");
        assert_eq!(run["outcome"]["limit"], 1048576);
        assert_eq!(run["outcome"]["used"], 64 * 1048576);
    }
}

#[test]
fn garbage_bytes_give_invalid_module() {
    let dir = std::env::temp_dir().join(format!("sandbox-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("garbage.wasm");
    std::fs::write(&path, b"this is not webassembly at all").unwrap();
    for backend in ["wasmtime", "wasmer", "all"] {
        let output = sandbox(&["run", path.to_str().unwrap(), "--backend", backend]);
        assert_eq!(output.status.code(), Some(3), "{backend}: {output:?}");
        let said = format!(
            "{}{}",
            stdout(&output),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(said.contains("invalid magic number"), "{said}");
    }
    let output = sandbox(&["inspect", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn compile_then_inspect() {
    let dir = std::env::temp_dir().join(format!("sandbox-cli-compile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("add.wasm");
    let output = sandbox(&["compile", &fixture("add.wat"), "-o", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let size = std::fs::metadata(&out).unwrap().len();
    assert_eq!(
        stdout(&output).trim(),
        format!(
            "Compiled: {} -> {} ({size} bytes)",
            fixture("add.wat"),
            out.display()
        )
    );
    let output = sandbox(&["inspect", out.to_str().unwrap(), "--json"]);
    assert_eq!(output.status.code(), Some(0));
    let info: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(info["valid"], true);
    assert_eq!(info["exports"][0]["name"], "add");
    assert_eq!(info["size"], size);
    let output = sandbox(&["run", out.to_str().unwrap(), "--invoke", "add", "1", "2"]);
    assert!(stdout(&output).contains("Result: 3"));
    // Text that does not parse is reported with a status, not a panic.
    let bad = dir.join("bad.wat");
    std::fs::write(&bad, "(module (func (export \"f\") i32.add))").unwrap();
    let output = sandbox(&["compile", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3), "{output:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wrong_input_never_panics() {
    let cases: &[&[&str]] = &[
        &[],
        &["run"],
        &["run", "/does/not/exist.wasm"],
        &["run", &fixture("add.wat"), "--timeout", "soon"],
        &["run", &fixture("add.wat"), "--max-memory", "lots"],
        &["run", &fixture("add.wat"), "--fuel", "-3"],
        &["run", &fixture("add.wat"), "--backend", "v8"],
        &["run", &fixture("add.wat"), "--invoke", "add", "1"],
        &["run", &fixture("add.wat"), "--invoke", "add", "1", "x"],
        &[
            "run",
            &fixture("add.wat"),
            "--invoke",
            "add",
            "99999999999",
            "1",
        ],
        &["run", &fixture("add.wat"), "--invoke", "nope"],
        &["run", &fixture("add.wat")],
        &["run", &fixture("add.wat"), "--max-stack", "1B"],
        &["run", &fixture("imports_env.wat"), "--invoke", "main"],
        &[
            "run",
            &fixture("imports_env.wat"),
            "--invoke",
            "main",
            "--allow-import",
            "env",
        ],
        &[
            "run",
            &fixture("externref_param.wat"),
            "--invoke",
            "takes_ref",
        ],
        &[
            "run",
            &fixture("simd.wat"),
            "--invoke",
            "lane",
            "--backend",
            "all",
        ],
        &["inspect", "/does/not/exist"],
        &["compile", "/does/not/exist.wat"],
        &["frobnicate"],
    ];
    for args in cases {
        let output = sandbox(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?} panicked: {stderr}");
        assert!(
            output.status.code().is_some(),
            "{args:?} was killed by a signal"
        );
        assert_ne!(output.status.code(), Some(0), "{args:?} succeeded");
    }
}

#[test]
fn statuses_of_the_contract() {
    let cases: &[(&[&str], i32)] = &[
        (&["run", &fixture("imports_env.wat"), "--invoke", "main"], 4),
        (
            &[
                "run",
                &fixture("imports_env.wat"),
                "--invoke",
                "main",
                "--allow-import",
                "env::system",
            ],
            5,
        ),
        (&["run", &fixture("add.wat"), "--invoke", "nope"], 6),
        (&["run", &fixture("add.wat"), "--invoke", "add", "1"], 7),
        (
            &[
                "run",
                &fixture("externref_param.wat"),
                "--invoke",
                "takes_ref",
            ],
            8,
        ),
        (
            &["run", &fixture("traps.wat"), "--invoke", "unreachable"],
            134,
        ),
        (
            &["run", &fixture("table_huge.wat"), "--invoke", "main"],
            137,
        ),
        (&["run", &fixture("add.wat"), "--timeout", "0ms"], 1),
        (&["run", &fixture("add.wat"), "--bogus-flag"], 2),
    ];
    for (args, status) in cases {
        let output = sandbox(args);
        assert_eq!(output.status.code(), Some(*status), "{args:?}: {output:?}");
    }
}

#[test]
fn wasi_command_reads_stdin_on_every_backend() {
    let dir = std::env::temp_dir().join(format!("sandbox-cli-stdin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("input.txt");
    std::fs::write(&input, "5 7\n").unwrap();
    let mut outputs = Vec::new();
    for backend in ["wasmtime", "wasmer"] {
        let output = sandbox(&[
            "run",
            &fixture("sum.wasm"),
            "--stdin",
            input.to_str().unwrap(),
            "--backend",
            backend,
        ]);
        assert_eq!(output.status.code(), Some(0), "{backend}: {output:?}");
        assert_eq!(stdout(&output), "12\n");
        outputs.push(output.stdout);
    }
    assert_eq!(outputs[0], outputs[1]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn wasi_flags_reach_the_guest() {
    let output = sandbox(&[
        "run",
        &fixture("hello.wasm"),
        "--env",
        "GREETING=salut",
        "--",
        "5",
        "-x",
    ]);
    assert_eq!(
        output.status.code(),
        Some(5),
        "the guest's exit code: {output:?}"
    );
    let text = stdout(&output);
    assert!(text.contains("argv[1]=5\nargv[2]=-x\n"), "{text}");
    assert!(text.contains("GREETING=salut"), "{text}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "to stderr\n");
}

#[test]
fn virtual_clock_prints_the_same_everywhere() {
    let mut outputs = Vec::new();
    for backend in ["wasmtime", "wasmer", "wasmtime"] {
        let output = sandbox(&[
            "run",
            &fixture("time_random.wasm"),
            "--clock",
            "virtual",
            "--backend",
            backend,
        ]);
        assert_eq!(output.status.code(), Some(0));
        outputs.push(stdout(&output));
    }
    assert!(
        outputs[0].starts_with("realtime 946684800."),
        "{}",
        outputs[0]
    );
    assert!(outputs.iter().all(|o| *o == outputs[0]), "{outputs:?}");
}

#[test]
fn output_flood_is_cut_with_status_120() {
    for backend in ["wasmtime", "wasmer"] {
        let output = sandbox(&[
            "run",
            &fixture("flood.wasm"),
            "--max-output",
            "1KiB",
            "--backend",
            backend,
            "--json",
        ]);
        assert_eq!(output.status.code(), Some(120), "{backend}");
        let run = &json_lines(&output)[0];
        assert_eq!(run["outcome"]["kind"], "output_limit_exceeded");
        assert_eq!(run["stdout"].as_str().unwrap().len(), 1024);
        assert_eq!(run["stdout_truncated"], true);
    }
}

#[test]
fn read_only_dir_refuses_writes() {
    let dir = std::env::temp_dir().join(format!("sandbox-cli-dir-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("ro")).unwrap();
    std::fs::create_dir_all(dir.join("rw")).unwrap();
    std::fs::write(dir.join("ro/data.txt"), "keep me\n").unwrap();
    for backend in ["wasmtime", "wasmer"] {
        let output = sandbox(&[
            "run",
            &fixture("files.wasm"),
            "--dir",
            &format!("{}::/ro", dir.join("ro").display()),
            "--dir-rw",
            &format!("{}::/rw", dir.join("rw").display()),
            "--backend",
            backend,
            "--",
            "read-ro",
            "write-ro",
            "write-rw",
        ]);
        let text = stdout(&output);
        assert!(text.contains("read-ro ok"), "{backend}: {text}");
        assert!(text.contains("write-ro denied"), "{backend}: {text}");
        assert!(text.contains("write-rw ok"), "{backend}: {text}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("ro/data.txt")).unwrap(),
        "keep me\n"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dir_takes_the_root_and_nested_guest_paths() {
    let dir = std::env::temp_dir().join(format!("sandbox-cli-root-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("root")).unwrap();
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("root/top.txt"), "top\n").unwrap();
    std::fs::write(dir.join("in/in.txt"), "nested\n").unwrap();
    std::fs::write(dir.join("secret.txt"), "secret\n").unwrap();
    for backend in ["wasmtime", "wasmer"] {
        let output = sandbox(&[
            "run",
            &fixture("files.wasm"),
            "--dir-rw",
            &format!("{}::/", dir.join("root").display()),
            "--dir",
            &format!("{}::/data/in", dir.join("in").display()),
            "--backend",
            backend,
            "--",
            "preopens",
            "cat:/top.txt",
            "cat:/data/in/in.txt",
            "put:/new.txt",
            "put:/data/in/new.txt",
            "cat:/../secret.txt",
        ]);
        assert_eq!(output.status.code(), Some(0), "{backend}: {output:?}");
        let text = stdout(&output);
        for line in [
            // (--dir preopens come before --dir-rw ones; on wasmer a root preopen is
            // always descriptor 3, so the order of the two lines differs.)
            "  preopen: /\n",
            "  preopen: /data/in\n",
            "preopens ok",
            "  content: top\ncat:/top.txt ok",
            "  content: nested\ncat:/data/in/in.txt ok",
            "put:/new.txt ok",
            "put:/data/in/new.txt denied",
            "cat:/../secret.txt denied",
        ] {
            assert!(text.contains(line), "{backend}: {line}: {text}");
        }
        std::fs::remove_file(dir.join("root/new.txt")).unwrap();
    }
    assert!(!dir.join("in/new.txt").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn dir_refuses_bad_guest_paths() {
    let dir = std::env::temp_dir().display().to_string();
    for (spec, reason) in [
        (format!("{dir}::/../etc"), "contains `..`"),
        (format!("{dir}::/data/.."), "contains `..`"),
        (format!("{dir}::"), "is empty"),
        ("::/data".to_string(), "host directory is empty"),
    ] {
        let output = sandbox(&["run", &fixture("files.wasm"), "--dir", &spec]);
        assert_eq!(output.status.code(), Some(1), "{spec}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("invalid directory") && stderr.contains(reason),
            "{spec}: {stderr}"
        );
    }
}

#[test]
fn linked_modules_run_on_every_backend() {
    let provider = format!("provider={}", fixture("linking_provider.wat"));
    let output = sandbox(&[
        "run",
        &fixture("linking_consumer.wat"),
        "--link",
        &provider,
        "--invoke",
        "repeat",
        "10",
        "--backend",
        "all",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let runs: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(runs.len(), 2, "{stdout}");
    for run in &runs {
        assert_eq!(run["results"], serde_json::json!([20]), "{run}");
        assert_eq!(run["fuel_consumed"], serde_json::json!(225), "{run}");
    }
    // Without the provider the import is not granted; --link needs --invoke; NAME=FILE.
    let cases: &[(&[&str], i32)] = &[
        (
            &[
                "run",
                &fixture("linking_consumer.wat"),
                "--invoke",
                "repeat",
                "1",
            ],
            4,
        ),
        (
            &["run", &fixture("linking_consumer.wat"), "--link", &provider],
            8,
        ),
        (
            &[
                "run",
                &fixture("linking_consumer.wat"),
                "--link",
                "provider",
                "--invoke",
                "repeat",
                "1",
            ],
            5,
        ),
    ];
    for (args, status) in cases {
        let output = sandbox(args);
        assert_eq!(output.status.code(), Some(*status), "{args:?}: {output:?}");
    }
}
