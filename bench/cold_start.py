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
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

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

TARGET = 1.10
RSS_TARGET = 1.15


def once(cmd: Sequence[str]) -> tuple[float, float, int]:
    """(seconds from spawn to the initialize result, CPU seconds the server used until then, RSS in KiB)."""
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
    return elapsed, cpu, rss


def run(runs: int = 21, *, script: bool = False) -> list[Figure]:
    project_cmd = PROJECT_SCRIPT_CMD if script else PROJECT_CMD
    name = "snapshot-mcp" if script else "python -m snapshot_mcp"
    times: dict[str, list[float]] = {"project": [], "bare": []}
    cpus: dict[str, list[float]] = {"project": [], "bare": []}
    rss: dict[str, list[int]] = {"project": [], "bare": []}
    once(BARE_CMD)  # warm the OS file cache for both before measuring
    once(project_cmd)
    for i in range(runs):
        order = [("project", project_cmd), ("bare", BARE_CMD)]
        if i % 2:
            order.reverse()
        for key, cmd in order:
            elapsed, cpu, kib = once(cmd)
            times[key].append(elapsed)
            cpus[key].append(cpu)
            rss[key].append(kib)
    p, b = median(times["project"]) * 1000, median(times["bare"]) * 1000
    pr, br = median(rss["project"]) / 1024, median(rss["bare"]) / 1024
    pc, bc = median(cpus["project"]) * 1000, median(cpus["bare"]) * 1000
    # Ratios are medians over runs of project/bare (the two spawned back to back), which
    # cancels load from other processes that drifts over seconds.
    ratio = median([x / y for x, y in zip(times["project"], times["bare"], strict=True)])
    cpu_ratio = median([x / y for x, y in zip(cpus["project"], cpus["bare"], strict=True)])
    suffix = "_script" if script else ""
    return [
        Figure(
            "cold_start" + suffix,
            f"cold start to initialize ({name})",
            "ms",
            p,
            b,
            ratio,
            f"<= {TARGET:.2f}x",
            at_most(ratio, TARGET),
            detail={
                "runs": runs,
                "project_ms": [round(t * 1000, 1) for t in times["project"]],
                "bare_ms": [round(t * 1000, 1) for t in times["bare"]],
            },
        ),
        Figure(
            "cold_start_cpu" + suffix,
            f"  its CPU time until initialize ({name})",
            "ms",
            pc,
            bc,
            cpu_ratio,
        ),
        Figure(
            "rss_stdio" + suffix,
            f"idle RSS after initialize ({name})",
            "MiB",
            pr,
            br,
            pr / br,
            f"<= {RSS_TARGET:.2f}x",
            at_most(pr / br, RSS_TARGET),
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
