"""Mini, the project's small language: compiled from Python, run, judged; errors as data."""

from __future__ import annotations

import pytest

import wasm_sandbox
from wasm_sandbox import Judge, WasmSandbox, WasmSandboxConfig

from conftest import JUDGE

ADD = "export func add(a: int, b: int) -> int { return a + b; }"
SUM = "func main() { let a = read_int(); let b = read_int(); println(a + b); }"


def test_a_compiled_export_is_called_with_arguments(runtime: str) -> None:
    wasm = wasm_sandbox.compile_mini(ADD)
    assert wasm.startswith(b"\0asm")
    with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
        result = sandbox.execute_sync(wasm, "add", [5, 7])
    assert result.success and result.results == [12]


def test_a_program_reads_stdin_and_prints(runtime: str) -> None:
    with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
        result = sandbox.run_script_sync(SUM, lang="mini", stdin="40 2\n")
    assert result.success, result.stderr
    assert result.stdout == b"42\n"


def test_a_runtime_error_is_a_failed_result_with_its_message(runtime: str) -> None:
    source = "func main() {\n    let xs = array(2, 0);\n    xs[read_int()] = 1;\n}\n"
    with WasmSandbox(WasmSandboxConfig(runtime=runtime)) as sandbox:
        result = sandbox.run_script_sync(source, lang="mini", stdin="5")
    assert not result.success and result.exit_code == 1
    assert result.stderr == b"runtime error: array index out of bounds at line 3\n"


def test_a_compile_error_carries_every_diagnostic() -> None:
    source = "func main() {\n    let x: int = 1.5;\n    println(y);\n}\n"
    with pytest.raises(wasm_sandbox.CompilationError) as caught:
        wasm_sandbox.compile_mini(source, "prog.mini")
    error = caught.value
    assert error.kind == "compilation_error" and isinstance(error, ValueError)
    assert [(d["line"], d["file"]) for d in error.diagnostics] == [(2, "prog.mini"), (3, "prog.mini")]
    assert all(d["message"] for d in error.diagnostics)
    assert error.rendered.startswith("prog.mini:2:")
    assert "^" in error.rendered
    assert str(error).startswith("compilation error: prog.mini:2:")


def test_text_and_wrong_types() -> None:
    wat = wasm_sandbox.compile_mini_to_wat(ADD)
    assert wat.startswith("(module") and '(export "add"' in wat
    assert wasm_sandbox.compile_mini(ADD.encode()) == wasm_sandbox.compile_mini(ADD)
    with pytest.raises(TypeError):
        wasm_sandbox.compile_mini(42)  # type: ignore[arg-type]
    with pytest.raises(wasm_sandbox.CompilationError) as caught:
        wasm_sandbox.compile_mini(b"func main() { \xff }")
    assert "not UTF-8" in caught.value.diagnostics[0]["message"]
    with pytest.raises(TypeError):
        WasmSandbox().run_script_sync(SUM, lang="mini", args=["x"])


@pytest.mark.parametrize(
    "solution, verdict",
    [
        ("accepted", "accepted"),
        ("wrong", "wrong_answer"),
        ("crash", "runtime_error"),
        ("broken", "compilation_error"),
    ],
)
def test_the_judge_takes_mini_solutions(solution: str, verdict: str) -> None:
    source = (JUDGE / "mini" / f"{solution}.mini").read_text()
    report = Judge(WasmSandboxConfig()).run(source, (JUDGE / "tests.json").read_text(), lang="mini")
    assert report.verdict == verdict, report
    if verdict == "compilation_error":
        assert report.compilation_error["kind"] == "compilation_error"
        assert report.compilation_error["diagnostics"][0]["line"] == 5
