"""Secrets never leave the server: the API token, the HTTP client token, the state key.

Three canaries (tests/support/canaries.py) are configured and then hunted for in
everything the server emits — stdout, stderr, log records (tracebacks included), tool
results (text and structuredContent), audit lines, HTTP error responses, exception
reprs and chains — at every log level, through every error path:

- the API answers 401/403/404/400/500/502 whose bodies echo the credential (raw, and
  JSON-escaped letter by letter, as a careless proxy might), a body that is not JSON, a
  body of the wrong shape, and a success whose data carries the token;
- the API cannot be reached (connection refused);
- arguments fail validation; a tool hits an unexpected exception (its traceback logged);
- HTTP mode refuses requests: 401 (no, wrong, or a longer token), 421 (Host), 403
  (Origin), 413 (body).

In process (every level, both protocol eras) the server is `build_server` over an
httpx transport to a fake API; as a subprocess (every level) it is the installed
`snapshot-mcp --transport http` talking over real sockets to the same fake API on
loopback. Also here: a canary token run down every tool's success and failure paths.
Elsewhere, and not repeated: the client's errors (test_client.py), the command line's
refusals (test_cli.py), redaction itself (test_redact.py), stdout staying pure JSON-RPC
over stdio with an unreachable API at DEBUG
(`campaigns/test_console_script.py::test_stdout_is_only_jsonrpc_and_the_token_never_leaks`),
refused bearer tokens not logged (`test_http.py::test_bearer_token_required`), settings
reprs and validation errors (`test_settings.py`).
"""

from __future__ import annotations

import logging
import re
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from subprocess import PIPE
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, ErrorData
from pydantic import SecretStr

from snapshot_mcp.http import MAX_BODY_BYTES, make_uvicorn_server
from snapshot_mcp.operations import Operations
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Faults, Simulator
from stress.load import unexpected_tracebacks
from tests.support import (
    FAST_RETRY,
    GOOD_BODY,
    MODES,
    SEED_ID,
    UNKNOWN_ID,
    Asker,
    accept,
    audit_lines,
    connect,
    everything_in,
    fast,
    sent,
)
from tests.support.canaries import (
    API_CANARY,
    BAD_SHAPE,
    CREATE_400,
    CREATE_502,
    CREATE_GARBLED,
    ECHO_401,
    ECHO_403,
    ECHO_404,
    ECHO_500,
    HTTP_CANARY,
    LEVELS,
    REFUSED,
    STATE_CANARY,
    TOKEN_IN_DATA,
    Refusing,
    assert_clean,
    assert_exception_clean,
    cli_logging,
    create,
    dump,
    fake_api,
    leak_settings,
)
from tests.support.processes import SCRIPT, base_env

pytestmark = pytest.mark.slow  # campaigns: every log level, era and error path; the console script in a subprocess

# --------------------------------------------------------------------------- in process, every level


async def _accept(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
    return ElicitResult(action="accept", content={"confirm": True})


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("list_snapshots", {"per_page": 3}),
    ("get_snapshot", {"snapshot_id": ECHO_401}),
    ("get_snapshot", {"snapshot_id": ECHO_403}),
    ("get_snapshot", {"snapshot_id": ECHO_404}),
    ("get_snapshot", {"snapshot_id": ECHO_500}),
    ("get_snapshot", {"snapshot_id": BAD_SHAPE}),
    ("get_snapshot", {"snapshot_id": TOKEN_IN_DATA}),
    ("get_snapshot", {"snapshot_id": REFUSED}),
    ("get_snapshot", {"snapshot_id": "../../etc/passwd"}),
    ("list_snapshots", {"per_page": 1000, "status": "bogus"}),
    ("create_snapshot_from_url", create(CREATE_502)),
    ("create_snapshot_from_url", create(CREATE_GARBLED)),
    ("create_snapshot_from_url", create(CREATE_400)),
    ("create_snapshot_from_url", create("x", size=0, url="ftp://nope", region="??")),
    ("delete_snapshot", {"snapshot_id": ECHO_401}),
    ("delete_snapshot", {"snapshot_id": SEED_ID}),
]
"""Every tool, through every error path the API or the arguments can take (and two successes)."""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("level", LEVELS)
async def test_no_secret_in_results_logs_or_audit_in_process(
    level: str, mode: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every error path at `level`: results, log records (tracebacks too), audit lines, stdout/stderr stay clean."""
    results: list[CallToolResult] = []
    async with httpx.AsyncClient(transport=Refusing()) as http:
        server = build_server(leak_settings(), http=http, retry=FAST_RETRY, poll_interval=0.001)
        with cli_logging(level) as logs, audit_lines() as audit:
            async with Client(server, mode=mode, elicitation_callback=_accept) as client:
                for name, arguments in CALLS:
                    results.append(await client.call_tool(name, arguments))

                async def explode(self: Operations, snapshot_id: str) -> None:
                    raise RuntimeError(f"something unexpected happened to {snapshot_id}")

                monkeypatch.setattr(Operations, "get", explode)
                crashed = await client.call_tool("get_snapshot", {"snapshot_id": SEED_ID})

    errors = [name for (name, _), result in zip(CALLS, results, strict=True) if result.is_error]
    assert len(errors) == len(CALLS) - 3  # all but the listing, the echoed-name look-up and the accepted delete
    assert crashed.is_error
    for result in [*results, crashed]:
        assert_clean("a tool result", dump(result))
    assert len(audit.lines) == 2
    assert_clean("the audit lines", "\n".join(audit.lines))
    assert_clean("the log", "\n".join(logs.lines))
    for record in logs.records:
        if record.exc_info and record.exc_info[1] is not None:
            assert_exception_clean(record.exc_info[1])
    if logging.getLevelName(level) <= logging.ERROR:  # the unexpected exception was logged, with its traceback
        assert any("Traceback" in line and "something unexpected" in line for line in logs.lines)
    out, err = capsys.readouterr()
    assert_clean("stdout", out)
    assert_clean("stderr", err)
    if level == "DEBUG":
        assert "GET /snapshots/" in err  # the check looked at real output


# --------------------------------------------------------------------------- the console script over HTTP, every level


@asynccontextmanager
async def fake_api_on_loopback() -> AsyncIterator[str]:
    """The fake API under uvicorn on 127.0.0.1; yields its endpoint (…/compute/v1)."""
    bound: list[tuple[str, int]] = []
    ready = anyio.Event()

    def started(addresses: list[tuple[str, int]]) -> None:
        bound.extend(addresses)
        ready.set()

    uv = make_uvicorn_server(fake_api(), Settings(port=0, log_level="WARNING"), on_started=started)
    async with anyio.create_task_group() as tg:
        tg.start_soon(uv.serve)
        with anyio.fail_after(10):
            await ready.wait()
        try:
            yield f"http://127.0.0.1:{bound[0][1]}/compute/v1"
        finally:
            uv.should_exit = True


async def drain(stream: Any, sink: bytearray) -> None:
    async for chunk in stream:
        sink.extend(chunk)


@asynccontextmanager
async def http_console_script(level: str, endpoint: str) -> AsyncIterator[tuple[str, bytearray, bytearray]]:
    """`snapshot-mcp --transport http --port 0` with all three secrets from the environment.

    Yields (MCP URL, stdout, stderr); both keep filling until the server stopped (SIGINT).
    """
    env = base_env(
        GENESISCLOUD_TOKEN=API_CANARY,
        GENESISCLOUD_ENDPOINT=endpoint,
        SNAPSHOT_MCP_HTTP_TOKEN=HTTP_CANARY,
        SNAPSHOT_MCP_STATE_KEY=STATE_CANARY,
        SNAPSHOT_MCP_LOG_LEVEL=level,
        SNAPSHOT_MCP_RATE_LIMIT="1000",
    )
    command = [str(SCRIPT), "--transport", "http", "--port", "0"]
    out, err = bytearray(), bytearray()
    async with await anyio.open_process(command, stdin=PIPE, stdout=PIPE, stderr=PIPE, env=env) as process:
        assert process.stderr is not None
        assert process.stdout is not None
        while (found := re.search(rb"serving MCP at (http://\S+/mcp)", err)) is None:
            err.extend(await process.stderr.receive())  # EndOfStream here: it died at start-up
        async with anyio.create_task_group() as tg:
            tg.start_soon(drain, process.stderr, err)
            tg.start_soon(drain, process.stdout, out)
            try:
                yield found.group(1).decode(), out, err
            finally:
                process.send_signal(signal.SIGINT)
                assert await process.wait() == 0, err.decode()


async def _http_refusals(url: str) -> list[httpx.Response]:
    """401 (none, wrong, longer), 421, 403 and 413 — each must refuse, none may echo a secret."""
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    good = {**headers, "authorization": f"Bearer {HTTP_CANARY}"}
    big = b'{"jsonrpc":"2.0","id":1,"method":"ping","pad":"' + HTTP_CANARY.encode() * (MAX_BODY_BYTES // 20) + b'"}'
    async with httpx.AsyncClient() as http:
        responses = [
            await http.post(url, json=ping, headers=headers),
            await http.post(url, json=ping, headers={**headers, "authorization": "Bearer wrong"}),
            await http.post(url, json=ping, headers={**headers, "authorization": f"Bearer {HTTP_CANARY}x"}),
            await http.post(url, json=ping, headers={**good, "host": "evil.example"}),
            await http.post(url, json=ping, headers={**good, "origin": "http://evil.example"}),
            await http.post(url, content=big, headers=good),
        ]
    assert [r.status_code for r in responses] == [401, 401, 401, 421, 403, 413]
    return responses


@pytest.mark.parametrize("level", LEVELS)
async def test_no_secret_leaves_the_http_console_script(level: str) -> None:
    """The installed script at `level`: HTTP refusals, every API error path, both eras; stdout/stderr clean."""
    dumps: list[str] = []
    with anyio.fail_after(60):
        async with fake_api_on_loopback() as endpoint, http_console_script(level, endpoint) as (url, out, err):
            for response in await _http_refusals(url):
                dumps.append(f"{response.status_code} {response.headers} {response.text}")
            for mode in MODES:
                async with (
                    httpx2.AsyncClient(headers={"Authorization": f"Bearer {HTTP_CANARY}"}) as authed,
                    Client(streamable_http_client(url, http_client=authed), mode=mode) as client,
                ):
                    for name, arguments in CALLS:
                        if arguments.get("snapshot_id") == REFUSED:
                            continue  # connection refused takes the full retry budget: above, and in the console script
                        dumps.append(dump(await client.call_tool(name, arguments)))
    for text in dumps:
        assert_clean("an HTTP response or tool result", text)
    assert_clean("stdout", out.decode())
    log = err.decode()
    assert_clean("stderr", log)
    assert ("audit tool=delete_snapshot" in log) is True  # audit lines go out at every level
    assert not unexpected_tracebacks(log)
    if level == "DEBUG":
        assert "HTTP Request: GET" in log  # httpx's request lines: the check looked at real output


# -- secrets --------------------------------------------------------------------------

CANARY = "canary-7f3c9e2a41b8-do-not-leak"


async def _every_path(mode: str) -> tuple[list[str], list[Simulator]]:
    """Run the tools down their success and failure paths with the canary token; return all output."""
    outputs: list[str] = []
    sims: list[Simulator] = []
    settings = Settings(token=SecretStr(CANARY))

    async def run(
        sim: Simulator, calls: list[tuple[str, dict[str, Any]]], policy: str = "elicit", asker: Asker | None = None
    ) -> list[CallToolResult]:
        sims.append(sim)
        results = []
        chosen = fast(settings, delete_confirmation=policy)
        async with connect(chosen, sim, mode=mode, elicit=asker) as client:
            for tool, arguments in calls:
                result = await client.call_tool(tool, arguments)
                outputs.append(everything_in(result))
                results.append(result)
        if asker is not None:
            outputs.extend(params.message for params in asker.asked)
        return results

    reads: list[tuple[str, dict[str, Any]]] = [
        ("list_snapshots", {}),
        ("list_snapshots", {"status": "created"}),
        ("list_snapshots", {"per_page": 0}),
        ("get_snapshot", {"snapshot_id": SEED_ID}),
        ("get_snapshot", {"snapshot_id": UNKNOWN_ID}),
        ("get_snapshot", {"snapshot_id": "../x"}),
        ("create_snapshot_from_url", GOOD_BODY),
        ("create_snapshot_from_url", {**GOOD_BODY, "wait": True}),
        ("create_snapshot_from_url", {**GOOD_BODY, "url": "file:///etc/passwd"}),
        ("delete_snapshot", {"snapshot_id": SEED_ID}),
    ]
    await run(Simulator(tokens=[CANARY], create_polls=1), reads, asker=Asker(accept(confirm=False)))
    await run(Simulator(tokens=[CANARY]), reads[-1:], asker=Asker())
    await run(Simulator(tokens=[CANARY]), reads[-1:])
    await run(Simulator(tokens=["other"]), reads[:1] + reads[3:4] + reads[6:7] + reads[-1:], asker=Asker())
    faults = Faults(fail_first=1000, fail_status=500)
    await run(Simulator(tokens=[CANARY], faults=faults), reads[:1] + reads[3:4] + reads[6:7])
    await run(Simulator(tokens=[CANARY], faults=Faults(read_timeout_first=1000)), reads[3:4] + reads[6:7])
    await run(Simulator(tokens=[CANARY]), reads[-1:], policy="none")
    token_sim = Simulator(tokens=[CANARY])
    sims.append(token_sim)
    async with connect(fast(settings, delete_confirmation="token"), token_sim, mode=mode) as client:
        preview = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        assert preview.structured_content is not None
        confirmation = preview.structured_content["confirmation_token"]
        outputs.append(everything_in(preview))
        for token in (confirmation, confirmation, "x"):
            redeemed = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": token})
            outputs.append(everything_in(redeemed))
    assert len(sent(token_sim, "DELETE")) == 1
    return outputs, sims


async def test_the_token_never_appears_in_any_output(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    """A canary API token reaches the API in the header, and never a result, audit line or log record."""
    caplog.set_level(logging.DEBUG)
    with audit_lines() as audit:
        outputs, sims = await _every_path(mode)
    headers = [r.headers.get("authorization") for sim in sims for r in sim.requests]
    assert f"Bearer {CANARY}" in headers
    assert len(audit.lines) >= 6
    assert len(outputs) >= 25
    for text in [*outputs, *audit.lines, *(record.getMessage() for record in caplog.records)]:
        assert CANARY not in text
