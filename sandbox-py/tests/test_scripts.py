"""Scripts in CPython and QuickJS for WASI (the real interpreters, fetched by package name)."""

from __future__ import annotations

import asyncio

import pytest

import wasm_sandbox
from wasm_sandbox import Judge, WasmSandbox, WasmSandboxConfig

from conftest import JUDGE


def test_python_scripts_run_with_the_same_output_on_both_engines(runtime: str, interpreters, module_cache) -> None:
    config = WasmSandboxConfig(runtime=runtime, timeout_seconds=60, cache=module_cache)

    async def main():
        async with WasmSandbox(config) as sandbox:
            total = await sandbox.run_script("print(sum(range(10**6)))", interpreter=interpreters["python"])
            echo = await sandbox.run_script(
                "import sys\nprint(sum(int(x) for x in sys.stdin.read().split()))",
                interpreter=interpreters["python"],
                stdin=b"1 2 3 4\n",
            )
            files = await sandbox.run_script(
                "print(open('/script/data.txt').read().upper())",
                interpreter=interpreters["python"],
                files={"data.txt": b"from a file"},
            )
            return total, echo, files

    total, echo, files = asyncio.run(main())
    assert total.success and total.stdout == b"499999500000\n", total
    assert total.fuel_consumed is None  # scripts are unmetered unless max_fuel is given
    assert echo.stdout == b"10\n", echo
    assert files.stdout == b"FROM A FILE\n", files


def test_javascript_scripts(runtime: str, interpreters, module_cache) -> None:
    with WasmSandbox(WasmSandboxConfig(runtime=runtime, cache=module_cache)) as sandbox:
        result = sandbox.run_script_sync("console.log(6 * 7)", lang="js", interpreter=interpreters["js"])
    assert result.success and result.stdout == b"42\n", result


def test_scripts_keep_the_limits(runtime: str, interpreters, module_cache) -> None:
    config = WasmSandboxConfig(runtime=runtime, timeout_seconds=1.0, cache=module_cache)
    with WasmSandbox(config) as sandbox:
        spin = sandbox.run_script_sync("while True: pass", interpreter=interpreters["python"])
        assert spin.outcome == "time_limit_exceeded"
        error = sandbox.run_script_sync("raise SystemExit(3)", interpreter=interpreters["python"])
        assert error.exit_code == 3 and not error.success
    fueled = WasmSandboxConfig(runtime=runtime, max_fuel=1_000_000, cache=module_cache)
    with WasmSandbox(fueled) as sandbox:
        starved = sandbox.run_script_sync("print(1)", interpreter=interpreters["python"])
    assert starved.outcome == "fuel_exhausted"


def test_the_interpreter_comes_from_the_environment(monkeypatch, interpreters) -> None:
    monkeypatch.setenv("SANDBOX_JS_WASM", interpreters["js"])
    with WasmSandbox() as sandbox:
        assert sandbox.run_script_sync("console.log(1)", lang="js").stdout == b"1\n"
    monkeypatch.delenv("SANDBOX_JS_WASM")
    with WasmSandbox() as sandbox:
        with pytest.raises(wasm_sandbox.Unsupported, match="SANDBOX_JS_WASM"):
            sandbox.run_script_sync("console.log(1)", lang="js")
        with pytest.raises(ValueError, match="lang"):
            sandbox.run_script_sync("x", lang="ruby")
        with pytest.raises(wasm_sandbox.Unsupported, match="relative path"):
            sandbox.run_script_sync("x", lang="js", files={"../up": b""}, interpreter=interpreters["js"])


@pytest.mark.parametrize(
    "name, verdict",
    [
        ("accepted.py", "accepted"),
        ("wrong.py", "wrong_answer"),
        ("slow.py", "time_limit_exceeded"),
        ("hungry.py", "memory_limit_exceeded"),
        ("crash.py", "runtime_error"),
        ("chatty.py", "output_limit_exceeded"),
    ],
)
def test_the_judge_on_python_solutions(runtime: str, interpreters, module_cache, name: str, verdict: str) -> None:
    config = WasmSandboxConfig(runtime=runtime, timeout_seconds=5.0, cache=module_cache)
    report = Judge(config).run(
        (JUDGE / "python" / name).read_bytes(),
        JUDGE / "scripts.json",
        lang="python",
        interpreter=interpreters["python"],
        jobs=2,
    )
    assert verdict in {r.verdict for r in report.results}, report
