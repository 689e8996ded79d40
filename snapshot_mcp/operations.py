"""Operations: what a tool call means, above the HTTP client and below MCP.

Here live the rules that make the tools safe to call from a model: filtered scans,
bounded waits with progress, creates that are never silently made twice, and deletes
that happen once, however many identical calls race. No MCP, no sentences and no views:
these return typed facts (`Listing`, `Created`, a `DeleteOutcome`), report progress as
facts (`ScanStep`, `WaitStep`) and raise typed errors; the tools word them.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

import anyio

from .client import GenesisCloudClient, WaitResult
from .dedupe import DEDUPE_WINDOW_SECONDS, Dedupe, Intent, Outcome
from .errors import SnapshotMCPError, StoreUnavailable
from .models import (
    SETTLED_STATUSES,
    CloneRequest,
    CreateSnapshotRequest,
    Instance,
    InstanceSnapshotRequest,
    RenameRequest,
    Snapshot,
)
from .store import Store

logger = logging.getLogger("snapshot_mcp.operations")

DELETING_STATUSES = frozenset({"pending_delete", "deleting"})
MAX_SCAN_PAGES = 200
"""Pages a filtered scan reads at most (20,000 snapshots at 100 a page)."""
MAX_INSTANCE_PAGES = 20
"""Pages of instances a listing reads at most (2,000 instances)."""

DeleteOutcome = Literal["deleting", "deleted", "already_deleting"]


@dataclass(frozen=True)
class ScanStep:
    """A filtered scan read another page."""

    read: int
    pages: int


@dataclass(frozen=True)
class WaitStep:
    """A wait looked again: `status` None once the snapshot is gone; `done` of `total` seconds of its budget."""

    status: str | None
    elapsed: float
    gone: bool
    """What the wait is for: the snapshot gone (else: created or error)."""
    done: float
    total: float


Progress = Callable[[ScanStep | WaitStep], Awaitable[None]]
"""How a long call reports where it stands."""


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
        return self.name_contains is None or snapshot.name.contains(self.name_contains)

    def given(self) -> dict[str, str]:
        """The filters that were given, by name."""
        return {k: v for k, v in vars(self).items() if v is not None}


@dataclass(frozen=True)
class Listing:
    """What a listing found: one page as the API gave it (`page`, `per_page`), or a filtered scan's matches."""

    snapshots: list[Snapshot]
    total_count: int
    complete: bool
    """False if more pages exist (one page) or the scan stopped before the last page."""
    page: int | None = None
    per_page: int | None = None
    scanned: int | None = None
    """Snapshots a filtered scan examined."""


@dataclass(frozen=True)
class InstanceListing:
    """The instances that match, of every page read (up to a bound)."""

    instances: list[Instance]
    total_count: int
    complete: bool


@dataclass(frozen=True)
class Created:
    """A create's result: the snapshot, how it was come by (see `dedupe.Outcome`), and whether we waited."""

    outcome: Outcome
    snapshot: Snapshot
    waited: bool

    @property
    def settled(self) -> bool:
        return self.snapshot.status in SETTLED_STATUSES


def instance_intent(instance_id: str, request: InstanceSnapshotRequest) -> Intent:
    """A snapshot of an instance: the same instance, name and replica region make the same request."""

    def echoes(snapshot: Snapshot) -> bool:
        return snapshot.name.raw == request.name and snapshot.source_instance_id == instance_id

    fields = (instance_id, request.name, request.replicated_region)
    return Intent("instance-snapshot", fields, request.name, echoes)


def clone_intent(snapshot_id: str, request: CloneRequest) -> Intent:
    """A copy: the same source, name and region make the same request (all echoed by the API)."""

    def echoes(snapshot: Snapshot) -> bool:
        return (
            snapshot.name.raw == request.name
            and snapshot.region == request.region
            and snapshot.source_snapshot_id == snapshot_id
        )

    return Intent("clone", (snapshot_id, request.name, request.region), request.name, echoes)


def import_intent(request: CreateSnapshotRequest) -> Intent:
    """An import from a URL: the same name, size, URL, region and OS make the same request.

    The API echoes all but the URL; an omitted OS is created as linux.
    """

    def echoes(snapshot: Snapshot) -> bool:
        os_type = request.os_type or "linux"
        return (
            snapshot.name.raw == request.name
            and snapshot.region == request.region
            and snapshot.size == request.size
            and snapshot.os_type in (os_type, None)
        )

    fields = (request.name, request.size, request.url, request.region, request.os_type)
    return Intent("import", fields, request.name, echoes)


class Operations:
    """The snapshot operations the tools expose."""

    def __init__(
        self,
        client: GenesisCloudClient,
        store: Store,
        *,
        wait_timeout: float = 45.0,
        poll_interval: float = 1.0,
        dedupe_window: float = DEDUPE_WINDOW_SECONDS,
    ) -> None:
        self.client = client
        self.store = store
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self._window = dedupe_window
        self.dedupe = Dedupe(client, store, window=dedupe_window)
        self._delete_locks: dict[str, anyio.Lock] = {}

    # -- reading -------------------------------------------------------------------

    async def list(
        self,
        page: int,
        per_page: int,
        filters: Filters,
        progress: Progress | None = None,
        instance_id: str | None = None,
    ) -> Listing:
        """One page as the API gives it; with filters, the matches among every page (up to `MAX_SCAN_PAGES`)."""
        pages = self.client.snapshot_pages(instance_id)
        if not filters.active:
            snapshots, total = await pages(page, per_page)
            return Listing(list(snapshots), total, page * per_page >= total, page=page, per_page=per_page)

        async def on_page(read: int, total: int) -> None:
            if progress is not None:
                await progress(ScanStep(read, total))

        scan = await self.client.scan(pages, max_pages=MAX_SCAN_PAGES, on_page=on_page)
        matches = [snapshot for snapshot in scan.items if filters(snapshot)]
        return Listing(matches, scan.total_count, scan.complete, scanned=len(scan.items))

    async def get(self, snapshot_id: str) -> Snapshot:
        return await self.client.get(snapshot_id)

    async def list_instances(self, region: str | None, name_contains: str | None) -> InstanceListing:
        """Every instance (up to `MAX_INSTANCE_PAGES` pages) whose region and name match."""
        scan = await self.client.scan(self.client.instance_pages, max_pages=MAX_INSTANCE_PAGES)
        kept = [
            instance
            for instance in scan.items
            if (region is None or instance.region.upper() == region.upper())
            and instance.name.contains(name_contains or "")
        ]
        return InstanceListing(kept, scan.total_count, scan.complete)

    # -- waiting -------------------------------------------------------------------

    async def wait(
        self, snapshot_id: str, *, gone: bool, progress: Progress | None, limit: float | None = None
    ) -> WaitResult:
        """Poll until created/error (or gone), at most `limit` seconds (default: the server's wait limit).

        Progress counts seconds of that limit, and ends at the full limit when the goal is reached early.
        """
        total = self.wait_timeout if limit is None else min(limit, self.wait_timeout)

        async def report(snapshot: Snapshot | None, polls: int, elapsed: float) -> None:
            if progress is not None:
                status = None if snapshot is None else snapshot.status
                await progress(WaitStep(status, elapsed, gone, min(elapsed, total), total))

        result = await self.client.wait(
            snapshot_id, gone=gone, timeout=total, interval=self.poll_interval, on_progress=report
        )
        if result.reached and progress is not None:
            status = None if result.snapshot is None else result.snapshot.status
            await progress(WaitStep(status, result.elapsed, gone, total, total))
        return result

    # -- creating ------------------------------------------------------------------

    async def create(self, request: CreateSnapshotRequest, *, wait: bool, progress: Progress | None) -> Created:
        """Import from a URL, never twice for identical requests (see `dedupe`)."""
        outcome = await self.dedupe.run(import_intent(request), lambda: self.client.create(request))
        return await self._settle(outcome, wait, progress)

    async def snapshot_instance(
        self, instance_id: str, request: InstanceSnapshotRequest, *, wait: bool, progress: Progress | None
    ) -> Created:
        """Snapshot an instance, never twice for identical requests (see `dedupe`)."""
        intent = instance_intent(instance_id, request)
        outcome = await self.dedupe.run(
            intent,
            lambda: self.client.snapshot_instance(instance_id, request),
            pages=self.client.snapshot_pages(instance_id),
        )
        return await self._settle(outcome, wait, progress)

    async def copy(self, snapshot_id: str, region: str, name: str | None) -> Created:
        """Copy a snapshot to a region (named like the source unless `name` is given), never twice."""
        if name is None:
            request = CloneRequest.like_source((await self.client.get(snapshot_id)).name.raw, region)
        else:
            request = CloneRequest(name=name, region=region)
        outcome = await self.dedupe.run(
            clone_intent(snapshot_id, request), lambda: self.client.clone(snapshot_id, request)
        )
        return Created(outcome, outcome.snapshot, waited=False)

    async def rename(self, snapshot_id: str, name: str) -> Snapshot:
        return await self.client.rename(snapshot_id, RenameRequest(name=name))

    async def _settle(self, outcome: Outcome, wait: bool, progress: Progress | None) -> Created:
        """Optionally wait for a new or found snapshot to finish (created or error)."""
        snapshot = outcome.snapshot
        if wait and snapshot.status not in SETTLED_STATUSES:
            result = await self.wait(snapshot.id, gone=False, progress=progress)
            snapshot = result.snapshot or snapshot
        return Created(outcome, snapshot, waited=wait)

    # -- deleting ------------------------------------------------------------------

    async def delete(
        self, snapshot: Snapshot, *, wait: bool, progress: Progress | None, wait_timeout: float | None = None
    ) -> DeleteOutcome:
        """Delete a snapshot whose deletion was confirmed, exactly once; optionally wait until it is gone."""
        lock = self._delete_locks.setdefault(snapshot.id, anyio.Lock())
        try:
            async with lock:
                already = snapshot.status in DELETING_STATUSES or not await self._send_delete(snapshot.id)
        finally:
            _forget_idle(self._delete_locks, snapshot.id, lock)
        if already:
            return "already_deleting"
        if wait and (await self.wait(snapshot.id, gone=True, progress=progress, limit=wait_timeout)).reached:
            return "deleted"
        return "deleting"

    async def delete_claimed(self, snapshot_id: str) -> bool:
        """Whether a DELETE of this snapshot was claimed (and is being sent, or was accepted) within the window."""
        return await self.store.get(f"deleted:{snapshot_id}") is not None

    async def _send_delete(self, snapshot_id: str) -> bool:
        """Claim the snapshot's deletion in the store (instances share it), then send the DELETE; False: claimed before.

        A DELETE that fails gives the claim back, so a confirmed retry may send it again.
        """
        key = f"deleted:{snapshot_id}"
        if not await self.store.put_once(key, "1", self._window):
            return False
        try:
            await self.client.delete(snapshot_id)
        except SnapshotMCPError:
            with contextlib.suppress(StoreUnavailable):  # else the claim lapses with its time-to-live
                await self.store.delete(key)
            raise
        return True


_K = TypeVar("_K")


def _forget_idle(locks: dict[_K, anyio.Lock], key: _K, lock: anyio.Lock) -> None:
    """Drop a per-key lock that nobody holds or waits for, so the map does not grow with every key.

    anyio hands a released lock straight to its next waiter, and there is no await between
    the release and this check, so a lock still in use is never dropped.
    """
    if locks.get(key) is lock and not lock.locked() and lock.statistics().tasks_waiting == 0:
        del locks[key]
