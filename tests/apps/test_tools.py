"""`apps.tools`: the card's app-only tools (`confirm_deletion`, `deletion_request`) through the protocol:
each click decides the pending request once, and what it cannot do.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp.types import CallToolResult

from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Faults, SimRequest, Simulator
from snapshot_mcp.store import Store
from tests.support import (
    CONFIRMATION_META,
    OTHER_SEED_ID,
    SEED_ID,
    AfterClaim,
    FlakyStore,
    RedisServer,
    WallClock,
    audit_lines,
    card,
    confirmation,
    connect,
    decide,
    deleted_ids,
    sent,
    structured,
    text_of,
)
from tests.support.oauth import (
    APPS_CAPABILITIES,
    LocalIssuer,
    api_writes,
    message_of,
    modern,
    oauth_app,
)


async def test_confirm_deletion_deletes_exactly_once(settings: Settings, sim: Simulator, mode: str) -> None:
    """The right nonce deletes that snapshot once; a replay or second click gets already_decided."""
    async with connect(settings, sim, mode=mode, apps=True) as client:
        _, meta = await card(client)
        first = await decide(client, meta)
        again = await decide(client, meta)
        keep_after = await decide(client, meta, "keep")
    assert not first.is_error, text_of(first)
    assert structured(first)["outcome"] == "deleted"
    assert [(s["id"], s["outcome"]) for s in structured(first)["snapshots"]] == [(SEED_ID, "deleting")]
    for late in (again, keep_after):
        assert structured(late)["outcome"] == "already_decided"
    assert deleted_ids(sim) == [SEED_ID]


async def test_two_concurrent_confirms_have_one_winner(settings: Settings, mode: str) -> None:
    """Two clicks racing (the API slow to answer): one DELETE, one already_decided."""
    from snapshot_mcp.simulator import Faults

    sim = Simulator(faults=Faults(latency=0.01))
    results: list[CallToolResult] = []
    async with connect(settings, sim, mode=mode, apps=True) as client:
        _, meta = await card(client)

        async def click() -> None:
            results.append(await decide(client, meta))

        async with anyio.create_task_group() as group:
            group.start_soon(click)
            group.start_soon(click)
    assert sorted(structured(r)["outcome"] for r in results) == ["already_decided", "deleted"]
    assert deleted_ids(sim) == [SEED_ID]


async def test_keep_decides_and_deletes_nothing(settings: Settings, sim: Simulator, mode: str) -> None:
    """Keep decides the request: nothing deleted, and Delete afterwards is already_decided."""
    with audit_lines() as audit:
        async with connect(settings, sim, mode=mode, apps=True) as client:
            _, meta = await card(client)
            kept = await decide(client, meta, "keep")
            late = await decide(client, meta)
            told = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert structured(kept)["outcome"] == "kept"
    assert structured(late)["outcome"] == "already_decided"
    assert (structured(told)["outcome"], structured(told)["deleted"]) == ("kept", False)
    assert deleted_ids(sim) == []
    assert any(" outcome=kept" in line for line in audit.lines)


@pytest.mark.parametrize("nonce", ["", "x" * 43, "wrong"], ids=["empty", "same-length", "short"])
async def test_a_wrong_nonce_deletes_nothing(settings: Settings, sim: Simulator, mode: str, nonce: str) -> None:
    """A wrong nonce is refused; the request stays pending and the right one still works."""
    async with connect(settings, sim, mode=mode, apps=True) as client:
        _, meta = await card(client)
        wrong = await decide(client, {**meta, "nonce": nonce})
        right = await decide(client, meta)
    assert wrong.is_error
    assert "does not match" in text_of(wrong)
    assert structured(right)["outcome"] == "deleted"
    assert deleted_ids(sim) == [SEED_ID]


async def test_three_bad_nonces_void_the_request(settings: Settings, sim: Simulator, mode: str) -> None:
    """The third wrong nonce voids the request: even the right nonce then deletes nothing."""
    async with connect(settings, sim, mode=mode, apps=True) as client:
        _, meta = await card(client)
        tries = [await decide(client, {**meta, "nonce": f"guess-{k}"}) for k in range(3)]
        right = await decide(client, meta)
        told = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert all(t.is_error for t in tries)
    assert "void" in text_of(tries[-1])
    assert structured(right)["outcome"] == "already_decided"
    assert structured(right)["status"] == "void"
    assert structured(told)["outcome"] == "void"
    assert deleted_ids(sim) == []


async def test_an_expired_request_deletes_nothing(settings: Settings, sim: Simulator, mode: str) -> None:
    """Past its 5 minutes (on the injected clock) the request is expired; one second before, it still works."""
    clock = WallClock()
    async with connect(settings, sim, mode=mode, apps=True, clock=clock) as client:
        _, late = await card(client, SEED_ID)
        _, in_time = await card(client, OTHER_SEED_ID)
        clock.offset += settings.card_timeout - 1
        ok = await decide(client, in_time)
        clock.offset += 2
        expired = await decide(client, late)
    assert structured(ok)["outcome"] == "deleted"
    assert structured(expired)["outcome"] == "expired"
    assert deleted_ids(sim) == [OTHER_SEED_ID]


@pytest.mark.parametrize(("field", "value"), [("name", "renamed"), ("size", 65), ("status", "error")])
async def test_a_changed_snapshot_is_not_deleted(
    settings: Settings, sim: Simulator, mode: str, field: str, value: Any
) -> None:
    """If the snapshot changed after the card was shown, Delete deletes nothing and says changed."""
    async with connect(settings, sim, mode=mode, apps=True) as client:
        _, meta = await card(client)
        sim.snapshots[SEED_ID][field] = value
        result = await decide(client, meta)
    assert structured(result)["outcome"] == "changed"
    assert deleted_ids(sim) == []


async def test_deletion_request_shows_the_facts_and_reveals_the_nonce_once(
    settings: Settings, sim: Simulator, mode: str
) -> None:
    """For hosts that strip _meta: the app-only read gives the facts, and the nonce once within two minutes."""
    clock = WallClock()
    async with connect(settings, sim, mode=mode, apps=True, clock=clock) as client:
        _, meta = await card(client)
        first = await client.call_tool("deletion_request", {"request_id": meta["request_id"]})
        second = await client.call_tool("deletion_request", {"request_id": meta["request_id"]})
        _, other = await card(client, OTHER_SEED_ID)
        clock.offset += 121
        too_late = await client.call_tool("deletion_request", {"request_id": other["request_id"]})
    view = structured(first)
    assert (view["status"], view["can_delete"], view["total_size"]) == ("pending", True, 64)
    assert [(s["id"], s["name"], s["size"], s["region"]) for s in view["snapshots"]] == [
        (SEED_ID, "ubuntu-22.04-cuda-12.4", 64, "NORD-NO-KRS-1")
    ]
    assert confirmation(first)["nonce"] == meta["nonce"]
    assert meta["nonce"] not in text_of(first) + json.dumps(view)
    assert second.meta is None or CONFIRMATION_META not in second.meta
    assert too_late.meta is None or CONFIRMATION_META not in too_late.meta
    assert structured(too_late)["can_delete"] is True  # the request is still open; only the reveal window closed


async def test_snapshot_ids_narrow_a_decision_to_snapshots_of_the_request(settings: Settings, sim: Simulator) -> None:
    """snapshot_ids naming a snapshot outside the request is refused; nothing is deleted."""
    async with connect(settings, sim, apps=True) as client:
        _, meta = await card(client)
        outside = await decide(client, meta, snapshot_ids=[OTHER_SEED_ID])
    assert outside.is_error
    assert "snapshot_ids" in text_of(outside)
    assert deleted_ids(sim) == []


async def test_a_failed_delete_is_reported_and_not_retried(settings: Settings, mode: str) -> None:
    """The API refuses the DELETE (409): the request ends failed, the card says so, the nonce cannot retry."""
    sim = Simulator()

    def refuse(request: Any) -> int | None:
        return 409 if request.method == "DELETE" else None

    from snapshot_mcp.simulator import Faults

    sim.faults = Faults(fail_when=refuse)
    async with connect(settings, sim, mode=mode, apps=True) as client:
        _, meta = await card(client)
        first = await decide(client, meta)
        again = await decide(client, meta)
    assert structured(first)["outcome"] == "failed"
    assert structured(first)["snapshots"][0]["outcome"].startswith("failed")
    assert structured(again)["outcome"] == "already_decided"
    assert len(sent(sim, "DELETE")) == 1


async def test_every_refused_click_writes_one_audit_line(settings: Settings, sim: Simulator) -> None:
    """Unknown, outside the request, wrong nonce, expired, already decided: each refused click leaves one line."""
    clock = WallClock()
    with audit_lines() as audit:
        async with connect(settings, sim, apps=True, clock=clock) as client:
            _, meta = await card(client, SEED_ID)
            _, late = await card(client, OTHER_SEED_ID)
            audit.lines.clear()
            attempts = [
                await decide(client, {**meta, "request_id": "0" * 24}),
                await decide(client, meta, snapshot_ids=[OTHER_SEED_ID]),
                await decide(client, {**meta, "nonce": "wrong"}),
                await decide(client, meta, "keep"),
                await decide(client, meta),
            ]
            clock.offset += settings.card_timeout
            attempts.append(await decide(client, late))
    outcomes = [line.split(" outcome=")[1] for line in audit.lines]
    assert outcomes == [
        "unknown_request",
        "not_in_request",
        'bad_nonce detail="try 1"',
        "kept",
        'already_decided detail="kept"',
        "expired",
    ]
    assert [a.is_error for a in attempts] == [True, True, True, False, False, False]
    assert all("channel=card" in line and "tool=confirm_deletion" in line for line in audit.lines)
    assert not any(meta["nonce"] in line or late["nonce"] in line for line in audit.lines)
    assert deleted_ids(sim) == []


# -- the shared store failing around a click's DELETE -------------------------------------------


def outage_on_delete(store: FlakyStore) -> Faults:
    """The store goes down the moment the API receives a DELETE, which the API still accepts."""

    def down(request: SimRequest) -> int | None:
        if request.method == "DELETE":
            store.down = True
        return None

    return Faults(fail_when=down)


async def test_a_store_failing_after_the_api_accepted_the_delete_says_what_was_deleted(
    settings: Settings, mode: str
) -> None:
    """The DELETE was accepted, then the store went away: the click says deleted, and that it is not recorded."""
    store = FlakyStore()
    sim = Simulator(faults=outage_on_delete(store))
    clock = WallClock()
    with audit_lines() as audit:
        async with connect(settings, sim, mode=mode, apps=True, store=store, clock=clock) as client:
            _, meta = await card(client)
            clicked = await decide(client, meta)
            store.down = False
            clock.offset += 60  # long after the click: the DELETE's once-only claim still stands behind it
            told = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert not clicked.is_error, text_of(clicked)
    assert structured(clicked)["outcome"] == "deleted"
    assert [(s["id"], s["outcome"]) for s in structured(clicked)["snapshots"]] == [(SEED_ID, "deleting")]
    assert "could not be recorded" in text_of(clicked)
    assert "nothing more is deleted" not in text_of(clicked)
    assert (structured(told)["outcome"], structured(told)["deleted"]) == ("deleting", True)
    assert deleted_ids(sim) == [SEED_ID]
    assert [line.split(" outcome=")[1].split()[0] for line in audit.lines if "confirm_deletion" in line] == [
        "deleting",
        "unrecorded",
    ]


async def test_a_store_pausing_between_the_claim_and_the_delete_leaves_the_request_open(
    settings: Settings, mode: str
) -> None:
    """The store fails right after the click's claim, for one operation (the DELETE's own claim): no DELETE is
    sent, the click gives its claim back, the request is pending again, and the person's next click deletes."""
    store = FlakyStore()
    paused = AfterClaim(store, lambda: setattr(store, "down_for", 1))
    sim = Simulator()
    async with connect(settings, sim, mode=mode, apps=True, store=paused) as client:
        _, meta = await card(client)
        clicked = await decide(client, meta)
        shown = await client.call_tool("deletion_request", {"request_id": meta["request_id"]})
        told = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        assert deleted_ids(sim) == []
        again = await decide(client, meta)
    assert clicked.is_error
    assert "nothing more is deleted" in text_of(clicked)
    assert (structured(shown)["status"], structured(shown)["can_delete"]) == ("pending", True)
    assert (structured(told)["outcome"], structured(told)["deleted"]) == ("awaiting_confirmation", False)
    assert structured(again)["outcome"] == "deleted", text_of(again)
    assert deleted_ids(sim) == [SEED_ID]


async def test_a_claim_with_no_delete_behind_it_does_not_read_deleting(settings: Settings, mode: str) -> None:
    """The store stays down from the claim to the end of the click: once the click's grace has passed, the
    request reads as pending (not deleting for 15 minutes), and the person may try again."""
    store = FlakyStore()
    paused = AfterClaim(store, lambda: setattr(store, "down", True))
    sim = Simulator()
    clock = WallClock()
    async with connect(settings, sim, mode=mode, apps=True, store=paused, clock=clock) as client:
        _, meta = await card(client)
        clicked = await decide(client, meta)
        store.down = False  # back, with the request still claimed ("deleting") and no DELETE sent
        clock.offset += 31
        told = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        shown = await client.call_tool("deletion_request", {"request_id": meta["request_id"]})
        again = await decide(client, meta)
    assert clicked.is_error
    assert (structured(told)["outcome"], structured(told)["deleted"]) == ("awaiting_confirmation", False)
    assert structured(told)["request_id"] == meta["request_id"]
    assert (structured(shown)["status"], structured(shown)["can_delete"]) == ("pending", True)
    assert structured(again)["outcome"] == "deleted", text_of(again)
    assert deleted_ids(sim) == [SEED_ID]


@asynccontextmanager
async def redis_outage(tmp_path: Path) -> AsyncIterator[tuple[RedisServer, Store]]:
    """A real redis-server of its own that keeps its data across a stop and a start, and a store on it."""
    from snapshot_mcp.store_redis import open_redis

    server = RedisServer(tmp_path, persist=True)
    server.start()
    try:
        store = await open_redis(server.url, password=None, prefix="snapshot-mcp:card-outage:")
        try:
            yield server, store
        finally:
            await store.aclose()
    finally:
        server.stop()


@pytest.mark.slow  # a real redis-server, stopped and started again
async def test_redis_stopping_after_the_claim_leaves_the_request_open(settings: Settings, tmp_path: Path) -> None:
    """Redis goes away right after the click's claim: no DELETE; once it is back and the click's grace has
    passed, the request reads as pending (not deleting), and the person's next click deletes."""
    sim, clock = Simulator(), WallClock()
    async with (
        redis_outage(tmp_path) as (redis, store),
        connect(settings, sim, apps=True, store=AfterClaim(store, redis.stop), clock=clock) as client,
    ):
        _, meta = await card(client)
        clicked = await decide(client, meta)
        redis.start()
        clock.offset += 31
        told = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        again = await decide(client, meta)
    assert clicked.is_error
    assert "nothing more is deleted" in text_of(clicked)
    assert (structured(told)["outcome"], structured(told)["deleted"]) == ("awaiting_confirmation", False)
    assert structured(again)["outcome"] == "deleted", text_of(again)
    assert deleted_ids(sim) == [SEED_ID]


@pytest.mark.slow  # a real redis-server, stopped and started again
async def test_redis_stopping_after_the_delete_says_what_was_deleted(settings: Settings, tmp_path: Path) -> None:
    """Redis goes away once the API has accepted the DELETE: the click says deleted and not recorded; once Redis
    is back, the request reads deleting (the DELETE's once-only claim stands behind it)."""
    clock = WallClock()
    async with redis_outage(tmp_path) as (redis, store):

        def on_delete(request: SimRequest) -> int | None:
            if request.method == "DELETE":
                redis.stop()
            return None

        sim = Simulator(faults=Faults(fail_when=on_delete))
        async with connect(settings, sim, apps=True, store=store, clock=clock) as client:
            _, meta = await card(client)
            clicked = await decide(client, meta)
            redis.start()
            clock.offset += 60
            told = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert not clicked.is_error, text_of(clicked)
    assert structured(clicked)["outcome"] == "deleted"
    assert "could not be recorded" in text_of(clicked)
    assert (structured(told)["outcome"], structured(told)["deleted"]) == ("deleting", True)
    assert deleted_ids(sim) == [SEED_ID]


async def test_a_card_click_from_another_subject_is_refused(sim: Simulator) -> None:
    """2026-07-28 has no sessions: the deletion request is bound to who asked, and bob's click with alice's nonce
    finds no request; alice's own click deletes, and the audit names her."""

    issuer = LocalIssuer()
    alice, bob = issuer.token(sub="alice"), issuer.token(sub="bob")
    with audit_lines() as audit:
        async with oauth_app(issuer, sim) as client:
            asked = message_of(
                await modern(
                    client,
                    alice,
                    "tools/call",
                    {"name": "delete_snapshot", "arguments": {"snapshot_id": SEED_ID}},
                    capabilities=APPS_CAPABILITIES,
                )
            )["result"]
            meta = asked["_meta"][CONFIRMATION_META]
            click = {"request_id": meta["request_id"], "nonce": meta["nonce"], "decision": "delete"}
            call = {"name": "confirm_deletion", "arguments": click}
            by_bob = message_of(await modern(client, bob, "tools/call", call, capabilities=APPS_CAPABILITIES))
            deletes_after_bob = api_writes(sim)
            by_alice = message_of(await modern(client, alice, "tools/call", call, capabilities=APPS_CAPABILITIES))
    assert asked["structuredContent"]["outcome"] == "awaiting_confirmation"
    assert by_bob["result"]["isError"] is True
    assert "No such deletion request" in by_bob["result"]["content"][0]["text"]
    assert deletes_after_bob == []
    assert by_alice["result"]["structuredContent"]["outcome"] == "deleted"
    assert api_writes(sim) == [f"DELETE /compute/v1/snapshots/{SEED_ID}"]
    decided = [line for line in audit.lines if "tool=confirm_deletion" in line and "outcome=deleting" in line]
    assert len(decided) == 1
    assert 'subject="alice"' in decided[0]
    assert 'subject="alice"' in audit.lines[0]  # who asked
