"""Start-up: the stdio server answers `initialize` having loaded only what that needs.

The server runs as a subprocess (`runpy.run_module("snapshot_mcp")`, as `python -m`
does) behind an import finder that writes every module Python looks for to stderr,
whichever way it is imported (`import`, `importlib.import_module`, a lazy
`__getattr__`). The names written before the `initialize` result arrives are what a
client waits for. The package's own must be those `ON_STDIO_START` names (a module
added to that path is a decision: add it there, or import it later, ARCHITECTURE.md
"What loads when"); nothing the stdio path does not use may be among them (the HTTP
entry point, Redis, the simulator, the demo, OAuth, scopes, JWT and OpenTelemetry's
SDK, pydantic-settings), nor what the first request for tools loads (the tools, the
card's tools, the API client, operations, channels, result models, the browser's
detection: `server._Server.later` and `state.AppState` build those on first use), nor
what only the browser channel's pages use (their page and listener).
The libraries beside ours are those the bare SDK server (`bench/bare_server.py`,
probed the same way) imports anyway, the standard library, and the SDK's MCP Apps
extension (the card's view). (That `cli.main` freezes the start-up heap for the garbage
collector is tested with the command line, in `tests/test_cli.py`.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

import pytest

from tests.support.processes import base_env

NEVER_ON_STDIO = (
    "snapshot_mcp.http",
    "snapshot_mcp.simulator",
    "snapshot_mcp.demo",
    "snapshot_mcp.store_redis",
    "snapshot_mcp.oauth",
    "snapshot_mcp.scopes",
    "snapshot_mcp.otel_export",
    "redis",
    "jwt",
    "authlib",
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "pydantic_settings",
    "dotenv",
)
"""Not imported by a stdio server at all (a module, or a package and everything in it)."""

ON_STDIO_START = frozenset(
    {
        "snapshot_mcp",
        "snapshot_mcp.__main__",
        "snapshot_mcp.cli",
        "snapshot_mcp.settings",
        "snapshot_mcp.safe_text",
        "snapshot_mcp.logs",
        "snapshot_mcp.telemetry",
        "snapshot_mcp.server",
        "snapshot_mcp.state",
        "snapshot_mcp.store",
        "snapshot_mcp.sending",
        "snapshot_mcp.ratelimit",
        "snapshot_mcp.redact",
        "snapshot_mcp.middleware",
        "snapshot_mcp.messages",
        "snapshot_mcp.errors",
        "snapshot_mcp.models",
        "snapshot_mcp.resources",
        "snapshot_mcp.apps",
        "snapshot_mcp.browser",
    }
)
"""The package's modules a stdio server loads before it answers `initialize`, and no others."""

FIRST_TOOLS_REQUEST = (
    "snapshot_mcp.tools",
    "snapshot_mcp.apps.tools",
    "snapshot_mcp.declaration",
    "snapshot_mcp.schema",
    "snapshot_mcp.views",
    "snapshot_mcp.operations",
    "snapshot_mcp.dedupe",
    "snapshot_mcp.client",
    "snapshot_mcp.confirm",
    "snapshot_mcp.audit",
    "snapshot_mcp.browser.opener",
)
"""Loaded by the first request that needs tools, not before `initialize` is answered."""

FIRST_BROWSER_USE = (
    "snapshot_mcp.confirm.browser",
    "snapshot_mcp.browser.page",
    "snapshot_mcp.browser.listener",
)
"""Loaded by the first call that uses the browser channel, not by listing the tools."""

ALSO_ALLOWED = ("mcp.server.apps",)
"""Third-party modules the bare SDK server does not import but the stdio server may: the card's extension."""

ROOT = Path(__file__).resolve().parent.parent.parent
RECORD = "looked for: "
FINDER = f"""
import runpy, sys

class Recorder:
    \"\"\"Writes each module name Python looks for, then lets the real finders find it.\"\"\"

    def find_spec(self, name, path=None, target=None):
        sys.stderr.write({RECORD!r} + name + "\\n")
        return None

sys.meta_path.insert(0, Recorder())
"""
"""Run first in the probed process: every import of a module not yet loaded passes through it."""


def _imported(log: IO[bytes]) -> list[str]:
    """The modules looked for so far, as written in `log` (a failed optional import is there too)."""
    log.seek(0)
    lines = log.read().decode(errors="replace").splitlines()
    return [line.removeprefix(RECORD) for line in lines if line.startswith(RECORD)]


def _request(proc: subprocess.Popen[bytes], ident: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": ident, "method": method, "params": params}).encode() + b"\n")
    proc.stdin.flush()
    reply: dict[str, Any] = json.loads(proc.stdout.readline())
    assert "result" in reply, reply
    return reply


def _start_and_list_tools(run: str) -> tuple[list[str], list[str]]:
    """Modules the server `run` starts has looked for when it answers `initialize`, and then `tools/list`."""
    env = base_env(
        GENESISCLOUD_TOKEN="start-up-test-token",
        GENESISCLOUD_ENDPOINT="http://127.0.0.1:9/compute/v1",
        PYTHONDONTWRITEBYTECODE="1",  # leave no bytecode behind to speed up later starts
    )
    with (
        tempfile.TemporaryFile() as log,
        subprocess.Popen(
            [sys.executable, "-c", FINDER + run],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=ROOT,
        ) as proc,
    ):
        try:
            hello = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
            _request(proc, 1, "initialize", hello)
            at_initialize = _imported(log)
            assert proc.stdin is not None
            proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
            tools = _request(proc, 2, "tools/list", {})["result"]["tools"]
            assert tools, "tools/list answered no tools"
            return at_initialize, _imported(log)
        finally:
            proc.kill()


def _within(module: str, names: tuple[str, ...]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in names)


@pytest.fixture(scope="module")
def started() -> tuple[list[str], list[str]]:
    return _start_and_list_tools("runpy.run_module('snapshot_mcp', run_name='__main__', alter_sys=True)")


@pytest.mark.slow  # spawns the server (or Python) as a subprocess
def test_initialize_is_answered_without_the_tools_or_anything_stdio_does_not_use(
    started: tuple[list[str], list[str]],
) -> None:
    at_initialize, _ = started
    assert "snapshot_mcp.server" in at_initialize  # the probe saw the start (the lines are there)
    assert [m for m in at_initialize if _within(m, NEVER_ON_STDIO)] == []
    assert [m for m in at_initialize if _within(m, FIRST_TOOLS_REQUEST + FIRST_BROWSER_USE)] == []
    assert sorted({m for m in at_initialize if _within(m, ("snapshot_mcp",))} - ON_STDIO_START) == []


@pytest.mark.slow  # spawns the server (or Python) as a subprocess
def test_initialize_needs_no_library_the_bare_sdk_server_does_not_import(
    started: tuple[list[str], list[str]],
) -> None:
    """Compared by top-level package (the SDK's own packages may load other modules of theirs for the card)."""
    at_initialize, _ = started
    bare, _ = _start_and_list_tools(f"runpy.run_path({str(ROOT / 'bench' / 'bare_server.py')!r}, run_name='__main__')")
    assert "httpx" in bare  # the baseline was probed
    libraries = {module.split(".")[0] for module in bare} | set(sys.stdlib_module_names) | {"snapshot_mcp"}
    assert sorted({module.split(".")[0] for module in at_initialize} - libraries) == []
    assert [m for m in at_initialize if m.startswith("mcp.") and m not in bare] == list(ALSO_ALLOWED)


@pytest.mark.slow  # spawns the server (or Python) as a subprocess
def test_the_first_tools_request_loads_the_tools_and_still_nothing_stdio_does_not_use(
    started: tuple[list[str], list[str]],
) -> None:
    """The deferred modules do load, with the first tools/list: the laziness is a delay, not an absence."""
    _, after_tools = started
    assert {"snapshot_mcp.tools", "snapshot_mcp.apps.tools", "snapshot_mcp.declaration", "snapshot_mcp.schema"} <= set(
        after_tools
    )
    assert [m for m in after_tools if _within(m, NEVER_ON_STDIO + FIRST_BROWSER_USE)] == []


@pytest.mark.slow  # spawns the server (or Python) as a subprocess
def test_the_probe_sees_imports_however_they_are_made() -> None:
    """The finder records an `import`, `importlib.import_module` and a lazy `__getattr__` alike (so an empty
    list above means what it says)."""
    run = "import json; import importlib; importlib.import_module('snapshot_mcp.demo'); "
    run += "from snapshot_mcp.confirm import FormChannel"
    with tempfile.TemporaryFile() as log:
        subprocess.run(
            [sys.executable, "-c", FINDER + run],
            stderr=log,
            check=True,
            env={**base_env(), "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONDONTWRITEBYTECODE": "1"},
        )
        seen = _imported(log)
    assert {"json", "snapshot_mcp.demo", "snapshot_mcp.confirm.form"} <= set(seen)
