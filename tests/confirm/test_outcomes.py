"""`confirm.outcomes`: one "delete each, report each" loop with typed outcomes.

Driven directly, with the real operations over the simulator; what reached the API is read from its log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from pydantic import SecretStr

from snapshot_mcp.client import GenesisCloudClient
from snapshot_mcp.confirm.outcomes import KEPT, SnapshotOutcome, accepted, delete_each, delete_one
from snapshot_mcp.errors import Conflict
from snapshot_mcp.models import Snapshot
from snapshot_mcp.operations import Operations
from snapshot_mcp.sending import RetryPolicy
from snapshot_mcp.simulator import DEFAULT_TOKEN, Faults, SimRequest, Simulator
from snapshot_mcp.store import MemoryStore
from tests.support import OTHER_SEED_ID, SEED_ID, THIRD_SEED_ID, sent


def refuse_other(request: SimRequest) -> int | None:
    return 409 if request.method == "DELETE" and request.path.endswith(OTHER_SEED_ID) else None


@pytest.fixture
def sim() -> Simulator:
    return Simulator(faults=Faults(fail_when=refuse_other))


@pytest.fixture
async def ops(sim: Simulator) -> AsyncIterator[Operations]:
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        client = GenesisCloudClient(
            http, token=SecretStr(DEFAULT_TOKEN), rate_limit=1e9, retry=RetryPolicy(max_attempts=1)
        )
        yield Operations(client, MemoryStore())


def shots(sim: Simulator, *ids: str) -> list[Snapshot]:
    return [Snapshot.model_validate(sim.snapshots[sid]) for sid in ids]


async def test_each_snapshot_gets_one_typed_outcome(sim: Simulator, ops: Operations) -> None:
    """Chosen ones are deleted (or fail, with why); the others are kept; only attempts are reported."""
    seen: list[tuple[str, str]] = []
    outcomes = await delete_each(
        ops,
        shots(sim, SEED_ID, OTHER_SEED_ID, THIRD_SEED_ID),
        {SEED_ID, OTHER_SEED_ID},
        lambda snapshot, outcome: seen.append((snapshot.id, outcome.kind)),
        tool="delete_snapshots",
        channel="form",
    )
    assert list(outcomes) == [SEED_ID, OTHER_SEED_ID, THIRD_SEED_ID]
    assert outcomes[SEED_ID] == SnapshotOutcome(kind="deleting")
    failed = outcomes[OTHER_SEED_ID]
    assert (failed.kind, failed.error, failed.accepted) == ("failed", "Conflict", False)
    assert failed.reason is not None
    assert "[409]" in failed.reason
    assert failed.text() == f"failed: {failed.reason}"
    assert outcomes[THIRD_SEED_ID] == KEPT
    assert accepted(outcomes) == 1
    assert seen == [(SEED_ID, "deleting"), (OTHER_SEED_ID, "failed")]
    assert sorted(r.path.rsplit("/", 1)[1] for r in sent(sim, "DELETE")) == sorted([SEED_ID, OTHER_SEED_ID])


async def test_a_snapshot_is_deleted_once_however_often_it_is_confirmed(sim: Simulator, ops: Operations) -> None:
    """A second confirmed delete of the same snapshot sends nothing and says it is already going."""
    [snapshot] = shots(sim, SEED_ID)
    first = await delete_one(ops, snapshot, tool="delete_snapshot", channel="form")
    second = await delete_one(ops, snapshot, tool="delete_snapshot", channel="form")
    assert (first.kind, second.kind) == ("deleting", "already_deleting")
    assert first.accepted
    assert second.accepted
    assert len(sent(sim, "DELETE")) == 1


def test_a_failure_keeps_the_words_and_the_type() -> None:
    """The reason is the model's sentence for the error; the type is what the audit line names."""
    outcome = SnapshotOutcome.failure(Conflict(409, "conflict", "snapshot is busy"), SEED_ID)
    assert (outcome.kind, outcome.error) == ("failed", "Conflict")
    assert outcome.text().startswith("failed: ")
    assert "snapshot is busy" in outcome.text()
    assert SnapshotOutcome.model_validate_json(outcome.model_dump_json()) == outcome  # as the request's record keeps it
