"""Tests for the simulator's clone and rename endpoints, and the lifecycle of every made copy."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from snapshot_mcp.simulator import Simulator
from tests.support import (
    CREATING_SEED_ID,
    ERROR_SEED_ID,
    GPU_WORKER_1,
    LEGACY_ID,
    LLAMA_SEED_ID,
    OTHER_SEED_ID,
    PENDING_DELETE_SEED_ID,
    SEED_ID,
    VirtualClock,
    assert_current_shape,
    assert_error,
    client,
    status_of,
)

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
