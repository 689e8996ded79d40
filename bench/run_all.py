"""Every benchmark, one after the other, in one run.

    python -m bench.run_all [--json bench-results.json] [--quick]

Prints each figure as a ratio with the absolute medians beside it, then a summary of
which targets are met. `--json PATH` writes the machine, the figures and their raw
details. `--quick` shrinks every benchmark (for a smoke test; don't quote its figures).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, datetime

from . import cold_start, http_load, limiter, per_call, scan, tokens
from ._common import Figure, machine, print_figures, write_json


def suites(quick: bool) -> list[tuple[str, Callable[[], list[Figure]]]]:
    if quick:
        return [
            ("tokens", lambda: tokens.run(wire=True)),
            ("cold start", lambda: cold_start.run(3) + cold_start.run(3, script=True)),
            ("per call", lambda: per_call.run(60)),
            ("scan", lambda: scan.run(1, 2_000)),
            ("limiter", lambda: limiter.run(5)),
            ("http", lambda: http_load.run(20, 5, 1, 5.0)),
        ]
    return [
        ("tokens", lambda: tokens.run(wire=True)),
        ("cold start", lambda: cold_start.run(21) + cold_start.run(11, script=True)),
        ("per call", lambda: per_call.run(500)),
        ("scan", lambda: scan.run(3)),
        ("limiter", lambda: limiter.run(21)),
        ("http", lambda: http_load.run(20, 10, 12, 10.0)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument("--quick", action="store_true", help="a smoke run with small sizes")
    args = parser.parse_args()
    info = machine()
    print(f"machine: {info['nproc']} cores, {info['cpu']}, Python {info['python']}, mcp {info['mcp']}")
    figures: list[Figure] = []
    seconds: dict[str, float] = {}
    for name, suite in suites(args.quick):
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        result = suite()
        seconds[name] = round(time.perf_counter() - started, 1)
        print_figures(result)
        figures.extend(result)
    targets = [f for f in figures if f.target]
    met = [f for f in targets if f.met]
    print(f"== {len(met)} of {len(targets)} targets met")
    for figure in targets:
        if not figure.met:
            print(f"   not met: {figure.label} ({figure.target})")
    if args.json:
        write_json(
            args.json,
            {
                "when": datetime.now(UTC).isoformat(timespec="seconds"),
                "quick": args.quick,
                "machine": info,
                "seconds": seconds,
                "figures": [f.as_dict() for f in figures],
            },
        )
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
