#!/usr/bin/env python3
"""Runs the official WASI testsuite's preview 1 tests through the `sandbox` CLI.

    python3 run.py WASI_TESTSUITE_CHECKOUT [--backend wasmtime|wasmer] [--sandbox BINARY]

WASI_TESTSUITE_CHECKOUT is a checkout of WebAssembly/wasi-testsuite at its `prod/testsuite-base`
branch (the one with the prebuilt binaries); nothing of it is kept in this repository. The suite's
own harness does the running and checking (exit code, stdout, files); this script only finds the
preview 1 test directories (the suite's `run-tests` needs Python 3.12 for that) and hands it
`sandbox_adapter.py`. Exits non-zero when a test fails.
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("suite", type=Path)
parser.add_argument("--backend", default="wasmtime", choices=["wasmtime", "wasmer"])
parser.add_argument("--sandbox", default="sandbox")
parser.add_argument("--json-output-location", default=None)
parser.add_argument("--verbose", action="store_true")
options = parser.parse_args()

if sys.version_info < (3, 12):
    # The harness tests `value in SomeEnum`, which Python 3.12 allows for values.
    import enum

    _contains = enum.EnumMeta.__contains__

    def _contains_value(cls, value):
        if isinstance(value, enum.Enum):
            return _contains(cls, value)
        return any(member.value == value for member in cls)

    enum.EnumMeta.__contains__ = _contains_value

os.environ["SANDBOX"] = options.sandbox
os.environ["SANDBOX_BACKEND"] = options.backend
sys.path.insert(0, str(options.suite / "test-runner"))

from wasi_test_runner.harness import run_tests  # noqa: E402
from wasi_test_runner.runtime_adapter import RuntimeAdapter  # noqa: E402

test_dirs = sorted(p.parent for p in (options.suite / "tests").glob("*/testsuite/wasm32-wasip1/manifest.json"))
if not test_dirs:
    sys.exit(f"no wasm32-wasip1 test directories under {options.suite}/tests")
# The differences listed in divergences.txt (`BACKEND/wasi-testsuite/TEST: reason`) are the
# harness's expected failures: a listed test that passes is reported, so the list stays true.
divergences = Path(__file__).parent.parent / "divergences.txt"
prefix = f"{options.backend}/wasi-testsuite/"
expected = []
for line in divergences.read_text().splitlines():
    if line.startswith(prefix) and ":" in line:
        expected.append(line[len(prefix):line.index(":")].strip())
expectations = Path(tempfile.mkdtemp()) / "expectations.toml"
with open(expectations, "w") as toml:
    toml.write("version = 1\n")
    for manifest in test_dirs:
        name = json.loads((manifest / "manifest.json").read_text())["name"]
        toml.write(f"\n[[suite]]\nname = {json.dumps(name)}\n")
        for test in expected:
            toml.write(f"\n[[suite.test]]\nname = {json.dumps(test)}\nexpected = \"fail\"\n")
print(f"{len(expected)} tests listed as expected failures for {options.backend} in {divergences}")

adapter = RuntimeAdapter(str(Path(__file__).parent / "sandbox_adapter.py"))
sys.exit(run_tests([adapter], test_dirs, color=False, verbose=options.verbose,
                   json_log_file=options.json_output_location,
                   expectations=[expectations]))
