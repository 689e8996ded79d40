"""The confirmation card in a real browser: headless Chromium inside a fake MCP Apps host.

The fake host is a page that embeds the card (`ui://snapshot-mcp/confirm-delete-v1.html`,
read from the server) in a sandboxed iframe, speaks the MCP Apps postMessage protocol,
and forwards the card's `tools/call` to the running server through an in-memory MCP
client (a Python function the page calls). The server's API is the simulator, so a
click's effect is read from the requests the simulator received. The page is loaded
with `set_content` and the card with `srcdoc`: any network request at all is a failure.

Needs Debian's `chromium` (`.ci/run` installs it) and the `playwright` package, which
drives it through `executable_path`; no browser is downloaded.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, TextResourceContents
from support import SEED_ID, connect, sent

from snapshot_mcp.apps import CARD_URI
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "confirmation-card.png"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
XSS_NAME = (
    "<img src=x onerror=\"parent.postMessage({jsonrpc:'2.0',id:999,method:'tools/call',"
    "params:{name:'confirm_deletion',arguments:{decision:'delete'}}},'*')\">"
)

HOST = """<!doctype html>
<html><head><meta charset="utf-8"><title>fake host</title></head>
<body style="margin:0;background:#f2f2f2">
<iframe id="view" sandbox="allow-scripts" style="width:560px;height:320px;border:0;background:#fff"></iframe>
<script>
const frame = document.getElementById("view");
window.hostLog = [];
window.toolCalls = [];
function send(message) { frame.contentWindow.postMessage(message, "*"); }
window.addEventListener("message", async (event) => {
  if (event.source !== frame.contentWindow) return;
  const m = event.data;
  window.hostLog.push(m);
  if (m.method === "ui/initialize") {
    send({jsonrpc: "2.0", id: m.id, result: {protocolVersion: "2026-01-26", hostInfo: {name: "fake-host", version: "1"},
          hostCapabilities: {serverTools: {}}, hostContext: {theme: "light"}}});
  } else if (m.method === "ui/notifications/initialized") {
    send({jsonrpc: "2.0", method: "ui/notifications/tool-input", params: {arguments: window.TOOL_INPUT}});
    send({jsonrpc: "2.0", method: "ui/notifications/tool-result", params: window.TOOL_RESULT});
  } else if (m.method === "tools/call") {
    window.toolCalls.push(m.params);
    const result = await window.callTool(m.params.name, m.params.arguments || {});
    send({jsonrpc: "2.0", id: m.id, result});
  } else if (m.method === "ui/notifications/size-changed") {
    window.lastSize = m.params;
    frame.style.height = Math.max(120, m.params.height) + "px";
  }
});
function ask(id, method) {
  return new Promise((resolve) => {
    const listener = (event) => {
      if (event.source === frame.contentWindow && event.data && event.data.id === id) {
        removeEventListener("message", listener);
        resolve(event.data);
      }
    };
    addEventListener("message", listener);
    send({jsonrpc: "2.0", id, method, params: {}});
  });
}
window.teardown = () => ask(4242, "ui/resource-teardown");
window.ping = () => ask(4343, "ping");
</script></body></html>"""


@dataclass
class Host:
    """A page with the card inside, and what the page asked of the network (nothing, it must be)."""

    page: Any
    frame: Any
    requests: list[str] = field(default_factory=list)

    async def wait_status(self, words: str) -> str:
        await self.frame.wait_for_function(
            "(words) => document.getElementById('status').textContent.includes(words)", arg=words, timeout=10_000
        )
        text: str = await self.frame.locator("#status").text_content()
        return text

    async def tool_calls(self) -> list[dict[str, Any]]:
        calls: list[dict[str, Any]] = await self.page.evaluate("window.toolCalls")
        return calls


def wire(result: CallToolResult, *, stripped: bool = False) -> dict[str, Any]:
    """The tool-result as a host forwards it; `stripped`: as Claude Desktop does (no _meta, no structuredContent)."""
    data: dict[str, Any] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    if stripped:
        data.pop("_meta", None)
        data.pop("structuredContent", None)
    return data


@asynccontextmanager
async def browser() -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (bash .ci/run does)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@asynccontextmanager
async def hosting(
    client: Client, result: CallToolResult, arguments: dict[str, Any], stripped: bool
) -> AsyncIterator[Host]:
    """The fake host showing the card for `result`, forwarding the card's tool calls to `client`."""
    resource = await client.read_resource(CARD_URI)
    [html] = resource.contents
    assert isinstance(html, TextResourceContents)

    async def call_tool(name: str, args: dict[str, Any]) -> dict[str, Any]:
        return wire(await client.call_tool(name, args))

    async with browser() as chromium:
        page = await chromium.new_page(viewport={"width": 600, "height": 360})
        host = Host(page, None)
        page.on("request", lambda request: host.requests.append(request.url))
        await page.expose_function("callTool", call_tool)
        await page.set_content(HOST)
        await page.evaluate(
            "([result, input]) => { window.TOOL_RESULT = result; window.TOOL_INPUT = input; }",
            [wire(result, stripped=stripped), arguments],
        )
        await page.evaluate("(html) => { document.getElementById('view').srcdoc = html; }", html.text)
        await page.wait_for_function("window.hostLog.some((m) => m.method === 'ui/notifications/initialized')")
        host.frame = page.frames[1]
        yield host


async def open_card(client: Client, snapshot_id: str = SEED_ID) -> CallToolResult:
    result = await client.call_tool("delete_snapshot", {"snapshot_id": snapshot_id})
    assert result.structured_content is not None
    assert result.structured_content["outcome"] == "awaiting_confirmation"
    return result


@pytest.mark.parametrize("stripped", [False, True], ids=["full-result", "stripped-result"])
async def test_a_click_on_delete_deletes_exactly_that_snapshot(
    settings: Settings, sim: Simulator, stripped: bool, tmp_path: Path
) -> None:
    """Delete is enabled once the server says pending; one click deletes exactly the snapshot, once."""
    async with connect(settings, sim, apps=True) as client:
        result = await open_card(client)
        async with hosting(client, result, {"snapshot_id": SEED_ID}, stripped) as host:
            await host.wait_status("Waiting for your decision")
            frame = host.frame
            assert await frame.evaluate("document.activeElement.id") == "keep"
            assert await frame.locator("#delete").is_enabled()
            assert await frame.locator(".id").first.text_content() == SEED_ID
            if not stripped:
                target = SCREENSHOT if os.environ.get("UPDATE_SNAPSHOTS") else tmp_path / SCREENSHOT.name
                await host.page.screenshot(path=str(target), clip={"x": 0, "y": 0, "width": 600, "height": 240})
            await frame.locator("#delete").click()
            status = await host.wait_status("deleted")
            assert await frame.locator("#delete").is_disabled()
            assert await frame.locator("#keep").is_disabled()
            await frame.locator("#delete").click(force=True)  # a second click on a disabled button does nothing
            calls = await host.tool_calls()
            size = await host.page.evaluate("window.lastSize")
            teardown = await host.page.evaluate("window.teardown()")
            ping = await host.page.evaluate("window.ping()")
    assert "the user confirmed in the card" in status
    assert [r.path.rsplit("/", 1)[1] for r in sent(sim, "DELETE")] == [SEED_ID]
    assert [c["name"] for c in calls] == ["deletion_request", "confirm_deletion"]
    assert calls[1]["arguments"]["decision"] == "delete"
    assert size["height"] > 0
    assert teardown["result"] == {}
    assert ping["result"] == {}
    assert host.requests == []


async def test_keep_deletes_nothing(settings: Settings, sim: Simulator) -> None:
    """Keep decides the request; nothing is deleted and both buttons go dead."""
    async with connect(settings, sim, apps=True) as client:
        result = await open_card(client)
        async with hosting(client, result, {"snapshot_id": SEED_ID}, False) as host:
            await host.wait_status("Waiting for your decision")
            await host.frame.locator("#keep").click()
            status = await host.wait_status("kept")
            assert await host.frame.locator("#delete").is_disabled()
    assert "Nothing was deleted" in status
    assert sent(sim, "DELETE") == []
    assert host.requests == []


async def test_a_hostile_name_renders_as_text_and_calls_nothing(settings: Settings, sim: Simulator) -> None:
    """A snapshot named like markup shows literally; its script never runs, so no tool call comes from it."""
    crafted = sim.add_snapshot(name=XSS_NAME, size=7, region="EUC-DE-MUC-1")["id"]
    async with connect(settings, sim, apps=True) as client:
        result = await open_card(client, crafted)
        async with hosting(client, result, {"snapshot_id": crafted}, False) as host:
            await host.wait_status("Waiting for your decision")
            shown = await host.frame.locator(".name").first.text_content()
            images = await host.frame.locator("img").count()
            calls = await host.tool_calls()
    assert shown == XSS_NAME
    assert images == 0
    assert [c["name"] for c in calls] == ["deletion_request"]
    assert sent(sim, "DELETE") == []
    assert host.requests == []


async def test_a_card_without_its_code_cannot_delete(settings: Settings, sim: Simulator) -> None:
    """Stripped result and the one-time reveal already spent (another card): Delete stays disabled."""
    async with connect(settings, sim, apps=True) as client:
        result = await open_card(client)
        meta = result.meta or {}
        request_id = meta["snapshot-mcp/confirmation"]["request_id"]
        await client.call_tool("deletion_request", {"request_id": request_id})  # the reveal goes elsewhere
        async with hosting(client, result, {"snapshot_id": SEED_ID}, True) as host:
            status = await host.wait_status("cannot confirm")
            assert await host.frame.locator("#delete").is_disabled()
    assert "Decide there" in status
    assert sent(sim, "DELETE") == []


def test_the_committed_screenshot_is_a_png() -> None:
    """README shows the card as this test renders it (refresh with UPDATE_SNAPSHOTS=1)."""
    data = SCREENSHOT.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5_000
    assert shutil.which("chromium") or Path(CHROMIUM).exists()
