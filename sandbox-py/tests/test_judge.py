"""The judge from Python: the examples' problem, every verdict, every spelling of the tests."""

from __future__ import annotations

import asyncio
import json

import pytest

from wasm_sandbox import VERDICTS, Judge, JudgeReport, Runtime, WasmSandboxConfig

from conftest import JUDGE

TESTS = JUDGE / "tests.json"


def solution(name: str) -> bytes:
    return (JUDGE / name).read_bytes()


def test_an_accepted_solution(runtime: str) -> None:
    report = Judge(WasmSandboxConfig(runtime=runtime)).run(solution("accepted.wasm"), TESTS)
    assert isinstance(report, JudgeReport)
    assert report.verdict == "accepted" and report.accepted
    assert (report.passed, report.total) == (5, 5)
    assert report.backend == runtime
    assert [r.test_id for r in report.results] == [1, 2, 3, 4, "zeros"]
    assert all(r.passed and r.verdict == "accepted" for r in report.results)
    assert report.to_dict()["verdict"] == "accepted"


@pytest.mark.parametrize(
    "name, verdict",
    [
        ("wrong.wasm", "wrong_answer"),
        ("slow.wasm", "time_limit_exceeded"),
        ("hungry.wasm", "memory_limit_exceeded"),
        ("crash.wasm", "runtime_error"),
        ("chatty.wasm", "output_limit_exceeded"),
    ],
)
def test_every_verdict_is_reachable(runtime: str, name: str, verdict: str) -> None:
    config = WasmSandboxConfig(runtime=runtime, timeout_seconds=1.0)
    report = Judge(config).run(solution(name), TESTS, jobs=2)
    assert verdict in {r.verdict for r in report.results}, report
    assert report.verdict in VERDICTS


def test_a_compilation_error(runtime: str) -> None:
    report = Judge(WasmSandboxConfig(runtime=runtime)).run(b"not wasm", TESTS)
    assert report.verdict == "compilation_error"
    assert report.compilation_error is not None and report.compilation_error["kind"] == "invalid_module"
    assert all(r.verdict == "compilation_error" for r in report.results)


def test_tests_as_text_path_or_list_and_function_mode(runtime: str) -> None:
    wat = (JUDGE / "solve.wat").read_text()
    tests = [
        {"id": 1, "input": "5 7", "expected_output": "12\n"},
        {"id": 2, "input": "1 1", "expected_output": "3\n"},
    ]
    judge = Judge(WasmSandboxConfig(runtime=runtime))
    by_list = judge.run(wat, tests, function="solve")
    by_text = judge.run(wat, json.dumps(tests), function="solve")
    by_path = judge.run(solution("accepted.wasm"), str(TESTS))
    assert (by_list.passed, by_list.total, by_list.verdict) == (1, 2, "wrong_answer")
    assert by_text.passed == 1
    assert by_path.verdict == "accepted"
    difference = by_list.results[1].detail
    assert difference["kind"] == "difference" and difference["got"] == "2"


def test_backend_option_and_async(runtime: str) -> None:
    judge = Judge(WasmSandboxConfig(runtime="wasmtime"))

    async def main():
        return await judge.run_async(solution("accepted.wasm"), TESTS, backend=Runtime(runtime))

    report = asyncio.run(main())
    assert report.backend == runtime and report.accepted


def test_deterministic_time_gives_the_same_fuel_every_run(runtime: str) -> None:
    judge = Judge(WasmSandboxConfig(runtime=runtime), deterministic_time=True)
    first = judge.run(solution("accepted.wasm"), TESTS)
    second = judge.run(solution("accepted.wasm"), TESTS)
    assert first.accepted and second.accepted
    assert [r.fuel_consumed for r in first.results] == [r.fuel_consumed for r in second.results]
    assert all(r.fuel_consumed for r in first.results)


def test_bad_tests_and_options_raise() -> None:
    judge = Judge()
    with pytest.raises(ValueError, match="tests"):
        judge.run(solution("accepted.wasm"), "[{]")
    with pytest.raises(ValueError, match="tests"):
        judge.run(solution("accepted.wasm"), [{"id": 1}])
    with pytest.raises(TypeError):
        judge.run(solution("accepted.wasm"), 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="jobs"):
        judge.run(solution("accepted.wasm"), TESTS, jobs=-1)
    with pytest.raises(ValueError, match="backend"):
        judge.run(solution("accepted.wasm"), TESTS, backend="v8")
    with pytest.raises(ValueError, match="fuel"):
        Judge(fuel=-1)
