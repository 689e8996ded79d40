"""`build_server(settings)`: wiring only — settings → state → tools → extensions → middleware.

Nothing is created at import time: each call makes an independent server, whose
lifespan (`state.open_state`) opens the API client's connection pool and the store.
What the tools are lives in `tools/` (one declaration each), how deletes are confirmed
in `confirm/`, the words they share in `messages`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from mcp.server.caching import CacheableMethod, CacheHint
from mcp.server.mcpserver import MCPServer, RequestStateSecurity
from mcp.types import Tool

from . import __version__, tools
from .apps import AppOnlyGate, card_extension
from .audit import AuditFile, AuditScope
from .browser import opener
from .browser.listener import GRACE_SECONDS
from .browser.opener import Desktop
from .confirm import install_audit_handler
from .messages import INSTRUCTIONS
from .middleware import CompactArgumentErrors, ToolCallMetrics
from .redact import RedactSecrets
from .resources import register_catalog
from .schema import lean
from .scopes import ScopeGate
from .sending import RetryPolicy
from .settings import Settings
from .state import AppState, ExposeState, Seams, browser_possible, open_state
from .store import Store

PER_CALLER: dict[CacheableMethod, CacheHint] = {"tools/list": CacheHint(ttl_ms=0, scope="private")}
"""tools/list depends on the caller's scopes: never cached across callers (2026-07-28 `cacheScope`)."""
HIDDEN_WITHOUT_BROWSER = frozenset({"ask_in_browser"})
"""Arguments listed only where the browser channel is available (a model should not see one that cannot help)."""


class _Server(MCPServer[AppState]):
    """An `MCPServer` whose tools/list sends lean schemas (`schema.lean`), computed once per server.

    `hidden` names arguments left out of every listed input schema (an optional argument
    that this server cannot honour; sent anyway, it changes nothing).
    """

    _lean: list[Tool] | None = None
    hidden: frozenset[str] = frozenset()

    async def list_tools(self) -> list[Tool]:
        if self._lean is None:
            self._lean = [_leaner(tool, self.hidden) for tool in await super().list_tools()]
        return self._lean

    def add_tool(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._lean = None
        super().add_tool(fn, *args, **kwargs)

    def remove_tool(self, name: str) -> None:
        self._lean = None
        super().remove_tool(name)


def _leaner(tool: Tool, hidden: frozenset[str]) -> Tool:
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
    machine's), and `page_grace` how long the browser page's listener outlives its last
    request (tests shrink, move or break these).
    """
    install_audit_handler()
    launcher = (desktop or opener.this_machine()).launcher() if browser_possible(settings) else None
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
            middleware=[
                ToolCallMetrics(),
                AuditScope(None if settings.audit_file is None else AuditFile(settings.audit_file)),
                RedactSecrets(settings.secret_values),
                CompactArgumentErrors(),
                AppOnlyGate(),
                ScopeGate(),
                ExposeState(),
            ],
            cache_hints=PER_CALLER,
        )
    server.hidden = frozenset() if launcher is not None else HIDDEN_WITHOUT_BROWSER
    tools.register(server, settings, browser=launcher is not None)
    register_catalog(server, clock=clock)
    return server
