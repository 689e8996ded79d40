"""What the tests share: fake clocks, the seed's ids, and in-memory servers driven through the protocol.

`connect(...)` opens an in-process `mcp.Client` to the real server (`build_server`)
whose API is a given simulator, in the given protocol mode:
`"auto"` speaks 2026-07-28 (elicitation through an input-required result and a
retry), `"legacy"` the 2025 handshake (`elicitation/create` mid-call). Passing an
`elicitation_callback` is what declares the elicitation capability.
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import json
import logging
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
import httpx
import pytest
from anyio.abc import SocketAttribute, SocketStream, TaskGroup
from mcp import Client
from mcp.client import ClientRequestContext, advertise
from mcp.client.session import ElicitationFnT
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, ErrorData, Implementation
from pydantic import SecretStr

from snapshot_mcp.browser.opener import NO_DESKTOP, Desktop, Launcher
from snapshot_mcp.browser.page import DeskAnswer
from snapshot_mcp.client import GenesisCloudClient
from snapshot_mcp.sending import RetryPolicy
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, KNOWN_REGIONS, SimRequest, Simulator
from snapshot_mcp.store import MemoryStore, Store, StoreUnavailable
from snapshot_mcp.tools import DECLARATIONS
from stress.api import most_in_any_window as most_in_any_window  # counted as the API counts, as in stress/

ROOT = Path(__file__).resolve().parents[2]
"""The repository's root."""
PINS = ROOT / "tests" / "snapshots"
"""Where the pinned outputs live (refresh one with UPDATE_SNAPSHOTS=1)."""
PREFIX = "/compute/v1/snapshots"
APPS = advertise("io.modelcontextprotocol/ui", {"mimeTypes": ["text/html;profile=mcp-app"]})
"""A client's declaration of MCP Apps support with the HTML view type (what Claude Desktop and VS Code send)."""
MODES = ("auto", "legacy")
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.005, total_timeout=2.0)
"""The real retry logic with millisecond pauses (4 attempts), so fault tests take no time."""


# -- the simulator's seed, by name: no test writes one of its ids by hand (tests/test_structure.py) --

SEED_ID = "ebc879bb-2363-4326-bf38-eca0be7b7921"
"""A seed snapshot: ubuntu-22.04-cuda-12.4, 64 GiB, NORD-NO-KRS-1, created."""
OTHER_SEED_ID = "9607c382-cdbd-42ad-b42e-38298191bb45"
"""Another seed snapshot: win-server-2022-base, 80 GiB, EUW-NL-AMS-1, created."""
THIRD_SEED_ID = "f8b41b73-3e62-42ab-8c3d-1c419e4c85df"
"""A third seed snapshot: jupyter-research-env, 40 GiB, NA-CA-FTS-1, created, from the instance jupyter-lab."""
CREATING_SEED_ID = "187c7755-36f9-4e16-92f0-41acedfc3cfb"
"""The seed's snapshot still being made: ubuntu-24.04-cuda-12.6, 64 GiB, NORD-NO-KRS-1, creating."""
ERROR_SEED_ID = "09c01ea7-a09b-42a1-a2ec-12e0022fff8c"
"""The seed's failed import: win-server-2022-cuda, 120 GiB, EUC-DE-MUC-1, error."""
PENDING_DELETE_SEED_ID = "3d22a6ab-324c-4da8-ad61-383bedf8deb9"
"""The seed's snapshot being deleted: nightly-backup-2026-10-30, 200 GiB, EUW-NL-AMS-1, pending_delete."""
LLAMA_SEED_ID = "3f2ac9b3-dd02-4487-b890-1a86378cb101"
"""Seed snapshot llama-3-70b-serving: 256 GiB, NORD-NO-KRS-1, created, from the instance gpu-worker-1."""
LEGACY_ID = "8fdc4100-0a26-4948-8e7f-53df5b440339"
"""The seed's one legacy snapshot: status `active`, in the dropped region ARC-IS-HAF-1."""
SEED_IDS = {
    LEGACY_ID,
    SEED_ID,
    OTHER_SEED_ID,
    THIRD_SEED_ID,
    "2e49aa33-1927-428a-9f33-a29ef0149069",
    "6efe4b2d-d265-47ce-ab96-80bc40f17639",
    "a52b3f26-7a60-4c50-9f21-fba2e5ab02ce",
    "de988491-9bf9-4bf5-a737-e4caacfd83ae",
    ERROR_SEED_ID,
    LLAMA_SEED_ID,
    PENDING_DELETE_SEED_ID,
    CREATING_SEED_ID,
}
"""The seed's twelve snapshots."""
GPU_WORKER_1 = "0c73d690-b461-423f-9f78-7f1290151773"
"""Seed instance gpu-worker-1: active, NORD-NO-KRS-1, 256 GiB, source of llama-3-70b-serving."""
GPU_WORKER_2 = "3be1e2de-dca6-4781-8e10-11f7d41275e4"
"""Seed instance gpu-worker-2: creating, NORD-NO-KRS-1."""
TRAINING_BOX = "881a1b54-dfc5-42eb-9efa-16e1b30e5106"
"""Seed instance training-box: stopped, NORD-NO-KRS-1, 512 GiB, source of llm-finetune-2026-03."""
SDXL_WORKER = "1975d15c-0c98-4ea6-b06d-7cf4d997a8a7"
"""Seed instance sdxl-worker: stopping, EUW-GB-MNC-1."""
JUPYTER_LAB = "97cfb5bd-ec4a-4a07-9170-2326dcd73298"
"""Seed instance jupyter-lab: active, NA-CA-FTS-1, source of jupyter-research-env."""
SEED_INSTANCE_IDS = {
    JUPYTER_LAB,
    SDXL_WORKER,
    TRAINING_BOX,
    GPU_WORKER_1,
    "0bfa28c9-6019-4c56-9d75-382477cf3643",
    "cde7603b-97bb-457f-88a4-7dadd97358b8",
    GPU_WORKER_2,
}
"""The seed's seven instances."""
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
"""A well-formed id that names nothing."""
GOOD_BODY: dict[str, Any] = {
    "name": "my-image",
    "size": 20,
    "url": "https://example.com/image.raw.zst",
    "region": "NORD-NO-KRS-1",
}
"""A create_snapshot_from_url body the API accepts: the arguments of the tool and the JSON of the POST alike."""
READING_TOOLS = {declared.name for declared in DECLARATIONS if not declared.writes}
WRITING_TOOLS = {declared.name for declared in DECLARATIONS if declared.writes}
MODEL_TOOLS = READING_TOOLS | WRITING_TOOLS
"""Every tool a model is offered by default, as declared (the card's app-only tools are not among them)."""


def fast(settings: Settings, **changes: Any) -> Settings:
    """`settings` without the 10 requests/s rate limit (tests make many requests)."""
    return settings.model_copy(update={"rate_limit": 100_000.0, **changes})


class _ActiveApi(httpx.AsyncBaseTransport):
    """Hands each request to the simulator of the connection that made it (see `connect`)."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await _active_api.get().handle_async_request(request)


_active_api: ContextVar[httpx.AsyncBaseTransport] = ContextVar("active_api")
_active_clock: ContextVar[Callable[[], float]] = ContextVar("active_clock", default=time.time)
_active_store: ContextVar[Store] = ContextVar("active_store")
_servers: dict[tuple[Settings, RetryPolicy, bool], MCPServer[Any]] = {}
_active_person: ContextVar[Person] = ContextVar("active_person")
PAGE_GRACE = 0.2
"""How long an in-memory server's browser page listener outlives its last request."""


def _clock() -> float:
    """The wall clock of the connection asking (see `connect`)."""
    return _active_clock.get()()


class _ActiveStore:
    """The store of the connection asking (see `connect`): each connection brings its own."""

    async def get(self, key: str) -> str | None:
        return await _active_store.get().get(key)

    async def put(self, key: str, value: str, ttl: float) -> None:
        await _active_store.get().put(key, value, ttl)

    async def put_once(self, key: str, value: str, ttl: float) -> bool:
        return await _active_store.get().put_once(key, value, ttl)

    async def swap(self, key: str, expected: str, value: str, ttl: float) -> bool:
        return await _active_store.get().swap(key, expected, value, ttl)

    async def incr(self, key: str, ttl: float) -> int:
        return await _active_store.get().incr(key, ttl)

    async def delete(self, key: str) -> None:
        await _active_store.get().delete(key)

    async def delete_if(self, key: str, expected: str) -> bool:
        return await _active_store.get().delete_if(key, expected)

    async def aclose(self) -> None:
        return None


def policy(settings: Settings, name: str, **changes: Any) -> Settings:
    """`settings` (made fast) with the 2025-era delete policy `name` ("elicit", "token", "none")."""
    return fast(settings, delete_confirmation=name, **changes)


def server_for(settings: Settings, retry: RetryPolicy = FAST_RETRY, *, browser: bool = False) -> MCPServer[Any]:
    """`build_server(settings)` over whichever simulator, clock, store and person `connect` made active, built once.

    Building costs ~60 ms (the SDK derives every tool's schemas), so it happens once per
    settings, retry policy and desktop; the API, the wall clock, the store and the person
    at the browser are the connection's own, so nothing a call leaves behind (dedupe
    memory, confirmation tokens) carries over to the next connection. `browser`: the
    server can open a browser, and that browser is the connection's `Person`.
    """
    key = (settings, retry, browser)
    if key not in _servers:
        http = httpx.AsyncClient(transport=_ActiveApi())
        _servers[key] = build_server(
            settings,
            http=http,
            retry=retry,
            poll_interval=0.001,
            clock=_clock,
            store=_ActiveStore(),
            desktop=HandOff() if browser else NO_DESKTOP,
            page_grace=PAGE_GRACE,
        )
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
    store: Store | None = None,
    person: Person | None = None,
) -> AsyncIterator[Client]:
    """An in-memory MCP client of the server for `settings`, whose API is `sim`; `clock` drives its tokens.

    `apps` declares the MCP Apps extension (the confirmation card); `name` is the `clientInfo.name` sent;
    `store` replaces the server's own (a `FlakyStore`, to take it down); `person` is who sits at the
    browser the server opens (without one, the server cannot open a browser).
    """
    server = server_for(fast(settings), retry, browser=person is not None)
    reset = _active_api.set(sim.transport())
    reset_clock = _active_clock.set(clock)
    reset_store = _active_store.set(store if store is not None else MemoryStore())
    reset_person = _active_person.set(person if person is not None else Person())
    info = Implementation(name=name, version="1") if name is not None else None
    try:
        async with Client(
            server, mode=mode, elicitation_callback=elicit, extensions=[APPS] if apps else None, client_info=info
        ) as client:
            yield client
    finally:
        _active_person.reset(reset_person)
        _active_store.reset(reset_store)
        _active_clock.reset(reset_clock)
        _active_api.reset(reset)


class Person:
    """The person at the browser the server opens, in tests: given each address, answering as the page's script does.

    The server "opens" an address by handing it here (from a worker thread, as it starts
    a real browser); `address()` waits for the next one. `look` and `click` send what the
    page sends: a POST from the page's own origin with the request id and the secret
    from the address's fragment.
    """

    def __init__(self) -> None:
        self.opened: list[str] = []
        self._taken = 0
        self._arrived = anyio.Event()

    def hand_off(self, address: str) -> None:
        """Called in the worker thread that "starts the browser"."""
        anyio.from_thread.run_sync(self._arrive, address)

    def _arrive(self, address: str) -> None:
        self.opened.append(address)
        self._arrived.set()

    async def address(self) -> str:
        """The next address the server opened (waits for it)."""
        with anyio.fail_after(10):
            while len(self.opened) <= self._taken:
                self._arrived = anyio.Event()
                await self._arrived.wait()
        self._taken += 1
        return self.opened[self._taken - 1]

    async def post(self, address: str, path: str, body: dict[str, Any] | None = None, **headers: str) -> httpx.Response:
        """A POST to the page's listener, as the page sends it (`body` replaces id and secret when given)."""
        page = Page.of(address)
        sent_body = body if body is not None else {"request_id": page.request_id, "secret": page.secret}
        given = {"Origin": page.origin, **headers}
        async with loopback_client(page.origin) as http:
            return await http.post(path, json=sent_body, headers=given)

    async def look(self, address: str) -> dict[str, Any]:
        answer: dict[str, Any] = (await self.post(address, "/state")).json()
        return answer

    async def click(self, address: str, decision: str) -> httpx.Response:
        return await decide_on_page(address, decision)


@dataclass(frozen=True)
class Page:
    """An address the server opened, taken apart: where the listener is, and what the fragment carries."""

    origin: str
    port: int
    request_id: str
    secret: str

    @classmethod
    def of(cls, address: str) -> Page:
        found = re.fullmatch(r"(http://127\.0\.0\.1:(\d+))/#([0-9a-f]{24})\.([A-Za-z0-9_-]+)", address)
        assert found is not None, "the page's address is http://127.0.0.1:<port>/#<request id>.<secret>"
        return cls(found[1], int(found[2]), found[3], found[4])


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default context, made once: each new one reads the CA bundle again (~20 ms), for plain http here."""
    return httpx.create_ssl_context()


def loopback_client(origin: str) -> httpx.AsyncClient:
    """An httpx client of a listener on loopback (plain http, as the page speaks to its listener)."""
    return httpx.AsyncClient(base_url=origin, verify=_tls())


async def decide_on_page(address: str, decision: str, secret: str | None = None) -> httpx.Response:
    """POST the person's decision to the page's listener as the page does (`secret`: another one instead)."""
    page = Page.of(address)
    body = {"request_id": page.request_id, "secret": page.secret if secret is None else secret, "decision": decision}
    async with loopback_client(page.origin) as http:
        return await http.post("/decide", json=body, headers={"Origin": page.origin})


MARKER = "browser-script-stdout"
_OPENER = """#!{python}
import socket, sys
print("{marker}", sys.argv[1], flush=True)
with socket.create_connection(("127.0.0.1", {port})) as hand:
    hand.sendall(sys.argv[1].encode())
"""


class BrowserScript:
    """A `BROWSER` command for a server subprocess: it hands each address to this test over a loopback socket,
    and prints it (with `MARKER`) to its own stdout, which must never be the server's."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "open-browser"
        self.received: list[str] = []
        self._taken = 0
        self._arrived = anyio.Event()

    @property
    def command(self) -> str:
        """The value for `BROWSER`."""
        return f"{self.path} %s"

    async def listen(self, tasks: TaskGroup) -> None:
        """Accept the script's hand-offs in `tasks`, and write the script."""
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        port = int(listener.extra(SocketAttribute.local_port))  # noqa: S610 - anyio, not Django
        self.path.write_text(_OPENER.format(python=sys.executable, marker=MARKER, port=port))
        self.path.chmod(0o755)

        async def serve() -> None:
            async with listener:
                await listener.serve(self._receive)

        tasks.start_soon(serve)

    async def _receive(self, stream: SocketStream) -> None:
        data = b""
        async with stream:
            with contextlib.suppress(anyio.EndOfStream):
                while True:
                    data += await stream.receive()
        self.received.append(data.decode())
        self._arrived.set()

    async def address(self) -> str:
        """The next address the server opened (waits for it)."""
        with anyio.fail_after(30):
            while len(self.received) <= self._taken:
                self._arrived = anyio.Event()
                await self._arrived.wait()
        self._taken += 1
        return self.received[self._taken - 1]


def _hand_off(address: str) -> None:
    _active_person.get().hand_off(address)


@dataclass(frozen=True)
class HandOff(Desktop):
    """A desktop whose browser is the connection's `Person` (see `connect`)."""

    def launcher(self) -> Launcher:
        return Launcher(call=_hand_off)


class FlakyStore(MemoryStore):
    """The in-memory store, which a test can take down: then every operation raises `StoreUnavailable`, as Redis's."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.down_for = 0
        """Operations still to fail before it answers again (a pause), while `down` is false."""

    def _reach(self) -> None:
        if self.down_for > 0:
            self.down_for -= 1
            raise StoreUnavailable("The shared state store (test) cannot be reached")
        if self.down:
            raise StoreUnavailable("The shared state store (test) cannot be reached")

    async def get(self, key: str) -> str | None:
        self._reach()
        return await super().get(key)

    async def put(self, key: str, value: str, ttl: float) -> None:
        self._reach()
        await super().put(key, value, ttl)

    async def put_once(self, key: str, value: str, ttl: float) -> bool:
        self._reach()
        return await super().put_once(key, value, ttl)

    async def swap(self, key: str, expected: str, value: str, ttl: float) -> bool:
        self._reach()
        return await super().swap(key, expected, value, ttl)

    async def incr(self, key: str, ttl: float) -> int:
        self._reach()
        return await super().incr(key, ttl)

    async def delete(self, key: str) -> None:
        self._reach()
        await super().delete(key)

    async def delete_if(self, key: str, expected: str) -> bool:
        self._reach()
        return await super().delete_if(key, expected)


class AfterClaim:
    """A store that runs `then()` once a Delete click has claimed a deletion request in it (the store "pauses" there).

    Everything else goes to `store` unchanged; `then` takes the store down, or stops a Redis server.
    """

    def __init__(self, store: Store, then: Callable[[], None]) -> None:
        self.store = store
        self.then = then
        self.tripped = False

    async def get(self, key: str) -> str | None:
        return await self.store.get(key)

    async def put(self, key: str, value: str, ttl: float) -> None:
        await self.store.put(key, value, ttl)

    async def put_once(self, key: str, value: str, ttl: float) -> bool:
        return await self.store.put_once(key, value, ttl)

    async def swap(self, key: str, expected: str, value: str, ttl: float) -> bool:
        swapped = await self.store.swap(key, expected, value, ttl)
        if swapped and not self.tripped and '"status":"deleting"' in value:
            self.tripped = True
            self.then()
        return swapped

    async def incr(self, key: str, ttl: float) -> int:
        return await self.store.incr(key, ttl)

    async def delete(self, key: str) -> None:
        await self.store.delete(key)

    async def delete_if(self, key: str, expected: str) -> bool:
        return await self.store.delete_if(key, expected)

    async def aclose(self) -> None:
        await self.store.aclose()


def text_of(result: CallToolResult) -> str:
    """The text blocks of a result, joined."""
    return "\n".join(block.text for block in result.content if block.type == "text")


def everything_in(result: CallToolResult) -> str:
    """All a client sees of a result: text and structured content."""
    return text_of(result) + "\n" + json.dumps(result.structured_content)


def sent(sim: Simulator, method: str) -> list[SimRequest]:
    """The requests with `method` that reached the simulated API."""
    return [request for request in sim.requests if request.method == method]


def structured(result: CallToolResult) -> dict[str, Any]:
    """A result's `structuredContent`; fails with the result's text where it has none."""
    content: dict[str, Any] | None = result.structured_content
    assert content is not None, text_of(result)
    return content


def delete_paths(sim: Simulator) -> list[str]:
    """The paths of the DELETE requests that reached the API, in order."""
    return [request.path for request in sent(sim, "DELETE")]


def deleted_ids(sim: Simulator) -> list[str]:
    """The snapshot ids the API was sent a DELETE for, in order."""
    return [path.rsplit("/", 1)[1] for path in delete_paths(sim)]


CONFIRMATION_META = "snapshot-mcp/confirmation"
"""The `_meta` key of a card's pending request, as a host reads it (pinned here, not imported)."""


def confirmation(result: CallToolResult) -> dict[str, str]:
    """The card's pending request in a result's `_meta` (request id, nonce, expiry)."""
    assert result.meta is not None
    assert CONFIRMATION_META in result.meta, result.meta
    value: dict[str, str] = result.meta[CONFIRMATION_META]
    return value


async def card(client: Client, snapshot_id: str = SEED_ID) -> tuple[CallToolResult, dict[str, str]]:
    """`delete_snapshot` that opens a card: its result and the pending request."""
    result = await client.call_tool("delete_snapshot", {"snapshot_id": snapshot_id})
    return result, confirmation(result)


async def decide(client: Client, meta: dict[str, str], decision: str = "delete", **extra: Any) -> CallToolResult:
    """The card's click: `confirm_deletion` with the request's id and nonce."""
    args = {"request_id": meta["request_id"], "nonce": meta["nonce"], "decision": decision, **extra}
    return await client.call_tool("confirm_deletion", args)


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


CHANGED_WHILE_ASKED = {"name": "production-db-DO-NOT-DELETE", "size": 4096}
"""What happens to a snapshot while a person looks at the question about it (renamed and grown)."""


class ChangesWhileAsked(Asker):
    """An `Asker` in whose time to answer the snapshots it names change on the API (`CHANGED_WHILE_ASKED`)."""

    def __init__(self, sim: Simulator, *snapshot_ids: str) -> None:
        super().__init__(accept(confirm=True))
        self.sim = sim
        self.snapshot_ids = snapshot_ids

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
        for snapshot_id in self.snapshot_ids:
            self.sim.snapshots[snapshot_id].update(CHANGED_WHILE_ASKED)
        return await super().__call__(context, params)


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


class VirtualClock:
    """Virtual time: `sleep` records the delay, and sleepers wake in order of their deadline.

    Call it for the time (`now`); move `now` by hand, or let `sleep` move it.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.start = start
        self.now = start
        self.sleeps: list[float] = []
        self._sleepers: list[tuple[float, int]] = []
        self._seq = 0

    def __call__(self) -> float:
        return self.now

    @property
    def elapsed(self) -> float:
        return self.now - self.start

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        entry = (self.now + max(0.0, seconds), self._seq)
        self._seq += 1
        heapq.heappush(self._sleepers, entry)
        try:
            await anyio.lowlevel.checkpoint()
            while self._sleepers[0] != entry:
                await anyio.lowlevel.checkpoint()
        finally:
            self._sleepers.remove(entry)
            heapq.heapify(self._sleepers)
        self.now = max(self.now, entry[0])


class WallClock:
    """The real wall clock plus an offset a test moves (confirmation tokens and card requests expire by it)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


# -- a real Redis, for the shared state (tests/test_store*.py, tests/campaigns/test_shared_state.py) ------


def _drain_quietly(stream: Any) -> None:
    """Read a child's output until it ends (or the pipe is closed under us), so it never blocks on a full pipe."""
    with contextlib.suppress(ValueError, OSError):
        for _ in stream:
            pass


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class RedisServer:
    """Debian's `redis-server` on a free loopback port, with a temporary directory and nothing saved.

    `start()` returns once the server logged that it accepts connections; `stop()` ends it
    (and may be called again after `start()`, to test an outage and a return).
    """

    def __init__(self, directory: Path, *, password: str | None = None, persist: bool = False) -> None:
        self.directory = directory
        self.password = password
        self.persist = persist
        """Write every change to an append-only file, so a stop and a start keep the data (an outage, not a loss)."""
        self.port = 0
        self.process: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: apt-get install -y redis-server (.ci/run does)")
        chosen = self.port
        seen: list[str] | None = []
        for _ in range(3):  # a free port found by probing may be taken by another worker before redis binds it
            self.port = chosen or _free_port()
            seen = self._launch(binary)
            if seen is None:
                return
            if chosen or not any("Address already in use" in line for line in seen):
                break
        pytest.fail("redis-server did not start:\n" + "".join(seen or []))

    def _launch(self, binary: str) -> list[str] | None:
        """Start it on `self.port`: None once it accepts connections, else what it said before it died."""
        durable = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else ["--appendonly", "no"]
        args = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *durable]
        args += ["--requirepass", self.password] if self.password else []
        self.process = subprocess.Popen(
            [binary, *args, "--dir", str(self.directory)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert self.process.stdout is not None
        seen = []
        for line in self.process.stdout:  # ends (EOF) if the server dies before it is ready
            seen.append(line)
            if "Ready to accept connections" in line:
                threading.Thread(target=_drain_quietly, args=(self.process.stdout,), daemon=True).start()
                return None
        self.process.wait(timeout=30)
        self.process.stdout.close()
        self.process = None
        return seen

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)
            if self.process.stdout is not None:
                self.process.stdout.close()
            self.process = None

    def flush(self) -> None:
        import redis

        with redis.Redis.from_url(self.url, password=self.password) as client:
            client.flushall()


# -- the simulator, spoken to directly (tests/test_simulator*.py) -------------------------------

BASE = "https://api.genesiscloud.com/compute/v1"
AUTH = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
SNAPSHOT_KEYS = {"id", "name", "size", "region", "status", "os_type", "created_at", "updated_at"}
"""The keys every snapshot carries (the API's required fields since 2025-02)."""
SOURCE_KEYS = {"source_instance_id", "source_snapshot_id"}
"""Optional keys: present only when they apply, never null."""
CURRENT_STATUSES = {"creating", "created", "pending_delete", "deleting", "error"}


@asynccontextmanager
async def client(sim: Simulator, headers: dict[str, str] | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client wired to the simulator's in-process transport."""
    hdrs = AUTH if headers is None else headers
    async with httpx.AsyncClient(transport=sim.transport(), base_url=BASE, headers=hdrs) as c:
        yield c


def assert_error(resp: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Check a documented error body and return it."""
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == "application/json"
    body: dict[str, Any] = resp.json()
    assert set(body) == {"code", "message"}
    assert isinstance(body["code"], str)
    assert body["code"]
    assert isinstance(body["message"], str)
    assert body["message"]
    if code is not None:
        assert body["code"] == code
    return body


def page_of(resp: httpx.Response, key: str, *, total: int, page: int = 1, per_page: int = 50) -> list[Any]:
    """The items of a 200 list page, after checking its keys, counts and created_at/id order."""
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "application/json"
    body = resp.json()
    assert set(body) == {key, "total_count", "page", "per_page"}
    assert (body["total_count"], body["page"], body["per_page"]) == (total, page, per_page)
    items: list[Any] = body[key]
    order = [(item["created_at"], item["id"]) for item in items]
    assert order == sorted(order)
    return items


def assert_current_shape(snap: dict[str, Any]) -> None:
    """One snapshot in today's shape: the eight required keys typed, sources only when set."""
    assert SNAPSHOT_KEYS <= set(snap) <= SNAPSHOT_KEYS | SOURCE_KEYS, sorted(snap)
    assert "resource_id" not in snap
    assert isinstance(snap["id"], str)
    assert str(uuid.UUID(snap["id"])) == snap["id"]
    assert isinstance(snap["name"], str)
    assert snap["name"]
    assert type(snap["size"]) is int
    assert snap["size"] >= 1
    assert isinstance(snap["region"], str)
    assert snap["status"] in CURRENT_STATUSES or (snap["id"] == LEGACY_ID and snap["status"] == "active")
    assert snap["os_type"] in ("linux", "windows")
    assert ISO_MS.fullmatch(snap["created_at"])
    assert ISO_MS.fullmatch(snap["updated_at"])
    for key in SOURCE_KEYS & set(snap):
        assert isinstance(snap[key], str)
        assert str(uuid.UUID(snap[key])) == snap[key]


async def create(c: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    """Create a snapshot and return its JSON."""
    resp = await c.post("/snapshots", json={**GOOD_BODY, **overrides})
    assert resp.status_code == 201, resp.text
    snap: dict[str, Any] = resp.json()["snapshot"]
    return snap


async def status_of(c: httpx.AsyncClient, sid: str) -> str | int:
    """The status a GET shows, or the HTTP status when it is not 200."""
    resp = await c.get(f"/snapshots/{sid}")
    if resp.status_code != 200:
        return resp.status_code
    status: str = resp.json()["snapshot"]["status"]
    return status


REQUEST_ID = "0123456789abcdef01234567"


SECRET = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t"


class Desk:
    """A confirmation core that records what reached it."""

    def __init__(self) -> None:
        self.looks: list[tuple[str, str]] = []
        self.decisions: list[tuple[str, str, str]] = []

    async def look(self, request_id: str, secret: str) -> DeskAnswer:
        self.looks.append((request_id, secret))
        return DeskAnswer(200, {"status": "pending"})

    async def decide(self, request_id: str, secret: str, decision: str) -> DeskAnswer:
        self.decisions.append((request_id, secret, decision))
        return DeskAnswer(200, {"outcome": decision})


class Recorder(httpx.AsyncBaseTransport):
    """Wraps a transport: records every attempt (even those that never reach the API),
    the virtual time it started and how many were in flight at once."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: VirtualClock, latency: float = 0.0) -> None:
        self.inner = inner
        self.clock = clock
        self.latency = latency
        self.attempts: list[tuple[str, str]] = []
        self.started: list[float] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.attempts.append((request.method, request.url.path))
        self.started.append(self.clock.now)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await self.clock.sleep(self.latency)
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1


def make_client(
    http: httpx.AsyncClient, clock: VirtualClock, *, token: str | None = DEFAULT_TOKEN, **kwargs: Any
) -> GenesisCloudClient:
    """A client on virtual time; rng=1.0 makes the backoff its ceiling: 0.5, 1, 2, 4 …"""
    kwargs.setdefault("rng", lambda: 1.0)
    return GenesisCloudClient(
        http,
        token=None if token is None else SecretStr(token),
        clock=clock,
        sleep=clock.sleep,
        **kwargs,
    )


@asynccontextmanager
async def connected(
    sim: Simulator, clock: VirtualClock, *, latency: float = 0.0, **kwargs: Any
) -> AsyncIterator[tuple[GenesisCloudClient, Recorder]]:
    """A client wired to `sim` through a `Recorder`."""
    recorder = Recorder(sim.transport(), clock, latency)
    async with httpx.AsyncClient(transport=recorder) as http:
        yield make_client(http, clock, **kwargs), recorder


@asynccontextmanager
async def mocked(
    handler: Callable[[httpx.Request], httpx.Response], clock: VirtualClock, **kwargs: Any
) -> AsyncIterator[GenesisCloudClient]:
    """A client whose API is an `httpx.MockTransport`."""
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        yield make_client(http, clock, **kwargs)


def methods(sim: Simulator) -> list[str]:
    return [r.method for r in sim.requests]


SEED_PATH = f"{PREFIX}/{SEED_ID}"


def one_audit_line(audit: AuditLines, outcome: str, snapshot_id: str = SEED_ID) -> str:
    """Exactly one audit line was written, for `snapshot_id` with `outcome`."""
    [line] = audit.lines
    assert line.startswith("audit tool=delete_snapshot ")
    assert f'snapshot_id="{snapshot_id}"' in line
    assert f" outcome={outcome}" in line
    return line


INSTANCE_KEYS = {
    "id",
    "name",
    "hostname",
    "region",
    "status",
    "type",
    "os_type",
    "image",
    "public_ip",
    "private_ip",
    "disk_size",
    "created_at",
    "updated_at",
    "ssh_keys",
    "volumes",
    "security_groups",
}


INSTANCE_STATUSES = {
    "creating",
    "active",
    "stopping",
    "stopped",
    "starting",
    "resetting",
    "deleting",
    "error",
    "pending_payment",
}


def assert_ref(value: Any) -> None:
    """An ``{id, name}`` reference: a canonical UUID and a non-empty name."""
    assert set(value) == {"id", "name"}
    assert str(uuid.UUID(value["id"])) == value["id"]
    assert isinstance(value["name"], str)
    assert value["name"]


def assert_instance_shape(inst: dict[str, Any]) -> None:
    """One instance with exactly the reference's fields, each of its type."""
    assert set(inst) == INSTANCE_KEYS
    assert str(uuid.UUID(inst["id"])) == inst["id"]
    for key in ("name", "hostname", "type"):
        assert isinstance(inst[key], str)
        assert inst[key]
    assert inst["region"] in KNOWN_REGIONS
    assert inst["status"] in INSTANCE_STATUSES
    assert inst["os_type"] in ("linux", "windows")
    assert_ref(inst["image"])
    for key in ("public_ip", "private_ip"):
        assert inst[key] is None or isinstance(inst[key], str)
    assert type(inst["disk_size"]) is int
    assert inst["disk_size"] >= 1
    assert ISO_MS.fullmatch(inst["created_at"])
    assert ISO_MS.fullmatch(inst["updated_at"])
    assert inst["updated_at"] >= inst["created_at"]
    for key in ("ssh_keys", "volumes", "security_groups"):
        assert isinstance(inst[key], list)
        for ref in inst[key]:
            assert_ref(ref)


def assert_error_result(result: CallToolResult, *words: str) -> str:
    """`result` is an error result whose text contains every one of `words` (any case)."""
    text = text_of(result)
    assert result.is_error, text
    for word in words:
        assert word.lower() in text.lower(), (word, text)
    return text
