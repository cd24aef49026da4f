"""Run untrusted WebAssembly under hard limits, on wasmtime or wasmer, from Python.

::

    import asyncio
    from wasm_sandbox import WasmSandbox, WasmSandboxConfig

    async def main(wasm_bytes: bytes) -> None:
        config = WasmSandboxConfig(max_memory_bytes=16 << 20, timeout_seconds=2.0)
        async with WasmSandbox(config) as sandbox:
            result = await sandbox.execute(wasm_bytes)
            print(result.success, result.execution_time_ms, result.fuel_consumed,
                  result.memory_used_bytes)

A run that fails (a trap, a limit, a non-zero exit code) is an :class:`ExecutionResult` with
``success=False``; input that cannot run raises a :class:`SandboxError`. The sandbox is the
Rust crate ``sandbox`` (both engines compiled in); see the repository's README.
"""

from ._errors import (  # noqa: F401  (imported first: the native module raises these)
    CancelledError,
    CompilationError,
    ExportNotFound,
    FunctionNotFound,
    IncompatibleArtifact,
    InvalidModule,
    LinkError,
    PoolExhausted,
    SandboxError,
    SandboxIOError,
    TypeMismatch,
    UnauthorizedImport,
    Unsupported,
)
from . import _native
from ._native import ExecutionResult, HostContext, Module
from ._config import DirSpec, HostFunction, PathLike, Runtime, WasmSandboxConfig
from ._sandbox import (
    WasmSandbox,
    compile_mini,
    compile_mini_to_wat,
    runtimes,
    validate,
    wat_to_wasm,
)
from ._judge import VERDICTS, Judge, JudgeReport, TestResult

__version__: str = _native.__version__

__all__ = [
    "WasmSandbox",
    "WasmSandboxConfig",
    "Runtime",
    "ExecutionResult",
    "Module",
    "HostContext",
    "HostFunction",
    "Judge",
    "JudgeReport",
    "TestResult",
    "VERDICTS",
    "SandboxError",
    "InvalidModule",
    "UnauthorizedImport",
    "LinkError",
    "FunctionNotFound",
    "ExportNotFound",
    "TypeMismatch",
    "Unsupported",
    "IncompatibleArtifact",
    "PoolExhausted",
    "CancelledError",
    "SandboxIOError",
    "CompilationError",
    "DirSpec",
    "PathLike",
    "validate",
    "wat_to_wasm",
    "compile_mini",
    "compile_mini_to_wat",
    "runtimes",
    "__version__",
]
