"""The loopback listener that serves the confirmation page: up while it is needed, then gone.

It starts on first use, bound to ``127.0.0.1`` on a port the system picks, inside the
server's own task group (the lifespan's), and closes itself once no request it served
is pending and a grace period has passed, long enough for an open page to learn the
last decision. A new request after that starts a new listener, on a new port.

Why anyio and h11, not the uvicorn and Starlette the HTTP transport uses: the page
needs three fixed routes, one request per connection, no streaming and no
middleware, while uvicorn, run inside a stdio server, would take over its SIGINT and
SIGTERM handlers while it runs and log its address at INFO. anyio's TCP listener
runs in the server's own task group and h11 (uvicorn's and httpx's HTTP/1.1 parser)
reads and writes the messages, so no HTTP is parsed by hand here. Each connection
answers one request (``Connection: close``), with a bounded size and read time.

Nothing here logs the port, an address or a request's body.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

import anyio
import h11
from anyio.abc import SocketAttribute, SocketStream, TaskGroup

from snapshot_mcp.browser import GRACE_SECONDS
from snapshot_mcp.errors import StoreUnavailable

from .page import MAX_BODY, Incoming, Outgoing, refusal

logger = logging.getLogger("snapshot_mcp.browser")

READ_TIMEOUT = 10.0
"""Seconds a connection has to send its whole request."""
TICK_SECONDS = 1.0
"""How often the listener looks again whether what it served is still pending."""

Handler = Callable[[Incoming], Awaitable[Outgoing]]
StillPending = Callable[[str], Awaitable[bool]]


class TooLarge(Exception):
    """A request's body is longer than `MAX_BODY`."""


async def read_request(stream: SocketStream, connection: h11.Connection) -> Incoming | None:
    """One whole request from `stream`, or None when the peer closed first. Raises `TooLarge`."""
    request: h11.Request | None = None
    body = bytearray()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            try:
                connection.receive_data(await stream.receive(65536))
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                connection.receive_data(b"")
            continue
        if isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > MAX_BODY:
                raise TooLarge
        elif isinstance(event, h11.EndOfMessage) and request is not None:
            headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in request.headers}
            return Incoming(request.method.decode("latin-1"), request.target.decode("latin-1"), headers, bytes(body))
        elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
            return None


async def write_response(stream: SocketStream, connection: h11.Connection, outgoing: Outgoing) -> None:
    headers = [
        ("Content-Type", outgoing.content_type),
        ("Content-Length", str(len(outgoing.body))),
        ("Connection", "close"),
        *outgoing.headers,
    ]
    data = connection.send(h11.Response(status_code=outgoing.status, headers=headers)) or b""
    if outgoing.body:
        data += connection.send(h11.Data(data=outgoing.body)) or b""
    data += connection.send(h11.EndOfMessage()) or b""
    await stream.send(data)


async def serve_connection(stream: SocketStream, handler: Handler) -> None:
    """Read one request (within `READ_TIMEOUT`), answer it, close. Every refusal here is audited too."""
    connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_BODY * 2)
    async with stream:
        try:
            answer = await _answer(stream, connection, handler)
        except Exception as exc:  # a failure answers this request only; logged by type, never with its text
            logger.warning("the browser page could not answer (%s)", type(exc).__name__)
            answer = Outgoing(500, b'{"status":"unavailable"}')
        try:
            if answer is not None:
                await write_response(stream, connection, answer)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError, h11.LocalProtocolError):
            return  # the browser went away mid-answer


async def _answer(stream: SocketStream, connection: h11.Connection, handler: Handler) -> Outgoing | None:
    incoming = None
    try:
        with anyio.move_on_after(READ_TIMEOUT) as reading:
            incoming = await read_request(stream, connection)
    except TooLarge:
        return refusal(413, "too_large")
    except h11.RemoteProtocolError:
        return refusal(400, "bad_request")
    if reading.cancelled_caught:
        return refusal(408, "too_slow") if connection.their_state is not h11.IDLE else None
    return None if incoming is None else await handler(incoming)


class Listener:
    """Starts on first use, serves `handler`s made for its port, closes when nothing it served is pending.

    `still_pending(request_id)` says whether a request is still open (the store knows);
    `grace`, `tick` and `clock` are what tests shrink.
    """

    def __init__(
        self,
        handler_for: Callable[[int], Handler],
        still_pending: StillPending,
        *,
        grace: float = GRACE_SECONDS,
        tick: float = TICK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._handler_for = handler_for
        self._still_pending = still_pending
        self.grace = grace
        self.tick = tick
        self.clock = clock
        self.port: int | None = None
        self._served: dict[str, float] = {}
        self._wake = anyio.Event()
        self._starting = anyio.Lock()
        self.closed = anyio.Event()
        """Set each time a listener closes (tests wait on it)."""

    async def ensure(self, tasks: TaskGroup) -> int:
        """The port of the running listener, starting one in `tasks` if none runs."""
        async with self._starting:
            if self.port is not None:
                return self.port
            listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
            self.port = int(listener.extra(SocketAttribute.local_port))  # noqa: S610 - anyio, not Django
            self.closed = anyio.Event()
            tasks.start_soon(self._run, listener, self._handler_for(self.port))
            logger.debug("browser page listener started")
            return self.port

    def serve(self, request_id: str, expires_in: float) -> None:
        """Keep the listener up for this request until it is decided or expires (then the grace period)."""
        self._served[request_id] = self.clock() + max(0.0, expires_in)
        self.changed()

    def changed(self) -> None:
        """Something may have been decided: look again now rather than at the next tick."""
        self._wake.set()

    async def _run(self, listener: anyio.abc.Listener[SocketStream], handler: Handler) -> None:
        """Serve until idle, then close. A failure closes this listener only, never the server it runs in."""
        try:
            async with listener, anyio.create_task_group() as connections:
                connections.start_soon(listener.serve, lambda stream: serve_connection(stream, handler))
                await self._until_idle()
                self.port = None  # from here on, `ensure` starts a new listener
                connections.cancel_scope.cancel()
        except Exception as exc:
            logger.warning("the browser page listener stopped (%s)", type(exc).__name__)
        finally:
            self.port = None
            self.closed.set()
            logger.debug("browser page listener closed")

    async def _until_idle(self) -> None:
        idle_since: float | None = None
        while True:
            if await self._pending():
                idle_since = None
            elif idle_since is None:
                idle_since = self.clock()
            if idle_since is not None and self.clock() - idle_since >= self.grace:
                return
            self._wake = anyio.Event()
            with anyio.move_on_after(self.tick):
                await self._wake.wait()

    async def _pending(self) -> bool:
        """Whether any request this listener served is still open; decided and expired ones are forgotten."""
        now = self.clock()
        for request_id, expires in list(self._served.items()):
            try:
                done = now >= expires or not await self._still_pending(request_id)
            except StoreUnavailable:
                done = False  # cannot tell: keep serving until it expires
            if done:
                self._served.pop(request_id, None)
        return bool(self._served)
