"""Host functions written in Python."""

from __future__ import annotations

from typing import List

import pytest

import wasm_sandbox
from wasm_sandbox import WasmSandbox, WasmSandboxConfig

from conftest import fixture


def host_config(runtime: str, logged: List[str], fail_with: Exception) -> WasmSandboxConfig:
    config = WasmSandboxConfig(runtime=runtime)

    @config.host_function("env", "log", params=["i32", "i32"])
    def log(ctx: wasm_sandbox.HostContext, ptr: int, length: int) -> None:
        logged.append(ctx.read_string(ptr, length))

    config.host_function("env", "add", ["i32", "i32"], ["i32"], lambda ctx, a, b: a + b)

    def fail(ctx: wasm_sandbox.HostContext) -> None:
        raise fail_with

    config.host_function("env", "fail", func=fail)
    return config


def test_host_functions_read_memory_and_return_values(runtime: str) -> None:
    logged: List[str] = []
    with WasmSandbox(host_config(runtime, logged, ValueError("boom"))) as sandbox:
        result = sandbox.execute_sync(fixture("host_log.wat"), "greet")
    assert result.success, result
    assert result.results == [42]
    assert logged == ["hello from the guest"]


def test_an_exception_in_a_host_function_ends_the_run_with_trap_other(runtime: str) -> None:
    with WasmSandbox(host_config(runtime, [], ValueError("the host said no"))) as sandbox:
        result = sandbox.execute_sync(fixture("host_log.wat"), "fails")
        assert not result.success
        assert result.outcome == "trap" and result.trap == "other"
        assert "ValueError: the host said no" in result.error
        # A bad pointer from the guest: the context refuses, the run ends the same way.
        bad = sandbox.execute_sync(fixture("host_log.wat"), "bad_pointer")
        assert bad.trap == "other" and "outside" in bad.error


def test_a_result_of_the_wrong_type_ends_the_run(runtime: str) -> None:
    config = WasmSandboxConfig(runtime=runtime)
    config.host_function("env", "log", ["i32", "i32"], [], lambda ctx, p, n: None)
    config.host_function("env", "add", ["i32", "i32"], ["i32"], lambda ctx, a, b: "not a number")
    config.host_function("env", "fail", func=lambda ctx: None)
    with WasmSandbox(config) as sandbox:
        result = sandbox.execute_sync(fixture("host_log.wat"), "greet")
    assert result.trap == "other" and "str" in result.error


def test_the_context_writes_memory_and_dies_with_the_call(runtime: str) -> None:
    kept = []
    wat = """(module
      (import "env" "fill" (func $fill (param i32)))
      (memory (export "memory") 1)
      (func (export "f") (result i32)
        (call $fill (i32.const 100))
        (i32.load8_u (i32.const 102))))"""
    config = WasmSandboxConfig(runtime=runtime)

    def fill(ctx: wasm_sandbox.HostContext, address: int) -> None:
        assert ctx.memory_size == 65536
        assert ctx.fuel_consumed is not None
        ctx.write(address, b"\x01\x02\x03")
        assert ctx.read(address, 3) == b"\x01\x02\x03"
        kept.append(ctx)

    config.host_function("env", "fill", params=["i32"], func=fill)
    with WasmSandbox(config) as sandbox:
        assert sandbox.execute_sync(wat, "f").results == [3]
    with pytest.raises(RuntimeError, match="has returned"):
        kept[0].read(0, 1)
    assert "returned" in repr(kept[0])


def test_host_function_specs_are_checked() -> None:
    config = WasmSandboxConfig()
    with pytest.raises(ValueError, match="params"):
        config.host_function("env", "f", params=["i33"], func=lambda ctx: None)
    with pytest.raises(TypeError, match="callable"):
        config.host_function("env", "f", func=42)


def test_an_import_without_a_host_function_is_refused(runtime: str) -> None:
    with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
        with pytest.raises(wasm_sandbox.UnauthorizedImport) as caught:
            sandbox.execute_sync(fixture("host_log.wat"), "greet")
    assert caught.value.kind == "unauthorized_import"
    assert caught.value.module == "env" and caught.value.name == "log"
