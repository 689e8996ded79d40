"""How one logical API request is sent: one attempt → its assessment → the retry decision → the data.

Split the way httpx splits sending, each step with one job:

- `send_once`: pass the rate limiter, send, read a bounded answer (at most
  `MAX_ANSWER_BYTES` decoded — which also bounds a compression bomb — within
  `ATTEMPT_SECONDS` in all, so a slow drip cannot hold a call). Too big or too slow is a
  `BadResponse` that says retrying will not help.
- `assess`: what an attempt means for this method — done (with the decoded JSON), worth
  another attempt, or an error to raise. Only the statuses that mean success for a
  method are success (GET/PATCH 200; POST 200/201; DELETE 202/204, or 404 after an
  attempt whose answer was lost); a redirect or any other status is a `BadResponse`.
- `Tries`: whether another attempt fits the `RetryPolicy` (attempts, total time) and
  after what pause (`Retry-After` when the API gave one, else backoff with jitter).

Retries follow one rule: retry only what cannot do harm twice. GET, PATCH and DELETE
(idempotent) retry 429, 502, 503, 504, connection failures and garbled or unexpected
answers; POST only a 429 or a connection that was never made — never a 5xx or a lost
answer, which could make a second snapshot.

A retry library (tenacity, stamina) was considered: the decision here depends on the
HTTP answer and the method, `Retry-After` replaces the backoff, and the tests drive a
virtual clock — tenacity's stop-after-delay reads `time.monotonic` itself and its
predicates see exceptions, not answers, so it would take custom stop, wait and retry
classes, more code than `Tries`.
"""

from __future__ import annotations

import json
import math
import random
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Literal

import anyio
import httpx

from . import __version__, messages, telemetry
from .errors import ApiError, ApiUnreachable, BadResponse, SnapshotMCPError, UnusableResponse, error_from_response
from .ratelimit import Limiter

USER_AGENT = f"snapshot-mcp/{__version__} (+https://pypi.org/project/snapshot-mcp/)"
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_ANSWER_BYTES = 4 * 1024 * 1024
"""A page of 100 snapshots is about 50 KiB: an answer past 4 MiB (decoded) is not the API's."""
ATTEMPT_SECONDS = 30.0
"""The longest one attempt may take, connection and the whole answer included."""

Method = Literal["GET", "POST", "PATCH", "DELETE"]
JSON = dict[str, object] | list[object] | str | int | float | bool | None
SUCCESS: dict[str, frozenset[int]] = {
    "GET": frozenset({200}),
    "PATCH": frozenset({200}),
    "POST": frozenset({200, 201}),
    "DELETE": frozenset({202, 204}),
}


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


# -- one attempt ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Answered:
    """What one attempt got back: status, the (bounded) decoded body, the Retry-After seconds."""

    status: int
    body: bytes
    content_type: str
    retry_after: float | None


@dataclass(frozen=True)
class Lost:
    """An attempt that got no answer."""

    error: httpx.TransportError | httpx.DecodingError

    @property
    def never_sent(self) -> bool:
        """True when the request cannot have reached the API."""
        return isinstance(self.error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)

    def describe(self) -> str:
        if isinstance(self.error, httpx.DecodingError):
            return messages.API_UNDECODABLE
        if isinstance(self.error, httpx.TimeoutException):
            return messages.API_SLOW
        if isinstance(self.error, httpx.ConnectError):
            return messages.API_NO_CONNECTION
        return messages.connection_failed(type(self.error).__name__)


class _TooLarge(Exception):
    pass


ACCEPT_ENCODING = "gzip, deflate"
"""The encodings asked for: the ones `_read` inflates itself, never past the cap."""


def _inflater(encoding: str) -> zlib._Decompress | None:
    """A decompressor for the answer's Content-Encoding (None: the body is as sent)."""
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return None
    if name in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if name == "deflate":
        return zlib.decompressobj()
    raise httpx.DecodingError(f"the API answered in an encoding that was not asked for ({name[:40]})")


async def _read(response: httpx.Response, limit: int) -> bytes:
    """The decoded body, at most `limit` bytes: a compressed one is inflated only that far (`_TooLarge` beyond)."""
    if response.is_stream_consumed:  # an in-process transport handed over a body already read
        if len(response.content) > limit:
            raise _TooLarge
        return response.content
    inflate = _inflater(response.headers.get("content-encoding", ""))
    body = bytearray()
    async for raw in response.aiter_raw():
        try:
            body += raw if inflate is None else inflate.decompress(raw, limit + 1 - len(body))
        except zlib.error as exc:
            raise httpx.DecodingError("the API's compressed answer is corrupt") from exc
        if len(body) > limit:
            raise _TooLarge
    return bytes(body)


async def send_once(
    http: httpx.AsyncClient,
    limiter: Limiter,
    request: httpx.Request,
    *,
    seconds: float = ATTEMPT_SECONDS,
    resend_count: int = 0,
) -> Answered | Lost:
    """One attempt: rate-limited, bounded in size and in time (`resend_count`: how many went before it)."""
    waited = time.monotonic()
    await limiter.acquire()
    telemetry.rate_limit_wait(time.monotonic() - waited)
    with telemetry.api_attempt(request.method, request.url.path, request.url.host, resend_count) as attempt:
        try:
            with anyio.move_on_after(seconds) as deadline:  # fail_after's scope without its generator
                response = await http.send(request, stream=True)
                attempt.answered(response.status_code)
                try:
                    body = await _read(response, MAX_ANSWER_BYTES)
                finally:
                    await response.aclose()
        except (httpx.TransportError, httpx.DecodingError) as exc:
            attempt.failed(type(exc).__name__)
            return Lost(exc)
        except _TooLarge:
            attempt.failed("too_large")
            raise UnusableResponse(messages.answer_too_large(MAX_ANSWER_BYTES // (1024 * 1024))) from None
        if deadline.cancelled_caught:
            attempt.failed("timeout")
            raise BadResponse(0, None, messages.answer_too_slow(seconds))
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    return Answered(response.status_code, body, response.headers.get("content-type", ""), retry_after)


# -- its assessment ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    """The request succeeded; `data` is the decoded JSON (None for an empty body)."""

    data: JSON


@dataclass(frozen=True)
class Again:
    """Another attempt may help: `give_up(attempts, maybe_acted)` is the error if none is made."""

    give_up: Callable[[int, bool], SnapshotMCPError]
    delay: float | None
    reached: bool
    """This attempt may have reached the API (so a later 404 on DELETE means it did the deletion)."""


Assessment = Done | Again | SnapshotMCPError


def assess(method: Method, outcome: Answered | Lost, *, secret: str, maybe_acted: bool) -> Assessment:
    """What one attempt means for `method` (see the module docstring)."""
    idempotent = method != "POST"
    if isinstance(outcome, Lost):
        message = outcome.describe()
        if not idempotent and not outcome.never_sent:
            return ApiUnreachable(messages.not_resent(message))
        return Again(_unreachable(message), None, reached=not outcome.never_sent)
    if outcome.status in SUCCESS[method]:
        return _decoded(outcome, idempotent)
    if outcome.status == 404 and method == "DELETE" and maybe_acted:
        return Done(None)  # an earlier attempt, whose answer was lost, did the deletion
    if outcome.status < 400:
        odd = BadResponse(outcome.status, None, messages.not_success(outcome.status, method))
        return Again(_same(odd), None, reached=True) if idempotent else odd
    error = error_from_response(outcome.status, outcome.body, outcome.content_type, outcome.retry_after, secret=secret)
    if outcome.status == 429 or (idempotent and outcome.status in RETRY_STATUSES):
        return Again(_same(error), outcome.retry_after, reached=outcome.status != 429)
    return error


def _decoded(answer: Answered, idempotent: bool) -> Assessment:
    if not answer.body.strip():
        return Done(None)
    try:
        data: JSON = json.loads(answer.body)
    except (ValueError, RecursionError):
        error = BadResponse(answer.status, None, messages.API_NOT_JSON)
        return Again(_same(error), None, reached=True) if idempotent else error
    return Done(data)


def _same(error: ApiError) -> Callable[[int, bool], SnapshotMCPError]:
    return lambda attempts, maybe_acted: error


def _unreachable(message: str) -> Callable[[int, bool], SnapshotMCPError]:
    return lambda attempts, maybe_acted: ApiUnreachable(messages.tried(message, attempts), may_have_acted=maybe_acted)


# -- the retry decision ---------------------------------------------------------------------


@dataclass
class Tries:
    """Counts attempts against a `RetryPolicy` and decides the pause before the next one."""

    policy: RetryPolicy
    clock: Callable[[], float] = time.monotonic
    rng: Callable[[], float] = random.random
    attempts: int = 0
    maybe_acted: bool = False
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def next(self, again: Again) -> float | None:
        """Seconds to pause before another attempt, or None: give up."""
        self.attempts += 1
        self.maybe_acted = self.maybe_acted or again.reached
        delay = again.delay if again.delay is not None else self.policy.backoff(self.attempts, self.rng)
        if self.attempts >= self.policy.max_attempts:
            return None
        if self.clock() + delay - self.started > self.policy.total_timeout:
            return None
        return delay
