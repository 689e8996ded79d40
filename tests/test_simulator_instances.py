"""Tests for the simulator's instances: the seed, ``GET /instances`` and its paging."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from snapshot_mcp.simulator import Simulator
from tests.support import (
    GPU_WORKER_1,
    GPU_WORKER_2,
    INSTANCE_STATUSES,
    LLAMA_SEED_ID,
    SEED_INSTANCE_IDS,
    TRAINING_BOX,
    assert_current_shape,
    assert_error,
    assert_instance_shape,
    client,
    page_of,
)

# ---------------------------------------------------------------- seed


def test_seed_instances_are_fixed_and_varied() -> None:
    """Seven fixed instances in five regions and the statuses a model gets asked about."""
    sim = Simulator()
    assert set(sim.instances) == SEED_INSTANCE_IDS
    instances = list(sim.instances.values())
    for inst in instances:
        assert_instance_shape(inst)
        assert uuid.UUID(inst["id"]).version == 4
        assert "2025-04-01" < inst["created_at"] < "2026-11-01"
        assert inst["hostname"] == inst["name"]
    assert {"active", "stopped", "creating", "error", "stopping"} <= {i["status"] for i in instances}
    assert len({i["region"] for i in instances}) >= 4
    assert {i["os_type"] for i in instances} == {"linux", "windows"}
    names = {i["name"] for i in instances}
    assert {"gpu-worker-1", "training-box"} <= names
    assert len(names) == len(instances)
    assert Simulator().instances == sim.instances
    assert Simulator(seed=False).instances == {}


def test_seed_instances_share_no_nested_objects() -> None:
    """Changing one simulator's instance (its lists included) leaves another's alone."""
    first, second = Simulator(), Simulator()
    first.instances[GPU_WORKER_1]["ssh_keys"].clear()
    first.instances[GPU_WORKER_1]["image"]["name"] = "changed"
    assert second.instances[GPU_WORKER_1]["ssh_keys"]
    assert second.instances[GPU_WORKER_1]["image"]["name"] == "Ubuntu 22.04"


def test_seed_snapshot_sources_are_seed_instances() -> None:
    """Every seeded source_instance_id names a seed instance in its region, of its disk size and OS."""
    sim = Simulator()
    sourced = [s for s in sim.snapshots.values() if "source_instance_id" in s]
    assert len(sourced) >= 5
    for snap in sourced:
        inst = sim.instances[snap["source_instance_id"]]
        assert (snap["region"], snap["size"], snap["os_type"]) == (inst["region"], inst["disk_size"], inst["os_type"])
        assert snap["created_at"] > inst["created_at"]


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


# ---------------------------------------------------------------- GET /instances/{id}/snapshots

NOW = datetime(2026, 11, 1, 12, 0, 0, 123000, tzinfo=UTC)


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
