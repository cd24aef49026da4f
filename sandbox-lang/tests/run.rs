//! Mini programs compiled and run on both engines: the classics with their expected output,
//! runtime errors with their messages, exports called as functions.

use sandbox::{Outcome, Runtime, SandboxConfig, WasmValue};

const EXAMPLE: &str = include_str!("../../examples/mini/example.mini");

struct Run {
    stdout: String,
    stderr: String,
    outcome: Outcome,
}

fn run_on(backend: Runtime, source: &str, stdin: &str) -> Run {
    run_with_fuel(backend, source, stdin, 10_000_000_000)
}

fn run_with_fuel(backend: Runtime, source: &str, stdin: &str, fuel: u64) -> Run {
    let wasm = sandbox_lang::compile(source).unwrap_or_else(|errors| {
        panic!(
            "{}",
            errors
                .iter()
                .map(|error| error.render("test.mini", source))
                .collect::<String>()
        )
    });
    let config = SandboxConfig {
        stdin: stdin.as_bytes().to_vec(),
        max_fuel: Some(fuel),
        ..SandboxConfig::default()
    };
    let module = sandbox::sandbox(backend, config.clone())
        .unwrap()
        .load(&wasm)
        .unwrap_or_else(|error| panic!("the module does not load on {backend}: {error}"));
    let result = match module.instantiate(&config) {
        Ok(mut instance) => instance.call("_start", &[]).unwrap(),
        Err(report) => *report,
    };
    Run {
        stdout: String::from_utf8_lossy(&result.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&result.stderr).into_owned(),
        outcome: result.outcome,
    }
}

/// Runs on every engine; asserts they agree; returns wasmtime's run.
fn run(source: &str, stdin: &str) -> Run {
    let runs: Vec<Run> = sandbox::available_runtimes()
        .into_iter()
        .map(|backend| run_on(backend, source, stdin))
        .collect();
    for other in &runs[1..] {
        assert_eq!(other.stdout, runs[0].stdout);
        assert_eq!(other.stderr, runs[0].stderr);
        assert_eq!(other.outcome.kind(), runs[0].outcome.kind());
    }
    runs.into_iter().next().unwrap()
}

fn output(source: &str, stdin: &str) -> String {
    let run = run(source, stdin);
    assert!(
        matches!(run.outcome, Outcome::Ok),
        "{:?}: {}",
        run.outcome,
        run.stderr
    );
    run.stdout
}

#[test]
fn the_example_program() {
    assert_eq!(output(EXAMPLE, "3\n50 60 70\n"), "180\nbig 20\n");
    assert_eq!(output(EXAMPLE, "2 1 2"), "3\nsmall\n");
}

#[test]
fn recursion_loops_and_arrays() {
    let source = r#"
func fib(n: int) -> int { if n < 2 { return n; } return fib(n - 1) + fib(n - 2); }
func main() {
    println(fib(20));
    // Primes below 50 with a sieve.
    let n = 50;
    let composite = array(n, false);
    let count = 0;
    for i in 2..n {
        if composite[i] { continue; }
        count += 1;
        print(i); print(" ");
        let j = i * i;
        while j < n { composite[j] = true; j += i; }
    }
    println();
    println(count);
    // Insertion sort.
    let xs = array(6, 0);
    xs[0] = 5; xs[1] = -3; xs[2] = 9; xs[3] = 0; xs[4] = 2; xs[5] = -3;
    for i in 1..len(xs) {
        let k = i;
        while k > 0 && xs[k - 1] > xs[k] { let t = xs[k]; xs[k] = xs[k - 1]; xs[k - 1] = t; k -= 1; }
    }
    for i in 0..len(xs) { print(xs[i]); print(" "); }
    println();
    println(min(3, -4) + max(3, -4) + abs(-7));
    println(-9223372036854775808);
    println(9223372036854775807 + 1);
    println(7 / -2); println(7 % -2); println(-7 % 2);
}
"#;
    assert_eq!(
        output(source, ""),
        "6765\n2 3 5 7 11 13 17 19 23 29 31 37 41 43 47 \n15\n-3 -3 0 2 5 9 \n6\n-9223372036854775808\n-9223372036854775808\n-3\n1\n-1\n"
    );
}

#[test]
fn floats_bools_and_conversions() {
    let source = r#"
func main() {
    let x = read_float();
    println(x);
    println(sqrt(2.0));
    println(1.0 / 3.0);
    println(x * 2.0 + 0.25);
    println(7 as float / 2.0);
    println(-2.75 as int);
    println(1e20);
    println(0.0 - 0.0);
    println(true && !false);
    println(1 < 2 == true);
    let total = 0.0;
    for i in 0..read_int() { total += read_float(); }
    println(total);
}
"#;
    assert_eq!(
        output(source, "3.5\n3 0.5 -1.25 1e2\n"),
        "3.5\n1.414214\n0.333333\n7.25\n3.5\n-2\n1.0e20\n0.0\ntrue\ntrue\n99.25\n"
    );
}

#[test]
fn runtime_errors_say_what_and_where_and_exit_1() {
    let cases = [
        (
            "func main() {\n    let a = array(3, 0);\n    println(a[3]);\n}\n",
            "",
            "array index out of bounds at line 3",
        ),
        (
            "func main() {\n    let z = read_int();\n    println(10 / z);\n}\n",
            "0",
            "division by zero at line 3",
        ),
        (
            "func main() {\n    println(read_int());\n    println(read_int());\n}\n",
            "4",
            "end of input while reading an int at line 3",
        ),
        (
            "func main() {\n    println(read_int());\n}\n",
            "12x",
            "malformed int in the input at line 2",
        ),
        (
            "func main() {\n    let x = 0.0 / 0.0;\n    println(x as int);\n}\n",
            "",
            "NaN converted to int at line 3",
        ),
        (
            "func main() {\n    let a = array(-1, 0);\n}\n",
            "",
            "negative array length at line 2",
        ),
    ];
    for (source, stdin, message) in cases {
        let run = run(source, stdin);
        assert!(
            matches!(run.outcome, Outcome::Exit { code: 1 }),
            "{source}: {:?}",
            run.outcome
        );
        assert_eq!(
            run.stderr,
            format!("runtime error: {message}\n"),
            "{source}"
        );
    }
    // Output printed before the error is kept.
    let run = run("func main() {\n    println(1);\n    exit(3);\n}\n", "");
    assert!(matches!(run.outcome, Outcome::Exit { code: 3 }));
    assert_eq!(run.stdout, "1\n");
}

#[test]
fn exports_are_functions() {
    let wasm = sandbox_lang::compile(EXAMPLE).unwrap();
    for backend in sandbox::available_runtimes() {
        let config = SandboxConfig::default();
        let module = sandbox::sandbox(backend, config.clone())
            .unwrap()
            .load(&wasm)
            .unwrap();
        let mut instance = module.instantiate(&config).map_err(|r| r.outcome).unwrap();
        let result = instance
            .call("add", &[WasmValue::I64(40), WasmValue::I64(2)])
            .unwrap();
        assert_eq!(result.return_values, [WasmValue::I64(42)], "{backend}");
    }
}

#[test]
fn the_sandbox_s_limits_keep_their_outcomes() {
    // A huge array: the sandbox refuses the memory, the run reports it.
    let huge = run(
        "func main() {\n    let a = array(1000000000, 1);\n    println(len(a));\n}\n",
        "",
    );
    assert_eq!(
        huge.outcome.kind(),
        "memory_limit_exceeded",
        "{:?}",
        huge.outcome
    );
    // An endless loop: the fuel runs out (a budget spent in milliseconds, far from the time
    // limit however busy the machine).
    for backend in sandbox::available_runtimes() {
        let endless = run_with_fuel(
            backend,
            "func main() {\n    let i = 0;\n    while true { i += 1; }\n}\n",
            "",
            10_000_000,
        );
        assert_eq!(
            endless.outcome.kind(),
            "fuel_exhausted",
            "{backend}: {:?}",
            endless.outcome
        );
    }
    // Deep recursion: the engine's stack limit.
    let deep = run(
        "func down(n: int) -> int { return down(n + 1) + 1; }\nfunc main() { println(down(0)); }\n",
        "",
    );
    assert_eq!(deep.outcome.kind(), "trap", "{:?}", deep.outcome);
}

#[test]
fn the_text_form_is_the_same_module() {
    let wat = sandbox_lang::compile_to_wat(EXAMPLE).unwrap();
    assert!(wat.starts_with("(module"), "{wat}");
    assert!(wat.contains("(import \"wasi_snapshot_preview1\" \"fd_read\""));
    assert!(wat.contains("(export \"add\""));
    // The text assembles back to the same module (the same text when printed again; the
    // bytes differ only in how locals are grouped).
    let wasm = sandbox::compile_wat_to_wasm(&wat).unwrap();
    assert_eq!(wasmprinter::print_bytes(&wasm).unwrap(), wat);
    // A program that reads nothing does not import fd_read.
    let quiet = sandbox_lang::compile_to_wat("func main() { println(1); }").unwrap();
    assert!(!quiet.contains("fd_read"), "{quiet}");
}
