"""delete_snapshots: one confirmation that lists every snapshot, through every channel.

Only the confirmed snapshots are deleted, each at most once; the result reports each
id's outcome; a set with duplicates or an unknown id is refused before anyone is asked.
What reached the API is read from the simulator.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp.types import ElicitResult

from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Faults, SimRequest, Simulator
from tests.support import (
    CONFIRMATION_META,
    OTHER_SEED_ID,
    PREFIX,
    SEED_ID,
    UNKNOWN_ID,
    Asker,
    ChangesWhileAsked,
    accept,
    audit_lines,
    connect,
    deleted_ids,
    fast,
    sent,
    structured,
)
from tests.support import text_of as text

PAIR = [SEED_ID, OTHER_SEED_ID]


def deleted(sim: Simulator) -> list[str]:
    """The ids sent a DELETE, sorted (a batch deletes concurrently)."""
    return sorted(deleted_ids(sim))


def outcomes(result: Any) -> dict[str, str]:
    return {item["snapshot_id"]: item["outcome"] for item in structured(result)["results"]}


def on(settings: Settings, *channels: str) -> Settings:
    return fast(settings, confirm_channels=channels)


async def test_one_form_lists_every_snapshot_and_its_yes_deletes_them_all(
    settings: Settings, sim: Simulator, mode: str
) -> None:
    """One question naming both (ids, sizes, total); an accept deletes both, once each."""
    asker = Asker(accept(confirm=True))
    with audit_lines() as audit:
        async with connect(on(settings, "form"), sim, mode=mode, elicit=asker) as client:
            result = await client.call_tool("delete_snapshots", {"snapshot_ids": PAIR})
    [question] = asker.asked
    for fact in (SEED_ID, OTHER_SEED_ID, "64 GiB", "80 GiB", "144 GiB in all", "2 snapshots"):
        assert fact in question.message
    assert deleted(sim) == sorted(PAIR)
    assert (structured(result)["outcome"], structured(result)["deleted"]) == ("deleting", 2)
    assert outcomes(result) == dict.fromkeys(PAIR, "deleting")
    assert sorted(line.split(" outcome=")[1] for line in audit.lines) == ["deleting", "deleting"]


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [(ElicitResult(action="decline"), "declined"), (accept(confirm="yes"), "malformed_answer")],
    ids=["decline", "malformed"],
)
async def test_anything_but_a_yes_deletes_none_of_them(
    settings: Settings, sim: Simulator, mode: str, answer: ElicitResult, outcome: str
) -> None:
    """Decline or a malformed answer: nothing deleted, every id reported with the outcome."""
    async with connect(on(settings, "form"), sim, mode=mode, elicit=Asker(answer)) as client:
        result = await client.call_tool("delete_snapshots", {"snapshot_ids": PAIR})
    assert deleted(sim) == []
    assert (structured(result)["outcome"], structured(result)["deleted"]) == (outcome, 0)
    assert set(outcomes(result)) == set(PAIR)


@pytest.mark.slow  # waits on real time by design
async def test_an_unanswered_batch_question_times_out(settings: Settings, sim: Simulator) -> None:
    """2025 era: no answer within the time-out deletes nothing."""
    never = anyio.Event()
    changed = fast(settings, confirm_channels=("form",), elicitation_timeout=0.2)
    async with connect(changed, sim, mode="legacy", elicit=Asker(block=never)) as client:
        result = await client.call_tool("delete_snapshots", {"snapshot_ids": PAIR})
    assert structured(result)["outcome"] == "timed_out"
    assert deleted(sim) == []


async def test_the_card_lists_both_and_deletes_only_those_left_ticked(
    settings: Settings, sim: Simulator, mode: str
) -> None:
    """Card: nothing deleted by the call; the person unticks one; confirm deletes only the other."""
    async with connect(settings, sim, mode=mode, apps=True) as client:
        pending = await client.call_tool("delete_snapshots", {"snapshot_ids": PAIR})
        assert pending.meta is not None
        meta = pending.meta[CONFIRMATION_META]
        view = await client.call_tool("deletion_request", {"request_id": meta["request_id"]})
        decided = await client.call_tool(
            "confirm_deletion",
            {"request_id": meta["request_id"], "nonce": meta["nonce"], "decision": "delete", "snapshot_ids": [SEED_ID]},
        )
        told = await client.call_tool("delete_snapshots", {"snapshot_ids": PAIR})
    assert (structured(pending)["outcome"], structured(pending)["deleted"], structured(pending)["total_size"]) == (
        "awaiting_confirmation",
        0,
        144,
    )
    assert [s["id"] for s in structured(view)["snapshots"]] == PAIR
    assert {s["id"]: s["outcome"] for s in structured(decided)["snapshots"]} == {
        SEED_ID: "deleting",
        OTHER_SEED_ID: "kept",
    }
    assert deleted(sim) == [SEED_ID]
    assert structured(told)["outcome"] == "deleted"


async def test_one_token_covers_the_set(settings: Settings, sim: Simulator, mode: str) -> None:
    """Token: a preview listing both with one token; the second call deletes both; the token is spent."""
    async with connect(on(settings, "token"), sim, mode=mode) as client:
        preview = await client.call_tool("delete_snapshots", {"snapshot_ids": PAIR})
        token = structured(preview)["confirmation_token"]
        done = await client.call_tool("delete_snapshots", {"snapshot_ids": PAIR, "confirmation_token": token})
        again = await client.call_tool("delete_snapshots", {"snapshot_ids": PAIR, "confirmation_token": token})
    assert structured(preview)["outcome"] == "confirmation_required"
    assert SEED_ID in text(preview)
    assert OTHER_SEED_ID in text(preview)
    assert outcomes(done) == dict.fromkeys(PAIR, "deleting")
    assert again.is_error
    assert deleted(sim) == sorted(PAIR)


async def test_a_token_for_one_set_does_not_delete_another(settings: Settings, sim: Simulator) -> None:
    """The token names exactly the set it was issued for."""
    async with connect(on(settings, "token"), sim) as client:
        preview = await client.call_tool("delete_snapshots", {"snapshot_ids": PAIR})
        token = structured(preview)["confirmation_token"]
        other = await client.call_tool("delete_snapshots", {"snapshot_ids": [SEED_ID], "confirmation_token": token})
    assert other.is_error
    assert "another snapshot" in text(other)
    assert deleted(sim) == []


async def test_mixed_outcomes_when_one_delete_fails(settings: Settings, mode: str) -> None:
    """One DELETE refused by the API (409): the other is deleted; each id says what happened."""
    sim = Simulator()

    def refuse(request: SimRequest) -> int | None:
        return 409 if request.method == "DELETE" and request.path.endswith(OTHER_SEED_ID) else None

    sim.faults = Faults(fail_when=refuse)
    async with connect(on(settings, "form"), sim, mode=mode, elicit=Asker(accept(confirm=True))) as client:
        result = await client.call_tool("delete_snapshots", {"snapshot_ids": PAIR})
    assert (structured(result)["outcome"], structured(result)["deleted"]) == ("partial", 1)
    assert outcomes(result)[SEED_ID] == "deleting"
    assert outcomes(result)[OTHER_SEED_ID].startswith("failed")
    assert "[409]" in outcomes(result)[OTHER_SEED_ID]
    assert len(sent(sim, "DELETE")) == 2
    assert SEED_ID not in sim.snapshots or sim.snapshots[SEED_ID]["status"] in ("pending_delete", "deleting")


@pytest.mark.parametrize(
    ("ids", "words"),
    [
        ([SEED_ID, SEED_ID.upper()], "more than once"),
        ([SEED_ID, UNKNOWN_ID], f"no snapshot {UNKNOWN_ID}"),
        ([f"{SEED_ID}/x"], "snapshot_ids"),
        ([SEED_ID] * 26, "snapshot_ids"),
        ([], "snapshot_ids"),
    ],
    ids=["duplicate", "unknown", "not-an-id", "too-many", "empty"],
)
async def test_a_bad_set_is_refused_before_anyone_is_asked(
    settings: Settings, sim: Simulator, ids: list[str], words: str
) -> None:
    """Duplicates, an unknown id, a malformed id, more than 25 or none: an error, nobody asked, nothing deleted."""
    asker = Asker(accept(confirm=True))
    async with connect(on(settings, "form"), sim, elicit=asker) as client:
        result = await client.call_tool("delete_snapshots", {"snapshot_ids": ids})
    assert result.is_error
    assert words in text(result)
    assert asker.asked == []
    assert deleted(sim) == []
    assert all(r.method == "GET" and r.path.startswith(PREFIX) for r in sim.requests)


async def test_asking_again_after_a_card_decision_reports_each_ids_own_outcome(
    settings: Settings, sim: Simulator, mode: str
) -> None:
    """One ticked, one unticked: the batch asked again says deleting for one and kept for the other."""
    async with connect(settings, sim, mode=mode, apps=True) as client:
        pending = await client.call_tool("delete_snapshots", {"snapshot_ids": PAIR})
        assert pending.meta is not None
        meta = pending.meta[CONFIRMATION_META]
        args = {"request_id": meta["request_id"], "nonce": meta["nonce"], "decision": "delete"}
        await client.call_tool("confirm_deletion", {**args, "snapshot_ids": [SEED_ID]})
        told = await client.call_tool("delete_snapshots", {"snapshot_ids": PAIR})
    assert (structured(told)["outcome"], structured(told)["deleted"]) == ("deleted", 1)
    assert outcomes(told) == {SEED_ID: "deleting", OTHER_SEED_ID: "kept"}
    assert deleted(sim) == [SEED_ID]


async def test_a_form_yes_deletes_only_the_snapshots_that_did_not_change_meanwhile(
    settings: Settings, sim: Simulator
) -> None:
    """2025 era: one of the two was renamed and resized while the form was open; only the other is deleted."""
    asker = ChangesWhileAsked(sim, SEED_ID)
    with audit_lines() as audit:
        async with connect(on(settings, "form"), sim, mode="legacy", elicit=asker) as client:
            result = await client.call_tool("delete_snapshots", {"snapshot_ids": PAIR})
    assert (structured(result)["outcome"], structured(result)["deleted"]) == ("partial", 1)
    assert outcomes(result)[OTHER_SEED_ID] == "deleting"
    assert outcomes(result)[SEED_ID].startswith("changed: changed while you were asked")
    assert deleted(sim) == [OTHER_SEED_ID]
    assert sim.snapshots[SEED_ID]["size"] == 4096
    assert sorted(line.split(" outcome=")[1].split()[0] for line in audit.lines) == ["changed", "deleting"]


async def test_a_form_yes_for_a_set_that_all_changed_deletes_nothing(settings: Settings, sim: Simulator) -> None:
    """2025 era: both changed while the form was open: nothing deleted, the whole answer says changed."""
    asker = ChangesWhileAsked(sim, *PAIR)
    async with connect(on(settings, "form"), sim, mode="legacy", elicit=asker) as client:
        result = await client.call_tool("delete_snapshots", {"snapshot_ids": PAIR})
    assert (structured(result)["outcome"], structured(result)["deleted"]) == ("changed", 0)
    assert deleted(sim) == []
