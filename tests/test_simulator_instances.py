"""Tests for the simulator's instances: the seed, ``GET /instances`` and its paging."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from test_simulator import ISO_MS, assert_error, client, page_of

from snapshot_mcp.simulator import KNOWN_REGIONS, Simulator

INSTANCE_KEYS = {
    "id",
    "name",
    "hostname",
    "region",
    "status",
    "type",
    "os_type",
    "image",
    "public_ip",
    "private_ip",
    "disk_size",
    "created_at",
    "updated_at",
    "ssh_keys",
    "volumes",
    "security_groups",
}
INSTANCE_STATUSES = {
    "creating",
    "active",
    "stopping",
    "stopped",
    "starting",
    "resetting",
    "deleting",
    "error",
    "pending_payment",
}
GPU_WORKER_1 = "0c73d690-b461-423f-9f78-7f1290151773"
"""Seed instance ``gpu-worker-1``: active, NORD-NO-KRS-1, 256 GiB, source of ``llama-3-70b-serving``."""
TRAINING_BOX = "881a1b54-dfc5-42eb-9efa-16e1b30e5106"
"""Seed instance ``training-box``: stopped, NORD-NO-KRS-1, 512 GiB, source of ``llm-finetune-2026-03``."""
SEED_INSTANCE_IDS = {
    "97cfb5bd-ec4a-4a07-9170-2326dcd73298",
    "1975d15c-0c98-4ea6-b06d-7cf4d997a8a7",
    TRAINING_BOX,
    GPU_WORKER_1,
    "0bfa28c9-6019-4c56-9d75-382477cf3643",
    "cde7603b-97bb-457f-88a4-7dadd97358b8",
    "3be1e2de-dca6-4781-8e10-11f7d41275e4",
}


def assert_ref(value: Any) -> None:
    """An ``{id, name}`` reference: a canonical UUID and a non-empty name."""
    assert set(value) == {"id", "name"}
    assert str(uuid.UUID(value["id"])) == value["id"]
    assert isinstance(value["name"], str)
    assert value["name"]


def assert_instance_shape(inst: dict[str, Any]) -> None:
    """One instance with exactly the reference's fields, each of its type."""
    assert set(inst) == INSTANCE_KEYS
    assert str(uuid.UUID(inst["id"])) == inst["id"]
    for key in ("name", "hostname", "type"):
        assert isinstance(inst[key], str)
        assert inst[key]
    assert inst["region"] in KNOWN_REGIONS
    assert inst["status"] in INSTANCE_STATUSES
    assert inst["os_type"] in ("linux", "windows")
    assert_ref(inst["image"])
    for key in ("public_ip", "private_ip"):
        assert inst[key] is None or isinstance(inst[key], str)
    assert type(inst["disk_size"]) is int
    assert inst["disk_size"] >= 1
    assert ISO_MS.fullmatch(inst["created_at"])
    assert ISO_MS.fullmatch(inst["updated_at"])
    assert inst["updated_at"] >= inst["created_at"]
    for key in ("ssh_keys", "volumes", "security_groups"):
        assert isinstance(inst[key], list)
        for ref in inst[key]:
            assert_ref(ref)


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
