"""Creates that are never silently made twice: imports, instance snapshots and copies.

A model retries; an answer gets lost; two calls race. The rules, for every request
that makes a snapshot (an `Intent`):

- Identical requests within the window (10 minutes) share one attempt: a per-key
  lock in this process, a claim in the store across instances (an identical request on
  another instance waits for it, up to `BUSY_WAIT` seconds), and the store remembers
  which snapshot the request made.
- Asked again, a remembered snapshot is returned (`reused`), unless it failed or is
  being deleted (`error`, `pending_delete`, `deleting`, gone): then a new one is made.
- When a create failed in a way that leaves open whether the API made it (a 5xx, a
  lost answer), the next identical request first looks for it: a snapshot made since
  shortly before the failed call whose every echoed field matches the request (the API
  does not echo an image URL, so such a find is `probable`, never claimed as identical)
  and that no other request made. The look-up reads a bounded number of pages (the
  first and the newest end), and says when it could not read them all.
- Without the store (a shared one that went away) nothing is sent: `StoreUnavailable`.
  A snapshot made just before the store failed is still reported as made.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio

from .client import GenesisCloudClient, Pages
from .errors import (
    ApiUnreachable,
    BadResponse,
    CreateBusy,
    CreateMayHaveStarted,
    NotFound,
    ServerError,
    StoreUnavailable,
)
from .models import Snapshot
from .store import Store

DEDUPE_WINDOW_SECONDS = 600.0
LOOKUP_PAGES = 10
"""Pages (of 100) a look-up for a possibly-made snapshot reads at most."""
LOOKUP_SLACK = timedelta(seconds=60)
"""How long before the failed call a matching snapshot may have been dated (clock skew)."""
UNUSABLE = frozenset({"error", "pending_delete", "deleting"})
BUSY_SECONDS = 180.0
"""How long a claim on a create lasts at most (longer than any one create call), should its holder vanish."""
BUSY_WAIT = 20.0
"""Seconds a request waits for an identical create running on another instance."""
BUSY_POLL = 0.25

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Intent:
    """One request that makes a snapshot: what makes two of them the same, and how to recognise its result."""

    kind: str
    fields: tuple[object, ...]
    name: str
    echoes: Callable[[Snapshot], bool]
    """True when a snapshot's fields are what the API would have echoed for this request."""

    @property
    def key(self) -> str:
        digest = hashlib.sha256(json.dumps([self.kind, *self.fields], default=str).encode()).hexdigest()
        return f"create:{digest}"


@dataclass(frozen=True)
class Outcome:
    """A create's snapshot, and how it was come by."""

    snapshot: Snapshot
    reused: bool = False
    probable: bool = False
    """Found by its echoed fields after a failed call (the URL, say, cannot be compared)."""
    lookup_complete: bool = True
    """False when a look-up could not read every page."""


@dataclass(frozen=True)
class _Memory:
    """What the store keeps of a recent create (JSON)."""

    wall: datetime
    snapshot_id: str | None

    def dump(self) -> str:
        return json.dumps({"wall": self.wall.isoformat(), "id": self.snapshot_id})

    @classmethod
    def load(cls, text: str) -> _Memory:
        data = json.loads(text)
        return cls(datetime.fromisoformat(data["wall"]), data["id"])


class Dedupe:
    """Runs creates under the rules of the module docstring."""

    def __init__(
        self,
        client: GenesisCloudClient,
        store: Store,
        *,
        window: float = DEDUPE_WINDOW_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.client = client
        self.store = store
        self.window = window
        self._sleep = sleep
        self._locks: dict[str, anyio.Lock] = {}

    async def run(
        self, intent: Intent, make: Callable[[], Awaitable[Snapshot]], pages: Pages[Snapshot] | None = None
    ) -> Outcome:
        """The create's snapshot: remembered, found after a failed call, or made now (`pages`: where to look)."""
        key = intent.key
        lock = self._locks.setdefault(key, anyio.Lock())
        try:
            async with lock, self._claim(intent):
                return await self._once(intent, make, pages or self.client.snapshot_pages())
        finally:
            if self._locks.get(key) is lock and not lock.locked() and lock.statistics().tasks_waiting == 0:
                del self._locks[key]

    @asynccontextmanager
    async def _claim(self, intent: Intent) -> AsyncIterator[None]:
        """Hold the claim on this create in the store; wait while another instance holds it (up to `BUSY_WAIT`)."""
        key, mine = f"create-busy:{intent.key}", secrets.token_hex(8)
        for _ in range(round(BUSY_WAIT / BUSY_POLL)):
            if await self.store.put_once(key, mine, BUSY_SECONDS):
                break
            await self._sleep(BUSY_POLL)
        else:
            raise CreateBusy(f"another instance holds the claim {key}")  # worded for a model by the tools
        try:
            yield
        finally:
            with suppress(StoreUnavailable):  # else the claim lapses after BUSY_SECONDS
                await self.store.delete_if(key, mine)  # give it back, if still ours

    async def _once(self, intent: Intent, make: Callable[[], Awaitable[Snapshot]], pages: Pages[Snapshot]) -> Outcome:
        stored = await self.store.get(intent.key)
        memory = None if stored is None else _Memory.load(stored)
        if memory is not None and memory.snapshot_id is not None:
            earlier = await self._usable(memory.snapshot_id)
            if earlier is not None:
                return Outcome(earlier, reused=True)
        complete = True
        if memory is not None and memory.snapshot_id is None:
            found, complete = await self._look_up(intent, memory, pages)
            if found is not None:
                return found
        return Outcome(await self._make(intent, make), lookup_complete=complete)

    async def _usable(self, snapshot_id: str) -> Snapshot | None:
        """The remembered snapshot, unless it is gone, failed or being deleted."""
        try:
            snapshot = await self.client.get(snapshot_id)
        except NotFound:
            return None
        return None if snapshot.status in UNUSABLE else snapshot

    async def _look_up(self, intent: Intent, memory: _Memory, pages: Pages[Snapshot]) -> tuple[Outcome | None, bool]:
        """A snapshot the failed call may have made, that no other request made; and whether every page was read.

        The API's order is not documented: the look-up reads the first page and the newest end, bounded.
        """
        since = memory.wall - LOOKUP_SLACK
        scan = await self.client.scan(pages, max_pages=LOOKUP_PAGES, newest_end=True)
        found, complete = [s for s in scan.items if _fits(s, intent, since)], scan.complete
        for snapshot in sorted(found, key=lambda s: s.created_at or since, reverse=True):
            if await self.store.get(f"create-made:{snapshot.id}") in (None, intent.key):
                await self._remember(intent, memory.wall, snapshot.id)
                return Outcome(snapshot, reused=True, probable=True, lookup_complete=complete), complete
        return None, complete

    async def _make(self, intent: Intent, make: Callable[[], Awaitable[Snapshot]]) -> Snapshot:
        wall = datetime.now(UTC)
        try:
            snapshot = await make()
        except (ApiUnreachable, ServerError, BadResponse) as exc:
            if isinstance(exc, ApiUnreachable) and not exc.may_have_acted:
                raise
            # The API may have acted: remember, so an identical retry looks first.
            await self.store.put(intent.key, _Memory(wall, None).dump(), self.window)
            raise CreateMayHaveStarted(intent.name, exc) from exc
        try:
            await self._remember(intent, wall, snapshot.id)
        except StoreUnavailable:  # made all the same: say so; only a retry's dedupe is lost
            log.warning("snapshot %s made, but the shared store could not record it", snapshot.id)
        return snapshot

    async def _remember(self, intent: Intent, wall: datetime, snapshot_id: str) -> None:
        await self.store.put(intent.key, _Memory(wall, snapshot_id).dump(), self.window)
        await self.store.put(f"create-made:{snapshot_id}", intent.key, self.window)


def _fits(snapshot: Snapshot, intent: Intent, since: datetime) -> bool:
    recent = snapshot.created_at is None or snapshot.created_at >= since
    return recent and snapshot.status not in UNUSABLE and intent.echoes(snapshot)
