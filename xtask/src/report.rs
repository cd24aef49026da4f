//! The bench report: criterion's estimates side by side per engine, checked against the
//! targets of the design (`/work/shared/design.md`, "Performance the benches must show"),
//! as markdown (`bench/REPORT.md`) and as a log-scale bar chart (`bench/report.svg`).
//!
//! Criterion writes, per benchmark, `<criterion dir>/<group>/<function>/<value>/new/`
//! `benchmark.json` (the ids) and `estimates.json` (statistics in nanoseconds); the report
//! reads both, so it does not depend on how criterion escapes directory names.

use anyhow::{bail, Context};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::SystemTime;

/// The phases, in report order: criterion group, title.
pub const PHASES: [(&str, &str); 10] = [
    ("compile", "Compile (bytes to a compiled module)"),
    (
        "instantiate",
        "Instantiate a small module from a compiled module",
    ),
    ("call", "Call a trivial export on a live instance"),
    (
        "run-export",
        "Run a trivial export in a fresh instance (instantiate + call, one `execute`)",
    ),
    (
        "cache-load",
        "Load a compiled module: from the disk cache (a new sandbox, as in a new process) and from an AOT artifact",
    ),
    (
        "wasi-hello",
        "WASI hello-world end to end (fresh instance, stdout captured)",
    ),
    ("judge-1000", "Judge: 1,000 trivial test cases"),
    (
        "kernel",
        "C kernels (-O2): fuel off, time limit on; native beside",
    ),
    ("kernel-fuel", "C kernels: fuel metering on"),
    (
        "kernel-no-interrupt",
        "C kernels: fuel off, time limit off (no epoch / watchdog)",
    ),
];

/// One benchmark's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// Median time per iteration, in nanoseconds.
    pub median_ns: f64,
    /// Median absolute deviation, in nanoseconds: the spread.
    pub mad_ns: f64,
    /// Elements or bytes processed per iteration, if the group declared a throughput.
    pub throughput: Option<Throughput>,
}

/// What one iteration processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Throughput {
    /// Bytes of input (compile: bytes of wasm).
    Bytes(u64),
    /// Elements (judge: test cases).
    Elements(u64),
}

/// A benchmark's identity: group, backend (`wasmtime`, `wasmer`, `native`) and the rest of
/// its id (`add.wat`, `pooling/add.wat`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BenchId {
    /// Criterion group (the phase).
    pub group: String,
    /// The engine, or `native`.
    pub backend: String,
    /// The fixture, with any variant before it.
    pub case: String,
}

/// Every estimate found.
pub type Results = BTreeMap<BenchId, Estimate>;

/// Parses `estimates.json`: the median and the median absolute deviation.
pub fn parse_estimates(json: &str) -> anyhow::Result<(f64, f64)> {
    let value: Value = serde_json::from_str(json).context("estimates.json is not JSON")?;
    let point = |name: &str| {
        value[name]["point_estimate"]
            .as_f64()
            .with_context(|| format!("estimates.json has no {name}.point_estimate"))
    };
    let median = point("median")?;
    let mad = point("median_abs_dev")?;
    if !median.is_finite() || median <= 0.0 || !mad.is_finite() || mad < 0.0 {
        bail!("estimates.json has a median of {median} and a spread of {mad}");
    }
    Ok((median, mad))
}

/// Parses `benchmark.json`: the id split as `{backend}/{case}`, and the throughput.
pub fn parse_benchmark(json: &str) -> anyhow::Result<(BenchId, Option<Throughput>)> {
    let value: Value = serde_json::from_str(json).context("benchmark.json is not JSON")?;
    let group = value["group_id"]
        .as_str()
        .context("benchmark.json has no group_id")?;
    let function = value["function_id"].as_str().unwrap_or("");
    let parameter = value["value_str"].as_str().unwrap_or("");
    let full = [function, parameter]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("/");
    let (backend, case) = full
        .split_once('/')
        .with_context(|| format!("benchmark id {full:?} is not backend/fixture"))?;
    let throughput = match &value["throughput"] {
        Value::Object(map) => match (map.get("Bytes"), map.get("Elements")) {
            (Some(bytes), _) => bytes.as_u64().map(Throughput::Bytes),
            (None, Some(elements)) => elements.as_u64().map(Throughput::Elements),
            _ => None,
        },
        _ => None,
    };
    Ok((
        BenchId {
            group: group.to_string(),
            backend: backend.to_string(),
            case: case.to_string(),
        },
        throughput,
    ))
}

/// Reads every `new/benchmark.json` + `new/estimates.json` pair under `dir`. With `since`,
/// only results written at or after it (this run's), so stale benchmarks do not leak in.
pub fn collect(dir: &Path, since: Option<SystemTime>) -> anyhow::Result<Results> {
    let mut results = Results::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|name| name == "new") {
                let estimates = path.join("estimates.json");
                let benchmark = path.join("benchmark.json");
                if !estimates.is_file() || !benchmark.is_file() {
                    continue;
                }
                let fresh = since.is_none_or(|since| {
                    std::fs::metadata(&estimates)
                        .and_then(|meta| meta.modified())
                        .is_ok_and(|modified| modified >= since)
                });
                if !fresh {
                    continue;
                }
                let read = |path: &Path| {
                    std::fs::read_to_string(path)
                        .with_context(|| format!("cannot read {}", path.display()))
                };
                let (id, throughput) = parse_benchmark(&read(&benchmark)?)
                    .with_context(|| format!("in {}", benchmark.display()))?;
                let (median_ns, mad_ns) = parse_estimates(&read(&estimates)?)
                    .with_context(|| format!("in {}", estimates.display()))?;
                results.insert(
                    id,
                    Estimate {
                        median_ns,
                        mad_ns,
                        throughput,
                    },
                );
            } else if path.file_name().is_none_or(|name| name != "report") {
                stack.push(path);
            }
        }
    }
    Ok(results)
}

/// Resident memory per live instance, from the `instance-memory` binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceMemory {
    /// `wasmtime` or `wasmer`.
    pub backend: String,
    /// `on_demand` or `pooling`.
    pub allocation: String,
    /// Live instances measured.
    pub instances: u64,
    /// Resident-set growth divided by the instances.
    pub bytes_per_instance: u64,
}

impl InstanceMemory {
    /// The line `instance-memory` prints for this result (the fields the report uses).
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "backend": self.backend,
            "allocation": self.allocation,
            "instances": self.instances,
            "bytes_per_instance": self.bytes_per_instance,
        })
        .to_string()
    }
}

/// Parses one line of `instance-memory` output.
pub fn parse_instance_memory(line: &str) -> anyhow::Result<InstanceMemory> {
    let value: Value = serde_json::from_str(line.trim())
        .with_context(|| format!("instance-memory printed {line:?}"))?;
    let text = |name: &str| {
        value[name]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("instance-memory output has no {name}"))
    };
    let number = |name: &str| {
        value[name]
            .as_u64()
            .with_context(|| format!("instance-memory output has no {name}"))
    };
    Ok(InstanceMemory {
        backend: text("backend")?,
        allocation: text("allocation")?,
        instances: number("instances")?,
        bytes_per_instance: number("bytes_per_instance")?,
    })
}

/// The machine a report was measured on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Logical CPUs available to the process.
    pub cores: usize,
    /// Total memory, human-readable.
    pub memory: String,
    /// Operating system and kernel release.
    pub kernel: String,
    /// `rustc --version`.
    pub rustc: String,
    /// UTC date, `YYYY-MM-DD`.
    pub date: String,
}

impl Machine {
    /// Describes this machine (fields it cannot find say `unknown`).
    pub fn detect() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let rustc = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
            .arg("--version")
            .output()
            .ok()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|s| !s.is_empty());
        let days = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / 86_400);
        Machine {
            cpu: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory: mem_total(&meminfo).map_or("unknown".into(), |kib| {
                format!("{:.1} GiB", kib as f64 / (1024.0 * 1024.0))
            }),
            kernel: format!(
                "{} {}",
                std::env::consts::OS,
                if release.trim().is_empty() {
                    "unknown"
                } else {
                    release.trim()
                }
            ),
            rustc: rustc.unwrap_or_else(|| "unknown".into()),
            date: civil_date(days),
        }
    }
}

/// The `model name` of the first CPU in `/proc/cpuinfo`.
pub fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    })
}

/// `MemTotal` of `/proc/meminfo`, in KiB.
pub fn mem_total(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|line| {
        let rest = line.strip_prefix("MemTotal:")?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// `YYYY-MM-DD` of a day count since 1970-01-01 (proleptic Gregorian calendar).
pub fn civil_date(days_since_epoch: u64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let z = days_since_epoch as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// A duration in nanoseconds, human-readable with three significant digits.
pub fn format_ns(ns: f64) -> String {
    let (value, unit) = if ns < 1e3 {
        (ns, "ns")
    } else if ns < 1e6 {
        (ns / 1e3, "µs")
    } else if ns < 1e9 {
        (ns / 1e6, "ms")
    } else {
        (ns / 1e9, "s")
    };
    let digits = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.digits$} {unit}")
}

/// A byte count, human-readable.
pub fn format_bytes(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

/// What a target bounds, and how the measured value is derived.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Goal {
    /// Median time of `group/backend/case` at most this many nanoseconds.
    TimeAtMost(f64),
    /// Elements per second (from the median and the throughput) at least this.
    RateAtLeast(f64),
    /// Geometric mean over the kernels of `group / base group`, minus 1, at most this.
    OverheadAtMost(f64),
    /// Geometric mean over the kernels of `group / native`, at most this.
    RatioToNativeAtMost(f64),
    /// Geometric mean over the kernels of `group / base group` on the same engine, at most
    /// this (Mini's kernels against the C ones).
    RatioAtMost(f64),
    /// The same ratio, shown without a goal.
    RatioShown,
    /// Median time of `group/sandbox-lang/case` (Mini's compiler: no engine involved) below
    /// this many nanoseconds.
    CompilerTimeBelow(f64),
    /// Not applicable to this engine.
    Pending,
}

/// One target of the design, per engine.
struct Target {
    what: &'static str,
    group: &'static str,
    /// The case (`add.wat`; kernels use `*`), for wasmtime and for wasmer (`None`: not
    /// applicable to that engine).
    cases: [Option<&'static str>; 2],
    /// The comparison group for overheads.
    base: &'static str,
    goals: [Goal; 2],
    /// Why the target is missed, when it is, per engine.
    causes: [&'static str; 2],
}

const ENGINES: [&str; 2] = ["wasmtime", "wasmer"];

const TARGETS: [Target; 13] = [
    Target {
        what: "WASI hello-world, compiled module in memory, fresh instance, stdout captured",
        group: "wasi-hello",
        cases: [Some("hello_world.wasm"), Some("hello_world.wasm")],
        base: "",
        goals: [Goal::TimeAtMost(50e3), Goal::TimeAtMost(250e3)],
        causes: [
            "each run builds a WASI context (wasmtime-wasi's `WasiCtx`: stdio pipes, the \
             environment, the preopen table) and maps a fresh 128 KiB linear memory; \
             wasi-libc's start-up then makes ~10 WASI calls through it",
            "wasmer-wasix builds a whole `WasiEnv` per instance (virtual filesystem, process \
             and thread tables, its Tokio task manager) and its syscalls go through async \
             machinery; that set-up dominates the run",
        ],
    },
    Target {
        what: "instantiate a small module from a compiled module",
        group: "instantiate",
        cases: [Some("add.wat"), Some("add.wat")],
        base: "",
        goals: [Goal::TimeAtMost(10e3), Goal::TimeAtMost(100e3)],
        causes: [
            "on demand, every instance maps and unmaps its memory (`mmap`/`mprotect`/`munmap`, \
             with the kernel's page-table lock) and builds a `Store` with the limiter and the \
             epoch deadline; the pooling allocator (next row) removes the mappings",
            "wasmer builds a `Store`, per-run `Tunables` and the metering globals and maps \
             each memory on its own",
        ],
    },
    Target {
        what: "instantiate a small module, wasmtime pooling allocator",
        group: "instantiate",
        cases: [Some("pooling/add.wat"), None],
        base: "",
        goals: [Goal::TimeAtMost(10e3), Goal::Pending],
        causes: [
            "with a pool, what remains is the `Store` (limiter, epoch callback) and the \
             sandbox's per-instance set-up (import check, output buffers)",
            "",
        ],
    },
    Target {
        what: "call a trivial export on a live instance (fast path: `export_func` once, \
               `call_func` with the values in arrays)",
        group: "call",
        cases: [Some("fast/add.wat"), Some("fast/add.wat")],
        base: "",
        goals: [Goal::TimeAtMost(100.0), Goal::TimeAtMost(300.0)],
        causes: [
            "wasmtime's own host-to-wasm call (~30 ns: the trap handler's set-up, the \
             store's context switch) plus the sandbox's limits: two readings of the \
             time-stamp counter (start, end), the fuel counter read before and after, the \
             epoch deadline armed, the cancel flag and the native-stack check",
            "wasmer's typed call path (its interrupt registration, a `DashMap` entry taken and \
             released per call under `experimental-host-interrupt`, and its trap-handler and \
             store-context set-up) plus the sandbox's watchdog registration (a mutex, twice) \
             and the fuel counter read through wasmer's dynamic `Global` API",
        ],
    },
    Target {
        what: "call a trivial export by name (`call`: lookup, `Vec`s of values, the report \
               with the captured output)",
        group: "call",
        cases: [Some("add.wat"), Some("add.wat")],
        base: "",
        goals: [Goal::TimeAtMost(100.0), Goal::TimeAtMost(300.0)],
        causes: [
            "the general path's own work around the fast path's: the export looked up by name \
             (a hash of the name), the arguments checked and boxed into wasmtime's `Val`s, two \
             `Vec`s, and an `ExecutionResult` with its output buffers taken (two mutexes) and \
             its denials; use the fast path for hot loops",
            "the same general-path work, and wasmer's dynamic `Function::call` (a `Vec` of \
             `Value`s in, a boxed slice out); use the fast path for hot loops",
        ],
    },
    Target {
        what: "load a ≤ 100 KiB module from the disk cache",
        group: "cache-load",
        cases: [Some("disk/sum.wasm"), Some("disk/sum.wasm")],
        base: "",
        goals: [Goal::TimeAtMost(200e3), Goal::TimeAtMost(1e6)],
        causes: [
            "reading and hashing the entry (SHA-256 of the module and of the artifact), \
             reading the module's interface, and wasmtime's deserialisation (mapping the code \
             and applying relocations)",
            "reading and hashing the entry, and wasmer's deserialisation of its archive",
        ],
    },
    Target {
        what: "judge: trivial test cases per second per core (WASI)",
        group: "judge-1000",
        cases: [Some("accepted.wasm"), Some("accepted.wasm")],
        base: "",
        goals: [Goal::RateAtLeast(20_000.0), Goal::RateAtLeast(4_000.0)],
        causes: [
            "a judged test is a WASI run (see the hello-world row) plus grading; the \
             instantiation and WASI set-up of every test are the cost",
            "a judged test is a WASI run: wasmer-wasix's per-instance environment dominates",
        ],
    },
    Target {
        what: "judge: trivial test cases per second per core (function mode)",
        group: "judge-1000",
        cases: [Some("solve.wat"), Some("solve.wat")],
        base: "",
        goals: [Goal::RateAtLeast(20_000.0), Goal::RateAtLeast(4_000.0)],
        causes: [
            "instantiation per test (see the instantiate row) and parsing/formatting values",
            "instantiation per test (see the instantiate row)",
        ],
    },
    Target {
        what: "fuel metering overhead on compute kernels (geometric mean)",
        group: "kernel-fuel",
        cases: [Some("*"), Some("*")],
        base: "kernel",
        goals: [Goal::OverheadAtMost(0.25), Goal::OverheadAtMost(0.35)],
        causes: [
            "cranelift keeps the fuel counter in memory (`VMStoreContext`) and checks it at \
             every loop header and function entry; call-heavy kernels (fib) pay it per call",
            "the sandbox's metering middleware charges each basic block to a wasm global and \
             branches on it; singlepass keeps nothing in registers, so every charge is a \
             load, a subtract, a store and a compare",
        ],
    },
    Target {
        what: "compute kernel (C, -O2) vs the same C native (geometric mean)",
        group: "kernel",
        cases: [Some("*"), Some("*")],
        base: "native",
        goals: [
            Goal::RatioToNativeAtMost(1.5),
            Goal::RatioToNativeAtMost(4.0),
        ],
        causes: [
            "mostly the wall-clock limit: the epoch check cranelift puts in every loop header \
             (a load from the store context and a compare) keeps tight loops from being \
             optimised (compare the next row, the same kernels without it); the rest is \
             calls (fib: the native compiler unrolls the recursion) and less aggressive \
             optimisation than the native compiler (no auto-vectorisation)",
            "singlepass compiles each operator on its own: no register allocation across \
             operators, no instruction selection, no loop optimisations",
        ],
    },
    Target {
        what: "compute kernel vs native, time limit off (no epoch checks / watchdog)",
        group: "kernel-no-interrupt",
        cases: [Some("*"), Some("*")],
        base: "native",
        goals: [
            Goal::RatioToNativeAtMost(1.5),
            Goal::RatioToNativeAtMost(4.0),
        ],
        causes: [
            "calls (fib: the native compiler unrolls the recursion) and less aggressive \
             optimisation than the native compiler (no auto-vectorisation)",
            "singlepass compiles each operator on its own: no register allocation across \
             operators, no instruction selection, no loop optimisations",
        ],
    },
    Target {
        what: "Mini kernels vs the same kernels in C (-O2) on the same engine (geometric mean; \
               the goal is wasmtime's)",
        group: "mini-kernel",
        cases: [Some("*"), Some("*")],
        base: "kernel",
        goals: [Goal::RatioAtMost(2.0), Goal::RatioShown],
        causes: [MINI_KERNEL_CAUSE, ""],
    },
    Target {
        what: "compile a 1,000-line Mini program (`sandbox_lang::compile`, source to module \
               bytes; no engine, one figure)",
        group: "mini-compile",
        cases: [Some(MINI_COMPILE_CASE), None],
        base: "",
        goals: [Goal::CompilerTimeBelow(5e6), Goal::Pending],
        causes: [
            "nearly all of it is the type checker finding each expression's line for runtime \
             errors (`Checker::line` in `sandbox-lang/src/check.rs` calls \
             `diagnostic::line_column`, which counts the newlines from the start of the source \
             every time): quadratic in the program's size. Parsing takes under 1 ms and code \
             generation about 0.3 ms of it; the newlines' offsets computed once and searched by \
             bisection would bring the whole compile near 2 ms",
            "",
        ],
    },
];

/// Why Mini's kernels would miss their goal against C on wasmtime (the report prints it only
/// when they do).
const MINI_KERNEL_CAUSE: &str = "Mini checks every array index (a load of the length, a \
     compare and a branch per access, which cranelift cannot hoist out of loops), stores every \
     element in 8 bytes (`[bool]` included: 8× the sieve's memory traffic), and has no bitwise \
     operators (hash emulates xor with table lookups); see the Mini section";

/// The case of the `mini-compile` group (`sandbox-lang/{case}`).
const MINI_COMPILE_CASE: &str = "1000-lines";

/// Geometric mean of the per-kernel ratios `group / base` for `backend` (the base is
/// `native/{kernel}` when `base` is `native`).
fn kernel_ratio(results: &Results, group: &str, base: &str, backend: &str) -> Option<f64> {
    let mut logs = Vec::new();
    for (id, estimate) in results {
        if id.group != group || id.backend != backend {
            continue;
        }
        let base_id = if base == "native" {
            // The native builds run once, in the `kernel` group.
            BenchId {
                group: "kernel".to_string(),
                backend: "native".into(),
                case: id.case.clone(),
            }
        } else {
            BenchId {
                group: base.to_string(),
                backend: backend.to_string(),
                case: id.case.clone(),
            }
        };
        if let Some(base_estimate) = results.get(&base_id) {
            logs.push((estimate.median_ns / base_estimate.median_ns).ln());
        }
    }
    (!logs.is_empty()).then(|| (logs.iter().sum::<f64>() / logs.len() as f64).exp())
}

/// Elements per second of a benchmark with an element throughput.
fn rate(estimate: &Estimate) -> Option<f64> {
    match estimate.throughput {
        Some(Throughput::Elements(n)) => Some(n as f64 / (estimate.median_ns / 1e9)),
        _ => None,
    }
}

/// One cell of the targets table: measured value, target, verdict, and the cause if missed.
struct Verdict {
    measured: String,
    target: String,
    met: Option<bool>,
    gap: String,
}

fn evaluate(target: &Target, engine: usize, results: &Results) -> Verdict {
    let backend = ENGINES[engine];
    let Some(case) = target.cases[engine] else {
        return Verdict {
            measured: "n/a".into(),
            target: "—".into(),
            met: None,
            gap: String::new(),
        };
    };
    let id = BenchId {
        group: target.group.into(),
        backend: backend.into(),
        case: case.into(),
    };
    let missing = |target: String| Verdict {
        measured: "not measured".into(),
        target,
        met: None,
        gap: String::new(),
    };
    match target.goals[engine] {
        Goal::Pending => Verdict {
            measured: "n/a".into(),
            target: "—".into(),
            met: None,
            gap: String::new(),
        },
        Goal::TimeAtMost(limit) => {
            let text = format!("≤ {}", format_ns(limit));
            let Some(estimate) = results.get(&id) else {
                return missing(text);
            };
            let met = estimate.median_ns <= limit;
            Verdict {
                measured: format!(
                    "{} ± {}",
                    format_ns(estimate.median_ns),
                    format_ns(estimate.mad_ns)
                ),
                target: text,
                met: Some(met),
                gap: format!("{:.1}× the target", estimate.median_ns / limit),
            }
        }
        Goal::RateAtLeast(floor) => {
            let text = format!("≥ {floor:.0}/s");
            let Some(per_second) = results.get(&id).and_then(rate) else {
                return missing(text);
            };
            Verdict {
                measured: format!("{per_second:.0}/s"),
                target: text,
                met: Some(per_second >= floor),
                gap: format!("{:.0}% of the target", 100.0 * per_second / floor),
            }
        }
        Goal::OverheadAtMost(limit) => {
            let text = format!("≤ {:.0} %", limit * 100.0);
            let Some(ratio) = kernel_ratio(results, target.group, target.base, backend) else {
                return missing(text);
            };
            let overhead = ratio - 1.0;
            Verdict {
                measured: format!("{:+.0} %", overhead * 100.0),
                target: text,
                met: Some(overhead <= limit),
                gap: format!("{:+.0} % against {:.0} %", overhead * 100.0, limit * 100.0),
            }
        }
        Goal::RatioAtMost(limit) => {
            let text = format!("≤ {limit:.1}×");
            let Some(ratio) = kernel_ratio(results, target.group, target.base, backend) else {
                return missing(text);
            };
            Verdict {
                measured: format!("{ratio:.2}×"),
                target: text,
                met: Some(ratio <= limit),
                gap: format!(
                    "{ratio:.2}× the `{}` group against {limit:.1}×",
                    target.base
                ),
            }
        }
        Goal::RatioShown => {
            let Some(ratio) = kernel_ratio(results, target.group, target.base, backend) else {
                return missing("—".into());
            };
            Verdict {
                measured: format!("{ratio:.2}×"),
                target: "—".into(),
                met: None,
                gap: String::new(),
            }
        }
        Goal::CompilerTimeBelow(limit) => {
            let text = format!("< {}", format_ns(limit));
            let compiler = BenchId {
                backend: "sandbox-lang".into(),
                ..id
            };
            let Some(estimate) = results.get(&compiler) else {
                return missing(text);
            };
            Verdict {
                measured: format!(
                    "{} ± {}",
                    format_ns(estimate.median_ns),
                    format_ns(estimate.mad_ns)
                ),
                target: text,
                met: Some(estimate.median_ns < limit),
                gap: format!("{:.1}× the target", estimate.median_ns / limit),
            }
        }
        Goal::RatioToNativeAtMost(limit) => {
            let text = format!("≤ {limit:.1}×");
            let Some(ratio) = kernel_ratio(results, target.group, target.base, backend) else {
                return missing(text);
            };
            Verdict {
                measured: format!("{ratio:.2}×"),
                target: text,
                met: Some(ratio <= limit),
                gap: format!("{ratio:.2}× native against {limit:.1}×"),
            }
        }
    }
}

fn met_mark(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "—",
    }
}

/// Everything a report is made of.
pub struct Report<'a> {
    /// The criterion estimates.
    pub results: &'a Results,
    /// Resident memory per instance, per engine and allocation.
    pub memory: &'a [InstanceMemory],
    /// Where it ran.
    pub machine: &'a Machine,
    /// Whether the run was `--quick`.
    pub quick: bool,
    /// The same work measured through the Python package.
    pub python: &'a [crate::python_report::HostRun],
    /// The call measured from C.
    pub c: &'a [crate::python_report::HostRun],
    /// The scale probes' tagged lines (`scale_report`).
    pub scale: &'a [String],
}

/// The markdown report.
pub fn markdown(report: &Report<'_>) -> String {
    let Report {
        results,
        memory,
        machine,
        quick,
        python,
        c,
        scale,
    } = report;
    let mut out = String::new();
    out.push_str("# Bench report\n\n");
    out.push_str(
        "Generated by `cargo xtask bench` from criterion's estimates (`sandbox-bench`); do not \
         edit by hand. Times are medians ± the median absolute deviation. \
         [report.svg](report.svg) charts the same numbers.\n\n",
    );
    let _ = writeln!(
        out,
        "**Machine:** {} ({} logical CPUs), {} memory, {}; {}; {}.{}\n",
        machine.cpu,
        machine.cores,
        machine.memory,
        machine.kernel,
        machine.rustc,
        machine.date,
        if *quick {
            " Run with `--quick` (short measurements): indicative only."
        } else {
            ""
        }
    );

    out.push_str("## Targets (design.md, \"Performance the benches must show\")\n\n");
    out.push_str("| what | wasmtime | target | | wasmer | target | |\n");
    out.push_str("|---|---|---|---|---|---|---|\n");
    let mut gaps = Vec::new();
    for target in &TARGETS {
        let cells: Vec<Verdict> = (0..2).map(|e| evaluate(target, e, results)).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            target.what,
            cells[0].measured,
            cells[0].target,
            met_mark(cells[0].met),
            cells[1].measured,
            cells[1].target,
            met_mark(cells[1].met),
        );
        for (engine, cell) in cells.iter().enumerate() {
            if cell.met == Some(false) {
                // Mini's compiler runs on no engine: the row has one figure.
                let whose = match target.goals[engine] {
                    Goal::CompilerTimeBelow(_) => String::new(),
                    _ => format!(", {}", ENGINES[engine]),
                };
                gaps.push(format!(
                    "- **{}{whose}**: {} — {}.",
                    target.what, cell.gap, target.causes[engine]
                ));
            }
        }
    }
    out.push('\n');
    if !gaps.is_empty() {
        out.push_str("### Targets not met: the gap and its cause\n\n");
        for gap in &gaps {
            out.push_str(gap);
            out.push('\n');
        }
        out.push('\n');
    }

    out.push_str("## Every phase\n\n");
    for (group, title) in PHASES {
        let rows = cases(results, group);
        if rows.is_empty() {
            continue;
        }
        let native = results
            .keys()
            .any(|id| id.group == group && id.backend == "native");
        let _ = writeln!(out, "### {title} (`{group}`)\n");
        let mut header = String::from("| case |");
        let mut rule = String::from("|---|");
        if native {
            header.push_str(" native |");
            rule.push_str("---|");
        }
        header.push_str(" wasmtime | wasmer |");
        rule.push_str("---|---|");
        let extra = match group {
            "compile" => Some("wasmtime MiB/s | wasmer MiB/s |"),
            "judge-1000" => Some("wasmtime tests/s | wasmer tests/s |"),
            "cache-load" => Some("wasmtime vs compiling | wasmer vs compiling |"),
            "kernel" => Some("wasmtime / native | wasmer / native |"),
            "kernel-fuel" => Some("wasmtime vs `kernel` | wasmer vs `kernel` |"),
            "kernel-no-interrupt" => {
                Some("wasmtime: cost of the time limit | wasmer: cost of the time limit |")
            }
            _ => None,
        };
        if let Some(extra) = extra {
            header.push(' ');
            header.push_str(extra);
            rule.push_str("---|---|");
        }
        let _ = writeln!(out, "{header}\n{rule}");
        for case in rows {
            let cell = |backend: &str| {
                results
                    .get(&BenchId {
                        group: group.into(),
                        backend: backend.into(),
                        case: case.clone(),
                    })
                    .map_or("—".to_string(), |e| {
                        format!("{} ± {}", format_ns(e.median_ns), format_ns(e.mad_ns))
                    })
            };
            let mut line = format!("| {case} |");
            if native {
                let _ = write!(line, " {} |", cell("native"));
            }
            let _ = write!(line, " {} | {} |", cell("wasmtime"), cell("wasmer"));
            if extra.is_some() {
                for backend in ENGINES {
                    let _ = write!(line, " {} |", derived(results, group, backend, &case));
                }
            }
            out.push_str(&line);
            out.push('\n');
        }
        out.push('\n');
    }
    out.push_str(&mini_section(results));
    out.push_str(&crate::python_report::section(results, python));
    out.push_str(&crate::c_report::section(results, c));
    match crate::scale_report::section(scale) {
        Ok(text) => out.push_str(&text),
        Err(err) => {
            let _ = writeln!(
                out,
                "The scale probes' results could not be read: {err:#}\n"
            );
        }
    }
    out.push_str("## Host memory per live instance\n\n");
    if memory.is_empty() {
        out.push_str("Not measured in this run.\n");
    } else {
        out.push_str(
            "Resident-set growth of a process holding N live instances of `counter.wat` (one \
             64 KiB page, written once), divided by N (`sandbox-bench`'s `instance-memory`).\n\n\
             | engine | allocation | instances | per instance |\n|---|---|---|---|\n",
        );
        for m in *memory {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} |",
                m.backend,
                m.allocation,
                m.instances,
                format_bytes(m.bytes_per_instance)
            );
        }
    }
    out
}

/// The Mini section: each kernel in Mini beside the same kernel in C on each engine, with
/// the ratio, and the compile time of the generated 1,000-line program.
fn mini_section(results: &Results) -> String {
    let mut out = String::from("## Mini (`sandbox-lang`)\n\n");
    let kernels = cases(results, "mini-kernel");
    let compile = results.get(&BenchId {
        group: "mini-compile".into(),
        backend: "sandbox-lang".into(),
        case: MINI_COMPILE_CASE.into(),
    });
    if kernels.is_empty() && compile.is_none() {
        out.push_str("Not measured in this run.\n\n");
        return out;
    }
    if !kernels.is_empty() {
        out.push_str(
            "The C kernels written in Mini (`sandbox-bench/kernels/mini/*.mini`: the same \
             algorithms and results), compiled by `sandbox_lang::compile` and called on one live \
             instance with the `kernel` group's configuration (fuel off, time limit on), beside \
             the C kernels (-O2) on the same engine (`kernel`); `mini-kernel` group. The ratio \
             is Mini / C; the goal is ≤ 2× on wasmtime (geometric mean).\n\n\
             | kernel | Mini, wasmtime | C, wasmtime | Mini / C | Mini, wasmer | C, wasmer | Mini / C |\n\
             |---|---|---|---|---|---|---|\n",
        );
        let get = |group: &str, backend: &str, case: &str| {
            results.get(&BenchId {
                group: group.into(),
                backend: backend.into(),
                case: case.into(),
            })
        };
        let time = |estimate: Option<&Estimate>| {
            estimate.map_or("—".to_string(), |e| {
                format!("{} ± {}", format_ns(e.median_ns), format_ns(e.mad_ns))
            })
        };
        for case in &kernels {
            let mut line = format!("| {case} |");
            for backend in ENGINES {
                let mini = get("mini-kernel", backend, case);
                let c = get("kernel", backend, case);
                let ratio = match (mini, c) {
                    (Some(mini), Some(c)) => format!("{:.2}×", mini.median_ns / c.median_ns),
                    _ => "—".into(),
                };
                let _ = write!(line, " {} | {} | {ratio} |", time(mini), time(c));
            }
            out.push_str(&line);
            out.push('\n');
        }
        let mean = |backend: &str| {
            kernel_ratio(results, "mini-kernel", "kernel", backend)
                .map_or("—".into(), |ratio| format!("**{ratio:.2}×**"))
        };
        let _ = writeln!(
            out,
            "| geometric mean | | | {} | | | {} |",
            mean("wasmtime"),
            mean("wasmer")
        );
        out.push_str(
            "\nWhat the Mini code pays for, against clang's: every element access is \
             bounds-checked (a compare with the length, kept in a local, and a branch), every \
             element takes 8 bytes (`[bool]` too; the C sieve's flags are bytes), and more values \
             live across each loop header's epoch check (an array's address and its length), \
             which cranelift keeps on the stack. Per kernel: `fib` makes both recursive calls, \
             where clang turns one of them into a loop; `matmul` checks two indexes per \
             multiply-add (the read and the write of `c` share one) where clang unrolls by two; `hash` is FNV-1a \
             without xor, since Mini has no bitwise operators: each byte's xor is two lookups in \
             16 × 16 tables and the next low byte three more, a chain of two dependent loads per \
             byte against clang's xor and multiply. On wasmer (singlepass) each of these extra \
             operations costs a load and a store more.\n",
        );
        out.push('\n');
    }
    match compile {
        Some(estimate) => {
            let lines = match estimate.throughput {
                Some(Throughput::Elements(lines)) => format!("{lines} lines"),
                _ => "1,000 lines".into(),
            };
            let _ = writeln!(
                out,
                "Compiling a generated program of {lines} (`sandbox_bench::mini_program`: \
                 functions with loops, branches, arrays of the three types, arithmetic and \
                 calls) with `sandbox_lang::compile`, source text to module bytes \
                 (`mini-compile`): {} ± {} (goal < 5 ms){}.\n",
                format_ns(estimate.median_ns),
                format_ns(estimate.mad_ns),
                rate(estimate).map_or(String::new(), |r| format!(", {r:.0} lines/s")),
            );
        }
        None => out.push_str("The compile time was not measured in this run.\n\n"),
    }
    out
}

/// The cases of a group, in a stable order (plain fixtures before variants).
fn cases(results: &Results, group: &str) -> Vec<String> {
    let mut cases: Vec<String> = results
        .keys()
        .filter(|id| id.group == group)
        .map(|id| id.case.clone())
        .collect();
    cases.sort_by_key(|case| (case.contains('/'), case.clone()));
    cases.dedup();
    cases
}

/// The derived column of a detail row: throughput, or a ratio.
fn derived(results: &Results, group: &str, backend: &str, case: &str) -> String {
    let get = |group: &str, backend: &str| {
        results.get(&BenchId {
            group: group.into(),
            backend: backend.into(),
            case: case.into(),
        })
    };
    let Some(estimate) = get(group, backend) else {
        return "—".into();
    };
    match group {
        "compile" => match estimate.throughput {
            Some(Throughput::Bytes(bytes)) => format!(
                "{:.2}",
                bytes as f64 / (estimate.median_ns / 1e9) / (1024.0 * 1024.0)
            ),
            _ => "—".into(),
        },
        "judge-1000" => rate(estimate).map_or("—".into(), |r| format!("{r:.0}")),
        // Loading from the disk cache or an artifact against compiling the same module: the
        // time a second run in a new process saves.
        "cache-load" => {
            let module = case.split_once('/').map_or(case, |(_, module)| module);
            results
                .get(&BenchId {
                    group: "compile".into(),
                    backend: backend.into(),
                    case: module.into(),
                })
                .map_or("—".into(), |compile| {
                    format!(
                        "saves {} ({:.0}× faster)",
                        format_ns(compile.median_ns - estimate.median_ns),
                        compile.median_ns / estimate.median_ns
                    )
                })
        }
        "kernel" => get("kernel", "native").map_or("—".into(), |native| {
            format!("{:.2}×", estimate.median_ns / native.median_ns)
        }),
        "kernel-fuel" => get("kernel", backend).map_or("—".into(), |base| {
            format!(
                "{:+.0} %",
                (estimate.median_ns / base.median_ns - 1.0) * 100.0
            )
        }),
        "kernel-no-interrupt" => get("kernel", backend).map_or("—".into(), |with| {
            format!(
                "{:+.0} %",
                (with.median_ns / estimate.median_ns - 1.0) * 100.0
            )
        }),
        _ => "—".into(),
    }
}

/// Escapes text for XML.
pub fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The chart: one panel per phase, one horizontal bar per engine and case, on a log scale
/// of time shared by the panel.
pub fn svg(results: &Results, machine: &Machine) -> String {
    const WIDTH: f64 = 960.0;
    const LABEL: f64 = 260.0;
    const BAR_AREA: f64 = WIDTH - LABEL - 110.0;
    const BAR: f64 = 12.0;
    const COLOURS: [(&str, &str); 3] = [
        ("wasmtime", "#3b6fb6"),
        ("wasmer", "#e07b24"),
        ("native", "#7f7f7f"),
    ];
    let mut body = String::new();
    let mut y = 50.0;
    for (group, title) in PHASES {
        let rows = cases(results, group);
        if rows.is_empty() {
            continue;
        }
        let values: Vec<f64> = results
            .iter()
            .filter(|(id, _)| id.group == group)
            .map(|(_, e)| e.median_ns)
            .collect();
        let low = values.iter().copied().fold(f64::INFINITY, f64::min);
        let high = values.iter().copied().fold(0.0, f64::max);
        let (start, end) = (
            low.log10().floor(),
            high.log10().ceil().max(low.log10().floor() + 1.0),
        );
        let x_of = |ns: f64| LABEL + (ns.log10() - start) / (end - start) * BAR_AREA;
        let _ = writeln!(
            body,
            "<text x=\"10\" y=\"{y:.0}\" font-weight=\"bold\">{}</text>",
            xml_escape(title)
        );
        y += 8.0;
        let top = y;
        for case in &rows {
            let bars: Vec<(&str, &str, f64)> = COLOURS
                .iter()
                .filter_map(|(backend, colour)| {
                    results
                        .get(&BenchId {
                            group: group.into(),
                            backend: (*backend).into(),
                            case: case.clone(),
                        })
                        .map(|e| (*backend, *colour, e.median_ns))
                })
                .collect();
            let _ = writeln!(
                body,
                "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"end\">{}</text>",
                LABEL - 8.0,
                y + BAR * bars.len() as f64 / 2.0 + 8.0,
                xml_escape(case)
            );
            for (backend, colour, ns) in bars {
                let width = (x_of(ns) - LABEL).max(1.0);
                let _ = writeln!(
                    body,
                    "<rect x=\"{LABEL:.0}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.0}\" fill=\"{colour}\"><title>{}</title></rect>",
                    y + 2.0,
                    BAR - 1.0,
                    xml_escape(&format!("{group} {backend}/{case}: {}", format_ns(ns)))
                );
                let _ = writeln!(
                    body,
                    "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{}</text>",
                    LABEL + width + 4.0,
                    y + BAR,
                    xml_escape(&format_ns(ns))
                );
                y += BAR;
            }
            y += 6.0;
        }
        // Decade gridlines.
        let mut decade = start;
        while decade <= end {
            let x = x_of(10f64.powf(decade));
            let _ = writeln!(
                body,
                "<line x1=\"{x:.1}\" y1=\"{top:.0}\" x2=\"{x:.1}\" y2=\"{y:.0}\" stroke=\"#ccc\" stroke-dasharray=\"2,2\"/>"
            );
            let _ = writeln!(
                body,
                "<text x=\"{x:.1}\" y=\"{:.0}\" font-size=\"9\" text-anchor=\"middle\" fill=\"#666\">{}</text>",
                y + 10.0,
                xml_escape(&format_ns(10f64.powf(decade)))
            );
            decade += 1.0;
        }
        y += 34.0;
    }
    let mut legend = String::new();
    for (i, (backend, colour)) in COLOURS.iter().enumerate() {
        let x = 10.0 + 110.0 * i as f64;
        let _ = write!(
            legend,
            "<rect x=\"{x:.0}\" y=\"28\" width=\"12\" height=\"10\" fill=\"{colour}\"/><text x=\"{:.0}\" y=\"37\">{backend}</text>",
            x + 16.0
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH:.0}\" height=\"{:.0}\" viewBox=\"0 0 {WIDTH:.0} {:.0}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"10\" y=\"18\" font-size=\"14\" font-weight=\"bold\">{}</text>\n{legend}\n{body}</svg>\n",
        y + 10.0,
        y + 10.0,
        xml_escape(&format!(
            "sandbox benches: median time per iteration, log scale ({}, {} CPUs, {})",
            machine.cpu, machine.cores, machine.date
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESTIMATES: &str = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":10.0,"upper_bound":12.0},"point_estimate":11.0,"standard_error":0.5},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":9.0,"upper_bound":11.0},"point_estimate":10.5,"standard_error":0.4},"median_abs_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":0.1,"upper_bound":0.3},"point_estimate":0.2,"standard_error":0.05},"slope":null,"std_dev":{"confidence_interval":{"confidence_level":0.95,"lower_bound":0.1,"upper_bound":0.9},"point_estimate":0.5,"standard_error":0.1}}"#;

    fn benchmark_json(group: &str, function: &str, value: &str, throughput: &str) -> String {
        format!(
            r#"{{"group_id":"{group}","function_id":"{function}","value_str":"{value}","throughput":{throughput},"full_id":"{group}/{function}/{value}","directory_name":"x","title":"x"}}"#
        )
    }

    fn estimate(ns: f64) -> Estimate {
        Estimate {
            median_ns: ns,
            mad_ns: ns / 100.0,
            throughput: None,
        }
    }

    #[test]
    fn cache_loads_are_compared_with_compiling() {
        let mut results = Results::new();
        results.insert(id("compile", "wasmtime", "sum.wasm"), estimate(10e6));
        results.insert(
            id("cache-load", "wasmtime", "disk/sum.wasm"),
            estimate(100e3),
        );
        assert_eq!(
            derived(&results, "cache-load", "wasmtime", "disk/sum.wasm"),
            "saves 9.90 ms (100× faster)"
        );
        assert_eq!(
            derived(&results, "cache-load", "wasmer", "disk/sum.wasm"),
            "—"
        );
    }

    fn id(group: &str, backend: &str, case: &str) -> BenchId {
        BenchId {
            group: group.into(),
            backend: backend.into(),
            case: case.into(),
        }
    }

    fn machine() -> Machine {
        Machine {
            cpu: "Test CPU <3 & co".into(),
            cores: 2,
            memory: "1.0 GiB".into(),
            kernel: "linux 6.1".into(),
            rustc: "rustc 1.95.0".into(),
            date: "2025-01-02".into(),
        }
    }

    /// A results set where wasmtime meets its targets and wasmer misses some.
    fn sample() -> Results {
        let mut results = Results::new();
        results.insert(id("call", "wasmtime", "add.wat"), estimate(80.0));
        results.insert(id("call", "wasmer", "add.wat"), estimate(900.0));
        results.insert(id("instantiate", "wasmtime", "add.wat"), estimate(20e3));
        results.insert(
            id("instantiate", "wasmtime", "pooling/add.wat"),
            estimate(5e3),
        );
        results.insert(id("instantiate", "wasmer", "add.wat"), estimate(50e3));
        results.insert(
            id("compile", "wasmtime", "add.wat"),
            Estimate {
                throughput: Some(Throughput::Bytes(1024 * 1024)),
                ..estimate(1e9)
            },
        );
        results.insert(
            id("judge-1000", "wasmtime", "accepted.wasm"),
            Estimate {
                throughput: Some(Throughput::Elements(1000)),
                ..estimate(40e6)
            },
        );
        for (kernel, native) in [("fib", 1e6), ("sieve", 2e6)] {
            results.insert(id("kernel", "native", kernel), estimate(native));
            results.insert(id("kernel", "wasmtime", kernel), estimate(native * 1.2));
            results.insert(id("kernel", "wasmer", kernel), estimate(native * 5.0));
            results.insert(
                id("kernel-fuel", "wasmtime", kernel),
                estimate(native * 1.44),
            );
            results.insert(id("kernel-fuel", "wasmer", kernel), estimate(native * 6.0));
        }
        results
    }

    #[test]
    fn mini_kernels_are_compared_with_c_and_the_compile_time_judged() {
        let mut results = Results::new();
        for (kernel, c) in [("fib", 1e6), ("hash", 2e6)] {
            results.insert(id("kernel", "wasmtime", kernel), estimate(c));
            results.insert(id("kernel", "wasmer", kernel), estimate(c * 2.0));
        }
        // Mini: 1.5× and 2.4× C on wasmtime (geometric mean 1.90×), 3× on wasmer.
        results.insert(id("mini-kernel", "wasmtime", "fib"), estimate(1.5e6));
        results.insert(id("mini-kernel", "wasmtime", "hash"), estimate(4.8e6));
        results.insert(id("mini-kernel", "wasmer", "fib"), estimate(6e6));
        results.insert(id("mini-kernel", "wasmer", "hash"), estimate(12e6));
        results.insert(
            id("mini-compile", "sandbox-lang", "1000-lines"),
            Estimate {
                throughput: Some(Throughput::Elements(1000)),
                ..estimate(800e3)
            },
        );
        let text = markdown(&Report {
            results: &results,
            memory: &[],
            machine: &machine(),
            quick: false,
            python: &[],
            c: &[],
            scale: &[],
        });
        assert!(text.contains("the goal is wasmtime's) | 1.90× | ≤ 2.0× | met | 3.00× | — | — |"));
        assert!(text.contains(
            "no engine, one figure) | 800 µs ± 8.00 µs | < 5.00 ms | met | n/a | — | — |"
        ));
        assert!(text.contains("## Mini (`sandbox-lang`)"));
        assert!(text.contains(
            "| hash | 4.80 ms ± 48.0 µs | 2.00 ms ± 20.0 µs | 2.40× | 12.0 ms ± 120 µs | 4.00 ms ± 40.0 µs | 3.00× |"
        ));
        assert!(text.contains("| geometric mean | | | **1.90×** | | | **3.00×** |"));
        assert!(text.contains("program of 1000 lines"));
        assert!(text.contains("800 µs ± 8.00 µs (goal < 5 ms), 1250000 lines/s."));
        // Slower Mini code misses the goal, with its cause; slow compiles too.
        results.insert(id("mini-kernel", "wasmtime", "fib"), estimate(3e6));
        results.insert(
            id("mini-compile", "sandbox-lang", "1000-lines"),
            estimate(6e6),
        );
        let text = markdown(&Report {
            results: &results,
            memory: &[],
            machine: &machine(),
            quick: false,
            python: &[],
            c: &[],
            scale: &[],
        });
        assert!(text.contains("| 2.68× | ≤ 2.0× | **not met** |"));
        assert!(text.contains("2.68× the `kernel` group against 2.0× — Mini checks every"));
        assert!(text.contains("| 6.00 ms ± 60.0 µs | < 5.00 ms | **not met** |"));
        assert!(text.contains("one figure)**: 1.2× the target — nearly all of it"));
        // Nothing measured: the section says so.
        assert!(mini_section(&Results::new()).contains("Not measured in this run."));
    }

    #[test]
    fn estimates_give_the_median_and_its_spread() {
        assert_eq!(parse_estimates(ESTIMATES).unwrap(), (10.5, 0.2));
        assert!(parse_estimates("{}").is_err());
        assert!(parse_estimates("not json").is_err());
        assert!(parse_estimates(
            r#"{"median":{"point_estimate":-1},"median_abs_dev":{"point_estimate":0}}"#
        )
        .is_err());
    }

    #[test]
    fn benchmark_ids_split_into_backend_and_case() {
        let (id, throughput) = parse_benchmark(&benchmark_json(
            "compile",
            "wasmtime",
            "add.wat",
            r#"{"Bytes":42}"#,
        ))
        .unwrap();
        assert_eq!(id, self::id("compile", "wasmtime", "add.wat"));
        assert_eq!(throughput, Some(Throughput::Bytes(42)));
        let (id, throughput) = parse_benchmark(&benchmark_json(
            "judge-1000",
            "wasmtime/jobs-2",
            "accepted.wasm",
            r#"{"Elements":1000}"#,
        ))
        .unwrap();
        assert_eq!(id.case, "jobs-2/accepted.wasm");
        assert_eq!(throughput, Some(Throughput::Elements(1000)));
        let (_, throughput) =
            parse_benchmark(&benchmark_json("call", "wasmer", "add.wat", "null")).unwrap();
        assert_eq!(throughput, None);
        assert!(parse_benchmark(&benchmark_json("call", "wasmer", "", "null")).is_err());
        assert!(parse_benchmark("[]").is_err());
    }

    #[test]
    fn collect_reads_criterion_directories_and_skips_stale_ones() {
        let dir = std::env::temp_dir().join(format!("xtask-report-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let new = dir.join("call/wasmtime/add.wat/new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join("estimates.json"), ESTIMATES).unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            benchmark_json("call", "wasmtime", "add.wat", "null"),
        )
        .unwrap();
        // criterion's own report directory and incomplete results are skipped.
        std::fs::create_dir_all(dir.join("report/new")).unwrap();
        std::fs::create_dir_all(dir.join("call/wasmer/add.wat/new")).unwrap();
        let results = collect(&dir, None).unwrap();
        assert_eq!(results.len(), 1);
        assert_eq!(results[&id("call", "wasmtime", "add.wat")].median_ns, 10.5);
        let future = SystemTime::now() + std::time::Duration::from_secs(3600);
        assert!(collect(&dir, Some(future)).unwrap().is_empty());
        std::fs::write(new.join("estimates.json"), "garbage").unwrap();
        assert!(collect(&dir, None).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn instance_memory_lines_parse() {
        let m = parse_instance_memory(
            r#"{"backend":"wasmer","allocation":"on_demand","instances":1000,"rss_before":1,"rss_after":2,"bytes_per_instance":81920}"#,
        )
        .unwrap();
        assert_eq!(m.backend, "wasmer");
        assert_eq!(m.bytes_per_instance, 81920);
        assert_eq!(parse_instance_memory(&m.to_json()).unwrap(), m);
        assert!(parse_instance_memory("{}").is_err());
        assert!(parse_instance_memory("").is_err());
    }

    #[test]
    fn machine_fields_parse() {
        assert_eq!(
            cpu_model("processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags: x\n").as_deref(),
            Some("AMD EPYC 7B13")
        );
        assert_eq!(cpu_model("nothing"), None);
        assert_eq!(mem_total("MemTotal:       16303984 kB\n"), Some(16_303_984));
        assert_eq!(mem_total("MemFree: 1 kB"), None);
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(19_723), "2024-01-01");
        assert_eq!(civil_date(19_782), "2024-02-29");
        let detected = Machine::detect();
        assert_eq!(detected.date.len(), 10);
    }

    #[test]
    fn formatting() {
        assert_eq!(format_ns(28.4), "28.4 ns");
        assert_eq!(format_ns(8.0), "8.00 ns");
        assert_eq!(format_ns(1_500.0), "1.50 µs");
        assert_eq!(format_ns(250_000.0), "250 µs");
        assert_eq!(format_ns(12_345_678.0), "12.3 ms");
        assert_eq!(format_ns(2e9), "2.00 s");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(81_920), "80.0 KiB");
        assert_eq!(format_bytes(3 << 20), "3.0 MiB");
        assert_eq!(xml_escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;");
    }

    #[test]
    fn targets_are_judged_and_misses_explained() {
        let results = sample();
        let memory = [InstanceMemory {
            backend: "wasmtime".into(),
            allocation: "pooling".into(),
            instances: 1000,
            bytes_per_instance: 70_000,
        }];
        let text = markdown(&Report {
            results: &results,
            memory: &memory,
            machine: &machine(),
            quick: true,
            python: &[],
            c: &[],
            scale: &[],
        });
        assert!(text.contains("Test CPU <3 & co (2 logical CPUs), 1.0 GiB memory, linux 6.1"));
        assert!(text.contains("`--quick`"));
        // call: 80 ns meets ≤ 100 ns; 900 ns misses ≤ 300 ns by 3×, with the cause.
        assert!(text.contains(
            "by name (`call`: lookup, `Vec`s of values, the report with the captured output) | 80.0 ns ± 0.80 ns | ≤ 100 ns | met | 900 ns ± 9.00 ns | ≤ 300 ns | **not met** |"
        ));
        assert!(text.contains("with the captured output), wasmer**: 3.0× the target — "));
        // Instantiation: pooling meets it, on demand does not.
        assert!(text
            .contains("wasmtime pooling allocator | 5.00 µs ± 50.0 ns | ≤ 10.0 µs | met | n/a |"));
        // Judge: 1000 tests in 40 ms = 25,000/s.
        assert!(text.contains("| 25000/s | ≥ 20000/s | met |"));
        // Kernels: 1.2× native, fuel +20 %; wasmer 5× native, +20 %.
        assert!(text.contains("| 1.20× | ≤ 1.5× | met | 5.00× | ≤ 4.0× | **not met** |"));
        assert!(text.contains("| +20 % | ≤ 25 % | met | +20 % | ≤ 35 % | met |"));
        // The disk-cache row, not measured in this fixture, says so with its target.
        assert!(text.contains("from the disk cache | not measured | ≤ 200 µs"));
        // Detail tables: throughput and ratios.
        assert!(text.contains("| add.wat | 1.00 s ± 10.0 ms | — | 1.00 | — |"));
        assert!(text.contains(
            "| fib | 1.00 ms ± 10.0 µs | 1.20 ms ± 12.0 µs | 5.00 ms ± 50.0 µs | 1.20× | 5.00× |"
        ));
        assert!(text.contains("| wasmtime | pooling | 1000 | 68.4 KiB |"));
        // A target with nothing measured says so rather than passing.
        assert!(text.contains("not measured"));
    }

    /// A minimal XML well-formedness check: balanced tags, quoted attributes, known entities.
    fn assert_well_formed(xml: &str) {
        let mut stack: Vec<String> = Vec::new();
        let mut rest = xml;
        while let Some(start) = rest.find('<') {
            let text = &rest[..start];
            check_text(text);
            let end = rest[start..].find('>').expect("unclosed tag") + start;
            let tag = &rest[start + 1..end];
            rest = &rest[end + 1..];
            if tag.starts_with('?') {
                assert!(tag.ends_with('?'), "bad declaration {tag}");
                continue;
            }
            assert_eq!(
                tag.matches('"').count() % 2,
                0,
                "unbalanced quotes in <{tag}>"
            );
            if let Some(name) = tag.strip_prefix('/') {
                assert_eq!(
                    stack.pop().as_deref(),
                    Some(name.trim()),
                    "mismatched </{name}>"
                );
            } else if !tag.ends_with('/') {
                let name = tag.split_whitespace().next().expect("tag name");
                stack.push(name.to_string());
            }
        }
        check_text(rest);
        assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    }

    fn check_text(text: &str) {
        assert!(!text.contains('>'), "stray > in {text:?}");
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;"]
                    .iter()
                    .any(|known| entity.starts_with(known)),
                "bare & in {text:?}"
            );
        }
    }

    #[test]
    fn the_chart_is_well_formed_and_has_a_bar_per_result() {
        let results = sample();
        let chart = svg(&results, &machine());
        assert_well_formed(&chart);
        assert!(chart.starts_with("<?xml"));
        assert_eq!(chart.matches("<rect x=\"260\"").count(), results.len());
        assert!(chart.contains("Test CPU &lt;3 &amp; co"));
        assert!(chart.contains("pooling/add.wat"));
        // An empty result set is still a valid (empty) chart.
        assert_well_formed(&svg(&Results::new(), &machine()));
    }

    #[test]
    fn the_checker_catches_broken_xml() {
        for broken in ["<a><b></a></b>", "<a>", "<a x=\"1></a>", "<a>&</a>"] {
            assert!(
                std::panic::catch_unwind(|| assert_well_formed(broken)).is_err(),
                "{broken}"
            );
        }
    }
}
