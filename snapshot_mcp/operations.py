"""Operations: what a tool call means, above the HTTP client and below MCP.

Here live the rules that make the tools safe to call from a model: filtered scans,
bounded waits with progress, creates that are never silently made twice, and deletes
that happen once, however many identical calls race.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import anyio

from .client import GenesisCloudClient, WaitResult
from .errors import ApiUnreachable, BadResponse, NotFound, ServerError, SnapshotMCPError
from .models import SETTLED_STATUSES, CreateSnapshotRequest, Snapshot
from .views import CreateResult, DeleteResult, SnapshotList, SnapshotView

logger = logging.getLogger("snapshot_mcp.operations")

DEDUPE_WINDOW_SECONDS = 600.0
DELETING_STATUSES = frozenset({"pending_delete", "deleting"})

Progress = Callable[[float, float, str], Awaitable[None]]
"""(progress, total, message): how a long wait reports itself."""


_CreateKey = tuple[str, int, str, str, str | None]
"""name, size, url, region, os_type: what makes two creates the same."""


@dataclass
class _RecentCreate:
    at: float
    wall: datetime
    snapshot_id: str | None
    ambiguous: bool


@dataclass(frozen=True)
class Filters:
    """Which snapshots a filtered listing keeps."""

    region: str | None = None
    status: str | None = None
    name_contains: str | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.region, self.status, self.name_contains))

    def __call__(self, snapshot: Snapshot) -> bool:
        if self.region is not None and snapshot.region.upper() != self.region.upper():
            return False
        if self.status is not None and snapshot.status.lower() != self.status.lower():
            return False
        return self.name_contains is None or self.name_contains.casefold() in snapshot.name.casefold()

    def describe(self) -> str:
        parts = [f"{k}={v}" for k, v in vars(self).items() if v is not None]
        return "(" + ", ".join(parts) + ")"


class Operations:
    """The snapshot operations the tools expose."""

    def __init__(
        self,
        client: GenesisCloudClient,
        *,
        wait_timeout: float = 45.0,
        poll_interval: float = 1.0,
        dedupe_window: float = DEDUPE_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self._window = dedupe_window
        self._clock = clock
        self._recent: dict[_CreateKey, _RecentCreate] = {}
        self._create_locks: dict[_CreateKey, anyio.Lock] = {}
        self._delete_locks: dict[str, anyio.Lock] = {}
        self._deleted: dict[str, float] = {}

    # -- reading -------------------------------------------------------------------

    async def list(
        self,
        page: int,
        per_page: int,
        filters: Filters,
        max_pages: int | None = None,
        progress: Progress | None = None,
    ) -> SnapshotList:
        if not filters.active:
            result = await self.client.list_page(page, per_page)
            return SnapshotList(
                snapshots=[SnapshotView.of(s) for s in result.snapshots],
                total_count=result.total_count,
                page=result.page,
                per_page=result.per_page,
                complete=result.page * result.per_page >= result.total_count,
            )

        async def on_page(read: int, pages: int) -> None:
            if progress is not None:
                await progress(read, pages, f"scanned page {read} of {pages}")

        scan = await self.client.scan(filters, max_pages=max_pages, on_page=on_page)
        return SnapshotList(
            snapshots=[SnapshotView.of(s) for s in scan.matches],
            total_count=scan.total_count,
            page=None,
            per_page=None,
            scanned=scan.scanned,
            complete=scan.complete,
        )

    async def get(self, snapshot_id: str) -> Snapshot:
        return await self.client.get(snapshot_id)

    # -- waiting -------------------------------------------------------------------

    async def wait(self, snapshot_id: str, *, gone: bool, progress: Progress | None) -> WaitResult:
        goal = "gone" if gone else "created or error"
        total = self.wait_timeout

        async def report(snapshot: Snapshot | None, polls: int, elapsed: float) -> None:
            if progress is None:
                return
            state = "gone" if snapshot is None else snapshot.status
            await progress(min(elapsed, total), total, f"{state} after {elapsed:.0f}s (waiting for {goal})")

        return await self.client.wait(
            snapshot_id, gone=gone, timeout=total, interval=self.poll_interval, on_progress=report
        )

    # -- creating ------------------------------------------------------------------

    async def create(self, request: CreateSnapshotRequest, *, wait: bool, progress: Progress | None) -> CreateResult:
        key = (request.name, request.size, request.url, request.region, request.os_type)
        lock = self._create_locks.setdefault(key, anyio.Lock())
        try:
            async with lock:
                snapshot = await self._find_recent(key, request)
                reused = snapshot is not None
                if snapshot is None:
                    snapshot = await self._create_once(key, request)
        finally:
            _forget_idle(self._create_locks, key, lock)
        if wait and snapshot.status not in SETTLED_STATUSES:
            result = await self.wait(snapshot.id, gone=False, progress=progress)
            snapshot = result.snapshot or snapshot
        return CreateResult(
            snapshot=SnapshotView.of(snapshot),
            reused=reused,
            settled=snapshot.status in SETTLED_STATUSES,
            next=_create_next(snapshot, waited=wait),
        )

    async def _find_recent(self, key: _CreateKey, request: CreateSnapshotRequest) -> Snapshot | None:
        now = self._clock()
        self._recent = {k: v for k, v in self._recent.items() if now - v.at < self._window}
        recent = self._recent.get(key)
        if recent is None:
            return None
        if recent.snapshot_id is not None:
            try:
                snapshot = await self.client.get(recent.snapshot_id)
            except NotFound:
                return None
            return None if snapshot.status == "error" else snapshot
        # An earlier identical create may have been made without its answer arriving:
        # look for it before sending another.
        since = recent.wall - timedelta(seconds=60)
        scan = await self.client.scan(
            lambda s: (
                s.name == request.name
                and s.region == request.region
                and s.status != "error"
                and (s.created_at is None or s.created_at >= since)
            )
        )
        if scan.matches:
            found = scan.matches[-1]
            self._recent[key] = _RecentCreate(recent.at, recent.wall, found.id, ambiguous=False)
            return found
        return None

    async def _create_once(self, key: _CreateKey, request: CreateSnapshotRequest) -> Snapshot:
        wall = datetime.now(UTC)
        try:
            snapshot = await self.client.create(request)
        except ApiUnreachable as exc:
            if exc.may_have_acted:
                self._remember_ambiguous(key, wall, exc, request)
            raise
        except (ServerError, BadResponse) as exc:
            self._remember_ambiguous(key, wall, exc, request)
            raise
        self._recent[key] = _RecentCreate(self._clock(), wall, snapshot.id, ambiguous=False)
        return snapshot

    def _remember_ambiguous(
        self, key: _CreateKey, wall: datetime, exc: SnapshotMCPError, request: CreateSnapshotRequest
    ) -> None:
        """The API may have acted: remember, so an identical retry looks first, and say so."""
        self._recent[key] = _RecentCreate(self._clock(), wall, None, ambiguous=True)
        exc.message += (
            f". The import may have started anyway. To continue, call create_snapshot_from_url again with "
            f"the same arguments: it looks for that import first and does not make a second "
            f"(or look yourself with list_snapshots(name_contains={request.name!r}))"
        )

    # -- deleting ------------------------------------------------------------------

    async def delete(self, snapshot: Snapshot, *, wait: bool, progress: Progress | None) -> DeleteResult:
        """Delete a snapshot whose deletion was confirmed, exactly once."""
        lock = self._delete_locks.setdefault(snapshot.id, anyio.Lock())
        try:
            async with lock:
                now = self._clock()
                self._deleted = {k: at for k, at in self._deleted.items() if now - at < self._window}
                already = snapshot.id in self._deleted or snapshot.status in DELETING_STATUSES
                if not already:
                    await self.client.delete(snapshot.id)
                    self._deleted[snapshot.id] = self._clock()
        finally:
            _forget_idle(self._delete_locks, snapshot.id, lock)
        if already:
            return DeleteResult(
                snapshot_id=snapshot.id,
                outcome="already_deleting",
                deleted=True,
                message="This snapshot is already being deleted; nothing more was sent.",
            )
        if wait:
            result = await self.wait(snapshot.id, gone=True, progress=progress)
            if result.reached:
                return DeleteResult(
                    snapshot_id=snapshot.id, outcome="deleted", deleted=True, message="Deleted; it is gone."
                )
        return DeleteResult(
            snapshot_id=snapshot.id,
            outcome="deleting",
            deleted=True,
            message="Deletion accepted; the snapshot disappears once the API finishes "
            "(get_snapshot then says not found).",
        )


_K = TypeVar("_K")


def _forget_idle(locks: dict[_K, anyio.Lock], key: _K, lock: anyio.Lock) -> None:
    """Drop a per-key lock that nobody holds or waits for, so the map does not grow with every key.

    anyio hands a released lock straight to its next waiter, and there is no await between
    the release and this check, so a lock still in use is never dropped.
    """
    if locks.get(key) is lock and not lock.locked() and lock.statistics().tasks_waiting == 0:
        del locks[key]


def _create_next(snapshot: Snapshot, *, waited: bool) -> str:
    if snapshot.status in ("created", "active"):
        return "ready: it can be used to create instances."
    if snapshot.status == "error":
        return (
            "the import failed: check that the URL is publicly reachable and is a raw (or zstd-compressed raw) "
            "image no larger than size GiB uncompressed; delete this snapshot, then try again."
        )
    hint = "still importing after the wait" if waited else "importing"
    return (
        f"{hint}; imports take minutes. Check later with get_snapshot(snapshot_id={snapshot.id!r}), "
        "or call again with wait=true (returns the same import)."
    )
