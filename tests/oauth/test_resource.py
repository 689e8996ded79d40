"""`oauth.resource` over HTTP, in process (httpx's ASGI transport, no sockets): 401, 403 step-up, metadata.

The app is the one `build_http_app` serves, with a `JwtVerifier` whose issuer is a
`LocalIssuer` (tests/support/oauth.py) and an API that is the simulator. Requests are
raw JSON-RPC, so each test sees the exact status and headers a client gets. The same
behaviour against a real identity provider and real sockets is in
campaigns/test_identity_provider.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest

from snapshot_mcp.simulator import Simulator
from tests.support import READING_TOOLS, SEED_ID
from tests.support.oauth import (
    ACCEPT,
    ISSUER,
    METADATA_URL,
    READ,
    RESOURCE,
    Legacy,
    LocalIssuer,
    api_writes,
    forge_hs256,
    forge_none,
    message_of,
    modern,
    oauth_app,
    oauth_settings,
    tamper,
)

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
        assert not message_of(listed)["result"].get("isError")
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
    result = message_of(listed)["result"]
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
    assert "error" in message_of(response) or response.status_code >= 400
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
