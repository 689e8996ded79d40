"""Shared fixtures, the guard that makes any real network call fail loudly, and no real browser.

Tests talk to the embedded simulator (through its httpx transport, or a server on
loopback) or to an `httpx.MockTransport`. A connection to any address that is not
loopback raises `RealNetworkCall` at once, in this process.

A server built in this process never finds the developer's own browser: the machine
it detects is `NO_DESKTOP`, so the browser channel exists only where a test hands it a
desktop of its own (`support.HandOff`), or in a subprocess with a `BROWSER` the test set.

How the suite runs: the fast core (`-m "not slow"`) in this one process, without even
importing a module marked slow as a whole; the whole suite in worker processes
(pytest-xdist, `-n auto` in pyproject.toml), a module marked `xdist_group` whole on one
worker, the `alone` group last.
"""

from __future__ import annotations

import functools
import gc
import inspect
import ipaddress
import os
import re
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from pydantic import SecretStr

from snapshot_mcp.browser import opener
from snapshot_mcp.settings import DEFAULT_ENDPOINT, Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, Simulator
from tests.support import MODES, Asker, AuditLines, RedisServer, accept, audit_lines, connect

# Collect cycles less often than Python's default (700, 10, 10): the tests allocate a great deal (every call
# builds and validates pydantic models) and free nearly all of it by reference counting, so the default's
# thousands of collections found little and cost the fast core seconds. Garbage is still collected.
gc.set_threshold(20_000, 50, 100)


class RealNetworkCall(RuntimeError):
    """A test tried to reach a real network address."""


def _is_local(address: Any) -> bool:
    if isinstance(address, str):  # AF_UNIX path
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_local(address):
        raise RealNetworkCall(f"test tried to connect to {address!r}")
    _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_local(address):
        raise RealNetworkCall(f"test tried to connect to {address!r}")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host is not None and not _is_local(host if isinstance(host, str) else host.decode()):
        raise RealNetworkCall(f"test tried to resolve {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _no_real_network() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[assignment,method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[assignment,method-assign]
    socket.getaddrinfo = _guarded_getaddrinfo
    try:
        yield
    finally:
        socket.socket.connect = _real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = _real_getaddrinfo


@pytest.fixture(autouse=True, scope="session")
def _no_real_browser() -> Iterator[None]:
    real = opener.this_machine
    opener.this_machine = lambda: opener.NO_DESKTOP
    try:
        yield
    finally:
        opener.this_machine = real


FAST_CORE = "not slow"
"""The marker expression of the fast core (`pytest -m "not slow"`)."""
SLOW_MODULE = re.compile(r"^pytestmark = \[?pytest\.mark\.slow\b", re.M)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """In the fast core, a module marked slow as a whole is not imported: every test in it would be deselected.

    Its imports (a browser driver, hypothesis, OpenTelemetry's protobufs, ...) are the
    most of what collecting it costs; the tests the fast core runs are the same.
    """
    if config.option.markexpr != FAST_CORE or collection_path.suffix != ".py":
        return None
    if not collection_path.name.startswith("test_"):
        return None
    return bool(SLOW_MODULE.search(collection_path.read_text(encoding="utf-8"))) or None


WORKERS = 4
"""Worker processes for a whole run: the slow tests mostly wait (on processes, a browser, sockets, time-outs)."""


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """`-n auto` (pyproject's addopts): workers for the whole suite, none for the fast core or chosen tests.

    The fast core and a single file spend their time importing (no bytecode cache
    here), which each worker would do again; the whole suite spends it waiting.
    PYTEST_XDIST_AUTO_NUM_WORKERS, when set, decides instead.
    """
    chosen = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if chosen:
        return int(chosen)
    whole = config.args_source == pytest.Config.ArgsSource.TESTPATHS
    return WORKERS if whole and config.option.markexpr != FAST_CORE else 0


GROUPED = re.compile(r"\bpytest\.mark\.xdist_group\(\"([\w-]+)\"\)")
ALONE = "alone"
"""The group that runs last, once every other test is done: tests of real-time windows, which a busy machine
(the other workers) would make miss their marks."""


@functools.cache
def _group_of(module: str) -> str | None:
    path = Path(__file__).resolve().parent.parent / module
    found = GROUPED.search(path.read_text(encoding="utf-8")) if path.is_file() else None
    return found[1] if found else None


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Each test is a unit of work, except that a module marked `xdist_group` runs whole on one worker.

    Such a module sets up something once for all its tests (a build, an identity provider,
    a server); on one worker it still does so once. (xdist's own `--dist loadgroup` reads
    the mark through a node id pytest 9 no longer lets it change, so it groups nothing.)
    The `alone` group waits until every other test has run.
    """
    from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

    class ByModuleWhenGrouped(LoadScopeScheduling):  # type: ignore[misc]  # xdist is untyped
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return _group_of(module) or nodeid

        def _assign_work_unit(self, node: Any) -> None:
            if ALONE in self.workqueue and len(self.workqueue) > 1:
                self.workqueue.move_to_end(ALONE)
            elif ALONE in self.workqueue and any(self._pending_of(work) > 1 for work in self.assigned_work.values()):
                return  # the others are still running (a worker holds back its last test until it is told more)
            super()._assign_work_unit(node)

    return ByModuleWhenGrouped(config, log)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """A run that collected no hypothesis test lets hypothesis's plugin go.

    The plugin imports hypothesis for its end-of-run report whether or not any test used
    it (~0.8 s, with no bytecode cache); the fast core has none, so nothing is lost.
    """
    if "hypothesis" not in sys.modules:
        plugin = session.config.pluginmanager.get_plugin("hypothesispytest")
        if plugin is not None:
            session.config.pluginmanager.unregister(plugin)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run every `async def` test under anyio (asyncio backend)."""
    for item in items:
        function = getattr(item, "function", None)
        if function is not None and inspect.iscoroutinefunction(function):
            item.add_marker(pytest.mark.anyio)


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """asyncio, for the whole session: a module-scoped async fixture (`shared`) may then use it too."""
    return "asyncio"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    """Both protocol eras: 2026-07-28 ("auto") and the 2025 handshake ("legacy")."""
    return str(request.param)


@pytest.fixture
def sim() -> Simulator:
    """A fresh simulator with its twelve seed snapshots."""
    return Simulator()


@pytest.fixture
async def sim_http(sim: Simulator) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client whose transport is the simulator."""
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        yield http


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session (tests that use it are `slow`)."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The session's Redis, emptied for this test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture
def audit() -> Iterator[AuditLines]:
    """The lines written to the `snapshot_mcp.audit` logger during the test."""
    with audit_lines() as lines:
        yield lines


@pytest.fixture
def settings() -> Settings:
    """Settings pointing at the (simulated) default endpoint with the simulator's token."""
    return Settings(token=SecretStr(DEFAULT_TOKEN), endpoint=DEFAULT_ENDPOINT)


@pytest.fixture(scope="module", params=MODES)
async def shared(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Client, Simulator]]:
    """One client and server per era, for tests that must change nothing (building one costs ~50 ms)."""
    sim = Simulator()
    settings = Settings(token=SecretStr(DEFAULT_TOKEN))
    async with connect(settings, sim, mode=str(request.param), elicit=Asker(accept(confirm=False))) as client:
        yield client, sim


@pytest.fixture
def idle(shared: tuple[Client, Simulator]) -> tuple[Client, Simulator]:
    """The shared client, with the simulator's request log emptied."""
    client, sim = shared
    sim.requests.clear()
    return client, sim
