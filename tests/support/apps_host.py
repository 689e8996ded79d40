"""The confirmation card inside the official MCP Apps host, in Debian's Chromium.

The host is `AppBridge` from `@modelcontextprotocol/ext-apps` 2.0.4 (pinned in
`tests/host/package.json`, installed with `npm ci --prefix tests/host`, which `.ci/run`
does), wired in `tests/host/host.js` as the ext-apps basic-host example wires it, and
bundled with esbuild into one script for a test page. The page shows the card
(`CARD_URI`, read from the server) in a sandboxed frame; the bridge hands the card's
tool calls to a Python function that calls the real server through an MCP client. The
page is loaded with `set_content` and the card with `srcdoc`: any network request at all
is recorded, and the tests require none.

Playwright drives Debian's `chromium` through `executable_path` (no browser download);
each launch gets a fresh temporary profile. `scripts/card_screenshots.py` uses this same
harness for the README's pictures.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.types import CallToolResult, TextResourceContents

from snapshot_mcp.apps import CARD_URI

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
HOST_DIR = Path(__file__).resolve().parents[1] / "host"
WIDTH = 560
"""The chat column's width, the frame's too."""
FIRST_HEIGHT = 600
"""The frame's height before the card reports its own (a host's default)."""

LIGHT: dict[str, Any] = {
    "theme": "light",
    "displayMode": "inline",
    "availableDisplayModes": ["inline"],
    "platform": "desktop",
}
DARK_STYLES = {
    "--color-background-primary": "light-dark(rgb(255, 255, 255), rgb(48, 48, 46))",
    "--color-text-primary": "light-dark(rgb(20, 20, 19), rgb(250, 249, 245))",
    "--color-text-secondary": "light-dark(rgb(61, 61, 58), rgb(194, 192, 182))",
    "--color-border-primary": "light-dark(rgb(222, 220, 209), rgb(74, 73, 69))",
    "--font-sans": '"DejaVu Sans", sans-serif',
}
"""Style variables as a host sends them (`light-dark()` values, as the spec advises)."""
DARK: dict[str, Any] = {**LIGHT, "theme": "dark", "styles": {"variables": DARK_STYLES}}
PAGE_BACKGROUND = {"light": "#f5f5f3", "dark": "#262624"}

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>MCP Apps test host</title>
<style>
  body {{ margin: 0; padding: 16px; background: {background}; }}
  #chat {{ width: {width}px; }}
  #view {{ display: block; width: 100%; height: {height}px; border: 0; border-radius: 8px; }}
</style></head>
<body><div id="chat"></div></body></html>"""


class HostNotInstalled(RuntimeError):
    """The host's npm packages are missing: run `npm ci --prefix tests/host` (bash .ci/run does)."""


@functools.cache
def host_script() -> str:
    """tests/host/host.js and AppBridge, bundled by esbuild into one browser script (once per process)."""
    esbuild = HOST_DIR / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        raise HostNotInstalled(f"{esbuild} is missing: run `npm ci --prefix tests/host` (bash .ci/run does)")
    done = subprocess.run(
        [str(esbuild), "host.js", "--bundle", "--format=iife", "--platform=browser", "--log-level=warning"],
        cwd=HOST_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise HostNotInstalled(f"esbuild could not bundle the host: {done.stderr[-2000:]}")
    return done.stdout


def wire(result: CallToolResult, *, stripped: bool = False) -> dict[str, Any]:
    """The tool result as a host forwards it; `stripped`: as Claude Desktop does (no _meta, no structuredContent)."""
    data: dict[str, Any] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
    if stripped:
        data.pop("_meta", None)
        data.pop("structuredContent", None)
    return data


@dataclass
class Host:
    """The host page with the card inside; what the card asked of the server and of the network."""

    page: Any
    frame: Any = None
    requests: list[str] = field(default_factory=list)
    """Every network request the page or the card made (the card must make none)."""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """The card's tool calls as the bridge handed them over: name and arguments."""
    console: list[str] = field(default_factory=list)
    """Warnings and errors on the page's console (AppBridge reports protocol misuse there)."""

    async def wait_text(self, element: str, words: str) -> str:
        """The text of the card's element `#element` once it contains `words`."""
        await self.frame.wait_for_function(
            "([id, words]) => document.getElementById(id).textContent.includes(words)",
            arg=[element, words],
            timeout=10_000,
        )
        text: str = await self.frame.locator(f"#{element}").text_content()
        return text

    async def wait_status(self, words: str) -> str:
        return await self.wait_text("status", words)

    async def texts(self) -> dict[str, str]:
        """What a person reads: the title, the status line, the note and each row's facts."""
        shown: dict[str, str] = await self.frame.evaluate(
            """() => ({title: document.getElementById("title").textContent,
                       status: document.getElementById("status").textContent,
                       note: document.getElementById("note").textContent,
                       rows: Array.from(document.querySelectorAll("#rows li"), (li) => li.textContent).join("\\n")})"""
        )
        return shown

    async def view_messages(self) -> list[dict[str, Any]]:
        """Every message the card posted to the host, in order."""
        messages: list[dict[str, Any]] = await self.page.evaluate("window.viewMessages")
        return messages

    async def settled(self) -> tuple[float, float]:
        """(frame height, card content height) once the frame has the height the card last reported,
        and that report is of the card as it is now.

        The content height is the card's own body box, measured inside the card. After a change
        (a decision) the frame may still hold the previous report for a moment: then wait for the
        card's next report, which the change makes it send.
        """
        while True:
            await self.page.wait_for_function(
                """() => window.sizes.length > 0 &&
                     document.getElementById("view").getBoundingClientRect().height === window.sizes.at(-1).height""",
                timeout=10_000,
            )
            await self.frame.evaluate("() => new Promise((done) => requestAnimationFrame(() => done(null)))")
            reports: int = await self.page.evaluate("window.sizes.length")
            frame: float = await self.page.evaluate("document.getElementById('view').getBoundingClientRect().height")
            content: float = await self.frame.evaluate("document.body.getBoundingClientRect().height")
            if abs(frame - content) <= 1 or await self._capped(frame):
                return frame, content
            await self.page.wait_for_function("(seen) => window.sizes.length > seen", arg=reports, timeout=10_000)

    async def _capped(self, frame: float) -> bool:
        """The host caps the frame (containerDimensions): a taller card scrolls, and the frame stays put."""
        limit: float | None = await self.page.evaluate(
            "window.cardHost.maxHeight === undefined ? null : window.cardHost.maxHeight"
        )
        return limit is not None and frame >= limit

    async def set_host_context(self, context: dict[str, Any]) -> None:
        """The host's context changes (AppBridge sends `ui/notifications/host-context-changed`)."""
        await self.page.evaluate("(context) => window.cardHost.setHostContext(context)", context)

    async def screenshot(self, path: Path) -> None:
        """The chat column with the card, as a person sees it."""
        box = await self.page.locator("#chat").bounding_box()
        pad = 16  # the page's padding around the chat column
        width, height = box["width"] + 2 * pad, box["height"] + 2 * pad
        await self.page.screenshot(
            path=str(path), clip={"x": box["x"] - pad, "y": box["y"] - pad, "width": width, "height": height}
        )


@asynccontextmanager
async def launched() -> AsyncIterator[Any]:
    """Debian's Chromium, headless, through Playwright; a fresh temporary profile each launch."""
    if not await anyio.Path(CHROMIUM).exists():
        raise HostNotInstalled(f"{CHROMIUM} is missing: install Debian's chromium (bash .ci/run does)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield chromium
        finally:
            await chromium.close()


_SHARED: dict[str, Any] = {}
"""The Chromium `shared_browser` launched, while it lives."""


@asynccontextmanager
async def shared_browser() -> AsyncIterator[None]:
    """One Chromium that `browser()` lends out until the block ends (a launch costs seconds of CPU)."""
    async with launched() as chromium:
        _SHARED["chromium"] = chromium
        try:
            yield
        finally:
            _SHARED.pop("chromium", None)


@asynccontextmanager
async def browser() -> AsyncIterator[Any]:
    """A headless Chromium: the shared one if `shared_browser` runs, else one launched for this block.

    Whatever the block opens in a shared one (its pages, each in a context of its own: no
    cookies, storage or cache in common) is closed when the block ends.
    """
    chromium = _SHARED.get("chromium")
    if chromium is None:
        async with launched() as own:
            yield own
        return
    before = list(chromium.contexts)
    try:
        yield chromium
    finally:
        for context in chromium.contexts:
            if context not in before:
                await context.close()


@asynccontextmanager
async def official_host(
    client: Client,
    result: CallToolResult,
    arguments: dict[str, Any],
    *,
    stripped: bool = False,
    context: dict[str, Any] | None = None,
) -> AsyncIterator[Host]:
    """The card for `result` in the AppBridge host, after `initialized`; its tool calls go to `client`."""
    script = host_script()
    resource = await client.read_resource(CARD_URI)
    [html] = resource.contents
    assert isinstance(html, TextResourceContents)
    context = LIGHT if context is None else context
    here = contextvars.copy_context()
    async with browser() as chromium:
        page = await chromium.new_page(viewport={"width": WIDTH + 40, "height": FIRST_HEIGHT + 40})
        host = Host(page)

        async def call_tool(name: str, args: dict[str, Any]) -> dict[str, Any]:
            host.tool_calls.append({"name": name, "arguments": args})
            # Playwright calls this from its own task, which a shared browser started elsewhere: the call
            # runs in this block's context, where the test's connection (its API, store, clock) is set.
            call = asyncio.get_running_loop().create_task(client.call_tool(name, args), context=here)
            return wire(await call)

        page.on("request", lambda request: host.requests.append(request.url))
        page.on("console", lambda m: host.console.append(m.text) if m.type in ("warning", "error") else None)
        await page.expose_function("callTool", call_tool)
        background = PAGE_BACKGROUND[context.get("theme", "light")]
        await page.set_content(PAGE.format(background=background, width=WIDTH, height=FIRST_HEIGHT))
        await page.add_script_tag(content=script)
        shown = {"html": html.text, "toolInput": arguments, "toolResult": wire(result, stripped=stripped)}
        await page.evaluate("(shown) => window.cardHost.show({...shown, hostContext: shown.context})",
                            {**shown, "context": context})  # fmt: skip
        host.frame = page.frames[1]
        yield host
