"""The resource server over HTTP, in process (httpx's ASGI transport, no sockets): 401, 403 step-up, metadata, CORS.

The app is the one `build_http_app` serves, with a `JwtVerifier` whose issuer is a
`LocalIssuer` (tests/oauth_support.py) and an API that is the simulator. Requests are
raw JSON-RPC, so each test sees the exact status and headers a client gets. The same
behaviour against a real identity provider and real sockets is in test_oauth_oidc.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.shared.exceptions import MCPError
from mcp.types import ResourceTemplateReference
from pydantic import SecretStr

from snapshot_mcp.confirm.card import CONFIRMATION_META
from snapshot_mcp.http import CORS_ALLOWED_HEADERS, build_http_app
from snapshot_mcp.oauth.verifier import JwtVerifier
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, Simulator
from tests.support import READING_TOOLS, SEED_ID, audit_lines, connect, fast
from tests.support.oauth import ISSUER, METADATA_URL, RESOURCE, LocalIssuer, forge_hs256, forge_none, tamper

BASE = "http://127.0.0.1:8000"
APP_ORIGIN = "https://app.example.com"
LEGACY = "2025-06-18"
MODERN = "2026-07-28"
ACCEPT = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
READ = "snapshots:read"


def oauth_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "token": SecretStr(DEFAULT_TOKEN),
        "auth_issuer": ISSUER,
        "public_url": RESOURCE,
        "allowed_origins": (APP_ORIGIN,),
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def oauth_app(
    issuer: LocalIssuer, sim: Simulator, settings: Settings | None = None, **limits: Any
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the app `build_http_app` makes for `settings` (OAuth on), its session manager running."""
    settings = settings or oauth_settings()
    verifier = JwtVerifier(ISSUER, RESOURCE, transport=issuer.transport())
    await verifier.start()
    async with httpx.AsyncClient(transport=sim.transport()) as api:
        server = build_server(fast(settings), http=api)
        app = build_http_app(server, settings, verifier=verifier, **limits)
        async with (
            server.session_manager.run(),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client,
        ):
            yield client


def _message(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC message of a response (a JSON body, or the data line of an SSE stream)."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return dict(response.json())
    data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
    return dict(json.loads(data[-1]))


class Legacy:
    """A 2025-era session over raw JSON-RPC: initialize once, then requests with the session id."""

    def __init__(self, client: httpx.AsyncClient, token: str) -> None:
        self.client = client
        self.headers = {**ACCEPT, "authorization": f"Bearer {token}"}
        self.next_id = 1

    async def open(self) -> Legacy:
        params = {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}
        response = await self.post("initialize", params)
        assert response.status_code == 200, response.text
        self.headers |= {"mcp-session-id": response.headers["mcp-session-id"], "mcp-protocol-version": LEGACY}
        note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await self.client.post("/mcp", json=note, headers=self.headers)).status_code == 202
        return self

    async def post(self, method: str, params: dict[str, Any] | None = None) -> httpx.Response:
        self.next_id += 1
        body = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params or {}}
        return await self.client.post("/mcp", json=body, headers=self.headers)

    async def tools(self) -> set[str]:
        response = await self.post("tools/list")
        assert response.status_code == 200, response.text
        return {tool["name"] for tool in _message(response)["result"]["tools"]}

    async def call(self, tool: str, arguments: dict[str, Any] | None = None) -> httpx.Response:
        return await self.post("tools/call", {"name": tool, "arguments": arguments or {}})


APPS_CAPABILITIES = {"extensions": {"io.modelcontextprotocol/ui": {"mimeTypes": ["text/html;profile=mcp-app"]}}}
"""What a host that shows MCP Apps (the confirmation card) declares."""


async def modern(
    client: httpx.AsyncClient,
    token: str,
    method: str,
    params: dict[str, Any],
    name: str | None = None,
    capabilities: dict[str, Any] | None = None,
) -> httpx.Response:
    """One self-contained 2026-07-28 request; `name` is the Mcp-Name header (the tool's own name by default)."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": capabilities or {},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
    headers = {**ACCEPT, "authorization": f"Bearer {token}", "mcp-protocol-version": MODERN, "mcp-method": method}
    if method == "tools/call":
        headers["mcp-name"] = name or params["name"]
    return await client.post("/mcp", json=body, headers=headers)


def api_writes(sim: Simulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in sim.requests if r.method != "GET"]


# -- 401 ------------------------------------------------------------------------------


async def test_no_token_gets_401_pointing_at_the_metadata(sim: Simulator) -> None:
    """No token: 401, `Bearer resource_metadata="…"` and no error code (RFC 6750 §3.1); nothing runs."""
    async with oauth_app(LocalIssuer(), sim) as client:
        response = await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=ACCEPT)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == f'Bearer resource_metadata="{METADATA_URL}"'
    assert response.headers["cache-control"] == "no-store"
    assert sim.requests == []


def _bad_tokens(issuer: LocalIssuer) -> dict[str, str]:
    good = issuer.token(scope=READ)
    return {
        "expired": issuer.token(exp=1_000_000_000, iat=999_999_000),
        "wrong audience": issuer.token(aud="https://other.example.com/mcp"),
        "wrong issuer": issuer.token(iss="https://evil.example.com"),
        "alg none": forge_none(good),
        "HS256 with the public key": forge_hs256(good, issuer.keys[0].public_pem()),
        "tampered": tamper(good, scope="snapshots:read snapshots:write snapshots:delete"),
        "garbage": "x" * 40,
    }


async def test_every_bad_token_gets_401_invalid_token_and_is_never_logged(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    issuer = LocalIssuer()
    bad = _bad_tokens(issuer)
    async with oauth_app(issuer, sim) as client:
        with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="snapshot_mcp"):
            for what, token in bad.items():
                headers = {**ACCEPT, "authorization": f"Bearer {token}"}
                response = await client.post(
                    "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers
                )
                assert response.status_code == 401, what
                challenge = response.headers["www-authenticate"]
                assert challenge == f'Bearer error="invalid_token", resource_metadata="{METADATA_URL}"', what
                assert token not in response.text
    logged = caplog.text
    assert all(token not in logged for token in bad.values())
    assert logged.count("refused a bearer token") == len(bad)
    assert sim.requests == []


# -- scopes ---------------------------------------------------------------------------


async def test_a_read_only_token_lists_and_reads_and_gets_the_step_up_for_writing(sim: Simulator) -> None:
    """2025 era: tools/list holds the reading tools only; a writing call is 403 insufficient_scope, unsent."""
    issuer = LocalIssuer()
    async with oauth_app(issuer, sim) as client:
        session = await Legacy(client, issuer.token(scope=READ)).open()
        assert await session.tools() == READING_TOOLS
        listed = await session.call("list_snapshots", {"per_page": 2})
        assert listed.status_code == 200
        assert not _message(listed)["result"].get("isError")
        refused = await session.call("rename_snapshot", {"snapshot_id": SEED_ID, "name": "x"})
        deleted = await session.call("delete_snapshot", {"snapshot_id": SEED_ID})
    assert refused.status_code == 403
    assert refused.headers["www-authenticate"] == (
        f'Bearer error="insufficient_scope", scope="snapshots:read snapshots:write", resource_metadata="{METADATA_URL}"'
    )
    assert refused.json()["error"] == "insufficient_scope"
    assert deleted.status_code == 403
    assert 'scope="snapshots:read snapshots:delete"' in deleted.headers["www-authenticate"]
    assert api_writes(sim) == []


async def test_a_write_token_sees_no_delete_tool_and_a_scope_less_one_sees_nothing(sim: Simulator) -> None:
    issuer = LocalIssuer()
    async with oauth_app(issuer, sim) as client:
        writer = await Legacy(client, issuer.token(scope="snapshots:read snapshots:write")).open()
        nobody = await Legacy(client, issuer.token(scope="openid")).open()
        assert await writer.tools() == READING_TOOLS | {
            "create_snapshot_from_url",
            "snapshot_instance",
            "copy_snapshot",
            "rename_snapshot",
        }
        assert await nobody.tools() == set()
        assert (await nobody.call("list_snapshots")).status_code == 403


async def test_the_modern_era_is_judged_by_its_headers_and_tools_list_is_private(sim: Simulator) -> None:
    """2026-07-28: Mcp-Method/Mcp-Name decide the 403; tools/list is filtered and cacheScope private."""
    issuer = LocalIssuer()
    token = issuer.token(scope=READ)
    async with oauth_app(issuer, sim) as client:
        listed = await modern(client, token, "tools/list", {})
        refused = await modern(client, token, "tools/call", {"name": "delete_snapshot", "arguments": {}})
        allowed = await modern(client, token, "tools/call", {"name": "list_snapshots", "arguments": {}})
    result = _message(listed)["result"]
    assert {tool["name"] for tool in result["tools"]} == READING_TOOLS
    assert result["cacheScope"] == "private"
    assert refused.status_code == 403
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    assert allowed.status_code == 200


async def test_headers_that_disagree_with_the_body_get_nothing_done(sim: Simulator) -> None:
    """Mcp-Name says a reading tool, the body names delete_snapshot: the SDK refuses the mismatch, nothing is sent."""
    issuer = LocalIssuer()
    arguments = {"name": "delete_snapshot", "arguments": {"snapshot_id": SEED_ID}}
    async with oauth_app(issuer, sim, oauth_settings(delete_confirmation="none")) as client:
        response = await modern(client, issuer.token(scope=READ), "tools/call", arguments, name="list_snapshots")
    assert "error" in _message(response) or response.status_code >= 400
    assert api_writes(sim) == []


async def test_a_2025_batch_is_refused_when_any_call_in_it_needs_more(sim: Simulator) -> None:
    issuer = LocalIssuer()
    async with oauth_app(issuer, sim) as client:
        session = await Legacy(client, issuer.token(scope=READ)).open()
        batch = [
            {"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "list_snapshots", "arguments": {}}},
            {"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "delete_snapshot"}},
        ]
        response = await client.post("/mcp", json=batch, headers=session.headers)
        escaped = await client.post(
            "/mcp",
            content=b'{"jsonrpc":"2.0","id":12,"method":"tools\\/call","params":{"name":"delete_snapshot"}}',
            headers=session.headers,
        )
    assert response.status_code == 403
    assert escaped.status_code == 403  # read as JSON, not searched as text
    assert api_writes(sim) == []


async def test_a_body_past_the_limit_is_413_and_its_tail_never_runs(sim: Simulator) -> None:
    issuer = LocalIssuer()
    tail = json.dumps({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "delete_snapshot"}})

    async def body() -> AsyncIterator[bytes]:
        yield b" " * 2048
        yield tail.encode()

    async with oauth_app(issuer, sim, max_body_bytes=1024) as client:
        session = await Legacy(client, issuer.token(scope=READ)).open()
        response = await client.post("/mcp", content=body(), headers=session.headers)
    assert response.status_code == 413
    assert api_writes(sim) == []


async def test_the_mcp_layer_applies_the_scopes_too(sim: Simulator) -> None:
    """Past the HTTP gate (a modern request whose headers name a reading tool), the server itself refuses."""

    user = AuthenticatedUser(AccessToken(token="t", client_id="c", scopes=[READ], subject="alice"))
    reset = auth_context_var.set(user)
    try:
        async with connect(fast(oauth_settings(delete_confirmation="none")), sim) as client:
            listed = {tool.name for tool in (await client.list_tools()).tools}
            result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    finally:
        auth_context_var.reset(reset)
    assert listed == READING_TOOLS
    assert result.is_error
    assert "snapshots:delete" in result.content[0].text  # type: ignore[union-attr]
    assert api_writes(sim) == []


async def test_reading_api_data_through_resources_or_completions_needs_the_read_scope(sim: Simulator) -> None:
    """A token without snapshots:read reads no snapshot resource and completes no id (both list the API's data)."""

    user = AuthenticatedUser(AccessToken(token="t", client_id="c", scopes=["snapshots:write"], subject="bob"))
    ref = ResourceTemplateReference(type="ref/resource", uri="genesiscloud://snapshots/{snapshot_id}")
    reset = auth_context_var.set(user)
    try:
        async with connect(fast(oauth_settings()), sim) as client:
            with pytest.raises(MCPError, match="snapshots:read"):
                await client.read_resource(f"genesiscloud://snapshots/{SEED_ID}")
            with pytest.raises(MCPError, match="snapshots:read"):
                await client.complete(ref, {"name": "snapshot_id", "value": "e"})
    finally:
        auth_context_var.reset(reset)
    assert sim.requests == []


# -- who did it -----------------------------------------------------------------------


async def test_the_audit_line_and_file_name_the_subject_and_client(sim: Simulator, tmp_path: Path) -> None:
    """A delete with the token channel: each record carries sub and client; `approved` precedes the DELETE."""

    audit_file = tmp_path / "audit.jsonl"
    settings = oauth_settings(delete_confirmation="token", audit_file=str(audit_file))
    issuer = LocalIssuer()
    with audit_lines() as audit:
        async with oauth_app(issuer, sim, settings) as client:
            session = await Legacy(client, issuer.token(sub="alice", client_id="claude-code")).open()
            preview = _message(await session.call("delete_snapshot", {"snapshot_id": SEED_ID}))["result"]
            token = preview["structuredContent"]["confirmation_token"]
            done = await session.call("delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": token})
    assert _message(done)["result"]["structuredContent"]["deleted"] is True
    assert [line.split(" outcome=")[1] for line in audit.lines] == ["token_issued", "deleting"]
    assert all('subject="alice" client="claude-code"' in line for line in audit.lines)
    records = [json.loads(line) for line in audit_file.read_text().splitlines()]
    assert [r["outcome"] for r in records] == ["token_issued", "approved", "deleting"]
    assert {(r["subject"], r["client"], r["channel"]) for r in records} == {("alice", "claude-code", "token")}
    assert all(r["snapshot_ids"] == [SEED_ID] and r["request_id"] for r in records)
    assert set(records[0]) == {
        "time", "tool", "snapshot_ids", "channel", "outcome", "detail", "subject", "client", "request_id"
    }  # fmt: skip
    assert token not in audit_file.read_text()


async def test_a_card_click_from_another_subject_is_refused(sim: Simulator) -> None:
    """2026-07-28 has no sessions: the deletion request is bound to who asked, and bob's click with alice's nonce
    finds no request; alice's own click deletes, and the audit names her."""

    issuer = LocalIssuer()
    alice, bob = issuer.token(sub="alice"), issuer.token(sub="bob")
    with audit_lines() as audit:
        async with oauth_app(issuer, sim) as client:
            asked = _message(
                await modern(
                    client,
                    alice,
                    "tools/call",
                    {"name": "delete_snapshot", "arguments": {"snapshot_id": SEED_ID}},
                    capabilities=APPS_CAPABILITIES,
                )
            )["result"]
            meta = asked["_meta"][CONFIRMATION_META]
            click = {"request_id": meta["request_id"], "nonce": meta["nonce"], "decision": "delete"}
            call = {"name": "confirm_deletion", "arguments": click}
            by_bob = _message(await modern(client, bob, "tools/call", call, capabilities=APPS_CAPABILITIES))
            deletes_after_bob = api_writes(sim)
            by_alice = _message(await modern(client, alice, "tools/call", call, capabilities=APPS_CAPABILITIES))
    assert asked["structuredContent"]["outcome"] == "awaiting_confirmation"
    assert by_bob["result"]["isError"] is True
    assert "No such deletion request" in by_bob["result"]["content"][0]["text"]
    assert deletes_after_bob == []
    assert by_alice["result"]["structuredContent"]["outcome"] == "deleted"
    assert api_writes(sim) == [f"DELETE /compute/v1/snapshots/{SEED_ID}"]
    decided = [line for line in audit.lines if "tool=confirm_deletion" in line and "outcome=deleting" in line]
    assert len(decided) == 1
    assert 'subject="alice"' in decided[0]
    assert 'subject="alice"' in audit.lines[0]  # who asked


# -- metadata and CORS ------------------------------------------------------------------


async def test_the_metadata_document(sim: Simulator) -> None:
    async with oauth_app(LocalIssuer(), sim) as client:
        response = await client.get("/.well-known/oauth-protected-resource/mcp")
        foreign = await client.get(
            "/.well-known/oauth-protected-resource/mcp", headers={"origin": "https://evil.example"}
        )
    assert response.status_code == 200
    assert response.json() == {
        "resource": RESOURCE,
        "authorization_servers": [ISSUER],
        "scopes_supported": ["snapshots:read", "snapshots:write", "snapshots:delete"],
        "bearer_methods_supported": ["header"],
        "resource_name": "snapshot-mcp",
    }
    assert "access-control-allow-origin" not in foreign.headers


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
