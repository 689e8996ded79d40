"""`snapshot-mcp demo`: the newcomer's first command."""

import io

import anyio
import pytest

from snapshot_mcp.cli import main
from snapshot_mcp.demo import _demo

pytestmark = pytest.mark.slow  # the whole guided tour, with the simulator's real-time import


def test_demo_runs_every_step_and_answers_itself_without_a_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """`snapshot-mcp demo --yes` answers the prompt itself, says so, ends with the snapshot gone, exits 0."""
    with pytest.raises(SystemExit) as done:
        main(["demo", "--yes"], environ={})
    assert done.value.code == 0
    text = capsys.readouterr().out
    for step in range(1, 9):
        assert f"\n{step}. " in text or text.startswith(f"{step}. ")
    assert "the demo answers yes for you" in text
    assert "Delete this snapshot permanently? This cannot be undone." in text
    assert 'name "demo-ubuntu-24.04"' in text
    assert "Reused the identical recent import" in text
    assert "status=created" in text
    assert "deleted: Deleted; it is gone." in text
    assert "Not found" in text  # step 8: the lookup after the delete


def test_demo_at_a_terminal_asks_and_respects_no() -> None:
    """At a terminal the person answers; a no keeps the snapshot."""
    out = io.StringIO()
    asked: list[str] = []

    def say_no(prompt: str) -> bool:
        asked.append(prompt)
        return False

    async def run() -> int:
        return await _demo(out, say_no, interactive=True)

    assert anyio.run(run) == 0
    text = out.getvalue()
    assert asked == ["  Delete it? [y/N] "]
    assert "Not deleted (declined)" in text
    assert "status=created" in text.split("8. get_snapshot again")[1]
