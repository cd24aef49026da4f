""":class:`Judge`: one solution, many test cases, one verdict per test case."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from . import _native
from ._config import PathLike, Runtime, WasmSandboxConfig

__all__ = ["Judge", "JudgeReport", "TestResult", "VERDICTS"]

VERDICTS = (
    "accepted",
    "wrong_answer",
    "time_limit_exceeded",
    "memory_limit_exceeded",
    "output_limit_exceeded",
    "runtime_error",
    "compilation_error",
)
"""Every verdict name, as the CLI's ``--json`` report spells them."""

Tests = Union[str, bytes, "os.PathLike[str]", Sequence[Mapping[str, Any]]]
"""Test cases: the JSON test file's text, a path to it, or a list of dicts with its fields
(``id``, ``input``, ``expected_output``, optional ``time_limit_ms``, ``memory_limit_bytes``,
``fuel``)."""


@dataclasses.dataclass(frozen=True)
class TestResult:
    """The verdict on one test case."""

    test_id: Union[int, str]
    """The test case's id."""
    verdict: str
    """Its verdict (one of :data:`VERDICTS`)."""
    passed: bool
    """Whether it was accepted."""
    expected_output: str
    """The expected output (cut at 64 KiB)."""
    actual_output: str
    """What the solution printed or returned (cut at 64 KiB)."""
    execution_time_ms: float
    """Wall-clock time of the run."""
    memory_used_bytes: int
    """Peak linear memory."""
    fuel_consumed: Optional[int]
    """Fuel consumed, when metered."""
    detail: Optional[Dict[str, Any]]
    """Why it was not accepted: the first differing line, the exit code, or the error."""

    __test__ = False  # not a pytest test class


@dataclasses.dataclass(frozen=True)
class JudgeReport:
    """The verdicts on every test case of one solution."""

    verdict: str
    """The overall verdict: the first test's verdict that is not ``accepted``, else
    ``accepted``."""
    passed: int
    """Test cases accepted."""
    total: int
    """Test cases run."""
    backend: str
    """The engine that ran the solution."""
    results: List[TestResult]
    """One result per test case, in order."""
    compilation_error: Optional[Dict[str, Any]]
    """Why the solution could not be loaded, if it could not."""
    elapsed_ms: float
    """Wall-clock time of the whole evaluation."""
    raw: Dict[str, Any] = dataclasses.field(repr=False, compare=False)
    """The report as the CLI's ``--json`` object."""

    @property
    def accepted(self) -> bool:
        """Whether every test case was accepted."""
        return self.verdict == "accepted"

    def to_dict(self) -> Dict[str, Any]:
        """The report as the CLI's ``--json`` object."""
        return dict(self.raw)


class Judge:
    """Judges solutions against test cases, as ``sandbox judge`` does.

    ``config`` gives every test's default limits (a test's ``time_limit`` and
    ``memory_limit`` win) and the policy. Time is the judge's limit: fuel is metered only when
    ``fuel`` is given, or under ``deterministic_time`` (each time limit converted to fuel at
    the calibrated rate, so verdicts do not depend on the machine's load).
    """

    def __init__(
        self,
        config: Optional[WasmSandboxConfig] = None,
        *,
        deterministic_time: bool = False,
        fuel: Optional[int] = None,
    ) -> None:
        """A judge with ``config``'s limits and policy (default: ``WasmSandboxConfig()``);
        ``config.max_fuel`` is not used: ``fuel`` is the judge's own budget, if any."""
        if config is None:
            config = WasmSandboxConfig()
        if not isinstance(config, WasmSandboxConfig):
            raise TypeError(f"config must be a WasmSandboxConfig, not {type(config).__name__}")
        if fuel is not None and (isinstance(fuel, bool) or not isinstance(fuel, int) or fuel < 0):
            raise ValueError(f"fuel: must be a non-negative int or None, got {fuel!r}")
        self.config = config
        self.deterministic_time = bool(deterministic_time)
        self.fuel = fuel

    def run(
        self,
        solution: Union[bytes, bytearray, str],
        tests: Tests,
        *,
        jobs: int = 0,
        backend: Union[Runtime, str, None] = None,
        function: Optional[str] = None,
        lang: Optional[str] = None,
        interpreter: Optional[PathLike] = None,
    ) -> JudgeReport:
        """Judges ``solution`` on ``tests``.

        ``solution`` is module bytes or WAT text, run as a WASI command (stdin to stdout), or
        its export ``function`` called with each input's numbers; with ``lang`` (``"python"``,
        ``"js"``) it is a script's source run by that interpreter (see
        :meth:`WasmSandbox.run_script`); with ``lang="mini"`` a Mini program, compiled first
        (a program that does not compile gets ``compilation_error`` on every test, its
        diagnostics in ``report.compilation_error``). ``jobs`` test cases run at once (0: one per core);
        ``backend`` overrides the configuration's runtime.
        """
        if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 0:
            raise ValueError(f"jobs: must be a non-negative int, got {jobs!r}")
        if function is not None and not isinstance(function, str):
            raise TypeError(f"function must be a str, not {type(function).__name__}")
        if backend is not None and isinstance(backend, Runtime):
            backend = backend.value
        report = _native.judge(
            self.config._native(),
            solution,
            _tests_json(tests),
            jobs,
            backend,
            function,
            self.deterministic_time,
            self.fuel,
            lang,
            os.fspath(interpreter) if interpreter is not None else None,
        )
        return _report(json.loads(report))

    async def run_async(self, solution: Union[bytes, bytearray, str], tests: Tests, **options: Any) -> JudgeReport:
        """:meth:`run` on the event loop's default executor."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, functools.partial(self.run, solution, tests, **options))


def _tests_json(tests: Tests) -> bytes:
    """The test file's JSON text from any accepted spelling."""
    if isinstance(tests, bytes):
        return tests
    if isinstance(tests, os.PathLike):
        with open(tests, "rb") as file:
            return file.read()
    if isinstance(tests, str):
        if tests.lstrip().startswith(("[", "{")):
            return tests.encode()
        with open(tests, "rb") as file:
            return file.read()
    if isinstance(tests, (list, tuple)):
        try:
            return json.dumps(list(tests)).encode()
        except (TypeError, ValueError) as err:
            raise ValueError(f"tests: cannot be written as JSON: {err}") from None
    raise TypeError(
        f"tests must be JSON text, a path or a list of dicts, not {type(tests).__name__}"
    )


def _report(raw: Dict[str, Any]) -> JudgeReport:
    results = [
        TestResult(
            test_id=item["test_id"],
            verdict=item["verdict"],
            passed=item["passed"],
            expected_output=item["expected_output"],
            actual_output=item["actual_output"],
            execution_time_ms=item["execution_time_ms"],
            memory_used_bytes=item["memory_used_bytes"],
            fuel_consumed=item.get("fuel_consumed"),
            detail=item.get("detail"),
        )
        for item in raw.get("results", [])
    ]
    return JudgeReport(
        verdict=raw["verdict"],
        passed=raw["passed"],
        total=raw["total"],
        backend=raw["backend"],
        results=results,
        compilation_error=raw.get("compilation_error"),
        elapsed_ms=raw.get("elapsed_ms", 0.0),
        raw=raw,
    )
