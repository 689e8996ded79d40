"""The confirmation card (MCP Apps) through the protocol, in both eras.

Under the card channel `delete_snapshot` deletes nothing: it records a pending request
and returns at once with the nonce only in result `_meta`. The app-only tool
`confirm_deletion` is the only path that deletes, once, for the right nonce, session,
time and state. What reached the API is read from the simulator's request log.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, ElicitResult, TextResourceContents

from snapshot_mcp.apps import CARD_URI
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Faults, SimRequest, Simulator
from snapshot_mcp.store import Store
from tests.support import (
    MODES,
    OTHER_SEED_ID,
    PREFIX,
    SEED_ID,
    AfterClaim,
    Asker,
    AuditLines,
    FlakyStore,
    RedisServer,
    WallClock,
    audit_lines,
    connect,
    sent,
    text_of,
)

META = "snapshot-mcp/confirmation"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def deletes(sim: Simulator) -> list[str]:
    return [r.path.rsplit("/", 1)[1] for r in sent(sim, "DELETE")]


def data(result: CallToolResult) -> dict[str, Any]:
    content: dict[str, Any] | None = result.structured_content
    assert content is not None, text_of(result)
    return content


def confirmation(result: CallToolResult) -> dict[str, str]:
    assert result.meta is not None
    assert META in result.meta, result.meta
    value: dict[str, str] = result.meta[META]
    return value


async def card(client: Client, snapshot_id: str = SEED_ID) -> tuple[CallToolResult, dict[str, str]]:
    result = await client.call_tool("delete_snapshot", {"snapshot_id": snapshot_id})
    return result, confirmation(result)


async def decide(client: Client, meta: dict[str, str], decision: str = "delete", **extra: Any) -> CallToolResult:
    args = {"request_id": meta["request_id"], "nonce": meta["nonce"], "decision": decision, **extra}
    return await client.call_tool("confirm_deletion", args)


async def test_delete_under_the_card_deletes_nothing_and_hides_the_nonce_in_meta(
    settings: Settings, sim: Simulator, mode: str, caplog: pytest.LogCaptureFixture
) -> None:
    """awaiting_confirmation, nothing deleted; the nonce (>= 128 bits) only in result _meta, nowhere else."""
    caplog.set_level(logging.DEBUG)
    with audit_lines() as audit:
        async with connect(settings, sim, mode=mode, apps=True) as client:
            result, meta = await card(client)
            resource = await client.read_resource(CARD_URI)
    body = data(result)
    assert (body["outcome"], body["deleted"]) == ("awaiting_confirmation", False)
    assert body["request_id"] == meta["request_id"]
    assert body["expires_at"] == meta["expires_at"]
    assert body["awaiting"]["id"] == SEED_ID
    assert body["awaiting"]["name"] == "ubuntu-22.04-cuda-12.4"
    for fact in ("ubuntu-22.04-cuda-12.4", SEED_ID, "64 GiB", "NORD-NO-KRS-1", "days ago", meta["request_id"]):
        assert fact in text_of(result)
    assert deletes(sim) == []
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


async def test_the_card_is_linked_and_served_as_a_network_free_view(settings: Settings, sim: Simulator) -> None:
    """delete_snapshot names the versioned ui:// view (new and flat key); it is one inline HTML document."""
    async with connect(settings, sim, apps=True) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        resource = await client.read_resource(CARD_URI)
    meta = tools["delete_snapshot"].meta or {}
    assert meta["ui"]["resourceUri"] == CARD_URI == meta["ui/resourceUri"]
    assert CARD_URI.startswith("ui://snapshot-mcp/")
    assert re.search(r"-v[0-9]+\.html$", CARD_URI)
    [html] = resource.contents
    assert isinstance(html, TextResourceContents)
    assert html.mime_type == "text/html;profile=mcp-app"
    text = html.text
    assert text.lstrip().lower().startswith("<!doctype html>")
    for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "fetch(", "XMLHttpRequest",
                      "<link", "src=", "@import", "url(", "WebSocket", "eval("):  # fmt: skip
        assert forbidden not in text, forbidden
    assert "event.source !== window.parent" in text
    assert "ui/resource-teardown" in text
    assert '"ping"' in text
    assert "ui/notifications/size-changed" in text


async def test_confirm_deletion_deletes_exactly_once(settings: Settings, sim: Simulator, mode: str) -> None:
    """The right nonce deletes that snapshot once; a replay or second click gets already_decided."""
    async with connect(settings, sim, mode=mode, apps=True) as client:
        _, meta = await card(client)
        first = await decide(client, meta)
        again = await decide(client, meta)
        keep_after = await decide(client, meta, "keep")
    assert not first.is_error, text_of(first)
    assert data(first)["outcome"] == "deleted"
    assert [(s["id"], s["outcome"]) for s in data(first)["snapshots"]] == [(SEED_ID, "deleting")]
    for late in (again, keep_after):
        assert data(late)["outcome"] == "already_decided"
    assert deletes(sim) == [SEED_ID]


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
    assert sorted(data(r)["outcome"] for r in results) == ["already_decided", "deleted"]
    assert deletes(sim) == [SEED_ID]


async def test_keep_decides_and_deletes_nothing(settings: Settings, sim: Simulator, mode: str) -> None:
    """Keep decides the request: nothing deleted, and Delete afterwards is already_decided."""
    with audit_lines() as audit:
        async with connect(settings, sim, mode=mode, apps=True) as client:
            _, meta = await card(client)
            kept = await decide(client, meta, "keep")
            late = await decide(client, meta)
            told = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert data(kept)["outcome"] == "kept"
    assert data(late)["outcome"] == "already_decided"
    assert (data(told)["outcome"], data(told)["deleted"]) == ("kept", False)
    assert deletes(sim) == []
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
    assert data(right)["outcome"] == "deleted"
    assert deletes(sim) == [SEED_ID]


async def test_three_bad_nonces_void_the_request(settings: Settings, sim: Simulator, mode: str) -> None:
    """The third wrong nonce voids the request: even the right nonce then deletes nothing."""
    async with connect(settings, sim, mode=mode, apps=True) as client:
        _, meta = await card(client)
        tries = [await decide(client, {**meta, "nonce": f"guess-{k}"}) for k in range(3)]
        right = await decide(client, meta)
        told = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert all(t.is_error for t in tries)
    assert "void" in text_of(tries[-1])
    assert data(right)["outcome"] == "already_decided"
    assert data(right)["status"] == "void"
    assert data(told)["outcome"] == "void"
    assert deletes(sim) == []


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
    assert data(ok)["outcome"] == "deleted"
    assert data(expired)["outcome"] == "expired"
    assert deletes(sim) == [OTHER_SEED_ID]


@pytest.mark.parametrize(("field", "value"), [("name", "renamed"), ("size", 65), ("status", "error")])
async def test_a_changed_snapshot_is_not_deleted(
    settings: Settings, sim: Simulator, mode: str, field: str, value: Any
) -> None:
    """If the snapshot changed after the card was shown, Delete deletes nothing and says changed."""
    async with connect(settings, sim, mode=mode, apps=True) as client:
        _, meta = await card(client)
        sim.snapshots[SEED_ID][field] = value
        result = await decide(client, meta)
    assert data(result)["outcome"] == "changed"
    assert deletes(sim) == []


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
    view = data(first)
    assert (view["status"], view["can_delete"], view["total_size"]) == ("pending", True, 64)
    assert [(s["id"], s["name"], s["size"], s["region"]) for s in view["snapshots"]] == [
        (SEED_ID, "ubuntu-22.04-cuda-12.4", 64, "NORD-NO-KRS-1")
    ]
    assert confirmation(first)["nonce"] == meta["nonce"]
    assert meta["nonce"] not in text_of(first) + json.dumps(view)
    assert second.meta is None or META not in second.meta
    assert too_late.meta is None or META not in too_late.meta
    assert data(too_late)["can_delete"] is True  # the request is still open; only the reveal window closed


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
    assert data(again)["outcome"] == "awaiting_confirmation"
    assert (data(told)["outcome"], data(told)["deleted"]) == ("deleted", True)
    assert data(outcome)["request_id"] != meta["request_id"]
    assert deletes(sim) == [SEED_ID]


@pytest.mark.parametrize("apps", [False, True], ids=["plain-client", "apps-client"])
async def test_app_only_tools_exist_only_for_sessions_that_negotiated_apps(
    settings: Settings, sim: Simulator, mode: str, apps: bool
) -> None:
    """Without Apps: neither listed nor callable. With Apps: listed, marked visibility ["app"]."""
    async with connect(settings, sim, mode=mode, apps=apps, elicit=Asker()) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        called = await client.call_tool(
            "confirm_deletion", {"request_id": "0" * 24, "nonce": "n", "decision": "delete"}
        )
        read = await client.call_tool("deletion_request", {"request_id": "0" * 24})
    app_only = {"deletion_request", "confirm_deletion"}
    if apps:
        assert app_only <= set(tools)
        assert all((tools[name].meta or {})["ui"]["visibility"] == ["app"] for name in app_only)
        assert "No such deletion request" in text_of(called)
    else:
        assert not app_only & set(tools)
        assert text_of(called) == "Unknown tool: confirm_deletion"
        assert text_of(read) == "Unknown tool: deletion_request"
    assert called.is_error
    assert read.is_error
    assert sim.requests == []


async def test_snapshot_ids_narrow_a_decision_to_snapshots_of_the_request(settings: Settings, sim: Simulator) -> None:
    """snapshot_ids naming a snapshot outside the request is refused; nothing is deleted."""
    async with connect(settings, sim, apps=True) as client:
        _, meta = await card(client)
        outside = await decide(client, meta, snapshot_ids=[OTHER_SEED_ID])
    assert outside.is_error
    assert "snapshot_ids" in text_of(outside)
    assert deletes(sim) == []


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
    assert data(first)["outcome"] == "failed"
    assert data(first)["snapshots"][0]["outcome"].startswith("failed")
    assert data(again)["outcome"] == "already_decided"
    assert len(sent(sim, "DELETE")) == 1


def test_the_card_uri_is_under_the_server_prefix() -> None:
    """A versioned ui:// URI, so a changed view never reuses a host's cached copy of an older one."""
    assert CARD_URI == "ui://snapshot-mcp/confirm-delete-v2.html"
    assert PREFIX.endswith("/snapshots")


async def test_a_form_answer_never_reaches_a_card_session(settings: Settings, sim: Simulator) -> None:
    """A client with Apps and elicitation gets the card first (the default order): nobody is asked by form."""
    asker = Asker(ElicitResult(action="accept", content={"confirm": True}))
    async with connect(settings, sim, apps=True, elicit=asker) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert data(result)["outcome"] == "awaiting_confirmation"
    assert asker.asked == []
    assert deletes(sim) == []


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
    assert data(later)["outcome"] == "deleted"  # the request was still pending: the click after the outage counts
    assert deletes(sim) == [SEED_ID]


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
    assert (data(one)["outcome"], data(one)["deleted"], data(one)["request_id"]) == (
        "deleted",
        True,
        meta["request_id"],
    )
    assert "after the user's confirmation in the confirmation card" in text_of(one)
    assert (data(many)["outcome"], data(many)["deleted"]) == ("deleted", 1)
    assert [(r["snapshot_id"], r["outcome"]) for r in data(many)["results"]] == [(SEED_ID, "deleted")]
    assert "after the user's confirmation" in text_of(many)
    assert mixed.is_error
    assert f"{SEED_ID} already deleted after the user's confirmation" in text_of(mixed)
    assert deletes(sim) == [SEED_ID]
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
    assert (data(many)["outcome"], data(many)["request_id"]) == ("awaiting_confirmation", meta["request_id"])
    assert data(many)["results"] == [{"snapshot_id": SEED_ID, "outcome": "awaiting_confirmation"}]
    assert "Call delete_snapshots again" in text_of(many)
    assert confirmation(many)["request_id"] == meta["request_id"]
    assert not one.is_error, text_of(one)
    assert (data(one)["outcome"], data(one)["snapshot_id"]) == ("awaiting_confirmation", OTHER_SEED_ID)
    assert data(one)["request_id"] == data(first_many)["request_id"]
    assert data(one)["awaiting"]["id"] == OTHER_SEED_ID
    assert "Call delete_snapshot again" in text_of(one)
    assert deletes(sim) == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


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
    assert deletes(sim) == []


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
    assert data(clicked)["outcome"] == "deleted"
    assert [(s["id"], s["outcome"]) for s in data(clicked)["snapshots"]] == [(SEED_ID, "deleting")]
    assert "could not be recorded" in text_of(clicked)
    assert "nothing more is deleted" not in text_of(clicked)
    assert (data(told)["outcome"], data(told)["deleted"]) == ("deleting", True)
    assert deletes(sim) == [SEED_ID]
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
        assert deletes(sim) == []
        again = await decide(client, meta)
    assert clicked.is_error
    assert "nothing more is deleted" in text_of(clicked)
    assert (data(shown)["status"], data(shown)["can_delete"]) == ("pending", True)
    assert (data(told)["outcome"], data(told)["deleted"]) == ("awaiting_confirmation", False)
    assert data(again)["outcome"] == "deleted", text_of(again)
    assert deletes(sim) == [SEED_ID]


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
    assert (data(told)["outcome"], data(told)["deleted"]) == ("awaiting_confirmation", False)
    assert data(told)["request_id"] == meta["request_id"]
    assert (data(shown)["status"], data(shown)["can_delete"]) == ("pending", True)
    assert data(again)["outcome"] == "deleted", text_of(again)
    assert deletes(sim) == [SEED_ID]


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
    assert (data(told)["outcome"], data(told)["deleted"]) == ("awaiting_confirmation", False)
    assert data(again)["outcome"] == "deleted", text_of(again)
    assert deletes(sim) == [SEED_ID]


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
    assert data(clicked)["outcome"] == "deleted"
    assert "could not be recorded" in text_of(clicked)
    assert (data(told)["outcome"], data(told)["deleted"]) == ("deleting", True)
    assert deletes(sim) == [SEED_ID]
