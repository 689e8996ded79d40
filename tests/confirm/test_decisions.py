"""`confirm.decisions`: one decision path for a deletion request, whichever face the person used.

Driven directly, with the real operations over the simulator (what reached the API is read
from its log) and virtual time shared by the requests and the store. The faces are the card
and the browser page; a decision is made through one and seen through the other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from pydantic import SecretStr

from snapshot_mcp.client import GenesisCloudClient
from snapshot_mcp.confirm.base import install_audit_handler
from snapshot_mcp.confirm.decisions import Decisions
from snapshot_mcp.confirm.requests import FACES, RETAIN_SECONDS, DeletionRequest, DeletionRequests, Face
from snapshot_mcp.models import Snapshot
from snapshot_mcp.operations import Operations
from snapshot_mcp.simulator import DEFAULT_TOKEN, Simulator
from snapshot_mcp.store import MemoryStore
from tests.support import OTHER_SEED_ID, SEED_ID, AuditLines, VirtualClock, audit_lines, sent

SESSION = "session-a"


OTHERS = {"card": "browser", "browser": "card"}


@dataclass
class Desk:
    sim: Simulator
    requests: DeletionRequests
    decisions: Decisions
    clock: VirtualClock

    async def open(self, *ids: str, tool: str = "delete_snapshot") -> DeletionRequest:
        snapshots = [Snapshot.model_validate(self.sim.snapshots[sid]) for sid in ids]
        return await self.requests.open(tool, snapshots, SESSION)

    def secret(self, request: DeletionRequest, face: Face) -> str:
        return self.requests.secret(request.id, face)

    def deletes(self) -> list[str]:
        return [r.path.rsplit("/", 1)[1] for r in sent(self.sim, "DELETE")]


@pytest.fixture
async def desk() -> AsyncIterator[Desk]:
    sim = Simulator(delete_polls=0)
    clock = VirtualClock(start=1_900_000_000.0)
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        client = GenesisCloudClient(http, token=SecretStr(DEFAULT_TOKEN), rate_limit=1e9)
        store = MemoryStore(clock=clock)
        requests = DeletionRequests(store, b"k" * 32, clock=clock)
        yield Desk(sim, requests, Decisions(requests, Operations(client, store)), clock)


@pytest.fixture
def audit() -> Iterator[AuditLines]:
    install_audit_handler()  # audit lines are written at INFO, whatever the log level (a server does this)
    with audit_lines() as lines:
        yield lines


@pytest.mark.parametrize("first", FACES)
async def test_a_delete_in_one_face_is_decided_in_the_other(desk: Desk, first: Face, audit: AuditLines) -> None:
    """Delete through one face: one DELETE; the other face, with its own right secret, finds it decided."""
    request = await desk.open(SEED_ID)
    second: Face = OTHERS[first]  # type: ignore[assignment]
    done = await desk.decisions.decide(
        request.id, desk.secret(request, first), "delete", None, face=first, session=SESSION
    )
    late = await desk.decisions.decide(
        request.id, desk.secret(request, second), "keep", None, face=second, session=SESSION
    )
    look = await desk.decisions.look(request.id, SESSION)
    assert done.outcome == "deleted"
    assert done.request is not None
    assert {sid: o.text() for sid, o in done.request.outcomes.items()} == {SEED_ID: "deleting"}
    assert late.outcome == "already_decided"
    assert late.request is not None
    assert (late.request.status, late.request.face) == ("deleted", first)
    assert look is not None
    assert (look.status, look.request.face) == ("deleted", first)
    assert desk.deletes() == [SEED_ID]
    assert [line.split(" channel=")[1] for line in audit.lines] == [
        f"{first} outcome=deleting",
        f'{second} outcome=already_decided detail="deleted"',
    ]


@pytest.mark.parametrize("first", FACES)
async def test_a_keep_in_one_face_is_decided_in_the_other(desk: Desk, first: Face) -> None:
    """Keep through one face: the other face's Delete finds it decided and deletes nothing."""
    request = await desk.open(SEED_ID)
    second: Face = OTHERS[first]  # type: ignore[assignment]
    kept = await desk.decisions.decide(
        request.id, desk.secret(request, first), "keep", None, face=first, session=SESSION
    )
    late = await desk.decisions.decide(
        request.id, desk.secret(request, second), "delete", None, face=second, session=SESSION
    )
    assert (kept.outcome, late.outcome) == ("kept", "already_decided")
    assert late.request is not None
    assert late.request.status == "kept"
    assert desk.deletes() == []


async def test_each_face_proves_itself_with_its_own_secret(desk: Desk) -> None:
    """The card's nonce is no key to the browser page, nor the page's to the card; each is >= 128 bits."""
    request = await desk.open(SEED_ID)
    card, browser = desk.secret(request, "card"), desk.secret(request, "browser")
    assert card != browser
    assert min(len(card), len(browser)) >= 22  # base64url of >= 128 bits
    crossed = [
        await desk.decisions.decide(request.id, card, "delete", None, face="browser", session=SESSION),
        await desk.decisions.decide(request.id, browser, "delete", None, face="card", session=SESSION),
    ]
    assert [d.outcome for d in crossed] == ["bad_secret", "bad_secret"]
    assert desk.deletes() == []
    other_key = DeletionRequests(MemoryStore(), b"another server's key", clock=desk.clock)
    assert other_key.secret(request.id, "card") != card


async def test_three_bad_secrets_through_any_faces_void_it_for_all(desk: Desk, audit: AuditLines) -> None:
    """Wrong secrets count for the request whatever face brings them; the third voids it everywhere."""
    request = await desk.open(SEED_ID)
    faces: list[Face] = ["card", "browser", "card"]
    tries = [
        await desk.decisions.decide(request.id, f"guess-{k}", "delete", None, face=face, session=SESSION)
        for k, face in enumerate(faces)
    ]
    right = [
        await desk.decisions.decide(request.id, desk.secret(request, face), "delete", None, face=face, session=SESSION)
        for face in FACES
    ]
    assert [(d.outcome, d.tries, d.void) for d in tries] == [
        ("bad_secret", 1, False),
        ("bad_secret", 2, False),
        ("bad_secret", 3, True),
    ]
    assert all(d.outcome == "already_decided" for d in right)
    assert all(d.request is not None and d.request.status == "void" for d in right)
    assert desk.deletes() == []
    assert sum(" outcome=bad_nonce" in line for line in audit.lines) == 3
    assert not any(desk.secret(request, face) in line for line in audit.lines for face in FACES)


async def test_a_snapshot_deleted_on_a_click_is_remembered_until_the_record_lapses(desk: Desk) -> None:
    """Only what the click deleted is remembered, for the asking session, until the request's record lapses."""
    request = await desk.open(SEED_ID, OTHER_SEED_ID, tool="delete_snapshots")
    decided = await desk.decisions.decide(
        request.id, desk.secret(request, "browser"), "delete", [SEED_ID], face="browser", session=SESSION
    )
    assert decided.outcome == "deleted"
    assert decided.request is not None
    outcomes = {sid: outcome.text() for sid, outcome in decided.request.outcomes.items()}
    assert outcomes == {SEED_ID: "deleting", OTHER_SEED_ID: "kept"}
    remembered = await desk.requests.remembered(SESSION, SEED_ID)
    assert remembered is not None
    assert (remembered.id, remembered.face, remembered.status) == (request.id, "browser", "deleted")
    assert await desk.requests.remembered(SESSION, OTHER_SEED_ID) is None  # kept: nothing to remember
    assert await desk.requests.remembered("another session", SEED_ID) is None
    desk.clock.now = request.expires + RETAIN_SECONDS - 1
    assert await desk.requests.remembered(SESSION, SEED_ID) is not None
    desk.clock.now += 2
    assert await desk.requests.remembered(SESSION, SEED_ID) is None


async def test_another_sessions_request_is_unknown(desk: Desk) -> None:
    """A request id from another session is not found, with the right secret, and nothing is counted against it."""
    request = await desk.open(SEED_ID)
    stranger = await desk.decisions.decide(
        request.id, desk.secret(request, "card"), "delete", None, face="card", session="session-b"
    )
    assert (stranger.outcome, stranger.request) == ("unknown", None)
    assert await desk.decisions.look(request.id, "session-b") is None
    owner = await desk.decisions.decide(
        request.id, desk.secret(request, "card"), "delete", None, face="card", session=SESSION
    )
    assert owner.outcome == "deleted"
    assert desk.deletes() == [SEED_ID]


async def test_an_expired_request_is_closed_and_deletes_nothing(desk: Desk) -> None:
    """At its expiry the request closes as expired, whatever the face; a second before, it could still be decided."""
    request = await desk.open(SEED_ID)
    desk.clock.now = request.expires
    late = await desk.decisions.decide(
        request.id, desk.secret(request, "browser"), "delete", None, face="browser", session=SESSION
    )
    assert late.outcome == "expired"
    assert late.request is not None
    assert late.request.status == "expired"
    assert desk.deletes() == []


@pytest.mark.parametrize(("field", "value"), [("name", "production-db-DO-NOT-DELETE"), ("size", 4096), (None, None)])
async def test_a_changed_or_gone_snapshot_closes_the_request(desk: Desk, field: str | None, value: object) -> None:
    """Renamed, resized or gone since the person was shown it: changed, nothing deleted."""
    request = await desk.open(SEED_ID)
    if field is None:
        del desk.sim.snapshots[SEED_ID]
    else:
        desk.sim.snapshots[SEED_ID][field] = value
    seen = await desk.decisions.look(request.id, SESSION)
    decided = await desk.decisions.decide(
        request.id, desk.secret(request, "card"), "delete", None, face="card", session=SESSION
    )
    assert seen is not None
    assert seen.status == "changed"
    assert decided.outcome == "changed"
    assert desk.deletes() == []


async def test_snapshot_ids_outside_the_request_decide_nothing(desk: Desk) -> None:
    """Naming a snapshot the request did not ask about (or none) is refused; the request stays pending."""
    request = await desk.open(SEED_ID)
    outside = await desk.decisions.decide(
        request.id, desk.secret(request, "card"), "delete", [OTHER_SEED_ID], face="card", session=SESSION
    )
    empty = await desk.decisions.decide(
        request.id, desk.secret(request, "card"), "delete", [], face="card", session=SESSION
    )
    look = await desk.decisions.look(request.id, SESSION)
    assert (outside.outcome, empty.outcome) == ("not_in_request", "not_in_request")
    assert look is not None
    assert look.status == "pending"
    assert desk.deletes() == []
