"""`AppState`: what one running server shares between calls, and the lifespan that opens it.

A tool reads it from its context (`app_state(ctx)`); nothing else holds settings or
policies. `Seams` are what tests and the demo replace: the API's HTTP client, the
retry policy, the first poll interval, the wall clock of confirmation tokens and the store.

The lifespan opens what must be open before the first request (the API's connection
pool, the store); the API client, the operations and the confirmation channels are
built, and their modules imported, by the first call that uses them, so a server
answers `initialize` without loading them.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import TYPE_CHECKING, Any, cast

import httpx
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context
from pydantic import SecretStr

from .browser import GRACE_SECONDS, background_tasks
from .sending import RetryPolicy, build_http_client
from .settings import Settings
from .store import MemoryStore, Store

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from .browser.opener import Desktop, Launcher
    from .confirm import Channel
    from .confirm.browser import BrowserPages
    from .confirm.decisions import Decisions
    from .confirm.ladder import Ladder
    from .confirm.requests import DeletionRequests
    from .operations import Operations
    from .ratelimit import Limiter


@dataclass(frozen=True)
class Seams:
    """The parts a test (or the demo) swaps; production uses the defaults."""

    http: httpx.AsyncClient | None = None
    retry: RetryPolicy | None = None
    poll_interval: float = 1.0
    wall_clock: Callable[[], float] = field(default=time.time)
    store: Store | None = None
    """A store to use instead of the configured one (left open: its owner closes it)."""
    launcher: Callable[[], Launcher | None] = field(default=lambda: None)
    """How this machine opens the person's browser (`browser_launcher`); None: it cannot."""
    page_grace: float = GRACE_SECONDS
    """How long the browser page's listener outlives the last request it served."""


class AppState:
    """The running server's shared parts: its settings and store; the rest built by the first call that uses it."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        seams: Seams,
        http: httpx.AsyncClient,
        token: SecretStr | None,
        limiter: Limiter | None,
        page_tasks: TaskGroup | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self._seams = seams
        self._http = http
        self._token = token
        self._limiter = limiter
        self._page_tasks = page_tasks

    @cached_property
    def ops(self) -> Operations:
        """The operations, over the API client (one per server: one connection pool, one rate limit)."""
        from .client import GenesisCloudClient
        from .operations import Operations

        client = GenesisCloudClient(
            self._http,
            token=self._token,
            endpoint=self.settings.endpoint,
            retry=self._seams.retry,
            rate_limit=self.settings.rate_limit,
            limiter=self._limiter,
        )
        return Operations(
            client, self.store, wait_timeout=self.settings.wait_timeout, poll_interval=self._seams.poll_interval
        )

    @cached_property
    def requests(self) -> DeletionRequests:
        """The deletion requests the card and the browser page decide."""
        from .confirm.requests import DeletionRequests

        key = derived_key(self.settings, b"card nonces")
        return DeletionRequests(self.store, key, ttl=self.settings.card_timeout, clock=self._seams.wall_clock)

    @cached_property
    def decisions(self) -> Decisions:
        """Where every face of a deletion request (the card, the browser page) reads and decides it."""
        from .confirm.decisions import Decisions

        return Decisions(self.requests, self.ops)

    @cached_property
    def pages(self) -> BrowserPages | None:
        """The browser's confirmation pages; None where the browser rung cannot exist or no browser can be opened."""
        launcher = self._seams.launcher() if self._page_tasks is not None else None
        if launcher is None or self._page_tasks is None:
            return None
        from .browser.opener import Opener
        from .confirm.browser import BrowserPages

        return BrowserPages(
            self.requests, self.decisions, Opener(launcher), self._page_tasks, grace=self._seams.page_grace
        )

    @cached_property
    def ladder(self) -> Ladder:
        """The confirmation channels, in the operator's order."""
        return build_ladder(self.settings, self.store, self.decisions, self._seams.wall_clock, self.pages)


def app_state(ctx: Context[Any, Any]) -> AppState:
    """The `AppState` of the server handling this request."""
    return cast(AppState, ctx.request_context.lifespan_context)


def derived_key(settings: Settings, purpose: bytes) -> bytes | None:
    """A key for one purpose, derived from the shared state key; None: a random one per process."""
    if settings.state_key is None:
        return None
    secret = settings.state_key.get_secret_value().encode()
    return hmac.new(secret, b"snapshot-mcp " + purpose, hashlib.sha256).digest()


def build_ladder(
    settings: Settings,
    store: Store,
    decisions: Decisions,
    clock: Callable[[], float],
    pages: BrowserPages | None = None,
) -> Ladder:
    """One channel object per rung, in the operator's order."""
    from .confirm import ConfirmationTokens, FormChannel, TokenChannel, Unconfirmed
    from .confirm.card import CardChannel
    from .confirm.ladder import Ladder

    rungs: dict[str, Callable[[], Channel]] = {
        "browser": lambda: _browser_channel(pages, settings),
        "card": lambda: CardChannel(
            decisions, ignored_clients=settings.card_ignored_clients, offer_browser=pages is not None
        ),
        "form": lambda: FormChannel(
            timeout=settings.elicitation_timeout,
            ignored_clients=settings.form_ignored_clients,
            secrets=settings.secret_values,
        ),
        "token": lambda: TokenChannel(ConfirmationTokens(store, derived_key(settings, b"tokens"), clock=clock)),
        "unconfirmed": Unconfirmed,
    }
    return Ladder([rungs[name]() for name in settings.ladder])


def _browser_channel(pages: BrowserPages | None, settings: Settings) -> Channel:
    """The browser rung (its pages' module loads with it: only where the operator's ladder names it)."""
    from .confirm.browser import BrowserChannel

    return BrowserChannel(pages, timeout=settings.elicitation_timeout)


def _api_http(settings: Settings, seams: Seams) -> tuple[httpx.AsyncClient, SecretStr | None]:
    """The HTTP client for the API, and the token to send it."""
    if seams.http is not None:
        return seams.http, settings.token
    if not settings.simulate:
        return build_http_client(), settings.token
    from .simulator import DEFAULT_TOKEN, Faults, Simulator

    simulator = Simulator(create_seconds=2.0, faults=Faults(latency=settings.simulate_latency))
    return build_http_client(simulator.transport()), SecretStr(DEFAULT_TOKEN)


async def open_store(settings: Settings, token: SecretStr | None) -> tuple[Store, Limiter | None]:
    """The in-memory store (and the client's own limiter), or with `state_url` Redis's store and shared window.

    Raises `StoreUnavailable` when Redis does not answer now: the server does not start
    without the state it was told to share.
    """
    if settings.state_url is None:
        return MemoryStore(), None
    from .store_redis import SharedWindow, namespace, open_redis

    password = None if settings.state_password is None else settings.state_password.get_secret_value()
    prefix = namespace(settings.endpoint, None if token is None else token.get_secret_value())
    store = await open_redis(settings.state_url.get_secret_value(), password=password, prefix=prefix)
    return store, SharedWindow(store, settings.rate_limit)


def browser_possible(settings: Settings) -> bool:
    """The browser rung can exist: it is on the ladder, the server writes, and runs on the person's machine (stdio)."""
    return "browser" in settings.ladder and not settings.read_only and settings.transport == "stdio"


def browser_launcher(settings: Settings, desktop: Desktop | None = None) -> Callable[[], Launcher | None]:
    """How `desktop` (default: this machine) opens the person's browser, looked up once, when first asked.

    None: the browser rung cannot exist (`browser_possible`), or no browser can be opened here.
    """

    @cache
    def launcher() -> Launcher | None:
        if not browser_possible(settings):
            return None
        from .browser import opener

        return (desktop or opener.this_machine()).launcher()

    return launcher


@asynccontextmanager
async def open_state(settings: Settings, seams: Seams) -> AsyncIterator[AppState]:
    """Open the API client's connection pool and the store; close them when the server stops."""
    http, token = _api_http(settings, seams)
    store, limiter = (seams.store, None) if seams.store is not None else await open_store(settings, token)
    try:
        async with _page_tasks(settings) as tasks:
            yield AppState(settings, store, seams=seams, http=http, token=token, limiter=limiter, page_tasks=tasks)
    finally:
        if seams.store is None:
            await store.aclose()
        if seams.http is None:
            await http.aclose()


@asynccontextmanager
async def _page_tasks(settings: Settings) -> AsyncIterator[TaskGroup | None]:
    """Where the browser page's listener runs while the server does; None where the browser rung cannot exist."""
    if not browser_possible(settings):
        yield None
        return
    async with background_tasks() as tasks:
        yield tasks


_current: ContextVar[AppState] = ContextVar("snapshot_mcp_state")


class ExposeState:
    """Server middleware: handlers without a tool context (completions) find the state in `current_state()`."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "completion/complete":  # the one handler that reads it
            return await call_next(ctx)
        token = _current.set(cast(AppState, ctx.lifespan_context))
        try:
            return await call_next(ctx)
        finally:
            _current.reset(token)


def current_state() -> AppState | None:
    """The state of the server handling the current request, if any."""
    return _current.get(None)
