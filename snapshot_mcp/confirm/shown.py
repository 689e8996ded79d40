"""What every face shows of a deletion request: its snapshots as they are now, and where it stands.

The card (through its app-only tools) and the browser page show the same rows, built here.
"""

from __future__ import annotations

from collections.abc import Mapping

from snapshot_mcp.models import Snapshot
from snapshot_mcp.views import CardSnapshot, DeletionRequestView

from .facts import fingerprint
from .requests import DeletionRequest


def request_view(request: DeletionRequest, status: str, now: Mapping[str, Snapshot] | None) -> DeletionRequestView:
    """A face's rows: each snapshot as it is `now` (None: not looked up again, as it was asked about)."""
    rows = []
    for facts in request.snapshots:
        current = None if now is None else now.get(facts.id)
        changed = now is not None and (current is None or fingerprint(current) != facts.fingerprint)
        shown = current or facts
        gone = now is not None and current is None
        rows.append(
            CardSnapshot(
                id=facts.id,
                name=current.name.shown if current is not None else facts.name,
                size=shown.size,
                region=shown.region,
                status="gone" if gone else shown.status,
                created_at=facts.created_at,
                changed=changed and status == "pending",
                outcome=_outcome_text(request, facts.id),
            )
        )
    return DeletionRequestView(
        request_id=request.id,
        status=status,
        expires_at=request.expires_at(),
        snapshots=rows,
        total_size=sum(facts.size or 0 for facts in request.snapshots),
        can_delete=status == "pending",
    )


def _outcome_text(request: DeletionRequest, snapshot_id: str) -> str | None:
    outcome = request.outcomes.get(snapshot_id)
    return None if outcome is None else outcome.text()
