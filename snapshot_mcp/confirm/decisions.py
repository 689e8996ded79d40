"""One decision path for a deletion request, whichever face the person used.

A face (the card's app-only tool `confirm_deletion`, the browser page) reads a request
with `Decisions.look` and hands the person's click to `Decisions.decide`, with its own
secret and its name. Both answer with typed values (`Look`, `Decision`); the face only
turns them into its own reply (a tool result, an HTTP answer). Deleting happens here
and nowhere else under these faces:

1. the request must exist for this session, be pending and unexpired;
2. the face's secret must match (a wrong one counts; the third voids the request);
3. `keep` decides at once; `delete` re-reads the snapshots and refuses the whole
   request as `changed` if any differs from what the person was shown;
4. the click claims the request (one atomic swap: a second click anywhere loses);
5. each chosen snapshot is deleted once and its outcome recorded; every DELETE writes
   an audit line, with the face as its channel.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from snapshot_mcp.errors import NotFound
from snapshot_mcp.models import Snapshot
from snapshot_mcp.operations import Operations

from .base import audit
from .facts import fingerprint
from .outcomes import KEPT, SnapshotOutcome, accepted, delete_each
from .requests import MAX_BAD_SECRETS, DeletionRequest, DeletionRequests, Face, RequestStatus

DECIDING_TOOL = "confirm_deletion"
"""The name a decision's audit lines carry, whatever its face (the face is their channel)."""

DecisionOutcome = Literal[
    "deleted", "failed", "kept", "changed", "expired", "already_decided", "unknown", "bad_secret", "not_in_request"
]
"""What one attempt to decide did:

- `deleted`, `failed`, `kept`: this attempt decided the request (`failed`: the API refused a DELETE);
- `changed`, `expired`: this attempt found it could no longer be decided, and closed it;
- `already_decided`: someone decided it before (in this face or another); nothing more was done;
- `unknown`: no such request for this session (or it lapsed);
- `bad_secret`: the face's secret did not match (`Decision.void` once the tries are used up);
- `not_in_request`: `snapshot_ids` named a snapshot the request did not ask about.
"""


@dataclass(frozen=True)
class Look:
    """Where a request stands now, and its snapshots as the API shows them (gone ones are left out)."""

    request: DeletionRequest
    status: RequestStatus
    now: Mapping[str, Snapshot]


@dataclass(frozen=True)
class Decision:
    """The typed outcome of one attempt to decide a request; a face turns it into its own reply."""

    outcome: DecisionOutcome
    request: DeletionRequest | None = None
    """The request as this attempt left it (None: `unknown`)."""
    now: Mapping[str, Snapshot] | None = None
    """The snapshots as re-read for a delete (None: not looked up again)."""
    tries: int = 0
    """`bad_secret`: wrong secrets so far."""

    @property
    def void(self) -> bool:
        return self.tries >= MAX_BAD_SECRETS


def standing(requests: DeletionRequests, request: DeletionRequest, now: Mapping[str, Snapshot]) -> RequestStatus:
    """Where a request stands, given its snapshots as the API shows them `now` (a gone one counts as changed)."""
    if request.status != "pending":
        return request.status
    if requests.expired(request):
        return "expired"
    if any(now.get(facts.id) is None or fingerprint(now[facts.id]) != facts.fingerprint for facts in request.snapshots):
        return "changed"
    return "pending"


class Decisions:
    """Reads and decides deletion requests for every face (see the module's docstring)."""

    def __init__(self, requests: DeletionRequests, ops: Operations) -> None:
        self.requests = requests
        self.ops = ops

    async def look(self, request_id: str, session: str) -> Look | None:
        """The request and where it stands now; None when this session has no such request."""
        request = await self.requests.load(request_id, session)
        if request is None:
            return None
        now = await self._now(request)
        return Look(request, standing(self.requests, request, now), now)

    async def decide(
        self,
        request_id: str,
        secret: str,
        decision: Literal["delete", "keep"],
        snapshot_ids: Sequence[str] | None,
        *,
        face: Face,
        session: str,
    ) -> Decision:
        """One person's click, through `face`, proved by `face`'s secret (see the module's docstring)."""
        request = await self.requests.load(request_id, session)
        if request is None:
            return Decision("unknown")
        if request.status != "pending":
            return Decision("already_decided", request)
        if self.requests.expired(request):
            return Decision("expired", await self.requests.move(request, "expired") or request)
        if not self.requests.secret_matches(request.id, face, secret):
            tries = await self.requests.bad_secret(request)
            audit(DECIDING_TOOL, request.ids, channel=face, outcome="bad_nonce", detail=f"try {tries}")
            return Decision("bad_secret", request, tries=tries)
        chosen = _chosen(request, snapshot_ids)
        if chosen is None:
            return Decision("not_in_request", request)
        if decision == "keep":
            return await self._keep(request, face, session)
        return await self._delete(request, chosen, face, session)

    async def _keep(self, request: DeletionRequest, face: Face, session: str) -> Decision:
        kept = await self.requests.move(request, "kept", dict.fromkeys(request.ids, KEPT), face)
        if kept is None:
            return Decision("already_decided", await self.requests.load(request.id, session) or request)
        audit(DECIDING_TOOL, request.ids, channel=face, outcome="kept")
        return Decision("kept", kept)

    async def _delete(self, request: DeletionRequest, chosen: tuple[str, ...], face: Face, session: str) -> Decision:
        now = await self._now(request)
        if standing(self.requests, request, now) != "pending":
            changed = await self.requests.move(request, "changed", face=face)
            audit(DECIDING_TOOL, request.ids, channel=face, outcome="changed")
            return Decision("changed", changed or request, now)
        claimed = await self.requests.move(request, "deleting", face=face)  # the one decision: a second click loses
        if claimed is None:
            return Decision("already_decided", await self.requests.load(request.id, session) or request, now)
        snapshots = [now[facts.id] for facts in request.snapshots]

        def audited(snapshot: Snapshot, outcome: SnapshotOutcome) -> None:
            audit(DECIDING_TOOL, (snapshot.id,), channel=face, outcome=outcome.kind, detail=outcome.error or "")

        outcomes = await delete_each(self.ops, snapshots, chosen, audited)
        status: Literal["deleted", "failed"] = "deleted" if accepted(outcomes) == len(chosen) else "failed"
        decided = await self.requests.move(claimed, status, outcomes) or claimed
        await self.requests.remember(decided, session)
        return Decision(status, decided, now)

    async def _now(self, request: DeletionRequest) -> dict[str, Snapshot]:
        """The request's snapshots as the API shows them now (gone ones are left out)."""
        found: dict[str, Snapshot] = {}
        for snapshot_id in request.ids:
            try:
                found[snapshot_id] = await self.ops.get(snapshot_id)
            except NotFound:
                continue
        return found


def _chosen(request: DeletionRequest, snapshot_ids: Sequence[str] | None) -> tuple[str, ...] | None:
    """The snapshots to delete: all of the request's, or the named ones (None: one is not the request's)."""
    if snapshot_ids is None:
        return request.ids
    picked = tuple(dict.fromkeys(snapshot_ids))
    if not picked or not set(picked) <= set(request.ids):
        return None
    return picked
