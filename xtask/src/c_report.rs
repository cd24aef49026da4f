//! The bench report's C section: the per-call time of `sandbox_call` from C
//! (`sandbox-capi/bench/calls.c`, a million calls per engine) beside the Rust bench of the same
//! call (`call/{engine}/add.wat`), against the C issue's goal.

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
         instance, from C (`sandbox-capi/bench/calls.c`: the library built in the release \
         profile, 1,000,000 calls per round, the median of five rounds, each result released \
         with `execution_result_free`), beside the Rust bench of the same call \
         (`Instance::call(\"add\", [5, 7])`); the ratio is C / Rust. What C adds per call: \
         reading the name, converting the `int64_t` arguments by the export's signature, and \
         `malloc`ing the returned values.\n\n\
         | engine | C | Rust | ratio | goal | |\n|---|---|---|---|---|---|\n",
    );
    for backend in ["wasmtime", "wasmer"] {
        let Some(c) = runs
            .iter()
            .find(|run| run.case == "call" && run.backend == backend)
        else {
            continue;
        };
        let rust = results.get(&BenchId {
            group: "call".into(),
            backend: backend.into(),
            case: "add.wat".into(),
        });
        let (rust_cell, ratio_cell, met) = match rust {
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
        let _ = writeln!(
            out,
            "| {backend} | {} ± {} | {rust_cell} | {ratio_cell} | ≤ {GOAL}× | {met} |",
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
            parse(r#"{"case": "call", "backend": "wasmer", "median_ns": 700, "mad_ns": 5}"#)
                .unwrap(),
        ];
        let text = section(&results, &runs);
        assert!(
            text.contains(
                "| wasmtime | 330 ns ± 2.00 ns | 300 ns ± 3.00 ns | 1.10× | ≤ 1.2× | met |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| wasmer | 700 ns ± 5.00 ns | — | — | ≤ 1.2× | — |"),
            "{text}"
        );
        assert!(section(&results, &[]).contains("Not measured"));
    }
}
