"""The MCP Inspector CLI (through npx) against the installed console script.

npx needs Node.js and the npm registry; a missing npx fails loudly rather than skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import SEED_ID

pytestmark = pytest.mark.slow  # npx and the installed console script, per test


INSPECTOR = "@modelcontextprotocol/inspector@2.12.0"


BIN = Path(sys.executable).parent


def _npx() -> str:
    npx = shutil.which("npx")
    if npx is None:
        pytest.fail("npx (Node.js) is required for the third-party checks")
    return npx


def _inspector(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [_npx(), "-y", INSPECTOR, "--cli", *args, "--", str(BIN / "snapshot-mcp"), "--simulate"]
    env = {**os.environ, "MCP_CATALOG_PATH": str(tmp_path / "catalog.json")}
    return subprocess.run(
        command, capture_output=True, text=True, env=env, timeout=300, check=False, stdin=subprocess.DEVNULL
    )


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (("--method", "tools/list"), '"name": "delete_snapshot"'),
        (("--method", "prompts/list"), '"name": "cleanup_snapshots"'),
        (
            ("--method", "prompts/get", "--prompt-name", "review_snapshot", "--prompt-args", f"snapshot_id={SEED_ID}"),
            SEED_ID,
        ),
        (("--method", "resources/templates/list"), "genesiscloud://snapshots/{snapshot_id}"),
        (("--method", "tools/call", "--tool-name", "list_snapshots", "--tool-arg", "per_page=2"), "page 1: 2 of 12"),
    ],
)
def test_inspector_cli(tmp_path: Path, args: tuple[str, ...], expect: str) -> None:
    """The MCP Inspector CLI talks to the installed console script and exits 0."""
    done = _inspector(tmp_path, *args)
    assert done.returncode == 0, done.stderr[-2000:]
    assert expect in done.stdout


def test_inspector_cli_reports_tool_errors(tmp_path: Path) -> None:
    """A tool error reaches the Inspector as isError (its exit code 5)."""
    done = _inspector(
        tmp_path, "--method", "tools/call", "--tool-name", "get_snapshot", "--tool-arg", "snapshot_id=../x"
    )
    assert done.returncode == 5
    assert '"isError": true' in done.stdout
