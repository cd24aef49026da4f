//! The demo's Mini part: a program in the project's own language compiled and run on every
//! engine, judged, and a wrong one refused with its diagnostics.

use sandbox::judge::{Judge, TestCase, Verdict};
use sandbox::{Outcome, SandboxConfig, SandboxError};

/// A judge solution and a plugin function in one program.
const PROGRAM: &str = "\
// Reads n and n numbers; prints how many are prime.
func is_prime(n: int) -> bool {
    if n < 2 { return false; }
    let d = 2;
    while d * d <= n {
        if n % d == 0 { return false; }
        d += 1;
    }
    return true;
}
export func count_primes(below: int) -> int {
    let count = 0;
    for i in 0..below { if is_prime(i) { count += 1; } }
    return count;
}
func main() {
    let n = read_int();
    let count = 0;
    for i in 0..n { if is_prime(read_int()) { count += 1; } }
    println(count);
}
";

/// The same program with two mistakes.
const BROKEN: &str = "\
func main() {
    let n = read_int();
    let half = n / 2.0;
    println(coutn);
}
";

fn mark(ok: bool) -> &'static str {
    if ok {
        "✓"
    } else {
        "✗"
    }
}

/// Runs the Mini part; `false` when something did not behave as documented.
pub fn mini() -> anyhow::Result<bool> {
    println!("Mini: the project's own language, compiled to WebAssembly by the project");
    let started = std::time::Instant::now();
    let wasm = sandbox::compile_mini(PROGRAM, "primes.mini")?;
    println!(
        "  compiled primes.mini ({} lines) to {} bytes of wasm in {:.2?}",
        PROGRAM.lines().count(),
        wasm.len(),
        started.elapsed()
    );
    let mut ok = true;
    for runtime in sandbox::available_runtimes() {
        let config = SandboxConfig {
            stdin: b"6\n2 3 4 97 100 7919\n".to_vec(),
            ..SandboxConfig::default()
        };
        let command = sandbox::execute_on(runtime, &wasm, "_start", &[], config.clone())?;
        let printed = String::from_utf8_lossy(&command.stdout).trim().to_string();
        let export = sandbox::execute_on(
            runtime,
            &wasm,
            "count_primes",
            &[sandbox::WasmValue::I64(10_000)],
            config,
        )?;
        let counted = export.return_values.first().map(|v| v.to_string());
        let right = printed == "4"
            && matches!(command.outcome, Outcome::Ok | Outcome::Exit { code: 0 })
            && counted.as_deref() == Some("1229");
        ok &= right;
        println!(
            "  {} {:<9} stdin \"2 3 4 97 100 7919\" -> {printed}; count_primes(10000) -> {}",
            mark(right),
            runtime.to_string(),
            counted.unwrap_or_else(|| export.outcome.kind().to_string())
        );
    }
    let tests: Vec<TestCase> = [
        ("1\n7\n", "1\n"),
        ("3\n1 2 3\n", "2\n"),
        ("2\n9 15\n", "0\n"),
    ]
    .iter()
    .enumerate()
    .map(|(index, (input, expected))| TestCase::new(index as u64 + 1, *input, *expected))
    .collect();
    let report = Judge::new(SandboxConfig::default()).evaluate(&wasm, &tests);
    let accepted = report.verdict == Verdict::Accepted;
    ok &= accepted;
    println!(
        "  {} judged on {} tests: {}",
        mark(accepted),
        report.total,
        report.verdict
    );
    match sandbox::compile_mini(BROKEN, "broken.mini") {
        Err(SandboxError::CompilationError {
            diagnostics,
            rendered,
            ..
        }) => {
            let judged = Judge::new(SandboxConfig::default())
                .report_rejected(
                    SandboxError::CompilationError {
                        language: "mini".into(),
                        diagnostics: diagnostics.clone(),
                        rendered: rendered.clone(),
                    },
                    &tests,
                )
                .verdict;
            let right = diagnostics.len() == 2 && judged == Verdict::CompilationError;
            ok &= right;
            println!(
                "  {} broken.mini refused with {} errors ({judged} for every test):",
                mark(right),
                diagnostics.len()
            );
            for line in rendered.lines() {
                if line.is_empty() {
                    println!();
                } else {
                    println!("      {line}");
                }
            }
        }
        other => {
            ok = false;
            println!(
                "  ✗ broken.mini was not refused: {:?}",
                other.map(|w| w.len())
            );
        }
    }
    Ok(ok)
}
