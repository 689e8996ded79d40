"""`confirm.card`: the confirmation card's channel through the protocol, in both eras.

Under the card channel `delete_snapshot` deletes nothing: it records a pending request
and returns at once with the nonce only in result `_meta`. The app-only tool
`confirm_deletion` (apps/test_tools.py) is the only path that deletes, once, for the
right nonce, session, time and state. What reached the API is read from the simulator's
request log.
"""

from __future__ import annotations

import json
import logging

import pytest
from mcp.types import ElicitResult, TextResourceContents

from snapshot_mcp.apps import CARD_URI
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator
from tests.support import (
    OTHER_SEED_ID,
    SEED_ID,
    Asker,
    AuditLines,
    FlakyStore,
    audit_lines,
    card,
    confirmation,
    connect,
    decide,
    deleted_ids,
    structured,
    text_of,
)


async def test_delete_under_the_card_deletes_nothing_and_hides_the_nonce_in_meta(
    settings: Settings, sim: Simulator, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """awaiting_confirmation, nothing deleted; the nonce (>= 128 bits) only in result _meta, nowhere else."""
    caplog.set_level(logging.DEBUG)
    with audit_lines() as audit:
        async with connect(settings, sim, mode=mode, apps=True) as client:
            result, meta = await card(client)
            resource = await client.read_resource(CARD_URI)
    body = structured(result)
    assert (body["outcome"], body["deleted"]) == ("awaiting_confirmation", False)
    assert body["request_id"] == meta["request_id"]
    assert body["expires_at"] == meta["expires_at"]
    assert body["awaiting"]["id"] == SEED_ID
    assert body["awaiting"]["name"] == "ubuntu-22.04-cuda-12.4"
    for fact in ("ubuntu-22.04-cuda-12.4", SEED_ID, "64 GiB", "NORD-NO-KRS-1", "days ago", meta["request_id"]):
        assert fact in text_of(result)
    assert deleted_ids(sim) == []
    nonce = meta["nonce"]
    assert len(nonce) >= 22  # base64url of >= 128 bits
    assert nonce not in text_of(result)
    assert nonce not in json.dumps(body)
    [html] = resource.contents
    assert isinstance(html, TextResourceContents)
    assert nonce not in html.text
    assert meta["request_id"] not in html.text
    assert not any(nonce in line for line in audit.lines)
    assert not any(nonce in record.getMessage() for record in caplog.records)
    assert [line.split(" outcome=")[1] for line in audit.lines] == ["awaiting_confirmation"]


async def test_asking_again_reports_the_pending_request_instead_of_a_second_card(
    settings: Settings, sim: Simulator, mode: str
) -> None:
    """A second delete_snapshot while pending: the same request; after the decision, its outcome once."""
    async with connect(settings, sim, mode=mode, apps=True) as client:
        _, meta = await card(client)
        again, again_meta = await card(client)
        await decide(client, meta)
        outcome = await client.call_tool("delete_snapshot", {"snapshot_id": OTHER_SEED_ID})
        told = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert again_meta["request_id"] == meta["request_id"]
    assert structured(again)["outcome"] == "awaiting_confirmation"
    assert (structured(told)["outcome"], structured(told)["deleted"]) == ("deleted", True)
    assert structured(outcome)["request_id"] != meta["request_id"]
    assert deleted_ids(sim) == [SEED_ID]


async def test_a_form_answer_never_reaches_a_card_session(settings: Settings, sim: Simulator) -> None:
    """A client with Apps and elicitation gets the card first (the default order): nobody is asked by form."""
    asker = Asker(ElicitResult(action="accept", content={"confirm": True}))
    async with connect(settings, sim, apps=True, elicit=asker) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert structured(result)["outcome"] == "awaiting_confirmation"
    assert asker.asked == []
    assert deleted_ids(sim) == []


async def test_every_card_attempt_writes_one_audit_line(settings: Settings, sim: Simulator) -> None:
    """The card's delete call and each decision are audited, never with the nonce."""
    audit: AuditLines
    with audit_lines() as audit:
        async with connect(settings, sim, apps=True) as client:
            _, meta = await card(client)
            await decide(client, meta)
    outcomes = [line.split(" outcome=")[1].split()[0] for line in audit.lines]
    assert outcomes == ["awaiting_confirmation", "deleting"]
    assert all("channel=card" in line for line in audit.lines)
    assert not any(meta["nonce"] in line for line in audit.lines)


async def test_without_the_shared_store_the_card_deletes_nothing(settings: Settings, sim: Simulator) -> None:
    """Issue 14: no request can be opened, and a click on an open one is refused, while the store is down."""
    store = FlakyStore()
    async with connect(settings, sim, apps=True, store=store) as client:
        _, meta = await card(client)
        store.down = True
        opened = await client.call_tool("delete_snapshot", {"snapshot_id": OTHER_SEED_ID})
        clicked = await decide(client, meta)
        shown = await client.call_tool("deletion_request", {"request_id": meta["request_id"]})
        store.down = False
        later = await decide(client, meta)
    for refused in (opened, clicked, shown):
        assert refused.is_error
        assert "shared state store cannot be reached" in text_of(refused), text_of(refused)
    assert "Nothing was deleted" in text_of(opened)
    assert "nothing more is deleted" in text_of(clicked)
    assert structured(later)["outcome"] == "deleted"  # the request was still pending: the click after the outage counts
    assert deleted_ids(sim) == [SEED_ID]


async def test_a_snapshot_deleted_on_the_click_is_reported_as_such_not_as_not_found(
    settings: Settings, mode: str
) -> None:
    """Gone after the person's Delete: a later delete says it was deleted after their confirmation, in either tool."""
    sim = Simulator(delete_polls=0)  # the API forgets a deleted snapshot at once
    with audit_lines() as audit:
        async with connect(settings, sim, mode=mode, apps=True) as client:
            _, meta = await card(client)
            await decide(client, meta)
            one = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
            many = await client.call_tool("delete_snapshots", {"snapshot_ids": [SEED_ID]})
            mixed = await client.call_tool("delete_snapshots", {"snapshot_ids": [SEED_ID, OTHER_SEED_ID]})
    assert (structured(one)["outcome"], structured(one)["deleted"], structured(one)["request_id"]) == (
        "deleted",
        True,
        meta["request_id"],
    )
    assert "after the user's confirmation in the confirmation card" in text_of(one)
    assert (structured(many)["outcome"], structured(many)["deleted"]) == ("deleted", 1)
    assert [(r["snapshot_id"], r["outcome"]) for r in structured(many)["results"]] == [(SEED_ID, "deleted")]
    assert "after the user's confirmation" in text_of(many)
    assert mixed.is_error
    assert f"{SEED_ID} already deleted after the user's confirmation" in text_of(mixed)
    assert deleted_ids(sim) == [SEED_ID]
    reported = [line for line in audit.lines if "reported_deleted" in line]
    assert len(reported) == 2
    assert all("channel=card" in line for line in reported)


async def test_a_pending_request_is_named_by_either_tool_in_its_own_shape(
    settings: Settings, sim: Simulator, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """delete_snapshot(A) then delete_snapshots([A]), and the other way round: the same pending request, each
    tool's own result shape, no server error."""
    caplog.set_level(logging.WARNING)
    async with connect(settings, sim, mode=mode, apps=True) as client:
        _, meta = await card(client, SEED_ID)
        many = await client.call_tool("delete_snapshots", {"snapshot_ids": [SEED_ID]})
        first_many = await client.call_tool("delete_snapshots", {"snapshot_ids": [OTHER_SEED_ID]})
        one = await client.call_tool("delete_snapshot", {"snapshot_id": OTHER_SEED_ID})
    assert not many.is_error, text_of(many)
    assert (structured(many)["outcome"], structured(many)["request_id"]) == (
        "awaiting_confirmation",
        meta["request_id"],
    )
    assert structured(many)["results"] == [{"snapshot_id": SEED_ID, "outcome": "awaiting_confirmation"}]
    assert "Call delete_snapshots again" in text_of(many)
    assert confirmation(many)["request_id"] == meta["request_id"]
    assert not one.is_error, text_of(one)
    assert (structured(one)["outcome"], structured(one)["snapshot_id"]) == ("awaiting_confirmation", OTHER_SEED_ID)
    assert structured(one)["request_id"] == structured(first_many)["request_id"]
    assert structured(one)["awaiting"]["id"] == OTHER_SEED_ID
    assert "Call delete_snapshot again" in text_of(one)
    assert deleted_ids(sim) == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
