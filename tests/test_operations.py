"""`operations`: what a long-lived server remembers (per-key locks, recent deletes) stays bounded."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from snapshot_mcp.client import GenesisCloudClient
from snapshot_mcp.models import CreateSnapshotRequest
from snapshot_mcp.operations import Operations
from snapshot_mcp.sending import RetryPolicy
from snapshot_mcp.simulator import DEFAULT_TOKEN, Simulator
from snapshot_mcp.store import MemoryStore
from tests.support import (
    GOOD_BODY,
    VirtualClock,
)

pytestmark = pytest.mark.slow  # campaigns: every tool x every fault, a soak, seeded random faults


GOOD_CREATE: dict[str, Any] = {**GOOD_BODY, "name": "fault-matrix-image"}


# -- Operations keeps no per-key memory forever ------------------------------------------------


async def test_operations_forget_idle_locks_and_old_deletes() -> None:
    """Per-key locks go once idle, remembered deletes after the window: a long-lived server stays flat."""
    sim = Simulator(create_polls=0, delete_polls=0)
    clock = VirtualClock()
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        client = GenesisCloudClient(
            http, token=SecretStr(DEFAULT_TOKEN), retry=RetryPolicy(base_delay=0.001), rate_limit=1e9
        )
        store = MemoryStore(clock=clock)
        ops = Operations(client, store, dedupe_window=60.0, poll_interval=0.001)
        made = []
        for k in range(20):
            request = CreateSnapshotRequest.model_validate({**GOOD_CREATE, "name": f"memory-{k}"})
            made.append((await ops.create(request, wait=False, progress=None)).snapshot.id)
        for sid in made[:10]:
            await ops.delete(await client.get(sid), wait=False, progress=None)
        assert ops.dedupe._locks == {}
        assert ops._delete_locks == {}
        assert len(store) == 20 * 2 + 10  # twenty recent creates (request and snapshot), ten recent deletes
        clock.now += 61
        await ops.delete(await client.get(made[10]), wait=False, progress=None)
        request = CreateSnapshotRequest.model_validate({**GOOD_CREATE, "name": "memory-new"})
        await ops.create(request, wait=False, progress=None)
        assert len(store) == 1 + 2  # everything older fell out of the window: one delete, one create
