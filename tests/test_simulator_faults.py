"""Tests that fault injection, both adapters and the client's model cover the simulator's new endpoints."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from snapshot_mcp.models import Snapshot, SnapshotPage
from snapshot_mcp.simulator import Faults, SimRequest, Simulator
from tests.support import AUTH, ERROR_SEED_ID, GPU_WORKER_1, LLAMA_SEED_ID, SEED_ID, assert_error, client

PREFIX = "/compute/v1"
NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

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
        return Simulator(faults=faults, now=lambda: NOW, id_factory=lambda: next(ids))

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
    assert [(r.method, r.path) for r in sim.requests] == [(method, PREFIX + path)] * 2


@NEW_ENDPOINTS
async def test_fail_when_sees_new_paths_methods_and_bodies(method: str, path: str, body: Body, ok: int) -> None:
    """fail_when gets each new endpoint's method, path and body, and can fail just that one."""
    seen: list[tuple[str, str, Any]] = []

    def hook(req: SimRequest) -> int | None:
        seen.append((req.method, req.path, json.loads(req.body) if req.body else None))
        return 429 if (req.method, req.path) == (method, PREFIX + path) else None

    sim = Simulator(faults=Faults(fail_when=hook))
    async with client(sim) as c:
        answers = [(await call(c, m, p, b)).status_code for m, p, b, _ in ENDPOINTS]
    assert answers == [429 if (m, p) == (method, path) else status for m, p, _, status in ENDPOINTS]
    assert seen == [(m, PREFIX + p, b) for m, p, b, _ in ENDPOINTS]


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


# ---------------------------------------------------------------- both adapters


@asynccontextmanager
async def adapter_client(sim: Simulator, adapter: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client over the in-process transport or over the ASGI app (httpx.ASGITransport)."""
    if adapter == "transport":
        async with client(sim) as c:
            yield c
        return
    transport = httpx.ASGITransport(app=sim.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.local/compute/v1", headers=AUTH) as c:
        yield c


@pytest.mark.parametrize("adapter", ["transport", "asgi"])
async def test_both_adapters_serve_the_new_routes(adapter: str) -> None:
    """Every new route, its 400/404/405/409 answers and the PATCH body record, through each adapter."""
    sim = Simulator(create_polls=0)
    async with adapter_client(sim, adapter) as c:
        instances = (await c.get("/instances", params={"per_page": 2})).json()
        body = {"name": "snap", "replicated_region": "EUC-DE-MUC-1"}
        made = await c.post(f"/instances/{GPU_WORKER_1}/snapshots", json=body)
        listed = (await c.get(f"/instances/{GPU_WORKER_1}/snapshots")).json()
        clone = await c.post(f"/snapshots/{LLAMA_SEED_ID}/clone", json={"name": "copy", "region": "NA-CA-PRG-1"})
        renamed = await c.patch(f"/snapshots/{SEED_ID}", json={"name": "renamed"})
        wrong = await c.put(f"/instances/{GPU_WORKER_1}/snapshots")
        unknown = await c.get("/instances/00000000-0000-4000-8000-000000000000/snapshots")
        busy = await c.post(f"/snapshots/{ERROR_SEED_ID}/clone", json={"name": "n", "region": "NA-CA-PRG-1"})
        bad = await c.patch(f"/snapshots/{SEED_ID}", content=b"{")
    assert (instances["total_count"], len(instances["instances"])) == (7, 2)
    assert made.status_code == 201
    assert [s["name"] for s in listed["snapshots"]] == ["llama-3-70b-serving", "snap"]
    assert (clone.status_code, clone.json()["snapshot"]["source_snapshot_id"]) == (201, LLAMA_SEED_ID)
    assert renamed.json()["snapshot"]["name"] == "renamed"
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, POST")
    assert_error(unknown, 404, "04002")
    assert assert_error(busy, 409, "05001")["message"] == "snapshot is in error"
    assert_error(bad, 400, "03001")
    patch = next(r for r in sim.requests if r.method == "PATCH")
    assert json.loads(patch.body) == {"name": "renamed"}
    assert len(sim.snapshots) == 15


# ---------------------------------------------------------------- the client's model


async def test_every_made_snapshot_validates_with_the_client_model() -> None:
    """Seed, instance snapshots, replicas, clones and renames parse as models.Snapshot(Page)."""
    sim = Simulator(create_polls=0)
    async with client(sim) as c:
        await c.post(f"/instances/{GPU_WORKER_1}/snapshots", json={"name": "s", "replicated_region": "NA-CA-FTS-1"})
        await c.post(f"/snapshots/{SEED_ID}/clone", json={"name": "c", "region": "EUW-GB-MNC-1"})
        await c.patch(f"/snapshots/{SEED_ID}", json={"name": "renamed"})
        page = SnapshotPage.model_validate((await c.get("/snapshots")).json())
        mine = SnapshotPage.model_validate((await c.get(f"/instances/{GPU_WORKER_1}/snapshots")).json())
    assert page.total_count == len(page.snapshots) == 15
    assert [s.name.raw for s in mine.snapshots] == ["llama-3-70b-serving", "s"]
    for snap in page.snapshots:
        raw = sim.snapshots[snap.id]
        assert Snapshot.model_validate(raw) == snap
        assert snap.os_type in ("linux", "windows")
        assert snap.resource_id is None
        assert snap.created_at is not None
        assert snap.updated_at is not None
        assert snap.source == (raw.get("source_instance_id") or raw.get("source_snapshot_id"))
    sources = {s.source for s in page.snapshots if s.source_snapshot_id}
    assert SEED_ID in sources
    assert len(sources) == 2
