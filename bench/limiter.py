"""The rate limiter's cost below the limit: ten sequential `get_snapshot` calls.

    python -m bench.limiter [--runs 21] [--calls 10] [--latency 0.005]

The project's server runs in memory behind `mcp.Client`, its HTTP client on the
simulator's in-process transport with `--latency` seconds on every API answer. One
sample is `--calls` sequential `get_snapshot` calls on a fresh connection (so a fresh
limiter): with the shipped rate limit (10 requests/s) and with the limiter out of the
way (`--rate-limit 1e9`, the baseline), alternating in the same process. Ten calls at
10 requests/s are within the limit, so the window must add no wait: the figure is the
median ratio, target <= 1.2x. (That the window never lets more than the rate out in any
second is `bench.scan`'s second figure and tests/test_ratelimit.py's.)
"""

from __future__ import annotations

import argparse
import logging
import time

import anyio
import httpx
from mcp import Client
from pydantic import SecretStr

from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Faults, Simulator

from ._common import SNAPSHOT_ID, TOKEN, Figure, at_most, median, print_figures

TARGET = 1.2
SHIPPED = 10.0
OFF = 1e9


async def _sample(rate: float, calls: int, latency: float) -> float:
    """Seconds for `calls` sequential get_snapshot calls on a fresh connection at `rate`."""
    sim = Simulator(faults=Faults(latency=latency))
    settings = Settings(token=SecretStr(TOKEN), endpoint="http://127.0.0.1:9/compute/v1", rate_limit=rate)
    http = httpx.AsyncClient(transport=sim.transport())
    async with http, Client(build_server(settings, http=http)) as client:
        started = time.perf_counter()
        for _ in range(calls):
            result = await client.call_tool("get_snapshot", {"snapshot_id": SNAPSHOT_ID})
            if result.is_error:
                raise RuntimeError(f"get_snapshot failed: {result.content}")
        return time.perf_counter() - started


def run(runs: int = 21, calls: int = 10, latency: float = 0.005) -> list[Figure]:
    logging.basicConfig(level=logging.WARNING, force=True)
    anyio.run(_sample, OFF, calls, latency)  # warm-up: imports, schema building
    limited: list[float] = []
    unlimited: list[float] = []
    for _ in range(runs):
        limited.append(anyio.run(_sample, SHIPPED, calls, latency))
        unlimited.append(anyio.run(_sample, OFF, calls, latency))
    project, baseline = median(limited), median(unlimited)
    ratios = sorted(a / b for a, b in zip(limited, unlimited, strict=True))
    return [
        Figure(
            "limiter_below_rate",
            f"{calls} sequential get_snapshot calls, limiter at {SHIPPED:g}/s vs off",
            "ms",
            project * 1000,
            baseline * 1000,
            project / baseline,
            f"<= {TARGET:.1f}x",
            at_most(project / baseline, TARGET),
            baseline_label="limiter off",
            detail={"runs": runs, "latency_s": latency, "paired_ratio_median": ratios[len(ratios) // 2]},
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.005)
    args = parser.parse_args()
    print_figures(run(args.runs, args.calls, args.latency))


if __name__ == "__main__":
    main()
