"""One simulated API on a loopback port, shared by several server instances, that keeps a log.

`RecordingApi` wraps a `Simulator`: it stamps every request with its arrival time (so a
test or a load run can count the requests in any one-second window, where the API
counts them) and can lose one create's answer after the API made it, or refuse one
DELETE before the API acted. `serve_api` serves it over HTTP from this process.
`most_in_any_window` counts what the API's rate limit counts.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import anyio
import uvicorn

from snapshot_mcp.simulator import Faults, SimRequest, Simulator
from snapshot_mcp.simulator._adapters import asgi_app
from snapshot_mcp.simulator._wire import Reply, error, html_502

CREATE_PATHS = ("/compute/v1/snapshots",)


@dataclass
class RecordingApi:
    """The simulator, every request with its arrival (`time.monotonic`), and two one-shot faults."""

    sim: Simulator
    log: list[tuple[float, SimRequest]] = field(default_factory=list)
    lose_creates: int = 0
    """So many of the next POST /snapshots are made, and their answers replaced by a proxy's 502 page."""
    lost: list[str] = field(default_factory=list)
    """The names of the creates whose answers were lost."""
    refuse_next_delete: bool = False
    """The next DELETE is answered 409 before the API acts."""
    faults: Faults = field(init=False)
    """The simulator's own fault injection, which still applies behind this wrapper."""

    def __post_init__(self) -> None:
        self.faults = self.sim.faults

    async def handle(self, req: SimRequest) -> Reply:
        self.log.append((time.monotonic(), req))
        if req.method == "DELETE" and self.refuse_next_delete:
            self.refuse_next_delete = False
            return error(409, "05001", "Snapshot is locked by another operation")
        reply = await self.sim.handle(req)
        if req.method == "POST" and req.path in CREATE_PATHS and self.lose_creates and reply[0] == 201:
            self.lose_creates -= 1
            self.lost.append(str(json.loads(req.body).get("name")))
            return html_502()
        return reply

    def sent(self, method: str, path_part: str = "") -> list[SimRequest]:
        """The requests with `method` whose path contains `path_part`."""
        return [req for _, req in self.log if req.method == method and path_part in req.path]

    def times(self) -> list[float]:
        return [at for at, _ in self.log]


def most_in_any_window(times: Iterable[float], window: float) -> int:
    """The most of `times` inside any half-open interval of `window` seconds (sliding over every time)."""
    ordered = sorted(times)
    best, start = 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= window - 1e-9:
            start += 1
        best = max(best, end - start + 1)
    return best


@asynccontextmanager
async def serve_api(api: RecordingApi) -> AsyncIterator[str]:
    """Serve `api` on a free loopback port; yield its endpoint (``http://127.0.0.1:<port>/compute/v1``).

    The API runs in a thread with its own event loop, so a busy caller (many MCP clients
    in this process) does not delay its time stamps: they are taken when a request
    arrives, as the API's own rate limit would see it. The socket is bound before the
    server starts, so a client may connect at once (the kernel queues it).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(asgi_app(api), log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, args=([sock],), name="simulated-api", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/compute/v1"
    finally:
        server.should_exit = True
        await anyio.to_thread.run_sync(thread.join)
        sock.close()
