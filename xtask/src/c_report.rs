//! The bench report's C section: the per-call time of `sandbox_call` from C
//! (`sandbox-capi/bench/calls.c`, a million calls per round) beside the same loop in Rust
//! (`sandbox-bench --bin calls`), run alternately, against the C issue's goal; criterion's
//! figure for the call (`call/{engine}/add.wat`) beside them.

use crate::python_report::HostRun;
use crate::report::{format_ns, BenchId, Results};
use std::fmt::Write as _;

/// The goal: a call from C costs at most this many times the call from Rust.
const GOAL: f64 = 1.2;

/// The section, or a line saying it was not measured.
pub fn section(results: &Results, runs: &[HostRun]) -> String {
    let mut out = String::from("## From C (`libsandbox`)\n\n");
    if runs.is_empty() {
        out.push_str("Not measured in this run.\n\n");
        return out;
    }
    out.push_str(
        "Per-call time of the product brief's `sandbox_call(sb, \"add\", {5, 7}, 2)` on a live \
         instance from C (`sandbox-capi/bench/calls.c`: the library built in the release \
         profile, five rounds of 1,000,000 calls, each result released with \
         `execution_result_free`), beside the same loop in Rust through `Instance::call` \
         (`sandbox-bench --bin calls`); the two programs run alternately, three times each, \
         and each figure is the median of their medians (± the spread between runs), so both \
         sides see the same machine. The ratio is C / Rust. `sandbox_call` takes the function's \
         name on every call, as `Instance::call` does, and goes through the call fast path \
         underneath (each name resolved once per instance, `call_func`, the output the brief's \
         result has no place for taken and dropped); what it adds to that path per call: \
         looking the name up, converting the `int64_t` arguments by the export's signature, \
         `malloc`ing the returned values. Criterion's figure for Rust's `call` is beside them, \
         and the Rust fast path (`export_func` once, `call_func` with the values in arrays; \
         same program, same rounds) for comparison.\n\n\
         | engine | C | Rust, same loop | ratio | goal | | criterion | Rust, fast path |\n|---|---|---|---|---|---|---|---|\n",
    );
    for backend in ["wasmtime", "wasmer"] {
        let find = |case: &str| {
            runs.iter()
                .find(|run| run.case == case && run.backend == backend)
        };
        let Some(c) = find("call") else {
            continue;
        };
        let (rust_cell, ratio_cell, met) = match find("call-rust") {
            Some(rust) => {
                let ratio = c.median_ns / rust.median_ns;
                (
                    format!("{} ± {}", format_ns(rust.median_ns), format_ns(rust.mad_ns)),
                    format!("{ratio:.2}×"),
                    if ratio <= GOAL { "met" } else { "**not met**" },
                )
            }
            None => ("—".into(), "—".into(), "—"),
        };
        let criterion = results
            .get(&BenchId {
                group: "call".into(),
                backend: backend.into(),
                case: "add.wat".into(),
            })
            .map_or("—".into(), |estimate| {
                format!(
                    "{} ± {}",
                    format_ns(estimate.median_ns),
                    format_ns(estimate.mad_ns)
                )
            });
        let fast = find("call-func-rust").map_or("—".into(), |fast| {
            format!("{} ± {}", format_ns(fast.median_ns), format_ns(fast.mad_ns))
        });
        let _ = writeln!(
            out,
            "| {backend} | {} ± {} | {rust_cell} | {ratio_cell} | ≤ {GOAL}× | {met} | {criterion} | {fast} |",
            format_ns(c.median_ns),
            format_ns(c.mad_ns),
        );
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::python_report::parse;
    use crate::report::Estimate;

    #[test]
    fn ratios_are_c_over_rust_against_the_goal() {
        let mut results = Results::new();
        results.insert(
            BenchId {
                group: "call".into(),
                backend: "wasmtime".into(),
                case: "add.wat".into(),
            },
            Estimate {
                median_ns: 300.0,
                mad_ns: 3.0,
                throughput: None,
            },
        );
        let runs = vec![
            parse(r#"{"case": "call", "backend": "wasmtime", "median_ns": 330, "mad_ns": 2}"#)
                .unwrap(),
            parse(r#"{"case": "call-rust", "backend": "wasmtime", "median_ns": 300, "mad_ns": 1}"#)
                .unwrap(),
            parse(r#"{"case": "call", "backend": "wasmer", "median_ns": 700, "mad_ns": 5}"#)
                .unwrap(),
        ];
        let text = section(&results, &runs);
        let wasmtime = "| wasmtime | 330 ns ± 2.00 ns | 300 ns ± 1.00 ns | 1.10× | ≤ 1.2× | met | 300 ns ± 3.00 ns |";
        assert!(text.contains(wasmtime), "{text}");
        let wasmer = "| wasmer | 700 ns ± 5.00 ns | — | — | ≤ 1.2× | — | — |";
        assert!(text.contains(wasmer), "{text}");
        assert!(section(&results, &[]).contains("Not measured"));
    }
}
