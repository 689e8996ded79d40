"""`snapshot-mcp demo`: what an assistant sees, shown against the embedded simulator.

An in-process MCP client drives the real server (the same tools, confirmation and
waits as in production) whose HTTP client talks to the simulator. At a terminal the
delete prompt is yours to answer; without one (or with `--yes`) the demo answers it
and says so.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

import anyio
from mcp import Client
from mcp.client.session import ClientRequestContext, ElicitationFnT
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, ErrorData

from .server import build_server
from .settings import Settings

DEMO_IMAGE = "https://images.example.com/ubuntu-24.04-cuda-12.6.raw.zst"


def _say(out: TextIO, text: str = "") -> None:
    out.write(text + "\n")
    out.flush()


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


class _Tour:
    """The demo's steps, each a few tool calls shown as an assistant would see them."""

    def __init__(self, out: TextIO, client: Client) -> None:
        self.out = out
        self.client = client

    def show(self, result: CallToolResult) -> None:
        for block in result.content:
            text = getattr(block, "text", "")
            _say(self.out, _indent(("ERROR " if result.is_error else "") + text))

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        _say(self.out, f"  … {message or ''} [{progress:.0f}/{total or 0:.0f}s]")

    async def call(self, tool: str, arguments: dict[str, Any], *, progress: bool = False) -> CallToolResult:
        result = await self.client.call_tool(tool, arguments, progress_callback=self.progress if progress else None)
        self.show(result)
        return result

    async def offered_tools(self) -> None:
        _say(self.out, "1. The tools an assistant is offered:")
        for tool in (await self.client.list_tools()).tools:
            hints = tool.annotations
            kind = "read-only" if hints and hints.read_only_hint else "writes"
            kind = "destructive" if hints and hints.destructive_hint else kind
            _say(self.out, f"    {tool.name:<26} {tool.title or '':<26} ({kind})")

    async def listing(self) -> None:
        _say(self.out, "\n2. list_snapshots(per_page=5): one page, compact text")
        await self.call("list_snapshots", {"per_page": 5})
        _say(self.out, "\n3. list_snapshots(region='NORD-NO-KRS-1'): the server scans every page and filters")
        await self.call("list_snapshots", {"region": "NORD-NO-KRS-1"})

    async def importing(self) -> str | None:
        args = {
            "name": "demo-ubuntu-24.04",
            "size": 20,
            "url": DEMO_IMAGE,
            "region": "NORD-NO-KRS-1",
            "os_type": "linux",
        }
        _say(self.out, f"\n4. create_snapshot_from_url({json.dumps(args)}, wait=true)")
        created = await self.call("create_snapshot_from_url", {**args, "wait": True}, progress=True)
        if created.is_error or created.structured_content is None:
            return None
        _say(self.out, "\n5. The same call again (a model retrying after a time-out) returns the same import:")
        await self.call("create_snapshot_from_url", args)
        snapshot_id: str = created.structured_content["snapshot"]["id"]
        _say(self.out, f"\n6. get_snapshot({snapshot_id!r})")
        await self.call("get_snapshot", {"snapshot_id": snapshot_id})
        return snapshot_id

    async def deleting(self, snapshot_id: str) -> None:
        _say(self.out, "\n7. delete_snapshot: the user confirms first")
        await self.call("delete_snapshot", {"snapshot_id": snapshot_id, "wait": True}, progress=True)
        _say(self.out, "\n8. get_snapshot again")
        await self.call("get_snapshot", {"snapshot_id": snapshot_id})


def _asker(out: TextIO, confirm: Callable[[str], bool], interactive: bool) -> ElicitationFnT:
    """The demo's elicitation callback: the person at the terminal answers, or the demo says yes."""

    async def on_elicit(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
        _say(out, "  The server asks the user:")
        _say(out, _indent(params.message))
        if interactive:
            yes = confirm("  Delete it? [y/N] ")
        else:
            _say(out, "  (no terminal, or --yes: the demo answers yes for you)")
            yes = True
        return ElicitResult(action="accept", content={"confirm": True}) if yes else ElicitResult(action="decline")

    return on_elicit


async def _demo(out: TextIO, confirm: Callable[[str], bool], interactive: bool) -> int:
    server = build_server(Settings(simulate=True, wait_timeout=20.0), poll_interval=0.5)
    async with Client(server, elicitation_callback=_asker(out, confirm, interactive)) as client:
        _say(out, "snapshot-mcp demo: an MCP client driving the server against the embedded simulator")
        _say(out, "(no account, no network: nothing here touches Genesis Cloud)\n")
        tour = _Tour(out, client)
        await tour.offered_tools()
        await tour.listing()
        snapshot_id = await tour.importing()
        if snapshot_id is None:
            return 1
        await tour.deleting(snapshot_id)
        _say(out, "\nThat is the whole surface. Next: add it to your assistant (see the README).")
    return 0


def _ask(prompt: str) -> bool:
    try:
        return input(prompt).strip().lower() in ("y", "yes")
    except EOFError:
        return False


def run_demo(*, assume_yes: bool = False, out: TextIO | None = None, confirm: Callable[[str], bool] = _ask) -> int:
    """Run the demo; returns the process exit code."""
    stream: TextIO = out if out is not None else sys.stdout
    interactive = not assume_yes and sys.stdin.isatty() and stream.isatty()

    async def main() -> int:
        return await _demo(stream, confirm, interactive)

    return anyio.run(main)
