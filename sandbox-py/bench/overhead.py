"""Per-run overhead from Python, for the bench report (`cargo xtask bench`).

Measures the same work as two Rust benches of `sandbox-bench`, through `wasm_sandbox`:

- `run-export`: a trivial export (`add.wat`'s `add(5, 7)`) in a fresh instance, from a module
  compiled once (`sandbox.execute_sync(module, "add", [5, 7])`); Rust: `module.instantiate` +
  `instance.call`.
- `wasi-hello`: the bench's WASI hello-world in a fresh instance, stdout captured
  (`sandbox.execute_sync(module)`); Rust: the `wasi-hello` group.

Each case runs in batches; the median and the median absolute deviation of the per-run time
over the batches are written as JSON lines to `--out`.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import time

from wasm_sandbox import WasmSandbox, WasmSandboxConfig

ROOT = pathlib.Path(__file__).resolve().parents[2]
HELLO_OUTPUT = b"hello, world\n"  # sandbox_bench::HELLO_WORLD_OUTPUT


def measure(run, seconds: float, batches: int = 30) -> tuple:
    """Median and MAD of the time per call of `run`, in ns."""
    run()
    start = time.perf_counter()
    calls = 0
    while time.perf_counter() - start < 0.2:
        run()
        calls += 1
    per_batch = max(1, int(calls * seconds / batches / 0.2))
    samples = []
    for _ in range(batches):
        start = time.perf_counter_ns()
        for _ in range(per_batch):
            run()
        samples.append((time.perf_counter_ns() - start) / per_batch)
    median = statistics.median(samples)
    mad = statistics.median(abs(sample - median) for sample in samples)
    return median, mad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, required=True)
    parser.add_argument("--seconds", type=float, default=3.0, help="measuring time per case")
    options = parser.parse_args()
    add_source = (ROOT / "conformance-tests" / "fixtures" / "add.wat").read_text()
    hello = (ROOT / "sandbox-bench" / "fixtures" / "hello_world.wasm").read_bytes()
    lines = []
    for runtime in ("wasmtime", "wasmer"):
        with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
            add_module = sandbox.load(add_source)
            hello_module = sandbox.load(hello)

            def run_export() -> None:
                result = sandbox.execute_sync(add_module, "add", [5, 7])
                assert result.results == [12]

            def wasi_hello() -> None:
                result = sandbox.execute_sync(hello_module)
                assert result.success and result.stdout == HELLO_OUTPUT, result

            for case, run in (("run-export", run_export), ("wasi-hello", wasi_hello)):
                median, mad = measure(run, options.seconds)
                line = {"case": case, "backend": runtime, "median_ns": median, "mad_ns": mad}
                print(json.dumps(line))
                lines.append(json.dumps(line))
    options.out.parent.mkdir(parents=True, exist_ok=True)
    options.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
