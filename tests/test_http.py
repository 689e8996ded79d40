"""Streamable HTTP: Host/Origin checks, bearer auth, body and session limits, CORS, /healthz, deletes
in both protocol eras, and a confirmation round trip across two stateless instances.

Most servers run in-process under uvicorn on 127.0.0.1 port 0 (`tests/support/http.py`);
`make_uvicorn_server` reports the bound port once it listens, so nothing sleeps waiting
for it. The CORS and /healthz checks with OAuth on use httpx's ASGI transport.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx
import pytest
from anyio.abc import SocketStream
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import (
    CallToolResult,
    ElicitRequestParams,
    ElicitResult,
    ErrorData,
    InputRequiredResult,
)
from pydantic import SecretStr

from snapshot_mcp.http import CORS_ALLOWED_HEADERS, MAX_BODY_BYTES, build_http_app, transport_security
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator
from tests.support import MODEL_TOOLS, SEED_ID, delete_paths
from tests.support.http import serving, sim_settings, token_client
from tests.support.oauth import (
    ACCEPT,
    APP_ORIGIN,
    LocalIssuer,
    oauth_app,
    oauth_settings,
)

TOOLS = MODEL_TOOLS


MODES = ["auto", "legacy"]


HTTP_TOKEN = "client-token-7f3a9c"


MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}},
}


# 2026-07-28: a self-contained request that would run a tool if it got through.
MODERN_CALL = {
    "jsonrpc": "2.0",
    "id": 7,
    "method": "tools/call",
    "params": {
        "name": "list_snapshots",
        "arguments": {},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        },
    },
}


MODERN_HEADERS = {
    **MCP_HEADERS,
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": "tools/call",
    "mcp-name": "list_snapshots",
}


def answer(action: str, content: dict[str, Any] | None = None) -> Any:
    """An elicitation callback that always gives `action` (with `content`)."""

    async def callback(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
        assert SEED_ID in params.message
        return ElicitResult(action=action, content=content)  # type: ignore[arg-type]

    return callback


async def never_asked(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
    raise AssertionError("the retry carried the answer: the server must not ask again")


# --------------------------------------------------------------------------- the client


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
async def test_official_client_lists_tools_and_snapshots(mode: str) -> None:
    """Client("http://127.0.0.1:PORT/mcp") sees the four tools and a listing from the simulator."""
    async with serving(sim_settings()) as base, Client(f"{base}/mcp", mode=mode) as client:
        assert client.protocol_version == ("2026-07-28" if mode == "auto" else "2025-11-25")
        tools = await client.list_tools()
        assert {t.name for t in tools.tools} == TOOLS
        result = await client.call_tool("list_snapshots", {"per_page": 5})
        assert not result.is_error
        assert result.structured_content is not None
        assert len(result.structured_content["snapshots"]) == 5


@pytest.mark.slow
async def test_healthz_answers_without_running_a_tool(sim: Simulator) -> None:
    """GET /healthz is {"status":"ok"}, needs no token and never reaches the API."""
    async with serving(sim_settings(http_token=SecretStr(HTTP_TOKEN)), sim) as base, httpx.AsyncClient() as http:
        response = await http.get(f"{base}/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        assert (await http.post(f"{base}/healthz")).status_code == 401  # only GET/HEAD are open
    assert sim.requests == []


# --------------------------------------------------------------------------- Host / Origin


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "headers"), [(INITIALIZE, MCP_HEADERS), (MODERN_CALL, MODERN_HEADERS)], ids=["2025", "2026"]
)
async def test_loopback_bind_checks_host_and_origin(
    sim: Simulator, body: dict[str, Any], headers: dict[str, str]
) -> None:
    """On 127.0.0.1 a foreign Host is 421 and a foreign Origin 403; loopback ones pass."""
    async with serving(sim_settings(), sim) as base, httpx.AsyncClient() as http:
        port = base.rsplit(":", 1)[1]

        async def post(**extra: str) -> httpx.Response:
            return await http.post(f"{base}/mcp", json=body, headers={**headers, **extra})

        assert (await post(host="evil.example")).status_code == 421
        assert (await post(host=f"evil.example:{port}")).status_code == 421
        assert (await post(origin="http://evil.example")).status_code == 403
        assert (await post(origin=f"https://localhost.evil.example:{port}")).status_code == 403
        assert sim.requests == []
        for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
            response = await post(host=host, origin=f"http://{host}")
            assert response.status_code == 200, response.text


def test_transport_security_lists() -> None:
    """Loopback binds allow loopback names on any port; others their own address plus the extras."""
    loopback = transport_security(Settings(host="127.0.0.1", port=8000))
    assert loopback.enable_dns_rebinding_protection
    assert {"127.0.0.1:*", "localhost:*", "[::1]:*"} <= set(loopback.allowed_hosts)
    assert {"http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"} <= set(loopback.allowed_origins)
    remote = transport_security(
        Settings(
            host="10.1.2.3",
            port=9000,
            allowed_hosts=("mcp.example.com",),
            allowed_origins=("https://app.example.com",),
        )
    )
    assert remote.enable_dns_rebinding_protection
    assert remote.allowed_hosts == ["10.1.2.3:9000", "mcp.example.com"]
    assert remote.allowed_origins == ["https://app.example.com"]
    assert transport_security(Settings(host="fd00::5", port=80)).allowed_hosts == ["[fd00::5]:80"]


@pytest.mark.parametrize(("allowed", "warned"), [((), True), (("mcp.example.com",), False)])
def test_wildcard_bind_without_allowed_hosts_warns(
    allowed: tuple[str, ...], warned: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """0.0.0.0 without --allowed-hosts would answer every real client 421: say so at start-up."""
    settings = Settings(host="0.0.0.0", http_token=SecretStr(HTTP_TOKEN), allowed_hosts=allowed)  # noqa: S104
    build_http_app(build_server(settings.model_copy(update={"simulate": True})), settings)
    assert ("--allowed-hosts" in caplog.text) is warned
    assert HTTP_TOKEN not in caplog.text


@pytest.mark.slow
async def test_non_loopback_bind_keeps_the_checks(sim: Simulator) -> None:
    """An app configured for 10.1.2.3 refuses loopback and foreign Hosts, and unlisted Origins."""
    settings = sim_settings(
        host="10.1.2.3",
        port=9000,
        http_token=SecretStr(HTTP_TOKEN),
        allowed_hosts=("mcp.example.com",),
        allowed_origins=("https://app.example.com",),
    )
    async with serving(settings, sim, bind=sim_settings()) as base, httpx.AsyncClient() as http:
        port = base.rsplit(":", 1)[1]
        auth = {**MCP_HEADERS, "authorization": f"Bearer {HTTP_TOKEN}"}

        async def post(**extra: str) -> httpx.Response:
            return await http.post(f"{base}/mcp", json=INITIALIZE, headers={**auth, **extra})

        assert (await post()).status_code == 421  # Host 127.0.0.1:PORT is not this bind's
        assert (await post(host=f"localhost:{port}")).status_code == 421
        assert (await post(host="evil.example")).status_code == 421
        assert (await post(host="10.1.2.3:9000", origin="http://evil.example")).status_code == 403
        assert (await post(host="10.1.2.3:9000", origin="https://app.example.com")).status_code == 200
        assert (await post(host="mcp.example.com")).status_code == 200


# --------------------------------------------------------------------------- bearer auth


@pytest.mark.slow
async def test_bearer_token_required(sim: Simulator, caplog: pytest.LogCaptureFixture) -> None:
    """No or a wrong token: 401 + WWW-Authenticate, no tool runs; the right one works; never logged."""
    caplog.set_level(logging.DEBUG)
    async with serving(sim_settings(http_token=SecretStr(HTTP_TOKEN)), sim) as base:
        async with httpx.AsyncClient() as http:
            for extra in (
                {},
                {"authorization": "Bearer wrong-token"},
                {"authorization": f"Bearer {HTTP_TOKEN}x"},
                {"authorization": f"Basic {HTTP_TOKEN}"},
                {"authorization": "Bearer"},
            ):
                response = await http.post(f"{base}/mcp", json=MODERN_CALL, headers={**MODERN_HEADERS, **extra})
                assert response.status_code == 401, extra
                assert response.headers["www-authenticate"].startswith("Bearer")
                assert response.json()["error"] in ("unauthorized", "invalid_token")
                assert HTTP_TOKEN not in response.text
            assert sim.requests == []  # no tool ran
            ok = await http.post(
                f"{base}/mcp", json=MODERN_CALL, headers={**MODERN_HEADERS, "authorization": f"bearer {HTTP_TOKEN}"}
            )
            assert ok.status_code == 200, ok.text
        for mode in MODES:
            async with token_client(f"{base}/mcp", HTTP_TOKEN, mode=mode) as client:
                result = await client.call_tool("get_snapshot", {"snapshot_id": SEED_ID})
                assert not result.is_error
                assert result.structured_content is not None
                assert result.structured_content["id"] == SEED_ID
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "bearer token" in logged  # the refusals were logged ...
    assert HTTP_TOKEN not in logged  # ... without the token
    assert "wrong-token" not in logged


@pytest.mark.slow
async def test_client_without_token_is_refused(sim: Simulator) -> None:
    """The official client without the token cannot connect at all."""
    async with serving(sim_settings(http_token=SecretStr(HTTP_TOKEN)), sim) as base:
        with pytest.raises(ExceptionGroup) as caught:
            async with Client(f"{base}/mcp", mode="legacy"):
                pass  # pragma: no cover
        assert caught.group_contains(MCPError)
    assert sim.requests == []


# --------------------------------------------------------------------------- limits


@pytest.mark.slow
async def test_oversized_body_is_413(sim: Simulator) -> None:
    """A body over 1 MiB is refused with 413, declared or streamed; just under is parsed."""
    big = b'{"jsonrpc":"2.0","id":1,"method":"ping","pad":"' + b"x" * MAX_BODY_BYTES + b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(big), 65536):
            yield big[start : start + 65536]

    async with serving(sim_settings(), sim) as base, httpx.AsyncClient() as http:
        declared = await http.post(f"{base}/mcp", content=big, headers=MCP_HEADERS)
        assert declared.status_code == 413
        streamed = await http.post(f"{base}/mcp", content=chunks(), headers=MCP_HEADERS)
        assert streamed.status_code == 413
        small = await http.post(f"{base}/mcp", json=INITIALIZE, headers=MCP_HEADERS)
        assert small.status_code == 200


@pytest.mark.slow
async def test_session_limit(sim: Simulator) -> None:
    """With max_sessions=2, a third session is refused (503); closing one frees room."""
    async with serving(sim_settings(), sim, max_sessions=2) as base, httpx.AsyncClient() as http:
        async with AsyncExitStack() as stack:
            for _ in range(2):
                await stack.enter_async_context(Client(f"{base}/mcp", mode="legacy"))
            refused = await http.post(f"{base}/mcp", json=INITIALIZE, headers=MCP_HEADERS)
            assert refused.status_code == 503
        async with Client(f"{base}/mcp", mode="legacy") as client:  # the two closed sessions were released
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS


async def _stall(port: int, first_bytes: bytes) -> SocketStream:
    """A connection that sends `first_bytes` and then nothing, as a slowloris client does."""
    stream = await anyio.connect_tcp("127.0.0.1", port)
    await stream.send(first_bytes)
    return stream


async def _closed_by_server(stream: SocketStream) -> None:
    """Returns once the server has closed `stream` without answering it."""
    with pytest.raises(anyio.EndOfStream):
        await stream.receive()
    await stream.aclose()


HALF_REQUEST_LINE = b"POST /mcp HT"


HEADERS_WITHOUT_BODY = (
    b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{}"
)


@pytest.mark.slow
async def test_half_sent_requests_are_dropped_within_the_read_timeout(sim: Simulator) -> None:
    """Issue 12 item 11: stalled requests (half a request line, headers without the body) are closed
    by the server within `http_read_timeout`, and meanwhile a normal client is answered at once."""
    read_timeout = 0.5
    settings = sim_settings(http_read_timeout=read_timeout, http_max_connections=100)
    async with serving(settings, sim) as base, httpx.AsyncClient() as http:
        port = int(base.rsplit(":", 1)[1])
        stalled = [await _stall(port, HALF_REQUEST_LINE) for _ in range(30)]
        stalled += [await _stall(port, HEADERS_WITHOUT_BODY) for _ in range(5)]
        stalled.append(await anyio.connect_tcp("127.0.0.1", port))  # connects, sends nothing
        with anyio.fail_after(read_timeout):  # well inside the bound the stalled ones get
            answered = await http.get(f"{base}/healthz")
        assert answered.status_code == 200
        with anyio.fail_after(read_timeout + 5):  # the bound, plus room for a loaded machine
            async with anyio.create_task_group() as tg:
                for stream in stalled:
                    tg.start_soon(_closed_by_server, stream)
    assert sim.requests == []


@pytest.mark.slow
async def test_a_trickling_request_is_dropped_at_the_read_timeout(sim: Simulator) -> None:
    """Issue 12 item 11: the bound is for the whole request, so a header line every tenth of the
    time-out (the classic slowloris, never idle for long) is still closed at `http_read_timeout`."""
    read_timeout = 0.5
    async with serving(sim_settings(http_read_timeout=read_timeout), sim) as base:
        trickle = await _stall(int(base.rsplit(":", 1)[1]), b"GET /healthz HTTP/1.1\r\n")
        sent = 0
        with anyio.fail_after(read_timeout + 5):
            try:
                while True:
                    await anyio.sleep(read_timeout / 10)  # the client's pace, not a wait for the server
                    await trickle.send(b"X-Pad: 1\r\n")
                    sent += 1
            except anyio.BrokenResourceError:  # the server closed it: the next write is refused
                pass
        await trickle.aclose()
    assert sent >= 5  # it kept sending well past half the time-out before it was cut off


@pytest.mark.slow
async def test_connections_beyond_the_limit_get_503_until_stalled_ones_are_dropped(sim: Simulator) -> None:
    """Issue 12 item 11: with `http_max_connections` stalled connections open, a request is answered 503 at once
    (not left to time out); once the stalled ones are dropped, the same request succeeds."""
    read_timeout, limit = 0.5, 5
    settings = sim_settings(http_read_timeout=read_timeout, http_max_connections=limit)
    async with serving(settings, sim) as base:
        port = int(base.rsplit(":", 1)[1])
        stalled = [await _stall(port, HALF_REQUEST_LINE) for _ in range(limit)]
        async with httpx.AsyncClient() as http:  # a fresh connection each time: the count is of connections
            with anyio.fail_after(read_timeout):
                refused = await http.get(f"{base}/healthz")
            assert refused.status_code == 503
        with anyio.fail_after(read_timeout + 5):
            async with anyio.create_task_group() as tg:
                for stream in stalled:
                    tg.start_soon(_closed_by_server, stream)
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"{base}/healthz")).status_code == 200


# --------------------------------------------------------------------------- deletes


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("action", "content", "deleted"),
    [("accept", {"confirm": True}, True), ("decline", None, False), ("accept", {"confirm": False}, False)],
    ids=["accept", "decline", "accept-unticked"],
)
async def test_delete_asks_over_http(
    sim: Simulator, mode: str, action: str, content: dict[str, Any] | None, deleted: bool
) -> None:
    """Only an accepted confirmation sends the DELETE, in both eras."""
    async with (
        serving(sim_settings(), sim) as base,
        Client(f"{base}/mcp", mode=mode, elicitation_callback=answer(action, content)) as client,
    ):
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["deleted"] is deleted
    assert delete_paths(sim) == ([f"/compute/v1/snapshots/{SEED_ID}"] if deleted else [])


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
async def test_delete_without_elicitation_is_refused(sim: Simulator, mode: str) -> None:
    """A client that cannot be asked gets an error result and nothing is deleted."""
    async with serving(sim_settings(), sim) as base, Client(f"{base}/mcp", mode=mode) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert result.is_error
    assert delete_paths(sim) == []


# --------------------------------------------------------------------------- stateless


async def first_round(url: str) -> InputRequiredResult:
    async with Client(url, elicitation_callback=answer("accept", {"confirm": True})) as client:
        result = await client.session.call_tool("delete_snapshot", {"snapshot_id": SEED_ID}, allow_input_required=True)
    assert isinstance(result, InputRequiredResult)
    return result


async def second_round(url: str, first: InputRequiredResult) -> CallToolResult | InputRequiredResult | MCPError:
    """Retry on `url` with the accepted answer and A's request state; an MCP error is returned."""
    assert first.input_requests is not None
    responses: dict[str, Any] = {
        key: ElicitResult(action="accept", content={"confirm": True}) for key in first.input_requests
    }
    # The same client would retry: it declares elicitation, but is not asked again.
    async with Client(url, elicitation_callback=never_asked) as client:
        try:
            return await client.session.call_tool(
                "delete_snapshot",
                {"snapshot_id": SEED_ID},
                input_responses=responses,
                request_state=first.request_state,
                allow_input_required=True,
            )
        except MCPError as exc:  # caught here: leaving the client would wrap it in a group
            return exc


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
async def test_stateless_lists_in_both_eras(mode: str) -> None:
    """--stateless serves the official client in both eras (no session id needed)."""
    settings = sim_settings(stateless=True, state_key=SecretStr("shared-request-state-key-0123456789"))
    async with serving(settings) as base, Client(f"{base}/mcp", mode=mode) as client:
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS
        result = await client.call_tool("list_snapshots", {"per_page": 3})
        assert not result.is_error


@pytest.mark.slow
async def test_stateless_legacy_delete_fails_closed(sim: Simulator) -> None:
    """2025 era on --stateless: no back channel to ask on, so nothing is deleted."""
    settings = sim_settings(stateless=True, state_key=SecretStr("shared-request-state-key-0123456789"))
    accept = answer("accept", {"confirm": True})
    async with (
        serving(settings, sim) as base,
        Client(f"{base}/mcp", mode="legacy", elicitation_callback=accept) as client,
    ):
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert result.is_error
    assert "2026-07-28" in result.content[0].text  # type: ignore[union-attr]  # says how to proceed
    assert delete_paths(sim) == []


@pytest.mark.slow
async def test_stateless_round_trip_across_instances(sim: Simulator) -> None:
    """2026-07-28: the confirmation asked by instance A is redeemed on B (shared key), once."""
    key = SecretStr("shared-request-state-key-0123456789")
    settings = sim_settings(stateless=True, state_key=key)
    async with serving(settings, sim) as a, serving(settings, sim) as b:
        first = await first_round(f"{a}/mcp")
        assert first.request_state
        assert delete_paths(sim) == []  # asking deletes nothing
        result = await second_round(f"{b}/mcp", first)
    assert isinstance(result, CallToolResult)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    assert result.structured_content["deleted"] is True
    assert delete_paths(sim) == [f"/compute/v1/snapshots/{SEED_ID}"]


@pytest.mark.slow
@pytest.mark.parametrize("other_key", ["another-request-state-key-9876543210", None], ids=["other-key", "no-key"])
async def test_stateless_round_trip_with_a_foreign_key_is_refused(sim: Simulator, other_key: str | None) -> None:
    """A request state sealed by A is refused by an instance with another (or no) key: nothing deleted."""
    a_settings = sim_settings(stateless=True, state_key=SecretStr("shared-request-state-key-0123456789"))
    b_settings = sim_settings(stateless=True, state_key=SecretStr(other_key) if other_key else None)
    async with serving(a_settings, sim) as a, serving(b_settings, sim) as b:
        first = await first_round(f"{a}/mcp")
        refused = await second_round(f"{b}/mcp", first)
    assert isinstance(refused, MCPError)
    assert "requestState" in str(refused)
    assert delete_paths(sim) == []


@pytest.mark.slow
async def test_stateless_tampered_state_is_refused(sim: Simulator) -> None:
    """A modified request state is refused even by an instance holding the right key."""
    settings = sim_settings(stateless=True, state_key=SecretStr("shared-request-state-key-0123456789"))
    async with serving(settings, sim) as a, serving(settings, sim) as b:
        first = await first_round(f"{a}/mcp")
        assert first.request_state
        state = first.request_state
        tampered = first.model_copy(update={"request_state": state[:-4] + ("AAAA" if state[-4:] != "AAAA" else "BBBB")})
        refused = await second_round(f"{b}/mcp", tampered)
    assert isinstance(refused, MCPError)
    assert "requestState" in str(refused)
    assert delete_paths(sim) == []


# --------------------------------------------------------------------------- settings


def test_token_is_not_in_settings_repr() -> None:
    """The client token stays a secret in any repr a log line might carry."""
    settings = sim_settings(http_token=SecretStr(HTTP_TOKEN))
    assert HTTP_TOKEN not in repr(settings)
    assert HTTP_TOKEN not in json.dumps(settings.model_dump(mode="json"))


async def test_cors_preflight_for_an_allowed_origin_and_none_for_another(sim: Simulator) -> None:
    requested = ", ".join(CORS_ALLOWED_HEADERS)
    async with oauth_app(LocalIssuer(), sim) as client:
        allowed = await client.options(
            "/mcp",
            headers={
                "origin": APP_ORIGIN,
                "access-control-request-method": "POST",
                "access-control-request-headers": requested,
            },
        )
        foreign = await client.options(
            "/mcp", headers={"origin": "https://evil.example", "access-control-request-method": "POST"}
        )
        refused = await client.post("/mcp", json={}, headers={**ACCEPT, "origin": APP_ORIGIN})
        refused_foreign = await client.post("/mcp", json={}, headers={**ACCEPT, "origin": "https://evil.example"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == APP_ORIGIN
    assert set(allowed.headers["access-control-allow-methods"].split(", ")) == {"GET", "POST", "DELETE"}
    listed = {h.strip().lower() for h in allowed.headers["access-control-allow-headers"].split(",")}
    assert {h.lower() for h in CORS_ALLOWED_HEADERS} <= listed
    assert "access-control-allow-origin" not in foreign.headers
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == APP_ORIGIN
    exposed = {h.strip().lower() for h in refused.headers["access-control-expose-headers"].split(",")}
    assert exposed == {"mcp-session-id", "www-authenticate"}
    assert "access-control-allow-origin" not in refused_foreign.headers
    for response in (allowed, foreign, refused, refused_foreign):
        assert response.headers.get("access-control-allow-origin") != "*"


async def test_without_allowed_origins_there_is_no_cors(sim: Simulator) -> None:
    async with oauth_app(LocalIssuer(), sim, oauth_settings(allowed_origins=())) as client:
        response = await client.options("/mcp", headers={"origin": APP_ORIGIN, "access-control-request-method": "POST"})
    assert response.status_code == 401  # not a preflight anyone answers: the token check refuses it
    assert not any(name.startswith("access-control-") for name in response.headers)


async def test_healthz_needs_no_token(sim: Simulator) -> None:
    async with oauth_app(LocalIssuer(), sim) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
