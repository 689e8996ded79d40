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
5. each chosen snapshot is deleted once (`outcomes.delete_each`), and the outcome recorded.

Every attempt writes an audit line with the face as its channel: one for a refusal, a
keep or a change; one per snapshot a DELETE was attempted for.

When the shared store fails, the answer says what really happened. Before any DELETE
was sent: `store_down`, nothing deleted, and a claim taken is given back so the person
may try again. After: each snapshot's outcome, with `recorded` false. A request whose
claim has neither a live click nor a DELETE's once-only claim behind it (the store
paused between the two) reads as pending again, not as `deleting`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from snapshot_mcp import telemetry
from snapshot_mcp.errors import NotFound, SnapshotMCPError, StoreUnavailable
from snapshot_mcp.models import Snapshot
from snapshot_mcp.operations import Operations

from .base import audit
from .facts import fingerprint
from .outcomes import KEPT, SnapshotOutcome, accepted, delete_each, sent_none
from .requests import MAX_BAD_SECRETS, DeletionRequest, DeletionRequests, Face, RequestStatus

DECIDING_TOOL = "confirm_deletion"
"""The name a decision's audit lines carry, whatever its face (the face is their channel)."""
CLAIM_GRACE_SECONDS = 30.0
"""How long a Delete click's claim stands on its own; after that, only a DELETE's claim keeps it `deleting`."""

DecisionOutcome = Literal[
    "deleted",
    "failed",
    "kept",
    "changed",
    "expired",
    "already_decided",
    "unknown",
    "bad_secret",
    "not_in_request",
    "store_down",
]
"""What one attempt to decide did:

- `deleted`, `failed`, `kept`: this attempt decided the request (`failed`: a DELETE failed);
- `changed`, `expired`: this attempt found it could no longer be decided, and closed it;
- `already_decided`: someone decided it before (in this face or another); nothing more was done;
- `unknown`: no such request for this session (or it lapsed);
- `bad_secret`: the face's secret did not match (`Decision.void` once the tries are used up);
- `not_in_request`: `snapshot_ids` named a snapshot the request did not ask about;
- `store_down`: the shared store failed before any DELETE was sent; nothing was deleted.
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
    """The request as this attempt left it (None: `unknown`, or `store_down` before it was read)."""
    now: Mapping[str, Snapshot] | None = None
    """The snapshots as re-read for a delete (None: not looked up again)."""
    tries: int = 0
    """`bad_secret`: wrong secrets so far."""
    recorded: bool = True
    """False: snapshots were deleted (see `request.outcomes`), but the store could not record the decision."""

    @property
    def void(self) -> bool:
        return self.tries >= MAX_BAD_SECRETS


def shown_changed(request: DeletionRequest, now: Mapping[str, Snapshot]) -> bool:
    """Whether any snapshot is gone, or differs from what the person was shown."""
    return any(now.get(f.id) is None or fingerprint(now[f.id]) != f.fingerprint for f in request.snapshots)


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
        return Look(request, await self.standing(request, now), now)

    async def standing(self, request: DeletionRequest, now: Mapping[str, Snapshot]) -> RequestStatus:
        """Where a request stands, given its snapshots as the API shows them `now` (a gone one counts as changed)."""
        status = await self._recorded(request)
        if status != "pending":
            return status
        if self.requests.expired(request):
            return "expired"
        return "changed" if shown_changed(request, now) else "pending"

    async def _recorded(self, request: DeletionRequest) -> RequestStatus:
        """Its recorded status; but a claim with nothing behind it any more reads as pending (the person may retry)."""
        if request.status != "deleting" or request.claimed_at is None:
            return request.status
        if self.requests.clock() < request.claimed_at + CLAIM_GRACE_SECONDS:
            return "deleting"
        for snapshot_id in request.chosen:
            if await self.ops.delete_claimed(snapshot_id):
                return "deleting"
        return "pending"

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
        """One person's click, through `face`, proved by `face`'s secret (see the module's docstring).

        Raises `SnapshotMCPError` only when the API cannot be read to check the snapshots (nothing deleted).
        """
        with telemetry.confirmation(face) as span:
            try:
                decided = await self._decide(request_id, secret, decision, snapshot_ids, face, session)
            except StoreUnavailable:
                decided = Decision("store_down")
            except SnapshotMCPError as exc:
                span.outcome = "error"
                audit(DECIDING_TOOL, (), channel=face, outcome="error", detail=type(exc).__name__)
                raise
            span.outcome = decided.outcome
        _audit(decided, face)
        return decided

    async def _decide(
        self,
        request_id: str,
        secret: str,
        decision: Literal["delete", "keep"],
        snapshot_ids: Sequence[str] | None,
        face: Face,
        session: str,
    ) -> Decision:
        request = await self.requests.load(request_id, session)
        if request is None:
            return Decision("unknown")
        if await self._recorded(request) != "pending":
            return Decision("already_decided", request)
        if self.requests.expired(request):
            return Decision("expired", await self.requests.move(request, "expired") or request)
        if not self.requests.secret_matches(request.id, face, secret):
            return Decision("bad_secret", request, tries=await self.requests.bad_secret(request))
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
        return Decision("kept", kept)

    async def _delete(self, request: DeletionRequest, chosen: tuple[str, ...], face: Face, session: str) -> Decision:
        now = await self._now(request)
        if shown_changed(request, now):
            return Decision("changed", await self.requests.move(request, "changed", face=face) or request, now)
        claimed = await self.requests.claim(request, chosen, face)  # the one decision: a second click loses
        if claimed is None:
            return Decision("already_decided", await self.requests.load(request.id, session) or request, now)

        def audited(snapshot: Snapshot, outcome: SnapshotOutcome) -> None:
            audit(DECIDING_TOOL, (snapshot.id,), channel=face, outcome=outcome.kind, detail=outcome.error or "")

        snapshots = [now[facts.id] for facts in request.snapshots]
        outcomes = await delete_each(self.ops, snapshots, chosen, audited, tool=DECIDING_TOOL, channel=face)
        return await self._record(claimed, chosen, outcomes, now, session)

    async def _record(
        self,
        claimed: DeletionRequest,
        chosen: tuple[str, ...],
        outcomes: dict[str, SnapshotOutcome],
        now: Mapping[str, Snapshot],
        session: str,
    ) -> Decision:
        """Record what the DELETEs did; if none was sent, give the claim back; say so if the store fails now."""
        if sent_none(outcomes):
            with contextlib.suppress(StoreUnavailable):  # else it reads as pending once the grace has passed
                await self.requests.release(claimed)
            return Decision("store_down", claimed, now)
        status: Literal["deleted", "failed"] = "deleted" if accepted(outcomes) == len(chosen) else "failed"
        decided = claimed.model_copy(update={"status": status, "outcomes": outcomes})
        try:
            decided = await self.requests.move(claimed, status, outcomes) or decided
            await self.requests.remember(decided, session)
        except StoreUnavailable:
            return Decision(status, decided, now, recorded=False)
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


def _audit(decided: Decision, face: Face) -> None:
    """The attempt's audit line (a delete's DELETEs wrote theirs, one per snapshot, as they went)."""
    ids = () if decided.request is None else decided.request.ids
    if decided.outcome in ("deleted", "failed"):
        if not decided.recorded:
            audit(DECIDING_TOOL, ids, channel=face, outcome="unrecorded", detail="StoreUnavailable")
        return
    detail = {
        "bad_secret": f"try {decided.tries}",
        "already_decided": decided.request.status if decided.request is not None else "",
        "store_down": "StoreUnavailable",
    }.get(decided.outcome, "")
    outcome = {"bad_secret": "bad_nonce", "unknown": "unknown_request", "store_down": "refused"}.get(
        decided.outcome, decided.outcome
    )
    audit(DECIDING_TOOL, ids, channel=face, outcome=outcome, detail=detail)
