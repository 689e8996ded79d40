"""list_instances and snapshot_instance through the protocol: finding an instance, the documented request,
waits and replicas, errors that say what to do, and a retried snapshot made once.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Faults, SimRequest, Simulator
from tests.support import (
    GPU_WORKER_1,
    SDXL_WORKER,
    TRAINING_BOX,
    UNKNOWN_ID,
    connect,
    structured,
    text_of,
)

API = "/compute/v1"


def writes(sim: Simulator) -> list[tuple[str, str, Any]]:
    """(method, path, JSON body) of every request that was not a GET."""
    return [(r.method, r.path, json.loads(r.body) if r.body else None) for r in sim.requests if r.method != "GET"]


def fail_first_post(sim: Simulator, status: int = 500) -> None:
    left = {"n": 1}

    def once(request: SimRequest) -> int | None:
        if request.method == "POST" and left["n"]:
            left["n"] -= 1
            return status
        return None

    sim.faults.fail_when = once


# -- list_instances ---------------------------------------------------------------------------


async def test_list_instances_finds_an_instance_by_name(settings: Settings, sim: Simulator, mode: str) -> None:
    """name_contains resolves "my instance gpu-worker-1" to its id: one compact row, the full data."""
    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool("list_instances", {"name_contains": "GPU-WORKER-1"})
    assert [(r.method, r.path, r.query) for r in sim.requests] == [
        ("GET", f"{API}/instances", {"page": "1", "per_page": "100"})
    ]
    assert [(i["id"], i["name"], i["status"]) for i in structured(result)["instances"]] == [
        (GPU_WORKER_1, "gpu-worker-1", "active")
    ]
    lines = text_of(result).splitlines()
    assert lines[1] == "id\tname\tregion\tstatus\ttype"
    assert lines[2].startswith(f"{GPU_WORKER_1}\tgpu-worker-1\tNORD-NO-KRS-1\tactive\t")


async def test_list_instances_by_region(settings: Settings, sim: Simulator, mode: str) -> None:
    """region keeps only that region's instances; no filter lists all, complete."""
    async with connect(settings, sim, mode=mode) as client:
        norway = await client.call_tool("list_instances", {"region": "nord-no-krs-1"})
        every = await client.call_tool("list_instances", {})
    assert {i["region"] for i in structured(norway)["instances"]} == {"NORD-NO-KRS-1"}
    assert len(structured(norway)["instances"]) == 3
    assert (len(structured(every)["instances"]), structured(every)["complete"]) == (len(sim.instances), True)


# -- snapshot_instance ------------------------------------------------------------------------


async def test_snapshot_instance_sends_exactly_the_documented_request(
    settings: Settings, sim: Simulator, mode: str
) -> None:
    """POST /instances/{id}/snapshots with {"name"}; the snapshot names its instance; next step said."""
    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool("snapshot_instance", {"instance_id": GPU_WORKER_1, "name": "before-upgrade"})
    assert writes(sim) == [("POST", f"{API}/instances/{GPU_WORKER_1}/snapshots", {"name": "before-upgrade"})]
    snapshot = structured(result)["snapshot"]
    assert (snapshot["status"], snapshot["source"], snapshot["region"]) == ("creating", GPU_WORKER_1, "NORD-NO-KRS-1")
    assert text_of(result).startswith("Snapshot started")
    assert "get_snapshot" in structured(result)["next"]


async def test_snapshot_instance_with_a_replica_and_a_wait(settings: Settings, sim: Simulator, mode: str) -> None:
    """replicated_region goes in the body; wait=true polls until created."""
    args = {"instance_id": TRAINING_BOX, "name": "pre-change", "replicated_region": "EUC-DE-MUC-1", "wait": True}
    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool("snapshot_instance", args)
    assert writes(sim) == [
        (
            "POST",
            f"{API}/instances/{TRAINING_BOX}/snapshots",
            {"name": "pre-change", "replicated_region": "EUC-DE-MUC-1"},
        )
    ]
    assert (structured(result)["snapshot"]["status"], structured(result)["settled"]) == ("created", True)


@pytest.mark.parametrize(
    ("instance_id", "words"),
    [(SDXL_WORKER, "[409]"), (UNKNOWN_ID, "list_instances")],
    ids=["instance-stopping", "unknown-instance"],
)
async def test_snapshot_instance_errors_say_what_to_do(
    settings: Settings, sim: Simulator, mode: str, instance_id: str, words: str
) -> None:
    """An instance in the wrong state or unknown: an error result, one POST at most, nothing made."""
    before = len(sim.snapshots)
    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool("snapshot_instance", {"instance_id": instance_id, "name": "x"})
    assert result.is_error
    assert words in text_of(result)
    assert len(sim.snapshots) == before


async def test_a_retried_instance_snapshot_after_a_lost_answer_makes_one(settings: Settings, mode: str) -> None:
    """The answer of the POST was lost: the retry looks in the instance's snapshots and finds it; one POST."""
    sim = Simulator(faults=Faults(read_timeout_first=1, fail_methods=frozenset({"POST"})))
    args = {"instance_id": GPU_WORKER_1, "name": "nightly"}
    async with connect(settings, sim, mode=mode) as client:
        failed = await client.call_tool("snapshot_instance", args)
        retried = await client.call_tool("snapshot_instance", args)
        again = await client.call_tool("snapshot_instance", args)
    assert failed.is_error
    assert "may have started" in text_of(failed)
    assert (structured(retried)["reused"], structured(retried)["probable"]) == (True, True)
    assert structured(again)["snapshot"]["id"] == structured(retried)["snapshot"]["id"]
    assert [m for m, _, _ in writes(sim)] == ["POST"]
    assert any(r.path == f"{API}/instances/{GPU_WORKER_1}/snapshots" and r.method == "GET" for r in sim.requests)


async def test_a_retried_instance_snapshot_after_a_500_makes_exactly_one(settings: Settings, mode: str) -> None:
    """A 500 and nothing made: the retry looks, finds none, and posts once more; one snapshot in all."""
    sim = Simulator()
    fail_first_post(sim)
    args = {"instance_id": GPU_WORKER_1, "name": "nightly"}
    async with connect(settings, sim, mode=mode) as client:
        await client.call_tool("snapshot_instance", args)
        retried = await client.call_tool("snapshot_instance", args)
    assert structured(retried)["reused"] is False
    assert [s["name"] for s in sim.snapshots.values()].count("nightly") == 1
