"""Tests for the strict in-memory Genesis Cloud snapshot API simulator."""

from __future__ import annotations

import ast
import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from snapshot_mcp import simulator as simulator_module
from snapshot_mcp.simulator import (
    DEFAULT_TOKEN,
    KNOWN_REGIONS,
    Faults,
    SimRequest,
    Simulator,
    serve,
)
from tests.support import (
    AUTH,
    BASE,
    CREATING_SEED_ID,
    ERROR_SEED_ID,
    GOOD_BODY,
    ISO_MS,
    LEGACY_ID,
    PENDING_DELETE_SEED_ID,
    SEED_ID,
    SEED_IDS,
    SNAPSHOT_KEYS,
    VirtualClock,
    assert_current_shape,
    assert_error,
    client,
    create,
    page_of,
    status_of,
)

# ---------------------------------------------------------------- seed and module


def test_seed_is_twelve_fixed_snapshots() -> None:
    """The seed has 12 fixed ids, 5+ regions, the documented shape and the special statuses."""
    sim = Simulator()
    assert set(sim.snapshots) == SEED_IDS
    snaps = list(sim.snapshots.values())
    assert len({s["region"] for s in snaps}) >= 5
    statuses = [s["status"] for s in snaps]
    assert statuses.count("created") >= 7
    assert {"creating", "error", "pending_delete"} <= set(statuses)
    for snap in snaps:
        assert_current_shape(snap)
        assert uuid.UUID(snap["id"]).version == 4
        assert "2025-04-01" < snap["created_at"] < "2026-11-01"
        assert snap["updated_at"] >= snap["created_at"]
        assert snap["region"] in KNOWN_REGIONS or snap["id"] == LEGACY_ID
    assert Simulator().snapshots == sim.snapshots
    assert Simulator(seed=False).snapshots == {}


def test_module_imports_are_light() -> None:
    """Top-level imports are stdlib, httpx, anyio and the package's own modules (uvicorn only in serve)."""
    files = sorted(Path(simulator_module.__file__).parent.glob("*.py"))
    assert len(files) >= 2
    top: set[str] = set()
    for file in files:
        for node in ast.parse(file.read_text()).body:
            if isinstance(node, ast.Import):
                top.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                top.add(node.module.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 1, "relative imports stay inside the simulator package"
    assert "snapshot_mcp" not in top
    assert {"httpx", "anyio"} <= top
    assert not top & {"uvicorn", "starlette", "pydantic", "mcp"}


def test_regions_match_the_clients() -> None:
    """The simulated API accepts exactly the regions the client's models know, less the dropped one."""
    from snapshot_mcp import models

    client_current = tuple(r for r in models.KNOWN_REGIONS if r != "ARC-IS-HAF-1")
    assert client_current == simulator_module.KNOWN_REGIONS
    assert len(KNOWN_REGIONS) == 7
    assert "ARC-IS-HAF-1" not in KNOWN_REGIONS


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


# ---------------------------------------------------------------- handle, ASGI, serve


@pytest.mark.anyio
async def test_handle_directly() -> None:
    """handle() works on a bare SimRequest and normalises header case for auth."""
    sim = Simulator()
    status, headers, body = await sim.handle(
        SimRequest("GET", "/compute/v1/snapshots", {"per_page": "2"}, {"Authorization": "Bearer x"})
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert len(json.loads(body)["snapshots"]) == 2


@pytest.mark.anyio
async def test_asgi_round_trip() -> None:
    """The raw ASGI app serves the same API through httpx.ASGITransport (no transport faults)."""
    sim = Simulator(seed=False, create_polls=0, faults=Faults(connect_error_first=1))
    transport = httpx.ASGITransport(app=sim.asgi_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://sim.local/compute/v1", headers=AUTH) as c:
        created = await c.post("/snapshots", json=GOOD_BODY)
        sid = created.json()["snapshot"]["id"]
        got = await c.get(f"/snapshots/{sid}")
        listed = await c.get("/snapshots", params={"per_page": 1, "page": 1})
        deleted = await c.delete(f"/snapshots/{sid}")
        missing = await c.get("/compute/v1/nothing")
        unauth = await c.get("/snapshots", headers={"Authorization": ""})
    assert created.status_code == 201
    assert got.json()["snapshot"]["status"] == "created"
    assert listed.json()["total_count"] == 1
    assert listed.json()["per_page"] == 1
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_error(missing, 404, "02001")
    assert_error(unauth, 401)
    assert sim.faults.connect_error_first == 1


@pytest.mark.anyio
async def test_asgi_lifespan_and_chunked_body() -> None:
    """The ASGI app completes lifespan startup/shutdown and joins a chunked request body."""
    app = Simulator(seed=False).asgi_app()
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(dict(message))

    lifespan = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive_lifespan() -> dict[str, Any]:
        return next(lifespan)

    await app({"type": "lifespan"}, receive_lifespan, send)
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    raw = json.dumps(GOOD_BODY).encode()
    chunks = iter(
        [
            {"type": "http.request", "body": raw[:10], "more_body": True},
            {"type": "http.request", "body": raw[10:], "more_body": False},
        ]
    )

    async def receive_http() -> dict[str, Any]:
        return next(chunks)

    sent.clear()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/compute/v1/snapshots",
        "query_string": b"",
        "headers": [(b"authorization", b"Bearer t"), (b"content-type", b"application/json")],
    }
    await app(scope, receive_http, send)
    assert sent[0]["status"] == 201
    assert (b"content-length", str(len(sent[1]["body"])).encode()) in sent[0]["headers"]


def test_serve_uses_uvicorn_with_stderr_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve() hands the ASGI app to uvicorn.run with every log handler on stderr."""
    uvicorn = pytest.importorskip("uvicorn")
    calls: list[tuple[Callable[..., Any], dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    serve("127.0.0.1", 9999, simulator=Simulator(seed=False), log_level="warning")
    (app, kwargs), *_ = calls
    assert callable(app)
    assert (kwargs["host"], kwargs["port"], kwargs["log_level"]) == ("127.0.0.1", 9999, "warning")
    streams = {h["stream"] for h in kwargs["log_config"]["handlers"].values()}
    assert streams == {"ext://sys.stderr"}
