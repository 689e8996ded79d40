"""The installed console script, for real: over stdio and over HTTP, in subprocesses.

The script is the one pip installed next to this interpreter. Every test waits on
events (a response line, the server's "serving MCP at" line), never on a clock.
The API is the embedded simulator (`--simulate`) or a closed loopback port.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from contextlib import suppress
from pathlib import Path
from subprocess import PIPE
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from anyio.abc import ByteReceiveStream, Process
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.types import ElicitRequestParams, ElicitResult, ErrorData

from tests.support import MODEL_TOOLS, SEED_ID, UNKNOWN_ID
from tests.support.processes import SCRIPT, TIMEOUT, base_env, drain, http_server, stdio

pytestmark = pytest.mark.slow  # the installed console script, in subprocesses


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


TOOLS = MODEL_TOOLS


MODES = ["auto", "legacy"]


CANARY = "canary-SECRET-123"


CLOSED_ENDPOINT = "http://127.0.0.1:9/compute/v1"  # discard port: nothing listens, refused at once


def test_console_script_is_installed() -> None:
    """`pip install` put the `snapshot-mcp` console script next to the interpreter."""
    assert SCRIPT.is_file(), f"{SCRIPT} missing: run `{Path(sys.executable).parent / 'pip'} install -e .`"
    assert os.access(SCRIPT, os.X_OK)


async def accept(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
    assert SEED_ID in params.message
    return ElicitResult(action="accept", content={"confirm": True})


# --------------------------------------------------------------------------- stdio, the client


@pytest.mark.parametrize("mode", MODES)
async def test_stdio_session(mode: str, tmp_path: Path) -> None:
    """List, get, create (waiting, with progress) and a confirmed delete over stdio."""
    progress_seen: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        progress_seen.append(progress)

    with (tmp_path / "stderr.log").open("w+") as errlog:
        async with stdio(["--simulate"], base_env(), errlog, mode=mode, elicitation_callback=accept) as client:
            assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS

            listing = await client.call_tool("list_snapshots", {"per_page": 100})
            assert not listing.is_error
            assert listing.structured_content is not None
            assert SEED_ID in {s["id"] for s in listing.structured_content["snapshots"]}

            got = await client.call_tool("get_snapshot", {"snapshot_id": SEED_ID})
            assert not got.is_error
            assert got.structured_content is not None
            assert got.structured_content["name"] == "ubuntu-22.04-cuda-12.4"

            created = await client.call_tool(
                "create_snapshot_from_url",
                {
                    "name": f"e2e-{mode}",
                    "size": 10,
                    "url": "https://images.example.com/e2e.raw",
                    "region": "NORD-NO-KRS-1",
                    "wait": True,
                },
                progress_callback=on_progress,
            )
            assert not created.is_error, created.content
            assert created.structured_content is not None
            assert created.structured_content["snapshot"]["status"] == "created"
            assert created.structured_content["settled"] is True
            assert progress_seen, "a waiting create reports progress"

            deleted = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
            assert not deleted.is_error, deleted.content
            assert deleted.structured_content is not None
            assert deleted.structured_content["deleted"] is True
        errlog.seek(0)
        stderr = errlog.read()
    assert f'snapshot_id="{SEED_ID}"' in stderr  # the audit line went to stderr


async def test_stdio_without_token_names_the_variable(tmp_path: Path) -> None:
    """No GENESISCLOUD_TOKEN and no --simulate: it starts, lists tools, and a call says what to set."""
    with (tmp_path / "stderr.log").open("w+") as errlog:
        async with stdio([], base_env(GENESISCLOUD_ENDPOINT=CLOSED_ENDPOINT), errlog) as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            result = await client.call_tool("list_snapshots", {})
            assert result.is_error
            assert "GENESISCLOUD_TOKEN" in json.dumps(result.model_dump(mode="json"))
        errlog.seek(0)
        assert "GENESISCLOUD_TOKEN" in errlog.read()  # the start-up warning


async def _read_responses(stdout: ByteReceiveStream, ids: set[int], sink: bytearray) -> None:
    """Read stdout into `sink` until every id in `ids` was answered."""
    pending = set(ids)
    while pending:
        sink.extend(await stdout.receive())
        complete = bytes(sink).rpartition(b"\n")[0]
        for line in complete.splitlines():
            with suppress(ValueError, AttributeError):  # judged strictly by _jsonrpc_lines later
                pending.discard(json.loads(line).get("id"))


async def _converse(process: Process, requests: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    """Send `requests`, wait for every answer, close stdin; return (stdout, stderr)."""
    assert process.stdin is not None
    assert process.stdout is not None
    assert process.stderr is not None
    out, err = bytearray(), bytearray()
    ids = {r["id"] for r in requests if "id" in r}
    async with anyio.create_task_group() as tg:
        tg.start_soon(drain, process.stderr, err)
        for request in requests:
            await process.stdin.send(json.dumps(request).encode() + b"\n")
        await _read_responses(process.stdout, ids, out)
        await process.stdin.aclose()
        await drain(process.stdout, out)
        assert await process.wait() == 0
    return bytes(out), bytes(err)


def _initialize(version: str = "2025-06-18") -> list[dict[str, Any]]:
    return [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": version, "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]


def _call(request_id: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments},
    }


def _jsonrpc_lines(stdout: bytes) -> dict[int, dict[str, Any]]:
    """Every stdout line is one JSON-RPC message; the responses by id."""
    responses: dict[int, dict[str, Any]] = {}
    lines = stdout.decode().splitlines()
    assert lines, "no output on stdout"
    for line in lines:
        message = json.loads(line)  # fails the test on anything that is not JSON
        assert message.get("jsonrpc") == "2.0", line
        assert ("id" in message and ("result" in message or "error" in message)) or "method" in message, line
        if "id" in message and "method" not in message:
            responses[message["id"]] = message
    return responses


def _text(response: dict[str, Any]) -> str:
    result = response["result"]
    return " ".join(c.get("text", "") for c in result["content"])


async def test_stdout_is_only_jsonrpc_and_the_token_never_leaks() -> None:
    """At DEBUG, with an unreachable API: stdout is pure JSON-RPC, logs go to stderr, the token nowhere."""
    env = base_env(GENESISCLOUD_TOKEN=CANARY, GENESISCLOUD_ENDPOINT=CLOSED_ENDPOINT)
    requests = [
        *_initialize(),
        _call(3, "get_snapshot", {"snapshot_id": "../../etc/passwd"}),  # refused before any request
        _call(4, "get_snapshot", {"snapshot_id": SEED_ID}),  # GET: retried, then "could not connect"
        _call(
            5,
            "create_snapshot_from_url",
            {"name": "x", "size": 1, "url": "https://e.example/x.raw", "region": "NORD-NO-KRS-1"},
        ),
        _call(6, "list_snapshots", {"per_page": 1000}),  # out of range: refused before any request
    ]
    with anyio.fail_after(TIMEOUT):
        async with await anyio.open_process(
            [str(SCRIPT), "--log-level", "DEBUG"], stdin=PIPE, stdout=PIPE, stderr=PIPE, env=env
        ) as process:
            stdout, stderr = await _converse(process, requests)

    responses = _jsonrpc_lines(stdout)
    assert set(responses) == {1, 2, 3, 4, 5, 6}
    assert {t["name"] for t in responses[2]["result"]["tools"]} == TOOLS
    for request_id in (3, 4, 5, 6):
        assert responses[request_id]["result"]["isError"] is True, responses[request_id]
    assert "could not connect" in _text(responses[4]).lower()
    assert "could not connect" in _text(responses[5]).lower()
    assert CANARY not in stdout.decode()
    log = stderr.decode()
    assert " DEBUG " in log  # the logs are on stderr ...
    assert CANARY not in log  # ... and the token is not in them


@pytest.mark.parametrize("mode", MODES)
async def test_http_console_script(mode: str) -> None:
    """The script serves streamable HTTP on loopback: the official client lists and calls tools."""
    async with (
        http_server("--simulate", env=base_env()) as (url, _),
        Client(url, mode=mode, elicitation_callback=accept) as client,
    ):
        assert url.startswith("http://127.0.0.1:")
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS
        listing = await client.call_tool("list_snapshots", {"per_page": 5})
        assert not listing.is_error
        assert listing.structured_content is not None
        assert len(listing.structured_content["snapshots"]) == 5
        deleted = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        assert deleted.structured_content is not None
        assert deleted.structured_content["deleted"] is True


async def test_http_console_script_with_client_token() -> None:
    """SNAPSHOT_MCP_HTTP_TOKEN: no token is 401, the right one works, and the token is never printed."""
    token = "e2e-client-token-5b1d"
    env = base_env(SNAPSHOT_MCP_HTTP_TOKEN=token)
    async with http_server("--simulate", "--log-level", "DEBUG", env=env, stop=signal.SIGTERM) as (url, err):
        async with httpx.AsyncClient() as http:
            assert (await http.get(url.replace("/mcp", "/healthz"))).json() == {"status": "ok"}
            refused = await http.post(url, json={}, headers={"authorization": "Bearer nope"})
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"].startswith("Bearer")
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as authed,
            Client(streamable_http_client(url, http_client=authed)) as client,
        ):
            result = await client.call_tool("get_snapshot", {"snapshot_id": SEED_ID})
            assert not result.is_error
    assert b"wrong bearer token" in err
    assert b"Application shutdown complete" in err  # SIGTERM: a graceful stop
    assert token.encode() not in err
