"""Delete each confirmed snapshot once, and say what became of each: one loop, typed outcomes.

Every path that deletes after a yes goes through `delete_one`: the single delete tool,
the batch tool (through `delete_each`) and a person's decision on a deletion request
(the card, the browser page). Each snapshot ends with one `SnapshotOutcome`; results,
audit lines and the request's record are written from it, never parsed back from text.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from snapshot_mcp import messages
from snapshot_mcp.errors import SnapshotMCPError
from snapshot_mcp.models import Snapshot
from snapshot_mcp.operations import Operations, Progress

OutcomeKind = Literal["deleting", "deleted", "already_deleting", "kept", "failed"]
ACCEPTED: frozenset[OutcomeKind] = frozenset({"deleting", "deleted", "already_deleting"})
"""The outcomes that mean the API accepted the deletion."""


class SnapshotOutcome(BaseModel):
    """What became of one snapshot of a confirmed delete."""

    model_config = ConfigDict(frozen=True)

    kind: OutcomeKind
    reason: str | None = None
    """`failed`: what went wrong, in words for a model (the error's text)."""
    error: str | None = None
    """`failed`: the error's type, for the audit line."""

    @property
    def accepted(self) -> bool:
        return self.kind in ACCEPTED

    def text(self) -> str:
        """One line: the kind, and for a failure why (`failed: Conflict [409]: …`)."""
        return f"{self.kind}: {self.reason}" if self.reason else self.kind

    @classmethod
    def failure(cls, exc: SnapshotMCPError, snapshot_id: str) -> SnapshotOutcome:
        return cls(kind="failed", reason=messages.error_text(exc, snapshot_id), error=type(exc).__name__)


KEPT = SnapshotOutcome(kind="kept")

OnEach = Callable[[Snapshot, SnapshotOutcome], None]
"""Called once per snapshot a delete was attempted for (its audit line)."""


async def delete_one(
    ops: Operations,
    snapshot: Snapshot,
    *,
    wait: bool = False,
    progress: Progress | None = None,
    wait_timeout: float | None = None,
) -> SnapshotOutcome:
    """Delete one confirmed snapshot, at most once across calls and instances (see `Operations.delete`)."""
    try:
        kind = await ops.delete(snapshot, wait=wait, progress=progress, wait_timeout=wait_timeout)
    except SnapshotMCPError as exc:
        return SnapshotOutcome.failure(exc, snapshot.id)
    return SnapshotOutcome(kind=kind)


async def delete_each(
    ops: Operations, snapshots: Sequence[Snapshot], chosen: Collection[str], on_each: OnEach
) -> dict[str, SnapshotOutcome]:
    """Delete the `chosen` of `snapshots`, one after another; every snapshot gets an outcome (`kept` if not chosen)."""
    outcomes: dict[str, SnapshotOutcome] = {}
    for snapshot in snapshots:
        if snapshot.id not in chosen:
            outcomes[snapshot.id] = KEPT
            continue
        outcomes[snapshot.id] = await delete_one(ops, snapshot)
        on_each(snapshot, outcomes[snapshot.id])
    return outcomes


def accepted(outcomes: Mapping[str, SnapshotOutcome]) -> int:
    """How many deletions the API accepted."""
    return sum(outcome.accepted for outcome in outcomes.values())
