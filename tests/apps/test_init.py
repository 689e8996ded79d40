"""`apps`: the card extension: the `ui://` view the delete tools link, and the gate that offers the
card's app-only tools only to sessions that negotiated MCP Apps.
"""

from __future__ import annotations

import re

import pytest
from mcp.types import TextResourceContents

from snapshot_mcp.apps import CARD_URI
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator
from tests.support import (
    PREFIX,
    Asker,
    connect,
    text_of,
)


async def test_the_card_is_linked_and_served_as_a_network_free_view(settings: Settings, sim: Simulator) -> None:
    """delete_snapshot names the versioned ui:// view (new and flat key); it is one inline HTML document."""
    async with connect(settings, sim, apps=True) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        resource = await client.read_resource(CARD_URI)
    meta = tools["delete_snapshot"].meta or {}
    assert meta["ui"]["resourceUri"] == CARD_URI == meta["ui/resourceUri"]
    assert CARD_URI.startswith("ui://snapshot-mcp/")
    assert re.search(r"-v[0-9]+\.html$", CARD_URI)
    [html] = resource.contents
    assert isinstance(html, TextResourceContents)
    assert html.mime_type == "text/html;profile=mcp-app"
    text = html.text
    assert text.lstrip().lower().startswith("<!doctype html>")
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "fetch(", "XMLHttpRequest",
                      "<link", "src=", "@import", "url(", "WebSocket", "eval("):  # fmt: skip
        assert forbidden not in text, forbidden
    assert "event.source !== window.parent" in text
    assert "ui/resource-teardown" in text
    assert '"ping"' in text
    assert "ui/notifications/size-changed" in text


@pytest.mark.parametrize("apps", [False, True], ids=["plain-client", "apps-client"])
async def test_app_only_tools_exist_only_for_sessions_that_negotiated_apps(
    settings: Settings, sim: Simulator, mode: str, apps: bool
) -> None:
    """Without Apps: neither listed nor callable. With Apps: listed, marked visibility ["app"]."""
    async with connect(settings, sim, mode=mode, apps=apps, elicit=Asker()) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        called = await client.call_tool(
            "confirm_deletion", {"request_id": "0" * 24, "nonce": "n", "decision": "delete"}
        )
        read = await client.call_tool("deletion_request", {"request_id": "0" * 24})
    app_only = {"deletion_request", "confirm_deletion"}
    if apps:
        assert app_only <= set(tools)
        assert all((tools[name].meta or {})["ui"]["visibility"] == ["app"] for name in app_only)
        assert "No such deletion request" in text_of(called)
    else:
        assert not app_only & set(tools)
        assert text_of(called) == "Unknown tool: confirm_deletion"
        assert text_of(read) == "Unknown tool: deletion_request"
    assert called.is_error
    assert read.is_error
    assert sim.requests == []


def test_the_card_uri_is_under_the_server_prefix() -> None:
    """A versioned ui:// URI, so a changed view never reuses a host's cached copy of an older one."""
    assert CARD_URI == "ui://snapshot-mcp/confirm-delete-v2.html"
    assert PREFIX.endswith("/snapshots")
