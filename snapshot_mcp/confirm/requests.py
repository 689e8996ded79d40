"""Deletion requests: the one record that every face of a confirmation decides through.

Under a channel that lets the person decide later (the card in the chat, the browser
page), a delete tool deletes nothing: it records a deletion request and returns at once.
Every face shows the same request and decides it through `decisions.Decisions`, so a
request decided in one face is decided in all. A request is:

- bound to the session that made it (a digest, see `facts.session_digest`), and to its
  `owner` (who asked) when the transport knows one: another session's or owner's
  request is not found;
- bound to each snapshot's state, as the person is shown it (`facts.Facts`);
- open for `ttl` seconds (5 minutes by default), then expired; kept readable
  `RETAIN_SECONDS` longer, so a later call learns what became of it;
- decided once: the first decision swaps its status atomically, whichever face it
  came from; a second click anywhere, or a replay, finds it decided;
- proved by one secret per face, derived as HMAC(key, face, request id), so nothing
  secret is stored: the card's nonce travels in result `_meta`, the browser page's in
  its address's fragment. Wrong secrets count for the request, whatever face brought
  them: the third voids it for every face.

Once a decision deleted snapshots, each is remembered (`remembered`) for the session
until the request's record lapses, so a later delete of a snapshot that is gone says it
was deleted after the person's confirmation rather than merely "not found".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict

from snapshot_mcp.audit import caller
from snapshot_mcp.models import Snapshot
from snapshot_mcp.store import Store

from .facts import Facts, session_digest
from .outcomes import SnapshotOutcome

CARD_TTL_SECONDS = 300.0
REVEAL_SECONDS = 120.0
MAX_BAD_SECRETS = 3
RETAIN_SECONDS = 600.0
"""How long a request stays readable after it expired (so the model can learn its outcome)."""

Face = Literal["card", "browser"]
"""Where a person can decide a request: the MCP Apps card, or the loopback page in their browser."""
FACES: tuple[Face, ...] = get_args(Face)

RequestStatus = Literal["pending", "deleting", "deleted", "kept", "expired", "changed", "void", "failed"]


class DeletionRequest(BaseModel):
    """A pending (or decided) deletion request, as the store keeps it."""

    model_config = ConfigDict(frozen=True)

    id: str
    tool: str
    """The delete tool that asked (`delete_snapshot` or `delete_snapshots`)."""
    session: str
    """A digest of the session that made it."""
    owner: str | None = None
    """Who asked, when the transport authenticates a subject; a decision must come from the same owner."""
    snapshots: tuple[Facts, ...]
    created: float
    expires: float
    status: RequestStatus = "pending"
    face: Face | None = None
    """The face the decision came from, once decided by a person."""
    claimed_at: float | None = None
    """When a Delete click claimed it (status `deleting`): its DELETEs are under way, or were sent."""
    chosen: tuple[str, ...] = ()
    """The snapshots that click chose to delete."""
    outcomes: dict[str, SnapshotOutcome] = {}
    """What became of each snapshot, once a decision deleted (or kept) them."""

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(facts.id for facts in self.snapshots)

    def expires_at(self) -> str:
        return datetime.fromtimestamp(self.expires, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    def dump(self) -> str:
        return self.model_dump_json()


def _set_key(session: str, ids: Sequence[str]) -> str:
    digest = hashlib.sha256(json.dumps(sorted(ids)).encode()).hexdigest()[:32]
    return f"deletion:by-snapshots:{session_digest(session)}:{digest}"


def _done_key(session: str, snapshot_id: str) -> str:
    return f"deletion:done:{session_digest(session)}:{snapshot_id}"


class DeletionRequests:
    """The deletion requests, kept in the shared store (instances sharing it share them)."""

    def __init__(
        self,
        store: Store,
        key: bytes | None = None,
        *,
        ttl: float = CARD_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._key = key or secrets.token_bytes(32)
        self.ttl = ttl
        self.clock = clock

    @property
    def _life(self) -> float:
        return self.ttl + RETAIN_SECONDS

    # -- secrets: one per face, computed, never stored ------------------------------------

    def secret(self, request_id: str, face: Face) -> str:
        """The secret `face` proves itself with: 256 bits no one can compute without the server's key."""
        label = f"{face}-nonce:{request_id}".encode()
        digest = hmac.new(self._key, label, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def secret_matches(self, request_id: str, face: Face, given: str) -> bool:
        """Constant-time comparison with `face`'s secret (another face's secret does not match)."""
        return hmac.compare_digest(self.secret(request_id, face).encode(), given.strip().encode())

    async def reveal(self, request: DeletionRequest, face: Face) -> str | None:
        """`face`'s secret, once, within two minutes of creation (for hosts that strip the card's `_meta`)."""
        if self.clock() - request.created > REVEAL_SECONDS:
            return None
        first = await self._store.put_once(f"deletion:revealed:{face}:{request.id}", "1", REVEAL_SECONDS)
        return self.secret(request.id, face) if first else None

    async def bad_secret(self, request: DeletionRequest) -> int:
        """Count a wrong secret (from any face); the third voids the request."""
        count = await self._store.incr(f"deletion:bad:{request.id}", self._life)
        if count >= MAX_BAD_SECRETS:  # from the state it was read in: a decision taken meanwhile stands
            await self.move(request, "void")
        return count

    # -- the record ------------------------------------------------------------------------

    async def open(
        self, tool: str, snapshots: Sequence[Snapshot], session: str, owner: str | None = None
    ) -> DeletionRequest:
        """Record a pending request by `tool` to delete `snapshots`, as they are now, for this session.

        `owner`: who asks (by default the subject of the current request's OAuth token, if any).
        """
        now = self.clock()
        request = DeletionRequest(
            id=secrets.token_hex(12),
            tool=tool,
            session=session_digest(session),
            owner=owner if owner is not None else caller()[0],
            snapshots=tuple(Facts.of(snapshot) for snapshot in snapshots),
            created=now,
            expires=now + self.ttl,
        )
        await self._store.put(f"deletion:request:{request.id}", request.dump(), self._life)
        await self._store.put(_set_key(session, request.ids), request.id, self._life)
        return request

    async def load(self, request_id: str, session: str, owner: str | None = None) -> DeletionRequest | None:
        """The request, if it exists and belongs to this session and owner (another's is not found).

        `owner`: who asks (by default the subject of the current request's OAuth token, if any).
        """
        text = await self._store.get(f"deletion:request:{request_id}")
        if text is None:
            return None
        request = DeletionRequest.model_validate_json(text)
        asking = owner if owner is not None else caller()[0]
        mine = hmac.compare_digest(request.session, session_digest(session)) and request.owner == asking
        return request if mine else None

    async def latest(self, session: str, ids: Sequence[str]) -> DeletionRequest | None:
        """The last request this session made for exactly these snapshots."""
        request_id = await self._store.get(_set_key(session, ids))
        return None if request_id is None else await self.load(request_id, session)

    async def forget(self, session: str, ids: Sequence[str]) -> None:
        """The next delete of these snapshots opens a new request."""
        await self._store.delete(_set_key(session, ids))

    async def move(
        self,
        request: DeletionRequest,
        status: RequestStatus,
        outcomes: dict[str, SnapshotOutcome] | None = None,
        face: Face | None = None,
    ) -> DeletionRequest | None:
        """Move `request` from the state it was read in to `status`, atomically; None if someone else moved it."""
        update = {"status": status, "outcomes": outcomes or request.outcomes, "face": face or request.face}
        return await self._swap(request, request.model_copy(update=update))

    async def claim(self, request: DeletionRequest, chosen: Sequence[str], face: Face) -> DeletionRequest | None:
        """A Delete click takes the request (`deleting`) for the `chosen` snapshots; None if someone else moved it."""
        update = {"status": "deleting", "face": face, "claimed_at": self.clock(), "chosen": tuple(chosen)}
        return await self._swap(request, request.model_copy(update=update))

    async def release(self, claimed: DeletionRequest) -> DeletionRequest | None:
        """Give back a claim that sent no DELETE: the request is pending again, and the person may try again."""
        update = {"status": "pending", "face": None, "claimed_at": None, "chosen": ()}
        return await self._swap(claimed, claimed.model_copy(update=update))

    async def _swap(self, read: DeletionRequest, moved: DeletionRequest) -> DeletionRequest | None:
        ok = await self._store.swap(f"deletion:request:{read.id}", read.dump(), moved.dump(), self._life)
        return moved if ok else None

    def expired(self, request: DeletionRequest) -> bool:
        return self.clock() >= request.expires

    # -- what a decision deleted, remembered per snapshot ----------------------------------

    async def remember(self, request: DeletionRequest, session: str) -> None:
        """Note each snapshot whose deletion `request` had accepted, until the request's record lapses."""
        left = request.expires + RETAIN_SECONDS - self.clock()
        for snapshot_id, outcome in request.outcomes.items():
            if outcome.accepted and left > 0:
                await self._store.put(_done_key(session, snapshot_id), request.id, left)

    async def remembered(self, session: str, snapshot_id: str) -> DeletionRequest | None:
        """The request whose decision deleted `snapshot_id`, if this session made it and it is still kept."""
        request_id = await self._store.get(_done_key(session, snapshot_id))
        return None if request_id is None else await self.load(request_id, session)
