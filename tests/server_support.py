"""Helpers shared by `test_tools.py` and `test_delete.py`: drive `build_server` in memory.

`connect(...)` opens an in-process `mcp.Client` to the real server (`build_server`)
whose API is a given simulator, in the given protocol mode:
`"auto"` speaks 2026-07-28 (elicitation through an input-required result and a
retry), `"legacy"` the 2025 handshake (`elicitation/create` mid-call). Passing an
`elicitation_callback` is what declares the elicitation capability.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from typing import Any

import anyio
import httpx
from mcp import Client
from mcp.client import ClientRequestContext, advertise
from mcp.client.session import ElicitationFnT
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, ErrorData, Implementation

from snapshot_mcp.client import RetryPolicy
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import SimRequest, Simulator

PREFIX = "/compute/v1/snapshots"
APPS = advertise("io.modelcontextprotocol/ui", {"mimeTypes": ["text/html;profile=mcp-app"]})
"""A client's declaration of MCP Apps support with the HTML view type (what Claude Desktop and VS Code send)."""
MODES = ("auto", "legacy")
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005, total_timeout=2.0)
"""The real retry logic with millisecond pauses (4 attempts), so fault tests take no time."""

SEED_ID = "ebc879bb-2363-4326-bf38-eca0be7b7921"
"""A seed snapshot: ubuntu-22.04-cuda-12.4, 64 GiB, NORD-NO-KRS-1, created."""
OTHER_SEED_ID = "9607c382-cdbd-42ad-b42e-38298191bb45"
"""Another seed snapshot: win-server-2022-base, 80 GiB, EUW-NL-AMS-1, created."""
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
READING_TOOLS = {"list_snapshots", "get_snapshot", "list_instances"}
WRITING_TOOLS = {
    "create_snapshot_from_url",
    "snapshot_instance",
    "copy_snapshot",
    "rename_snapshot",
    "delete_snapshot",
    "delete_snapshots",
}
MODEL_TOOLS = READING_TOOLS | WRITING_TOOLS
"""Every tool a model is offered by default (the card's app-only tools are not among them)."""


def fast(settings: Settings, **changes: Any) -> Settings:
    """`settings` without the 10 requests/s rate limit (tests make many requests)."""
    return settings.model_copy(update={"rate_limit": 100_000.0, **changes})


class _ActiveApi(httpx.AsyncBaseTransport):
    """Hands each request to the simulator of the connection that made it (see `connect`)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await _active_api.get().handle_async_request(request)


_active_api: ContextVar[httpx.AsyncBaseTransport] = ContextVar("active_api")
_servers: dict[tuple[Settings, RetryPolicy, Callable[[], float]], MCPServer[Any]] = {}


def server_for(
    settings: Settings, retry: RetryPolicy = FAST_RETRY, clock: Callable[[], float] = time.time
) -> MCPServer[Any]:
    """`build_server(settings)` over whichever simulator `connect` made active, built once per settings.

    Building costs ~40 ms (the SDK derives every tool's schemas); each connection enters the
    lifespan afresh, so nothing a call leaves behind (dedupe memory, confirmation tokens)
    carries over to the next connection.
    """
    key = (settings, retry, clock)
    if key not in _servers:
        http = httpx.AsyncClient(transport=_ActiveApi())
        _servers[key] = build_server(settings, http=http, retry=retry, poll_interval=0.001, clock=clock)
    return _servers[key]


@asynccontextmanager
async def connect(
    settings: Settings,
    sim: Simulator,
    *,
    mode: str = "auto",
    elicit: ElicitationFnT | None = None,
    retry: RetryPolicy = FAST_RETRY,
    clock: Callable[[], float] = time.time,
    apps: bool = False,
    name: str | None = None,
) -> AsyncIterator[Client]:
    """An in-memory MCP client of the server for `settings`, whose API is `sim`; `clock` drives its tokens.

    `apps` declares the MCP Apps extension (the confirmation card); `name` is the `clientInfo.name` sent.
    """
    server = server_for(fast(settings), retry, clock)
    reset = _active_api.set(sim.transport())
    info = Implementation(name=name, version="1") if name is not None else None
    try:
        async with Client(
            server, mode=mode, elicitation_callback=elicit, extensions=[APPS] if apps else None, client_info=info
        ) as client:
            yield client
    finally:
        _active_api.reset(reset)


def text_of(result: CallToolResult) -> str:
    """The text blocks of a result, joined."""
    return "\n".join(block.text for block in result.content if block.type == "text")


def everything_in(result: CallToolResult) -> str:
    """All a client sees of a result: text and structured content."""
    return text_of(result) + "\n" + json.dumps(result.structured_content)


def sent(sim: Simulator, method: str) -> list[SimRequest]:
    """The requests with `method` that reached the simulated API."""
    return [request for request in sim.requests if request.method == method]


class Asker:
    """An elicitation callback: records each question and gives a fixed answer."""

    def __init__(self, answer: ElicitResult | ErrorData | None = None, *, block: anyio.Event | None = None) -> None:
        self.answer = answer if answer is not None else accept(confirm=True)
        self.block = block
        self.asked: list[ElicitRequestParams] = []

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
        self.asked.append(params)
        if self.block is not None:
            await self.block.wait()
        return self.answer


def accept(**content: Any) -> ElicitResult:
    return ElicitResult(action="accept", content=content)


class AuditLines(logging.Handler):
    """Collects the lines of the `snapshot_mcp.audit` logger (which does not propagate)."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def audit_lines() -> Iterator[AuditLines]:
    """Attach an `AuditLines` handler for the duration of the block."""
    logger = logging.getLogger("snapshot_mcp.audit")
    handler = AuditLines()
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
