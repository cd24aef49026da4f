"""Configuration: :class:`WasmSandboxConfig` and :class:`Runtime`.

Defaults and presets come from the Rust configuration itself (``_native.preset``), so they are
the Rust API's and the CLI's exactly; every value is checked by the same code that builds the
sandbox, and a bad one raises ``ValueError`` or ``TypeError`` naming the field.
"""

from __future__ import annotations

import dataclasses
import enum
import os
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import _native

__all__ = ["Runtime", "WasmSandboxConfig", "HostFunction", "PathLike", "DirSpec"]

PathLike = Union[str, "os.PathLike[str]"]
"""A path: ``str`` or ``pathlib.Path``."""

DirSpec = Union[PathLike, Tuple[PathLike, str]]
"""A directory to preopen: ``"HOST"`` (seen by the guest at the same path), ``"HOST::GUEST"``,
or a ``(host, guest)`` pair."""

_TYPES = ("i32", "i64", "f32", "f64")


class Runtime(str, enum.Enum):
    """The engine a sandbox runs on. Accepted wherever a runtime name is."""

    WASMTIME = "wasmtime"
    """wasmtime, with the cranelift compiler (the default)."""
    WASMER = "wasmer"
    """wasmer, with the singlepass compiler."""

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class HostFunction:
    """A Python function the guest can import as ``module.name``.

    ``func(context, *args)`` receives a :class:`~wasm_sandbox.HostContext` (the guest's memory,
    the fuel consumed) and the arguments as Python numbers, and returns ``None``, one value,
    or a tuple of values, as ``results`` declares. An exception raised in it ends the guest's
    run with trap ``other``, its message kept in the result's ``error``.
    """

    module: str
    name: str
    params: Tuple[str, ...]
    results: Tuple[str, ...]
    func: Callable[..., Any]


class _Unset:
    """The default of a field that takes its value from the preset."""

    def __repr__(self) -> str:
        return "<default>"


_UNSET: Any = _Unset()


@dataclasses.dataclass
class WasmSandboxConfig:
    """The limits and the capability policy of a sandbox.

    Every field left out takes the value of ``preset`` (``"default"`` when ``preset`` is
    ``None``): the same defaults as the Rust ``SandboxConfig`` (64 MiB of memory, 5 s,
    10,000,000 fuel, a 1 MiB wasm stack, 1 MiB of output per stream, nothing imported, no
    filesystem, a virtual clock). ``"minimal"`` and ``"compute"`` are the Rust presets.

    Fields:

    - ``max_memory_bytes``: linear memory of an instance, in bytes.
    - ``timeout_seconds``: wall-clock limit of one run.
    - ``max_fuel``: fuel budget of one run; ``None`` turns metering off.
    - ``max_stack_bytes``: wasm stack, in bytes (8 KiB to 64 MiB).
    - ``max_output_bytes``: bytes captured per output stream.
    - ``max_table_elements``, ``max_module_bytes``: table and module size limits.
    - ``allowed_imports``: imports granted, as ``"env.log"`` or ``"env::log"`` (``"env.*"``
      grants a whole module).
    - ``runtime``: ``"wasmtime"`` or ``"wasmer"`` (or a :class:`Runtime`).
    - ``clock``: ``"virtual"`` (deterministic, leaks nothing of the host; the default),
      ``"deny"`` or ``"real"``; ``random_seed`` seeds the virtual random source.
    - ``env``, ``args``, ``program_name``, ``stdin``: what a WASI guest sees.
    - ``dirs`` / ``dirs_rw``: directories preopened read-only / read-write (see
      :data:`DirSpec`).
    - ``cache``: compiled modules cached in memory and on disk: ``True`` for the default
      location (``$SANDBOX_CACHE_DIR``, else the user's cache directory), a directory, or
      ``False``/``None`` (off).
    """

    max_memory_bytes: int = _UNSET
    timeout_seconds: float = _UNSET
    max_fuel: Optional[int] = _UNSET
    max_stack_bytes: int = _UNSET
    max_output_bytes: int = _UNSET
    allowed_imports: List[str] = dataclasses.field(default_factory=list)
    runtime: Union[Runtime, str] = Runtime.WASMTIME
    preset: Optional[str] = None
    clock: str = _UNSET
    env: Dict[str, str] = dataclasses.field(default_factory=dict)
    args: List[str] = dataclasses.field(default_factory=list)
    stdin: bytes = b""
    dirs: List[DirSpec] = dataclasses.field(default_factory=list)
    dirs_rw: List[DirSpec] = dataclasses.field(default_factory=list)
    max_table_elements: int = _UNSET
    max_module_bytes: int = _UNSET
    random_seed: int = _UNSET
    program_name: str = _UNSET
    cache: Union[bool, PathLike, None] = None
    host_functions: List[HostFunction] = dataclasses.field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        """Fills the fields left out from the preset and checks every value."""
        if self.preset is not None and not isinstance(self.preset, str):
            raise TypeError(f"preset must be a str or None, not {type(self.preset).__name__}")
        defaults = _native.preset(self.preset or "default")
        # Whether the fuel budget was asked for (scripts run unmetered otherwise: an
        # interpreter's start-up alone takes ~270 million fuel).
        explicit_fuel = self.max_fuel is not _UNSET
        for name, value in defaults.items():
            if getattr(self, name) is _UNSET:
                object.__setattr__(self, name, value)
        object.__setattr__(self, "_explicit_fuel", explicit_fuel)
        if isinstance(self.runtime, str) and not isinstance(self.runtime, Runtime):
            try:
                self.runtime = Runtime(self.runtime.strip().lower())
            except ValueError:
                raise ValueError(
                    f"runtime: unknown runtime {self.runtime!r}; runtimes are 'wasmtime' and 'wasmer'"
                ) from None
        _native.check_config(self._native())

    def __setattr__(self, name: str, value: Any) -> None:
        """Sets a field (checked when a sandbox is made from the config)."""
        if name == "max_fuel" and "_explicit_fuel" in self.__dict__:
            object.__setattr__(self, "_explicit_fuel", True)
        object.__setattr__(self, name, value)

    @property
    def explicit_fuel(self) -> bool:
        """Whether ``max_fuel`` was given (rather than taken from the preset). Scripts
        (:meth:`WasmSandbox.run_script`) are metered only then."""
        return bool(self.__dict__.get("_explicit_fuel", True))

    @classmethod
    def minimal(cls, **overrides: Any) -> "WasmSandboxConfig":
        """The ``minimal`` preset: 1 MiB, 100 ms, 100,000 fuel, a 64 KiB stack."""
        return cls(preset="minimal", **overrides)

    @classmethod
    def compute(cls, **overrides: Any) -> "WasmSandboxConfig":
        """The ``compute`` preset: 256 MiB, 30 s, 1,000,000,000 fuel, an 8 MiB stack, the real
        clock."""
        return cls(preset="compute", **overrides)

    def host_function(
        self,
        module: str,
        name: str,
        params: Sequence[str] = (),
        results: Sequence[str] = (),
        func: Optional[Callable[..., Any]] = None,
    ) -> Any:
        """Registers ``func`` as the import ``module.name`` (registering grants it).

        ``params`` and ``results`` are type names (``"i32"``, ``"i64"``, ``"f32"``, ``"f64"``).
        Without ``func``, returns a decorator::

            @config.host_function("env", "log", params=["i32", "i32"])
            def log(ctx, ptr, length):
                print(ctx.read_string(ptr, length))
        """

        def register(function: Callable[..., Any]) -> Callable[..., Any]:
            for what, types in (("params", params), ("results", results)):
                if isinstance(types, str) or not all(t in _TYPES for t in types):
                    raise ValueError(
                        f"{what}: expected a list of 'i32', 'i64', 'f32' or 'f64', got {types!r}"
                    )
            if not callable(function):
                raise TypeError(f"func must be callable, not {type(function).__name__}")
            if not isinstance(module, str) or not isinstance(name, str):
                raise TypeError("module and name must be str")
            spec = HostFunction(module, name, tuple(params), tuple(results), function)
            self.host_functions = [
                f for f in self.host_functions if (f.module, f.name) != (module, name)
            ] + [spec]
            return function

        if func is None:
            return register
        register(func)
        return self

    def to_dict(self) -> Dict[str, Any]:
        """The configuration's fields as a dict (host functions by name)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields["runtime"] = self.runtime.value if isinstance(self.runtime, Runtime) else self.runtime
        fields["host_functions"] = [f"{f.module}.{f.name}" for f in self.host_functions]
        return fields

    def _native(self) -> Dict[str, Any]:
        """The dict the native module reads."""
        native: Dict[str, Any] = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is _UNSET:
                continue
            native[field.name] = value
        if isinstance(self.runtime, Runtime):
            native["runtime"] = self.runtime.value
        native["dirs"] = _dirs(self.dirs, "dirs")
        native["dirs_rw"] = _dirs(self.dirs_rw, "dirs_rw")
        if isinstance(self.cache, os.PathLike):
            native["cache"] = os.fspath(self.cache)
        if self.cache is None:
            native["cache"] = False
        if isinstance(self.env, dict):
            native["env"] = dict(self.env)
        if isinstance(native.get("allowed_imports"), (list, tuple)):
            native["allowed_imports"] = list(native["allowed_imports"])
        native["host_functions"] = [
            (f.module, f.name, list(f.params), list(f.results), f.func) for f in self.host_functions
        ]
        return native


def _dirs(specs: Any, field: str) -> Any:
    """``DirSpec``s as ``(host, guest)`` pairs of str; anything else is passed on for the native
    side to refuse with the field's name."""
    if not isinstance(specs, (list, tuple)):
        return specs
    pairs: List[Any] = []
    for spec in specs:
        if isinstance(spec, tuple) and len(spec) == 2:
            host, guest = spec
            pairs.append((os.fspath(host) if isinstance(host, os.PathLike) else host, guest))
        elif isinstance(spec, (str, os.PathLike)):
            text = os.fspath(spec)
            if "::" in text:
                host, guest = text.split("::", 1)
            else:
                host, guest = text, text
            pairs.append((host, guest))
        else:
            pairs.append(spec)
    return pairs
