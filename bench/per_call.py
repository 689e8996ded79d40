"""Per call: sequential `get_snapshot` calls, project against the bare server.

    python -m bench.per_call [--calls 500] [--only stdio|memory]

Two comparisons, each alternating the two servers in rounds of `--calls` calls (the
order swaps every round) and comparing the median latency of a call:

* stdio: both servers as child processes, talking to one simulator served over HTTP on
  loopback (`snapshot_mcp.simulator.serve`); the client is a raw blocking JSON-RPC
  peer, so it adds next to nothing.
* in memory: `mcp.Client(server)` in this process (mode "auto" and "legacy"), each
  server's HTTP client going through the simulator's in-process httpx transport.

The project runs with its API rate limit lifted (`--rate-limit 1e9`): the baseline has
no limiter. With the shipped 10 requests/s, calls beyond ten in one second wait for the
sliding window; that shipped figure is reported separately (no target).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Awaitable, Callable

import anyio
import httpx
from mcp import Client
from pydantic import SecretStr

from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator

from ._common import (
    BARE_CMD,
    PROJECT_CMD,
    PROJECT_UNTHROTTLED_CMD,
    SNAPSHOT_ID,
    TOKEN,
    UNTHROTTLED,
    Figure,
    StdioPeer,
    at_most,
    cpu_seconds,
    median,
    print_figures,
    server_env,
    simulator_process,
    spawn,
)
from .bare_server import build_bare_server

TARGET = 1.20
WARMUP = 30


def _alternate(project: Callable[[], float], bare: Callable[[], float], calls: int) -> tuple[list[float], list[float]]:
    """`calls` timed calls of each, interleaved one by one (the order swapping every pair)."""
    for _ in range(WARMUP):
        project()
        bare()
    p: list[float] = []
    b: list[float] = []
    for i in range(calls):
        if i % 2:
            b.append(bare())
            p.append(project())
        else:
            p.append(project())
            b.append(bare())
    return p, b


def _timed(peer: StdioPeer) -> Callable[[], float]:
    def call() -> float:
        started = time.perf_counter()
        peer.call_tool("get_snapshot", {"snapshot_id": SNAPSHOT_ID})
        return time.perf_counter() - started

    return call


def stdio(calls: int) -> list[Figure]:
    with simulator_process() as endpoint:
        with (
            spawn(PROJECT_UNTHROTTLED_CMD, server_env(endpoint), stdin=True) as project_proc,
            spawn(BARE_CMD, server_env(endpoint), stdin=True) as bare_proc,
        ):
            project, bare = StdioPeer(project_proc), StdioPeer(bare_proc)
            project.initialize()
            bare.initialize()
            before = {"project": cpu_seconds(project_proc.pid), "bare": cpu_seconds(bare_proc.pid)}
            p, b = _alternate(_timed(project), _timed(bare), calls)
            calls_made = len(p) + WARMUP
            cpu = {
                "project": (cpu_seconds(project_proc.pid) - before["project"]) / calls_made * 1000,
                "bare": (cpu_seconds(bare_proc.pid) - before["bare"]) / calls_made * 1000,
            }
        # The shipped limiter (10 requests/s), for the record: past ten in a second, calls wait for the window.
        with spawn(PROJECT_CMD, server_env(endpoint), stdin=True) as shipped_proc:
            shipped = StdioPeer(shipped_proc)
            shipped.initialize()
            call = _timed(shipped)
            s = [call() for _ in range(20)]
    pm, bm, sm = median(p) * 1000, median(b) * 1000, median(s) * 1000
    return [
        Figure(
            "per_call_stdio",
            "per call, stdio -> loopback HTTP simulator",
            "ms",
            pm,
            bm,
            pm / bm,
            f"<= {TARGET:.2f}x",
            at_most(pm / bm, TARGET),
            detail={"calls": len(p), "p90_project_ms": _p90(p) * 1000, "p90_bare_ms": _p90(b) * 1000},
        ),
        Figure(
            "per_call_stdio_server_cpu",
            "per call, stdio: server CPU time per call",
            "ms",
            cpu["project"],
            cpu["bare"],
            cpu["project"] / cpu["bare"],
        ),
        Figure(
            "per_call_stdio_shipped_limit",
            "per call, stdio, shipped 10 req/s limit",
            "ms",
            sm,
            bm,
            sm / bm,
            detail={"note": "past ten calls in a second, calls wait for the rate window (by design)"},
        ),
    ]


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[int(0.9 * (len(ordered) - 1))]


async def _in_memory(mode: str, calls: int) -> tuple[list[float], list[float]]:
    settings = Settings(token=SecretStr(TOKEN), endpoint="http://127.0.0.1:9/compute/v1", rate_limit=float(UNTHROTTLED))
    async with (
        httpx.AsyncClient(transport=Simulator().transport()) as project_http,
        httpx.AsyncClient(transport=Simulator().transport()) as bare_http,
    ):
        project_server = build_server(settings, http=project_http)
        bare_server = build_bare_server(http=bare_http, endpoint=settings.endpoint, token=TOKEN)
        async with Client(project_server, mode=mode) as project, Client(bare_server, mode=mode) as bare:

            def timed(client: Client) -> Callable[[], Awaitable[float]]:
                async def call() -> float:
                    started = time.perf_counter()
                    result = await client.call_tool("get_snapshot", {"snapshot_id": SNAPSHOT_ID})
                    elapsed = time.perf_counter() - started
                    if result.is_error:
                        raise RuntimeError(f"get_snapshot failed: {result.content}")
                    return elapsed

                return call

            p_call, b_call = timed(project), timed(bare)
            for _ in range(WARMUP):
                await p_call()
                await b_call()
            p: list[float] = []
            b: list[float] = []
            for i in range(calls):
                if i % 2:
                    b.append(await b_call())
                    p.append(await p_call())
                else:
                    p.append(await p_call())
                    b.append(await b_call())
            return p, b


def in_memory(calls: int) -> list[Figure]:
    # As under the CLI: nothing logged per request. (MCPServer's constructor would
    # otherwise set up root logging at INFO, and httpx would log every request.)
    logging.basicConfig(level=logging.WARNING, force=True)
    figures = []
    for mode in ("auto", "legacy"):
        p, b = anyio.run(_in_memory, mode, calls)
        pm, bm = median(p) * 1000, median(b) * 1000
        figures.append(
            Figure(
                f"per_call_memory_{mode}",
                f"per call, in memory (Client mode={mode})",
                "ms",
                pm,
                bm,
                pm / bm,
                f"<= {TARGET:.2f}x",
                at_most(pm / bm, TARGET),
                detail={"calls": len(p)},
            )
        )
    return figures


def run(calls: int = 500, only: str | None = None) -> list[Figure]:
    return (stdio(calls) if only != "memory" else []) + (in_memory(calls) if only != "stdio" else [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="timed calls per server and comparison")
    parser.add_argument("--only", choices=("stdio", "memory"), help="one of the two comparisons")
    args = parser.parse_args()
    print_figures(run(args.calls, args.only))


if __name__ == "__main__":
    main()
