"""`snapshot-mcp demo`: the newcomer's first command."""

from __future__ import annotations

import io
import re

import anyio
import pytest

from snapshot_mcp.cli import main
from snapshot_mcp.demo import _demo

pytestmark = pytest.mark.slow  # the whole guided tour, with the simulator's real-time creates


STEPS = 12


def _steps(text: str) -> list[int]:
    """The step numbers in the order the demo printed them."""
    return [int(number) for number in re.findall(r"^(\d+)\. ", text, flags=re.MULTILINE)]


def test_demo_runs_every_step_and_answers_itself_without_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """`snapshot-mcp demo --yes` answers both questions itself, says so, ends with the snapshots gone, exits 0."""
    with pytest.raises(SystemExit) as done:
        main(["demo", "--yes"], environ={})
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert _steps(text) == list(range(1, STEPS + 1))
    assert text.count("the demo answers yes for you") == 2
    assert "Delete this snapshot permanently? This cannot be undone." in text
    assert 'name "demo-ubuntu-24.04"' in text
    assert "Reused the identical recent import" in text
    assert "status=created" in text
    # 7: the copy in another region starts at once
    copy_step = text.split("\n7. copy_snapshot")[1].split("\n8. ")[0]
    assert "Copy started:" in copy_step
    assert "region=EUW-NL-AMS-1 status=creating" in copy_step
    # 8, 9: an instance is found, then snapshotted with progress until created
    instances = text.split("\n8. list_instances")[1].split("\n10. ")[0]
    assert "gpu-worker-1\tNORD-NO-KRS-1\tactive" in instances
    assert "… creating after 0s (waiting for created or error)" in instances
    assert "Snapshot started:" in instances
    assert "name=demo-gpu-worker-1-before-change size=256GiB" in instances
    assert "status=created" in instances
    # 10, 11: the single delete, then the lookup after it
    assert "deleted: Deleted; it is gone." in text
    assert "Not found" in text.split("\n11. get_snapshot again")[1]
    # 12: one question lists both snapshots; both deletions accepted
    cleanup = text.split("\n12. delete_snapshots")[1]
    assert cleanup.count("The server asks the user:") == 1
    assert "Delete these 2 snapshots permanently (276 GiB in all)?" in cleanup
    assert '"demo-ubuntu-24.04-ams"' in cleanup
    assert '"demo-gpu-worker-1-before-change"' in cleanup
    assert "status created" in cleanup  # the copy was ready before it was deleted
    assert "deleting: the API accepted all 2 deletions" in cleanup


def test_demo_at_a_terminal_asks_and_respects_no() -> None:
    """At a terminal the person answers each question; a no keeps the snapshots."""
    out = io.StringIO()
    asked: list[str] = []

    def say_no(prompt: str) -> bool:
        asked.append(prompt)
        return False

    async def run() -> int:
        return await _demo(out, say_no, interactive=True)

    assert anyio.run(run) == 0
    text = out.getvalue()
    assert asked == ["  Delete it? [y/N] ", "  Delete them? [y/N] "]
    assert text.count("Not deleted (declined)") == 2
    assert "status=created" in text.split("11. get_snapshot again")[1]
    assert "the demo answers yes for you" not in text
