"""Bad input of every kind raises a typed exception; nothing crashes the interpreter."""

from __future__ import annotations

import asyncio
import random

import pytest

import wasm_sandbox
from wasm_sandbox import WasmSandbox, WasmSandboxConfig

from conftest import fixture

ADD = '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))'


def test_every_error_class_has_its_kind() -> None:
    kinds = {
        wasm_sandbox.InvalidModule: "invalid_module",
        wasm_sandbox.UnauthorizedImport: "unauthorized_import",
        wasm_sandbox.LinkError: "link_error",
        wasm_sandbox.FunctionNotFound: "function_not_found",
        wasm_sandbox.TypeMismatch: "type_mismatch",
        wasm_sandbox.Unsupported: "unsupported",
        wasm_sandbox.IncompatibleArtifact: "incompatible_artifact",
        wasm_sandbox.PoolExhausted: "pool_exhausted",
        wasm_sandbox.CancelledError: "cancelled",
    }
    for cls, kind in kinds.items():
        assert issubclass(cls, wasm_sandbox.SandboxError)
        assert cls.kind == kind


def test_garbage_bytes_are_an_invalid_module(runtime: str) -> None:
    rng = random.Random(7)
    with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
        with pytest.raises(wasm_sandbox.InvalidModule, match="magic"):
            sandbox.execute_sync(b"definitely not wasm")
        for _ in range(50):
            garbage = b"\0asm\x01\0\0\0" + bytes(rng.randrange(256) for _ in range(rng.randrange(64)))
            with pytest.raises(wasm_sandbox.SandboxError):
                sandbox.execute_sync(garbage)
        with pytest.raises(wasm_sandbox.InvalidModule):
            sandbox.execute_sync("(module (func (export \"f\") i32.add))")
        with pytest.raises(wasm_sandbox.InvalidModule) as caught:
            sandbox.load(b"")
        assert caught.value.kind == "invalid_module"


def test_a_module_too_large_is_refused(runtime: str) -> None:
    config = WasmSandboxConfig(runtime=runtime, max_module_bytes=100)
    with WasmSandbox(config) as sandbox:
        with pytest.raises(wasm_sandbox.InvalidModule):
            sandbox.load(fixture("hello.wasm"))


def test_unauthorized_imports_are_refused_and_granted_by_name(runtime: str) -> None:
    wat = '(module (import "env" "system" (func (param i32))) (func (export "f")))'
    with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
        with pytest.raises(wasm_sandbox.UnauthorizedImport, match="env::system"):
            sandbox.load(wat)
    # Granted but not provided: a link error, raised.
    for spelling in ("env.system", "env::system", "env.*"):
        with WasmSandbox(WasmSandboxConfig(runtime=runtime, allowed_imports=[spelling])) as sandbox:
            with pytest.raises(wasm_sandbox.LinkError):
                sandbox.execute_sync(wat, "f")


def test_missing_functions_and_wrong_arguments(runtime: str) -> None:
    with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
        with pytest.raises(wasm_sandbox.FunctionNotFound) as caught:
            sandbox.execute_sync(ADD, "sub", [1, 2])
        assert caught.value.available == ["add"]
        with pytest.raises(wasm_sandbox.FunctionNotFound):
            sandbox.execute_sync(ADD)  # no _start
        bad_args = [
            ["1", 2],  # str
            [True, 2],  # bool is not a number here
            [1.5, 2],  # float for i32
            [2**32, 0],  # out of range
            [-(2**31) - 1, 0],
            [1],  # too few
            [1, 2, 3],  # too many
            None,
            (x for x in [1, 2]),  # not a list
            [None, 1],
        ]
        for args in bad_args:
            with pytest.raises(wasm_sandbox.TypeMismatch) as caught:
                sandbox.execute_sync(ADD, "add", args)
            assert isinstance(caught.value, TypeError)
            assert caught.value.kind == "type_mismatch"
        with pytest.raises(TypeError):
            sandbox.execute_sync(12345)  # not a module
        with pytest.raises(TypeError):
            sandbox.execute_sync(ADD, "add", [1, 2], stdin=42)


def test_singlepass_refuses_simd_as_unsupported() -> None:
    with WasmSandbox(WasmSandboxConfig(runtime="wasmer")) as sandbox:
        with pytest.raises(wasm_sandbox.Unsupported, match="(?i)simd"):
            sandbox.load(fixture("simd.wat"))
    with WasmSandbox(WasmSandboxConfig(runtime="wasmtime")) as sandbox:
        sandbox.load(fixture("simd.wat"))


@pytest.mark.parametrize(
    "kwargs, error, field",
    [
        ({"max_memory_bytes": -1}, ValueError, "max_memory_bytes"),
        ({"max_memory_bytes": "64MB"}, TypeError, "max_memory_bytes"),
        ({"max_memory_bytes": True}, TypeError, "max_memory_bytes"),
        ({"max_memory_bytes": 2**70}, ValueError, "max_memory_bytes"),
        ({"timeout_seconds": 0}, ValueError, "timeout_seconds"),
        ({"timeout_seconds": -1.5}, ValueError, "timeout_seconds"),
        ({"timeout_seconds": float("nan")}, ValueError, "timeout_seconds"),
        ({"timeout_seconds": "5s"}, TypeError, "timeout_seconds"),
        ({"max_fuel": -5}, ValueError, "max_fuel"),
        ({"max_fuel": 1.5}, TypeError, "max_fuel"),
        ({"max_stack_bytes": 10}, ValueError, "max_stack_bytes"),
        ({"max_output_bytes": -1}, ValueError, "max_output_bytes"),
        ({"runtime": "v8"}, ValueError, "runtime"),
        ({"runtime": 3}, TypeError, "runtime"),
        ({"preset": "huge"}, ValueError, "preset"),
        ({"clock": "fast"}, ValueError, "clock"),
        ({"allowed_imports": "env.log"}, TypeError, "allowed_imports"),
        ({"allowed_imports": ["envlog"]}, ValueError, "allowed_imports"),
        ({"allowed_imports": [3]}, TypeError, "allowed_imports"),
        ({"env": {"A=B": "c"}}, ValueError, "env"),
        ({"env": {"A": 1}}, TypeError, "env"),
        ({"env": ["A=1"]}, TypeError, "env"),
        ({"args": "a b"}, TypeError, "args"),
        ({"stdin": 5}, TypeError, "stdin"),
        ({"dirs": ["/definitely/not/here"]}, ValueError, "dirs"),
        ({"dirs": [("/tmp", "relative/../up")]}, ValueError, "dirs"),
        ({"dirs": [42]}, TypeError, "dirs"),
        ({"cache": 3}, TypeError, "cache"),
    ],
)
def test_bad_configuration_values_name_their_field(kwargs, error, field) -> None:
    with pytest.raises(error, match=field):
        WasmSandboxConfig(**kwargs)


def test_unknown_configuration_fields_are_type_errors() -> None:
    with pytest.raises(TypeError, match="max_memory"):
        WasmSandboxConfig(max_memory=5)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        WasmSandbox("not a config")  # type: ignore[arg-type]


def test_a_config_changed_after_creation_is_checked_again() -> None:
    config = WasmSandboxConfig()
    config.max_memory_bytes = -3
    with pytest.raises(ValueError, match="max_memory_bytes"):
        WasmSandbox(config)


def test_errors_inside_asyncio_raise_the_same_way(runtime: str) -> None:
    async def main() -> None:
        async with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
            with pytest.raises(wasm_sandbox.InvalidModule):
                await sandbox.execute(b"junk")
            with pytest.raises(wasm_sandbox.TypeMismatch):
                await sandbox.execute(ADD, function="add", args=["x", 1])

    asyncio.run(main())
