"""Start-up: the stdio server answers `initialize` having loaded only what that needs.

`python -X importtime -m snapshot_mcp` runs as a subprocess; every module it imports is
a line on its stderr, written when the import finishes. The lines written before the
`initialize` result arrives are what a client waits for. They must hold nothing the
stdio path does not use (the HTTP entry point, Redis, the simulator, the demo, OAuth
and tracing libraries, pydantic-settings) and none of what the first request for tools
loads (the tools, the card's tools, the API client, operations, confirmation channels,
result models): `server._Server.later` and `state.AppState` build those on first use.
The third-party modules beside ours are those the bare SDK server (`bench/bare_server.py`,
probed the same way) imports anyway, the standard library's, and the SDK's MCP Apps
extension (the card's view). And `cli.main` hides what start-up made from the garbage
collector (`gc.freeze`) before it serves.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO, Any

import pytest
from test_e2e import base_env

from snapshot_mcp import cli

NEVER_ON_STDIO = (
    "snapshot_mcp.http",
    "snapshot_mcp.simulator",
    "snapshot_mcp.demo",
    "snapshot_mcp.store_redis",
    "redis",
    "jwt",
    "authlib",
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "pydantic_settings",
    "dotenv",
)
"""Not imported by a stdio server at all (a module, or a package and everything in it)."""

FIRST_TOOLS_REQUEST = (
    "snapshot_mcp.tools",
    "snapshot_mcp.apps.tools",
    "snapshot_mcp.declaration",
    "snapshot_mcp.schema",
    "snapshot_mcp.views",
    "snapshot_mcp.operations",
    "snapshot_mcp.dedupe",
    "snapshot_mcp.client",
    "snapshot_mcp.confirm.card",
    "snapshot_mcp.confirm.form",
    "snapshot_mcp.confirm.token",
)
"""Loaded by the first request that needs tools, not before `initialize` is answered."""

ALSO_ALLOWED = ("mcp.server.apps",)
"""Third-party modules the bare SDK server does not import but the stdio server may: the card's extension."""

ROOT = Path(__file__).resolve().parent.parent
HEADER = "imported package"


def _imported(log: IO[bytes]) -> list[str]:
    """The modules whose `-X importtime` line is in `log` so far (an import that failed has a line too)."""
    log.seek(0)
    lines = log.read().decode(errors="replace").splitlines()
    names = [line.rsplit("|", 1)[1].strip() for line in lines if line.startswith("import time:") and "|" in line]
    return [name for name in names if name != HEADER]


def _request(proc: subprocess.Popen[bytes], ident: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write(json.dumps({"jsonrpc": "2.0", "id": ident, "method": method, "params": params}).encode() + b"\n")
    proc.stdin.flush()
    reply: dict[str, Any] = json.loads(proc.stdout.readline())
    assert "result" in reply, reply
    return reply


def _start_and_list_tools(*command: str) -> tuple[list[str], list[str]]:
    """Modules `python -X importtime <command>` has imported when it answers `initialize`, and then `tools/list`."""
    env = base_env(
        GENESISCLOUD_TOKEN="start-up-test-token",
        GENESISCLOUD_ENDPOINT="http://127.0.0.1:9/compute/v1",
        PYTHONDONTWRITEBYTECODE="1",  # leave no bytecode behind to speed up later starts
    )
    with (
        tempfile.TemporaryFile() as log,
        subprocess.Popen(
            [sys.executable, "-X", "importtime", *command],
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
    return _start_and_list_tools("-m", "snapshot_mcp")


@pytest.mark.slow  # spawns the server (or Python) as a subprocess
def test_initialize_is_answered_without_the_tools_or_anything_stdio_does_not_use(
    started: tuple[list[str], list[str]],
) -> None:
    at_initialize, _ = started
    assert "snapshot_mcp.server" in at_initialize  # the probe saw the start (the lines are there)
    assert [m for m in at_initialize if _within(m, NEVER_ON_STDIO)] == []
    assert [m for m in at_initialize if _within(m, FIRST_TOOLS_REQUEST)] == []


@pytest.mark.slow  # spawns the server (or Python) as a subprocess
def test_initialize_needs_no_library_the_bare_sdk_server_does_not_import(
    started: tuple[list[str], list[str]],
) -> None:
    """Compared by top-level package (the SDK's own packages may load other modules of theirs for the card)."""
    at_initialize, _ = started
    bare, _ = _start_and_list_tools(str(ROOT / "bench" / "bare_server.py"))
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
    assert [m for m in after_tools if _within(m, NEVER_ON_STDIO)] == []


@pytest.mark.slow  # spawns the server (or Python) as a subprocess
def test_the_probe_sees_an_import_the_server_makes_late() -> None:
    """`_imported` reads module names from `-X importtime` lines (so an empty list above means what it says)."""
    with tempfile.TemporaryFile() as log:
        subprocess.run(
            [sys.executable, "-X", "importtime", "-c", "import snapshot_mcp.demo"],
            stderr=log,
            check=True,
            env={**base_env(), "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONDONTWRITEBYTECODE": "1"},
        )
        assert "snapshot_mcp.demo" in _imported(log)


LOGGERS_MAIN_SETS = ("httpx", "httpcore", "httpcore2", "mcp", "uvicorn.access", "snapshot_mcp.startup")


def test_main_freezes_what_start_up_made_before_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    """Objects made while starting are moved out of the collector's sight before the server runs, so the
    first full collection does not scan the whole start-up heap in front of the first answer."""
    frozen: list[int] = []

    class Server:
        def run(self) -> None:
            frozen.append(gc.get_freeze_count())

    monkeypatch.setattr("snapshot_mcp.server.build_server", lambda settings: Server())
    root = logging.getLogger()
    handlers = root.handlers[:]
    levels = {name: logging.getLogger(name).level for name in ("", *LOGGERS_MAIN_SETS)}
    before = gc.get_freeze_count()
    try:
        cli.main(["--simulate"], environ={})
    finally:
        gc.unfreeze()
        root.handlers[:] = handlers
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    assert before == 0
    assert len(frozen) == 1
    assert frozen[0] > 1000  # the modules, classes and functions loaded so far, at least
