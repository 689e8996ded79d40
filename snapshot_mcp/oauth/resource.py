"""The HTTP side of the resource server: who is calling, the 401 and 403 answers, the metadata.

What a request meets, outside in (`protect`)::

    GET /.well-known/oauth-protected-resource/mcp   the RFC 9728 document (no token needed)
    AuthenticationMiddleware + the SDK's BearerAuthBackend(JwtVerifier)   sets the caller
    AuthContextMiddleware (the SDK's)      the caller for `get_access_token()` in handlers
    RequireToken     no valid token -> 401  WWW-Authenticate: Bearer resource_metadata="…"
                                            (+ error="invalid_token" when one was sent)
    ScopeStepUp      a call the token's scopes do not allow -> 403
                     WWW-Authenticate: Bearer error="insufficient_scope", scope="…", resource_metadata="…"
    the MCP app

The SDK's own wiring (`MCPServer(token_verifier=…, auth=…)`) builds the same parts into
its Starlette app with no place between authentication and dispatch for a per-tool scope
check; its `required_scopes` apply to every request, its 401 says `invalid_token` even
when no token was sent, its 403 names no `scope`, and its metadata route answers any
origin with `Access-Control-Allow-Origin: *`. So the parts are composed here instead.

Which scope a call needs: the 2026-07-28 era names the method and the tool in the
`Mcp-Method` and `Mcp-Name` headers (the SDK refuses a request whose headers and body
disagree); a 2025-era request is read here, at most `max_body_bytes`, and handed on
whole. Either way the MCP layer checks again (`scopes.ScopeGate`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend
from mcp.server.auth.routes import build_resource_metadata_url
from mcp.shared.auth import ProtectedResourceMetadata
from mcp.shared.inbound import MCP_METHOD_HEADER, MCP_NAME_HEADER, MCP_PROTOCOL_VERSION_HEADER, decode_header_value
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import AnyHttpUrl
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from snapshot_mcp.scopes import SCOPES, needed_scope, step_up

from .verifier import JwtVerifier

__all__ = ["RequireToken", "ScopeStepUp", "metadata_url", "protect"]

logger = logging.getLogger("snapshot_mcp.oauth")


def metadata_url(resource: str) -> str:
    """Where the RFC 9728 document of `resource` is served (`/.well-known/oauth-protected-resource` + its path)."""
    return str(build_resource_metadata_url(AnyHttpUrl(resource)))


def _challenge(url: str, error: str | None = None, scope: str | None = None) -> bytes:
    parts = [f'error="{error}"'] if error else []
    if scope is not None:
        parts.append(f'scope="{scope}"')
    parts.append(f'resource_metadata="{url}"')
    return ("Bearer " + ", ".join(parts)).encode()


async def _refuse(send: Send, status: int, challenge: bytes, error: str, description: str) -> None:
    payload = json.dumps({"error": error, "error_description": description}, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
        (b"www-authenticate", challenge),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


async def _too_large(send: Send, limit: int) -> None:
    message = f"the request body is larger than {limit} bytes"
    payload = json.dumps({"error": "request_too_large", "error_description": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _presented_bearer(scope: Scope) -> bool:
    return any(k == b"authorization" and v.strip().lower().startswith(b"bearer ") for k, v in scope["headers"])


class RequireToken:
    """Pure ASGI: only a request whose bearer token the verifier accepted goes on; others get 401."""

    def __init__(self, app: ASGIApp, resource_metadata: str) -> None:
        self.app = app
        self.resource_metadata = resource_metadata

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or isinstance(scope.get("user"), AuthenticatedUser):
            await self.app(scope, receive, send)
            return
        presented = _presented_bearer(scope)
        client = scope.get("client")
        logger.info(
            "refused %s %s from %s: %s access token",
            scope.get("method", "?"),
            scope.get("path", "?"),
            client[0] if client else "?",
            "invalid" if presented else "no",
        )
        error = "invalid_token" if presented else None
        description = "the access token is not valid here" if presented else "send an OAuth access token"
        challenge = _challenge(self.resource_metadata, error)
        await _refuse(send, 401, challenge, error or "unauthorized", description)


class ScopeStepUp:
    """Pure ASGI: a call to a tool outside the token's scopes is answered 403 and goes no further."""

    def __init__(self, app: ASGIApp, resource_metadata: str, *, max_body_bytes: int) -> None:
        self.app = app
        self.resource_metadata = resource_metadata
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if scope["type"] != "http" or scope.get("method") != "POST" or not isinstance(user, AuthenticatedUser):
            await self.app(scope, receive, send)
            return
        granted = frozenset(user.scopes)
        requests: list[tuple[str | None, object]]
        if _modern(scope):
            requests = [(_header(scope, MCP_METHOD_HEADER), decode_header_value(_header(scope, MCP_NAME_HEADER)))]
        else:
            body = await _read_body(receive, self.max_body_bytes)
            if body is None:  # part of it is read: the rest must not reach the app as a request of its own
                await _too_large(send, self.max_body_bytes)
                return
            requests = list(_named_requests(body))
            receive = _replay(body, receive)
        for method, name in requests:
            needed = needed_scope(method or "", name)
            if needed is not None and needed not in granted:
                await self._step_up(scope, send, granted, needed, name)
                return
        await self.app(scope, receive, send)

    async def _step_up(self, scope: Scope, send: Send, granted: frozenset[str], needed: str, name: object) -> None:
        client = scope.get("client")
        logger.info("refused a call of %s from %s: the token lacks %s", name, client[0] if client else "?", needed)
        wanted = step_up(granted & frozenset(SCOPES), needed)
        challenge = _challenge(self.resource_metadata, "insufficient_scope", wanted)
        await _refuse(send, 403, challenge, "insufficient_scope", f"this call needs the scope {needed}")


def _header(scope: Scope, name: str) -> str | None:
    wanted = name.encode()
    return next((v.decode("latin-1") for k, v in scope["headers"] if k == wanted), None)


def _modern(scope: Scope) -> bool:
    """A 2026-07-28-era request: the SDK checks its Mcp-Method/Mcp-Name headers against the body."""
    version = _header(scope, MCP_PROTOCOL_VERSION_HEADER)
    return version is not None and version not in HANDSHAKE_PROTOCOL_VERSIONS


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The whole request body, or None once it passes `limit` bytes (then the request is answered 413)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return bytes(body)  # the client went away; the app will see an empty request
        body += message.get("body", b"")
        if len(body) > limit:
            return None
        if not message.get("more_body", False):
            return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the app `body` in one message, then whatever the connection sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _named_requests(body: bytes) -> Iterator[tuple[str | None, object]]:
    """(method, name) of each JSON-RPC request in a 2025-era body (a batch holds several)."""
    try:
        decoded: Any = json.loads(body)
    except (ValueError, RecursionError):
        return  # the SDK answers a parse error
    for message in decoded if isinstance(decoded, list) else [decoded]:
        if not isinstance(message, dict) or not isinstance(message.get("method"), str):
            continue
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        yield message["method"], params.get("uri" if message["method"] == "resources/read" else "name")


class _Metadata:
    """Pure ASGI: GET (or HEAD) of the RFC 9728 path answers the document; everything else goes on."""

    def __init__(self, app: ASGIApp, path: str, document: bytes) -> None:
        self.app = app
        self.path = path
        self.document = document

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") != self.path or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.document)).encode()),
            (b"cache-control", b"public, max-age=3600"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.document if scope["method"] == "GET" else b""})


def metadata_document(resource: str, issuer: str) -> bytes:
    """The RFC 9728 document: the resource, its one authorization server (as configured), the scopes."""
    metadata = ProtectedResourceMetadata.model_validate(  # from text: the model keeps a path-less URL as written
        {
            "resource": resource,
            "authorization_servers": [issuer],
            "scopes_supported": list(SCOPES),
            "resource_name": "snapshot-mcp",
        }
    )
    return metadata.model_dump_json(exclude_none=True).encode()


def protect(app: ASGIApp, verifier: JwtVerifier, *, resource: str, max_body_bytes: int) -> ASGIApp:
    """`app` as a protected resource of `verifier`'s issuer (see the module docstring for the layers)."""
    url = metadata_url(resource)
    guarded = RequireToken(ScopeStepUp(app, url, max_body_bytes=max_body_bytes), url)
    authenticated = AuthenticationMiddleware(AuthContextMiddleware(guarded), backend=BearerAuthBackend(verifier))
    path = AnyHttpUrl(url).path or "/"
    return _Metadata(authenticated, path, metadata_document(resource, verifier.issuer))
