# Type stubs of the extension module `wasm_sandbox._native` (written by hand; see src/).
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

__version__: str
RUNTIMES: List[str]

_Wasm = Union[bytes, bytearray, str, "Module"]

class Module:
    """A compiled module: load once with ``WasmSandbox.load``, run as often as needed."""

    @property
    def backend(self) -> str:
        """The engine that compiled it."""
    @property
    def exports(self) -> Dict[str, str]:
        """Exported functions and their signatures, e.g. ``{"add": "(i32, i32) -> i32"}``."""
    @property
    def imports(self) -> List[str]:
        """Imports, as ``module::name``."""
    @property
    def entry_point(self) -> str:
        """What ``execute`` runs when no function is named: ``_start``, or ``""`` (a reactor)."""

class ExecutionResult:
    """How one run ended and what it used."""

    @property
    def success(self) -> bool:
        """Whether the run completed normally (returned, or exited with code 0)."""
    @property
    def outcome(self) -> str:
        """``ok``, ``exit``, ``trap``, ``fuel_exhausted``, ``time_limit_exceeded``,
        ``memory_limit_exceeded``, ``table_limit_exceeded``, ``output_limit_exceeded`` or
        ``cancelled``."""
    @property
    def trap(self) -> Optional[str]:
        """The trap kind (``unreachable``, ``stack_overflow``, ``other``, ...) or ``None``."""
    @property
    def exit_code(self) -> Optional[int]:
        """A WASI command's exit code (0 when ``_start`` returned), else ``None``."""
    @property
    def error(self) -> Optional[str]:
        """What went wrong, when the run did not succeed."""
    @property
    def results(self) -> List[Union[int, float, None]]:
        """Values the function returned."""
    @property
    def stdout(self) -> bytes:
        """Captured standard output (at most ``max_output_bytes``)."""
    @property
    def stderr(self) -> bytes:
        """Captured standard error (at most ``max_output_bytes``)."""
    @property
    def stdout_truncated(self) -> bool:
        """Whether stdout was cut at ``max_output_bytes``."""
    @property
    def stderr_truncated(self) -> bool:
        """Whether stderr was cut at ``max_output_bytes``."""
    @property
    def execution_time_ms(self) -> float:
        """Wall-clock time of the call, in milliseconds."""
    @property
    def fuel_consumed(self) -> Optional[int]:
        """Fuel consumed, or ``None`` when metering is off."""
    @property
    def memory_used_bytes(self) -> int:
        """Peak linear memory of the instance, in bytes."""
    @property
    def backend(self) -> str:
        """The engine that ran the call."""
    @property
    def denied(self) -> List[str]:
        """WASI calls the policy denied during the run (clock, random, paths, sockets)."""
    def to_dict(self) -> Dict[str, Any]:
        """Every field, as a dict."""
    def __bool__(self) -> bool: ...

class HostContext:
    """The guest as a Python host function sees it, valid during the call only."""

    def read(self, address: int, length: int) -> bytes:
        """Reads ``length`` bytes of guest memory at ``address``."""
    def read_string(self, address: int, length: int) -> str:
        """Reads UTF-8 text from guest memory."""
    def write(self, address: int, data: bytes) -> None:
        """Writes ``data`` into guest memory at ``address``."""
    @property
    def memory_size(self) -> int:
        """The guest memory's size in bytes."""
    @property
    def fuel_consumed(self) -> Optional[int]:
        """Fuel consumed so far, or ``None`` when metering is off."""

class NativeSandbox:
    def __init__(self, config: Mapping[str, Any], explicit_fuel: bool = True) -> None: ...
    @property
    def backend(self) -> str: ...
    def load(self, wasm: _Wasm) -> Module: ...
    def execute(
        self,
        wasm: _Wasm,
        function: Optional[str] = None,
        args: Optional[Sequence[Union[int, float, None]]] = None,
        stdin: Union[bytes, bytearray, str, None] = None,
    ) -> ExecutionResult: ...
    def run_script(
        self,
        source: Union[str, bytes],
        lang: str,
        stdin: Union[bytes, bytearray, str, None] = None,
        files: Optional[Mapping[str, Union[bytes, str]]] = None,
        args: Optional[List[str]] = None,
        interpreter: Optional[str] = None,
    ) -> ExecutionResult: ...
    def compile_aot(self, wasm: Union[bytes, bytearray, str], path: str) -> int: ...
    def load_aot(self, path: str) -> Module: ...

def preset(name: str) -> Dict[str, Any]: ...
def check_config(config: Mapping[str, Any]) -> None: ...
def judge(
    config: Mapping[str, Any],
    solution: Union[bytes, bytearray, str],
    tests: bytes,
    jobs: int = 0,
    backend: Optional[str] = None,
    function: Optional[str] = None,
    deterministic_time: bool = False,
    fuel: Optional[int] = None,
    lang: Optional[str] = None,
    interpreter: Optional[str] = None,
) -> str: ...
def validate(wasm: Union[bytes, bytearray, str]) -> None: ...
def wat_to_wasm(source: Union[str, bytes]) -> bytes: ...
def compile_mini(source: Union[str, bytes], filename: Optional[str] = None) -> bytes: ...
def compile_mini_to_wat(source: Union[str, bytes], filename: Optional[str] = None) -> str: ...
