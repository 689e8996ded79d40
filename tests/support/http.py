"""The server over streamable HTTP in this process, on a real loopback socket, and the official client of it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from snapshot_mcp.http import build_http_app, make_uvicorn_server
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, Simulator


def sim_settings(**overrides: Any) -> Settings:
    """Settings for a server on 127.0.0.1, any free port, against a simulator."""
    values: dict[str, Any] = {"token": SecretStr(DEFAULT_TOKEN), "port": 0, **overrides}
    return Settings(**values)


@asynccontextmanager
async def serving(
    settings: Settings,
    sim: Simulator | None = None,
    *,
    bind: Settings | None = None,
    clock: Callable[[], float] = time.time,
    **limits: Any,
) -> AsyncIterator[str]:
    """Serve `build_server(settings)` over HTTP; yield the base URL (no trailing slash).

    `sim` given: the server talks to it (so tests see every API request); otherwise it
    runs with `simulate=True` and its own embedded simulator. `bind` overrides where
    uvicorn listens (always loopback here) while `settings` shapes the app.
    """
    if sim is None:
        server = build_server(settings.model_copy(update={"simulate": True, "token": None}))
        http: httpx.AsyncClient | None = None
    else:
        http = httpx.AsyncClient(transport=sim.transport())
        server = build_server(settings, http=http, clock=clock)
    app = build_http_app(server, settings, **limits)
    bound: list[tuple[str, int]] = []
    ready = anyio.Event()

    def started(addresses: list[tuple[str, int]]) -> None:
        bound.extend(addresses)
        ready.set()

    uv = make_uvicorn_server(app, bind or settings, on_started=started)
    stopped = anyio.Event()

    async def serve() -> None:
        try:
            await uv.serve()
        finally:
            ready.set()  # a failed start must not leave the test waiting
            stopped.set()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve)
            await ready.wait()
            assert bound, "the HTTP server did not start"
            try:
                yield f"http://127.0.0.1:{bound[0][1]}"
            finally:
                # A clean shutdown (lifespan included) even when the test failed.
                uv.should_exit = True
                with anyio.move_on_after(10, shield=True):
                    await stopped.wait()
    finally:
        if http is not None:
            await http.aclose()


@asynccontextmanager
async def token_client(url: str, token: str, **kwargs: Any) -> AsyncIterator[Client]:
    """The official client, sending `Authorization: Bearer <token>` on every request."""
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=httpx2.Timeout(30, read=60)) as h,
        Client(streamable_http_client(url, http_client=h), **kwargs) as client,
    ):
        yield client
