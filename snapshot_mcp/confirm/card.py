"""The card channel: an MCP Apps view in the chat, where only a person's click deletes.

Under this channel a delete tool deletes nothing. It records a pending deletion
request and returns at once; the host shows the confirmation card (`apps/`), and the
card's Delete button calls the app-only tool `confirm_deletion`, the only code path
that deletes here. The request is:

- bound to the session that made it, and to each snapshot's state (a fingerprint);
- open for `ttl` seconds (5 minutes by default), then expired;
- decided once: the first decision swaps its status atomically; a second click or a
  replay finds it decided;
- guarded by a nonce of 256 bits, derived as HMAC(key, request id) so that nothing
  secret is stored: it travels only in result `_meta`, and once, within two minutes,
  in the reply of the app-only `deletion_request` (for hosts that strip `_meta`);
  three wrong nonces void the request.

When the model calls a delete tool again for snapshots with a request, it gets that
request's status instead of a second card: pending (again, with its card), or — once
— deleted, kept, expired, changed, void or failed; the call after that asks anew.
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
from typing import Any, Literal

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import BaseModel, ConfigDict

from snapshot_mcp import messages
from snapshot_mcp.models import Snapshot
from snapshot_mcp.store import Store
from snapshot_mcp.views import DeleteOutcome, SnapshotView, delete_result, tool_result

from .base import Channel, DeletionCall, Replied, Verdict
from .ladder import client_name, declares_card, named
from .token import fingerprint

CARD_TTL_SECONDS = 300.0
REVEAL_SECONDS = 120.0
MAX_BAD_NONCES = 3
RETAIN_SECONDS = 600.0
"""How long a decided request stays readable after it closed (so the model can learn its outcome)."""

RequestStatus = Literal["pending", "deleting", "deleted", "kept", "expired", "changed", "void", "failed"]


class Facts(BaseModel):
    """What the person was shown of one snapshot when the request was made."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    size: int | None
    region: str
    status: str
    created_at: str | None
    fingerprint: str

    @classmethod
    def of(cls, snapshot: Snapshot) -> Facts:
        shown = SnapshotView.of(snapshot).model_dump(include={"id", "name", "size", "region", "status", "created_at"})
        return cls(**shown, fingerprint=fingerprint(snapshot))


class DeletionRequest(BaseModel):
    """A pending (or decided) deletion request, as the store keeps it."""

    model_config = ConfigDict(frozen=True)

    id: str
    tool: str
    session: str
    """A hash of the session that made it."""
    snapshots: tuple[Facts, ...]
    created: float
    expires: float
    status: RequestStatus = "pending"
    outcomes: dict[str, str] = {}

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(facts.id for facts in self.snapshots)

    def expires_at(self) -> str:
        return datetime.fromtimestamp(self.expires, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")

    def dump(self) -> str:
        return self.model_dump_json()


def _session_hash(session: str) -> str:
    return hashlib.sha256(b"card-session:" + session.encode()).hexdigest()[:24]


def _set_key(session: str, ids: Sequence[str]) -> str:
    digest = hashlib.sha256(json.dumps(sorted(ids)).encode()).hexdigest()[:32]
    return f"card:by-snapshots:{_session_hash(session)}:{digest}"


class DeletionRequests:
    """The card's deletion requests, kept in the shared store."""

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

    def nonce(self, request_id: str) -> str:
        """The request's nonce: 256 bits no one can compute without the server's key."""
        digest = hmac.new(self._key, b"card-nonce:" + request_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def nonce_matches(self, request_id: str, nonce: str) -> bool:
        return hmac.compare_digest(self.nonce(request_id).encode(), nonce.strip().encode())

    async def open(self, call: DeletionCall) -> DeletionRequest:
        now = self.clock()
        request = DeletionRequest(
            id=secrets.token_hex(12),
            tool=call.tool,
            session=_session_hash(call.session),
            snapshots=tuple(Facts.of(snapshot) for snapshot in call.snapshots),
            created=now,
            expires=now + self.ttl,
        )
        await self._store.put(f"card:request:{request.id}", request.dump(), self.ttl + RETAIN_SECONDS)
        await self._store.put(_set_key(call.session, call.ids), request.id, self.ttl + RETAIN_SECONDS)
        return request

    async def load(self, request_id: str, session: str) -> DeletionRequest | None:
        """The request, if it exists and belongs to this session (another session's is not found)."""
        text = await self._store.get(f"card:request:{request_id}")
        if text is None:
            return None
        request = DeletionRequest.model_validate_json(text)
        return request if request.session == _session_hash(session) else None

    async def latest(self, session: str, ids: Sequence[str]) -> DeletionRequest | None:
        """The last request this session made for exactly these snapshots."""
        request_id = await self._store.get(_set_key(session, ids))
        return None if request_id is None else await self.load(request_id, session)

    async def forget(self, session: str, ids: Sequence[str]) -> None:
        """The next delete of these snapshots opens a new request."""
        await self._store.delete(_set_key(session, ids))

    async def decide(
        self, request: DeletionRequest, status: RequestStatus, outcomes: dict[str, str] | None = None
    ) -> DeletionRequest | None:
        """Move `request` from the state it was read in to `status`, atomically; None if someone else moved it."""
        decided = request.model_copy(update={"status": status, "outcomes": outcomes or request.outcomes})
        key = f"card:request:{request.id}"
        ok = await self._store.swap(key, request.dump(), decided.dump(), self.ttl + RETAIN_SECONDS)
        return decided if ok else None

    def expired(self, request: DeletionRequest) -> bool:
        return self.clock() >= request.expires

    async def reveal(self, request: DeletionRequest) -> str | None:
        """The nonce, once, within two minutes of creation (for hosts that strip `_meta`)."""
        if self.clock() - request.created > REVEAL_SECONDS:
            return None
        first = await self._store.put_once(f"card:revealed:{request.id}", "1", REVEAL_SECONDS)
        return self.nonce(request.id) if first else None

    async def bad_nonce(self, request: DeletionRequest) -> int:
        """Count a wrong nonce; the third voids the request."""
        count = await self._store.incr(f"card:bad:{request.id}", self.ttl + RETAIN_SECONDS)
        if count >= MAX_BAD_NONCES and request.status == "pending":
            await self.decide(request, "void")
        return count


CONFIRMATION_META = "snapshot-mcp/confirmation"
"""The result `_meta` key that carries the request id, nonce and expiry to the card (and nowhere else)."""

_OUTCOME: dict[RequestStatus, DeleteOutcome] = {
    "pending": "awaiting_confirmation",
    "deleting": "deleting",
    "deleted": "deleted",
    "kept": "kept",
    "expired": "expired",
    "changed": "changed",
    "void": "void",
    "failed": "failed",
}


def snapshot_of(facts: Facts) -> Snapshot:
    return Snapshot.model_validate(facts.model_dump(exclude={"fingerprint"}))


def card_result(request: DeletionRequest, nonce: str) -> CallToolResult:
    """A delete tool's answer under the card channel: pending, nothing deleted; the nonce only in `_meta`."""
    snapshots = [snapshot_of(facts) for facts in request.snapshots]
    line = messages.question_for(snapshots).replace("\n", " · ")
    result = delete_result(
        request.tool,
        snapshots,
        "awaiting_confirmation",
        messages.CARD_STATUS["pending"],
        request_id=request.id,
        expires_at=request.expires_at(),
        awaiting=True,
    )
    answer = tool_result(messages.card_waiting(line, request.expires_at(), request.id, request.tool), result)
    answer.meta = {CONFIRMATION_META: {"request_id": request.id, "nonce": nonce, "expires_at": request.expires_at()}}
    return answer


def status_result(request: DeletionRequest, status: RequestStatus) -> CallToolResult:
    """What became of an earlier request, for a delete call that asks again."""
    snapshots = [snapshot_of(facts) for facts in request.snapshots]
    result = delete_result(
        request.tool,
        snapshots,
        _OUTCOME[status],
        messages.CARD_STATUS[status],
        deleted=status in ("deleting", "deleted"),
        request_id=request.id,
    )
    return tool_result(messages.card_status(_OUTCOME[status], request.id), result)


def current_status(requests: DeletionRequests, request: DeletionRequest, now: Sequence[Snapshot]) -> RequestStatus:
    """Where a request stands, given the snapshots as the API shows them now."""
    if request.status != "pending":
        return request.status
    if requests.expired(request):
        return "expired"
    seen = {facts.id: facts.fingerprint for facts in request.snapshots}
    if any(seen.get(snapshot.id) != fingerprint(snapshot) for snapshot in now):
        return "changed"
    return "pending"


class CardChannel(Channel):
    """Record a pending request; the person decides in the card."""

    name = "card"

    def __init__(self, requests: DeletionRequests, *, ignored_clients: Sequence[str] = ()) -> None:
        self.requests = requests
        self.ignored_clients = tuple(ignored_clients)

    def available(self, ctx: Context[Any, Any]) -> bool:
        return declares_card(ctx) and not named(client_name(ctx), self.ignored_clients)

    async def confirm(self, call: DeletionCall) -> Verdict:
        latest = await self.requests.latest(call.session, call.ids)
        if latest is not None:
            status = current_status(self.requests, latest, call.snapshots)
            if status == "pending":
                self.audit(call, "awaiting_confirmation", detail="already_pending")
                return Replied(card_result(latest, self.requests.nonce(latest.id)))
            await self.requests.forget(call.session, call.ids)
            self.audit(call, f"reported_{status}")
            return Replied(status_result(latest, status))
        request = await self.requests.open(call)
        self.audit(call, "awaiting_confirmation")
        return Replied(card_result(request, self.requests.nonce(request.id)))
