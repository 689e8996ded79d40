"""How one request is sent: bounded answers, what counts as success, and what is retried.

Retries: which statuses and errors, for which methods (a create is never sent twice
where the API may have acted), the backoff, Retry-After, and the total time-out, on a
`VirtualClock`. Bounded answers: a 600 MiB body, a gzip bomb and a slow drip end in a
`BadResponse` that says retrying will not help, without the memory or the time; an
answer about another snapshot is refused; only 202/204 mean a DELETE succeeded.
"""

from __future__ import annotations

import gzip
import json
import os
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator
from email.utils import formatdate

import anyio
import anyio.abc
import anyio.lowlevel
import httpx
import pytest
from pydantic import SecretStr

from snapshot_mcp import __version__
from snapshot_mcp.client import GenesisCloudClient
from snapshot_mcp.errors import (
    ApiError,
    ApiUnreachable,
    BadResponse,
    NotFound,
    RateLimited,
    ServerError,
)
from snapshot_mcp.models import CreateSnapshotRequest
from snapshot_mcp.sending import (
    DEFAULT_TIMEOUT,
    MAX_ANSWER_BYTES,
    SUCCESS,
    USER_AGENT,
    Answered,
    Done,
    Lost,
    RetryPolicy,
    assess,
    build_http_client,
    parse_retry_after,
)
from snapshot_mcp.simulator import Faults, Simulator
from tests.support import (
    GOOD_BODY,
    OTHER_SEED_ID,
    PREFIX,
    SEED_ID,
    UNKNOWN_ID,
    VirtualClock,
    connected,
    make_client,
    methods,
    mocked,
)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def client(sim_http: httpx.AsyncClient, clock: VirtualClock) -> GenesisCloudClient:
    return make_client(sim_http, clock)


async def test_user_agent_with_the_production_http_client(sim: Simulator, clock: VirtualClock) -> None:
    """build_http_client: the same User-Agent, no redirects followed, the documented time-outs."""
    async with build_http_client(sim.transport()) as http:
        assert http.follow_redirects is False
        assert http.timeout == DEFAULT_TIMEOUT
        await make_client(http, clock).list_page()
    assert sim.requests[0].headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith(f"snapshot-mcp/{__version__} ")


# =========================================================================== retry policy


@pytest.mark.parametrize("status", [429, 502, 503, 504])
@pytest.mark.parametrize("failures", [1, 2, 4])
async def test_get_retries_transient_statuses(
    client: GenesisCloudClient, sim: Simulator, clock: VirtualClock, status: int, failures: int
) -> None:
    """GET retries 429/502/503/504 with exponential backoff until it succeeds."""
    sim.faults = Faults(fail_first=failures, fail_status=status)
    page = await client.list_page()
    assert page.total_count == 12
    assert len(sim.requests) == failures + 1
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0][:failures]


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_delete_retries_transient_statuses(
    client: GenesisCloudClient, sim: Simulator, clock: VirtualClock, status: int
) -> None:
    """DELETE retries the same statuses (an injected fault acts before the delete)."""
    sim.faults = Faults(fail_first=2, fail_status=status, fail_methods=frozenset({"DELETE"}))
    await client.delete(SEED_ID)
    assert methods(sim) == ["DELETE"] * 3
    assert sim.snapshots[SEED_ID]["status"] == "pending_delete"
    assert clock.sleeps == [0.5, 1.0]


@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_get_gives_up_after_max_attempts(
    client: GenesisCloudClient, sim: Simulator, clock: VirtualClock, status: int
) -> None:
    """Five attempts, four backoffs, then the last error."""
    sim.faults = Faults(fail_first=100, fail_status=status)
    with pytest.raises(ApiError) as info:
        await client.list_page()
    assert info.value.status == status
    assert isinstance(info.value, RateLimited if status == 429 else ServerError)
    assert len(sim.requests) == 5
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]


async def test_max_attempts_is_configurable(sim_http: httpx.AsyncClient, sim: Simulator, clock: VirtualClock) -> None:
    """max_attempts=2: two requests, one backoff."""
    client = make_client(sim_http, clock, retry=RetryPolicy(max_attempts=2))
    sim.faults = Faults(fail_first=100)
    with pytest.raises(ServerError):
        await client.list_page()
    assert len(sim.requests) == 2
    assert clock.sleeps == [0.5]


async def test_backoff_is_capped_at_max_delay(sim_http: httpx.AsyncClient, sim: Simulator, clock: VirtualClock) -> None:
    """The backoff doubles up to max_delay and stays there."""
    policy = RetryPolicy(max_attempts=8, base_delay=1.0, max_delay=5.0, total_timeout=1000.0)
    client = make_client(sim_http, clock, retry=policy)
    sim.faults = Faults(fail_first=100)
    with pytest.raises(ServerError):
        await client.list_page()
    assert clock.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0]


@pytest.mark.parametrize(
    ("draws", "expected"),
    [
        pytest.param([0.0, 0.0, 0.0], [0.25, 0.5, 1.0], id="low-draws-half-ceiling"),
        pytest.param([0.5, 0.5, 0.5], [0.375, 0.75, 1.5], id="middle-draws"),
        pytest.param([0.999, 0.0, 0.999], [0.49975, 0.5, 1.999], id="mixed"),
    ],
)
async def test_backoff_jitter(
    sim_http: httpx.AsyncClient, sim: Simulator, clock: VirtualClock, draws: list[float], expected: list[float]
) -> None:
    """Jitter keeps each delay between half and all of its exponential ceiling."""
    values = iter(draws)
    client = make_client(sim_http, clock, rng=lambda: next(values))
    sim.faults = Faults(fail_first=3)
    await client.list_page()
    assert clock.sleeps == pytest.approx(expected)


def test_backoff_bounds() -> None:
    """RetryPolicy.backoff: ceiling = base * 2^(n-1), capped; the delay is in [ceiling/2, ceiling]."""
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0)
    for attempt, ceiling in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (9, 8.0)]:
        assert policy.backoff(attempt, lambda: 0.0) == ceiling / 2
        assert policy.backoff(attempt, lambda: 1.0) == ceiling


def test_default_policy_gives_up_well_under_30_seconds() -> None:
    """The defaults bound one call's retries to 20 s at most."""
    policy = RetryPolicy()
    assert policy.total_timeout <= 20
    assert sum(policy.backoff(n, lambda: 1.0) for n in range(1, policy.max_attempts)) <= policy.total_timeout


async def test_two_503_then_success(client: GenesisCloudClient, sim: Simulator, clock: VirtualClock) -> None:
    """Two 503s then 200: success, three requests, two backoffs."""
    sim.faults = Faults(fail_first=2, fail_status=503)
    snapshot = await client.get(SEED_ID)
    assert snapshot.id == SEED_ID
    assert len(sim.requests) == 3
    assert clock.sleeps == [0.5, 1.0]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 422, 500, 501])
async def test_get_does_not_retry_other_statuses(
    client: GenesisCloudClient, sim: Simulator, clock: VirtualClock, status: int
) -> None:
    """Only 429/502/503/504 are retried: a 500 (or any 4xx) is raised after one request."""
    sim.faults = Faults(fail_first=1, fail_status=status)
    with pytest.raises(ApiError) as info:
        await client.list_page()
    assert info.value.status == status
    assert len(sim.requests) == 1
    assert clock.sleeps == []


async def test_retry_after_seconds_is_honoured(client: GenesisCloudClient, sim: Simulator, clock: VirtualClock) -> None:
    """A 429 with Retry-After: 7 waits 7 s, not the backoff."""
    sim.faults = Faults(fail_first=1, fail_status=429, retry_after=7)
    await client.list_page()
    assert clock.sleeps == [7.0]
    assert len(sim.requests) == 2


async def test_retry_after_on_503_is_honoured(client: GenesisCloudClient, sim: Simulator, clock: VirtualClock) -> None:
    """A 503 with Retry-After: 2.5 waits 2.5 s."""
    sim.faults = Faults(fail_first=2, fail_status=503, retry_after=2.5)
    await client.get(SEED_ID)
    assert clock.sleeps == [2.5, 2.5]


async def test_retry_after_http_date_is_honoured(clock: VirtualClock) -> None:
    """Retry-After as an HTTP-date waits until that moment."""
    answers = iter([15, None])

    def handler(request: httpx.Request) -> httpx.Response:
        seconds = next(answers)
        if seconds is not None:
            date = formatdate(time.time() + seconds, usegmt=True)
            return httpx.Response(429, json={"code": "429", "message": "slow down"}, headers={"Retry-After": date})
        return httpx.Response(200, json={"snapshots": [], "total_count": 0, "page": 1, "per_page": 50})

    async with mocked(handler, clock) as client:
        await client.list_page()
    [delay] = clock.sleeps
    assert 13.0 <= delay <= 15.0  # whole seconds in the header, read a moment later


async def test_retry_after_beyond_the_budget_gives_up_at_once(
    client: GenesisCloudClient, sim: Simulator, clock: VirtualClock
) -> None:
    """A Retry-After longer than total_timeout is not waited for: RateLimited says how long."""
    sim.faults = Faults(fail_first=1, fail_status=429, retry_after=3600)
    with pytest.raises(RateLimited) as info:
        await client.list_page()
    assert info.value.retry_after == 3600
    assert clock.sleeps == []
    assert len(sim.requests) == 1


async def test_total_timeout_stops_retries_with_the_last_error(
    sim_http: httpx.AsyncClient, sim: Simulator, clock: VirtualClock
) -> None:
    """Retries stop before total_timeout would be exceeded; the last error is raised."""
    statuses = iter([502, 503, 504, 502, 503])
    sim.faults.fail_when = lambda _: next(statuses)
    client = make_client(sim_http, clock, retry=RetryPolicy(max_attempts=10, base_delay=1.0, total_timeout=3.0))
    with pytest.raises(ServerError) as info:
        await client.list_page()
    assert clock.sleeps == [1.0, 2.0]  # the next one (4 s) would pass 3 s
    assert clock.elapsed <= 3.0
    assert len(sim.requests) == 3
    assert info.value.status == 504


async def test_total_timeout_counts_time_spent_in_requests(clock: VirtualClock) -> None:
    """Slow failing requests use up the budget too: no retry starts after total_timeout."""
    sim = Simulator(faults=Faults(fail_first=100))
    policy = RetryPolicy(max_attempts=10, base_delay=0.5, total_timeout=10.0)
    async with connected(sim, clock, latency=4.0, retry=policy) as (client, recorder):
        with pytest.raises(ServerError):
            await client.list_page()
    # starts at 0, 4 + 0.5, 8.5 + 1; after 13.5 the next (2 s) would start past 10 s
    assert [t - clock.start for t in recorder.started] == [0.0, 4.5, 9.5]


@pytest.mark.parametrize("failures", [1, 3])
async def test_get_retries_connect_errors(clock: VirtualClock, failures: int) -> None:
    """A connection that could not be made is retried for a GET."""
    sim = Simulator(faults=Faults(connect_error_first=failures))
    async with connected(sim, clock) as (client, recorder):
        page = await client.list_page()
    assert page.total_count == 12
    assert len(recorder.attempts) == failures + 1
    assert len(sim.requests) == 1
    assert clock.sleeps == [0.5, 1.0, 2.0][:failures]


async def test_connect_errors_give_up_as_unreachable(clock: VirtualClock) -> None:
    """After max_attempts connect errors: ApiUnreachable, raised from the httpx error."""
    sim = Simulator(faults=Faults(connect_error_first=100))
    async with connected(sim, clock) as (client, recorder):
        with pytest.raises(ApiUnreachable) as info:
            await client.get(SEED_ID)
    assert len(recorder.attempts) == 5
    assert "could not connect" in str(info.value)
    assert "5 times" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert info.value.retryable


async def test_get_retries_read_timeouts(clock: VirtualClock) -> None:
    """A GET that timed out is asked again."""
    sim = Simulator(faults=Faults(read_timeout_first=2))
    async with connected(sim, clock) as (client, _):
        snapshot = await client.get(SEED_ID)
    assert snapshot.id == SEED_ID
    assert len(sim.requests) == 3


async def test_post_retries_429(client: GenesisCloudClient, sim: Simulator, clock: VirtualClock) -> None:
    """A 429 means the API did not act: the create is sent again, and made once."""
    sim.faults = Faults(fail_first=2, fail_status=429, fail_methods=frozenset({"POST"}))
    snapshot = await client.create(CreateSnapshotRequest.model_validate(GOOD_BODY))
    assert methods(sim) == ["POST", "POST", "POST"]
    assert [s["name"] for s in sim.snapshots.values()].count("my-image") == 1
    assert snapshot.id in sim.snapshots
    assert clock.sleeps == [0.5, 1.0]


async def test_post_honours_retry_after(client: GenesisCloudClient, sim: Simulator, clock: VirtualClock) -> None:
    """A 429 on a create waits the Retry-After."""
    sim.faults = Faults(fail_first=1, fail_status=429, retry_after=3, fail_methods=frozenset({"POST"}))
    await client.create(CreateSnapshotRequest.model_validate(GOOD_BODY))
    assert clock.sleeps == [3.0]


async def test_post_retries_a_connection_never_made(clock: VirtualClock) -> None:
    """A connect error means nothing was sent: the create is retried and made once."""
    sim = Simulator(faults=Faults(connect_error_first=2, fail_methods=frozenset({"POST"})))
    async with connected(sim, clock) as (client, recorder):
        snapshot = await client.create(CreateSnapshotRequest.model_validate(GOOD_BODY))
    assert recorder.attempts == [("POST", PREFIX)] * 3
    assert methods(sim) == ["POST"]
    assert snapshot.status == "creating"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_post_never_retries_a_5xx(
    client: GenesisCloudClient, sim: Simulator, clock: VirtualClock, status: int
) -> None:
    """After a 5xx the API may have acted: exactly one POST, and the ServerError."""
    sim.faults = Faults(fail_first=5, fail_status=status, retry_after=1)
    with pytest.raises(ServerError) as info:
        await client.create(CreateSnapshotRequest.model_validate(GOOD_BODY))
    assert info.value.status == status
    assert methods(sim) == ["POST"]
    assert clock.sleeps == []


async def test_post_never_retries_an_html_gateway_page(client: GenesisCloudClient, sim: Simulator) -> None:
    """A proxy's HTML 502 on a create: one POST, a ServerError that describes, not echoes, the page."""
    sim.faults = Faults(html_error_first=3)
    with pytest.raises(ServerError) as info:
        await client.create(CreateSnapshotRequest.model_validate(GOOD_BODY))
    assert methods(sim) == ["POST"]
    assert "HTML" in str(info.value)
    assert "<" not in str(info.value)


async def test_post_never_retries_a_read_timeout(clock: VirtualClock) -> None:
    """A read time-out after sending: one POST, an error saying the API may have acted (it did)."""
    sim = Simulator(faults=Faults(read_timeout_first=3))
    async with connected(sim, clock) as (client, recorder):
        with pytest.raises(ApiUnreachable) as info:
            await client.create(CreateSnapshotRequest.model_validate(GOOD_BODY))
    assert recorder.attempts == [("POST", PREFIX)]
    assert methods(sim) == ["POST"]
    assert "may have acted" in str(info.value)
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert [s["name"] for s in sim.snapshots.values()].count("my-image") == 1
    assert clock.sleeps == []


async def test_post_never_retries_a_garbled_success(client: GenesisCloudClient, sim: Simulator) -> None:
    """A 201 whose body is cut short: the create happened, so it is not sent again."""
    sim.faults = Faults(malformed_first=3, fail_methods=frozenset({"POST"}))
    with pytest.raises(BadResponse):
        await client.create(CreateSnapshotRequest.model_validate(GOOD_BODY))
    assert methods(sim) == ["POST"]


async def test_get_retries_a_malformed_body_then_succeeds(
    client: GenesisCloudClient, sim: Simulator, clock: VirtualClock
) -> None:
    """A truncated 200 on GET is asked again."""
    sim.faults = Faults(malformed_first=2)
    page = await client.list_page()
    assert page.total_count == 12
    assert len(sim.requests) == 3
    assert clock.sleeps == [0.5, 1.0]


async def test_get_malformed_body_for_good_is_bad_response(
    client: GenesisCloudClient, sim: Simulator, clock: VirtualClock
) -> None:
    """A body that stays garbled: BadResponse after max_attempts."""
    sim.faults = Faults(malformed_first=100)
    with pytest.raises(BadResponse) as info:
        await client.get(SEED_ID)
    assert info.value.status == 200
    assert len(sim.requests) == 5


async def test_undecodable_body_is_an_error_of_the_tree(clock: VirtualClock) -> None:
    """A body whose content-encoding cannot be decoded is retried for GET, then ApiUnreachable."""
    attempts: list[str] = []

    class Garbled(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            attempts.append(request.method)
            return httpx.Response(
                200, headers={"content-encoding": "gzip"}, stream=httpx.ByteStream(b"not gzip at all")
            )

    async with httpx.AsyncClient(transport=Garbled()) as http:
        client = make_client(http, clock)
        with pytest.raises(ApiUnreachable, match="could not be decoded") as info:
            await client.list_page()
        assert attempts == ["GET"] * 5
        attempts.clear()
        with pytest.raises(ApiUnreachable, match="may have acted"):
            await client.create(CreateSnapshotRequest.model_validate(GOOD_BODY))
        assert attempts == ["POST"]
    assert isinstance(info.value.__cause__, httpx.DecodingError)


async def test_delete_lost_answer_then_404_is_success(clock: VirtualClock) -> None:
    """The first DELETE acts but its answer is lost; the retry's 404 means it worked."""
    sim = Simulator(delete_polls=0, faults=Faults(read_timeout_first=1, fail_methods=frozenset({"DELETE"})))
    async with connected(sim, clock) as (client, _):
        await client.delete(SEED_ID)
    assert methods(sim) == ["DELETE", "DELETE"]
    assert SEED_ID not in sim.snapshots


async def test_delete_after_a_5xx_then_404_is_success(clock: VirtualClock) -> None:
    """A 502 may hide a deletion that happened: the retry's 404 is success."""

    answers = iter([httpx.Response(502, json={"code": "x", "message": "gateway"}), httpx.Response(404, json={})])
    async with mocked(lambda _: next(answers), clock) as client:
        await client.delete(SEED_ID)


async def test_delete_after_a_connect_error_then_404_is_not_found(clock: VirtualClock) -> None:
    """A connection never made cannot have deleted anything: a 404 after it is NotFound."""
    sim = Simulator(faults=Faults(connect_error_first=1))
    async with connected(sim, clock) as (client, _):
        with pytest.raises(NotFound):
            await client.delete(UNKNOWN_ID)


async def test_delete_after_a_429_then_404_is_not_found(clock: VirtualClock) -> None:
    """A 429 means the API did not act: a 404 after it is NotFound."""
    sim = Simulator(faults=Faults(fail_first=1, fail_status=429))
    async with connected(sim, clock) as (client, _):
        with pytest.raises(NotFound):
            await client.delete(UNKNOWN_ID)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("120", 120.0, id="seconds"),
        pytest.param(" 3 ", 3.0, id="padded"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("1.5", 1.5, id="fraction"),
        pytest.param("-5", 0.0, id="negative-clamped"),
        pytest.param("nan", None, id="nan"),
        pytest.param("inf", None, id="inf"),
        pytest.param("", None, id="empty"),
        pytest.param("soon", None, id="words"),
        pytest.param("Fri, 15 Jan 2027 08:00:30 GMT", 30.0, id="imf-fixdate"),
        pytest.param("Fri, 15 Jan 2027 07:59:00 GMT", 0.0, id="date-in-the-past"),
        pytest.param("Friday, 15-Jan-27 08:00:30 GMT", 30.0, id="rfc850-date"),
        pytest.param("Fri Jan 15 08:00:30 2027", 30.0, id="asctime-date-is-gmt"),
        pytest.param("Fri, 15 Jan 2027 08:00:30 -0000", 30.0, id="minus-zero-zone-is-gmt"),
        pytest.param("Fri, 15 Jan 2027 09:00:30 +0100", 30.0, id="offset-zone"),
        pytest.param("Fri, 32 Jan 2027 08:00:30 GMT", None, id="impossible-date"),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """delta-seconds and all three HTTP-date forms (relative to `now`), junk as None."""
    now = 1_800_000_000.0  # Fri, 15 Jan 2027 08:00:00 GMT
    assert parse_retry_after(value, now=now) == expected


@pytest.fixture
def far_timezone() -> Iterator[None]:
    """Run with the local time zone far from UTC, then restore it."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "America/Los_Angeles"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.usefixtures("far_timezone")
@pytest.mark.parametrize("value", ["Fri Jan 15 08:00:30 2027", "Fri, 15 Jan 2027 08:00:30 -0000"])
def test_zone_less_http_date_is_gmt_in_any_local_zone(value: str) -> None:
    """An HTTP-date without a zone is GMT, not the server's local time."""
    assert parse_retry_after(value, now=1_800_000_000.0) == 30.0


SNAPSHOT = {"id": SEED_ID, "name": "n", "size": 1, "region": "NORD-NO-KRS-1", "status": "created"}


FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, total_timeout=2.0)


class Endless(httpx.AsyncByteStream):
    """A body that never ends (a megabyte at a time), counting what was read."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.sent += 1024 * 1024
            yield b"x" * (1024 * 1024)


class Chunks(httpx.AsyncByteStream):
    """A body streamed as the given chunks, as a network connection hands it over (nothing read ahead)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


class Drip(httpx.AsyncByteStream):
    """A valid answer sent one byte at a time, each byte quick, all of them slow."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for byte in b'{"snapshot": {"id": "%s"}}' % SEED_ID.encode():
            await anyio.sleep(0.05)
            yield bytes([byte])


def client_for(handler: httpx.MockTransport, **kwargs: object) -> tuple[GenesisCloudClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=handler)
    client = GenesisCloudClient(http, token=SecretStr("token-12345678"), endpoint="http://api", retry=FAST, **kwargs)  # type: ignore[arg-type]
    return client, http


async def test_an_endless_body_is_cut_at_the_cap_and_not_retried() -> None:
    """Item 5: a body without end stops at MAX_ANSWER_BYTES decoded; one attempt; retrying won't help."""
    streams: list[Endless] = []

    def endless(request: httpx.Request) -> httpx.Response:
        streams.append(Endless())
        return httpx.Response(200, stream=streams[-1], headers={"content-type": "application/json"})

    client, http = client_for(httpx.MockTransport(endless))
    async with http:
        with pytest.raises(BadResponse, match="larger than 4 MiB; retrying will not help") as caught:
            await client.get(SEED_ID)
    assert caught.value.retryable is False
    assert len(streams) == 1
    assert streams[0].sent <= MAX_ANSWER_BYTES + 2 * 1024 * 1024


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compression_bomb_is_cut_while_it_is_decompressed(encoding: str) -> None:
    """Item 5: 64 MiB of zeros compressed to ~64 KiB, in one chunk, never becomes more than the cap in memory."""
    zeros = b"\0" * (64 * 1024 * 1024)
    bomb = gzip.compress(zeros) if encoding == "gzip" else zlib.compress(zeros)
    del zeros
    assert len(bomb) < 100 * 1024
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers["accept-encoding"])
        return httpx.Response(200, stream=Chunks([bomb]), headers={"content-encoding": encoding})

    client, http = client_for(httpx.MockTransport(handler))
    tracemalloc.start()
    try:
        async with http:
            with pytest.raises(BadResponse, match="larger than"):
                await client.list_page()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_ANSWER_BYTES  # the capped body and its copy, not 64 MiB
    assert asked == ["gzip, deflate"]


async def test_a_small_compressed_answer_is_read_and_an_unasked_encoding_is_refused() -> None:
    body = json.dumps({"snapshots": [], "total_count": 0, "page": 1, "per_page": 50}).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("page") == "1":
            return httpx.Response(200, stream=Chunks([gzip.compress(body)]), headers={"content-encoding": "gzip"})
        return httpx.Response(200, stream=Chunks([body]), headers={"content-encoding": "br"})

    client, http = client_for(httpx.MockTransport(handler))
    async with http:
        page = await client.list_page(1)
        with pytest.raises(ApiUnreachable, match="could not be decoded"):
            await client.list_page(2)
    assert page.total_count == 0


async def test_a_slow_drip_is_bounded_in_total_time() -> None:
    """Item 5: each byte arrives in time, the whole answer does not: the attempt ends at its bound."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Drip())

    client, http = client_for(httpx.MockTransport(handler), attempt_seconds=0.2)
    async with http:
        with anyio.fail_after(5), pytest.raises(BadResponse, match="took longer than"):
            await client.get(SEED_ID)


@pytest.mark.parametrize(
    ("status", "body"),
    [(302, b""), (304, b""), (200, b'{"code": "x", "message": "not deleted"}'), (201, b""), (203, b"")],
    ids=["302", "304", "200-with-error-body", "201", "203"],
)
async def test_only_202_or_204_mean_a_delete_succeeded(status: int, body: bytes) -> None:
    """Item 8: a DELETE answered anything else under 400 is a BadResponse naming the status (retried, then given up)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(status, content=body)

    client, http = client_for(httpx.MockTransport(handler))
    async with http:
        with pytest.raises(BadResponse, match=f"HTTP {status} does not mean success for DELETE"):
            await client.delete(SEED_ID)
    assert seen == ["DELETE"] * FAST.max_attempts


@pytest.mark.parametrize("status", [202, 204])
async def test_202_and_204_mean_the_delete_was_accepted(status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status)

    client, http = client_for(httpx.MockTransport(handler))
    async with http:
        await client.delete(SEED_ID)


async def test_an_answer_about_another_snapshot_is_refused() -> None:
    """Item 7: GET /snapshots/A answered with snapshot B is a BadResponse, so nobody is asked about B."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"snapshot": {**SNAPSHOT, "id": OTHER_SEED_ID}})

    client, http = client_for(httpx.MockTransport(handler))
    async with http:
        with pytest.raises(BadResponse, match=f"request for snapshot {SEED_ID} with another snapshot"):
            await client.get(SEED_ID)


async def test_the_same_id_in_another_case_is_the_same_snapshot() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"snapshot": {**SNAPSHOT, "id": SEED_ID.upper()}})

    client, http = client_for(httpx.MockTransport(handler))
    async with http:
        assert (await client.get(SEED_ID)).id == SEED_ID.upper()


@pytest.mark.parametrize(
    ("method", "statuses"),
    [("GET", {200}), ("PATCH", {200}), ("POST", {200, 201}), ("DELETE", {202, 204})],
)
def test_success_statuses_per_method(method: str, statuses: set[int]) -> None:
    """The table `assess` uses: nothing else under 400 is success."""
    assert set(SUCCESS[method]) == statuses
    for status in range(200, 400):
        assessment = assess(method, Answered(status, b"", "", None), secret="s", maybe_acted=False)  # type: ignore[arg-type]
        assert isinstance(assessment, Done) is (status in statuses), status


def test_a_lost_post_is_never_retried_but_a_refused_connection_is() -> None:
    """A POST whose request may have arrived is not re-sent; one that never left may be."""
    timeout = assess("POST", Lost(httpx.ReadTimeout("slow")), secret="s", maybe_acted=False)
    refused = assess("POST", Lost(httpx.ConnectError("refused")), secret="s", maybe_acted=False)
    assert isinstance(timeout, ApiUnreachable)
    assert "not re-sent" in str(timeout)
    assert not isinstance(refused, ApiUnreachable | Done)


def test_a_404_after_a_lost_delete_is_the_deletion() -> None:
    assessment = assess("DELETE", Answered(404, b"", "", None), secret="s", maybe_acted=True)
    assert assessment == Done(None)
