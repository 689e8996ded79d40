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
from typing import TextIO

import anyio
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, ErrorData

from .server import build_server
from .settings import Settings

DEMO_IMAGE = "https://images.example.com/ubuntu-24.04-cuda-12.6.raw.zst"


def _say(out: TextIO, text: str = "") -> None:
    out.write(text + "\n")
    out.flush()


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


async def _demo(out: TextIO, confirm: Callable[[str], bool], interactive: bool) -> int:
    settings = Settings(simulate=True, wait_timeout=20.0)
    server = build_server(settings, poll_interval=0.5)

    async def on_elicit(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
        _say(out, "  The server asks the user:")
        _say(out, _indent(params.message))
        if interactive:
            yes = confirm("  Delete it? [y/N] ")
        else:
            _say(out, "  (no terminal, or --yes: the demo answers yes for you)")
            yes = True
        return ElicitResult(action="accept", content={"confirm": True}) if yes else ElicitResult(action="decline")

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        _say(out, f"  … {message or ''} [{progress:.0f}/{total or 0:.0f}s]")

    def show(result: CallToolResult) -> None:
        for block in result.content:
            text = getattr(block, "text", "")
            _say(out, _indent(("ERROR " if result.is_error else "") + text))

    async with Client(server, elicitation_callback=on_elicit) as client:
        _say(out, "snapshot-mcp demo: an MCP client driving the server against the embedded simulator")
        _say(out, "(no account, no network: nothing here touches Genesis Cloud)\n")

        tools = await client.list_tools()
        _say(out, "1. The tools an assistant is offered:")
        for tool in tools.tools:
            hints = tool.annotations
            kind = (
                "read-only"
                if hints and hints.read_only_hint
                else "destructive"
                if hints and hints.destructive_hint
                else "writes"
            )
            _say(out, f"    {tool.name:<26} {tool.title or '':<26} ({kind})")

        _say(out, "\n2. list_snapshots(per_page=5): one page, compact text")
        show(await client.call_tool("list_snapshots", {"per_page": 5}))

        _say(out, "\n3. list_snapshots(region='NORD-NO-KRS-1'): the server scans every page and filters")
        show(await client.call_tool("list_snapshots", {"region": "NORD-NO-KRS-1"}))

        args = {
            "name": "demo-ubuntu-24.04",
            "size": 20,
            "url": DEMO_IMAGE,
            "region": "NORD-NO-KRS-1",
            "os_type": "linux",
        }
        _say(out, f"\n4. create_snapshot_from_url({json.dumps(args)}, wait=true)")
        created = await client.call_tool(
            "create_snapshot_from_url", {**args, "wait": True}, progress_callback=on_progress
        )
        show(created)
        if created.is_error or created.structured_content is None:
            return 1
        snapshot_id: str = created.structured_content["snapshot"]["id"]

        _say(out, "\n5. The same call again (a model retrying after a time-out) returns the same import:")
        again = await client.call_tool("create_snapshot_from_url", args)
        show(again)

        _say(out, f"\n6. get_snapshot({snapshot_id!r})")
        show(await client.call_tool("get_snapshot", {"snapshot_id": snapshot_id}))

        _say(out, "\n7. delete_snapshot: the user confirms first")
        deleted = await client.call_tool(
            "delete_snapshot", {"snapshot_id": snapshot_id, "wait": True}, progress_callback=on_progress
        )
        show(deleted)

        _say(out, "\n8. get_snapshot again")
        show(await client.call_tool("get_snapshot", {"snapshot_id": snapshot_id}))

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
