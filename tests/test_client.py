"""GenesisCloudClient through the transport seam: endpoints, the pager and its scans, waits, secrets.

No real sleeps: every client gets a `VirtualClock` whose `sleep` advances virtual time (the
earliest sleeper wakes first) and records the delay asked for. How each request is sent
and retried is in test_sending.py.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
import httpx
import pytest
from anyio.abc import SocketAttribute
from mcp import Client
from pydantic import SecretStr

from snapshot_mcp import __version__
from snapshot_mcp import client as client_module
from snapshot_mcp.client import GenesisCloudClient
from snapshot_mcp.errors import (
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
    WaitTimeout,
)
from snapshot_mcp.models import CreateSnapshotRequest, Snapshot
from snapshot_mcp.sending import ACCEPT_ENCODING, USER_AGENT, build_http_client
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import DEFAULT_ENDPOINT
from snapshot_mcp.simulator import DEFAULT_TOKEN, Faults, SimRequest, Simulator
from tests.support import (
    CREATING_SEED_ID,
    FAST_RETRY,
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
from tests.support.canaries import (
    API_CANARY,
    BAD_SHAPE,
    CREATE_400,
    CREATE_502,
    CREATE_GARBLED,
    ECHO_401,
    ECHO_403,
    ECHO_404,
    ECHO_500,
    REFUSED,
    Refusing,
    assert_clean,
    assert_exception_clean,
    create,
    dump,
    leak_settings,
)

CANARY = "canary-TOKEN-1234567890"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def client(sim_http: httpx.AsyncClient, clock: VirtualClock) -> GenesisCloudClient:
    return make_client(sim_http, clock)


@pytest.mark.parametrize(
    "defaults",
    [
        pytest.param(None, id="production-client"),
        pytest.param({}, id="plain-client"),
        pytest.param({"User-Agent": "other/1", "Accept": "*/*", "Accept-Encoding": "br, zstd"}, id="other-defaults"),
    ],
)
async def test_our_headers_reach_the_api_whatever_the_http_client_sends_by_default(
    sim: Simulator, clock: VirtualClock, defaults: dict[str, str] | None
) -> None:
    """User-Agent, Accept and Accept-Encoding are ours on every request: sent with it unless the client's own."""
    http = build_http_client(sim.transport()) if defaults is None else httpx.AsyncClient(transport=sim.transport())
    async with http:
        http.headers.update(defaults or {})
        client = make_client(http, clock)
        await client.list_page()
        await client.get(SEED_ID)
    assert len(sim.requests) == 2
    for request in sim.requests:
        assert request.headers["user-agent"] == USER_AGENT
        assert request.headers["accept"] == "application/json"
        assert request.headers["accept-encoding"] == ACCEPT_ENCODING
        assert request.headers["authorization"] == f"Bearer {DEFAULT_TOKEN}"


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


ENDPOINT = "https://api.genesiscloud.com/compute/v1"


async def test_scan_reports_each_page() -> None:
    """scan() calls on_page after every page, counting up to the pages it reads."""
    sim = Simulator()
    sim.add_many(238)  # 250 in all: three pages of 100
    seen: list[tuple[int, int]] = []

    async def on_page(read: int, pages: int) -> None:
        seen.append((read, pages))

    async with httpx.AsyncClient(transport=sim.transport()) as http:
        api = GenesisCloudClient(http, token=SecretStr(DEFAULT_TOKEN), endpoint=ENDPOINT, rate_limit=1e6)
        result = await api.scan(api.snapshot_pages(), on_page=on_page)
    assert len(result.items) == 250
    assert seen[0] == (1, 3)
    assert sorted(seen) == [(1, 3), (2, 3), (3, 3)]


async def test_wait_stops_a_poll_that_outlives_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A poll still waiting on the API at the deadline is cut after the grace: the last state is reported."""
    monkeypatch.setattr(client_module, "POLL_GRACE", 0.05)
    sim = Simulator(create_polls=1_000)
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        api = GenesisCloudClient(http, token=SecretStr(DEFAULT_TOKEN), endpoint=ENDPOINT, retry=FAST_RETRY)
        first = await api.get(SEED_ID)
        polls: list[int] = []

        async def hang_after_first(snapshot: object, count: int, elapsed: float) -> None:
            polls.append(count)
            sim.faults = Faults(latency=30.0)  # every later answer takes longer than the whole wait

        result = await api.wait(SEED_ID, until={"never"}, timeout=0.05, interval=0.01, on_progress=hang_after_first)
    assert result.reached is False
    assert result.snapshot == first
    assert polls == [1]
    assert result.elapsed < 5.0  # not the 30 s the API would have taken


async def test_wait_without_any_answer_raises_wait_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """If no poll ever answers within the wait and its grace, the wait says so instead of hanging."""
    monkeypatch.setattr(client_module, "POLL_GRACE", 0.05)
    sim = Simulator(faults=Faults(latency=30.0))
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        api = GenesisCloudClient(http, token=SecretStr(DEFAULT_TOKEN), endpoint=ENDPOINT, retry=FAST_RETRY)
        with pytest.raises(WaitTimeout, match="did not answer within the wait"):
            await api.wait(SEED_ID, timeout=0.05)


CLIENT_CALLS = [
    ("get", ECHO_401, "AuthError"),
    ("get", ECHO_403, "AuthError"),
    ("get", ECHO_404, "NotFound"),
    ("get", ECHO_500, "ServerError"),
    ("get", BAD_SHAPE, "BadResponse"),
    ("get", REFUSED, "ApiUnreachable"),
    ("create", CREATE_502, "ServerError"),
    ("create", CREATE_GARBLED, "BadResponse"),
    ("create", CREATE_400, "BadRequest"),
]


@pytest.mark.parametrize(("method", "subject", "kind"), CLIENT_CALLS)
async def test_no_secret_in_client_exceptions(method: str, subject: str, kind: str) -> None:
    """Each error the API client raises: str, repr and the whole formatted chain are free of the token."""
    async with httpx.AsyncClient(transport=Refusing()) as http:
        client = GenesisCloudClient(
            http, token=SecretStr(API_CANARY), endpoint="https://api.example.test/compute/v1", retry=FAST_RETRY
        )

        async def attempt() -> object:
            if method == "get":
                return await client.get(subject)
            return await client.create(CreateSnapshotRequest.model_validate(create(subject)))

        with pytest.raises(SnapshotMCPError) as caught:
            await attempt()
    assert type(caught.value).__name__ == kind
    assert_clean("the client's repr", repr(client))
    assert_exception_clean(caught.value)


@pytest.mark.parametrize("token", ["with space-" + API_CANARY, API_CANARY + "\x00", "ünïcode-" + API_CANARY])
async def test_a_token_no_header_can_carry_is_not_echoed(token: str) -> None:
    """A pasted token with a space, a control character or non-ASCII: the error names the variable, not the value."""
    async with httpx.AsyncClient(transport=Refusing()) as http:
        server = build_server(leak_settings(token=SecretStr(token)), http=http, retry=FAST_RETRY)
        async with Client(server) as client:
            result = await client.call_tool("get_snapshot", {"snapshot_id": SEED_ID})
    assert result.is_error
    assert "GENESISCLOUD_TOKEN" in dump(result)
    assert_clean("a tool result", dump(result))
