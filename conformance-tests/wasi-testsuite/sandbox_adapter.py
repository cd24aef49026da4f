"""wasi-testsuite runtime adapter for the `sandbox` CLI.

It runs each test the way the suite's own `adapters/wasmtime.py` runs the wasmtime CLI:
`--env K=V` for each variable, the test's directory preopened at the guest's root
(`--dir HOST::/`, read-write: the suite's tests create and delete files), then the module
and its arguments.

Environment:
  SANDBOX           the sandbox binary (default: `sandbox` on PATH)
  SANDBOX_BACKEND   wasmtime (default) or wasmer
  SANDBOX_CLOCK     the --clock policy (default real, what the wasmtime CLI gives)
"""

import os
import shlex
import subprocess
from typing import Dict, List, Optional, Tuple

SANDBOX = shlex.split(os.getenv("SANDBOX", "sandbox"))
BACKEND = os.getenv("SANDBOX_BACKEND", "wasmtime")
CLOCK = os.getenv("SANDBOX_CLOCK", "real")


def get_name() -> str:
    return f"sandbox-{BACKEND}"


def get_version() -> str:
    result = subprocess.run(SANDBOX + ["--version"], encoding="UTF-8",
                            capture_output=True, check=True)
    return result.stdout.split()[-1]


def get_wasi_versions() -> List[str]:
    return ["wasm32-wasip1"]


def get_wasi_worlds() -> List[str]:
    return ["wasi:cli/command"]


def get_timeout_seconds() -> float:
    return 60.0


def compute_argv(test_path: str,
                 args_env_root: Tuple[List[str], Dict[str, str], Optional[str]],
                 proposals: List[str],
                 wasi_world: str,
                 wasi_version: str) -> List[str]:
    args, env, root = args_env_root
    # The suite's tests read clocks and random bytes and sleep: grant them (the sandbox
    # denies them by default), and meter time only (no fuel budget), as wasmtime does.
    argv = SANDBOX + ["run", "--backend", BACKEND, "--clock", CLOCK, "--fuel", "none",
                      "--timeout", "30s", "--no-cache"]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    if root:
        argv += ["--dir-rw", f"{root}::/"]
    argv += [test_path, "--"]
    argv += args
    return argv
