"""The exception hierarchy: every problem with the input is a :class:`SandboxError`.

A run that *fails* (a trap, a limit reached, a non-zero exit code) is not an exception: it is
an :class:`~wasm_sandbox.ExecutionResult` with ``success=False``. Exceptions are for input the
sandbox cannot run at all: an invalid module, an import the policy does not grant, a missing
export, arguments of the wrong type, and so on. Each class has a ``kind`` equal to the name of
the outcome taxonomy (``"invalid_module"``, ``"unauthorized_import"``, ...), and each instance
carries the error's fields as attributes (``err.module`` and ``err.name`` of an
:class:`UnauthorizedImport`, ``err.available`` of a :class:`FunctionNotFound`, ...).
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Type

__all__ = [
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
]


class SandboxError(Exception):
    """Base of every error the sandbox raises.

    ``kind`` is the outcome taxonomy's name of the error; ``detail`` is a dict of its fields
    (also available as attributes).
    """

    kind: str = "error"

    def __init__(self, message: str, detail: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail: Dict[str, Any] = dict(detail or {})
        for key, value in self.detail.items():
            if key != "kind" and not hasattr(type(self), key):
                setattr(self, key, value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class InvalidModule(SandboxError, ValueError):
    """The bytes are not a valid module: bad magic number, truncated, failing validation, or
    larger than ``max_module_bytes``."""

    kind = "invalid_module"


class UnauthorizedImport(SandboxError):
    """The module imports a function the policy does not grant (see ``allowed_imports``)."""

    kind = "unauthorized_import"


class LinkError(SandboxError):
    """An import could not be satisfied, or instantiation failed for a reason that is not a
    limit."""

    kind = "link_error"


class FunctionNotFound(SandboxError, LookupError):
    """No exported function has the name asked for; ``available`` lists those that exist."""

    kind = "function_not_found"


class ExportNotFound(SandboxError, LookupError):
    """No export of the kind asked for has that name."""

    kind = "export_not_found"


class TypeMismatch(SandboxError, TypeError):
    """The arguments do not match the function's signature."""

    kind = "type_mismatch"


class Unsupported(SandboxError):
    """The module or call needs something this engine or the sandbox cannot do (a proposal
    singlepass lacks, a missing interpreter, ...)."""

    kind = "unsupported"


class IncompatibleArtifact(SandboxError):
    """An ahead-of-time artifact was refused: not an artifact, damaged, or made for another
    engine, engine version or configuration."""

    kind = "incompatible_artifact"


class PoolExhausted(SandboxError):
    """Every slot of the instance pool is in use."""

    kind = "pool_exhausted"


class CancelledError(SandboxError):
    """The host cancelled the call through the instance's cancel handle; ``elapsed_ms`` is how
    long it had run. Like a limit, a cancelled run is reported as a result with
    ``success=False`` and ``outcome == "cancelled"``; this class is the kind's exception where
    one is raised. Not :class:`asyncio.CancelledError`: the guest's call was stopped, not the
    Python task."""

    kind = "cancelled"


class SandboxIOError(SandboxError):
    """A file the caller named could not be read or written."""

    kind = "io_error"


class CompilationError(SandboxError, ValueError):
    """A Mini program (:func:`~wasm_sandbox.compile_mini`, or a ``.mini`` file) did not
    compile. ``diagnostics`` is every error found, in source order, each a dict with
    ``file``, ``line``, ``column``, ``end_line``, ``end_column``, ``message`` and ``help``
    (``None`` when the compiler has none); ``rendered`` is all of them as a compiler prints
    them (the source line and a caret under the offending text)."""

    kind = "compilation_error"


_BY_KIND: Dict[str, Type[SandboxError]] = {
    cls.kind: cls
    for cls in (
        InvalidModule,
        UnauthorizedImport,
        LinkError,
        FunctionNotFound,
        ExportNotFound,
        TypeMismatch,
        Unsupported,
        IncompatibleArtifact,
        PoolExhausted,
        CancelledError,
        SandboxIOError,
        CompilationError,
    )
}


def error_class(kind: str) -> Type[SandboxError]:
    """The exception class of an outcome kind (:class:`SandboxError` for any other)."""
    return _BY_KIND.get(kind, SandboxError)


def from_native(kind: str, message: str, detail: str) -> SandboxError:
    """Builds the exception for an error of the native module (called from Rust)."""
    try:
        fields = json.loads(detail)
    except ValueError:
        fields = {}
    if not isinstance(fields, dict):
        fields = {}
    cls = _BY_KIND.get(kind)
    if cls is None:
        # A limit or a trap raised where a result was expected cannot happen through the
        # public API; keep its kind anyway.
        error = SandboxError(message, fields)
        error.kind = kind
        return error
    return cls(message, fields)
