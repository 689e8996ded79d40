"""`GenesisCloudClient`: the Genesis Cloud compute API over an injected `httpx.AsyncClient`.

The `httpx.AsyncClient` is the transport seam: production passes one built by
`build_http_client`, the demo and the tests pass one whose transport is the embedded
simulator or an `httpx.MockTransport`. One method per endpoint, and one pager (`scan`)
for every listing; how a request is sent, assessed and retried is `sending`; how fast
requests leave is `ratelimit` (10 requests/s by default, shared by all calls of one
client, so concurrent page scans never exceed it).

Answers are parsed into typed models (API text cleaned there, the token redacted from
it); an answer about another snapshot than the one asked for is a `BadResponse`.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

import anyio
import httpx
from pydantic import BaseModel, SecretStr, ValidationError

from . import messages
from .errors import BadResponse, InvalidInput, MissingToken, NotFound, SnapshotMCPError, WaitTimeout
from .models import (
    SETTLED_STATUSES,
    CloneRequest,
    CreateSnapshotRequest,
    Instance,
    InstancePage,
    InstanceSnapshotRequest,
    RenameRequest,
    Snapshot,
    SnapshotPage,
    check_instance_id,
    check_snapshot_id,
)
from .ratelimit import Clock, Limiter, Sleep, SlidingWindow
from .sending import (
    ACCEPT_ENCODING,
    ATTEMPT_SECONDS,
    JSON,
    USER_AGENT,
    Answered,
    Done,
    Lost,
    Method,
    RetryPolicy,
    Tries,
    assess,
    send_once,
)
from .settings import DEFAULT_ENDPOINT

logger = logging.getLogger("snapshot_mcp.client")

MAX_PER_PAGE = 100
POLL_GRACE = 5.0
"""Seconds a wait's last poll may run past the wait's time-out (its retries)."""

M = TypeVar("M", bound=BaseModel)


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


Item = TypeVar("Item", bound=_Identified)

Pages = Callable[[int, int], Awaitable[tuple[Sequence[Item], int]]]
"""(page, per_page) → that page's items and how many the API counts in all: a listing the pager reads."""


@dataclass(frozen=True)
class Scan(Generic[Item]):
    """What the pager read: every item once (by id), in the order read; the API's count; whether every page was read."""

    items: list[Item]
    total_count: int
    complete: bool


@dataclass(frozen=True)
class WaitResult:
    """Where a wait ended: `snapshot` is None once the snapshot is gone."""

    snapshot: Snapshot | None
    reached: bool
    elapsed: float


PageCallback = Callable[[int, int], Awaitable[None]]
"""Called after each page of a scan with (pages read so far, pages to read)."""

ProgressCallback = Callable[[Snapshot | None, int, float], Awaitable[None]]
"""Called after every poll of a wait with (snapshot or None when gone, polls, elapsed seconds)."""


class GenesisCloudClient:
    """Typed access to `/snapshots` of the Genesis Cloud compute API."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        token: SecretStr | None,
        endpoint: str = DEFAULT_ENDPOINT,
        retry: RetryPolicy | None = None,
        rate_limit: float = 10.0,
        max_concurrency: int = 4,
        clock: Clock = time.monotonic,
        sleep: Sleep = anyio.sleep,
        rng: Callable[[], float] = random.random,
        limiter: Limiter | None = None,
        attempt_seconds: float = ATTEMPT_SECONDS,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._http = http
        # What every request says besides the token; only the headers `http` does not already send (its
        # defaults: `sending.build_http_client` sets most), as each one is merged into every request again.
        ours = {"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
        self._headers = {name: value for name, value in ours.items() if http.headers.get(name) != value}
        self._token = token
        secret = "" if token is None else token.get_secret_value()  # can it go in a header at all (checked once)
        self._sendable = secret.isprintable() and secret.isascii() and not any(ch.isspace() for ch in secret)
        self._base = endpoint.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.limiter: Limiter = limiter or SlidingWindow(rate_limit, clock=clock, sleep=sleep)
        self.attempt_seconds = attempt_seconds
        self.max_concurrency = max_concurrency
        self._clock = clock
        self._sleep = sleep
        self._rng = rng

    def __repr__(self) -> str:
        return f"GenesisCloudClient(endpoint={self._base!r}, token={'set' if self._token else 'unset'})"

    @property
    def endpoint(self) -> str:
        return self._base

    def _auth_header(self) -> str:
        if self._token is None:
            raise MissingToken()
        if not self._sendable:
            error = SnapshotMCPError(messages.UNSENDABLE_CREDENTIAL)
            error.who = "operator"  # the server's configuration must change, not the arguments
            raise error
        return f"Bearer {self._token.get_secret_value()}"

    async def _request(
        self,
        method: Method,
        path: str,
        *,
        params: dict[str, int] | None = None,
        body: dict[str, object] | None = None,
        retry: RetryPolicy | None = None,
    ) -> JSON:
        """Send one logical request (several attempts if `sending.assess` says one may help); its JSON.

        `retry` replaces the client's policy for this request (a completion makes one attempt).
        """
        headers = {"Authorization": self._auth_header(), **self._headers}
        url = f"{self._base}{path}"
        tries = Tries(retry or self.retry, self._clock, self._rng)
        while True:
            request = self._http.build_request(method, url, params=params, json=body, headers=headers)
            outcome = await send_once(
                self._http, self.limiter, request, seconds=self.attempt_seconds, resend_count=tries.attempts
            )
            if isinstance(outcome, Lost):
                logger.info("%s %s: %s", method, path, type(outcome.error).__name__)
            assessment = assess(method, outcome, secret=self._secret(), maybe_acted=tries.maybe_acted)
            if isinstance(assessment, Done):
                return assessment.data
            cause = outcome.error if isinstance(outcome, Lost) else None
            if isinstance(assessment, SnapshotMCPError):
                raise assessment from cause
            delay = tries.next(assessment)
            if delay is None:
                raise assessment.give_up(tries.attempts, tries.maybe_acted) from cause
            logger.debug("%s %s: attempt %d failed; the next in %.2f s", method, path, tries.attempts, delay)
            if isinstance(outcome, Answered) and outcome.status == 429 and outcome.retry_after is not None:
                await self.limiter.pause(delay)  # the account's limit: every request waits, not only this one
            await self._sleep(delay)

    def _secret(self) -> str:
        return self._token.get_secret_value() if self._token is not None else ""

    def _parse(self, model: type[M], data: JSON, key: str | None) -> M:
        """`data` (or `data[key]`) as `model`, its text cleaned and the token redacted; else `BadResponse`."""
        payload = data.get(key) if key is not None and isinstance(data, dict) else data
        try:
            return model.model_validate(payload, context={"secrets": (self._secret(),)})
        except ValidationError:
            pass  # raised below, outside the handler: pydantic's report repeats the API's values
        raise BadResponse(200, None, messages.undocumented_shape(model.__name__))

    async def list_page(self, page: int = 1, per_page: int = 50, *, retry: RetryPolicy | None = None) -> SnapshotPage:
        """`GET /snapshots?page=&per_page=`: one page, as the API returns it (`retry`: this read's own policy)."""
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise InvalidInput(messages.out_of_range("per_page", per_page, 1, MAX_PER_PAGE))
        if page < 1:
            raise InvalidInput(messages.out_of_range("page", page, 1))
        data = await self._request("GET", "/snapshots", params={"page": page, "per_page": per_page}, retry=retry)
        return self._parse(SnapshotPage, data, None)

    def snapshot_pages(self, instance_id: str | None = None) -> Pages[Snapshot]:
        """The account's snapshots (or those made from one instance), as a listing the pager reads."""

        async def read(page: int, per_page: int) -> tuple[list[Snapshot], int]:
            if instance_id is None:
                found = await self.list_page(page, per_page)
            else:
                found = await self.list_instance_snapshots(instance_id, page, per_page)
            return found.snapshots, found.total_count

        return read

    async def instance_pages(self, page: int, per_page: int) -> tuple[list[Instance], int]:
        """The account's instances, as a listing the pager reads."""
        found = await self.list_instances(page, per_page)
        return found.instances, found.total_count

    async def scan(
        self,
        pages: Pages[Item],
        *,
        per_page: int = MAX_PER_PAGE,
        max_pages: int | None = None,
        newest_end: bool = False,
        on_page: PageCallback | None = None,
    ) -> Scan[Item]:
        """The pager: read every page of a listing (or `max_pages` of them), within the rate limit.

        The first page tells how many there are; the next ones follow in order, or with
        `newest_end` from the last page back (where a listing in creation order keeps its
        newest). `max_concurrency` workers take the next page number in turn, so no more
        than that many requests are in flight and memory grows with `max_pages`, never
        with what the API claims. The first failure ends the scan as itself. An item that
        moves between pages is kept once.
        """
        if max_pages is not None and max_pages < 1:
            raise InvalidInput(messages.out_of_range("max_pages", max_pages, 1))
        first, count = await pages(1, per_page)
        total = max(1, math.ceil(count / per_page))
        wanted = total if max_pages is None else min(total, max_pages)
        numbers = range(total, total - wanted + 1, -1) if newest_end else range(2, wanted + 1)
        results: dict[int, Sequence[Item]] = {1: first}
        if on_page is not None:
            await on_page(1, wanted)
        await self._read_pages(pages, per_page, numbers, results, on_page)
        seen: dict[str, Item] = {}
        for number in (1, *numbers):
            for item in results[number]:
                seen.setdefault(item.id, item)
        return Scan(list(seen.values()), count, complete=wanted >= total)

    async def _read_pages(
        self,
        pages: Pages[Item],
        per_page: int,
        numbers: range,
        results: dict[int, Sequence[Item]],
        on_page: PageCallback | None,
    ) -> None:
        """Fetch `numbers` into `results` with at most `max_concurrency` workers."""
        queue = iter(numbers)
        failures: list[SnapshotMCPError] = []

        async def worker(group: anyio.abc.TaskGroup) -> None:
            for page in queue:  # a shared iterator: each page is taken by one worker
                try:
                    results[page], _ = await pages(page, per_page)
                except SnapshotMCPError as exc:
                    failures.append(exc)
                    group.cancel_scope.cancel()
                    return
                if on_page is not None:
                    await on_page(len(results), len(numbers) + 1)

        async with anyio.create_task_group() as group:
            for _ in range(min(self.max_concurrency, len(numbers))):
                group.start_soon(worker, group)
        if failures:
            raise failures[0]

    async def get(self, snapshot_id: str) -> Snapshot:
        """`GET /snapshots/{id}`; an answer about another snapshot is a `BadResponse`, never used."""
        wanted = _checked_id(snapshot_id)
        snapshot = self._parse(Snapshot, await self._request("GET", f"/snapshots/{wanted}"), "snapshot")
        if snapshot.id.strip().lower() != wanted:
            raise BadResponse(200, None, messages.another_snapshot(wanted))
        return snapshot

    async def create(self, request: CreateSnapshotRequest) -> Snapshot:
        """`POST /snapshots`: the API answers at once with status `creating`."""
        data = await self._request("POST", "/snapshots", body=request.body())
        return self._parse(Snapshot, data, "snapshot")

    async def delete(self, snapshot_id: str) -> None:
        """`DELETE /snapshots/{id}`: returns once the API accepted it (202 or 204).

        A 404 on a retry, after an attempt whose answer was lost, means that attempt
        did the deletion: that is success, not an error.
        """
        await self._request("DELETE", f"/snapshots/{_checked_id(snapshot_id)}")

    async def list_instances(
        self, page: int = 1, per_page: int = MAX_PER_PAGE, *, retry: RetryPolicy | None = None
    ) -> InstancePage:
        """`GET /instances?page=&per_page=`: one page of instances (`retry`: this read's own policy)."""
        data = await self._request("GET", "/instances", params={"page": page, "per_page": per_page}, retry=retry)
        return self._parse(InstancePage, data, None)

    async def list_instance_snapshots(self, instance_id: str, page: int = 1, per_page: int = 50) -> SnapshotPage:
        """`GET /instances/{id}/snapshots`: one page of the snapshots made from an instance."""
        path = f"/instances/{_checked_instance_id(instance_id)}/snapshots"
        data = await self._request("GET", path, params={"page": page, "per_page": per_page})
        return self._parse(SnapshotPage, data, None)

    async def snapshot_instance(self, instance_id: str, request: InstanceSnapshotRequest) -> Snapshot:
        """`POST /instances/{id}/snapshots`: snapshot a running or stopped instance (status `creating`)."""
        path = f"/instances/{_checked_instance_id(instance_id)}/snapshots"
        data = await self._request("POST", path, body=request.body())
        return self._parse(Snapshot, data, "snapshot")

    async def clone(self, snapshot_id: str, request: CloneRequest) -> Snapshot:
        """`POST /snapshots/{id}/clone`: copy a snapshot to a region (status `creating`)."""
        data = await self._request("POST", f"/snapshots/{_checked_id(snapshot_id)}/clone", body=request.body())
        return self._parse(Snapshot, data, "snapshot")

    async def rename(self, snapshot_id: str, request: RenameRequest) -> Snapshot:
        """`PATCH /snapshots/{id}`: change the name."""
        data = await self._request("PATCH", f"/snapshots/{_checked_id(snapshot_id)}", body=request.body())
        return self._parse(Snapshot, data, "snapshot")

    async def wait(
        self,
        snapshot_id: str,
        *,
        until: Collection[str] = SETTLED_STATUSES,
        gone: bool = False,
        timeout: float = 45.0,  # noqa: ASYNC109 - a polling budget, not a cancellation
        interval: float = 1.0,
        max_interval: float = 5.0,
        on_progress: ProgressCallback | None = None,
    ) -> WaitResult:
        """Poll until the status is one of `until` (or, with `gone`, until 404).

        Polls start `interval` apart and back off by 1.5x up to `max_interval`; the
        wait never runs past `timeout` and then reports where it stood. A poll that is
        still retrying a failing API at the deadline gets `POLL_GRACE` seconds more; then
        the wait reports the last state it saw (or raises `WaitTimeout` if it saw none).
        """
        started = self._clock()
        deadline = started + timeout
        polls = 0
        delay = interval
        last: Snapshot | None = None
        while True:
            polls += 1
            snapshot: Snapshot | None = None
            with anyio.move_on_after(max(0.0, deadline - self._clock()) + POLL_GRACE) as poll:
                try:
                    snapshot = last = await self.get(snapshot_id)
                except NotFound:
                    if not gone:
                        raise
            if poll.cancelled_caught:
                if last is None:
                    raise WaitTimeout(messages.WAIT_NO_ANSWER)
                return WaitResult(snapshot=last, reached=False, elapsed=self._clock() - started)
            elapsed = self._clock() - started
            if on_progress is not None:
                await on_progress(snapshot, polls, elapsed)
            reached = snapshot is None if gone else snapshot is not None and snapshot.status in until
            now = self._clock()
            if reached or now >= deadline:
                return WaitResult(snapshot=snapshot, reached=reached, elapsed=now - started)
            await self._sleep(min(delay, deadline - now))
            delay = min(delay * 1.5, max_interval)


def _checked_id(snapshot_id: str) -> str:
    try:
        return check_snapshot_id(snapshot_id)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


def _checked_instance_id(instance_id: str) -> str:
    try:
        return check_instance_id(instance_id)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
