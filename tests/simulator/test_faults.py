"""`simulator._faults`: injected faults (counted, random, by hook, on the transport) on every endpoint."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import anyio
import httpx
import pytest

from snapshot_mcp.simulator import (
    RANDOM_FAULT_KINDS,
    Faults,
    SimRequest,
    Simulator,
)
from tests.support import (
    GOOD_BODY,
    GPU_WORKER_1,
    OTHER_SEED_ID,
    PREFIX,
    SEED_ID,
    assert_error,
    client,
    create,
)

# -- the injector itself -------------------------------------------------------------------


@pytest.mark.slow
async def test_reset_and_garbage_faults() -> None:
    """reset_first raises a ReadError after the API acted; garbage_first turns any 2xx (204 too) into non-JSON."""
    headers = {"authorization": "Bearer x"}
    sim = Simulator(delete_polls=0, faults=Faults(reset_first=1))
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        with pytest.raises(httpx.ReadError):
            await http.delete(f"https://api.example{PREFIX}/{SEED_ID}", headers=headers)
        assert SEED_ID not in sim.snapshots  # the API did delete it
        assert (await http.get(f"https://api.example{PREFIX}", headers=headers)).json()["total_count"] == 11
    sim = Simulator(delete_polls=0, faults=Faults(garbage_first=2))
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        listing = await http.get(f"https://api.example{PREFIX}", headers=headers)
        assert listing.status_code == 200
        with pytest.raises(json.JSONDecodeError):
            listing.json()
        deleted = await http.delete(f"https://api.example{PREFIX}/{OTHER_SEED_ID}", headers=headers)
        assert (deleted.status_code, deleted.headers["content-type"]) == (200, "application/json")
        assert deleted.content
        assert OTHER_SEED_ID not in sim.snapshots
        fine = await http.get(f"https://api.example{PREFIX}", headers=headers)
        assert fine.json()["total_count"] == 11
    assert sim.faults.garbage_first == 0


async def _drawn(seed: int, n: int = 400) -> tuple[list[str | None], dict[str, int]]:
    sim = Simulator(faults=Faults(fail_rate=0.2, rng=random.Random(seed)))
    kinds: list[str | None] = []
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        for _ in range(n):
            try:
                await http.get(f"https://api.example{PREFIX}/{SEED_ID}", headers={"authorization": "Bearer x"})
            except httpx.TransportError as exc:
                kinds.append(type(exc).__name__)
            else:
                kinds.append(sim.requests[-1].fault)
    return kinds, sim.faults.drawn


@pytest.mark.slow
async def test_random_faults_are_seeded_and_near_the_rate() -> None:
    """fail_rate with a seeded rng: the same faults in the same order for a seed; about that share; all kinds."""
    first, drawn = await _drawn(1)
    again, _ = await _drawn(1)
    other, _ = await _drawn(2)
    assert first == again
    assert first != other
    assert 0.12 < sum(drawn.values()) / len(first) < 0.28
    assert set(drawn) == set(RANDOM_FAULT_KINDS)
    assert first.count("ConnectError") == drawn["connect"]
    assert first.count("ReadTimeout") == drawn["timeout"]
    assert first.count("ReadError") == drawn["reset"]


@pytest.mark.slow
def test_fail_rate_respects_fail_methods() -> None:
    """Random faults, like the counted ones, only hit the methods in fail_methods."""
    faults = Faults(fail_rate=1.0, rng=random.Random(0), fail_methods=frozenset({"DELETE"}))
    assert faults.draw("GET") is None
    assert faults.draw("DELETE") in RANDOM_FAULT_KINDS
    assert Faults().draw("GET") is None


@pytest.mark.slow
def test_sim_request_records_no_fault_by_default() -> None:
    """SimRequest.fault defaults to None (positional construction is unchanged)."""
    assert SimRequest("GET", PREFIX).fault is None


# ---------------------------------------------------------------- faults


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "retry_after", "header"),
    [(503, None, None), (503, 2, "2"), (429, 1.5, "1.5"), (429, 3.0, "3"), (500, 2, None), (502, 7, None)],
)
async def test_fail_first(status: int, retry_after: float | None, header: str | None) -> None:
    """fail_first fails N requests (before auth) with fail_status; 429/503 carry Retry-After."""
    sim = Simulator(faults=Faults(fail_first=2, fail_status=status, retry_after=retry_after))
    async with client(sim, {}) as c:
        first = await c.get("/snapshots")
        second = await c.post("/snapshots", json=GOOD_BODY)
        third = await c.get("/snapshots")
    for resp in (first, second):
        assert_error(resp, status, "09001")
        assert resp.headers.get("retry-after") == header
    assert_error(third, 401)
    assert sim.faults.fail_first == 0
    assert len(sim.requests) == 3
    assert len(sim.snapshots) == 12


@pytest.mark.anyio
async def test_html_error_first() -> None:
    """html_error_first answers a 502 HTML proxy page, then normal JSON."""
    sim = Simulator(faults=Faults(html_error_first=1, fail_first=1))
    async with client(sim) as c:
        html = await c.get("/snapshots")
        failed = await c.get("/snapshots")
        ok = await c.get("/snapshots")
    assert html.status_code == 502
    assert html.headers["content-type"] == "text/html"
    assert html.text.lstrip().startswith("<html>")
    assert_error(failed, 503)
    assert ok.status_code == 200
    assert sim.faults.html_error_first == 0


@pytest.mark.anyio
async def test_malformed_first_applies_to_success_only() -> None:
    """malformed_first truncates the next successful bodies (status kept), not errors or 204."""
    sim = Simulator(faults=Faults(malformed_first=2))
    async with client(sim) as c:
        error = await c.get("/snapshots", params={"page": "0"})
        deleted = await c.delete(f"/snapshots/{SEED_ID}")
        created = await c.post("/snapshots", json=GOOD_BODY)
        listed = await c.get("/snapshots")
        fine = await c.get("/snapshots")
    assert_error(error, 400)
    assert deleted.status_code == 204
    for resp in (created, listed):
        with pytest.raises(json.JSONDecodeError):
            json.loads(resp.content)
    assert (created.status_code, listed.status_code) == (201, 200)
    assert fine.json()["total_count"] == 13
    assert sim.faults.malformed_first == 0


@pytest.mark.anyio
async def test_connect_error_changes_nothing() -> None:
    """connect_error_first raises ConnectError before the simulator sees anything."""
    sim = Simulator(faults=Faults(connect_error_first=2))
    async with client(sim) as c:
        for _ in range(2):
            with pytest.raises(httpx.ConnectError):
                await c.post("/snapshots", json=GOOD_BODY)
        assert len(sim.snapshots) == 12
        assert sim.requests == []
        await create(c)
    assert len(sim.snapshots) == 13
    assert len(sim.requests) == 1


@pytest.mark.anyio
async def test_read_timeout_keeps_state_change() -> None:
    """read_timeout_first applies the request, then raises ReadTimeout (the answer is lost)."""
    sim = Simulator(faults=Faults(read_timeout_first=1))
    async with client(sim) as c:
        with pytest.raises(httpx.ReadTimeout):
            await c.post("/snapshots", json=GOOD_BODY)
        assert len(sim.snapshots) == 13
        assert len(sim.requests) == 1
        await create(c)
    assert len(sim.snapshots) == 14
    assert sim.faults.read_timeout_first == 0


@pytest.mark.anyio
async def test_fail_methods_restricts_faults() -> None:
    """fail_methods limits injected faults to those methods; counters wait for them."""
    faults = Faults(fail_first=1, connect_error_first=1, malformed_first=1, fail_methods=frozenset({"POST"}))
    sim = Simulator(faults=faults)
    async with client(sim) as c:
        assert (await c.get("/snapshots")).json()["total_count"] == 12
        with pytest.raises(httpx.ConnectError):
            await c.post("/snapshots", json=GOOD_BODY)
        assert (await c.get("/snapshots")).status_code == 200
        assert_error(await c.post("/snapshots", json=GOOD_BODY), 503)
        created = await c.post("/snapshots", json=GOOD_BODY)
        assert created.status_code == 201
        assert created.content[-1:] != b"}"
        assert (await c.post("/snapshots", json=GOOD_BODY)).json()["snapshot"]["status"] == "creating"
    assert len(sim.snapshots) == 14


@pytest.mark.anyio
async def test_fail_when_hook() -> None:
    """fail_when can fail chosen requests with a status; Retry-After rides along on 429."""

    def hook(req: SimRequest) -> int | None:
        return 429 if req.method == "DELETE" else None

    sim = Simulator(faults=Faults(fail_when=hook, retry_after=0.25))
    async with client(sim) as c:
        resp = await c.delete(f"/snapshots/{SEED_ID}")
        assert (await c.get("/snapshots")).status_code == 200
    assert_error(resp, 429)
    assert resp.headers["retry-after"] == "0.25"
    assert sim.snapshots[SEED_ID]["status"] == "created"
    assert [r.method for r in sim.requests] == ["DELETE", "GET"]


@pytest.mark.anyio
async def test_latency_goes_through_anyio_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """latency is applied to every request through anyio.sleep."""
    slept: list[float] = []

    async def fake_sleep(delay: float) -> None:
        slept.append(delay)

    monkeypatch.setattr(anyio, "sleep", fake_sleep)
    sim = Simulator(faults=Faults(latency=0.05, fail_methods=frozenset({"DELETE"})))
    async with client(sim) as c:
        await c.get("/snapshots")
        await c.post("/snapshots", json=GOOD_BODY)
    assert slept == [0.05, 0.05]


API_ROOT = "/compute/v1"


NOON = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


Body = dict[str, Any] | None


Endpoint = tuple[str, str, Body, int]


ENDPOINTS: list[Endpoint] = [
    ("GET", "/instances", None, 200),
    ("GET", f"/instances/{GPU_WORKER_1}/snapshots", None, 200),
    ("POST", f"/instances/{GPU_WORKER_1}/snapshots", {"name": "n", "replicated_region": "EUW-NL-AMS-1"}, 201),
    ("POST", f"/snapshots/{SEED_ID}/clone", {"name": "n", "region": "NA-CA-FTS-1"}, 201),
    ("PATCH", f"/snapshots/{SEED_ID}", {"name": "renamed"}, 200),
]
"""Each new endpoint: method, path, body, and the status it answers without faults."""


IDS = ["list-instances", "list-instance-snapshots", "snapshot-instance", "clone", "rename"]


NEW_ENDPOINTS = pytest.mark.parametrize(("method", "path", "body", "ok"), ENDPOINTS, ids=IDS)


def twins(faults: Faults) -> tuple[Simulator, Simulator]:
    """A simulator with ``faults`` and one without, both with the same clock and ids."""

    def make(faults: Faults) -> Simulator:
        ids = (f"00000000-0000-4000-8000-{k:012d}" for k in range(100))
        return Simulator(faults=faults, now=lambda: NOON, id_factory=lambda: next(ids))

    return make(faults), make(Faults())


def state(sim: Simulator) -> str:
    """Everything an endpoint could change, as one comparable string."""
    return json.dumps([sim.snapshots, sim.instances], sort_keys=True)


async def call(c: httpx.AsyncClient, method: str, path: str, body: Body) -> httpx.Response:
    return await c.request(method, path, json=body) if body is not None else await c.request(method, path)


# ---------------------------------------------------------------- faults


@NEW_ENDPOINTS
async def test_fail_first_on_new_endpoints(method: str, path: str, body: Body, ok: int) -> None:
    """fail_first answers before routing (nothing changes, Retry-After set); the retry succeeds."""
    sim = Simulator(faults=Faults(fail_first=1, fail_status=503, retry_after=1))
    before = state(sim)
    async with client(sim) as c:
        failed = await call(c, method, path, body)
        assert state(sim) == before
        retried = await call(c, method, path, body)
    assert_error(failed, 503, "09001")
    assert failed.headers["retry-after"] == "1"
    assert retried.status_code == ok
    assert [(r.method, r.path) for r in sim.requests] == [(method, API_ROOT + path)] * 2


@NEW_ENDPOINTS
async def test_fail_when_sees_new_paths_methods_and_bodies(method: str, path: str, body: Body, ok: int) -> None:
    """fail_when gets each new endpoint's method, path and body, and can fail just that one."""
    seen: list[tuple[str, str, Any]] = []

    def hook(req: SimRequest) -> int | None:
        seen.append((req.method, req.path, json.loads(req.body) if req.body else None))
        return 429 if (req.method, req.path) == (method, API_ROOT + path) else None

    sim = Simulator(faults=Faults(fail_when=hook))
    async with client(sim) as c:
        answers = [(await call(c, m, p, b)).status_code for m, p, b, _ in ENDPOINTS]
    assert answers == [429 if (m, p) == (method, path) else status for m, p, _, status in ENDPOINTS]
    assert seen == [(m, API_ROOT + p, b) for m, p, b, _ in ENDPOINTS]


@NEW_ENDPOINTS
@pytest.mark.parametrize("fault", ["malformed_first", "garbage_first"])
async def test_broken_success_bodies_on_new_endpoints(method: str, path: str, body: Body, ok: int, fault: str) -> None:
    """A truncated or garbage success body still means the API acted (writes are kept)."""
    faults = Faults(malformed_first=1) if fault == "malformed_first" else Faults(garbage_first=1)
    sim, twin = twins(faults)
    before = state(sim)
    async with client(sim) as c, client(twin) as t:
        broken = await call(c, method, path, body)
        await call(t, method, path, body)
    assert broken.status_code == (ok if fault == "malformed_first" else 200)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.content)
    assert state(sim) == state(twin)
    assert (state(sim) == before) is (method == "GET")
    assert getattr(sim.faults, fault) == 0


@NEW_ENDPOINTS
async def test_transport_faults_on_new_endpoints(method: str, path: str, body: Body, ok: int) -> None:
    """A connect error reaches nothing; a read timeout or reset comes after the API acted."""
    sim, twin = twins(Faults(connect_error_first=1, read_timeout_first=1, reset_first=1))
    before = state(sim)
    async with client(sim) as c, client(twin) as t:
        with pytest.raises(httpx.ConnectError):
            await call(c, method, path, body)
        assert sim.requests == []
        assert state(sim) == before
        with pytest.raises(httpx.ReadTimeout):
            await call(c, method, path, body)
        with pytest.raises(httpx.ReadError):
            await call(c, method, path, body)
        for _ in range(2):
            await call(t, method, path, body)
    assert len(sim.requests) == 2
    assert state(sim) == state(twin)
    assert (state(sim) == before) is (method == "GET")


async def test_html_page_and_fail_methods_on_new_endpoints() -> None:
    """fail_methods={PATCH} keeps the HTML page and fail_first for the rename only."""
    sim = Simulator(faults=Faults(html_error_first=1, fail_first=1, fail_methods=frozenset({"PATCH"})))
    async with client(sim) as c:
        others = [(await call(c, m, p, b)).status_code for m, p, b, _ in ENDPOINTS if m != "PATCH"]
        html = await c.patch(f"/snapshots/{SEED_ID}", json={"name": "a"})
        failed = await c.patch(f"/snapshots/{SEED_ID}", json={"name": "b"})
        renamed = await c.patch(f"/snapshots/{SEED_ID}", json={"name": "c"})
    assert others == [200, 200, 201, 201]
    assert (html.status_code, html.headers["content-type"]) == (502, "text/html")
    assert_error(failed, 503, "09001")
    assert renamed.json()["snapshot"]["name"] == "c"


async def test_random_faults_reach_new_endpoints() -> None:
    """fail_rate draws for the new endpoints too, and records the kind on the request."""
    sim = Simulator(faults=Faults(fail_rate=1.0, rng=random.Random(7), random_kinds=("500",)))
    async with client(sim) as c:
        answers = [(await call(c, m, p, b)).status_code for m, p, b, _ in ENDPOINTS]
    assert answers == [500] * len(ENDPOINTS)
    assert [r.fault for r in sim.requests] == ["500"] * len(ENDPOINTS)
    assert sim.faults.drawn == {"500": len(ENDPOINTS)}
