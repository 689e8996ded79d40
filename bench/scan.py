"""Scans: a filtered `list_snapshots` over 10,000 simulated snapshots.

    python -m bench.scan [--runs 3] [--snapshots 10000] [--latency 0.05]

The project's server (shipped settings: 10 requests/s) runs in memory behind
`mcp.Client`; its HTTP client goes through the simulator's in-process transport with
50 ms of latency on every request (`Faults(latency=0.05)`), wrapped by a transport
that timestamps each request as it is sent. The floor is the rate limit's:
pages / rate seconds (100 pages at 10 requests/s: 10 s). Reported: wall time against
that floor, and the highest request rate seen in any 1-second window, which must never
exceed the configured rate.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import logging
import math
import time

import anyio
import httpx
from mcp import Client
from pydantic import SecretStr

from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Faults, Simulator

from ._common import TOKEN, Figure, at_most, median, print_figures

TARGET = 1.15
PER_PAGE = 100  # what the project's scan requests per page (the API's maximum)
WINDOW = 1.0
SLACK = 0.002  # timer wake-up jitter tolerated when counting a window (2 ms)


class StampedTransport(httpx.AsyncBaseTransport):
    """Records `time.monotonic()` as each request leaves, then passes it on."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.stamps: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.stamps.append(time.monotonic())
        return await self.inner.handle_async_request(request)


def max_in_window(stamps: list[float], window: float = WINDOW, slack: float = SLACK) -> int:
    """The most requests sent within any half-open window of `window` seconds (minus `slack`)."""
    ordered = sorted(stamps)
    return max((bisect.bisect_left(ordered, start + window - slack) - i for i, start in enumerate(ordered)), default=0)


async def _scan(snapshots: int, latency: float) -> tuple[float, list[float], float, str]:
    sim = Simulator(seed=False, faults=Faults(latency=latency))
    sim.add_many(snapshots)
    transport = StampedTransport(sim.transport())
    settings = Settings(token=SecretStr(TOKEN), endpoint="http://127.0.0.1:9/compute/v1")
    async with httpx.AsyncClient(transport=transport) as http:
        server = build_server(settings, http=http)
        async with Client(server) as client:
            started = time.monotonic()
            result = await client.call_tool("list_snapshots", {"status": "created", "name_contains": "bulk-0999"})
            elapsed = time.monotonic() - started
    if result.is_error or result.structured_content is None:
        raise RuntimeError(f"list_snapshots failed: {result.content}")
    structured = result.structured_content
    if structured.get("scanned") != snapshots or not structured.get("complete"):
        raise RuntimeError(f"the scan did not read everything: {structured.get('scanned')} of {snapshots}")
    text = result.content[0].text if result.content and result.content[0].type == "text" else ""
    return elapsed, transport.stamps, settings.rate_limit, text.splitlines()[0]


def run(runs: int = 3, snapshots: int = 10_000, latency: float = 0.05) -> list[Figure]:
    logging.basicConfig(level=logging.WARNING, force=True)
    walls: list[float] = []
    worst_rate = 0
    min_gap = math.inf
    requests = 0
    rate = 10.0
    head = ""
    for _ in range(runs):
        elapsed, stamps, rate, head = anyio.run(_scan, snapshots, latency)
        walls.append(elapsed)
        worst_rate = max(worst_rate, max_in_window(stamps))
        gaps = [b - a for a, b in itertools.pairwise(stamps)]
        min_gap = min(min_gap, *gaps) if gaps else min_gap
        requests = len(stamps)
    pages = math.ceil(snapshots / PER_PAGE)
    floor = pages / rate
    wall = median(walls)
    return [
        Figure(
            "scan_wall",
            f"filtered scan, {snapshots:,} snapshots ({pages} pages)",
            "s",
            wall,
            floor,
            wall / floor,
            f"<= {TARGET:.2f}x",
            at_most(wall / floor, TARGET),
            baseline_label="floor",
            detail={"runs": walls, "requests": requests, "rate_limit": rate, "latency_s": latency, "result": head},
        ),
        Figure(
            "scan_rate",
            "scan: most requests in any 1 s window",
            "req",
            float(worst_rate),
            rate,
            worst_rate / rate,
            f"<= {rate:g} req/s",
            worst_rate <= rate,
            baseline_label="limit",
            detail={"min_gap_ms": min_gap * 1000},
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--snapshots", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05)
    args = parser.parse_args()
    print_figures(run(args.runs, args.snapshots, args.latency))


if __name__ == "__main__":
    main()
