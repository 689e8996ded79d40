"""OAuth scopes: which one each tool needs, and the gate that applies them to an MCP request.

Three scopes, each a kind of act:

- `snapshots:read`: list and get snapshots, list instances (and read the snapshot resource,
  and complete arguments, which list ids);
- `snapshots:write`: create, copy, rename, snapshot an instance;
- `snapshots:delete`: the delete tools and the card's decision (`confirm_deletion`). A
  person's yes is still required on top: the scope lets a caller ask, not skip asking.

Each tool's scope is part of its declaration (`ToolDeclaration.scope`); this module
only reads it. The card's `deletion_request` only reads (a request its own session
made, so a token that could ask to delete), and needs `snapshots:read`.

They apply only when the request came with an OAuth access token (`--auth-issuer`):
stdio and the static `--http-token` have no per-caller scopes, and everything the server
offers is open to them. Over HTTP the 403 step-up (`oauth.resource.ScopeStepUp`) refuses
a call before it reaches the MCP layer; `ScopeGate` below is the same rule inside it: it
shows each token only the tools it allows in tools/list and refuses any other call.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from typing import Any, Final

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_REQUEST, CallToolResult, TextContent
from pydantic import BaseModel

from snapshot_mcp.apps.tools import APP_TOOLS
from snapshot_mcp.tools import DECLARATIONS

READ: Final = "snapshots:read"
WRITE: Final = "snapshots:write"
DELETE: Final = "snapshots:delete"
SCOPES: Final = (READ, WRITE, DELETE)
"""Every scope this server knows, in the order of what they allow (and of `scopes_supported`)."""

SNAPSHOT_RESOURCE_PREFIX: Final = "genesiscloud://"


@functools.cache
def _declared_scopes() -> Mapping[str, str]:
    """Each tool's scope, as its declaration says (the model's tools and the card's app-only ones)."""
    return {declared.name: declared.scope for declared in (*DECLARATIONS, *APP_TOOLS)}


def scope_for(tool: str) -> str | None:
    """The scope calling `tool` needs (None: a tool this server does not have)."""
    return _declared_scopes().get(tool)


def needed_scope(method: str, name: object) -> str | None:
    """The scope an MCP request needs (None: any authenticated caller may send it)."""
    if method == "completion/complete":
        return READ  # completions list snapshot and instance ids from the API
    if not isinstance(name, str):
        return None
    if method == "tools/call":
        return scope_for(name)
    if method == "resources/read" and name.startswith(SNAPSHOT_RESOURCE_PREFIX):
        return READ  # the snapshot resource reads the API as get_snapshot does
    return None


def token_scopes() -> frozenset[str] | None:
    """The scopes of the current request's OAuth access token; None when it came without one (no per-caller scopes)."""
    token = get_access_token()
    return None if token is None else frozenset(token.scopes)


def step_up(granted: Collection[str], needed: str) -> str:
    """The `scope` of a 403 step-up: what the token has of ours, plus what the call needs, in `SCOPES` order."""
    wanted = {needed, *granted}
    return " ".join(scope for scope in SCOPES if scope in wanted)


def _allowed(granted: frozenset[str] | None, needed: str | None) -> bool:
    return granted is None or needed is None or needed in granted


def _tool_name(tool: Any) -> object:
    return tool.get("name") if isinstance(tool, Mapping) else getattr(tool, "name", None)


class ScopeGate:
    """Server middleware: a token sees in tools/list, and may call, only the tools its scopes allow."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        granted = token_scopes()
        if granted is None:
            return await call_next(ctx)
        params = ctx.params or {}
        target = params.get("name") if ctx.method != "resources/read" else params.get("uri")
        needed = needed_scope(ctx.method, target)
        if not _allowed(granted, needed):
            text = f"This call needs the OAuth scope {needed}, which the access token does not carry."
            if ctx.method != "tools/call":
                raise MCPError(INVALID_REQUEST, text)
            return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)
        result = await call_next(ctx)
        if ctx.method != "tools/list":
            return result
        return _filtered(result, granted)


def _filtered(result: HandlerResult, granted: frozenset[str]) -> HandlerResult:
    """tools/list's result with only the tools `granted` allows."""

    def keep(tool: Any) -> bool:
        name = _tool_name(tool)
        return isinstance(name, str) and _allowed(granted, scope_for(name))

    if isinstance(result, BaseModel):
        return result.model_copy(update={"tools": [t for t in getattr(result, "tools", []) if keep(t)]})
    if isinstance(result, Mapping) and isinstance(result.get("tools"), list):
        return {**result, "tools": [t for t in result["tools"] if keep(t)]}
    return result
