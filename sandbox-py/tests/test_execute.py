"""Running modules: the guide's example, WASI commands, exports, reactors, modules kept."""

from __future__ import annotations

import asyncio
import pathlib

import pytest

import wasm_sandbox
from wasm_sandbox import Runtime, WasmSandbox, WasmSandboxConfig

from conftest import FIXTURES, fixture

ADD = '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))'


def test_the_guides_example_runs_as_written(runtime: str) -> None:
    wasm_bytes = fixture("hello.wasm")
    config = WasmSandboxConfig(runtime=runtime)

    async def main() -> wasm_sandbox.ExecutionResult:
        async with WasmSandbox(config) as sandbox:
            result = await sandbox.execute(wasm_bytes)
        return result

    result = asyncio.run(main())
    assert result.success
    assert result.execution_time_ms > 0
    assert result.fuel_consumed and result.fuel_consumed > 1000
    assert result.memory_used_bytes >= 65536
    assert result.stdout.startswith(b"hello from wasi\n")
    assert result.exit_code == 0 and result.outcome in ("ok", "exit")
    assert result.backend == runtime


def test_a_wasi_command_consumes_the_same_fuel_on_both_engines() -> None:
    fuel = {
        runtime: WasmSandbox(WasmSandboxConfig(runtime=runtime)).execute_sync(fixture("hello.wasm")).fuel_consumed
        for runtime in ("wasmtime", "wasmer")
    }
    assert fuel["wasmtime"] == fuel["wasmer"], fuel


def test_an_export_with_arguments(runtime: str) -> None:
    async def main() -> wasm_sandbox.ExecutionResult:
        async with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
            return await sandbox.execute(ADD, function="add", args=[5, 7])

    result = asyncio.run(main())
    assert result.success and result.outcome == "ok"
    assert result.results == [12]
    assert result.exit_code is None and result.trap is None and result.error is None
    # i32 wraps as in wasm: 2**31 - 1 + 1.
    with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
        assert sandbox.execute_sync(ADD, "add", [2**31 - 1, 1]).results == [-(2**31)]
        assert sandbox.execute_sync(ADD, "add", [0xFFFFFFFF, 1]).results == [0]


def test_a_c_program_reads_stdin(runtime: str) -> None:
    with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
        result = sandbox.execute_sync(fixture("sum.wasm"), stdin=b"5 7\n")
        assert result.success and result.stdout == b"12\n"
        # str stdin is UTF-8; a run without numbers exits 2 with its message kept.
        assert sandbox.execute_sync(fixture("sum.wasm"), stdin="40 2").stdout == b"42\n"
        failed = sandbox.execute_sync(fixture("sum.wasm"), stdin=b"")
        assert not failed.success and failed.outcome == "exit" and failed.exit_code == 2
        assert b"expected two integers" in failed.stderr


def test_config_stdin_args_and_env_reach_the_guest(runtime: str) -> None:
    config = WasmSandboxConfig(runtime=runtime, stdin=b"1 2\n")
    with WasmSandbox(config) as sandbox:
        assert sandbox.execute_sync(fixture("sum.wasm")).stdout == b"3\n"
    config = WasmSandboxConfig(runtime=runtime, args=["a b", "c"], env={"GREETING": "hi"})
    with WasmSandbox(config) as sandbox:
        result = sandbox.execute_sync(fixture("hello.wasm"))
    assert b"argv[1]=a b\nargv[2]=c\n" in result.stdout
    assert b"GREETING=hi\n" in result.stdout
    assert result.stderr == b"to stderr\n"


def test_numeric_types_cross_both_ways(runtime: str) -> None:
    wat = """(module
      (func (export "i64") (param i64) (result i64) local.get 0 i64.const 1 i64.add)
      (func (export "f32") (param f32) (result f32) local.get 0 f32.const 0.5 f32.add)
      (func (export "f64") (param f64 f64) (result f64) local.get 0 local.get 1 f64.mul)
      (func (export "many") (result i32 i64 f64) i32.const -1 i64.const 3 f64.const 2.5))"""
    with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
        module = sandbox.load(wat)
        assert sandbox.execute_sync(module, "i64", [2**62]).results == [2**62 + 1]
        assert sandbox.execute_sync(module, "f32", [1]).results == [1.5]
        assert sandbox.execute_sync(module, "f64", [1.5, 4]).results == [6.0]
        assert sandbox.execute_sync(module, "many").results == [-1, 3, 2.5]


def test_a_loaded_module_is_compiled_once_and_reused(runtime: str) -> None:
    with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
        module = sandbox.load(ADD)
        assert module.backend == runtime
        assert module.exports == {"add": "(i32, i32) -> i32"} or "add" in module.exports
        assert module.imports == []
        assert "add" in repr(module)
        for n in range(50):
            assert sandbox.execute_sync(module, "add", [n, n]).results == [2 * n]
        # The same bytes again find the same compiled module.
        assert sandbox.load(ADD.encode()) is not None
        # A module of one sandbox does not run in another.
        with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as other:
            with pytest.raises(ValueError, match="another sandbox"):
                other.execute_sync(module, "add", [1, 2])


def test_reactors_run_initialize_first(runtime: str) -> None:
    with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
        module = sandbox.load(fixture("reactor_default.wat"))
        assert module.entry_point == ""
        result = sandbox.execute_sync(module)
        assert result.success, result
        assert result.stdout == b"initialized\ndefault export\n"


def test_runtime_enum_and_override() -> None:
    config = WasmSandboxConfig(runtime=Runtime.WASMER)
    assert WasmSandbox(config).backend == "wasmer"
    assert WasmSandbox(config, runtime="wasmtime").backend == "wasmtime"
    assert WasmSandbox(WasmSandboxConfig(runtime="WASMER")).backend == "wasmer"
    assert wasm_sandbox.runtimes() == {"wasmtime": True, "wasmer": True}


def test_results_read_well(runtime: str) -> None:
    with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
        result = sandbox.execute_sync(fixture("hello.wasm"))
    text = repr(result)
    assert text.startswith("ExecutionResult(success=True") and f"backend='{runtime}'" in text
    as_dict = result.to_dict()
    assert as_dict["success"] is True and as_dict["stdout"] == result.stdout
    assert set(as_dict) >= {
        "success", "outcome", "trap", "exit_code", "results", "stdout", "stderr",
        "stdout_truncated", "stderr_truncated", "execution_time_ms", "fuel_consumed",
        "memory_used_bytes", "backend",
    }
    assert bool(result) is True


def test_validate_and_wat_to_wasm() -> None:
    wasm = wasm_sandbox.wat_to_wasm(ADD)
    assert wasm.startswith(b"\0asm")
    wasm_sandbox.validate(wasm)
    wasm_sandbox.validate(ADD)
    with pytest.raises(wasm_sandbox.InvalidModule):
        wasm_sandbox.validate(b"\0asm\x02\0\0\0")


def test_ahead_of_time_artifacts_round_trip(runtime: str, tmp_path: pathlib.Path) -> None:
    with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
        path = tmp_path / "add.cwasm"
        size = sandbox.compile_aot(ADD, path)
        assert size == path.stat().st_size
        module = sandbox.load_aot(path)
        assert sandbox.execute_sync(module, "add", [1, 2]).results == [3]
        path.write_bytes(b"not an artifact")
        with pytest.raises(wasm_sandbox.IncompatibleArtifact) as caught:
            sandbox.load_aot(path)
        assert caught.value.kind == "incompatible_artifact"


def test_the_module_cache_on_disk(runtime: str, tmp_path: pathlib.Path) -> None:
    config = WasmSandboxConfig(runtime=runtime, cache=tmp_path / "cache")
    with WasmSandbox(config) as sandbox:
        assert sandbox.execute_sync(ADD, "add", [1, 2]).results == [3]
    assert any((tmp_path / "cache").rglob("*")), "nothing was written to the cache"
    # A second sandbox finds it on disk and runs it the same.
    with WasmSandbox(config) as sandbox:
        assert sandbox.execute_sync(ADD, "add", [2, 2]).results == [4]


def test_a_closed_sandbox_refuses_to_run() -> None:
    sandbox = WasmSandbox()
    sandbox.close()
    with pytest.raises(RuntimeError, match="closed"):
        sandbox.execute_sync(ADD, "add", [1, 2])


def test_preopened_directories(runtime: str, tmp_path: pathlib.Path) -> None:
    (tmp_path / "ro").mkdir()
    (tmp_path / "rw").mkdir()
    (tmp_path / "ro" / "input.txt").write_text("data")
    config = WasmSandboxConfig(
        runtime=runtime,
        dirs=[(tmp_path / "ro", "/ro")],
        dirs_rw=[f"{tmp_path / 'rw'}::/rw"],
        args=["cat:/ro/input.txt", "put:/rw/out.txt", "put:/ro/evil.txt", "cat:/ro/../../etc/passwd"],
    )
    with WasmSandbox(config) as sandbox:
        result = sandbox.execute_sync(fixture("files.wasm"))
    lines = [line for line in result.stdout.decode().splitlines() if not line.startswith(" ")]
    assert lines[0].startswith("cat:/ro/input.txt ok"), lines
    assert lines[1].startswith("put:/rw/out.txt ok"), lines
    assert "denied" in lines[2] and "denied" in lines[3], lines
    assert (tmp_path / "rw" / "out.txt").exists()
    assert not (tmp_path / "ro" / "evil.txt").exists()


def test_configs_read_well_and_compare() -> None:
    config = WasmSandboxConfig(runtime=Runtime.WASMER, max_fuel=None, allowed_imports=["env.log"])
    fields = config.to_dict()
    assert fields["runtime"] == "wasmer" and fields["max_fuel"] is None
    assert fields["allowed_imports"] == ["env.log"] and fields["host_functions"] == []
    assert "max_memory_bytes=67108864" in repr(config)
    assert config == WasmSandboxConfig(runtime="wasmer", max_fuel=None, allowed_imports=["env.log"])
    assert config.explicit_fuel and not WasmSandboxConfig().explicit_fuel
