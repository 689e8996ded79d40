"""`confirm.facts`: the one fingerprint and the one session digest every channel binds a yes to."""

from __future__ import annotations

from typing import Any

import pytest

from snapshot_mcp.confirm.facts import Facts, fingerprint, session_digest
from snapshot_mcp.models import Snapshot
from tests.support import OTHER_SEED_ID, SEED_ID

SHOWN: dict[str, Any] = {
    "id": SEED_ID,
    "name": "ubuntu-22.04-cuda-12.4",
    "size": 64,
    "region": "NORD-NO-KRS-1",
    "status": "created",
    "created_at": "2025-06-30T10:00:00Z",
    "updated_at": "2025-06-30T10:05:00Z",
}


def snapshot(**changes: Any) -> Snapshot:
    return Snapshot.model_validate({**SHOWN, **changes})


@pytest.mark.parametrize(
    "change",
    [
        {"name": "production-db-DO-NOT-DELETE"},
        {"size": 4096},
        {"region": "EUC-DE-MUC-1"},
        {"status": "error"},
        {"updated_at": "2026-01-01T00:00:00Z"},
        {"id": OTHER_SEED_ID},
    ],
    ids=lambda change: next(iter(change)),
)
def test_any_change_a_person_could_care_about_changes_the_fingerprint(change: dict[str, Any]) -> None:
    """Name, size, region, status, last update or id: each makes an earlier yes stale."""
    assert fingerprint(snapshot(**change)) != fingerprint(snapshot())


def test_the_fingerprint_is_stable_and_short() -> None:
    """The same state gives the same 128-bit hex digest, whichever object carries it."""
    assert fingerprint(snapshot()) == fingerprint(snapshot())
    assert len(fingerprint(snapshot())) == 32
    int(fingerprint(snapshot()), 16)


def test_facts_keep_what_the_person_saw_and_give_it_back() -> None:
    """Facts carry the shown fields and the fingerprint; `snapshot()` gives back the same facts."""
    facts = Facts.of(snapshot())
    assert (facts.id, facts.name, facts.size, facts.region, facts.status) == (
        SEED_ID,
        "ubuntu-22.04-cuda-12.4",
        64,
        "NORD-NO-KRS-1",
        "created",
    )
    assert facts.fingerprint == fingerprint(snapshot())
    assert Facts.of(facts.snapshot()).model_dump(exclude={"fingerprint"}) == facts.model_dump(exclude={"fingerprint"})


def test_one_session_digest_for_every_record() -> None:
    """Stable per session, different between sessions, and never the session id itself."""
    session = "a3f9c1d2e4b5a6978877665544332211"
    assert session_digest(session) == session_digest(session)
    assert session_digest(session) != session_digest(session + "x")
    assert session_digest("local") != session_digest("")
    assert session not in session_digest(session)
    assert len(session_digest(session)) == 16
