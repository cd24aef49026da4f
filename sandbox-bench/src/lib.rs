//! Shared setup for the benches: the fixtures (the conformance suite's files, the bench's own
//! WASI hello-world, the C compute kernels and the same kernels written in Mini), the engines
//! compiled in, the kernels' native builds, how long each group measures, the generated
//! 1,000-line Mini program of the compile bench, and the resident-memory probe of the
//! `instance-memory` binary.

use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use sandbox::WasmValue;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// The bytes of a conformance fixture, as WebAssembly binary.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../conformance-tests/fixtures")
        .join(name);
    let bytes = std::fs::read(&path)
        .unwrap_or_else(|err| panic!("cannot read fixture {}: {err}", path.display()));
    sandbox::compile_wat_to_wasm(bytes).expect("fixtures parse")
}

/// The bytes of a file of this crate (`fixtures/hello_world.wasm`, `kernels/fib.wasm`, ...).
pub fn bench_file(path: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read(&path).unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
}

/// The engines every bench compares.
pub fn runtimes() -> Vec<sandbox::Runtime> {
    sandbox::available_runtimes()
}

/// What `fixtures/hello_world.wasm` prints.
pub const HELLO_WORLD_OUTPUT: &[u8] = b"hello, world\n";

/// Whether the benches run in quick mode (`cargo xtask bench --quick` sets
/// `SANDBOX_BENCH_QUICK`): short measurements for iterating, not for the report of record.
pub fn quick() -> bool {
    std::env::var_os("SANDBOX_BENCH_QUICK").is_some()
}

/// How long one benchmark of a group takes to run once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pace {
    /// Nanoseconds to microseconds per iteration.
    Fast,
    /// Milliseconds per iteration (kernels, a judge run of 1,000 tests).
    Slow,
}

/// Sets a group's warm-up, measurement time and sample count for its pace, shorter in quick
/// mode, so the whole suite stays within the xtask's budget (see `xtask/src/main.rs`).
pub fn pace(group: &mut BenchmarkGroup<'_, WallTime>, pace: Pace) {
    let (warm_up, measure, samples) = match (pace, quick()) {
        (Pace::Fast, false) => (1000, 3000, 50),
        (Pace::Slow, false) => (1000, 4000, 10),
        (Pace::Fast, true) => (200, 500, 20),
        (Pace::Slow, true) => (200, 1000, 10),
    };
    group
        .warm_up_time(Duration::from_millis(warm_up))
        .measurement_time(Duration::from_millis(measure))
        .sample_size(samples);
}

/// A compute kernel: a C function compiled to `kernels/{name}.wasm` (exported as `name`) and
/// natively (as `kernel_{name}`, by `build.rs`), with the arguments the benches call it with.
#[derive(Debug, Clone, Copy)]
pub struct Kernel {
    /// The kernel's name, its export and its file stem.
    pub name: &'static str,
    /// The arguments of a benchmarked call (sized for a millisecond or so natively).
    pub args: &'static [WasmValue],
    native: fn(&[WasmValue]) -> Option<WasmValue>,
}

impl Kernel {
    /// The kernel's WebAssembly module.
    pub fn wasm(&self) -> Vec<u8> {
        bench_file(&format!("kernels/{}.wasm", self.name))
    }

    /// Runs the native build of the kernel on `args`; `None` if they do not fit its signature.
    pub fn run_native(&self, args: &[WasmValue]) -> Option<WasmValue> {
        (self.native)(args)
    }

    /// The kernel written in Mini (`kernels/mini/{name}.mini`): the C kernel's algorithm, its
    /// export of the same name taking and returning `int`s.
    pub fn mini_source(&self) -> String {
        String::from_utf8(bench_file(&format!("kernels/mini/{}.mini", self.name)))
            .unwrap_or_else(|err| panic!("kernels/mini/{}.mini is not UTF-8: {err}", self.name))
    }

    /// The Mini kernel compiled by `sandbox_lang::compile`; panics with the rendered
    /// diagnostics if it does not compile.
    pub fn mini_wasm(&self) -> Vec<u8> {
        let source = self.mini_source();
        sandbox_lang::compile(&source).unwrap_or_else(|errors| {
            let file = format!("{}.mini", self.name);
            panic!(
                "{}",
                errors
                    .iter()
                    .map(|error| error.render(&file, &source))
                    .collect::<String>()
            )
        })
    }

    /// The arguments of a benchmarked call as the Mini kernel takes them: each widened to
    /// `int` (i64).
    pub fn mini_args(&self) -> Vec<WasmValue> {
        self.args
            .iter()
            .map(|arg| match *arg {
                WasmValue::I32(value) => WasmValue::I64(i64::from(value)),
                other => other,
            })
            .collect()
    }
}

/// An integer result as an `i64` (`i32` sign-extended), to compare a C kernel's result with
/// its Mini version's; `None` for any other value.
pub fn integer(value: &WasmValue) -> Option<i64> {
    match *value {
        WasmValue::I32(value) => Some(i64::from(value)),
        WasmValue::I64(value) => Some(value),
        _ => None,
    }
}

/// A Mini program of about `lines` lines (at least one function and `main`), the input of
/// the compile bench: functions with `for` and `while` loops, `if`/`else if`/`else`, `int`,
/// `float` and `bool` arrays, arithmetic, casts and calls of the functions before them,
/// rotating through a few shapes with varied constants (so nothing is a copy of its
/// neighbour), then a `main` that calls the last function of each shape and prints the results.
pub fn mini_program(lines: usize) -> String {
    let mut out = String::from("// Generated by sandbox_bench::mini_program.\n");
    let mut last_of_shape = [None::<usize>; 4];
    let mut index = 0usize;
    // `main` takes 4 + 1 lines per shape.
    let main_lines = 4 + last_of_shape.len();
    while index == 0 || out.lines().count() + main_lines < lines {
        let shape = index % 4;
        let (a, b, c) = (3 + index % 7, 5 + index % 11, 17 + index % 23);
        // Each function calls the one before it, when there is one of the int shapes.
        let call = match index.checked_sub(1).filter(|before| before % 4 != 2) {
            Some(before) => format!("f{before}(n / 2, total % {c})"),
            None => format!("{a}"),
        };
        let function = match shape {
            0 => format!(
                "\n// Sums a mix of multiples, quotients and a running hash.
func f{index}(n: int, seed: int) -> int {{
    let total = seed;
    for k in 0..n {{
        if k % 3 == 0 {{
            total += k * {a};
        }} else if k % 3 == 1 {{
            total -= k / {b} + 1;
        }} else {{
            total = total * 31 + {c};
        }}
    }}
    if total < 0 {{
        total = -total;
    }}
    return total % 1000003 + {call};
}}
"
            ),
            1 => format!(
                "\n// Fills an array, finds its largest element, then counts the ones above half.
func f{index}(n: int, seed: int) -> int {{
    let size = max(n, 1);
    let xs = array(size, 0);
    for k in 0..size {{
        xs[k] = (k * {a} + seed * {b}) % {c};
    }}
    let best = 0;
    for k in 1..len(xs) {{
        if xs[k] > xs[best] {{
            best = k;
        }}
    }}
    let above = 0;
    let total = 0;
    for k in 0..size {{
        if xs[k] * 2 > xs[best] && xs[k] != {b} {{
            above += 1;
            total += xs[k];
        }}
    }}
    return above * {a} + total + {call};
}}
"
            ),
            2 => format!(
                "\n// A float recurrence over an array, with square roots and conversions.
func f{index}(n: int, seed: int) -> float {{
    let ys = array(n + 1, {a}.5);
    let acc = seed as float;
    let k = 1;
    while k <= n {{
        ys[k] = ys[k - 1] * 0.{b} + k as float / {c}.0;
        if ys[k] > 1000.0 || ys[k] < -1000.0 {{
            ys[k] = ys[k] / 2.0;
        }}
        acc += sqrt(abs(ys[k])) - min(ys[k], 1.0);
        k += 1;
    }}
    return acc;
}}
"
            ),
            _ => format!(
                "\n// A small sieve with bool flags, breaks and continues.
func f{index}(n: int, seed: int) -> int {{
    let limit = {c} + n % {b};
    let composite = array(limit + 1, false);
    let count = 0;
    let i = 2;
    while true {{
        if i > limit {{
            break;
        }}
        if composite[i] {{
            i += 1;
            continue;
        }}
        count += 1;
        for j in i..limit / i + 1 {{
            composite[i * j] = true;
        }}
        i += 1;
    }}
    let total = count * {a} + seed;
    return total + {call};
}}
"
            ),
        };
        out.push_str(&function);
        last_of_shape[shape] = Some(index);
        index += 1;
    }
    out.push_str("\nfunc main() {\n    let n = 100;\n");
    for function in last_of_shape.iter().flatten() {
        let _ = writeln!(out, "    println(f{function}(n, {function}));");
    }
    out.push_str("    println(\"done\");\n}\n");
    out
}

/// Every kernel, in report order.
pub const KERNELS: [Kernel; 5] = [
    Kernel {
        name: "fib",
        args: &[WasmValue::I32(27)],
        native: native::fib,
    },
    Kernel {
        name: "sieve",
        args: &[WasmValue::I32(1_000_000)],
        native: native::sieve,
    },
    Kernel {
        name: "matmul",
        args: &[WasmValue::I32(120)],
        native: native::matmul,
    },
    Kernel {
        name: "sort",
        args: &[WasmValue::I32(50_000), WasmValue::I32(7)],
        native: native::sort,
    },
    Kernel {
        name: "hash",
        args: &[WasmValue::I32(1_000_000)],
        native: native::hash,
    },
];

/// The native builds of the kernels.
mod native {
    use super::{Mutex, WasmValue};

    extern "C" {
        fn kernel_fib(n: i32) -> i32;
        fn kernel_sieve(n: i32) -> i32;
        fn kernel_matmul(n: i32) -> i64;
        fn kernel_sort(n: i32, seed: i32) -> i64;
        fn kernel_hash(n: i32) -> i64;
    }

    /// The kernels work in static buffers, as their wasm builds do in linear memory: one call
    /// at a time.
    static LOCK: Mutex<()> = Mutex::new(());

    fn locked<R>(f: impl FnOnce() -> R) -> R {
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        f()
    }

    pub(super) fn fib(args: &[WasmValue]) -> Option<WasmValue> {
        let [WasmValue::I32(n)] = *args else {
            return None;
        };
        // SAFETY: a pure C function of its argument.
        Some(WasmValue::I32(locked(|| unsafe { kernel_fib(n) })))
    }

    pub(super) fn sieve(args: &[WasmValue]) -> Option<WasmValue> {
        let [WasmValue::I32(n)] = *args else {
            return None;
        };
        // SAFETY: clamps `n` to its static buffer; calls are serialised by `locked`.
        Some(WasmValue::I32(locked(|| unsafe { kernel_sieve(n) })))
    }

    pub(super) fn matmul(args: &[WasmValue]) -> Option<WasmValue> {
        let [WasmValue::I32(n)] = *args else {
            return None;
        };
        // SAFETY: clamps `n` to its static buffers; calls are serialised by `locked`.
        Some(WasmValue::I64(locked(|| unsafe { kernel_matmul(n) })))
    }

    pub(super) fn sort(args: &[WasmValue]) -> Option<WasmValue> {
        let [WasmValue::I32(n), WasmValue::I32(seed)] = *args else {
            return None;
        };
        // SAFETY: clamps `n` to its static buffer; calls are serialised by `locked`.
        Some(WasmValue::I64(locked(|| unsafe { kernel_sort(n, seed) })))
    }

    pub(super) fn hash(args: &[WasmValue]) -> Option<WasmValue> {
        let [WasmValue::I32(n)] = *args else {
            return None;
        };
        // SAFETY: indexes its static buffer modulo its size; calls are serialised by `locked`.
        Some(WasmValue::I64(locked(|| unsafe { kernel_hash(n) })))
    }
}

/// This process's resident set in bytes (`/proc/self/statm`), or `None` where there is no
/// such file.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    parse_statm_resident(&statm, page_size())
}

/// The resident set of a `/proc/<pid>/statm` line (its second field, in pages) in bytes.
pub fn parse_statm_resident(statm: &str, page_size: u64) -> Option<u64> {
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    pages.checked_mul(page_size)
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandbox::{Outcome, SandboxConfig};

    fn unmetered() -> SandboxConfig {
        SandboxConfig {
            max_fuel: None,
            ..SandboxConfig::default()
        }
    }

    #[test]
    fn every_kernel_computes_the_same_natively_and_on_every_engine() {
        for kernel in KERNELS {
            let native = kernel.run_native(kernel.args).expect("the arguments fit");
            for runtime in runtimes() {
                let sandbox = sandbox::sandbox(runtime, unmetered()).unwrap();
                let module = sandbox.load(&kernel.wasm()).unwrap();
                assert!(module.info().imports.is_empty(), "{}", kernel.name);
                let mut instance = module.instantiate(sandbox.config()).ok().unwrap();
                let result = instance.call(kernel.name, kernel.args).unwrap();
                assert_eq!(result.outcome, Outcome::Ok, "{runtime}/{}", kernel.name);
                assert_eq!(result.return_values, [native], "{runtime}/{}", kernel.name);
            }
        }
    }

    #[test]
    fn every_mini_kernel_computes_what_its_c_kernel_does_on_every_engine() {
        for kernel in KERNELS {
            let native = kernel.run_native(kernel.args).expect("the arguments fit");
            let expected = integer(&native).expect("the C kernels return integers");
            let wasm = kernel.mini_wasm();
            for runtime in runtimes() {
                let sandbox = sandbox::sandbox(runtime, unmetered()).unwrap();
                let module = sandbox.load(&wasm).unwrap();
                let mut instance = module.instantiate(sandbox.config()).ok().unwrap();
                // Twice on one instance: the second call starts from a reused heap.
                for call in 0..2 {
                    let result = instance.call(kernel.name, &kernel.mini_args()).unwrap();
                    assert_eq!(
                        result.outcome,
                        Outcome::Ok,
                        "{runtime}/{}: {}",
                        kernel.name,
                        String::from_utf8_lossy(&result.stderr)
                    );
                    assert_eq!(
                        result.return_values,
                        [WasmValue::I64(expected)],
                        "{runtime}/{} (call {call})",
                        kernel.name
                    );
                }
            }
        }
    }

    #[test]
    fn mini_kernels_agree_with_c_on_other_arguments() {
        // Small and edge arguments (and the C kernels' clamps), on wasmtime, against the
        // native builds.
        let cases: [(&str, &[&[i32]]); 5] = [
            ("fib", &[&[0], &[1], &[2], &[-3], &[20]]),
            ("sieve", &[&[0], &[2], &[3], &[100], &[4_000_001]]),
            ("matmul", &[&[0], &[1], &[7], &[201]]),
            (
                "sort",
                &[
                    &[0, 1],
                    &[1, -5],
                    &[17, 3],
                    &[1000, -123_456],
                    &[5000, i32::MAX],
                ],
            ),
            ("hash", &[&[0], &[1], &[255], &[70_000]]),
        ];
        let sandbox = sandbox::sandbox(sandbox::Runtime::Wasmtime, unmetered()).unwrap();
        for (name, calls) in cases {
            let kernel = KERNELS.iter().find(|k| k.name == name).unwrap();
            let module = sandbox.load(&kernel.mini_wasm()).unwrap();
            let mut instance = module.instantiate(sandbox.config()).ok().unwrap();
            for args in calls {
                let c_args: Vec<WasmValue> = args.iter().map(|&a| WasmValue::I32(a)).collect();
                let mini_args: Vec<WasmValue> =
                    args.iter().map(|&a| WasmValue::I64(a.into())).collect();
                let expected = integer(&kernel.run_native(&c_args).unwrap()).unwrap();
                let result = instance.call(name, &mini_args).unwrap();
                assert_eq!(result.outcome, Outcome::Ok, "{name}{args:?}");
                assert_eq!(
                    result.return_values,
                    [WasmValue::I64(expected)],
                    "{name}{args:?}"
                );
            }
        }
    }

    #[test]
    fn the_generated_mini_program_has_its_lines_and_compiles() {
        let source = mini_program(1000);
        let lines = source.lines().count();
        assert!((980..=1030).contains(&lines), "{lines} lines");
        assert!(source.matches("\nfunc ").count() > 40);
        let wasm = sandbox_lang::compile(&source).unwrap_or_else(|errors| {
            panic!(
                "{}",
                errors
                    .iter()
                    .map(|error| error.render("generated.mini", &source))
                    .collect::<String>()
            )
        });
        // It runs, too (on one engine: the compile bench is what it is for).
        let sandbox = sandbox::sandbox(sandbox::Runtime::Wasmtime, unmetered()).unwrap();
        let module = sandbox.load(&wasm).unwrap();
        let mut instance = module.instantiate(sandbox.config()).ok().unwrap();
        let result = instance.call("_start", &[]).unwrap();
        assert!(
            matches!(result.outcome, Outcome::Ok | Outcome::Exit { code: 0 }),
            "{:?}: {}",
            result.outcome,
            String::from_utf8_lossy(&result.stderr)
        );
        assert!(result.stdout.ends_with(b"done\n"));
        // Small programs are whole programs too.
        assert!(sandbox_lang::compile(&mini_program(1)).is_ok());
    }

    #[test]
    fn kernels_refuse_arguments_that_do_not_fit() {
        for kernel in KERNELS {
            assert_eq!(kernel.run_native(&[]), None, "{}", kernel.name);
        }
        // Known answers: 78,498 primes below a million, fib(20) = 6765.
        assert_eq!(
            KERNELS[1].run_native(&[WasmValue::I32(1_000_000)]),
            Some(WasmValue::I32(78_498))
        );
        assert_eq!(
            KERNELS[0].run_native(&[WasmValue::I32(20)]),
            Some(WasmValue::I32(6765))
        );
    }

    #[test]
    fn hello_world_prints_its_line_on_every_engine() {
        let wasm = bench_file("fixtures/hello_world.wasm");
        for runtime in runtimes() {
            let sandbox = sandbox::sandbox(runtime, SandboxConfig::default()).unwrap();
            let module = sandbox.load(&wasm).unwrap();
            let mut instance = module.instantiate(sandbox.config()).ok().unwrap();
            let result = instance.call("_start", &[]).unwrap();
            assert!(
                matches!(result.outcome, Outcome::Ok | Outcome::Exit { code: 0 }),
                "{runtime}: {:?}",
                result.outcome
            );
            assert_eq!(result.stdout, HELLO_WORLD_OUTPUT, "{runtime}");
        }
    }

    #[test]
    fn statm_parsing() {
        assert_eq!(
            parse_statm_resident("1000 250 30 1 0 200 0\n", 4096),
            Some(250 * 4096)
        );
        assert_eq!(parse_statm_resident("", 4096), None);
        assert_eq!(parse_statm_resident("1 x", 4096), None);
        assert!(resident_bytes().is_some_and(|bytes| bytes > 0));
    }
}

/// What the probe binaries (`instance-memory`, `scaling`, `rss`, `fresh-instance`) share:
/// reading their flags and printing their JSON lines.
pub mod probe {
    use sandbox::Runtime;
    use std::process::ExitCode;

    /// The engine a `--backend` flag names.
    pub fn backend(value: Option<String>) -> Result<Runtime, String> {
        match value.as_deref() {
            Some("wasmtime") => Ok(Runtime::Wasmtime),
            Some("wasmer") => Ok(Runtime::Wasmer),
            other => Err(format!("unknown backend {other:?} (wasmtime or wasmer)")),
        }
    }

    /// The positive number a flag's value gives.
    pub fn positive<T: std::str::FromStr + PartialOrd + Default>(
        value: Option<String>,
        flag: &str,
    ) -> Result<T, String> {
        value
            .and_then(|n| n.parse::<T>().ok())
            .filter(|n| *n > T::default())
            .ok_or(format!("{flag} needs a positive number"))
    }

    /// Prints the probe's JSON lines, or its error on stderr (then exits with a failure).
    pub fn finish(name: &str, result: Result<Vec<String>, String>) -> ExitCode {
        match result {
            Ok(lines) => {
                for line in lines {
                    println!("{line}");
                }
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("{name}: {err}");
                ExitCode::FAILURE
            }
        }
    }
}
