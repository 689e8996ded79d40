"""The channel ladder: per session, the first confirmation channel the client can really show.

Clients declare capabilities they do not honour (Claude Desktop declares elicitation
and never shows it; Cowork declines every form at once), so the choice is made per
session (per request in the 2026-07-28 era) from what the client declares, in the
order the operator set, skipping a declared channel for the clients the operator
(or the shipped defaults) name. When no rung fits, the delete is refused with a
sentence that says what the user can do.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from typing import Any

from mcp.server.apps import client_supports_apps
from mcp.server.mcpserver import Context

from snapshot_mcp.confirm.base import Channel


def client_name(ctx: Context[Any, Any]) -> str:
    """The `clientInfo.name` the client sent (empty when it sent none)."""
    params = ctx.request_context.session.client_params
    return params.client_info.name if params is not None else ""


def named(name: str, patterns: Sequence[str]) -> bool:
    """True when `name` matches one of `patterns` (case-insensitive; `*` is a wildcard)."""
    lowered = name.strip().lower()
    return bool(lowered) and any(fnmatch.fnmatchcase(lowered, pattern.strip().lower()) for pattern in patterns)


def declares_form(ctx: Context[Any, Any]) -> bool:
    """The client declared form elicitation (a bare `elicitation: {}`, from before modes existed, counts)."""
    caps = ctx.client_capabilities
    elicitation = caps.elicitation if caps is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def declares_card(ctx: Context[Any, Any]) -> bool:
    """The client negotiated MCP Apps with the HTML view MIME type."""
    return client_supports_apps(ctx)


class Ladder:
    """Chooses a session's confirmation channel from the operator's ordered rungs."""

    def __init__(self, rungs: Sequence[Channel]) -> None:
        self.rungs = tuple(rungs)

    def choose(self, ctx: Context[Any, Any], prefer: str | None = None) -> Channel | None:
        """The first rung this client can show, or None: then nobody can be asked.

        `prefer` names a rung to take first where it is available (the person asked for the
        browser because no card appeared); it only changes where the person is asked.
        """
        preferred = [rung for rung in self.rungs if rung.name == prefer]
        return next((rung for rung in (*preferred, *self.rungs) if rung.available(ctx)), None)
