"""The two ways in: an in-process httpx transport and a raw ASGI3 app (uvicorn runs it in `_serve`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol
from urllib.parse import parse_qsl

import httpx

from ._faults import Faults
from ._wire import Reply, SimRequest

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _Handles(Protocol):
    faults: Faults

    async def handle(self, req: SimRequest) -> Reply: ...


class Transport(httpx.AsyncBaseTransport):
    """In-process transport: ``Simulator.handle`` plus the connect/timeout/reset faults."""

    def __init__(self, sim: _Handles) -> None:
        self._sim = sim

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        faults = self._sim.faults
        kind = faults.draw(request.method)
        after = faults.transport_fault(request.method, kind)
        if after == "connect":
            raise httpx.ConnectError("simulated connection failure", request=request)
        sim_req = SimRequest(
            method=request.method,
            path=request.url.path,
            query=dict(request.url.params.items()),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.aread(),
            fault=kind,
        )
        status, headers, body = await self._sim.handle(sim_req)
        if after == "timeout":
            raise httpx.ReadTimeout("simulated read timeout (request was applied)", request=request)
        if after == "reset":
            raise httpx.ReadError("simulated connection reset by peer (request was applied)", request=request)
        return httpx.Response(status, headers=headers, content=body, request=request)


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _read_request(scope: Scope, receive: Receive) -> SimRequest | None:
    """The request of an ASGI ``http`` scope, or None when the client went away first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    headers: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        k, v = key.decode("latin-1").lower(), value.decode("latin-1")
        headers[k] = f"{headers[k]}, {v}" if k in headers else v
    query: dict[str, str] = {}
    for k, v in parse_qsl(scope.get("query_string", b"").decode("latin-1"), True):
        query.setdefault(k, v)  # first value wins, as with httpx's QueryParams
    return SimRequest(scope["method"], scope["path"], query, headers, b"".join(chunks))


def asgi_app(sim: _Handles) -> ASGIApp:
    """A raw ASGI3 app serving ``sim.handle`` (transport-level faults do not apply)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
        if scope["type"] != "http":
            return
        req = await _read_request(scope, receive)
        if req is None:
            return
        status, out_headers, body = await sim.handle(req)
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in out_headers.items()]
        raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    return app
