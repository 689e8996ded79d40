"""The confirmation card (MCP Apps): its view, its app-only tools, and the gate that hides them.

`card_extension()` builds the `Apps` extension a server passes to `MCPServer(extensions=...)`:
the static, network-free view at `CARD_URI` (versioned: hosts cache views with the chat)
and the two app-only tools. `AppOnlyGate` keeps those tools out of `tools/list` and
refuses them on `tools/call` for sessions that did not negotiate Apps; hosts that do
not implement Apps would otherwise show them to the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import resources
from typing import Any

from mcp.server.apps import Apps, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from snapshot_mcp.settings import Settings

from .tools import APP_TOOLS

CARD_URI = "ui://snapshot-mcp/confirm-delete-v2.html"
APP_ONLY = frozenset(declared.name for declared in APP_TOOLS)
LINK_META: dict[str, Any] = {"ui": {"resourceUri": CARD_URI}, "ui/resourceUri": CARD_URI}
"""What a delete tool carries to link the card (the flat key is the older form some hosts still read)."""


def card_html() -> str:
    """The view: one HTML document with inline script and style, no network, data shown as text only."""
    return resources.files("snapshot_mcp.apps").joinpath("card.html").read_text(encoding="utf-8")


def card_extension(settings: Settings) -> Apps:
    """The Apps extension: the card's view and its app-only tools, each as declared (`tools.APP_TOOLS`)."""
    apps = Apps()
    apps.add_html_resource(
        CARD_URI,
        card_html(),
        name="confirm-delete",
        title="Confirm snapshot deletion",
        description="Asks the user to confirm or keep a pending snapshot deletion; shows every snapshot in full.",
        prefers_border=True,
    )
    for declared in APP_TOOLS:
        apps.tool(
            resource_uri=CARD_URI,
            visibility=["app"],
            meta={"ui/resourceUri": CARD_URI},
            name=declared.name,
            title=declared.title,
            description=declared.describe(settings),
            annotations=declared.annotations,
        )(declared.function(settings))
    return apps


def is_app_only(tool: Any) -> bool:
    """True for a tool (wire dict or model) whose `_meta.ui.visibility` is `["app"]`: hosts hide it from the model."""
    meta = tool.get("_meta") if isinstance(tool, Mapping) else getattr(tool, "meta", None)
    ui = meta.get("ui") if isinstance(meta, Mapping) else None
    return isinstance(ui, Mapping) and ui.get("visibility") == ["app"]


class AppOnlyGate:
    """Server middleware: app-only tools exist only for sessions that negotiated MCP Apps."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "tools/call" and (ctx.params or {}).get("name") in APP_ONLY and not client_supports_apps(ctx):
            name = (ctx.params or {}).get("name")  # answered as the SDK answers a tool it does not have
            return CallToolResult(content=[TextContent(type="text", text=f"Unknown tool: {name}")], is_error=True)
        result = await call_next(ctx)
        if ctx.method != "tools/list" or client_supports_apps(ctx):
            return result
        if isinstance(result, BaseModel):
            tools = [tool for tool in getattr(result, "tools", []) if not is_app_only(tool)]
            return result.model_copy(update={"tools": tools})
        if isinstance(result, Mapping) and isinstance(result.get("tools"), list):
            return {**result, "tools": [tool for tool in result["tools"] if not is_app_only(tool)]}
        return result
