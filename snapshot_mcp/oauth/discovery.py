"""Finding an issuer's signing keys: its metadata, then its JWKS.

The metadata comes from RFC 8414 (`/.well-known/oauth-authorization-server`) or OpenID
Connect discovery (`/.well-known/openid-configuration`), tried in the order the MCP
authorization spec gives. Its `issuer` must equal the configured one exactly (RFC 8414
§3.3), and the `jwks_uri` it names must be https, like the issuer (plain http only on a
loopback address, for tests and local set-ups).

Every fetch is one GET: a few seconds at most, no redirect followed, a body of at most
`MAX_DOCUMENT_BYTES`. Any failure is an `IssuerUnreachable` whose message says what went
wrong and never carries a token (none is ever sent).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from snapshot_mcp.settings import is_loopback_host

__all__ = [
    "FETCH_SECONDS",
    "MAX_DOCUMENT_BYTES",
    "IssuerUnreachable",
    "discover_jwks_uri",
    "fetch_jwks",
    "metadata_urls",
]

FETCH_SECONDS = 5.0
MAX_DOCUMENT_BYTES = 512 * 1024
"""An issuer's metadata or key set is a few KiB; more is not one."""


class IssuerUnreachable(Exception):
    """The issuer's metadata or keys could not be fetched, or are not usable."""


def metadata_urls(issuer: str) -> list[str]:
    """Where the issuer's metadata may be, in the MCP spec's order (path insertion first, then appending)."""
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}"
    path = parts.path.rstrip("/")
    if not path:
        return [f"{origin}/.well-known/oauth-authorization-server", f"{origin}/.well-known/openid-configuration"]
    return [
        f"{origin}/.well-known/oauth-authorization-server{path}",
        f"{origin}/.well-known/openid-configuration{path}",
        f"{origin}{path}/.well-known/openid-configuration",
    ]


async def _get_json(url: str, transport: httpx.AsyncBaseTransport | None) -> Any:
    """The JSON at `url` (a 200 answer, bounded in size and time)."""
    try:
        async with (
            httpx.AsyncClient(transport=transport, timeout=FETCH_SECONDS, follow_redirects=False) as http,
            http.stream("GET", url, headers={"Accept": "application/json"}) as response,
        ):
            if response.status_code != 200:
                raise IssuerUnreachable(f"{url} answered HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise IssuerUnreachable(f"{url} answered with more than {MAX_DOCUMENT_BYTES // 1024} KiB")
    except httpx.HTTPError as exc:
        raise IssuerUnreachable(f"{url} could not be reached ({type(exc).__name__})") from None
    try:
        return json.loads(body)
    except ValueError:
        raise IssuerUnreachable(f"{url} did not answer with JSON") from None


async def discover_jwks_uri(issuer: str, transport: httpx.AsyncBaseTransport | None = None) -> str:
    """The `jwks_uri` of `issuer`, from the first metadata document found."""
    problems: list[str] = []
    for url in metadata_urls(issuer):
        try:
            document = await _get_json(url, transport)
        except IssuerUnreachable as exc:
            problems.append(str(exc))
            continue
        return _jwks_uri(issuer, url, document)
    raise IssuerUnreachable("; ".join(problems))


def _jwks_uri(issuer: str, url: str, document: Any) -> str:
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        raise IssuerUnreachable(f"{url} is not the metadata of {issuer} (its issuer differs)")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise IssuerUnreachable(f"{url} names no jwks_uri")
    parts = urlsplit(jwks_uri)
    if not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback_host(parts.hostname or ""))):
        raise IssuerUnreachable(f"the issuer's jwks_uri must be https (plain http only on loopback): {jwks_uri[:200]}")
    return jwks_uri


async def fetch_jwks(jwks_uri: str, transport: httpx.AsyncBaseTransport | None = None) -> list[dict[str, Any]]:
    """The keys of the JWK set at `jwks_uri` (each a JSON object; what they are is the verifier's to judge)."""
    document = await _get_json(jwks_uri, transport)
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise IssuerUnreachable(f"{jwks_uri} is not a JWK set")
    return [key for key in keys if isinstance(key, dict)]
