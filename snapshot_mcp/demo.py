"""`snapshot-mcp demo`: what an assistant sees, shown against the embedded simulator.

An in-process MCP client drives the real server (the same tools, confirmation and
waits as in production) whose HTTP client talks to the simulator. The tour imports
an image, copies it to another region, snapshots an instance, deletes one snapshot
and then cleans up two with a single confirmation. At a terminal each delete
question is yours to answer; without one (or with `--yes`) the demo answers yes and
says so. The demo's simulator finishes a create in one second (the `--simulate`
server's takes two), so the tour stays short.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

import anyio
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, ErrorData
from pydantic import SecretStr

from .sending import build_http_client
from .server import build_server
from .settings import Settings
from .simulator import DEFAULT_TOKEN, Simulator

DEMO_IMAGE = "https://images.example.com/ubuntu-24.04-cuda-12.6.raw.zst"
DEMO_REGION = "NORD-NO-KRS-1"
COPY_REGION = "EUW-NL-AMS-1"
CREATE_SECONDS = 1.0
"""How long the demo's simulated creates take (imports, copies, instance snapshots)."""


def _say(out: TextIO, text: str = "") -> None:
    out.write(text + "\n")
    out.flush()


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


class _Asker:
    """The demo's elicitation callback: the person at the terminal answers, or the demo says yes."""

    def __init__(self, out: TextIO, confirm: Callable[[str], bool], interactive: bool) -> None:
        self.out = out
        self.confirm = confirm
        self.interactive = interactive
        self.prompt = "  Delete it? [y/N] "
        """What the person at the terminal is asked; the tour sets it before each delete."""

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
        _say(self.out, "  The server asks the user:")
        _say(self.out, _indent(params.message))
        if self.interactive:
            yes = self.confirm(self.prompt)
        else:
            _say(self.out, "  (no terminal, or --yes: the demo answers yes for you)")
            yes = True
        return ElicitResult(action="accept", content={"confirm": True}) if yes else ElicitResult(action="decline")


class _Tour:
    """The demo's steps, each a few tool calls shown as an assistant would see them."""

    def __init__(self, out: TextIO, client: Client, asker: _Asker) -> None:
        self.out = out
        self.client = client
        self.asker = asker

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
        _say(self.out, f"\n3. list_snapshots(region={DEMO_REGION!r}): the server scans every page and filters")
        await self.call("list_snapshots", {"region": DEMO_REGION})

    async def importing(self) -> str | None:
        args = {"name": "demo-ubuntu-24.04", "size": 20, "url": DEMO_IMAGE, "region": DEMO_REGION, "os_type": "linux"}
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

    async def copying(self, snapshot_id: str) -> str | None:
        args = {"snapshot_id": snapshot_id, "region": COPY_REGION, "name": "demo-ubuntu-24.04-ams"}
        _say(self.out, f"\n7. copy_snapshot({json.dumps(args)}): a copy in another region, returned at once")
        copied = await self.call("copy_snapshot", args)
        if copied.is_error or copied.structured_content is None:
            return None
        copy_id: str = copied.structured_content["snapshot"]["id"]
        return copy_id

    async def instances(self) -> str | None:
        _say(self.out, f"\n8. list_instances(region={DEMO_REGION!r}): find an instance to snapshot")
        listed = await self.call("list_instances", {"region": DEMO_REGION})
        found = (listed.structured_content or {}).get("instances", [])
        active = [instance for instance in found if instance.get("status") == "active"]
        if listed.is_error or not active:
            return None
        args = {"instance_id": active[0]["id"], "name": f"demo-{active[0]['name']}-before-change"}
        _say(self.out, f"\n9. snapshot_instance({json.dumps(args)}, wait=true): {active[0]['name']} is active")
        created = await self.call("snapshot_instance", {**args, "wait": True}, progress=True)
        if created.is_error or created.structured_content is None:
            return None
        snapshot_id: str = created.structured_content["snapshot"]["id"]
        return snapshot_id

    async def deleting(self, snapshot_id: str) -> None:
        _say(self.out, "\n10. delete_snapshot: the user confirms first")
        self.asker.prompt = "  Delete it? [y/N] "
        await self.call("delete_snapshot", {"snapshot_id": snapshot_id, "wait": True}, progress=True)
        _say(self.out, "\n11. get_snapshot again")
        await self.call("get_snapshot", {"snapshot_id": snapshot_id})

    async def cleanup(self, snapshot_ids: list[str]) -> None:
        _say(self.out, f"\n12. delete_snapshots: clean up the copy and the instance snapshot, {len(snapshot_ids)} ids")
        _say(self.out, "    with ONE confirmation that lists them all")
        self.asker.prompt = "  Delete them? [y/N] "
        await self.call("delete_snapshots", {"snapshot_ids": snapshot_ids})


async def _tour(tour: _Tour) -> int:
    """Every step in order; 1 when a step that later ones need failed."""
    await tour.offered_tools()
    await tour.listing()
    imported = await tour.importing()
    copied = await tour.copying(imported) if imported is not None else None
    # The instance snapshot's wait outlasts the copy, which was started first: both are ready after it.
    from_instance = await tour.instances() if copied is not None else None
    if imported is None or copied is None or from_instance is None:
        return 1
    await tour.deleting(imported)
    await tour.cleanup([copied, from_instance])
    return 0


async def _demo(out: TextIO, confirm: Callable[[str], bool], interactive: bool) -> int:
    simulator = Simulator(create_seconds=CREATE_SECONDS)
    settings = Settings(simulate=True, token=SecretStr(DEFAULT_TOKEN), wait_timeout=20.0)
    asker = _Asker(out, confirm, interactive)
    async with build_http_client(simulator.transport()) as http:
        server = build_server(settings, http=http, poll_interval=0.5)
        async with Client(server, elicitation_callback=asker) as client:
            _say(out, "snapshot-mcp demo: an MCP client driving the server against the embedded simulator")
            _say(out, "(no account, no network: nothing here touches Genesis Cloud)\n")
            code = await _tour(_Tour(out, client, asker))
            if code == 0:
                _say(out, "\nThat is the whole surface. Next: add it to your assistant (see the README).")
    return code


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
