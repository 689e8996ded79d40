"""`oauth.discovery`: finding the issuer's metadata (RFC 8414, then OIDC) and its keys, and what stops
the start when they cannot be had.
"""

from __future__ import annotations

import httpx
import pytest

from snapshot_mcp.oauth.discovery import IssuerUnreachable, discover_jwks_uri, fetch_jwks, metadata_urls
from snapshot_mcp.oauth.verifier import JwtVerifier
from tests.support.oauth import ISSUER, RESOURCE, LocalIssuer

# -- discovery ---------------------------------------------------------------------------


def test_metadata_urls_follow_the_mcp_spec_order() -> None:
    assert metadata_urls("https://idp.example.com") == [
        "https://idp.example.com/.well-known/oauth-authorization-server",
        "https://idp.example.com/.well-known/openid-configuration",
    ]
    assert metadata_urls("https://idp.example.com/realms/team/") == [
        "https://idp.example.com/.well-known/oauth-authorization-server/realms/team",
        "https://idp.example.com/.well-known/openid-configuration/realms/team",
        "https://idp.example.com/realms/team/.well-known/openid-configuration",
    ]


async def test_oidc_discovery_is_the_fallback() -> None:
    issuer = LocalIssuer(issuer=ISSUER + "/realms/team", metadata_path="/realms/team/.well-known/openid-configuration")
    assert await discover_jwks_uri(ISSUER + "/realms/team", issuer.transport()) == issuer.jwks_uri
    assert issuer.fetched == [
        "/.well-known/oauth-authorization-server/realms/team",
        "/.well-known/openid-configuration/realms/team",
        "/realms/team/.well-known/openid-configuration",
    ]


def _serving(document: object, status: int = 200, raw: bytes | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if raw is not None:
            return httpx.Response(status, content=raw)
        return httpx.Response(status, json=document)

    return httpx.MockTransport(handler)


DISCOVERY_FAILURES: list[tuple[str, httpx.MockTransport, str]] = [
    ("another issuer's metadata", _serving({"issuer": "https://evil.example", "jwks_uri": ISSUER + "/k"}), "differs"),
    ("no jwks_uri", _serving({"issuer": ISSUER}), "no jwks_uri"),
    ("plain http keys", _serving({"issuer": ISSUER, "jwks_uri": "http://idp.example.com/k"}), "must be https"),
    ("an error status", _serving({}, 500), "HTTP 500"),
    ("not JSON", _serving(None, raw=b"<html>"), "not answer with JSON"),
    ("a huge answer", _serving(None, raw=b" " * (600 * 1024)), "more than 512 KiB"),
]


@pytest.mark.parametrize(
    ("transport", "words"), [case[1:] for case in DISCOVERY_FAILURES], ids=[case[0] for case in DISCOVERY_FAILURES]
)
async def test_unusable_metadata_is_an_unreachable_issuer(transport: httpx.MockTransport, words: str) -> None:
    with pytest.raises(IssuerUnreachable, match=words):
        await discover_jwks_uri(ISSUER, transport)


async def test_loopback_keys_may_be_plain_http() -> None:
    transport = _serving({"issuer": "http://127.0.0.1:9", "jwks_uri": "http://127.0.0.1:9/jwks"})
    assert await discover_jwks_uri("http://127.0.0.1:9", transport) == "http://127.0.0.1:9/jwks"


async def test_an_unreachable_issuer_fails_start() -> None:
    issuer = LocalIssuer(down=True)
    verifier = JwtVerifier(ISSUER, RESOURCE, transport=issuer.transport())
    with pytest.raises(IssuerUnreachable, match="could not be reached"):
        await verifier.start()


async def test_a_key_set_that_is_not_one_is_refused() -> None:
    with pytest.raises(IssuerUnreachable, match="not a JWK set"):
        await fetch_jwks(ISSUER + "/jwks", _serving({"keys": "none"}))
