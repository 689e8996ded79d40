"""`simulator._data`: the seed's fixed snapshots and instances, and regions that match the client's."""

from __future__ import annotations

import uuid

from snapshot_mcp import simulator as simulator_module
from snapshot_mcp.simulator import (
    KNOWN_REGIONS,
    Simulator,
)
from tests.support import (
    GPU_WORKER_1,
    LEGACY_ID,
    SEED_IDS,
    SEED_INSTANCE_IDS,
    assert_current_shape,
    assert_instance_shape,
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


def test_regions_match_the_clients() -> None:
    """The simulated API accepts exactly the regions the client's models know, less the dropped one."""
    from snapshot_mcp import models

    client_current = tuple(r for r in models.KNOWN_REGIONS if r != "ARC-IS-HAF-1")
    assert client_current == simulator_module.KNOWN_REGIONS
    assert len(KNOWN_REGIONS) == 7
    assert "ARC-IS-HAF-1" not in KNOWN_REGIONS


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
