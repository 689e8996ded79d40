"""`confirm.requests`: the deletion request record that every face decides through, and its store.

Driven directly on the in-memory store with virtual time (the requests and the store share it).
"""

from __future__ import annotations

import base64

import pytest

from snapshot_mcp.confirm.facts import fingerprint
from snapshot_mcp.confirm.outcomes import KEPT, SnapshotOutcome
from snapshot_mcp.confirm.requests import (
    FACES,
    REVEAL_SECONDS,
    DeletionRequest,
    DeletionRequests,
    Face,
)
from snapshot_mcp.models import Snapshot
from snapshot_mcp.simulator import Simulator
from snapshot_mcp.store import MemoryStore
from tests.support import OTHER_SEED_ID, SEED_ID, VirtualClock

SESSION = "session-a"


SEED = Simulator().snapshots


def shot(snapshot_id: str) -> Snapshot:
    return Snapshot.model_validate(SEED[snapshot_id])


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(start=1_900_000_000.0)


@pytest.fixture
def requests(clock: VirtualClock) -> DeletionRequests:
    return DeletionRequests(MemoryStore(clock=clock), b"k" * 32, clock=clock)


async def open_one(requests: DeletionRequests, *ids: str) -> DeletionRequest:
    return await requests.open("delete_snapshots", [shot(sid) for sid in ids or (SEED_ID,)], SESSION)


async def test_a_request_records_what_the_person_is_shown(requests: DeletionRequests, clock: VirtualClock) -> None:
    """Facts and fingerprint of each snapshot, the asking tool, expiry after the ttl; the session only as a digest."""
    request = await open_one(requests, SEED_ID, OTHER_SEED_ID)
    assert request.ids == (SEED_ID, OTHER_SEED_ID)
    assert [facts.fingerprint for facts in request.snapshots] == [
        fingerprint(shot(SEED_ID)),
        fingerprint(shot(OTHER_SEED_ID)),
    ]
    assert (request.tool, request.status, request.face, request.owner) == ("delete_snapshots", "pending", None, None)
    assert request.expires == clock.now + requests.ttl
    assert SESSION not in request.dump()
    assert await requests.latest(SESSION, [OTHER_SEED_ID, SEED_ID]) == request  # the set, in any order
    assert await requests.latest(SESSION, [SEED_ID]) is None
    await requests.forget(SESSION, [SEED_ID, OTHER_SEED_ID])
    assert await requests.latest(SESSION, [SEED_ID, OTHER_SEED_ID]) is None
    assert await requests.load(request.id, SESSION) == request  # forgetting the set keeps the record


async def test_a_request_is_found_only_by_its_session_and_owner(requests: DeletionRequests) -> None:
    """When the transport names who asked, a request is found only for the same owner, in the same session."""
    request = await requests.open("delete_snapshot", [shot(SEED_ID)], SESSION, owner="alice")
    assert await requests.load(request.id, SESSION, owner="alice") is not None
    assert await requests.load(request.id, SESSION, owner="mallory") is None
    assert await requests.load(request.id, SESSION) is None
    assert await requests.load(request.id, "session-b", owner="alice") is None


def test_each_face_has_its_own_secret_of_256_bits(requests: DeletionRequests) -> None:
    """HMAC(key, face, id): one per face and request, 32 bytes, and another key gives others."""
    secrets = {(face, rid): requests.secret(rid, face) for face in FACES for rid in ("a" * 24, "b" * 24)}
    assert len(set(secrets.values())) == 4
    for secret in secrets.values():
        assert len(base64.urlsafe_b64decode(secret + "=")) == 32
    assert requests.secret_matches("a" * 24, "card", f"  {secrets[('card', 'a' * 24)]}\n")  # as pasted
    assert not requests.secret_matches("a" * 24, "browser", secrets[("card", "a" * 24)])
    assert not requests.secret_matches("a" * 24, "card", "")
    other = DeletionRequests(MemoryStore(), b"another server's key")
    assert other.secret("a" * 24, "card") != secrets[("card", "a" * 24)]


@pytest.mark.parametrize("face", FACES)
async def test_a_secret_is_revealed_once_within_two_minutes(
    requests: DeletionRequests, clock: VirtualClock, face: Face
) -> None:
    """Revealed once per face; a request older than two minutes reveals nothing."""
    request = await open_one(requests)
    assert await requests.reveal(request, face) == requests.secret(request.id, face)
    assert await requests.reveal(request, face) is None
    late = await open_one(requests, OTHER_SEED_ID)
    clock.now += REVEAL_SECONDS + 1
    assert await requests.reveal(late, face) is None


async def test_a_move_is_atomic_from_the_state_it_was_read_in(requests: DeletionRequests) -> None:
    """Two decisions from the same read: the first moves it, the second finds it moved (None)."""
    request = await open_one(requests)
    first = await requests.move(request, "kept", {SEED_ID: KEPT}, "browser")
    second = await requests.move(request, "deleting", face="card")
    assert first is not None
    assert (first.status, first.face, first.outcomes) == ("kept", "browser", {SEED_ID: KEPT})
    assert second is None
    assert await requests.load(request.id, SESSION) == first


async def test_the_third_bad_secret_voids_a_pending_request(requests: DeletionRequests) -> None:
    """Counted per request, whatever face; the third voids it."""
    request = await open_one(requests)
    counts = [await requests.bad_secret(request) for _ in range(3)]
    stored = await requests.load(request.id, SESSION)
    assert counts == [1, 2, 3]
    assert stored is not None
    assert stored.status == "void"


async def test_only_accepted_deletions_are_remembered(requests: DeletionRequests) -> None:
    """remember() notes the snapshots whose DELETE the API accepted, not the kept or failed ones."""
    request = await open_one(requests, SEED_ID, OTHER_SEED_ID)
    failed = SnapshotOutcome(kind="failed", reason="Conflict [409]: busy", error="Conflict")
    decided = await requests.move(request, "failed", {SEED_ID: SnapshotOutcome(kind="deleting"), OTHER_SEED_ID: failed})
    assert decided is not None
    await requests.remember(decided, SESSION)
    assert await requests.remembered(SESSION, SEED_ID) == decided
    assert await requests.remembered(SESSION, OTHER_SEED_ID) is None
