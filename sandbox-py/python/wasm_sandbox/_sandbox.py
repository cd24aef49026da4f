""":class:`WasmSandbox`: run WebAssembly under hard limits, from asyncio or blocking code."""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import os
from typing import Any, Dict, Mapping, Optional, Sequence, TypeVar, Union

from . import _native
from ._config import PathLike, Runtime, WasmSandboxConfig

__all__ = ["WasmSandbox", "Wasm"]

Module = _native.Module
ExecutionResult = _native.ExecutionResult

Wasm = Union[bytes, bytearray, str, "_native.Module"]
"""A module: binary bytes, WebAssembly text (``str``), or a :class:`Module` from
:meth:`WasmSandbox.load`."""

T = TypeVar("T")


class WasmSandbox:
    """One engine under one configuration, running as many guests as asked.

    Use it as a context manager, asynchronous or not::

        async with WasmSandbox(config) as sandbox:
            result = await sandbox.execute(wasm_bytes)                     # WASI command
            result = await sandbox.execute(wat, function="add", args=[5, 7])  # an export

        with WasmSandbox(config) as sandbox:
            result = sandbox.execute_sync(wasm_bytes, stdin=b"5 7\\n")

    Each module is compiled once per sandbox and content (or keep it: ``module =
    sandbox.load(wasm)``); every run is a fresh instance under the configuration's limits.
    Guests run with the GIL released, so threads run them in parallel, and the asynchronous
    methods run them on an executor, so the event loop goes on serving other tasks.

    A run that fails (trap, limit, non-zero exit) returns an :class:`ExecutionResult` with
    ``success=False``; input the sandbox cannot run raises a
    :class:`~wasm_sandbox.SandboxError`.
    """

    def __init__(
        self,
        config: Optional[WasmSandboxConfig] = None,
        *,
        runtime: Union[Runtime, str, None] = None,
        executor: Optional[concurrent.futures.Executor] = None,
    ) -> None:
        """Creates the engine for ``config`` (default: ``WasmSandboxConfig()``).

        ``runtime`` overrides the configuration's; ``executor`` is where the asynchronous
        methods run guests (default: the event loop's default executor).
        """
        if config is None:
            config = WasmSandboxConfig()
        if not isinstance(config, WasmSandboxConfig):
            raise TypeError(f"config must be a WasmSandboxConfig, not {type(config).__name__}")
        native = config._native()
        if runtime is not None:
            native["runtime"] = runtime.value if isinstance(runtime, Runtime) else runtime
        self._config = config
        self._native = _native.NativeSandbox(native, config.explicit_fuel)
        self._executor = executor
        self._closed = False

    # -- context managers ------------------------------------------------------------------

    def __enter__(self) -> "WasmSandbox":
        """Returns the sandbox; leaving the block closes it."""
        return self

    def __exit__(self, *exc_info: Any) -> None:
        """Closes the sandbox."""
        self.close()

    async def __aenter__(self) -> "WasmSandbox":
        """Returns the sandbox; leaving the block closes it."""
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        """Closes the sandbox."""
        self.close()

    def close(self) -> None:
        """Forgets the compiled modules; the sandbox cannot run anything afterwards."""
        self._closed = True

    # -- properties --------------------------------------------------------------------------

    @property
    def config(self) -> WasmSandboxConfig:
        """The configuration this sandbox was made with."""
        return self._config

    @property
    def backend(self) -> str:
        """The engine's name: ``"wasmtime"`` or ``"wasmer"``."""
        return self._native.backend

    def __repr__(self) -> str:
        """``<WasmSandbox backend='wasmtime'>``."""
        state = " closed" if self._closed else ""
        return f"<WasmSandbox backend={self.backend!r}{state}>"

    # -- blocking API ------------------------------------------------------------------------

    def load(self, wasm: Wasm) -> "_native.Module":
        """Compiles ``wasm`` (bytes or WAT text) once; run the returned :class:`Module` as often
        as needed. Raises :class:`~wasm_sandbox.InvalidModule`,
        :class:`~wasm_sandbox.UnauthorizedImport`, :class:`~wasm_sandbox.Unsupported`."""
        self._check_open()
        return self._native.load(wasm)

    def execute_sync(
        self,
        wasm: Wasm,
        function: Optional[str] = None,
        args: Optional[Sequence[Union[int, float]]] = None,
        *,
        stdin: Union[bytes, str, None] = None,
    ) -> "_native.ExecutionResult":
        """Runs ``function`` of ``wasm`` with ``args`` in a fresh instance and returns its report.

        Without ``function``, runs the module's entry point: ``_start`` of a WASI command, the
        default export of a reactor. ``stdin`` replaces the configuration's for this run.
        """
        self._check_open()
        return self._native.execute(wasm, function, args, stdin)

    def run_script_sync(
        self,
        source: Union[str, bytes],
        lang: str = "python",
        *,
        stdin: Union[bytes, str, None] = None,
        files: Optional[Mapping[str, Union[bytes, str]]] = None,
        args: Optional[Sequence[str]] = None,
        interpreter: Optional[PathLike] = None,
    ) -> "_native.ExecutionResult":
        """Runs a Python (``lang="python"``, CPython for WASI) or JavaScript (``"js"``, QuickJS)
        script under this sandbox's limits, or a Mini program (``"mini"``: compiled, then run
        as a WASI command with ``stdin``; it takes no ``files``, ``args`` or ``interpreter``).

        The interpreter module is ``interpreter``, else the file named by
        ``SANDBOX_PYTHON_WASM`` / ``SANDBOX_JS_WASM``; it is compiled once per sandbox. The
        script (as ``/script/main.py`` or ``main.js``) and ``files`` (name → content, beside
        it) are the only files the guest sees, read-only. Fuel is metered only when the
        configuration gave ``max_fuel`` explicitly; the time and memory limits always apply.
        """
        self._check_open()
        if lang == "mini":
            if files or args or interpreter is not None:
                raise TypeError("a Mini program takes no files, args or interpreter")
            return self.execute_sync(compile_mini(source), stdin=stdin)
        return self._native.run_script(
            source,
            lang,
            stdin,
            dict(files) if files is not None else None,
            list(args) if args is not None else None,
            os.fspath(interpreter) if interpreter is not None else None,
        )

    def compile_aot(self, wasm: Union[bytes, str], path: PathLike) -> int:
        """Compiles ``wasm`` ahead of time into the file ``path`` (for :meth:`load_aot` on a
        sandbox with the same engine and configuration); returns its size in bytes."""
        self._check_open()
        return self._native.compile_aot(wasm, os.fspath(path))

    def load_aot(self, path: PathLike) -> "_native.Module":
        """Loads an artifact written by :meth:`compile_aot`. Raises
        :class:`~wasm_sandbox.IncompatibleArtifact` for anything else. An artifact is native
        code: its checks catch accidents, not a crafted file, so load only files you trust as
        much as this program."""
        self._check_open()
        return self._native.load_aot(os.fspath(path))

    # -- asyncio API -------------------------------------------------------------------------

    async def execute(
        self,
        wasm: Wasm,
        function: Optional[str] = None,
        args: Optional[Sequence[Union[int, float]]] = None,
        *,
        stdin: Union[bytes, str, None] = None,
    ) -> "_native.ExecutionResult":
        """:meth:`execute_sync` on the executor: the event loop keeps running meanwhile."""
        return await self._in_executor(self.execute_sync, wasm, function, args, stdin=stdin)

    async def load_async(self, wasm: Wasm) -> "_native.Module":
        """:meth:`load` on the executor (compiling a large module takes seconds)."""
        return await self._in_executor(self.load, wasm)

    async def run_script(
        self,
        source: Union[str, bytes],
        lang: str = "python",
        *,
        stdin: Union[bytes, str, None] = None,
        files: Optional[Mapping[str, Union[bytes, str]]] = None,
        args: Optional[Sequence[str]] = None,
        interpreter: Optional[PathLike] = None,
    ) -> "_native.ExecutionResult":
        """:meth:`run_script_sync` on the executor."""
        return await self._in_executor(
            self.run_script_sync,
            source,
            lang,
            stdin=stdin,
            files=files,
            args=args,
            interpreter=interpreter,
        )

    async def _in_executor(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(func, *args, **kwargs))

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("this WasmSandbox is closed")


def validate(wasm: Union[bytes, str]) -> None:
    """Raises :class:`~wasm_sandbox.InvalidModule` unless ``wasm`` (bytes or WAT text) is a
    valid module (the guide's ``WasmModule::validate``)."""
    _native.validate(wasm)


def wat_to_wasm(source: Union[str, bytes]) -> bytes:
    """Compiles WebAssembly text to binary."""
    return _native.wat_to_wasm(source)


def compile_mini(source: Union[str, bytes], filename: Optional[str] = None) -> bytes:
    """Compiles a program in Mini, the project's small language, to a module (a WASI command
    when it has ``func main()``, with an export per ``export func``)::

        wasm = compile_mini("export func add(a: int, b: int) -> int { return a + b; }")
        result = sandbox.execute_sync(wasm, "add", [5, 7])   # result.results == [12]

    A program that does not compile raises :class:`~wasm_sandbox.CompilationError` with
    every diagnostic; ``filename`` names the program in them."""
    return _native.compile_mini(source, filename)


def compile_mini_to_wat(source: Union[str, bytes], filename: Optional[str] = None) -> str:
    """Compiles a Mini program and prints its module as WebAssembly text."""
    return _native.compile_mini_to_wat(source, filename)


def runtimes() -> Dict[str, bool]:
    """The runtimes compiled into this build (both, in the published package)."""
    return {name: name in _native.RUNTIMES for name in ("wasmtime", "wasmer")}
