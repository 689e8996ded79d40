"""Where an in-memory `get_snapshot` call spends its time: project against bare, with pyinstrument.

    (pyinstrument comes with the project's dev extra)
    python -m bench.profile_call [--calls 3000] [--out DIR]

Runs `--calls` calls through `mcp.Client(server)` (mode "auto") for each server with the
sampling profiler on, prints the share of the call spent in a few named places (the
client's validation of `structuredContent` against the tool's `outputSchema`, the tool
function, its HTTP request), and writes each full profile as text to `DIR`.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import Client
from mcp.server.mcpserver import MCPServer
from pydantic import SecretStr

from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator

from ._common import SNAPSHOT_ID, TOKEN, UNTHROTTLED
from .bare_server import build_bare_server

PLACES = {  # label: (function names, a part of their file's path)
    "client: validate structuredContent vs outputSchema": (("validate_tool_result",), "mcp/client/session.py"),
    "server: the tool function, all of it": (("get_snapshot",), ""),
    # the bare server calls `AsyncClient.request`; the project builds its request and calls `send` (streamed)
    "server:   its HTTP request (httpx + the simulator)": (("request", "send"), "httpx/_client.py"),
}


def _frames_time(root: object, functions: tuple[str, ...], path: str) -> float:
    """Seconds spent in frames of `functions` in a file matching `path` (outermost occurrence on each path)."""
    from pyinstrument.frame import Frame

    assert isinstance(root, Frame)
    total = 0.0
    stack: list[Frame] = [root]
    while stack:
        frame = stack.pop()
        if frame.function in functions and path in (frame.file_path or ""):
            total += frame.time
            continue
        stack.extend(frame.children)
    return total


async def _profile(which: str, calls: int, interval: float) -> tuple[float, dict[str, float], str]:
    from pyinstrument import Profiler

    async with httpx.AsyncClient(transport=Simulator().transport()) as http:
        endpoint = "http://127.0.0.1:9/compute/v1"
        server: MCPServer[Any]
        if which == "project":
            settings = Settings(token=SecretStr(TOKEN), endpoint=endpoint, rate_limit=float(UNTHROTTLED))
            server = build_server(settings, http=http)
        else:
            server = build_bare_server(http=http, endpoint=endpoint, token=TOKEN)
        async with Client(server) as client:
            for _ in range(200):
                await client.call_tool("get_snapshot", {"snapshot_id": SNAPSHOT_ID})
            profiler = Profiler(interval=interval, async_mode="disabled")
            profiler.start()
            started = time.perf_counter()
            for _ in range(calls):
                await client.call_tool("get_snapshot", {"snapshot_id": SNAPSHOT_ID})
            elapsed = time.perf_counter() - started
            session = profiler.stop()
    root = session.root_frame()
    total = root.time if root is not None else 0.0
    shares = {label: _frames_time(root, *place) / total if total else 0.0 for label, place in PLACES.items()}
    return elapsed / calls, shares, profiler.output_text(unicode=False, color=False)


def _print(rows: Iterable[tuple[str, float, dict[str, float]]]) -> None:
    for which, per_call, shares in rows:
        print(f"{which}: {per_call * 1e6:.0f} us per call under the profiler")
        for label, share in shares.items():
            print(f"   {share * 100:5.1f}%  {label}  (~{share * per_call * 1e6:.0f} us)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--interval", type=float, default=0.001, help="sampling interval, seconds")
    parser.add_argument("--out", type=Path, default=Path("bench-profiles"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, force=True)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for which in ("project", "bare"):
        per_call, shares, text = anyio.run(_profile, which, args.calls, args.interval)
        (args.out / f"call-{which}.txt").write_text(text)
        rows.append((which, per_call, shares))
    _print(rows)
    print(f"full profiles: {args.out}/call-project.txt, {args.out}/call-bare.txt")


if __name__ == "__main__":
    main()
