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
from snapshot_mcp.audit import record_approval
from snapshot_mcp.errors import NotFound, SnapshotMCPError, StoreUnavailable
from snapshot_mcp.models import Snapshot
from snapshot_mcp.operations import DELETING_STATUSES, Operations, Progress

from .facts import fingerprint

OutcomeKind = Literal["deleting", "deleted", "already_deleting", "kept", "changed", "failed"]
ACCEPTED: frozenset[OutcomeKind] = frozenset({"deleting", "deleted", "already_deleting"})
"""The outcomes that mean the API accepted the deletion."""


class SnapshotOutcome(BaseModel):
    """What became of one snapshot of a confirmed delete."""

    model_config = ConfigDict(frozen=True)

    kind: OutcomeKind
    reason: str | None = None
    """`failed`, `changed`: why, in words for a model (for a failure, the error's text)."""
    error: str | None = None
    """`failed`: the error's type, for the audit line."""
    sent: bool = True
    """Whether a DELETE may have reached the API (false: kept, changed, or the store refused the claim)."""

    @property
    def accepted(self) -> bool:
        return self.kind in ACCEPTED

    def text(self) -> str:
        """One line: the kind, and for a failure why (`failed: Conflict [409]: …`)."""
        return f"{self.kind}: {self.reason}" if self.reason else self.kind

    @classmethod
    def failure(cls, exc: SnapshotMCPError, snapshot_id: str) -> SnapshotOutcome:
        """A delete that failed; without the shared store no DELETE was sent (its once-only claim failed first)."""
        sent = not isinstance(exc, StoreUnavailable)
        worded = exc if sent else StoreUnavailable(messages.STORE_DOWN_DELETE)
        reason = messages.error_text(worded, snapshot_id)
        return cls(kind="failed", reason=reason, error=type(exc).__name__, sent=sent)


KEPT = SnapshotOutcome(kind="kept", sent=False)
CHANGED = SnapshotOutcome(kind="changed", reason=messages.CHANGED_WHILE_ASKED, sent=False)

OnEach = Callable[[Snapshot, SnapshotOutcome], None]
"""Called once per snapshot a delete was attempted for (its audit line)."""


async def delete_one(
    ops: Operations,
    snapshot: Snapshot,
    *,
    tool: str,
    channel: str,
    wait: bool = False,
    progress: Progress | None = None,
    wait_timeout: float | None = None,
    reread: bool = False,
) -> SnapshotOutcome:
    """Delete one confirmed snapshot, at most once across calls and instances (see `Operations.delete`).

    `reread`: the yes came some time after `snapshot` was read (a question the person took
    time over), so read it again first; if it changed (or is gone), it is not deleted.
    The audit file's `approved` record (`tool`, `channel`) is written before the DELETE is
    sent; `AuditUnavailable` when it cannot be, and then nothing is sent.
    """
    try:
        if reread:
            current = await _reread(ops, snapshot)
            if current is None:
                return CHANGED
            snapshot = current
    except SnapshotMCPError as exc:
        return SnapshotOutcome.failure(exc, snapshot.id)
    record_approval(tool, (snapshot.id,), channel=channel)
    try:
        kind = await ops.delete(snapshot, wait=wait, progress=progress, wait_timeout=wait_timeout)
    except SnapshotMCPError as exc:
        return SnapshotOutcome.failure(exc, snapshot.id)
    return SnapshotOutcome(kind=kind)


async def _reread(ops: Operations, shown: Snapshot) -> Snapshot | None:
    """The snapshot to delete, read again: None if it is no longer what the person was shown.

    Being deleted already (by another yes) or gone is no change that matters here: the
    once-only delete then says `already_deleting`, or the API that it is not found.
    """
    try:
        current = await ops.get(shown.id)
    except NotFound:
        return shown
    if current.status in DELETING_STATUSES or fingerprint(current) == fingerprint(shown):
        return current
    return None


async def delete_each(
    ops: Operations,
    snapshots: Sequence[Snapshot],
    chosen: Collection[str],
    on_each: OnEach,
    *,
    tool: str,
    channel: str,
    reread: bool = False,
) -> dict[str, SnapshotOutcome]:
    """Delete the `chosen` of `snapshots`, one after another; every snapshot gets an outcome (`kept` if not chosen).

    `AuditUnavailable` (the audit file cannot be written) stops the loop: no further DELETE is sent.
    """
    outcomes: dict[str, SnapshotOutcome] = {}
    for snapshot in snapshots:
        if snapshot.id not in chosen:
            outcomes[snapshot.id] = KEPT
            continue
        outcomes[snapshot.id] = await delete_one(ops, snapshot, tool=tool, channel=channel, reread=reread)
        on_each(snapshot, outcomes[snapshot.id])
    return outcomes


def accepted(outcomes: Mapping[str, SnapshotOutcome]) -> int:
    """How many deletions the API accepted."""
    return sum(outcome.accepted for outcome in outcomes.values())


def sent_none(outcomes: Mapping[str, SnapshotOutcome]) -> bool:
    """No DELETE may have reached the API (each was kept, changed, or refused its claim by the store)."""
    return not any(outcome.sent for outcome in outcomes.values())
