"""`simulator._core`: the strict simulated API, spoken to directly over its httpx transport.

Authentication, routing, paging; the snapshot endpoints (list, get, create, delete,
clone, rename) and the instance ones; the lifecycle of every snapshot made, by polls
or by the clock; and that everything it makes parses as the client's model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest

from snapshot_mcp.models import Snapshot, SnapshotPage
from snapshot_mcp.simulator import (
    DEFAULT_TOKEN,
    KNOWN_REGIONS,
    Faults,
    Simulator,
)
from tests.support import (
    BASE,
    CREATING_SEED_ID,
    ERROR_SEED_ID,
    GOOD_BODY,
    GPU_WORKER_1,
    GPU_WORKER_2,
    INSTANCE_STATUSES,
    ISO_MS,
    LEGACY_ID,
    LLAMA_SEED_ID,
    OTHER_SEED_ID,
    PENDING_DELETE_SEED_ID,
    SEED_ID,
    SEED_IDS,
    SEED_INSTANCE_IDS,
    SNAPSHOT_KEYS,
    TRAINING_BOX,
    VirtualClock,
    assert_current_shape,
    assert_error,
    assert_instance_shape,
    client,
    create,
    page_of,
    status_of,
)

# ---------------------------------------------------------------- auth and routing

AUTH_CASES = [
    ({}, None),
    ({"Authorization": "Basic c2ltOnRva2Vu"}, None),
    ({"Authorization": "Bearer "}, None),
    ({"Authorization": f"bearer {DEFAULT_TOKEN}"}, None),
    ({"X-Auth-Token": DEFAULT_TOKEN}, None),
    ({"Authorization": "Bearer other"}, ["good"]),
]


UNKNOWN_UUID = "5b0c3f0e-8d59-4f6e-9d55-2f3f8a4c7e11"
"""An id no seed snapshot or instance has (fixed: parallel workers must collect the same tests)."""


@pytest.mark.anyio
@pytest.mark.parametrize(("headers", "tokens"), AUTH_CASES)
@pytest.mark.parametrize(("method", "path"), [("GET", "/snapshots"), ("DELETE", f"/snapshots/{UNKNOWN_UUID}")])
async def test_auth_rejected(headers: dict[str, str], tokens: list[str] | None, method: str, path: str) -> None:
    """Missing, non-Bearer, empty, X-Auth-Token-only or unknown tokens are 401 code 01001."""
    sim = Simulator(tokens=tokens)
    async with client(sim, headers) as c:
        resp = await c.request(method, path)
    assert_error(resp, 401, "01001")
    assert len(sim.snapshots) == 12


@pytest.mark.anyio
async def test_auth_with_token_set() -> None:
    """When `tokens` is set, exactly those Bearer tokens are accepted."""
    sim = Simulator(tokens={"good"})
    async with client(sim, {"Authorization": "Bearer good"}) as c:
        assert (await c.get("/snapshots")).status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize(
    "url",
    [
        f"{BASE}/snapshot",
        f"{BASE}/snapshots/",
        f"{BASE}/instances/",
        f"{BASE}/instances/{UNKNOWN_UUID}",
        f"{BASE}/instances/{UNKNOWN_UUID}/snapshots/",
        f"{BASE}/snapshots/{UNKNOWN_UUID}/clone/",
        f"{BASE}/snapshots/{UNKNOWN_UUID}/copy",
        f"{BASE}/snapshots//clone",
        "https://api.genesiscloud.com/snapshots",
        "https://api.genesiscloud.com/compute/v2/snapshots",
    ],
)
async def test_unknown_route(url: str) -> None:
    """Unknown paths, including a trailing slash, are 404 code 02001 'Invalid route'."""
    async with client(Simulator()) as c:
        body = assert_error(await c.get(url), 404, "02001")
    assert body["message"] == "Invalid route"


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/snapshots", "GET, POST"),
        ("DELETE", "/snapshots", "GET, POST"),
        ("POST", f"/snapshots/{SEED_ID}", "GET, PATCH, DELETE"),
        ("PUT", f"/snapshots/{SEED_ID}", "GET, PATCH, DELETE"),
        ("GET", f"/snapshots/{SEED_ID}/clone", "POST"),
        ("PATCH", f"/snapshots/{SEED_ID}/clone", "POST"),
        ("DELETE", f"/snapshots/{SEED_ID}/clone", "POST"),
    ],
)
async def test_wrong_method(method: str, path: str, allow: str) -> None:
    """A wrong method on a known path is 405 with a JSON error and an Allow header."""
    async with client(Simulator()) as c:
        resp = await c.request(method, path)
    assert_error(resp, 405)
    assert resp.headers["allow"] == allow


@pytest.mark.anyio
@pytest.mark.parametrize("method", ["GET", "DELETE"])
@pytest.mark.parametrize("sid", [UNKNOWN_UUID, "not-a-uuid", "EBC879BB-2363-4326-BF38-ECA0BE7B7921", "12345"])
async def test_unknown_or_malformed_id(method: str, sid: str) -> None:
    """Unknown or malformed ids are 404 'Snapshot not found'."""
    sim = Simulator()
    async with client(sim) as c:
        body = assert_error(await c.request(method, f"/snapshots/{sid}"), 404)
    assert body["message"] == "Snapshot not found"
    assert len(sim.snapshots) == 12


# ---------------------------------------------------------------- list


@pytest.mark.anyio
async def test_list_shape_and_order() -> None:
    """The list has the documented keys, defaults, total_count and stable created_at/id order."""
    sim = Simulator()
    sim.add_snapshot(name="twin-b", size=1, region="EUC-DE-MUC-1", id="ffffffff-0000-4000-8000-000000000000")
    twin = sim.snapshots["ffffffff-0000-4000-8000-000000000000"]["created_at"]
    sim.add_snapshot(name="twin-a", size=1, region="EUC-DE-MUC-1", id="00000000-0000-4000-8000-000000000000")
    sim.snapshots["00000000-0000-4000-8000-000000000000"]["created_at"] = twin
    async with client(sim) as c:
        snapshots = page_of(await c.get("/snapshots"), "snapshots", total=14)
    assert len(snapshots) == 14
    assert [s["name"] for s in snapshots[-2:]] == ["twin-a", "twin-b"]
    for snap in snapshots:
        assert_current_shape(snap)
        assert snap == sim.snapshots[snap["id"]]


@pytest.mark.anyio
@pytest.mark.parametrize("param", ["per_page", "page"])
@pytest.mark.parametrize("value", ["0", "-1", "abc", "", "1.5", " 3", "+2", "1e2"])
async def test_list_bad_pagination(param: str, value: str) -> None:
    """Bad per_page/page values are 400 with a message naming the parameter."""
    async with client(Simulator()) as c:
        body = assert_error(await c.get("/snapshots", params={param: value}), 400)
    assert param in body["message"]


@pytest.mark.anyio
@pytest.mark.parametrize(("value", "status"), [("100", 200), ("101", 400), ("1", 200), ("007", 200)])
async def test_list_per_page_bounds(value: str, status: int) -> None:
    """per_page accepts 1..100 and rejects 101."""
    async with client(Simulator()) as c:
        resp = await c.get("/snapshots", params={"per_page": value})
    assert resp.status_code == status
    if status == 200:
        assert resp.json()["per_page"] == int(value)


@pytest.mark.anyio
async def test_list_pages_and_past_the_end() -> None:
    """Pages partition the snapshots; a page past the end is empty with the right total."""
    sim = Simulator()
    seen: list[str] = []
    async with client(sim) as c:
        for page in (1, 2, 3):
            body = (await c.get("/snapshots", params={"per_page": 5, "page": page})).json()
            assert body["total_count"] == 12
            assert body["page"] == page
            assert body["per_page"] == 5
            seen += [s["id"] for s in body["snapshots"]]
        late = (await c.get("/snapshots", params={"per_page": 5, "page": 4})).json()
        huge = (await c.get("/snapshots", params={"page": "999999999"})).json()
    assert len(seen) == 12
    assert set(seen) == SEED_IDS
    assert late == {"snapshots": [], "total_count": 12, "page": 4, "per_page": 5}
    assert huge["snapshots"] == []
    assert huge["total_count"] == 12


@pytest.mark.slow  # fills the simulator with thousands of snapshots
@pytest.mark.anyio
async def test_add_many_is_fast_and_pages() -> None:
    """add_many(10_000) is fast and pages through cleanly, 100 per page, in order."""
    sim = Simulator(seed=False)
    started = time.perf_counter()
    sim.add_many(10_000)
    assert time.perf_counter() - started < 2.0
    assert len(sim.snapshots) == 10_000
    ids: list[str] = []
    async with client(sim) as c:
        for page in range(1, 101):
            body = (await c.get("/snapshots", params={"per_page": 100, "page": page})).json()
            assert body["total_count"] == 10_000
            ids += [s["id"] for s in body["snapshots"]]
    assert len(ids) == len(set(ids)) == 10_000
    names = [sim.snapshots[i]["name"] for i in ids]
    assert names[0] == "bulk-00000"
    assert names[-1] == "bulk-09999"
    assert names == sorted(names)
    assert {s["region"] for s in sim.snapshots.values()} == set(KNOWN_REGIONS)
    sim.add_many(3, region_cycle=False, prefix="more")
    extra = [s for s in sim.snapshots.values() if s["name"].startswith("more-")]
    assert [s["name"] for s in extra] == ["more-10000", "more-10001", "more-10002"]
    assert {s["region"] for s in extra} == {KNOWN_REGIONS[0]}


# ---------------------------------------------------------------- create

BAD_BODIES: list[tuple[str, Any]] = [
    ("not json", b"name=x"),
    ("json array", b"[]"),
    ("missing name", {k: v for k, v in GOOD_BODY.items() if k != "name"}),
    ("missing size", {k: v for k, v in GOOD_BODY.items() if k != "size"}),
    ("missing url", {k: v for k, v in GOOD_BODY.items() if k != "url"}),
    ("missing region", {k: v for k, v in GOOD_BODY.items() if k != "region"}),
    ("empty name", {**GOOD_BODY, "name": ""}),
    ("blank name", {**GOOD_BODY, "name": "   "}),
    ("long name", {**GOOD_BODY, "name": "x" * 256}),
    ("name not string", {**GOOD_BODY, "name": 5}),
    ("size zero", {**GOOD_BODY, "size": 0}),
    ("size negative", {**GOOD_BODY, "size": -3}),
    ("size bool", {**GOOD_BODY, "size": True}),
    ("size string", {**GOOD_BODY, "size": "20"}),
    ("size float", {**GOOD_BODY, "size": 20.0}),
    ("url ftp", {**GOOD_BODY, "url": "ftp://example.com/a.raw"}),
    ("url bare", {**GOOD_BODY, "url": "example.com/a.raw"}),
    ("url empty host", {**GOOD_BODY, "url": "https://"}),
    ("region unknown", {**GOOD_BODY, "region": "MARS-1"}),
    ("region lowercase", {**GOOD_BODY, "region": "nord-no-krs-1"}),
    ("region dropped", {**GOOD_BODY, "region": "ARC-IS-HAF-1"}),
    ("os_type mac", {**GOOD_BODY, "os_type": "macos"}),
    ("os_type null", {**GOOD_BODY, "os_type": None}),
    ("extra key", {**GOOD_BODY, "description": "x"}),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("case", "body"), BAD_BODIES, ids=[c for c, _ in BAD_BODIES])
async def test_create_validation(case: str, body: Any) -> None:
    """Each invalid create body is 400 with code and message, and changes nothing."""
    sim = Simulator()
    before = json.dumps(sim.snapshots, sort_keys=True)
    async with client(sim) as c:
        if isinstance(body, bytes):
            resp = await c.post("/snapshots", content=body)
        else:
            resp = await c.post("/snapshots", json=body)
    assert_error(resp, 400, "03001")
    assert json.dumps(sim.snapshots, sort_keys=True) == before


@pytest.mark.anyio
async def test_create_region_message_lists_known() -> None:
    """An unknown region's message lists the known regions."""
    async with client(Simulator()) as c:
        body = assert_error(await c.post("/snapshots", json={**GOOD_BODY, "region": "XX"}), 400)
    assert all(region in body["message"] for region in KNOWN_REGIONS)


@pytest.mark.anyio
async def test_create_success_and_no_dedupe() -> None:
    """Create answers 201 'creating' in the full shape; identical creates make two snapshots."""
    ids = iter(["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"])
    sim = Simulator(seed=False, id_factory=lambda: next(ids))
    async with client(sim) as c:
        resp = await c.post("/snapshots", json={**GOOD_BODY, "os_type": "windows"})
        again = await create(c)
    assert resp.status_code == 201
    assert resp.headers["content-type"] == "application/json"
    snap = resp.json()["snapshot"]
    assert set(snap) == SNAPSHOT_KEYS
    assert snap["id"] == "11111111-1111-4111-8111-111111111111"
    assert (snap["status"], snap["os_type"]) == ("creating", "windows")
    assert (snap["name"], snap["size"], snap["region"]) == ("my-image", 20, "NORD-NO-KRS-1")
    assert ISO_MS.fullmatch(snap["created_at"])
    assert snap["updated_at"] == snap["created_at"]
    assert again["id"] == "22222222-2222-4222-8222-222222222222"
    assert again["os_type"] == "linux"
    assert len(sim.snapshots) == 2


# ---------------------------------------------------------------- lifecycle


@pytest.mark.anyio
@pytest.mark.parametrize(("name", "final"), [("ok-image", "created"), ("doomed", "error")])
@pytest.mark.parametrize("polls", [0, 1, 3])
async def test_create_lifecycle_by_polls(name: str, final: str, polls: int) -> None:
    """A new snapshot reads 'creating' for create_polls reads (GET or list), then its final status."""
    sim = Simulator(seed=False, create_polls=polls, fail_create_names={"doomed"})
    async with client(sim) as c:
        sid = (await create(c, name=name))["id"]
        seen: list[str | int] = []
        for i in range(polls):
            if i % 2:
                listed = (await c.get("/snapshots")).json()["snapshots"]
                seen.append(listed[0]["status"])
            else:
                seen.append(await status_of(c, sid))
        assert seen == ["creating"] * polls
        assert await status_of(c, sid) == final
        assert await status_of(c, sid) == final
    assert sim.snapshots[sid]["status"] == final


@pytest.mark.anyio
async def test_list_read_only_counts_on_its_page() -> None:
    """Only snapshots on the returned page advance; others stay 'creating'."""
    sim = Simulator(seed=False, create_polls=1)
    async with client(sim) as c:
        first, second = (await create(c, name="a"))["id"], (await create(c, name="b"))["id"]
        sim.snapshots[second]["created_at"] = "2099-01-01T00:00:00.000Z"
        await c.get("/snapshots", params={"per_page": 1})
        assert await status_of(c, first) == "created"
        assert sim.snapshots[second]["status"] == "creating"


@pytest.mark.anyio
async def test_create_lifecycle_by_clock() -> None:
    """With create_seconds, the injected clock decides when 'creating' ends, not the reads."""
    clock = VirtualClock()
    sim = Simulator(create_seconds=30, clock=clock, fail_create_names={"doomed"})
    async with client(sim) as c:
        ok, bad = (await create(c))["id"], (await create(c, name="doomed"))["id"]
        for _ in range(5):
            assert await status_of(c, ok) == "creating"
        assert await status_of(c, CREATING_SEED_ID) == "creating"
        clock.now += 29.9
        assert await status_of(c, ok) == "creating"
        clock.now += 0.1
        assert (await status_of(c, ok), await status_of(c, bad)) == ("created", "error")
        assert await status_of(c, CREATING_SEED_ID) == "created"


@pytest.mark.anyio
async def test_seed_creating_follows_lifecycle() -> None:
    """The seeded 'creating' snapshot stays creating for create_polls reads like a new one."""
    sid = CREATING_SEED_ID
    async with client(Simulator(create_polls=2)) as c:
        assert [await status_of(c, sid) for _ in range(3)] == ["creating", "creating", "created"]


@pytest.mark.anyio
@pytest.mark.parametrize("polls", [1, 2, 4])
async def test_delete_lifecycle(polls: int) -> None:
    """DELETE is 204 empty; reads show pending_delete, then deleting, for delete_polls reads; then 404."""
    sim = Simulator(delete_polls=polls)
    sid = SEED_ID
    async with client(sim) as c:
        resp = await c.delete(f"/snapshots/{sid}")
        assert resp.status_code == 204
        assert resp.content == b""
        assert "content-type" not in resp.headers
        assert sim.snapshots[sid]["status"] == "pending_delete"
        seen = [await status_of(c, sid) for _ in range(polls)]
        assert seen == ["pending_delete"] + ["deleting"] * (polls - 1)
        assert await status_of(c, sid) == 404
        body = (await c.get("/snapshots")).json()
        assert assert_error(await c.delete(f"/snapshots/{sid}"), 404)["message"] == "Snapshot not found"
    assert body["total_count"] == 11
    assert sid not in {s["id"] for s in body["snapshots"]}
    assert sid not in sim.snapshots


@pytest.mark.anyio
async def test_delete_lifecycle_through_list_and_zero_polls() -> None:
    """Deleting snapshots stay listed while visible; with delete_polls=0 they vanish at once."""
    sim = Simulator(delete_polls=2)
    sid = SEED_ID
    async with client(sim) as c:
        await c.delete(f"/snapshots/{sid}")
        statuses = []
        for _ in range(3):
            listed = {s["id"]: s for s in (await c.get("/snapshots")).json()["snapshots"]}
            statuses.append(listed[sid]["status"] if sid in listed else None)
    assert statuses == ["pending_delete", "deleting", None]
    sim0 = Simulator(delete_polls=0)
    async with client(sim0) as c:
        assert (await c.delete(f"/snapshots/{sid}")).status_code == 204
        assert await status_of(c, sid) == 404


@pytest.mark.anyio
async def test_delete_creating_conflicts() -> None:
    """Deleting a 'creating' snapshot is 409 and changes nothing; once created it deletes."""
    sim = Simulator(seed=False, create_polls=1)
    async with client(sim) as c:
        sid = (await create(c))["id"]
        body = assert_error(await c.delete(f"/snapshots/{sid}"), 409)
        assert body["message"] == "snapshot is being created"
        assert sim.snapshots[sid]["status"] == "creating"
        assert await status_of(c, sid) == "creating"
        assert (await c.delete(f"/snapshots/{sid}")).status_code == 204
        assert await status_of(c, sid) == "pending_delete"


@pytest.mark.anyio
async def test_delete_is_idempotent_while_deleting() -> None:
    """A second DELETE while pending_delete/deleting answers 204 and keeps the countdown."""
    sim = Simulator(delete_polls=2)
    sid = SEED_ID
    seeded = PENDING_DELETE_SEED_ID
    async with client(sim) as c:
        await c.delete(f"/snapshots/{sid}")
        assert await status_of(c, sid) == "pending_delete"
        assert (await c.delete(f"/snapshots/{sid}")).status_code == 204
        assert await status_of(c, sid) == "deleting"
        assert await status_of(c, sid) == 404
        assert [await status_of(c, seeded) for _ in range(2)] == ["pending_delete", "pending_delete"]
        assert (await c.delete(f"/snapshots/{seeded}")).status_code == 204
        assert [await status_of(c, seeded) for _ in range(3)] == ["pending_delete", "deleting", 404]


@pytest.mark.anyio
async def test_error_snapshot_can_be_deleted() -> None:
    """A snapshot in 'error' can be deleted."""
    async with client(Simulator()) as c:
        resp = await c.delete(f"/snapshots/{ERROR_SEED_ID}")
    assert resp.status_code == 204


@pytest.mark.anyio
async def test_requests_are_recorded() -> None:
    """Every received request is recorded with method, path, query, lowercase headers and body."""
    sim = Simulator()
    async with client(sim) as c:
        await c.get("/snapshots", params={"per_page": 3}, headers={"X-Trace": "abc"})
        await c.post("/snapshots", json=GOOD_BODY)
    get, post = sim.requests
    assert (get.method, get.path, get.query) == ("GET", "/compute/v1/snapshots", {"per_page": "3"})
    assert get.headers["x-trace"] == "abc"
    assert get.headers["authorization"] == f"Bearer {DEFAULT_TOKEN}"
    assert post.method == "POST"
    assert json.loads(post.body) == GOOD_BODY


@pytest.mark.anyio
async def test_concurrent_creates_are_all_kept() -> None:
    """Concurrent creates with latency all land, each with its own id."""
    sim = Simulator(seed=False, faults=Faults(latency=0.001))
    results: list[str] = []
    async with client(sim) as c:

        async def one(i: int) -> None:
            results.append((await create(c, name=f"n{i}"))["id"])

        async with anyio.create_task_group() as tg:
            for i in range(20):
                tg.start_soon(one, i)
    assert len(set(results)) == 20
    assert set(results) == set(sim.snapshots)


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


def test_add_instance() -> None:
    """add_instance inserts a full Instance shape with the base image of its OS."""
    sim = Simulator(seed=False, now=lambda: datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=UTC))
    inst = sim.add_instance(name="box", region="EUC-DE-MUC-1", status="stopped", os_type="windows", disk_size=9)
    assert_instance_shape(inst)
    assert sim.instances == {inst["id"]: inst}
    assert (inst["status"], inst["disk_size"], inst["image"]["name"]) == ("stopped", 9, "Windows Server 2022")
    assert inst["created_at"] == inst["updated_at"] == "2026-01-02T03:04:05.006Z"
    assert (inst["public_ip"], inst["ssh_keys"]) == (None, [])


# ---------------------------------------------------------------- GET /instances


async def test_list_instances_shape_and_order() -> None:
    """GET /instances is 200 with the page keys, defaults, created_at/id order and the stored instances."""
    sim = Simulator()
    async with client(sim) as c:
        instances = page_of(await c.get("/instances"), "instances", total=7)
    assert instances == [sim.instances[i["id"]] for i in instances]
    assert len(instances) == 7
    for inst in instances:
        assert_instance_shape(inst)


async def test_list_instances_pages_and_past_the_end() -> None:
    """Pages partition the instances; a page past the end is empty with the right total."""
    seen: list[str] = []
    async with client(Simulator()) as c:
        for page in (1, 2, 3):
            resp = await c.get("/instances", params={"per_page": 3, "page": page})
            seen += [i["id"] for i in page_of(resp, "instances", total=7, page=page, per_page=3)]
        late = (await c.get("/instances", params={"per_page": 3, "page": 4})).json()
        empty = (await c.get("/instances", params={"per_page": "100"})).json()
    assert len(seen) == 7
    assert set(seen) == SEED_INSTANCE_IDS
    assert late == {"instances": [], "total_count": 7, "page": 4, "per_page": 3}
    assert len(empty["instances"]) == 7


@pytest.mark.parametrize("param", ["per_page", "page"])
@pytest.mark.parametrize("value", ["0", "-1", "abc", "", "1.5", "+2"])
async def test_list_instances_bad_pagination(param: str, value: str) -> None:
    """Bad per_page/page values on /instances are 400 code 03001 naming the parameter."""
    async with client(Simulator()) as c:
        body = assert_error(await c.get("/instances", params={param: value}), 400, "03001")
        too_many = await c.get("/instances", params={"per_page": "101"})
    assert param in body["message"]
    assert_error(too_many, 400, "03001")


async def test_list_instances_needs_auth_and_get() -> None:
    """/instances is 401 without a Bearer token and 405 (Allow: GET) for other methods."""
    async with client(Simulator(), {}) as c:
        unauth = await c.get("/instances")
        post = await c.post("/instances", json={})
    assert_error(unauth, 401, "01001")
    assert_error(post, 405, "02002")
    assert post.headers["allow"] == "GET"


@pytest.mark.parametrize("path", ["/instances/", f"/instances/{GPU_WORKER_1}", f"/instances/{GPU_WORKER_1}/"])
async def test_instance_paths_not_simulated(path: str) -> None:
    """Instance paths outside the snapshot endpoints are 404 'Invalid route'."""
    async with client(Simulator()) as c:
        body = assert_error(await c.get(path), 404, "02001")
    assert body["message"] == "Invalid route"


async def test_instance_snapshots_lists_what_the_instance_made() -> None:
    """Only snapshots whose source_instance_id is that instance are listed, in the page shape."""
    sim = Simulator()
    other = sim.add_snapshot(name="x", size=1, region="NORD-NO-KRS-1", source_instance_id=TRAINING_BOX)
    async with client(sim) as c:
        mine = page_of(await c.get(f"/instances/{GPU_WORKER_1}/snapshots"), "snapshots", total=1)
        training = page_of(await c.get(f"/instances/{TRAINING_BOX}/snapshots"), "snapshots", total=2)
        none = page_of(await c.get(f"/instances/{GPU_WORKER_2}/snapshots"), "snapshots", total=0)
    assert [s["id"] for s in mine] == [LLAMA_SEED_ID]
    assert mine[0] == sim.snapshots[LLAMA_SEED_ID]
    assert [s["name"] for s in training] == ["llm-finetune-2026-03", "x"]
    assert training[1]["id"] == other["id"]
    assert none == []
    for snap in (*mine, *training):
        assert_current_shape(snap)


async def test_instance_snapshots_pages() -> None:
    """The instance's list pages like /snapshots: per_page, page, past the end, bad values."""
    sim = Simulator(seed=False)
    inst = sim.add_instance(name="box", region="NA-CA-PRG-1")
    for k in range(5):
        stamp = NOW + timedelta(minutes=k)
        sim.add_snapshot(name=f"s{k}", size=1, region="NA-CA-PRG-1", source_instance_id=inst["id"], created_at=stamp)
    path = f"/instances/{inst['id']}/snapshots"
    async with client(sim) as c:
        second = page_of(await c.get(path, params={"per_page": 2, "page": 2}), "snapshots", total=5, page=2, per_page=2)
        late = page_of(await c.get(path, params={"page": 9}), "snapshots", total=5, page=9)
        body = assert_error(await c.get(path, params={"per_page": "0"}), 400, "03001")
    assert [s["name"] for s in second] == ["s2", "s3"]
    assert late == []
    assert "per_page" in body["message"]


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    "iid", ["5b0c3f0e-8d59-4f6e-9d55-2f3f8a4c7e11", "not-a-uuid", GPU_WORKER_1.upper(), LLAMA_SEED_ID]
)
async def test_instance_snapshots_unknown_instance(method: str, iid: str) -> None:
    """An unknown or malformed instance id (a snapshot id too) is 404 'Instance not found', before the body."""
    sim = Simulator()
    async with client(sim) as c:
        body = assert_error(await c.request(method, f"/instances/{iid}/snapshots", content=b"{"), 404, "04002")
    assert body["message"] == "Instance not found"
    assert len(sim.snapshots) == 12


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
async def test_instance_snapshots_wrong_method(method: str) -> None:
    """Other methods on /instances/{id}/snapshots are 405 with Allow: GET, POST."""
    async with client(Simulator()) as c:
        resp = await c.request(method, f"/instances/{GPU_WORKER_1}/snapshots")
    assert_error(resp, 405, "02002")
    assert resp.headers["allow"] == "GET, POST"


# ---------------------------------------------------------------- POST /instances/{id}/snapshots


async def test_snapshot_an_instance() -> None:
    """201 'creating' from the instance: its region, disk size and OS, source_instance_id set."""
    sim = Simulator(now=lambda: NOW, id_factory=lambda: "11111111-1111-4111-8111-111111111111")
    async with client(sim) as c:
        resp = await c.post(f"/instances/{GPU_WORKER_1}/snapshots", json={"name": "worker-before-upgrade"})
    assert resp.status_code == 201
    assert resp.headers["content-type"] == "application/json"
    snap = resp.json()["snapshot"]
    assert_current_shape(snap)
    assert snap == {
        "id": "11111111-1111-4111-8111-111111111111",
        "name": "worker-before-upgrade",
        "size": 256,
        "region": "NORD-NO-KRS-1",
        "status": "creating",
        "os_type": "linux",
        "source_instance_id": GPU_WORKER_1,
        "created_at": "2026-11-01T12:00:00.123Z",
        "updated_at": "2026-11-01T12:00:00.123Z",
    }
    assert sim.snapshots[snap["id"]] == snap
    assert len(sim.snapshots) == 13


@pytest.mark.parametrize(("iid", "status"), [(GPU_WORKER_1, "active"), (TRAINING_BOX, "stopped")])
async def test_snapshot_an_active_or_stopped_instance(iid: str, status: str) -> None:
    """Both an active and a stopped instance can be snapshotted; the new one is in its list."""
    sim = Simulator()
    assert sim.instances[iid]["status"] == status
    async with client(sim) as c:
        made = (await c.post(f"/instances/{iid}/snapshots", json={"name": "n"})).json()["snapshot"]
        listed = (await c.get(f"/instances/{iid}/snapshots")).json()["snapshots"]
    assert made["id"] in {s["id"] for s in listed}
    assert made["region"] == sim.instances[iid]["region"]


@pytest.mark.parametrize("status", sorted(INSTANCE_STATUSES - {"active", "stopped"}))
async def test_snapshot_instance_conflicts_unless_active_or_stopped(status: str) -> None:
    """Any other instance status is 409 code 05001 naming it, and makes nothing."""
    sim = Simulator()
    inst = sim.add_instance(name="busy", region="EUC-DE-MUC-1", status=status)
    async with client(sim) as c:
        body = assert_error(await c.post(f"/instances/{inst['id']}/snapshots", json={"name": "n"}), 409, "05001")
    assert status in body["message"]
    assert len(sim.snapshots) == 12


async def test_seed_instances_that_cannot_be_snapshotted() -> None:
    """The seed's creating, error and stopping instances answer 409."""
    sim = Simulator()
    busy = [i for i, inst in sim.instances.items() if inst["status"] in ("creating", "error", "stopping")]
    assert len(busy) == 3
    async with client(sim) as c:
        for iid in busy:
            assert_error(await c.post(f"/instances/{iid}/snapshots", json={"name": "n"}), 409, "05001")
    assert len(sim.snapshots) == 12


INSTANCE_BAD_BODIES: list[tuple[str, Any]] = [
    ("not json", b"name=x"),
    ("empty body", b""),
    ("json array", b'["n"]'),
    ("json string", b'"n"'),
    ("missing name", {}),
    ("only replica", {"replicated_region": "NORD-NO-KRS-1"}),
    ("empty name", {"name": ""}),
    ("blank name", {"name": " \t"}),
    ("long name", {"name": "x" * 256}),
    ("name not string", {"name": 7}),
    ("name null", {"name": None}),
    ("region key", {"name": "n", "region": "NORD-NO-KRS-1"}),
    ("unknown key", {"name": "n", "description": "x"}),
    ("replica dropped", {"name": "n", "replicated_region": "ARC-IS-HAF-1"}),
    ("replica unknown", {"name": "n", "replicated_region": "MARS-1"}),
    ("replica lowercase", {"name": "n", "replicated_region": "euw-nl-ams-1"}),
    ("replica null", {"name": "n", "replicated_region": None}),
    ("replica list", {"name": "n", "replicated_region": ["EUW-NL-AMS-1"]}),
]


@pytest.mark.parametrize(("case", "body"), INSTANCE_BAD_BODIES, ids=[c for c, _ in INSTANCE_BAD_BODIES])
async def test_snapshot_instance_validation(case: str, body: Any) -> None:
    """Each bad body is 400 code 03001 and makes nothing, on a snapshottable instance or not."""
    sim = Simulator()
    async with client(sim) as c:
        for iid in (GPU_WORKER_1, GPU_WORKER_2):
            path = f"/instances/{iid}/snapshots"
            resp = await (c.post(path, content=body) if isinstance(body, bytes) else c.post(path, json=body))
            assert_error(resp, 400, "03001")
    assert len(sim.snapshots) == 12


async def test_snapshot_instance_name_rules() -> None:
    """A 255-char name and names already taken are accepted (names are not unique)."""
    sim = Simulator()
    async with client(sim) as c:
        for name in ("x" * 255, "llama-3-70b-serving", "llama-3-70b-serving"):
            resp = await c.post(f"/instances/{GPU_WORKER_1}/snapshots", json={"name": name})
            assert resp.status_code == 201
    assert len(sim.snapshots) == 15


@pytest.mark.parametrize("region", ["EUW-NL-AMS-1", "NORD-NO-KRS-1"])
async def test_replicated_region_makes_a_second_snapshot(region: str) -> None:
    """With replicated_region a copy appears there: source_snapshot_id is the answered snapshot."""
    ids = iter(["11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"])
    sim = Simulator(now=lambda: NOW, id_factory=lambda: next(ids))
    body = {"name": "weekly", "replicated_region": region}
    async with client(sim) as c:
        resp = await c.post(f"/instances/{GPU_WORKER_1}/snapshots", json=body)
        listed = (await c.get(f"/instances/{GPU_WORKER_1}/snapshots")).json()
    snap = resp.json()["snapshot"]
    assert resp.status_code == 201
    assert (snap["id"], snap["region"], snap["source_instance_id"]) == (
        "11111111-1111-4111-8111-111111111111",
        "NORD-NO-KRS-1",
        GPU_WORKER_1,
    )
    replica = sim.snapshots["22222222-2222-4222-8222-222222222222"]
    assert_current_shape(replica)
    assert replica == {
        **{k: v for k, v in snap.items() if k != "source_instance_id"},
        "id": "22222222-2222-4222-8222-222222222222",
        "region": region,
        "source_snapshot_id": snap["id"],
    }
    assert len(sim.snapshots) == 14
    assert [s["id"] for s in listed["snapshots"]] == [LLAMA_SEED_ID, snap["id"]]


NOW = datetime(2026, 11, 1, 12, 0, 0, 123000, tzinfo=UTC)


NOW_ISO = "2026-11-01T12:00:00.123Z"


NEW_ID = "11111111-1111-4111-8111-111111111111"


async def send(c: httpx.AsyncClient, method: str, path: str, body: Any) -> httpx.Response:
    """A request whose body is raw bytes as given, or the JSON of anything else."""
    if isinstance(body, bytes):
        return await c.request(method, path, content=body)
    return await c.request(method, path, json=body)


async def made_deleting(c: httpx.AsyncClient, sid: str) -> None:
    """Delete ``sid`` and read it twice, so it is ``deleting`` (with delete_polls >= 3)."""
    assert (await c.delete(f"/snapshots/{sid}")).status_code == 204
    assert [await status_of(c, sid) for _ in range(2)] == ["pending_delete", "deleting"]


# ---------------------------------------------------------------- POST /snapshots/{id}/clone


@pytest.mark.parametrize(("source", "size", "os_type"), [(SEED_ID, 64, "linux"), (OTHER_SEED_ID, 80, "windows")])
async def test_clone(source: str, size: int, os_type: str) -> None:
    """201 'creating' in the asked region with the source's size and OS, source_snapshot_id set."""
    sim = Simulator(now=lambda: NOW, id_factory=lambda: NEW_ID)
    before = dict(sim.snapshots[source])
    async with client(sim) as c:
        resp = await c.post(f"/snapshots/{source}/clone", json={"name": "copy", "region": "NA-CA-MNZ-1"})
    assert resp.status_code == 201
    assert resp.headers["content-type"] == "application/json"
    snap = resp.json()["snapshot"]
    assert_current_shape(snap)
    assert snap == {
        "id": NEW_ID,
        "name": "copy",
        "size": size,
        "region": "NA-CA-MNZ-1",
        "status": "creating",
        "os_type": os_type,
        "source_snapshot_id": source,
        "created_at": NOW_ISO,
        "updated_at": NOW_ISO,
    }
    assert sim.snapshots[NEW_ID] == snap
    assert sim.snapshots[source] == before


async def test_clone_of_legacy_and_of_an_instance_snapshot() -> None:
    """The legacy 'active' snapshot clones into a current region; a clone names no instance."""
    sim = Simulator()
    async with client(sim) as c:
        legacy = await c.post(f"/snapshots/{LEGACY_ID}/clone", json={"name": "a", "region": "EUC-DE-MUC-1"})
        llama = await c.post(f"/snapshots/{LLAMA_SEED_ID}/clone", json={"name": "b", "region": "NORD-NO-KRS-1"})
        listed = (await c.get(f"/instances/{GPU_WORKER_1}/snapshots")).json()["snapshots"]
    assert (legacy.status_code, llama.status_code) == (201, 201)
    assert legacy.json()["snapshot"]["os_type"] == "linux"
    assert "source_instance_id" not in llama.json()["snapshot"]
    assert [s["id"] for s in listed] == [LLAMA_SEED_ID]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (CREATING_SEED_ID, "snapshot is being created"),
        (PENDING_DELETE_SEED_ID, "snapshot is being deleted"),
        (ERROR_SEED_ID, "snapshot is in error"),
    ],
)
async def test_clone_conflicts(source: str, message: str) -> None:
    """Cloning a creating, pending_delete or error snapshot is 409 code 05001 and makes nothing."""
    sim = Simulator()
    async with client(sim) as c:
        resp = await c.post(f"/snapshots/{source}/clone", json={"name": "n", "region": "NA-CA-FTS-1"})
    assert assert_error(resp, 409, "05001")["message"] == message
    assert len(sim.snapshots) == 12


async def test_clone_conflicts_while_deleting_and_after_a_due_create() -> None:
    """A deleting source is 409; a source whose create is due settles and clones."""
    sim = Simulator(delete_polls=3, create_polls=0)
    body = {"name": "n", "region": "NA-CA-FTS-1"}
    async with client(sim) as c:
        await made_deleting(c, SEED_ID)
        deleting = await c.post(f"/snapshots/{SEED_ID}/clone", json=body)
        due = await c.post(f"/snapshots/{CREATING_SEED_ID}/clone", json=body)
    assert assert_error(deleting, 409, "05001")["message"] == "snapshot is being deleted"
    assert due.status_code == 201
    assert sim.snapshots[CREATING_SEED_ID]["status"] == "created"


CLONE_BAD_BODIES: list[tuple[str, Any]] = [
    ("not json", b"{name: x}"),
    ("empty body", b""),
    ("json array", b"[]"),
    ("json null", b"null"),
    ("missing name", {"region": "NA-CA-FTS-1"}),
    ("missing region", {"name": "n"}),
    ("empty", {}),
    ("empty name", {"name": "", "region": "NA-CA-FTS-1"}),
    ("blank name", {"name": "  ", "region": "NA-CA-FTS-1"}),
    ("long name", {"name": "x" * 256, "region": "NA-CA-FTS-1"}),
    ("name number", {"name": 1, "region": "NA-CA-FTS-1"}),
    ("name null", {"name": None, "region": "NA-CA-FTS-1"}),
    ("region dropped", {"name": "n", "region": "ARC-IS-HAF-1"}),
    ("region unknown", {"name": "n", "region": "MARS-1"}),
    ("region lowercase", {"name": "n", "region": "na-ca-fts-1"}),
    ("region null", {"name": "n", "region": None}),
    ("region number", {"name": "n", "region": 7}),
    ("size key", {"name": "n", "region": "NA-CA-FTS-1", "size": 10}),
    ("os_type key", {"name": "n", "region": "NA-CA-FTS-1", "os_type": "linux"}),
]


async def test_clone_region_message_lists_the_seven() -> None:
    """A refused region's message lists the current regions and not the dropped one."""
    async with client(Simulator()) as c:
        resp = await c.post(f"/snapshots/{SEED_ID}/clone", json={"name": "n", "region": "ARC-IS-HAF-1"})
    message = assert_error(resp, 400)["message"]
    assert "NORD-NO-KRS-1" in message
    assert "ARC-IS-HAF-1" not in message


# ---------------------------------------------------------------- PATCH /snapshots/{id}


async def test_rename() -> None:
    """PATCH with a new name is 200 with that name and a new updated_at; nothing else moves."""
    sim = Simulator(now=lambda: NOW)
    before = dict(sim.snapshots[SEED_ID])
    async with client(sim) as c:
        resp = await c.patch(f"/snapshots/{SEED_ID}", json={"name": "ubuntu-cuda-renamed"})
        got = (await c.get(f"/snapshots/{SEED_ID}")).json()["snapshot"]
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    snap = resp.json()["snapshot"]
    assert_current_shape(snap)
    assert snap == {**before, "name": "ubuntu-cuda-renamed", "updated_at": NOW_ISO}
    assert got == snap


@pytest.mark.parametrize("body", [{}, {"name": "ubuntu-22.04-cuda-12.4"}])
async def test_rename_without_a_change_is_a_no_op(body: dict[str, Any]) -> None:
    """``{}`` or the same name is 200 with the snapshot unchanged, updated_at included."""
    sim = Simulator(now=lambda: NOW)
    before = dict(sim.snapshots[SEED_ID])
    async with client(sim) as c:
        resp = await c.patch(f"/snapshots/{SEED_ID}", json=body)
    assert resp.status_code == 200
    assert resp.json()["snapshot"] == before == sim.snapshots[SEED_ID]


@pytest.mark.parametrize("sid", [ERROR_SEED_ID, LEGACY_ID])
async def test_rename_error_and_legacy_snapshots(sid: str) -> None:
    """A snapshot in error, or a legacy 'active' one, can be renamed."""
    sim = Simulator()
    async with client(sim) as c:
        resp = await c.patch(f"/snapshots/{sid}", json={"name": "renamed"})
    assert resp.status_code == 200
    assert sim.snapshots[sid]["name"] == "renamed"


async def test_rename_conflicts() -> None:
    """Renaming while creating, pending_delete or deleting is 409 code 05001 and changes nothing."""
    sim = Simulator(delete_polls=3)
    async with client(sim) as c:
        await made_deleting(c, SEED_ID)
        before = json.dumps(sim.snapshots, sort_keys=True)
        answers = {}
        for sid in (CREATING_SEED_ID, PENDING_DELETE_SEED_ID, SEED_ID):
            resp = await c.patch(f"/snapshots/{sid}", json={"name": "n"})
            answers[sid] = assert_error(resp, 409, "05001")["message"]
    assert answers == {
        CREATING_SEED_ID: "snapshot is being created",
        PENDING_DELETE_SEED_ID: "snapshot is being deleted",
        SEED_ID: "snapshot is being deleted",
    }
    assert sim.snapshots[SEED_ID]["status"] == "deleting"
    assert json.dumps(sim.snapshots, sort_keys=True) == before


PATCH_BAD_BODIES: list[tuple[str, Any]] = [
    ("not json", b"name=x"),
    ("empty body", b""),
    ("json array", b'[{"name": "x"}]'),
    ("json string", b'"x"'),
    ("empty name", {"name": ""}),
    ("blank name", {"name": "\n"}),
    ("long name", {"name": "x" * 256}),
    ("name number", {"name": 3}),
    ("name null", {"name": None}),
    ("name list", {"name": ["x"]}),
    ("size key", {"name": "n", "size": 5}),
    ("region key", {"region": "NORD-NO-KRS-1"}),
    ("status key", {"status": "created"}),
]


BAD_WRITES = [
    *(pytest.param("POST", "/snapshots/{}/clone", body, id=f"clone-{case}") for case, body in CLONE_BAD_BODIES),
    *(pytest.param("PATCH", "/snapshots/{}", body, id=f"rename-{case}") for case, body in PATCH_BAD_BODIES),
]


@pytest.mark.parametrize(("method", "path", "body"), BAD_WRITES)
async def test_clone_and_rename_validation(method: str, path: str, body: Any) -> None:
    """Each bad clone or rename body is 400 code 03001 (before a 409) and changes nothing."""
    sim = Simulator()
    before = json.dumps(sim.snapshots, sort_keys=True)
    async with client(sim) as c:
        for sid in (SEED_ID, CREATING_SEED_ID):
            assert_error(await send(c, method, path.format(sid), body), 400, "03001")
    assert json.dumps(sim.snapshots, sort_keys=True) == before


# ---------------------------------------------------------------- unknown ids


@pytest.mark.parametrize(("method", "suffix"), [("PATCH", ""), ("POST", "/clone")])
@pytest.mark.parametrize("sid", ["5b0c3f0e-8d59-4f6e-9d55-2f3f8a4c7e11", "not-a-uuid", SEED_ID.upper(), GPU_WORKER_1])
async def test_unknown_snapshot_on_rename_and_clone(method: str, suffix: str, sid: str) -> None:
    """Unknown, malformed or non-snapshot ids are 404 'Snapshot not found', before the body."""
    sim = Simulator()
    async with client(sim) as c:
        resp = await c.request(method, f"/snapshots/{sid}{suffix}", content=b"not json")
    assert assert_error(resp, 404, "04001")["message"] == "Snapshot not found"
    assert len(sim.snapshots) == 12


async def test_deleted_snapshot_is_gone_for_rename_and_clone() -> None:
    """Once a deletion finished, PATCH and clone are 404 too."""
    sim = Simulator(delete_polls=0)
    async with client(sim) as c:
        assert (await c.delete(f"/snapshots/{SEED_ID}")).status_code == 204
        patch = await c.patch(f"/snapshots/{SEED_ID}", json={"name": "n"})
        clone = await c.post(f"/snapshots/{SEED_ID}/clone", json={"name": "n", "region": "NA-CA-FTS-1"})
    assert_error(patch, 404, "04001")
    assert_error(clone, 404, "04001")


# ---------------------------------------------------------------- lifecycle of made copies

Maker = Callable[[httpx.AsyncClient, str], Awaitable[str]]


async def by_clone(c: httpx.AsyncClient, name: str) -> str:
    resp = await c.post(f"/snapshots/{SEED_ID}/clone", json={"name": name, "region": "EUW-GB-MNC-1"})
    assert resp.status_code == 201, resp.text
    sid: str = resp.json()["snapshot"]["id"]
    return sid


async def by_instance(c: httpx.AsyncClient, name: str) -> str:
    resp = await c.post(f"/instances/{GPU_WORKER_1}/snapshots", json={"name": name})
    assert resp.status_code == 201, resp.text
    sid: str = resp.json()["snapshot"]["id"]
    return sid


async def by_replica(c: httpx.AsyncClient, name: str) -> str:
    """The id of the replica a replicated_region snapshot made (the newest snapshot there)."""
    body = {"name": name, "replicated_region": "NA-CA-PRG-1"}
    first = (await c.post(f"/instances/{GPU_WORKER_1}/snapshots", json=body)).json()["snapshot"]["id"]
    listed = (await c.get("/snapshots", params={"per_page": 100})).json()["snapshots"]
    (sid,) = [s["id"] for s in listed if s.get("source_snapshot_id") == first]
    return str(sid)


MAKERS = [by_clone, by_instance, by_replica]


@pytest.mark.parametrize("make", MAKERS)
@pytest.mark.parametrize(("name", "final"), [("ok-copy", "created"), ("doomed", "error")])
@pytest.mark.parametrize("polls", [0, 1, 3])
async def test_made_copies_follow_the_create_lifecycle(make: Maker, name: str, final: str, polls: int) -> None:
    """Clones, instance snapshots and replicas read 'creating' for create_polls reads, then final."""
    sim = Simulator(create_polls=polls, fail_create_names={"doomed"})
    async with client(sim) as c:
        sid = await make(c, name)
        if make is by_replica:  # the list that found it was its first read
            assert sim.snapshots[sid]["status"] == ("creating" if polls else final)
        reads = polls - (make is by_replica)
        assert [await status_of(c, sid) for _ in range(max(reads, 0))] == ["creating"] * max(reads, 0)
        assert await status_of(c, sid) == final
        assert await status_of(c, sid) == final


@pytest.mark.parametrize("make", MAKERS)
async def test_made_copies_follow_the_clock(make: Maker) -> None:
    """With create_seconds the injected clock, not the reads, ends 'creating'."""
    clock = VirtualClock()
    sim = Simulator(create_seconds=20, clock=clock)
    async with client(sim) as c:
        sid = await make(c, "n")
        for _ in range(4):
            assert await status_of(c, sid) == "creating"
        clock.now += 19.999
        assert await status_of(c, sid) == "creating"
        clock.now += 0.001
        assert await status_of(c, sid) == "created"


async def test_writes_are_not_reads() -> None:
    """PATCH, clone and DELETE attempts on a creating copy are 409 and do not advance it."""
    sim = Simulator(create_polls=1)
    async with client(sim) as c:
        sid = await by_clone(c, "n")
        assert_error(await c.patch(f"/snapshots/{sid}", json={"name": "m"}), 409)
        assert_error(await c.post(f"/snapshots/{sid}/clone", json={"name": "m", "region": "NA-CA-FTS-1"}), 409)
        assert_error(await c.delete(f"/snapshots/{sid}"), 409)
        assert await status_of(c, sid) == "creating"
        assert (await c.patch(f"/snapshots/{sid}", json={"name": "m"})).status_code == 200
        assert await status_of(c, sid) == "created"
        assert (await c.delete(f"/snapshots/{sid}")).status_code == 204


async def test_clone_of_a_clone_once_created() -> None:
    """A clone becomes a clone source once created; a chain keeps each step's source."""
    stamps = iter(NOW + timedelta(seconds=k) for k in range(10))
    sim = Simulator(create_polls=0, now=lambda: next(stamps))
    async with client(sim) as c:
        first = await by_clone(c, "one")
        assert await status_of(c, first) == "created"
        second = (await c.post(f"/snapshots/{first}/clone", json={"name": "two", "region": "NA-CA-FTS-1"})).json()
    assert second["snapshot"]["source_snapshot_id"] == first
    assert sim.snapshots[first]["source_snapshot_id"] == SEED_ID
