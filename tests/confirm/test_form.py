"""`confirm.form`: the confirmation form (elicitation) through the protocol, in both eras: only an explicit
yes for the snapshot shown deletes, and the question shows only what the API said, cleaned.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import ElicitResult, ErrorData
from pydantic import SecretStr

from snapshot_mcp.confirm.form import judge_answer
from snapshot_mcp.messages import question
from snapshot_mcp.models import Snapshot
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, Simulator
from tests.support import (
    MODES,
    SEED_ID,
    SEED_PATH,
    UNKNOWN_ID,
    Asker,
    AuditLines,
    ChangesWhileAsked,
    accept,
    connect,
    delete_paths,
    fast,
    one_audit_line,
    sent,
    structured,
    text_of,
)

# -- policy elicit ---------------------------------------------------------------------


async def test_accept_deletes_exactly_once(settings: Settings, sim: Simulator, mode: str, audit: AuditLines) -> None:
    """An explicit accept sends one authenticated DELETE of that snapshot and says so."""
    asker = Asker(accept(confirm=True))
    async with connect(settings, sim, mode=mode, elicit=asker) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert not result.is_error, text_of(result)
    assert delete_paths(sim) == [SEED_PATH]
    [delete] = sent(sim, "DELETE")
    assert delete.headers["authorization"] == f"Bearer {DEFAULT_TOKEN}"
    assert delete.body == b""
    assert all((r.method, r.path) == ("GET", SEED_PATH) for r in sim.requests[:-1])
    assert sim.requests[-1].method == "DELETE"
    assert len(asker.asked) == 1
    assert structured(result) == {
        "snapshot_id": SEED_ID,
        "outcome": "deleting",
        "deleted": True,
        "message": structured(result)["message"],
    }
    assert text_of(result).startswith("deleting: ")
    one_audit_line(audit, "deleting")


@pytest.mark.parametrize(
    ("answer", "outcome", "words"),
    [
        (ElicitResult(action="decline"), "declined", "the user declined"),
        (ElicitResult(action="cancel"), "cancelled", "dismissed"),
        (accept(confirm=False), "declined", "the user declined"),
        (accept(confirm="banana"), "malformed_answer", "not understood"),
        (accept(confirm=["yes"]), "malformed_answer", "not understood"),
        (accept(confirm=None), "malformed_answer", "not understood"),
    ],
    ids=["decline", "cancel", "accept-unticked", "accept-banana", "accept-list", "accept-null"],
)
async def test_anything_but_an_accept_deletes_nothing(
    settings: Settings,
    sim: Simulator,
    mode: str,
    audit: AuditLines,
    answer: ElicitResult,
    outcome: str,
    words: str,
) -> None:
    """Decline, cancel, an unticked box or a malformed answer: no DELETE, and a plain result saying so."""
    asker = Asker(answer)
    async with connect(settings, sim, mode=mode, elicit=asker) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert not result.is_error
    assert delete_paths(sim) == []
    assert len(asker.asked) == 1
    data = structured(result)
    assert (data["outcome"], data["deleted"]) == (outcome, False)
    assert text_of(result).startswith(f"Not deleted ({outcome}): ")
    assert words in text_of(result)
    assert "Nothing was deleted" in text_of(result)
    one_audit_line(audit, outcome)


async def test_a_client_error_instead_of_an_answer_deletes_nothing(
    settings: Settings, sim: Simulator, mode: str
) -> None:
    """The client answers the elicitation with an error: nothing is deleted."""
    asker = Asker(ErrorData(code=-32603, message="the client broke"))
    async with connect(settings, sim, mode=mode, elicit=asker) as client:
        try:
            result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        except MCPError:
            pass  # 2026-07-28: the SDK client raises when its own callback fails
        else:
            assert result.is_error
    assert delete_paths(sim) == []


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {"confirm": True},
        {"force": True},
        {"confirm": "yes", "force": True, "yes": True, "confirmation_token": "anything"},
    ],
    ids=repr,
)
async def test_no_elicitation_capability_refuses(
    settings: Settings, sim: Simulator, mode: str, audit: AuditLines, extra: dict[str, Any]
) -> None:
    """Without elicitation: an error that says how to proceed, no DELETE, whatever the model adds."""
    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID, **extra})
    assert result.is_error
    text = text_of(result)
    assert "Not deleted" in text
    assert "elicitation" in text
    assert "--delete-confirmation token" in text
    assert delete_paths(sim) == []
    assert "no_channel" in one_audit_line(audit, "refused")


async def test_the_question_names_the_snapshot(settings: Settings, sim: Simulator, mode: str) -> None:
    """The confirmation form names the snapshot (name, id, size, region, status, age) and asks one yes/no."""
    asker = Asker(ElicitResult(action="decline"))
    async with connect(settings, sim, mode=mode, elicit=asker) as client:
        await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    [question] = asker.asked
    for part in (
        '"ubuntu-22.04-cuda-12.4"',
        SEED_ID,
        "64 GiB",
        "NORD-NO-KRS-1",
        "status created",
        "created 2025-06-30",
        "days ago",
        "cannot be undone",
    ):
        assert part in question.message
    schema = question.requested_schema  # type: ignore[union-attr]
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"confirm"}
    assert schema["properties"]["confirm"]["type"] == "boolean"


@pytest.mark.slow  # waits on real time by design
async def test_legacy_elicitation_times_out(settings: Settings, audit: AuditLines) -> None:
    """2025 era: a user who never answers → timed_out within the bound, nothing deleted."""
    sim = Simulator()
    never = anyio.Event()
    asker = Asker(block=never)
    with anyio.fail_after(5):
        async with connect(fast(settings, elicitation_timeout=0.2), sim, mode="legacy", elicit=asker) as client:
            result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert not result.is_error
    assert structured(result)["outcome"] == "timed_out"
    assert "Nothing was deleted" in text_of(result)
    assert len(asker.asked) == 1
    assert delete_paths(sim) == []
    one_audit_line(audit, "timed_out")


# -- confirmation tokens, unit -----------------------------------------------------------


def _snapshot(**changes: Any) -> Snapshot:
    return Snapshot.model_validate(
        {"id": SEED_ID, "name": "n", "size": 1, "region": "NORD-NO-KRS-1", "status": "created", **changes}
    )


@pytest.mark.parametrize(
    ("content", "verdict"),
    [
        ({"confirm": True}, "accepted"),
        ({"confirm": False}, "declined"),
        ({"confirm": "banana"}, "malformed_answer"),
        ({"confirm": "true"}, "malformed_answer"),
        ({"confirm": 1}, "malformed_answer"),
        ({"confirm": None}, "malformed_answer"),
        (None, "malformed_answer"),
    ],
)
def test_confirmation_form_fails_closed(content: Any, verdict: str) -> None:
    """Only a JSON true confirms; anything else that is not a plain false is malformed, never an exception."""
    answer = ElicitResult.model_construct(action="accept", content=content)
    assert judge_answer(answer, (SEED_ID,)) == verdict


def test_confirmation_message_is_three_lines() -> None:
    """The question: what is asked, then the id and facts, then the (API-supplied) name last."""
    message = question(_snapshot(size=None, created_at=None))
    assert message.splitlines() == [
        "Delete this snapshot permanently? This cannot be undone.",
        f"id {SEED_ID} · size unknown · NORD-NO-KRS-1 · status created · creation date unknown",
        'name "n"',
    ]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("content", "deletes"),
    [
        ({"confirm": True, "note": "from a client that adds its own keys"}, True),
        ({"confirm": True, "snapshot_id": SEED_ID.upper()}, True),
        ({"confirm": True, "snapshot_id": UNKNOWN_ID}, False),
        ({"confirm": True, "about": UNKNOWN_ID}, False),
    ],
)
async def test_unknown_answer_fields_are_ignored_but_another_snapshots_id_is_not(
    settings: Settings,
    sim: Simulator,
    mode: str,
    content: dict[str, str | int | float | bool | list[str] | None],
    deletes: bool,
) -> None:
    """Extra keys in an accepted answer are ignored; an answer naming a different snapshot deletes nothing."""
    async with connect(settings, sim, mode=mode, elicit=Asker(ElicitResult(action="accept", content=content))) as c:
        result = await c.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert len(sent(sim, "DELETE")) == (1 if deletes else 0), text_of(result)
    if not deletes:
        assert "malformed_answer" in text_of(result)


async def test_a_snapshot_changed_while_the_person_was_asked_is_not_deleted(
    settings: Settings, sim: Simulator, audit: AuditLines
) -> None:
    """2025 era: renamed and resized while the form was open; the yes was for what the person saw, so nothing goes."""
    asker = ChangesWhileAsked(sim, SEED_ID)
    async with connect(settings, sim, mode="legacy", elicit=asker) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert not result.is_error, text_of(result)
    assert (structured(result)["outcome"], structured(result)["deleted"]) == ("changed", False)
    assert text_of(result).startswith("Not deleted (changed): changed while you were asked")
    assert len(asker.asked) == 1
    assert delete_paths(sim) == []
    assert sim.snapshots[SEED_ID]["name"] == "production-db-DO-NOT-DELETE"
    one_audit_line(audit, "changed")


CANARY = "canary-6f1e2d3c4b5a-never-leak"


def canary_settings(**changes: Any) -> Settings:
    return Settings(token=SecretStr(CANARY), rate_limit=100_000.0, **changes)


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_token_echoed_in_a_name_never_reaches_the_question(mode: str) -> None:
    """Item 1: the 2025 `elicitation/create` request (and the 2026 question) carry no echoed token."""
    sim = Simulator(tokens=[CANARY])
    sim.snapshots[SEED_ID]["name"] = f"backup of {CANARY}"
    asker = Asker(ElicitResult(action="decline"))
    async with connect(canary_settings(confirm_channels=("form",)), sim, mode=mode, elicit=asker) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    [question] = asker.asked
    assert CANARY not in question.message
    assert "[redacted]" in question.message
    assert CANARY not in text_of(result) + json.dumps(result.structured_content)
