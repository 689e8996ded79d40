"""Streamable HTTP: the MCP endpoint at ``/mcp``, hardened, served by uvicorn.

What a request meets, outside in::

    CORS            (only with --allowed-origins)  preflight answered; those origins' answers carry CORS
    BearerAuth      (only with --http-token)  no/wrong "Authorization: Bearer" -> 401
     `- /healthz    GET -> {"status":"ok"}    (no auth, no tool runs)
     `- OAuth       (only with --auth-issuer; `oauth.resource`) the RFC 9728 document;
                    no valid access token -> 401, a tool outside its scopes -> 403
     `- the SDK's Starlette app (its lifespan runs the session manager)
          `- /mcp   body over MAX_BODY_BYTES -> 413
                    Host not allowed -> 421, Origin not allowed -> 403 (DNS rebinding)
                    too many open sessions -> 503

Below the app, each connection gets `Settings.http_read_timeout` seconds to deliver a
whole request (headers and body); one that trickles or stalls is closed, so half-sent
requests cannot pile up (uvicorn itself never times out a request being read). Beyond
`Settings.http_max_connections` open connections, requests are answered 503 at once.

DNS-rebinding protection is always on: on a loopback bind only loopback Host and
Origin values pass; on any other bind ``<host>:<port>`` plus ``--allowed-hosts``, and
only ``--allowed-origins`` (a request without an Origin, i.e. not from a browser,
passes the Origin check). The client token is compared in constant time and never
logged. Starlette and uvicorn are imported here only: stdio never loads them.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import h11
import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from . import telemetry
from .safe_text import one_line
from .settings import Settings, is_loopback_host

if TYPE_CHECKING:
    from .oauth.verifier import JwtVerifier

__all__ = [
    "HEALTH_PATH",
    "MAX_BODY_BYTES",
    "MAX_SESSIONS",
    "MCP_PATH",
    "SESSION_IDLE_TIMEOUT",
    "BearerAuth",
    "ReadDeadlineProtocol",
    "build_http_app",
    "make_uvicorn_server",
    "run_http",
    "transport_security",
]

logger = logging.getLogger("snapshot_mcp.http")

MCP_PATH = "/mcp"
HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 1024 * 1024
"""A tool call is a few hundred bytes; 1 MiB leaves room and refuses floods (413)."""
MAX_SESSIONS = 1000
"""Concurrent stateful sessions per instance; one more is answered 503."""
SESSION_IDLE_TIMEOUT = 15 * 60.0
"""Seconds without any request in flight before a stateful session is closed."""

_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
_WILDCARD_BINDS = ("0.0.0.0", "::", "")  # noqa: S104 - names, not a bind


def _host_port(host: str, port: int | str) -> str:
    """``host:port`` as it appears in a Host header (IPv6 literals in brackets)."""
    name = host.strip("[]")
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"


def transport_security(settings: Settings) -> TransportSecuritySettings:
    """Host/Origin allow-lists for the bind in `settings` (patterns ``name:*`` allow any port)."""
    if is_loopback_host(settings.host):
        hosts = [h for name in _LOOPBACK_HOSTS for h in (name, f"{name}:*")]
        origins = [o for name in _LOOPBACK_HOSTS for o in (f"http://{name}", f"http://{name}:*")]
    else:
        hosts = [_host_port(settings.host, "*" if settings.port == 0 else settings.port)]
        origins = []
    hosts += [h for h in settings.allowed_hosts if h not in hosts]
    origins += [o for o in settings.allowed_origins if o not in origins]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


async def _send_json(
    send: Send, status: int, body: dict[str, str], headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class BearerAuth:
    """Pure ASGI: every HTTP request except ``GET /healthz`` must carry the bearer token.

    Missing or wrong → 401 with ``WWW-Authenticate: Bearer`` and a small JSON body; the
    request never reaches the MCP app, so no tool runs. The token is compared with
    `hmac.compare_digest` on bytes and never logged.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode("utf-8")

    def _authorized(self, scope: Scope) -> tuple[bool, bool]:
        """(authorized, a bearer credential was presented)."""
        values = [value for key, value in scope["headers"] if key == b"authorization"]
        if len(values) != 1:
            return False, bool(values)
        scheme, _, credential = values[0].strip().partition(b" ")
        if scheme.lower() != b"bearer" or not credential.strip():
            return False, False
        return hmac.compare_digest(credential.strip(), self._token), True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or _is_health(scope):
            await self.app(scope, receive, send)
            return
        ok, presented = self._authorized(scope)
        if ok:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        logger.warning(
            "refused %s %s from %s: %s bearer token",
            scope.get("method", "?"),
            one_line(scope.get("path", "?")),  # percent-decoded: CR/LF would start a line of their own
            client[0] if client else "?",
            "wrong" if presented else "missing",
        )
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        challenge = b'Bearer realm="snapshot-mcp"'
        if presented:
            challenge += b', error="invalid_token"'
        await _send_json(
            send,
            401,
            {
                "error": "invalid_token" if presented else "unauthorized",
                "error_description": "send the server's client token as 'Authorization: Bearer <token>'",
            },
            headers=[(b"www-authenticate", challenge)],
        )


def _is_health(scope: Scope) -> bool:
    return scope["type"] == "http" and scope.get("path") == HEALTH_PATH and scope.get("method") in ("GET", "HEAD")


class _Health:
    """``GET /healthz`` → ``{"status":"ok"}``; everything else goes to the MCP app (lifespan included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _is_health(scope):
            await _send_json(send, 200, {"status": "ok"})
            return
        await self.app(scope, receive, send)


def build_http_app(
    server: MCPServer[Any],
    settings: Settings,
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_sessions: int | None = MAX_SESSIONS,
    session_idle_timeout: float | None = SESSION_IDLE_TIMEOUT,
    verifier: JwtVerifier | None = None,
) -> ASGIApp:
    """The ASGI app for `server`: ``/mcp`` (+ ``/healthz``), with the checks above.

    With `--auth-issuer`, `verifier` checks the access tokens (one is made from `settings`
    when none is given; it then finds the issuer's keys on the first request).

    Call once per server: the SDK creates one session manager per call, and its
    ``run()`` (entered by the returned app's lifespan) may run only once.
    """
    security = transport_security(settings)
    if settings.host in _WILDCARD_BINDS and not settings.allowed_hosts:
        logger.warning(
            "binding %s without --allowed-hosts: requests are accepted only with Host %s; "
            "list the names clients use in --allowed-hosts",
            settings.host or "all interfaces",
            security.allowed_hosts[0],
        )
    mcp_app: ASGIApp = server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        stateless_http=settings.stateless,
        max_request_body_size=max_body_bytes,
        session_idle_timeout=session_idle_timeout,
        max_sessions=max_sessions,
        transport_security=security,
        host=settings.host,
    )
    app: ASGIApp = _Health(_oauth_protected(telemetry.asgi(mcp_app), settings, verifier, max_body_bytes))
    if settings.http_token is not None:
        app = BearerAuth(app, settings.http_token.get_secret_value())
    return with_cors(app, settings)


def _oauth_protected(app: ASGIApp, settings: Settings, verifier: JwtVerifier | None, max_body_bytes: int) -> ASGIApp:
    """With `--auth-issuer`: `app` behind the resource server's layers (`oauth.resource`); else `app` itself."""
    if settings.auth_issuer is None:
        return app
    from .oauth.resource import protect

    if settings.public_url is None:
        raise ValueError("--auth-issuer needs --public-url, the resource its tokens are issued for")
    verifier = verifier or oauth_verifier(settings)
    return protect(app, verifier, resource=settings.public_url, max_body_bytes=max_body_bytes)


def oauth_verifier(settings: Settings) -> JwtVerifier:
    """The verifier for `settings.auth_issuer`'s tokens, meant for `--auth-audience` or else `--public-url`."""
    from .oauth.verifier import JwtVerifier

    if settings.auth_issuer is None or settings.public_url is None:
        raise ValueError("an OAuth verifier needs --auth-issuer and --public-url")
    audience = settings.auth_audience or settings.public_url
    return JwtVerifier(settings.auth_issuer, audience, resource=settings.public_url)


CORS_ALLOWED_HEADERS = (
    "Authorization",
    "Content-Type",
    "Mcp-Session-Id",
    "Mcp-Protocol-Version",
    "Last-Event-ID",
    "Mcp-Method",
    "Mcp-Name",
    "traceparent",
    "tracestate",
)
CORS_EXPOSED_HEADERS = ("Mcp-Session-Id", "WWW-Authenticate")


def with_cors(app: ASGIApp, settings: Settings) -> ASGIApp:
    """`app` answering CORS for the origins in `--allowed-origins` only (never `*`); 401s and 403s carry it too.

    Starlette's middleware, outermost, so every answer to an allowed origin (the bearer and
    OAuth refusals included) carries `Access-Control-Allow-Origin` with that origin, and a
    browser client can read `WWW-Authenticate`. An origin ending in ``:*`` allows any port,
    as the Origin check does.
    """
    if not settings.allowed_origins:
        return app
    from starlette.middleware.cors import CORSMiddleware

    exact = [origin for origin in settings.allowed_origins if not origin.endswith(":*")]
    ports = [re.escape(origin[:-2]) + r":\d+" for origin in settings.allowed_origins if origin.endswith(":*")]
    return CORSMiddleware(
        app,
        allow_origins=exact,
        allow_origin_regex="|".join(ports) or None,
        allow_methods=("GET", "POST", "DELETE"),
        allow_headers=CORS_ALLOWED_HEADERS,
        expose_headers=CORS_EXPOSED_HEADERS,
    )


class ReadDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, plus a deadline for receiving each request in full.

    uvicorn bounds only the idle time between requests (`timeout_keep_alive`, armed after
    a response): a connection that sends half a request line, or headers without the
    promised body, is held forever, and enough of them exhaust the process's sockets
    before any authentication runs. Here the clock starts when the connection opens, or
    when the first byte of a further request arrives, and stops once h11 has the whole
    request; at `read_timeout` the connection is closed (an app waiting for the body
    sees `http.disconnect`). Responses, however long they stream, are not bounded.
    """

    read_timeout: ClassVar[float] = 10.0
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        self._arm()
        super().data_received(data)
        if not self._reading():
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _reading(self) -> bool:
        """A request is under way (or awaited on a fresh connection) and not yet complete."""
        return self.conn.their_state in (h11.IDLE, h11.SEND_BODY)

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.read_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self._reading() and not self.transport.is_closing():
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "?"
            logger.info("closed the connection from %s: no complete request within %gs", client, self.read_timeout)
            self.transport.close()


def read_deadline_protocol(seconds: float) -> type[ReadDeadlineProtocol]:
    """`ReadDeadlineProtocol` with its `read_timeout` set (uvicorn builds one per connection)."""

    class Protocol(ReadDeadlineProtocol):
        read_timeout = seconds

    return Protocol


class _Server(uvicorn.Server):
    """uvicorn, plus a callback with the bound (host, port) pairs once it listens."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[list[tuple[str, int]]], None] | None) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self._on_started is not None:
            bound = [
                (str(name[0]), int(name[1]))
                for srv in self.servers
                for sock in srv.sockets
                if isinstance(name := sock.getsockname(), tuple)
            ]
            self._on_started(bound)

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        await super().shutdown(sockets=sockets)
        telemetry.flush()  # uvicorn re-raises SIGTERM after this, and the process ends before `atexit`


def make_uvicorn_server(
    app: ASGIApp,
    settings: Settings,
    *,
    on_started: Callable[[list[tuple[str, int]]], None] | None = None,
) -> uvicorn.Server:
    """A uvicorn server for `app` on ``settings.host:settings.port`` (port 0: any free port).

    Logs go through the standard logging set up by the CLI (stderr); uvicorn's own
    logging config is not applied, and the access log is on only at DEBUG.

    Limits: uvicorn's `limit_concurrency` answers 503 beyond `http_max_connections` open
    connections (or running requests); it has no time-out for reading a request, so the
    protocol is ours: `ReadDeadlineProtocol` (always h11, never httptools).
    """
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=read_deadline_protocol(settings.http_read_timeout),
        limit_concurrency=settings.http_max_connections,
        timeout_keep_alive=5,
        log_config=None,
        log_level=settings.log_level.lower(),
        access_log=settings.log_level == "DEBUG",
        lifespan="on",
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=5,
    )
    return _Server(config, on_started)


def _announce(bound: list[tuple[str, int]]) -> None:
    for host, port in bound:
        print(f"snapshot-mcp: serving MCP at http://{_host_port(host, port)}{MCP_PATH}", file=sys.stderr, flush=True)


def run_http(server: MCPServer[Any], settings: Settings, verifier: JwtVerifier | None = None) -> None:
    """Serve `server` over streamable HTTP until SIGINT/SIGTERM, then shut down gracefully.

    uvicorn re-raises the signal once it has shut down: SIGINT then surfaces here as
    `KeyboardInterrupt`, which is the normal end (no traceback); SIGTERM ends the
    process with the signal's default action, as a supervisor expects.
    """
    uv = make_uvicorn_server(build_http_app(server, settings, verifier=verifier), settings, on_started=_announce)
    try:
        uv.run()
    except KeyboardInterrupt:
        if not uv.should_exit:  # not uvicorn's graceful path: let it propagate
            raise
