"""Instructions executed from spawn to the `initialize` answer, project against bare, under callgrind.

    python -m bench.instructions [--script] [--to-tools]

A deterministic companion to `bench.cold_start` on a shared machine, where wall-clock
and CPU ratios of single starts scatter by ±20%: one start of each server under
`valgrind --tool=callgrind` (no cache or branch simulation), ended once its `initialize`
answer (with `--to-tools`: then its first `tools/list` answer) has been read; the figure
is callgrind's total instruction count (Ir). The same binary and inputs give the same
count to within a few million instructions. Each start takes about 1.5 minutes under
valgrind (`valgrind` must be installed).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ._common import (
    BARE_CMD,
    PROJECT_CMD,
    PROJECT_SCRIPT_CMD,
    Figure,
    StdioPeer,
    initialize_params,
    print_figures,
    server_env,
    spawn,
)


def instructions(cmd: Sequence[str], *, to_tools: bool = False) -> int:
    """Instructions `cmd` executed until its `initialize` (or first `tools/list`) answer was read, and it stopped."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("bench.instructions needs valgrind (apt-get install valgrind)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        tool = [valgrind, "--tool=callgrind", "--cache-sim=no", "--branch-sim=no", f"--callgrind-out-file={out}"]
        with spawn([*tool, *cmd], server_env("http://127.0.0.1:9/compute/v1"), stdin=True) as proc:
            peer = StdioPeer(proc)
            reply = peer.initialize() if to_tools else peer.request("initialize", initialize_params())
            assert "result" in reply, reply
            if to_tools:
                assert peer.request("tools/list")["result"]["tools"], "no tools listed"
        # spawn() ended the process; callgrind writes its totals as it goes.
        totals = [line for line in out.read_text().splitlines() if line.startswith("totals:")]
        return int(totals[0].split()[1])


def run(*, script: bool = False, to_tools: bool = False) -> list[Figure]:
    project_cmd = PROJECT_SCRIPT_CMD if script else PROJECT_CMD
    name = "snapshot-mcp" if script else "python -m snapshot_mcp"
    project, bare = instructions(project_cmd, to_tools=to_tools), instructions(BARE_CMD, to_tools=to_tools)
    until = "the first tools/list" if to_tools else "initialize"
    return [
        Figure(
            "cold_start_instructions" + ("_tools" if to_tools else "") + ("_script" if script else ""),
            f"instructions until {until} ({name})",
            "M",
            project / 1e6,
            bare / 1e6,
            project / bare,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--script", action="store_true", help="spawn the snapshot-mcp console script instead")
    parser.add_argument("--to-tools", action="store_true", help="count until the first tools/list answer")
    args = parser.parse_args()
    print_figures(run(script=args.script, to_tools=args.to_tools))


if __name__ == "__main__":
    main()
