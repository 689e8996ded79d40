"""`confirm.unconfirmed`: `--delete-confirmation none` deletes at once, and still only once."""

from __future__ import annotations

from mcp.types import ElicitResult

from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator
from tests.support import (
    SEED_ID,
    SEED_PATH,
    Asker,
    AuditLines,
    connect,
    delete_paths,
    one_audit_line,
    policy,
    structured,
    text_of,
)

# -- policy none -----------------------------------------------------------------------


async def test_none_deletes_directly(settings: Settings, sim: Simulator, mode: str, audit: AuditLines) -> None:
    """Policy none: one GET, one DELETE, nobody asked."""
    asker = Asker(ElicitResult(action="decline"))
    async with connect(policy(settings, "none"), sim, mode=mode, elicit=asker) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert not result.is_error, text_of(result)
    assert [(r.method, r.path) for r in sim.requests] == [("GET", SEED_PATH), ("DELETE", SEED_PATH)]
    assert asker.asked == []
    assert structured(result)["outcome"] == "deleting"
    assert "channel=unconfirmed" in one_audit_line(audit, "deleting")


async def test_none_twice_sends_one_delete(settings: Settings, sim: Simulator, mode: str) -> None:
    """Policy none: deleting the same snapshot twice sends one DELETE (the second says it is already going)."""
    async with connect(policy(settings, "none"), sim, mode=mode) as client:
        first = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        second = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert structured(first)["outcome"] == "deleting"
    assert structured(second)["outcome"] == "already_deleting"
    assert delete_paths(sim) == [SEED_PATH]
