"""Cold start: process spawn until the `initialize` result arrives over stdio.

    python -m bench.cold_start [--runs 21] [--script]

Alternates `python -m snapshot_mcp` (or, with `--script`, the `snapshot-mcp` console
script) and `python bench/bare_server.py`, swapping which goes first every run; the
ratio is the median over runs of project/bare, beside each one's median. The
initialize request is written the moment the process is spawned, as a client does;
the clock stops when its response line is read. The CPU time the server used until
then (from /proc) is reported beside: on a shared machine it varies less than the wall
time. The resident memory of each process right after
`initialize` (stdio, idle) is reported too.

Then each server is asked for `tools/list`, as a client does next: the time to that
answer (spawn to `initialize`, plus `tools/list` sent to answered; the pause before the
RSS reading left out) is reported for the record, because the project builds its tools
on that first request, after `initialize`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass

from ._common import (
    BARE_CMD,
    PROJECT_CMD,
    PROJECT_SCRIPT_CMD,
    Figure,
    StdioPeer,
    at_most,
    cpu_seconds,
    initialize_params,
    median,
    print_figures,
    rss_kib,
    server_env,
    spawn,
)

TARGET = 1.05
RSS_TARGET = 1.15


@dataclass(frozen=True)
class Start:
    """One start: seconds and server CPU seconds to the initialize result and to the first tools/list result."""

    elapsed: float
    cpu: float
    rss_kib: int
    to_tools: float
    cpu_to_tools: float


def once(cmd: Sequence[str]) -> Start:
    """Spawn `cmd`, time `initialize`, read the idle RSS, then time the first `tools/list`."""
    env = server_env("http://127.0.0.1:9/compute/v1")
    started = time.perf_counter()
    with spawn(cmd, env, stdin=True) as proc:
        peer = StdioPeer(proc)
        reply = peer.request("initialize", initialize_params())
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(proc.pid)
        assert "result" in reply, reply
        time.sleep(0.3)  # let any post-initialize work settle before reading RSS
        rss = rss_kib(proc.pid)
        peer.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        asked = time.perf_counter()
        tools = peer.request("tools/list")["result"]["tools"]
        to_tools = elapsed + time.perf_counter() - asked
        assert tools, "no tools listed"
        cpu_to_tools = cpu_seconds(proc.pid)
    return Start(elapsed, cpu, rss, to_tools, cpu_to_tools)


def run(runs: int = 21, *, script: bool = False) -> list[Figure]:
    project_cmd = PROJECT_SCRIPT_CMD if script else PROJECT_CMD
    name = "snapshot-mcp" if script else "python -m snapshot_mcp"
    starts: dict[str, list[Start]] = {"project": [], "bare": []}
    once(BARE_CMD)  # warm the OS file cache for both before measuring
    once(project_cmd)
    for i in range(runs):
        order = [("project", project_cmd), ("bare", BARE_CMD)]
        if i % 2:
            order.reverse()
        for key, cmd in order:
            starts[key].append(once(cmd))
    return _figures(starts, name, "_script" if script else "")


def _paired(starts: dict[str, list[Start]], field: str) -> tuple[float, float, float]:
    """The project's and the bare server's medians of `field`, and the median of their ratios run by run.

    Ratios of the two spawned back to back cancel load from other processes that drifts over seconds.
    """
    project = [float(getattr(start, field)) for start in starts["project"]]
    bare = [float(getattr(start, field)) for start in starts["bare"]]
    return median(project), median(bare), median([x / y for x, y in zip(project, bare, strict=True)])


def _figures(starts: dict[str, list[Start]], name: str, suffix: str) -> list[Figure]:
    p, b, ratio = _paired(starts, "elapsed")
    pc, bc, cpu_ratio = _paired(starts, "cpu")
    pr, br, _ = _paired(starts, "rss_kib")
    pt, bt, tools_ratio = _paired(starts, "to_tools")
    ptc, btc, tools_cpu_ratio = _paired(starts, "cpu_to_tools")
    runs = {
        "runs": len(starts["project"]),
        "project_ms": [round(start.elapsed * 1000, 1) for start in starts["project"]],
        "bare_ms": [round(start.elapsed * 1000, 1) for start in starts["bare"]],
    }
    return [
        Figure(
            "cold_start" + suffix,
            f"cold start to initialize ({name})",
            "ms",
            p * 1000,
            b * 1000,
            ratio,
            f"<= {TARGET:.2f}x",
            at_most(ratio, TARGET),
            detail=runs,
        ),
        Figure(
            "cold_start_cpu" + suffix,
            f"  its CPU time until initialize ({name})",
            "ms",
            pc * 1000,
            bc * 1000,
            cpu_ratio,
        ),
        Figure(
            "rss_stdio" + suffix,
            f"idle RSS after initialize ({name})",
            "MiB",
            pr / 1024,
            br / 1024,
            pr / br,
            f"<= {RSS_TARGET:.2f}x",
            at_most(pr / br, RSS_TARGET),
        ),
        Figure(
            "cold_start_tools" + suffix,
            f"cold start to first tools/list ({name})",
            "ms",
            pt * 1000,
            bt * 1000,
            tools_ratio,
        ),
        Figure(
            "cold_start_tools_cpu" + suffix,
            f"  its CPU time until tools/list ({name})",
            "ms",
            ptc * 1000,
            btc * 1000,
            tools_cpu_ratio,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--script", action="store_true", help="spawn the snapshot-mcp console script instead")
    args = parser.parse_args()
    print_figures(run(args.runs, script=args.script))


if __name__ == "__main__":
    main()
