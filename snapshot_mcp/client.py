"""`GenesisCloudClient`: the snapshot API over an injected `httpx.AsyncClient`.

The `httpx.AsyncClient` is the transport seam: production passes one built by
`build_http_client`, the demo and the tests pass one whose transport is the embedded
simulator or an `httpx.MockTransport`.

Retries follow one rule: retry only what cannot do harm twice.

- GET and DELETE (idempotent) retry 429, 502, 503, 504, connection failures and
  garbled bodies with exponential backoff and full jitter, honour `Retry-After`, and
  give up once `RetryPolicy.total_timeout` would be exceeded.
- POST retries only where the API cannot have acted: a 429, or a connection that was
  never made. Never after a 5xx or a read time-out: that could create a second snapshot.

Every request also passes a rate limiter (default 10 requests/s, the API's reported
limit), shared by all calls of one client, so concurrent page scans never exceed it.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import anyio
import httpx
from pydantic import SecretStr, ValidationError

from . import __version__
from .errors import (
    ApiError,
    ApiUnreachable,
    BadResponse,
    InvalidInput,
    MissingToken,
    NotFound,
    SnapshotMCPError,
    WaitTimeout,
    error_from_response,
)
from .models import (
    SETTLED_STATUSES,
    CloneRequest,
    CreateSnapshotRequest,
    InstancePage,
    InstanceSnapshotRequest,
    RenameRequest,
    Snapshot,
    SnapshotPage,
    check_instance_id,
    check_snapshot_id,
)
from .settings import DEFAULT_ENDPOINT

logger = logging.getLogger("snapshot_mcp.client")

USER_AGENT = f"snapshot-mcp/{__version__} (+https://pypi.org/project/snapshot-mcp/)"
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_PER_PAGE = 100
POLL_GRACE = 5.0
"""Seconds a wait's last poll may run past the wait's time-out (its retries)."""

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Defaults give up well under 30 s in all."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 8.0
    total_timeout: float = 20.0

    def backoff(self, attempt: int, rng: Callable[[], float]) -> float:
        """Exponential backoff with jitter (half to all of the ceiling) before attempt `attempt + 1`."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (attempt - 1))
        return ceiling * (0.5 + 0.5 * rng())


class RateLimiter:
    """Spaces requests at least `1 / rate` seconds apart (a bucket of one token).

    The interval is counted from when the previous request was actually let through,
    not from when it was due: a waiter woken late (a busy event loop) then delays the
    next one too, instead of letting two requests go out closer than `1 / rate`.
    """

    def __init__(self, rate: float, *, clock: Clock = time.monotonic, sleep: Sleep = anyio.sleep) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._interval = 1.0 / rate
        self._next = -math.inf
        self._clock = clock
        self._sleep = sleep

    async def acquire(self) -> None:
        while True:
            now = self._clock()
            if now >= self._next:
                self._next = now + self._interval
                return
            await self._sleep(self._next - now)


@dataclass(frozen=True)
class ScanResult:
    """The outcome of reading every page (or the first `max_pages`)."""

    matches: list[Snapshot]
    total_count: int
    scanned: int
    pages: int
    complete: bool


@dataclass(frozen=True)
class WaitResult:
    """Where a wait ended: `snapshot` is None once the snapshot is gone."""

    snapshot: Snapshot | None
    reached: bool
    polls: int
    elapsed: float


PageCallback = Callable[[int, int], Awaitable[None]]
"""Called after each page of a scan with (pages read so far, pages to read)."""

ProgressCallback = Callable[[Snapshot | None, int, float], Awaitable[None]]
"""Called after every poll of a wait with (snapshot or None when gone, polls, elapsed seconds)."""


def build_http_client(
    transport: httpx.AsyncBaseTransport | None = None, *, timeout: httpx.Timeout = DEFAULT_TIMEOUT
) -> httpx.AsyncClient:
    """The shared HTTP client: one connection pool, time-outs, no redirects followed."""
    return httpx.AsyncClient(
        transport=transport,
        timeout=timeout,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        follow_redirects=False,
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # HTTP-dates are GMT (RFC 9110), also the zone-less asctime form
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


def _describe_transport_error(exc: httpx.TransportError | httpx.DecodingError) -> str:
    if isinstance(exc, httpx.DecodingError):
        return "the API's answer could not be decoded"
    if isinstance(exc, httpx.TimeoutException):
        return "the API did not answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect to the API"
    return f"the connection to the API failed ({type(exc).__name__})"


def _never_sent(exc: httpx.TransportError | httpx.DecodingError) -> bool:
    """True when the request cannot have reached the API."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


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
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self._http = http
        self._token = token
        self._base = endpoint.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.limiter = RateLimiter(rate_limit, clock=clock, sleep=sleep)
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
        secret = self._token.get_secret_value()
        if not secret.isprintable() or any(ch.isspace() for ch in secret) or not secret.isascii():
            error = SnapshotMCPError(
                "GENESISCLOUD_TOKEN contains spaces or characters an HTTP header cannot carry; "
                "paste the token again without them"
            )
            error.who = "operator"  # the server's configuration must change, not the arguments
            raise error
        return f"Bearer {secret}"

    async def _request(
        self,
        method: Literal["GET", "POST", "PATCH", "DELETE"],
        path: str,
        *,
        params: dict[str, int] | None = None,
        body: dict[str, object] | None = None,
    ) -> tuple[Any, bool]:
        """Send one logical request with retries.

        Returns the decoded JSON body (None for an empty one) and whether an earlier
        attempt may have reached the API without its answer arriving.
        """
        headers = {"Authorization": self._auth_header(), "User-Agent": USER_AGENT, "Accept": "application/json"}
        url = f"{self._base}{path}"
        idempotent = method != "POST"
        policy = self.retry
        started = self._clock()
        attempt = 0
        maybe_acted = False
        while True:
            attempt += 1
            await self.limiter.acquire()
            try:
                response = await self._http.request(method, url, params=params, json=body, headers=headers)
            except (httpx.TransportError, httpx.DecodingError) as exc:
                logger.info("%s %s attempt %d: %s", method, path, attempt, type(exc).__name__)
                message = _describe_transport_error(exc)
                if not idempotent and not _never_sent(exc):
                    raise ApiUnreachable(f"{message}; the API may have acted on it, so it was not re-sent") from exc
                maybe_acted = maybe_acted or not _never_sent(exc)
                delay = policy.backoff(attempt, self._rng)
                if not self._may_retry(attempt, started, delay):
                    raise ApiUnreachable(f"{message} (tried {attempt} times)", may_have_acted=maybe_acted) from exc
                await self._sleep(delay)
                continue

            status = response.status_code
            logger.debug("%s %s attempt %d -> %d", method, path, attempt, status)
            content_type = response.headers.get("content-type", "")
            if status < 400:
                if not response.content.strip():
                    return None, maybe_acted
                try:
                    return response.json(), maybe_acted
                except (ValueError, RecursionError):
                    error: ApiError = BadResponse(status, None, "the response body was not valid JSON")
                    retryable = idempotent
            else:
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                secret = headers["Authorization"].removeprefix("Bearer ")
                error = error_from_response(status, response.content, content_type, retry_after, secret=secret)
                if status == 404 and method == "DELETE" and maybe_acted:
                    logger.info("DELETE %s: 404 after an attempt whose answer was lost: deleted", path)
                    return None, maybe_acted
                retryable = status == 429 or (idempotent and status in RETRY_STATUSES)
                if not retryable:
                    raise error
                delay = retry_after if retry_after is not None else policy.backoff(attempt, self._rng)
                if self._may_retry(attempt, started, delay):
                    maybe_acted = maybe_acted or status != 429
                    await self._sleep(delay)
                    continue
                raise error
            delay = policy.backoff(attempt, self._rng)
            if not (retryable and self._may_retry(attempt, started, delay)):
                raise error
            maybe_acted = True
            await self._sleep(delay)

    def _may_retry(self, attempt: int, started: float, delay: float) -> bool:
        policy = self.retry
        if attempt >= policy.max_attempts:
            return False
        return self._clock() + delay - started <= policy.total_timeout

    @staticmethod
    def _parse(model: type[Snapshot] | type[SnapshotPage] | type[InstancePage], data: Any, key: str | None) -> Any:
        try:
            payload = data[key] if key is not None else data
            return model.model_validate(payload)
        except (KeyError, TypeError, ValidationError):
            pass  # raised below, outside the handler: pydantic's report repeats the API's values
        raise BadResponse(200, None, f"the API's answer did not have the documented shape ({model.__name__})")

    async def list_page(self, page: int = 1, per_page: int = 50) -> SnapshotPage:
        """`GET /snapshots?page=&per_page=`: one page, as the API returns it."""
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise InvalidInput(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}")
        if page < 1:
            raise InvalidInput(f"page must be 1 or more, got {page}")
        data, _ = await self._request("GET", "/snapshots", params={"page": page, "per_page": per_page})
        result: SnapshotPage = self._parse(SnapshotPage, data, None)
        return result

    async def iter_snapshots(self, per_page: int = MAX_PER_PAGE) -> AsyncIterator[Snapshot]:
        """Every snapshot, page after page."""
        page = 1
        while True:
            result = await self.list_page(page, per_page)
            for snapshot in result.snapshots:
                yield snapshot
            if not result.snapshots or page * per_page >= result.total_count:
                return
            page += 1

    async def scan(
        self,
        predicate: Callable[[Snapshot], bool] = lambda _: True,
        *,
        per_page: int = MAX_PER_PAGE,
        max_pages: int | None = None,
        on_page: PageCallback | None = None,
        pages: Callable[[int, int], Awaitable[SnapshotPage]] | None = None,
    ) -> ScanResult:
        """Read all pages (concurrently, within the rate limit) and keep the matches.

        The first page tells how many there are; the others are fetched by at most
        `max_concurrency` tasks at once. A snapshot that moves between pages while the
        scan runs is counted once. `on_page(pages_read, pages_to_read)` follows each page.
        `pages(page, per_page)` reads another listing of the same shape (default: `list_page`).
        """
        read = pages or self.list_page
        if max_pages is not None and max_pages < 1:
            raise InvalidInput(f"max_pages must be 1 or more, got {max_pages}")
        first = await read(1, per_page)
        pages_total = max(1, math.ceil(first.total_count / per_page))
        pages_to_read = pages_total if max_pages is None else min(pages_total, max_pages)
        results: dict[int, SnapshotPage] = {1: first}
        limit = anyio.Semaphore(self.max_concurrency)
        failures: list[SnapshotMCPError] = []
        if on_page is not None:
            await on_page(1, pages_to_read)

        async def fetch(page: int, group: anyio.abc.TaskGroup) -> None:
            async with limit:
                try:
                    results[page] = await read(page, per_page)
                except SnapshotMCPError as exc:  # the first failure ends the scan, as itself
                    failures.append(exc)
                    group.cancel_scope.cancel()
                    return
            if on_page is not None:
                await on_page(len(results), pages_to_read)

        if pages_to_read > 1:
            async with anyio.create_task_group() as group:
                for page in range(2, pages_to_read + 1):
                    group.start_soon(fetch, page, group)
        if failures:
            raise failures[0]

        seen: set[str] = set()
        matches: list[Snapshot] = []
        for page in range(1, pages_to_read + 1):
            for snapshot in results[page].snapshots:
                if snapshot.id in seen:
                    continue
                seen.add(snapshot.id)
                if predicate(snapshot):
                    matches.append(snapshot)
        return ScanResult(
            matches=matches,
            total_count=first.total_count,
            scanned=len(seen),
            pages=pages_to_read,
            complete=pages_to_read >= pages_total,
        )

    async def get(self, snapshot_id: str) -> Snapshot:
        """`GET /snapshots/{id}`."""
        data, _ = await self._request("GET", f"/snapshots/{_checked_id(snapshot_id)}")
        snapshot: Snapshot = self._parse(Snapshot, data, "snapshot")
        return snapshot

    async def create(self, request: CreateSnapshotRequest) -> Snapshot:
        """`POST /snapshots`: the API answers at once with status `creating`."""
        data, _ = await self._request("POST", "/snapshots", body=request.body())
        snapshot: Snapshot = self._parse(Snapshot, data, "snapshot")
        return snapshot

    async def delete(self, snapshot_id: str) -> None:
        """`DELETE /snapshots/{id}`: returns once the API accepted it (204).

        A 404 on a retry, after an attempt whose answer was lost, means that attempt
        did the deletion: that is success, not an error.
        """
        await self._request("DELETE", f"/snapshots/{_checked_id(snapshot_id)}")

    async def list_instances(self, page: int = 1, per_page: int = MAX_PER_PAGE) -> InstancePage:
        """`GET /instances?page=&per_page=`: one page of instances."""
        data, _ = await self._request("GET", "/instances", params={"page": page, "per_page": per_page})
        result: InstancePage = self._parse(InstancePage, data, None)
        return result

    async def list_instance_snapshots(self, instance_id: str, page: int = 1, per_page: int = 50) -> SnapshotPage:
        """`GET /instances/{id}/snapshots`: one page of the snapshots made from an instance."""
        path = f"/instances/{_checked_instance_id(instance_id)}/snapshots"
        data, _ = await self._request("GET", path, params={"page": page, "per_page": per_page})
        result: SnapshotPage = self._parse(SnapshotPage, data, None)
        return result

    async def snapshot_instance(self, instance_id: str, request: InstanceSnapshotRequest) -> Snapshot:
        """`POST /instances/{id}/snapshots`: snapshot a running or stopped instance (status `creating`)."""
        path = f"/instances/{_checked_instance_id(instance_id)}/snapshots"
        data, _ = await self._request("POST", path, body=request.body())
        snapshot: Snapshot = self._parse(Snapshot, data, "snapshot")
        return snapshot

    async def clone(self, snapshot_id: str, request: CloneRequest) -> Snapshot:
        """`POST /snapshots/{id}/clone`: copy a snapshot to a region (status `creating`)."""
        data, _ = await self._request("POST", f"/snapshots/{_checked_id(snapshot_id)}/clone", body=request.body())
        snapshot: Snapshot = self._parse(Snapshot, data, "snapshot")
        return snapshot

    async def rename(self, snapshot_id: str, request: RenameRequest) -> Snapshot:
        """`PATCH /snapshots/{id}`: change the name."""
        data, _ = await self._request("PATCH", f"/snapshots/{_checked_id(snapshot_id)}", body=request.body())
        snapshot: Snapshot = self._parse(Snapshot, data, "snapshot")
        return snapshot

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
                    raise WaitTimeout("the API did not answer within the wait; check again later", None)
                return WaitResult(snapshot=last, reached=False, polls=polls, elapsed=self._clock() - started)
            elapsed = self._clock() - started
            if on_progress is not None:
                await on_progress(snapshot, polls, elapsed)
            reached = snapshot is None if gone else snapshot is not None and snapshot.status in until
            now = self._clock()
            if reached or now >= deadline:
                return WaitResult(snapshot=snapshot, reached=reached, polls=polls, elapsed=now - started)
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
