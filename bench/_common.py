"""What the benchmarks share: commands, processes, a raw stdio JSON-RPC peer, figures.

Everything runs on loopback (127.0.0.1) only. Servers are spawned with the running
interpreter (`sys.executable`), so run the benchmarks with the project's venv.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PY = sys.executable
LOOPBACK = "127.0.0.1"
TOKEN = "bench-token"  # noqa: S105 - the simulator accepts any bearer token
SNAPSHOT_ID = "ebc879bb-2363-4326-bf38-eca0be7b7921"  # a seed snapshot in state "created"
UNTHROTTLED = "1e9"  # --rate-limit for overhead figures: the baseline has no limiter
PROTOCOL = "2025-11-25"  # the handshake era, as most clients speak it today

PROJECT_CMD = (PY, "-m", "snapshot_mcp")
PROJECT_SCRIPT_CMD = (str(Path(PY).with_name("snapshot-mcp")),)
PROJECT_UNTHROTTLED_CMD = (*PROJECT_CMD, "--rate-limit", UNTHROTTLED)
BARE_CMD = (PY, str(BENCH / "bare_server.py"))


@dataclass
class Figure:
    """One benchmark figure: project against its baseline (or floor), and the target."""

    key: str
    label: str
    unit: str
    project: float
    baseline: float | None
    ratio: float | None
    target: str = ""
    met: bool | None = None
    baseline_label: str = "bare"
    detail: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        ratio = "" if self.ratio is None else f"{self.ratio:.3f}x  "
        values = f"project {fmt(self.project)} {self.unit}"
        if self.baseline is not None:
            values += f", {self.baseline_label} {fmt(self.baseline)} {self.unit}"
        verdict = ""
        if self.target:
            verdict = f"  target {self.target}: " + {True: "met", False: "NOT met", None: "-"}[self.met]
        return f"{self.label:<44} {ratio}({values}){verdict}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def fmt(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def at_most(ratio: float, limit: float) -> bool:
    return ratio <= limit


def print_figures(figures: Sequence[Figure]) -> None:
    for figure in figures:
        print(figure.line(), flush=True)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    import mcp

    cpu = "?"
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "mcp": _version("mcp") or getattr(mcp, "__version__", "?"),
        "httpx": _version("httpx"),
        "pydantic": _version("pydantic"),
    }


def _version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def server_env(endpoint: str, **extra: str) -> dict[str, str]:
    """The environment for a spawned server: ours, minus any SNAPSHOT_MCP_* option."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SNAPSHOT_MCP_")}
    env.update(GENESISCLOUD_TOKEN=TOKEN, GENESISCLOUD_ENDPOINT=endpoint, PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """Until something accepts connections on 127.0.0.1:`port` (or `proc` died)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((LOOPBACK, port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on {LOOPBACK}:{port} within {timeout}s")


def rss_kib(pid: int) -> int:
    """Resident set size of `pid` in KiB (Linux /proc)."""
    for text in Path(f"/proc/{pid}/status").read_text().splitlines():
        if text.startswith("VmRSS:"):
            return int(text.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time used so far by `pid` (Linux /proc), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def stop(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """End a process this module started: terminate, then kill if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


@contextlib.contextmanager
def spawn(cmd: Sequence[str], env: dict[str, str], *, stdin: bool = False) -> Iterator[subprocess.Popen[bytes]]:
    """A child process (stderr kept in a temp file and shown if it fails); always ended."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and scripts
            list(cmd),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stderr=err,
            env=env,
            cwd=ROOT,
        )
        try:
            yield proc
        except BaseException:
            stop(proc)
            err.seek(0)
            tail = err.read()[-2000:].decode(errors="replace")
            if tail:
                print(f"--- stderr of {' '.join(cmd)}:\n{tail}", file=sys.stderr)
            raise
        finally:
            stop(proc)


@contextlib.contextmanager
def simulator_process(*, latency: float = 0.0) -> Iterator[str]:
    """The embedded simulator served by uvicorn on a free loopback port; yields its endpoint."""
    port = free_port()
    code = (
        "from snapshot_mcp.simulator import Faults, Simulator, serve\n"
        f"serve({LOOPBACK!r}, {port}, simulator=Simulator(faults=Faults(latency={latency!r})), log_level='warning')\n"
    )
    with spawn((PY, "-c", code), server_env("http://unused")) as proc:
        wait_port(port, proc)
        yield f"http://{LOOPBACK}:{port}/compute/v1"


class StdioPeer:
    """A minimal JSON-RPC client over a child's stdin/stdout (newline-delimited JSON).

    Blocking and allocation-light on purpose, so the figures measure the server, not
    a client SDK.
    """

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None
        assert proc.stdout is not None
        self.proc = proc
        self._in: IO[bytes] = proc.stdin
        self._out: IO[bytes] = proc.stdout
        self._next = 0

    def send(self, message: dict[str, Any]) -> None:
        self._in.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
        self._in.flush()

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and return its response (skipping notifications in between)."""
        self._next += 1
        ident = self._next
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": ident, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.receive(ident)

    def receive(self, ident: int) -> dict[str, Any]:
        while True:
            raw = self._out.readline()
            if not raw:
                raise RuntimeError(f"server closed stdout (exit code {self.proc.poll()})")
            reply: dict[str, Any] = json.loads(raw)
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"JSON-RPC error: {reply['error']}")
                return reply

    def initialize(self) -> dict[str, Any]:
        reply = self.request("initialize", initialize_params())
        self.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return reply

    def call_tool(self, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = self.request("tools/call", {"name": name, "arguments": arguments})["result"]
        if result.get("isError"):
            raise RuntimeError(f"{name} failed: {result.get('content')}")
        return result


def initialize_params() -> dict[str, Any]:
    return {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}}


def write_json(path: str | Path, data: object) -> None:
    Path(path).write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
