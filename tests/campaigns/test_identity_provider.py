"""The server as a resource server of a real identity provider: panva's `oidc-provider` on loopback.

The provider (tests/oidc/, pinned in its package-lock.json, installed by `npm ci`) issues
RFC 9068 JWT access tokens with the client-credentials grant, for the server's resource
and with the scopes each client may have; a test can shift its clock and rotate its
keys. The server runs in process under uvicorn (`tests/support/http.py`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from mcp.client.session import ClientRequestContext
from mcp.types import ElicitRequestParams, ElicitResult, ErrorData
from pydantic import SecretStr

from snapshot_mcp.confirm.card import CONFIRMATION_META
from snapshot_mcp.oauth.verifier import JwtVerifier
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, Simulator
from tests.support import APPS, READING_TOOLS, SEED_ID, audit_lines
from tests.support.http import serving, token_client
from tests.support.oauth import (
    ACCEPT,
    ALL_SCOPES,
    PUBLIC,
    Legacy,
    OidcProvider,
    SigningKey,
    forge_hs256,
    forge_none,
    modern,
    tamper,
)

# a Node.js identity provider, real sockets
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("identity-provider")]


METADATA = "https://mcp.example.test/.well-known/oauth-protected-resource/mcp"


METADATA_PATH = "/.well-known/oauth-protected-resource/mcp"


APP_ORIGIN = "https://app.example.test"


def oauth_settings(idp: OidcProvider, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "token": SecretStr(DEFAULT_TOKEN),
        "port": 0,
        "auth_issuer": idp.issuer,
        "public_url": PUBLIC,
        "allowed_origins": (APP_ORIGIN,),
        **overrides,
    }
    return Settings(**values)


@asynccontextmanager
async def protected(
    idp: OidcProvider, sim: Simulator, settings: Settings | None = None, **options: Any
) -> AsyncIterator[tuple[str, JwtVerifier]]:
    """The server on loopback, checking `idp`'s tokens; yield (base URL, its verifier)."""
    verifier = JwtVerifier(idp.issuer, PUBLIC, **options)
    await verifier.start()
    async with serving(settings or oauth_settings(idp), sim, verifier=verifier) as base:
        yield base, verifier


def writes(sim: Simulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in sim.requests if r.method != "GET"]


# -- scopes -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_read_only_token_lists_and_reads_but_cannot_see_or_call_a_writing_tool(
    idp: OidcProvider, sim: Simulator, mode: str
) -> None:
    """snapshots:read only: the official client lists and reads; a writing call is the spec's 403 step-up."""
    token = await idp.token("reader")
    async with protected(idp, sim) as (base, _):
        async with token_client(f"{base}/mcp", token, mode=mode) as client:
            assert {tool.name for tool in (await client.list_tools()).tools} == READING_TOOLS
            listed = await client.call_tool("list_snapshots", {"per_page": 3})
            read = await client.call_tool("get_snapshot", {"snapshot_id": SEED_ID})
        async with httpx.AsyncClient(base_url=base) as raw:
            legacy = await Legacy(raw, token).open()
            create = {"image_url": "https://images.example.com/x.img", "name": "x", "region": "NORD-NO-KRS-1"}
            refused = await legacy.call("create_snapshot_from_url", create)
            modern_refused = await modern(raw, token, "tools/call", {"name": "delete_snapshot", "arguments": {}})
            document = await raw.get(METADATA_PATH)
    assert not listed.is_error
    assert not read.is_error
    for answer, needed in ((refused, "snapshots:write"), (modern_refused, "snapshots:delete")):
        assert answer.status_code == 403
        assert answer.headers["www-authenticate"] == (
            f'Bearer error="insufficient_scope", scope="snapshots:read {needed}", resource_metadata="{METADATA}"'
        )
    assert writes(sim) == []
    assert document.json()["authorization_servers"] == [idp.issuer]
    assert document.json()["resource"] == PUBLIC
    assert document.json()["scopes_supported"] == ALL_SCOPES.split()


async def accept(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
    assert SEED_ID in params.message
    return ElicitResult(action="accept", content={"confirm": True})


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_token_with_every_scope_deletes_after_a_yes_and_is_named_in_the_audit(
    idp: OidcProvider, sim: Simulator, mode: str, tmp_path: Path
) -> None:
    audit_file = tmp_path / "audit.jsonl"
    settings = oauth_settings(idp, confirm_channels=("form",), audit_file=str(audit_file))
    token = await idp.token("admin")
    with audit_lines() as audit:
        async with (
            protected(idp, sim, settings) as (base, _),
            token_client(f"{base}/mcp", token, mode=mode, elicitation_callback=accept) as client,
        ):
            result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert result.structured_content is not None
    assert result.structured_content["deleted"] is True
    assert writes(sim) == [f"DELETE /compute/v1/snapshots/{SEED_ID}"]
    [line] = audit.lines
    assert 'subject="admin" client="admin" outcome=deleting' in line
    records = [json.loads(text) for text in audit_file.read_text().splitlines()]
    assert [(r["outcome"], r["subject"], r["client"]) for r in records] == [
        ("approved", "admin", "admin"),
        ("deleting", "admin", "admin"),
    ]
    assert token not in audit_file.read_text()


async def test_a_card_click_from_another_subject_is_refused(idp: OidcProvider, sim: Simulator) -> None:
    """Two clients of the provider (two subjects), 2026-07-28: admin-2 cannot decide admin's request with its nonce."""
    asker, other = await idp.token("admin"), await idp.token("admin-2")
    with audit_lines() as audit:
        async with protected(idp, sim) as (base, _):
            async with token_client(f"{base}/mcp", asker, extensions=[APPS]) as client:
                asked = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
            meta = (asked.meta or {})[CONFIRMATION_META]
            click = {"request_id": meta["request_id"], "nonce": meta["nonce"], "decision": "delete"}
            async with token_client(f"{base}/mcp", other, extensions=[APPS]) as client:
                refused = await client.call_tool("confirm_deletion", click)
            assert writes(sim) == []
            async with token_client(f"{base}/mcp", asker, extensions=[APPS]) as client:
                decided = await client.call_tool("confirm_deletion", click)
    assert refused.is_error
    assert "No such deletion request" in str(refused.content)
    assert (decided.structured_content or {})["outcome"] == "deleted"
    assert writes(sim) == [f"DELETE /compute/v1/snapshots/{SEED_ID}"]
    assert any('subject="admin" client="admin" outcome=deleting' in line for line in audit.lines)
    assert not any('subject="admin-2"' in line and "outcome=deleting" in line for line in audit.lines)


# -- bad tokens -----------------------------------------------------------------------------


async def _bad_tokens(idp: OidcProvider, tmp_path: Path) -> dict[str, str]:
    """Every kind of token the server must refuse, from the real provider where it can make one."""
    good = await idp.token("reader")
    await idp.shift_clock(-3600)
    try:
        expired = await idp.token("reader")
    finally:
        await idp.shift_clock(3600)
    try:
        early = await idp.token("reader")
    finally:
        await idp.shift_clock(0)
    other = OidcProvider(tmp_path, idp.keys, PUBLIC).start()  # the same keys, another issuer
    try:
        foreign = await other.token("admin")
    finally:
        other.stop()
    claims = jwt.decode(good, options={"verify_signature": False})
    stranger = SigningKey.rsa("stranger")
    unknown = jwt.encode(claims, stranger.private, algorithm="RS256", headers={"kid": "stranger", "typ": "at+jwt"})
    return {
        "expired": expired,
        "not yet valid": early,
        "wrong audience": await idp.token("admin", resource="https://other.example.test/mcp"),
        "wrong issuer": foreign,
        "unknown key": unknown,
        "alg none": forge_none(good),
        "HS256 with the public key": forge_hs256(good, idp.keys[0].public_pem()),
        "tampered payload": tamper(good, scope=ALL_SCOPES),
    }


async def test_every_bad_token_is_refused_with_401_and_nothing_leaks(
    idp: OidcProvider, sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = await _bad_tokens(idp, tmp_path)
    with caplog.at_level(logging.DEBUG), caplog.at_level(logging.DEBUG, logger="snapshot_mcp"):
        async with protected(idp, sim) as (base, _), httpx.AsyncClient(base_url=base) as raw:
            answers = {}
            for what, token in bad.items():
                ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
                answers[what] = await raw.post(
                    "/mcp", json=ping, headers={**ACCEPT, "authorization": f"Bearer {token}"}
                )
    for what, answer in answers.items():
        assert answer.status_code == 401, what
        challenge = answer.headers["www-authenticate"]
        assert challenge == f'Bearer error="invalid_token", resource_metadata="{METADATA}"', what
        assert bad[what] not in answer.text
    logged = caplog.text
    assert logged.count("refused a bearer token") == len(bad)  # each was logged, by its reason only
    for token in bad.values():
        signature = token.split(".")[-1]
        assert token not in logged
        assert not signature or signature not in logged
    assert sim.requests == []


async def test_a_rotated_key_is_accepted_and_the_old_one_still_verifies(
    idp: OidcProvider, sim: Simulator, signing_key: SigningKey
) -> None:
    before = await idp.token("reader")
    new = SigningKey.rsa("idp-key-2")
    async with protected(idp, sim, refetch_seconds=0.0) as (base, verifier):
        await idp.sign_with([new, signing_key])
        try:
            after = await idp.token("reader")
            async with httpx.AsyncClient(base_url=base) as raw:
                for token in (after, before):
                    session = await Legacy(raw, token).open()
                    assert await session.tools() == READING_TOOLS
        finally:
            await idp.sign_with([signing_key])
    assert jwt.get_unverified_header(after)["kid"] == "idp-key-2"
    assert verifier.fetches == 2  # at start, and once for the new kid


async def test_tokens_keep_working_when_the_issuer_goes_away(
    tmp_path: Path, sim: Simulator, signing_key: SigningKey
) -> None:
    """The provider stops after the start: a token checked against the cached keys still gets in."""
    provider = OidcProvider(tmp_path, [signing_key], PUBLIC).start()
    try:
        token = await provider.token("reader")
        async with protected(provider, sim, oauth_settings(provider), refetch_seconds=0.0) as (base, verifier):
            provider.stop()
            async with httpx.AsyncClient(base_url=base) as raw:
                session = await Legacy(raw, token).open()
                assert await session.tools() == READING_TOOLS
                stranger = SigningKey.rsa("stranger")
                claims = jwt.decode(token, options={"verify_signature": False})
                unknown = jwt.encode(claims, stranger.private, algorithm="RS256", headers={"kid": "x", "typ": "at+jwt"})
                refused = await raw.post("/mcp", json={}, headers={**ACCEPT, "authorization": f"Bearer {unknown}"})
    finally:
        provider.stop()
    assert refused.status_code == 401  # an unknown key still needs the issuer, which is gone
    assert verifier.fetches == 1


async def test_cors_for_an_allowed_origin_and_none_for_another(idp: OidcProvider, sim: Simulator) -> None:
    async with protected(idp, sim) as (base, _), httpx.AsyncClient(base_url=base) as raw:
        preflight = await raw.options(
            "/mcp",
            headers={
                "origin": APP_ORIGIN,
                "access-control-request-method": "POST",
                "access-control-request-headers": "authorization, content-type, mcp-protocol-version, mcp-session-id",
            },
        )
        refused = await raw.post("/mcp", json={}, headers={**ACCEPT, "origin": APP_ORIGIN})
        foreign = await raw.post("/mcp", json={}, headers={**ACCEPT, "origin": "https://evil.example.test"})
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == APP_ORIGIN
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == APP_ORIGIN
    assert "www-authenticate" in refused.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in foreign.headers
