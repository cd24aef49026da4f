//! The bench report's Python section: per-run times through `wasm_sandbox`
//! (`sandbox-py/bench/overhead.py`) beside the Rust benches of the same work, as ratios against
//! the issue's goals.

use crate::report::{format_ns, BenchId, Results};
use anyhow::Context;
use serde_json::Value;
use std::fmt::Write as _;

/// Where the Python results are kept (in the criterion directory), for `--report-only`.
pub const FILE: &str = "python-overhead.jsonl";

/// One case measured from a host language (Python, C): same fields, same file format.
#[derive(Debug, Clone, PartialEq)]
pub struct HostRun {
    /// `run-export` or `wasi-hello`.
    pub case: String,
    /// `wasmtime` or `wasmer`.
    pub backend: String,
    /// Median time per run, in nanoseconds.
    pub median_ns: f64,
    /// Median absolute deviation, in nanoseconds.
    pub mad_ns: f64,
}

/// Parses one line of the results file.
pub fn parse(line: &str) -> anyhow::Result<HostRun> {
    let value: Value = serde_json::from_str(line).context("a Python overhead line")?;
    let text = |key: &str| {
        value[key]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("{key} missing in {line}"))
    };
    let number = |key: &str| {
        value[key]
            .as_f64()
            .with_context(|| format!("{key} missing in {line}"))
    };
    Ok(HostRun {
        case: text("case")?,
        backend: text("backend")?,
        median_ns: number("median_ns")?,
        mad_ns: number("mad_ns")?,
    })
}

/// The cases: Python case (= criterion group), the Rust bench's case, what it is, the goal.
const CASES: [(&str, &str, &str, f64); 2] = [
    (
        "run-export",
        "add.wat",
        "a trivial export in a fresh instance (`execute_sync(module, \"add\", [5, 7])`)",
        3.0,
    ),
    (
        "wasi-hello",
        "hello_world.wasm",
        "WASI hello-world in a fresh instance, stdout captured (`execute_sync(module)`)",
        1.5,
    ),
];

/// The section, or a line saying it was not measured.
pub fn section(results: &Results, runs: &[HostRun]) -> String {
    let mut out = String::from("## From Python (`wasm_sandbox`)\n\n");
    if runs.is_empty() {
        out.push_str("Not measured in this run.\n\n");
        return out;
    }
    out.push_str(
        "Per-run time through the Python package (`sandbox-py/bench/overhead.py`, the extension \
         built in the release profile, a module compiled once) beside the Rust bench of the same \
         work; the ratio is Python / Rust, against the goal of the Python issue. The Python \
         layer's own work per run (argument and result conversion, releasing and re-taking the \
         GIL) is small beside an instantiation, smaller than the run-to-run difference between \
         two processes doing the same work (allocator and memory-mapping state): hence ratios \
         near 1, some below.\n\n\
         | work | engine | Python | Rust | ratio | goal | |\n|---|---|---|---|---|---|---|\n",
    );
    for (group, case, what, goal) in CASES {
        for backend in ["wasmtime", "wasmer"] {
            let Some(python) = runs
                .iter()
                .find(|run| run.case == group && run.backend == backend)
            else {
                continue;
            };
            let rust = results.get(&BenchId {
                group: group.into(),
                backend: backend.into(),
                case: case.into(),
            });
            let (rust_cell, ratio_cell, met) = match rust {
                Some(rust) => {
                    let ratio = python.median_ns / rust.median_ns;
                    (
                        format!("{} ± {}", format_ns(rust.median_ns), format_ns(rust.mad_ns)),
                        format!("{ratio:.2}×"),
                        if ratio <= goal { "met" } else { "**not met**" },
                    )
                }
                None => ("—".into(), "—".into(), "—"),
            };
            let _ = writeln!(
                out,
                "| {what} | {backend} | {} ± {} | {rust_cell} | {ratio_cell} | ≤ {goal}× | {met} |",
                format_ns(python.median_ns),
                format_ns(python.mad_ns),
            );
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Estimate;

    #[test]
    fn ratios_are_python_over_rust_against_the_goal() {
        let mut results = Results::new();
        results.insert(
            BenchId {
                group: "run-export".into(),
                backend: "wasmtime".into(),
                case: "add.wat".into(),
            },
            Estimate {
                median_ns: 10_000.0,
                mad_ns: 100.0,
                throughput: None,
            },
        );
        let runs = vec![
            parse(r#"{"case": "run-export", "backend": "wasmtime", "median_ns": 25000, "mad_ns": 300}"#)
                .unwrap(),
            parse(r#"{"case": "wasi-hello", "backend": "wasmer", "median_ns": 1, "mad_ns": 0}"#)
                .unwrap(),
        ];
        let text = section(&results, &runs);
        assert!(text.contains("| 2.50× | ≤ 3× | met |"), "{text}");
        assert!(text.contains("| — | — | ≤ 1.5× | — |"), "{text}");
        assert!(section(&results, &[]).contains("Not measured"));
        assert!(parse("{}").is_err());
    }
}
