"""The confirmation card (MCP Apps): its view, its app-only tools, and the gate that hides them.

`card_extension()` builds the `Apps` extension a server passes to `MCPServer(extensions=...)`:
the static, network-free view at `CARD_URI` (versioned: hosts cache views with the chat).
`add_card_tools()` adds the two app-only tools, linked to the view as the extension links
its own, when the server's tools are built (`server._Server.later`: not before a request
needs them; their module, `apps.tools`, is imported then). `AppOnlyGate` keeps those tools
out of `tools/list` and refuses them on `tools/call` for sessions that did not negotiate
Apps; hosts that do not implement Apps would otherwise show them to the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

from mcp.server.apps import Apps, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

from snapshot_mcp.settings import Settings

CARD_URI = "ui://snapshot-mcp/confirm-delete-v2.html"
LINK_META: dict[str, Any] = {"ui": {"resourceUri": CARD_URI}, "ui/resourceUri": CARD_URI}
"""What a delete tool carries to link the card (the flat key is the older form some hosts still read)."""
APP_TOOL_META: dict[str, Any] = {"ui/resourceUri": CARD_URI, "ui": {"resourceUri": CARD_URI, "visibility": ["app"]}}
"""What an app-only tool carries: the card's link, and that only the card calls it (`Apps.tool`'s stamp)."""


@cache
def app_only() -> frozenset[str]:
    """The names of the card's app-only tools."""
    from .tools import APP_TOOLS

    return frozenset(declared.name for declared in APP_TOOLS)


def card_html() -> str:
    """The view: one HTML document with inline script and style, no network, data shown as text only."""
    return resources.files("snapshot_mcp.apps").joinpath("card.html").read_text(encoding="utf-8")


def card_extension(settings: Settings) -> Apps:
    """The Apps extension: the card's view (its tools come with the other tools: `add_card_tools`)."""
    apps = Apps()
    apps.add_html_resource(
        CARD_URI,
        card_html(),
        name="confirm-delete",
        title="Confirm snapshot deletion",
        description="Asks the user to confirm or keep a pending snapshot deletion; shows every snapshot in full.",
        prefers_border=True,
    )
    return apps


def add_card_tools(server: MCPServer[Any], settings: Settings) -> None:
    """Add the card's app-only tools to `server`, each as declared (`tools.APP_TOOLS`), linked to the view."""
    from .tools import APP_TOOLS

    for declared in APP_TOOLS:
        server.add_tool(
            declared.function(settings),
            name=declared.name,
            title=declared.title,
            description=declared.describe(settings),
            annotations=declared.annotations,
            meta=APP_TOOL_META,
        )


def is_app_only(tool: Any) -> bool:
    """True for a tool (wire dict or model) whose `_meta.ui.visibility` is `["app"]`: hosts hide it from the model."""
    meta = tool.get("_meta") if isinstance(tool, Mapping) else getattr(tool, "meta", None)
    ui = meta.get("ui") if isinstance(meta, Mapping) else None
    return isinstance(ui, Mapping) and ui.get("visibility") == ["app"]


class AppOnlyGate:
    """Server middleware: app-only tools exist only for sessions that negotiated MCP Apps."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if (
            ctx.method == "tools/call"
            and (ctx.params or {}).get("name") in app_only()
            and not client_supports_apps(ctx)
        ):
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
