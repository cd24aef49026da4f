"""Limits: a limit reached is a result with success=False, the same outcome and fuel as the CLI."""

from __future__ import annotations

import json
import subprocess

import pytest

from wasm_sandbox import WasmSandbox, WasmSandboxConfig

from conftest import FIXTURES, cli, fixture


def run(runtime: str, wasm: bytes, function=None, args=None, **config):
    with WasmSandbox(WasmSandboxConfig(runtime=runtime, **config)) as sandbox:
        return sandbox.execute_sync(wasm, function, args)


def test_fuel_exhaustion_is_a_result(runtime: str) -> None:
    result = run(runtime, fixture("loops.wat"), "spin", max_fuel=10_000)
    assert not result.success
    assert result.outcome == "fuel_exhausted"
    assert result.fuel_consumed == 10_000
    assert "fuel" in result.error


def test_time_limit_without_fuel(runtime: str) -> None:
    result = run(runtime, fixture("loops.wat"), "spin", max_fuel=None, timeout_seconds=0.2)
    assert result.outcome == "time_limit_exceeded"
    assert result.fuel_consumed is None
    assert 150 <= result.execution_time_ms < 5_000


def test_memory_limit(runtime: str) -> None:
    wat = '(module (memory 1) (func (export "grow") (result i32) i32.const 100 memory.grow))'
    grown = run(runtime, wat, "grow", max_memory_bytes=1 << 20)
    # memory.grow past the limit fails as the spec allows (-1) or ends the run, per design.
    assert grown.results == [-1] or grown.outcome == "memory_limit_exceeded"
    too_big = '(module (memory (export "memory") 64) (func (export "f")))'
    failed = run(runtime, too_big, "f", max_memory_bytes=1 << 20)
    assert failed.outcome == "memory_limit_exceeded" and not failed.success
    assert "memory" in failed.error


def test_stack_overflow_is_a_trap(runtime: str) -> None:
    wat = '(module (func $f (export "f") (call $f)))'
    result = run(runtime, wat, "f", max_stack_bytes=64 << 10)
    assert result.outcome == "trap" and result.trap == "stack_overflow"


def test_unreachable_is_a_trap(runtime: str) -> None:
    result = run(runtime, '(module (func (export "f") unreachable))', "f")
    assert not result.success and result.trap == "unreachable"
    assert result.exit_code is None


def test_output_is_capped_and_what_was_captured_is_kept(runtime: str) -> None:
    result = run(runtime, fixture("flood.wasm"), max_output_bytes=1000, max_fuel=None)
    assert len(result.stdout) <= 1000
    assert result.stdout_truncated
    assert result.stdout, "what was captured before the cap is kept"


def test_the_minimal_preset_is_the_rusts() -> None:
    config = WasmSandboxConfig(preset="minimal")
    assert config.max_memory_bytes == 1 << 20
    assert config.timeout_seconds == pytest.approx(0.1)
    assert config.max_fuel == 100_000
    assert config.max_stack_bytes == 64 << 10
    default = WasmSandboxConfig()
    assert (default.max_memory_bytes, default.max_fuel, default.max_stack_bytes) == (64 << 20, 10_000_000, 1 << 20)
    assert default.timeout_seconds == 5.0 and default.clock == "virtual"
    compute = WasmSandboxConfig.compute(max_fuel=5)
    assert compute.max_memory_bytes == 256 << 20 and compute.clock == "real" and compute.max_fuel == 5


@pytest.mark.parametrize(
    "case",
    [
        ("loops.wat", ["--invoke", "count", "--args", "1000"], {"function": "count", "args": [1000]}, {}),
        ("loops.wat", ["--invoke", "spin", "--fuel", "5000"], {"function": "spin"}, {"max_fuel": 5000}),
        ("hello.wasm", [], {}, {}),
        ("sum.wasm", ["--stdin", "STDIN"], {"stdin": b"5 7\n"}, {}),
    ],
    ids=["count", "spin-fuel", "hello", "sum"],
)
def test_limits_give_the_same_outcome_and_fuel_as_the_cli(runtime: str, case, tmp_path) -> None:
    name, flags, call, config = case
    flags = list(flags)
    if "STDIN" in flags:
        stdin = tmp_path / "stdin"
        stdin.write_bytes(call["stdin"])
        flags[flags.index("STDIN")] = str(stdin)
    completed = subprocess.run(
        [str(cli()), "run", str(FIXTURES / name), "--backend", runtime, "--json", *flags],
        capture_output=True,
        check=False,
    )
    report = json.loads(completed.stdout)
    if isinstance(report, list):
        report = report[0]
    # The CLI's argv[0] is the file's name.
    with WasmSandbox(WasmSandboxConfig(runtime=runtime, program_name=name, **config)) as sandbox:
        result = sandbox.execute_sync(fixture(name), call.get("function"), call.get("args"), stdin=call.get("stdin"))
    assert result.fuel_consumed == report["fuel_consumed"], (report, result)
    outcome = report["outcome"]
    kind = outcome["kind"] if isinstance(outcome, dict) else outcome
    assert result.outcome == kind, (report, result)
    assert result.stdout.decode() == report.get("stdout", ""), (report, result)
