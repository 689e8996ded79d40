"""GenesisCloudClient through the transport seam: endpoints, pages, retries, waits, secrets.

No real sleeps: every client gets a `VirtualClock` whose `sleep` advances virtual time (the
earliest sleeper wakes first) and records the delay asked for.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from email.utils import formatdate
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import httpx
import pytest
from anyio.abc import SocketAttribute
from pydantic import SecretStr

from snapshot_mcp import __version__
from snapshot_mcp.client import GenesisCloudClient
from snapshot_mcp.errors import (
    ApiError,
    ApiUnreachable,
    AuthError,
    BadRequest,
    BadResponse,
    Conflict,
    InvalidInput,
    MissingToken,
    NotFound,
    RateLimited,
    ServerError,
    SnapshotMCPError,
)
from snapshot_mcp.models import CreateSnapshotRequest, Snapshot
from snapshot_mcp.sending import DEFAULT_TIMEOUT, USER_AGENT, RetryPolicy, build_http_client, parse_retry_after
from snapshot_mcp.settings import DEFAULT_ENDPOINT
from snapshot_mcp.simulator import DEFAULT_TOKEN, Faults, SimRequest, Simulator
from tests.support import (
    CREATING_SEED_ID,
    GOOD_BODY,
    PREFIX,
    SEED_ID,
    UNKNOWN_ID,
    VirtualClock,
    connected,
    make_client,
    methods,
    mocked,
    most_in_any_window,
)

CANARY = "canary-TOKEN-1234567890"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def client(sim_http: httpx.AsyncClient, clock: VirtualClock) -> GenesisCloudClient:
    return make_client(sim_http, clock)


# =========================================================================== list, pages, scans


async def test_list_page_shape_and_query(client: GenesisCloudClient, sim: Simulator) -> None:
    """One GET with page and per_page; the seed's twelve snapshots come back typed."""
    page = await client.list_page()
    assert (page.total_count, page.page, page.per_page, len(page.snapshots)) == (12, 1, 50, 12)
    assert all(isinstance(s, Snapshot) for s in page.snapshots)
    assert {s.id for s in page.snapshots} == set(sim.snapshots)
    [request] = sim.requests
    assert (request.method, request.path, request.query) == ("GET", PREFIX, {"page": "1", "per_page": "50"})


@pytest.mark.parametrize(("page", "per_page", "count"), [(1, 1, 1), (2, 5, 5), (3, 5, 2), (4, 5, 0), (1, 100, 12)])
async def test_list_page_passes_page_and_per_page(
    client: GenesisCloudClient, sim: Simulator, page: int, per_page: int, count: int
) -> None:
    """The requested page is what is asked for and returned (past the end: empty)."""
    result = await client.list_page(page, per_page)
    assert (result.page, result.per_page, len(result.snapshots)) == (page, per_page, count)
    assert sim.requests[-1].query == {"page": str(page), "per_page": str(per_page)}


@pytest.mark.parametrize(
    ("page", "per_page"),
    [(0, 50), (-1, 50), (1, 0), (1, 101), (1, -5), (0, 0), (1, 1000)],
)
async def test_list_page_bounds_checked_before_sending(
    client: GenesisCloudClient, sim: Simulator, page: int, per_page: int
) -> None:
    """Out-of-range paging is InvalidInput, and no request is sent."""
    with pytest.raises(InvalidInput):
        await client.list_page(page, per_page)
    assert sim.requests == []


def pages_read(sim: Simulator) -> int:
    """How many pages of a listing the simulator was asked for."""
    return sum(1 for r in sim.requests if r.method == "GET" and "page" in r.query)


async def test_the_pager_reads_every_page_once_in_order(clock: VirtualClock, sim: Simulator) -> None:
    """262 snapshots in pages of 100, one worker: three requests in page order, every snapshot once."""
    sim.add_many(250)
    async with connected(sim, clock, max_concurrency=1) as (client, _):
        ids = [s.id for s in (await client.scan(client.snapshot_pages(), per_page=100)).items]
    assert len(ids) == len(set(ids)) == 262
    assert set(ids) == set(sim.snapshots)
    assert [r.query["page"] for r in sim.requests] == ["1", "2", "3"]


async def test_the_pager_stops_on_an_exact_multiple(clock: VirtualClock) -> None:
    """200 snapshots in pages of 100: two requests, no empty third page."""
    sim = Simulator(seed=False)
    sim.add_many(200)
    async with connected(sim, clock) as (client, _):
        ids = [s.id for s in (await client.scan(client.snapshot_pages(), per_page=100)).items]
    assert len(set(ids)) == 200
    assert len(sim.requests) == 2


async def test_the_pager_of_nothing(clock: VirtualClock) -> None:
    """An empty account: one request, nothing found, complete."""
    sim = Simulator(seed=False)
    async with connected(sim, clock) as (client, _):
        scan = await client.scan(client.snapshot_pages())
    assert (scan.items, scan.total_count, scan.complete) == ([], 0, True)
    assert len(sim.requests) == 1


async def test_the_pager_reads_the_newest_end_after_the_first_page(client: GenesisCloudClient, sim: Simulator) -> None:
    """newest_end: page 1, then the last pages backwards, up to max_pages; incomplete when pages are left."""
    sim.add_many(488)  # 500 in all: five pages of 100
    scan = await client.scan(client.snapshot_pages(), per_page=100, max_pages=3, newest_end=True)
    asked = [int(r.query["page"]) for r in sim.requests]
    assert asked[0] == 1
    assert sorted(asked[1:]) == [4, 5]
    assert (len(scan.items), scan.complete, scan.total_count) == (300, False, 500)


async def test_the_pager_reads_instances_too(client: GenesisCloudClient, sim: Simulator) -> None:
    """Another listing of the same shape: the seed's instances, each once."""
    scan = await client.scan(client.instance_pages)
    assert {i.id for i in scan.items} == set(sim.instances)
    assert (scan.total_count, scan.complete) == (len(sim.instances), True)


async def test_scan_sees_everything_once(client: GenesisCloudClient, sim: Simulator) -> None:
    """A full scan: all pages, every snapshot once, complete, matches as the predicate says."""
    sim.add_many(250)
    expected = {sid for sid, s in sim.snapshots.items() if s["region"] == "EUW-NL-AMS-1"}
    result = await client.scan(client.snapshot_pages(), per_page=100)
    matches = [s for s in result.items if s.region == "EUW-NL-AMS-1"]
    assert (result.total_count, len(result.items), pages_read(sim), result.complete) == (262, 262, 3, True)
    assert {s.id for s in matches} == expected
    assert len(matches) == len(expected)
    assert sorted(int(r.query["page"]) for r in sim.requests) == [1, 2, 3]


async def test_scan_keeps_every_snapshot(client: GenesisCloudClient, sim: Simulator) -> None:
    """The pager keeps every snapshot it reads (filtering is its caller's)."""
    result = await client.scan(client.snapshot_pages())
    assert len(result.items) == len(sim.snapshots) == 12


@pytest.mark.parametrize(("max_pages", "pages", "scanned", "complete"), [(1, 1, 100, False), (2, 2, 200, False)])
async def test_scan_max_pages_is_incomplete(
    client: GenesisCloudClient, sim: Simulator, max_pages: int, pages: int, scanned: int, complete: bool
) -> None:
    """Stopping early says so: complete is False and only max_pages are requested."""
    sim.add_many(250)
    result = await client.scan(client.snapshot_pages(), per_page=100, max_pages=max_pages)
    assert (pages_read(sim), len(result.items), result.complete, result.total_count) == (pages, scanned, complete, 262)
    assert len(sim.requests) == pages


async def test_scan_max_pages_above_total_is_complete(client: GenesisCloudClient, sim: Simulator) -> None:
    """A limit larger than the account changes nothing."""
    result = await client.scan(client.snapshot_pages(), max_pages=50)
    assert (pages_read(sim), result.complete) == (1, True)


@pytest.mark.parametrize("max_pages", [0, -1])
async def test_scan_rejects_max_pages_below_one(client: GenesisCloudClient, sim: Simulator, max_pages: int) -> None:
    """max_pages < 1 is InvalidInput before any request (not a silent empty result)."""
    with pytest.raises(InvalidInput):
        await client.scan(client.snapshot_pages(), max_pages=max_pages)
    assert sim.requests == []


async def test_scan_rejects_bad_per_page_before_sending(client: GenesisCloudClient, sim: Simulator) -> None:
    """per_page is checked by the first page's bounds, before a request."""
    with pytest.raises(InvalidInput):
        await client.scan(client.snapshot_pages(), per_page=101)
    assert sim.requests == []


@pytest.mark.parametrize("max_concurrency", [1, 3])
async def test_scan_concurrency_is_bounded(clock: VirtualClock, max_concurrency: int) -> None:
    """With 0.5 s of latency per request, never more than max_concurrency in flight — and that many."""
    sim = Simulator(seed=False)
    sim.add_many(1000)
    async with connected(sim, clock, latency=0.5, max_concurrency=max_concurrency) as (client, recorder):
        result = await client.scan(client.snapshot_pages(), per_page=100)
    assert (len(result.items), pages_read(sim), result.complete) == (1000, 10, True)
    assert recorder.max_in_flight == max_concurrency


async def test_scan_concurrency_is_also_bounded_by_the_rate(clock: VirtualClock) -> None:
    """At 10 requests/s and 0.45 s latency with 8 allowed: never more than 8 in flight, nor 10 in any second."""
    sim = Simulator(seed=False)
    sim.add_many(2000)
    async with connected(sim, clock, latency=0.45, max_concurrency=8) as (client, recorder):
        await client.scan(client.snapshot_pages(), per_page=100)
    assert recorder.max_in_flight == 8
    assert most_in_any_window(recorder.started, 1.0) <= 10


@pytest.mark.parametrize("rate", [10.0, 4.0, 25.0, 2.5])
async def test_scan_respects_the_rate_limit(clock: VirtualClock, rate: float) -> None:
    """No 1-second window (sliding over every start) holds more than the rate; and no slower than that."""
    sim = Simulator(seed=False)
    sim.add_many(1500)
    async with connected(sim, clock, rate_limit=rate, max_concurrency=4) as (client, recorder):
        await client.scan(client.snapshot_pages(), per_page=100)
    starts = recorder.started
    limit = math.floor(rate)
    assert len(starts) == 15
    assert most_in_any_window(starts, 1.0) <= limit
    assert starts[-1] - starts[0] == pytest.approx(math.ceil(15 / limit) - 1)  # whole windows, none wasted


async def test_sequential_calls_under_the_rate_never_wait(client: GenesisCloudClient, clock: VirtualClock) -> None:
    """Ten back-to-back calls at the default 10 requests/s cost no wait; the eleventh waits for the window."""
    for _ in range(10):
        await client.list_page()
    assert clock.sleeps == []
    await client.list_page()
    assert clock.sleeps == pytest.approx([1.0])


async def test_max_concurrency_below_one_is_refused(sim_http: httpx.AsyncClient, clock: VirtualClock) -> None:
    """max_concurrency=0 would deadlock a scan: refused at construction."""
    with pytest.raises(ValueError, match="max_concurrency"):
        make_client(sim_http, clock, max_concurrency=0)


async def test_scan_failure_is_the_api_error_not_a_group(client: GenesisCloudClient, sim: Simulator) -> None:
    """A page that fails for good ends the scan with that error itself (not an ExceptionGroup)."""
    sim.add_many(500)
    sim.faults.fail_when = lambda r: 500 if r.query.get("page") == "3" else None
    with pytest.raises(ServerError) as info:
        await client.scan(client.snapshot_pages(), per_page=100)
    assert info.value.status == 500


async def test_scan_retries_a_transient_page_failure(client: GenesisCloudClient, sim: Simulator) -> None:
    """A 503 on one page is retried inside the scan; the result is complete."""
    sim.add_many(250)
    failed: list[str] = []

    def once(request: SimRequest) -> int | None:
        if request.query.get("page") == "2" and not failed:
            failed.append("2")
            return 503
        return None

    sim.faults.fail_when = once
    result = await client.scan(client.snapshot_pages(), per_page=100)
    assert (len(result.items), result.complete) == (262, True)
    assert len(sim.requests) == 4


# =========================================================================== get, create, delete


async def test_get_returns_the_snapshot(client: GenesisCloudClient, sim: Simulator) -> None:
    """GET /snapshots/{id} with the id in canonical form."""
    snapshot = await client.get(SEED_ID.upper())
    assert (snapshot.id, snapshot.name.raw, snapshot.status, snapshot.size) == (
        SEED_ID,
        "ubuntu-22.04-cuda-12.4",
        "created",
        64,
    )
    assert (sim.requests[-1].method, sim.requests[-1].path) == ("GET", f"{PREFIX}/{SEED_ID}")


async def test_get_unknown_is_not_found(client: GenesisCloudClient, sim: Simulator) -> None:
    """An unknown UUID is NotFound (404), asked once."""
    with pytest.raises(NotFound) as info:
        await client.get(UNKNOWN_ID)
    assert (info.value.status, info.value.code) == (404, "04001")
    assert len(sim.requests) == 1


BAD_IDS = [
    pytest.param("", id="empty"),
    pytest.param("../x", id="traversal"),
    pytest.param("%2e%2e", id="encoded-traversal"),
    pytest.param(f"{SEED_ID}/../../x", id="uuid-then-traversal"),
    pytest.param(f"{SEED_ID}?page=2", id="uuid-with-query"),
    pytest.param(f"{SEED_ID}\nX: y", id="uuid-newline"),
    pytest.param("snapshots", id="a-word"),
]


@pytest.mark.parametrize("snapshot_id", BAD_IDS)
@pytest.mark.parametrize("method", ["get", "delete"])
async def test_bad_id_never_reaches_a_path(
    client: GenesisCloudClient, sim: Simulator, method: str, snapshot_id: str
) -> None:
    """Anything but a UUID is InvalidInput, and nothing is sent."""
    call: Callable[[str], Awaitable[object]] = getattr(client, method)
    with pytest.raises(InvalidInput, match="UUID"):
        await call(snapshot_id)
    assert sim.requests == []


@pytest.mark.parametrize(
    ("extra", "body"),
    [
        pytest.param({}, GOOD_BODY, id="without-os-type"),
        pytest.param({"os_type": None}, GOOD_BODY, id="os-type-none"),
        pytest.param({"os_type": "windows"}, {**GOOD_BODY, "os_type": "windows"}, id="with-os-type"),
    ],
)
async def test_create_sends_exactly_the_body(
    client: GenesisCloudClient, sim: Simulator, extra: dict[str, Any], body: dict[str, Any]
) -> None:
    """POST /snapshots with exactly the fields given (os_type only when given)."""
    snapshot = await client.create(CreateSnapshotRequest.model_validate({**GOOD_BODY, **extra}))
    assert (snapshot.status, snapshot.name.raw, snapshot.size, snapshot.region) == (
        "creating",
        "my-image",
        20,
        GOOD_BODY["region"],
    )
    [request] = sim.requests
    assert (request.method, request.path) == ("POST", PREFIX)
    assert json.loads(request.body) == body
    assert request.headers["content-type"] == "application/json"
    assert snapshot.id in sim.snapshots


async def test_create_rejected_by_the_api_is_bad_request(client: GenesisCloudClient, sim: Simulator) -> None:
    """A region of the right shape that the API does not know: 400, for the model to fix, sent once."""
    request = CreateSnapshotRequest.model_validate({**GOOD_BODY, "region": "AP-JP-TYO-1"})
    with pytest.raises(BadRequest) as info:
        await client.create(request)
    assert (info.value.status, info.value.code, info.value.who) == (400, "03001", "model")
    assert methods(sim) == ["POST"]


async def test_delete_is_accepted_then_pending(client: GenesisCloudClient, sim: Simulator) -> None:
    """DELETE returns None on 204; the snapshot then reads pending_delete."""
    await client.delete(SEED_ID)
    assert (sim.requests[-1].method, sim.requests[-1].path) == ("DELETE", f"{PREFIX}/{SEED_ID}")
    assert (await client.get(SEED_ID)).status == "pending_delete"


async def test_delete_of_a_snapshot_being_created_is_conflict(client: GenesisCloudClient, sim: Simulator) -> None:
    """409 is not retried: one DELETE, Conflict for the user."""
    with pytest.raises(Conflict) as info:
        await client.delete(CREATING_SEED_ID)
    assert (info.value.status, info.value.who) == (409, "user")
    assert methods(sim) == ["DELETE"]


async def test_delete_unknown_is_not_found(client: GenesisCloudClient, sim: Simulator) -> None:
    """A first-attempt 404 on DELETE is NotFound."""
    with pytest.raises(NotFound):
        await client.delete(UNKNOWN_ID)


async def test_every_request_carries_bearer_and_user_agent(client: GenesisCloudClient, sim: Simulator) -> None:
    """Authorization: Bearer and User-Agent snapshot-mcp/<version> on each request, no X-Auth-Token."""
    await client.list_page()
    await client.get(SEED_ID)
    created = await client.create(CreateSnapshotRequest.model_validate(GOOD_BODY))
    await client.delete(SEED_ID)
    with pytest.raises(NotFound):
        await client.get(UNKNOWN_ID)
    assert created.id
    assert len(sim.requests) == 5
    for request in sim.requests:
        assert request.headers["authorization"] == f"Bearer {DEFAULT_TOKEN}"
        assert request.headers["user-agent"].startswith(f"snapshot-mcp/{__version__}")
        assert request.headers["accept"] == "application/json"
        assert "x-auth-token" not in request.headers


async def test_user_agent_with_the_production_http_client(sim: Simulator, clock: VirtualClock) -> None:
    """build_http_client: the same User-Agent, no redirects followed, the documented time-outs."""
    async with build_http_client(sim.transport()) as http:
        assert http.follow_redirects is False
        assert http.timeout == DEFAULT_TIMEOUT
        await make_client(http, clock).list_page()
    assert sim.requests[0].headers["user-agent"] == USER_AGENT
    assert USER_AGENT.startswith(f"snapshot-mcp/{__version__} ")


async def test_custom_endpoint_is_used(sim: Simulator, clock: VirtualClock) -> None:
    """A trailing slash is dropped; requests go under the configured base."""
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        client = make_client(http, clock, endpoint="http://127.0.0.1:8089/compute/v1/")
        assert client.endpoint == "http://127.0.0.1:8089/compute/v1"
        await client.list_page()
    assert sim.requests[0].path == PREFIX


CALLS: list[Any] = [
    pytest.param(lambda c: c.list_page(), id="list"),
    pytest.param(lambda c: c.scan(c.snapshot_pages()), id="scan"),
    pytest.param(lambda c: c.get(SEED_ID), id="get"),
    pytest.param(lambda c: c.create(CreateSnapshotRequest.model_validate(GOOD_BODY)), id="create"),
    pytest.param(lambda c: c.delete(SEED_ID), id="delete"),
    pytest.param(lambda c: c.wait(SEED_ID), id="wait"),
]


@pytest.mark.parametrize("call", CALLS)
async def test_no_token_is_missing_token_and_nothing_sent(
    sim: Simulator,
    sim_http: httpx.AsyncClient,
    clock: VirtualClock,
    call: Callable[[GenesisCloudClient], Awaitable[Any]],
) -> None:
    """Without a token every call fails with MissingToken before sending anything."""
    with pytest.raises(MissingToken) as info:
        await call(make_client(sim_http, clock, token=None))
    assert info.value.who == "operator"
    assert sim.requests == []


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(f"{CANARY}\n", id="trailing-newline"),
        pytest.param(f"{CANARY}\r\nX-Injected: 1", id="header-injection"),
        pytest.param(f"{CANARY} more", id="space"),
        pytest.param(f"{CANARY}\x00", id="nul"),
        pytest.param(f"{CANARY}é", id="non-ascii"),
    ],
)
async def test_unusable_token_is_refused_without_echo(
    sim: Simulator, sim_http: httpx.AsyncClient, clock: VirtualClock, token: str
) -> None:
    """A token no header can carry is an operator error that never repeats the token."""
    with pytest.raises(SnapshotMCPError) as info:
        await make_client(sim_http, clock, token=token).list_page()
    assert CANARY not in str(info.value)
    assert CANARY not in repr(info.value)
    assert "GENESISCLOUD_TOKEN" in str(info.value)
    assert (info.value.who, info.value.retryable) == ("operator", False)
    assert sim.requests == []


async def test_wrong_token_is_auth_error_not_retried(clock: VirtualClock) -> None:
    """401 from the API: AuthError for the operator, asked once."""
    sim = Simulator(tokens={"the-right-one"})
    async with connected(sim, clock) as (client, _):
        with pytest.raises(AuthError) as info:
            await client.list_page()
    assert (info.value.status, info.value.code, info.value.who) == (401, "01001", "operator")
    assert len(sim.requests) == 1


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


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({"snapshot": {"name": "no id"}}, id="snapshot-without-id"),
        pytest.param({"snap": {}}, id="wrong-key"),
        pytest.param([], id="a-list"),
        pytest.param("text", id="a-string"),
    ],
)
async def test_valid_json_of_the_wrong_shape_is_bad_response(clock: VirtualClock, payload: object) -> None:
    """JSON that is not the documented shape is BadResponse naming the model."""
    async with mocked(lambda _: httpx.Response(200, json=payload), clock) as client:
        with pytest.raises(BadResponse, match="Snapshot"):
            await client.get(SEED_ID)


async def test_empty_success_body_on_get_is_bad_response(clock: VirtualClock) -> None:
    """A 200 with no body where a page was expected is BadResponse, not a crash."""
    async with mocked(lambda _: httpx.Response(200), clock) as client:
        with pytest.raises(BadResponse, match="SnapshotPage"):
            await client.list_page()


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


# =========================================================================== wait


def polls_of(sim: Simulator, snapshot_id: str) -> int:
    """How many times the snapshot was looked up (one poll is one GET: these waits meet no fault)."""
    return sum(1 for r in sim.requests if r.method == "GET" and r.path.endswith(f"/snapshots/{snapshot_id}"))


async def test_wait_until_created(client: GenesisCloudClient, sim: Simulator, clock: VirtualClock) -> None:
    """A new import: creating, creating, created — three polls, backing off 1 s then 1.5 s."""
    created = await client.create(CreateSnapshotRequest.model_validate(GOOD_BODY))
    clock.now += 1  # a moment later: the rate limiter has nothing to wait for
    seen: list[tuple[str | None, int, float]] = []

    async def progress(snapshot: Snapshot | None, polls: int, elapsed: float) -> None:
        seen.append((None if snapshot is None else snapshot.status, polls, elapsed))

    start = clock.now
    result = await client.wait(created.id, until={"created"}, interval=1.0, on_progress=progress)
    assert result.reached is True
    assert result.snapshot is not None
    assert result.snapshot.status == "created"
    assert polls_of(sim, created.id) == 3
    assert seen == [("creating", 1, 0.0), ("creating", 2, 1.0), ("created", 3, 2.5)]
    assert result.elapsed == clock.now - start == 2.5
    assert clock.sleeps[-2:] == [1.0, 1.5]


async def test_wait_settles_on_error(clock: VirtualClock) -> None:
    """A failed import settles as error: the default goal includes it."""
    sim = Simulator(fail_create_names={"my-image"})
    async with connected(sim, clock) as (client, _):
        created = await client.create(CreateSnapshotRequest.model_validate(GOOD_BODY))
        result = await client.wait(created.id)
    assert result.reached is True
    assert result.snapshot is not None
    assert result.snapshot.status == "error"


async def test_wait_until_gone_after_delete(client: GenesisCloudClient, sim: Simulator, clock: VirtualClock) -> None:
    """After a delete: pending_delete, deleting, then 404 — reached with no snapshot."""
    await client.delete(SEED_ID)
    statuses: list[str | None] = []

    async def progress(snapshot: Snapshot | None, polls: int, elapsed: float) -> None:
        statuses.append(None if snapshot is None else snapshot.status)

    result = await client.wait(SEED_ID, gone=True, interval=2.0, on_progress=progress)
    assert (result.reached, result.snapshot, polls_of(sim, SEED_ID)) == (True, None, 3)
    assert statuses == ["pending_delete", "deleting", None]


async def test_wait_for_a_status_of_a_vanished_snapshot_raises(client: GenesisCloudClient) -> None:
    """Waiting for a status of a snapshot that is gone is NotFound."""
    with pytest.raises(NotFound):
        await client.wait(UNKNOWN_ID, until={"created"})


async def test_wait_timeout_returns_not_reached_on_time(clock: VirtualClock) -> None:
    """A wait that cannot finish returns reached=False exactly at the time-out, never after."""
    sim = Simulator(create_polls=10_000)
    async with connected(sim, clock) as (client, _):
        created = await client.create(CreateSnapshotRequest.model_validate(GOOD_BODY))
        clock.now += 1
        start = clock.now
        result = await client.wait(created.id, timeout=10.0, interval=1.0, max_interval=3.0)
    assert result.reached is False
    assert result.snapshot is not None
    assert result.snapshot.status == "creating"
    assert result.elapsed == clock.now - start == 10.0
    assert polls_of(sim, created.id) == 6
    assert clock.sleeps[-5:] == [1.0, 1.5, 2.25, 3.0, 2.25]


@pytest.mark.parametrize("budget", [0.5, 7.3, 45.0])
async def test_wait_never_overruns(clock: VirtualClock, budget: float) -> None:
    """Whatever the time-out, the wait ends at or before it."""
    sim = Simulator(create_polls=10_000)
    async with connected(sim, clock) as (client, _):
        created = await client.create(CreateSnapshotRequest.model_validate(GOOD_BODY))
        clock.now += 1
        start = clock.now
        result = await client.wait(created.id, timeout=budget)
    assert result.reached is False
    assert clock.now - start <= budget + 1e-9


async def test_wait_with_zero_timeout_polls_once(
    client: GenesisCloudClient, sim: Simulator, clock: VirtualClock
) -> None:
    """timeout=0: one look, no sleep."""
    result = await client.wait(CREATING_SEED_ID, until={"created"}, timeout=0)
    assert (result.reached, polls_of(sim, CREATING_SEED_ID), result.elapsed) == (False, 1, 0.0)
    assert clock.sleeps == []


async def test_wait_backoff_grows_to_max_interval(clock: VirtualClock) -> None:
    """Poll intervals grow by 1.5x from interval up to max_interval, then stay."""
    sim = Simulator(create_polls=10_000)
    async with connected(sim, clock) as (client, _):
        created = await client.create(CreateSnapshotRequest.model_validate(GOOD_BODY))
        clock.now += 1
        clock.sleeps.clear()
        await client.wait(created.id, timeout=30.0, interval=1.0, max_interval=5.0)
    assert clock.sleeps[:7] == pytest.approx([1.0, 1.5, 2.25, 3.375, 5.0, 5.0, 5.0])
    assert max(clock.sleeps) == 5.0


async def test_wait_progress_is_called_per_poll(client: GenesisCloudClient, sim: Simulator) -> None:
    """The callback gets every poll, numbered from 1, with non-decreasing elapsed time."""
    calls: list[tuple[int, float]] = []

    async def progress(snapshot: Snapshot | None, polls: int, elapsed: float) -> None:
        calls.append((polls, elapsed))

    await client.wait(CREATING_SEED_ID, until={"created"}, on_progress=progress)
    assert [n for n, _ in calls] == list(range(1, polls_of(sim, CREATING_SEED_ID) + 1))
    assert [e for _, e in calls] == sorted(e for _, e in calls)


async def test_wait_survives_a_transient_failure(client: GenesisCloudClient, sim: Simulator) -> None:
    """A 503 during a poll is retried inside that poll; the wait goes on."""
    sim.faults = Faults(fail_first=1, fail_status=503)
    result = await client.wait(CREATING_SEED_ID, until={"created"})
    assert result.reached is True


# =========================================================================== secrets

SECRET_LOGGERS = ("httpx", "httpcore", "snapshot_mcp", "")


def assert_no_canary(error: BaseException) -> None:
    """Neither the error nor anything in its cause chain shows the token."""
    seen: BaseException | None = error
    while seen is not None:
        assert CANARY not in str(seen)
        assert CANARY not in repr(seen)
        assert all(CANARY not in str(arg) for arg in seen.args)
        for attribute in ("message", "api_message", "code"):
            assert CANARY not in str(getattr(seen, attribute, ""))
        seen = seen.__cause__ or seen.__context__


def echo_handler(request: httpx.Request) -> httpx.Response:
    """A proxy that repeats the Authorization header in its error message."""
    return httpx.Response(401, json={"code": "01001", "message": f"rejected {request.headers['authorization']}"})


SCENARIOS: list[Any] = [
    pytest.param(lambda: Simulator(tokens={"other"}), lambda c: c.list_page(), AuthError, id="401"),
    pytest.param(lambda: Simulator(tokens={CANARY}), lambda c: c.get(UNKNOWN_ID), NotFound, id="404"),
    pytest.param(lambda: Simulator(tokens={CANARY}), lambda c: c.delete(CREATING_SEED_ID), Conflict, id="409"),
    pytest.param(
        lambda: Simulator(tokens={CANARY}),
        lambda c: c.create(CreateSnapshotRequest.model_validate({**GOOD_BODY, "region": "AP-JP-TYO-1"})),
        BadRequest,
        id="400",
    ),
    pytest.param(
        lambda: Simulator(tokens={CANARY}, faults=Faults(fail_first=99)),
        lambda c: c.scan(c.snapshot_pages()),
        ServerError,
        id="503",
    ),
    pytest.param(
        lambda: Simulator(tokens={CANARY}, faults=Faults(fail_first=99, fail_status=429)),
        lambda c: c.get(SEED_ID),
        RateLimited,
        id="429",
    ),
    pytest.param(
        lambda: Simulator(tokens={CANARY}, faults=Faults(html_error_first=99)),
        lambda c: c.delete(SEED_ID),
        ServerError,
        id="html",
    ),
    pytest.param(
        lambda: Simulator(tokens={CANARY}, faults=Faults(connect_error_first=99)),
        lambda c: c.list_page(),
        ApiUnreachable,
        id="connect",
    ),
    pytest.param(
        lambda: Simulator(tokens={CANARY}, faults=Faults(read_timeout_first=99)),
        lambda c: c.create(CreateSnapshotRequest.model_validate(GOOD_BODY)),
        ApiUnreachable,
        id="read-timeout-post",
    ),
    pytest.param(
        lambda: Simulator(tokens={CANARY}, faults=Faults(malformed_first=99)),
        lambda c: c.get(SEED_ID),
        BadResponse,
        id="malformed",
    ),
]


@pytest.mark.parametrize(("make_sim", "call", "error"), SCENARIOS)
async def test_canary_token_never_in_errors_or_logs(
    caplog: pytest.LogCaptureFixture,
    clock: VirtualClock,
    make_sim: Callable[[], Simulator],
    call: Callable[[GenesisCloudClient], Awaitable[Any]],
    error: type[SnapshotMCPError],
) -> None:
    """In every failing path: the right error, and the token in no message and no DEBUG log line."""
    sim = make_sim()
    for name in SECRET_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    async with connected(sim, clock, token=CANARY) as (client, _):
        assert CANARY not in repr(client)
        assert CANARY not in str(client)
        with pytest.raises(error) as info:
            await call(client)
    assert_no_canary(info.value)
    assert caplog.records, "the client logs something at DEBUG"
    assert CANARY not in caplog.text
    assert all(CANARY not in record.getMessage() for record in caplog.records)
    # The token did travel where it belongs.
    assert any(r.headers.get("authorization") == f"Bearer {CANARY}" for r in sim.requests) or not sim.requests


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(CANARY, id="plain"),
        pytest.param('canary-"TOKEN"-\\1234567890', id="json-escaped"),
    ],
)
async def test_token_echoed_by_the_api_is_redacted(clock: VirtualClock, token: str) -> None:
    """If a proxy repeats the Authorization header in its body, the error still hides the token."""
    async with mocked(echo_handler, clock, token=token) as client:
        with pytest.raises(AuthError) as info:
            await client.list_page()
    assert token not in str(info.value)
    assert "TOKEN" not in str(info.value)
    assert "[redacted]" in str(info.value)


async def test_token_echoed_in_an_html_page_is_not_shown(clock: VirtualClock) -> None:
    """An HTML page is described, never quoted — with or without the token in it."""

    def handler(request: httpx.Request) -> httpx.Response:
        page = f"<html><body>Bad gateway for {request.headers['authorization']}</body></html>"
        return httpx.Response(502, text=page, headers={"content-type": "text/html"})

    async with mocked(handler, clock, token=CANARY) as client:
        with pytest.raises(ServerError) as info:
            await client.get(SEED_ID)
    assert_no_canary(info.value)


@pytest.mark.slow  # a real HTTP server on loopback
async def test_canary_never_in_logs_over_a_real_socket(caplog: pytest.LogCaptureFixture) -> None:
    """Through the production HTTP client and httpcore on a loopback socket, DEBUG logs hold no token."""
    for name in SECRET_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    page = json.dumps({"snapshots": [], "total_count": 0, "page": 1, "per_page": 50}).encode()
    answers = [
        (503, b'{"code": "09001", "message": "try later"}'),
        (200, page),
        (401, b'{"code": "01001", "message": "bad token"}'),
        (500, b"<html>oops</html>"),
    ]
    headers_seen: list[bytes] = []

    async def serve(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            data = b""
            while b"\r\n\r\n" not in data:
                data += await stream.receive()
            headers_seen.append(data.split(b"\r\n\r\n")[0])
            status, body = answers.pop(0)
            head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            await stream.send(head.encode() + b"connection: close\r\n\r\n" + body)

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(SocketAttribute.local_port)  # noqa: S610 - anyio, not Django
    clock = VirtualClock()
    async with listener, anyio.create_task_group() as group:
        group.start_soon(listener.serve, serve)
        async with build_http_client() as http:
            client = make_client(http, clock, token=CANARY, endpoint=f"http://127.0.0.1:{port}/compute/v1")
            assert (await client.list_page()).total_count == 0
            with pytest.raises(AuthError) as auth:
                await client.list_page()
            with pytest.raises(ServerError) as server:
                await client.get(SEED_ID)
        group.cancel_scope.cancel()
    assert len(headers_seen) == 4
    assert all(b"Bearer " + CANARY.encode() in h for h in headers_seen)
    assert any(r.name.startswith("httpcore") for r in caplog.records)
    assert CANARY not in caplog.text
    assert_no_canary(auth.value)
    assert_no_canary(server.value)


async def test_repr_never_shows_the_token(sim_http: httpx.AsyncClient) -> None:
    """repr says whether a token is set, never what it is."""
    with_token = GenesisCloudClient(sim_http, token=SecretStr(CANARY))
    without = GenesisCloudClient(sim_http, token=None)
    assert CANARY not in repr(with_token)
    assert "token=set" in repr(with_token)
    assert "token=unset" in repr(without)
    assert repr(with_token).startswith(f"GenesisCloudClient(endpoint={DEFAULT_ENDPOINT!r}")
