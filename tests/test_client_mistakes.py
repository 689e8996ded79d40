"""A client's mistakes get exact JSON-RPC answers and cost the log at most one INFO line each.

Issue 12, items 14-16: `resources/read` says "not a snapshot id" / "not found" with
-32602 (SEP-2164) instead of -32603 "Error creating resource from template";
`prompts/get` without a required argument is -32602 naming it (not code 0 with a
Python set); and three mistaken requests do not flood stderr with tracebacks.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mcp.shared.exceptions import MCPError

from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator
from tests.support import MODES, UNKNOWN_ID, connect

SCRIPT = Path(sys.executable).with_name("snapshot-mcp")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.mark.parametrize(
    ("snapshot_id", "words"),
    [("not-an-id", "Not a snapshot id"), (UNKNOWN_ID, "no snapshot " + UNKNOWN_ID)],
    ids=["malformed", "unknown"],
)
async def test_reading_a_missing_snapshot_resource_says_why_with_invalid_params(
    settings: Settings, sim: Simulator, mode: str, snapshot_id: str, words: str
) -> None:
    """Item 14: -32602 and a sentence, not -32603 'Error creating resource from template'."""
    async with connect(settings, sim, mode=mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.read_resource(f"genesiscloud://snapshots/{snapshot_id}")
    assert caught.value.error.code == -32602
    assert words in caught.value.error.message
    assert "Error creating resource" not in caught.value.error.message


@pytest.mark.parametrize(
    ("name", "arguments", "words"),
    [
        ("review_snapshot", {}, "needs the argument 'snapshot_id'"),
        ("review_snapshot", {"snapshot_id": "  "}, "needs the argument 'snapshot_id'"),
        ("review_snapshot", {"snapshot_id": "x", "force": "1"}, "has no argument 'force'"),
        ("no_such_prompt", {}, "No such prompt"),
    ],
    ids=["missing", "blank", "unknown-argument", "unknown-prompt"],
)
async def test_prompt_mistakes_are_invalid_params_with_a_sentence(
    settings: Settings, sim: Simulator, mode: str, name: str, arguments: dict[str, str], words: str
) -> None:
    """Item 16: -32602 naming the argument, not code 0 with a Python set."""
    async with connect(settings, sim, mode=mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.get_prompt(name, arguments)
    assert caught.value.error.code == -32602
    assert words in caught.value.error.message
    assert "{" not in caught.value.error.message


async def test_mistakes_cost_at_most_an_info_line_each(
    settings: Settings, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Item 15: no WARNING, no ERROR, no traceback for a client's mistakes; at most one INFO line each."""
    caplog.set_level(logging.INFO)
    async with connect(settings, sim) as client:
        for call in (
            client.read_resource("genesiscloud://snapshots/not-an-id"),
            client.get_prompt("review_snapshot", {}),
        ):
            with pytest.raises(MCPError):
                await call
        await client.call_tool("nope", {})
        await client.call_tool("get_snapshot", {"snapshot_id": "bad"})
    ours = [r for r in caplog.records if not r.name.startswith("httpx")]
    assert all(r.levelno <= logging.INFO for r in ours), [(r.name, r.getMessage()) for r in ours]
    assert not any(r.exc_info for r in ours)
    assert len(ours) <= 4


@pytest.mark.slow
def test_the_console_script_logs_nothing_for_client_mistakes_at_the_default_level() -> None:
    """Item 15, over stdio: six mistaken requests at the default WARNING level write nothing to stderr."""
    env = {**os.environ, "SNAPSHOT_MCP_SIMULATE": "true"}
    requests = [
        ("resources/read", {"uri": "genesiscloud://snapshots/not-an-id"}),
        ("resources/read", {"uri": f"genesiscloud://snapshots/{UNKNOWN_ID}"}),
        ("prompts/get", {"name": "review_snapshot", "arguments": {}}),
        ("prompts/get", {"name": "nope"}),
        ("tools/call", {"name": "nope", "arguments": {}}),
        ("tools/call", {"name": "get_snapshot", "arguments": {"snapshot_id": "bad"}}),
    ]
    lines = [
        {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        *({"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(requests, 1)),
    ]  # fmt: skip
    with subprocess.Popen(
        [str(SCRIPT)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    ) as proc:
        assert proc.stdin is not None
        assert proc.stdout is not None
        for message in lines:
            proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        answered: set[object] = set()
        while len(answered) < len(requests) + 1:
            answered.add(json.loads(proc.stdout.readline()).get("id"))
        _, err = proc.communicate(timeout=30)
    assert err == ""
