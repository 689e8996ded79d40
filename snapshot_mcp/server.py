"""`build_server(settings)`: wiring only — settings → state → tools → extensions → middleware.

Nothing is created at import time: each call makes an independent server, whose
lifespan (`state.open_state`) opens the API client's connection pool and the store.
What the tools are lives in `tools/` (one declaration each), how deletes are confirmed
in `confirm/`, the words they share in `messages`.

What `initialize` needs (the name, instructions, extensions, middleware, prompts) is built
here; the tools are added by the first request that needs them (`_Server.later`), and
their modules imported then: a client's handshake does not wait for them.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
from mcp.server.caching import CacheableMethod, CacheHint
from mcp.server.context import ServerMiddleware
from mcp.server.mcpserver import Context, MCPServer, RequestStateSecurity
from mcp.types import CallToolResult, InputRequiredResult, Tool

from . import __version__, telemetry
from .apps import AppOnlyGate, add_card_tools, card_extension
from .browser import GRACE_SECONDS
from .logs import install_audit_handler
from .messages import INSTRUCTIONS
from .middleware import CompactArgumentErrors, ToolCallMetrics
from .redact import RedactSecrets
from .resources import register_catalog
from .sending import RetryPolicy
from .settings import Settings
from .state import AppState, ExposeState, Seams, browser_launcher, open_state
from .store import Store

if TYPE_CHECKING:
    from .browser.opener import Desktop, Launcher

PER_CALLER: dict[CacheableMethod, CacheHint] = {"tools/list": CacheHint(ttl_ms=0, scope="private")}
"""tools/list depends on the caller's scopes: never cached across callers (2026-07-28 `cacheScope`)."""
HIDDEN_WITHOUT_BROWSER = frozenset({"ask_in_browser"})
"""Arguments listed only where the browser channel is available (a model should not see one that cannot help)."""


class _Server(MCPServer[AppState]):
    """An `MCPServer` that adds its tools when a request first needs them, and sends lean schemas (`schema.lean`).

    `later(step)` keeps a step that adds tools (the declared tools, the card's tools) until the
    first tools/list or tools/call, or the first look-up of a tool's input schema, which run the
    kept steps once, in order. A step imports its tools' modules, and the SDK builds each tool's
    argument model and output schema with pydantic: the largest part of a server's start, and
    nothing `initialize` needs.

    `hidden` names arguments left out of every listed input schema (an optional argument
    that this server cannot honour; sent anyway, it changes nothing).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._later: list[Callable[[], None]] = []
        self._lean: list[Tool] | None = None
        self.hidden: frozenset[str] = frozenset()
        super().__init__(*args, **kwargs)

    def later(self, step: Callable[[], None]) -> None:
        """Run `step` (which adds tools) when the tools are first needed."""
        self._lean = None
        self._later.append(step)

    def _add_kept_tools(self) -> None:
        while self._later:
            self._later.pop(0)()

    async def list_tools(self) -> list[Tool]:
        self._add_kept_tools()
        if self._lean is None:
            self._lean = [_leaner(tool, self.hidden) for tool in await super().list_tools()]
        return self._lean

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[AppState, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        self._add_kept_tools()
        return await super().call_tool(name, arguments, context)

    def _tool_input_schema(self, name: str) -> dict[str, Any] | None:
        self._add_kept_tools()
        return super()._tool_input_schema(name)

    def add_tool(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._add_kept_tools()  # a tool added later comes after the kept ones, as it would have
        self._lean = None
        super().add_tool(fn, *args, **kwargs)

    def remove_tool(self, name: str) -> None:
        self._add_kept_tools()
        self._lean = None
        super().remove_tool(name)


def _leaner(tool: Tool, hidden: frozenset[str]) -> Tool:
    from .schema import lean

    output = None if tool.output_schema is None else lean(tool.output_schema, descriptions=False)
    return tool.model_copy(update={"input_schema": _without(lean(tool.input_schema), hidden), "output_schema": output})


def _without(schema: dict[str, Any], hidden: frozenset[str]) -> dict[str, Any]:
    properties = schema.get("properties")
    if not hidden or not isinstance(properties, dict) or not hidden & properties.keys():
        return schema
    kept = {name: value for name, value in properties.items() if name not in hidden}
    return {**schema, "properties": kept}


def _request_state_security(settings: Settings) -> RequestStateSecurity:
    """How a 2026-07-28 confirmation's round trip is sealed.

    It lives as long as a 2025 client may take to answer (`elicitation_timeout`), so a
    later answer is refused in either era. Instances behind one balancer share
    `state_key`, so the round trip may land on any of them.
    """
    ttl = settings.elicitation_timeout
    if settings.state_key is None:
        return RequestStateSecurity.ephemeral(ttl=ttl)
    return RequestStateSecurity(keys=[settings.state_key.get_secret_value()], ttl=ttl)


@contextmanager
def _logging_left_alone() -> Iterator[None]:
    """Keep `MCPServer()` from configuring the host program's logging.

    The SDK calls `logging.basicConfig` with a Rich handler at INFO when the root logger
    has no handler yet: an embedding program (or a test run) would then have every INFO
    line of every library rendered to stderr. A placeholder handler makes that call a
    no-op; the CLI sets up stderr logging itself (`cli.configure_logging`).
    """
    root = logging.getLogger()
    placeholder = logging.NullHandler() if not root.handlers else None
    if placeholder is not None:
        root.addHandler(placeholder)
    try:
        yield
    finally:
        if placeholder is not None:
            root.removeHandler(placeholder)


def build_server(
    settings: Settings,
    *,
    http: httpx.AsyncClient | None = None,
    retry: RetryPolicy | None = None,
    poll_interval: float = 1.0,
    clock: Callable[[], float] = time.time,
    store: Store | None = None,
    desktop: Desktop | None = None,
    page_grace: float = GRACE_SECONDS,
) -> MCPServer[AppState]:
    """A ready MCP server for `settings`.

    `http` replaces the API's HTTP client, `retry` the client's retry policy,
    `poll_interval` the first pause between polls of a wait, `clock` the wall clock
    of confirmation tokens and of the completions' memory, `store` the shared state,
    `desktop` what tells whether and how the person's browser opens (default: this
    machine's; looked at when the tools are first listed), and `page_grace` how long the
    browser page's listener outlives its last request (tests shrink, move or break these).
    """
    install_audit_handler()
    launcher = browser_launcher(settings, desktop)
    seams = Seams(
        http=http,
        retry=retry,
        poll_interval=poll_interval,
        wall_clock=clock,
        store=store,
        launcher=launcher,
        page_grace=page_grace,
    )
    card = "card" in settings.ladder and not settings.read_only
    with _logging_left_alone():
        server = _Server(
            "snapshot-mcp",
            instructions=INSTRUCTIONS,
            version=__version__,
            lifespan=lambda _: open_state(settings, seams),
            request_state_security=_request_state_security(settings),
            extensions=[card_extension(settings)] if card else [],
            middleware=_middleware(settings, card=card),
            cache_hints=PER_CALLER,
        )
    if card:
        server.later(functools.partial(add_card_tools, server, settings))
    server.later(functools.partial(_add_tools, server, settings, launcher))
    register_catalog(server, clock=clock)
    return server


def _middleware(settings: Settings, *, card: bool) -> list[ServerMiddleware[Any]]:
    """The server's middleware, outermost first; those for an option not set are left out, not passed through."""
    chain: list[ServerMiddleware[Any]] = []
    if telemetry.enabled():  # `cli.main` turns telemetry on before it builds the server
        chain.append(ToolCallMetrics())
    if settings.audit_file is not None:  # the file's records name the request; the stderr line needs nothing
        from .audit import AuditFile, AuditScope

        chain.append(AuditScope(AuditFile(settings.audit_file)))
    chain += [RedactSecrets(settings.secret_values), CompactArgumentErrors()]
    if card:  # the card's app-only tools exist
        chain.append(AppOnlyGate())
    if settings.auth_issuer is not None:  # only an OAuth access token carries scopes
        from .scopes import ScopeGate

        chain.append(ScopeGate())
    chain.append(ExposeState())
    return chain


def _add_tools(server: _Server, settings: Settings, launcher: Callable[[], Launcher | None]) -> None:
    """Add the declared tools; the delete tools offer the browser where this machine can open one."""
    from . import tools  # the tools' modules, and all that a call imports, load with the first request for tools

    browser = launcher() is not None
    server.hidden = frozenset() if browser else HIDDEN_WITHOUT_BROWSER
    tools.register(server, settings, browser=browser)
