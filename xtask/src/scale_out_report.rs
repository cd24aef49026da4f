//! The bench report's section on scale-out: judge throughput with 1, 2 and 3 `sandbox
//! worker` processes on one PostgreSQL database, and the cost of running guests in
//! locked-down runner processes instead of in the worker's own (`scale-out`).

use crate::scale_report::{mark, number, text};
use serde_json::Value;
use std::fmt::Write as _;

/// A trivial judge test in a runner process costs at most this many times as much as in
/// process.
const RUNNER_OVERHEAD_GOAL: f64 = 1.3;

/// The probe runs: binary and arguments.
pub fn probes() -> Vec<(&'static str, Vec<String>)> {
    let args = |list: &[&str]| list.iter().map(|arg| arg.to_string()).collect::<Vec<_>>();
    let mut runs = vec![(
        "scale-out",
        args(&[
            "throughput",
            "--submissions",
            "2000",
            "--tests",
            "5",
            "--max-workers",
            "3",
        ]),
    )];
    for backend in ["wasmtime", "wasmer"] {
        runs.push((
            "scale-out",
            args(&["overhead", "--jobs", "4000", "--backend", backend]),
        ));
    }
    runs
}

/// The section, from the probe's lines.
pub fn section(out: &mut String, lines: &[Value]) {
    let throughput: Vec<&Value> = lines
        .iter()
        .filter(|line| text(line, "phase") == "scale-out")
        .collect();
    let overhead: Vec<&Value> = lines
        .iter()
        .filter(|line| text(line, "phase") == "runner-overhead")
        .collect();
    if throughput.is_empty() && overhead.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "## Scale-out: workers on PostgreSQL, guests in runner processes\n"
    );
    if let Some(first) = throughput.first() {
        let _ = writeln!(
            out,
            "One API process (`--workers 0`) and 1, 2, 3 worker processes (`sandbox worker \
             --jobs 1`, guests in locked-down runner processes) on one PostgreSQL 15 database, \
             all on this machine's {cores:.0} logical CPUs (`cargo run --release -p \
             sandbox-bench --bin scale-out -- throughput --submissions {subs} --tests {tests} \
             --max-workers 3`): {subs} submissions of a problem with {tests} tests (a WASI echo, \
             accepted), submitted in batches of 100 after a warm-up; the clock stops when the \
             last result is stored. Each claim is a `FOR UPDATE SKIP LOCKED` transaction, each \
             result a committed (fsynced) update. With two CPUs, the third worker shows the \
             cost of coordination, not a speed-up.\n",
            cores = number(first, "cores"),
            subs = number(first, "submissions"),
            tests = number(first, "tests"),
        );
        let base = number(first, "tests_per_s");
        let _ = writeln!(
            out,
            "| workers | judge tests/s | submissions/s | vs one worker |\n|---|---|---|---|"
        );
        for line in &throughput {
            let rate = number(line, "tests_per_s");
            let _ = writeln!(
                out,
                "| {:.0} | {rate:.0} | {:.0} | {:.2}× |",
                number(line, "workers"),
                number(line, "submissions_per_s"),
                rate / base
            );
        }
        out.push('\n');
    }
    if !overhead.is_empty() {
        let _ = writeln!(
            out,
            "Runner processes against in-process runs, the same trivial judge test (one test, \
             the echo module; `scale-out overhead --jobs 4000 --backend B`): per job, the median \
             of 8 alternating rounds, through the service's executor in the worker's process, \
             and through a runner (the job sent over a pipe as a frame, run in a child locked \
             down by rlimits, no_new_privs, Landlock and seccomp, the result sent back); beside \
             them, a runner without the lockdown (the process boundary alone) and the round trip \
             of an empty request (the pipe's floor).\n"
        );
        let _ = writeln!(
            out,
            "| engine | in process | in a runner | ratio | goal | | runner without lockdown | empty round trip |\n|---|---|---|---|---|---|---|---|"
        );
        for line in &overhead {
            let ratio = number(line, "ratio");
            let _ = writeln!(
                out,
                "| {} | {:.1} µs | {:.1} µs | {ratio:.2}× | ≤ {RUNNER_OVERHEAD_GOAL}× | {} | {:.1} µs | {:.1} µs |",
                text(line, "backend"),
                number(line, "in_process_us"),
                number(line, "runner_us"),
                mark(ratio <= RUNNER_OVERHEAD_GOAL),
                number(line, "unlocked_runner_us"),
                number(line, "round_trip_us"),
            );
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_section_has_a_row_per_worker_count_and_judges_the_overhead() {
        let lines = vec![
            json!({"phase": "scale-out", "workers": 1, "submissions": 2000, "tests": 5,
                   "cores": 2, "tests_per_s": 1000.0, "submissions_per_s": 200.0}),
            json!({"phase": "scale-out", "workers": 2, "submissions": 2000, "tests": 5,
                   "cores": 2, "tests_per_s": 1800.0, "submissions_per_s": 360.0}),
            json!({"phase": "runner-overhead", "backend": "wasmtime", "in_process_us": 100.0,
                   "runner_us": 125.0, "ratio": 1.25, "unlocked_runner_us": 120.0,
                   "round_trip_us": 12.0}),
            json!({"phase": "runner-overhead", "backend": "wasmer", "in_process_us": 100.0,
                   "runner_us": 150.0, "ratio": 1.5, "unlocked_runner_us": 140.0,
                   "round_trip_us": 12.0}),
        ];
        let mut out = String::new();
        section(&mut out, &lines);
        assert!(out.contains("| 2 | 1800 | 360 | 1.80× |"), "{out}");
        assert!(
            out.contains(
                "| wasmtime | 100.0 µs | 125.0 µs | 1.25× | ≤ 1.3× | met | 120.0 µs | 12.0 µs |"
            ),
            "{out}"
        );
        assert!(out.contains("| wasmer | 100.0 µs | 150.0 µs | 1.50× | ≤ 1.3× | **not met** |"));
        let mut empty = String::new();
        section(&mut empty, &[]);
        assert!(empty.is_empty());
    }
}
