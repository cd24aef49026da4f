//! Shared setup for the benches: the fixtures (the conformance suite's files, the bench's own
//! WASI hello-world, the C compute kernels), the engines compiled in, the kernels' native
//! builds, how long each group measures, and the resident-memory probe of the
//! `instance-memory` binary.

use criterion::measurement::WallTime;
use criterion::BenchmarkGroup;
use sandbox::WasmValue;
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
