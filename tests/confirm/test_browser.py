"""The browser channel through the protocol: the page is another face of the one deletion request.

The server runs in memory, and the browser it "opens" is the test's `Person`, who gets
the address and answers over real HTTP on the loopback listener, as the page's script
does (the page itself in Chromium is campaigns/test_browser_page_in_chromium.py; the real stdio process is
there too). What reached the API is read from the simulator.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, cast

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult

from snapshot_mcp.browser.opener import Launcher
from snapshot_mcp.confirm import browser as browser_channel
from snapshot_mcp.confirm.browser import browser_pages
from snapshot_mcp.confirm.decisions import Decisions
from snapshot_mcp.confirm.requests import DeletionRequests
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator
from snapshot_mcp.store import MemoryStore
from tests.support import (
    OTHER_SEED_ID,
    SEED_ID,
    Page,
    Person,
    audit_lines,
    connect,
    fast,
    sent,
    text_of,
)

QUICK = 0.2
"""The elicitation time-out of the tests where nobody answers: the call gives up waiting after it."""

Act = Callable[[str], Awaitable[Any]]


class Seen:
    """Everything a model or a client could see of the calls: results and progress messages."""

    def __init__(self) -> None:
        self.results: list[CallToolResult] = []
        self.progress: list[str] = []

    async def on_progress(self, progress: float, total: float | None, message: str | None) -> None:
        self.progress.append(f"{progress}/{total} {message}")

    def text(self) -> str:
        dumped = [r.model_dump_json(by_alias=True) for r in self.results]
        return "\n".join([*dumped, *self.progress])


async def deciding(
    client: Client, person: Person, act: Act, tool: str = "delete_snapshot", seen: Seen | None = None, **args: Any
) -> tuple[CallToolResult, str]:
    """Call `tool` (which waits for the page); once the page is opened, `act` on its address, as the person."""
    seen = seen or Seen()
    arguments = args or {"snapshot_id": SEED_ID}
    results: list[CallToolResult] = []

    async def call() -> None:
        results.append(await client.call_tool(tool, arguments, progress_callback=seen.on_progress))

    async with anyio.create_task_group() as group:
        group.start_soon(call)
        address = await person.address()
        await act(address)
    seen.results.extend(results)
    return results[0], address


async def nobody(address: str) -> None:
    """The person does not answer (the page stays open)."""


def outcome(result: CallToolResult) -> str:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return str(result.structured_content["outcome"])


async def test_a_client_without_card_or_form_is_asked_in_the_browser(
    settings: Settings, sim: Simulator, mode: str
) -> None:
    """Default ladder, no Apps, no form: the page shows the facts; Delete deletes exactly that snapshot, once."""
    person = Person()
    shown: list[dict[str, Any]] = []

    async def delete(address: str) -> None:
        shown.append(await person.look(address))
        decided = await person.click(address, "delete")
        assert decided.json()["outcome"] == "deleted"

    with audit_lines() as lines:
        async with connect(settings, sim, mode=mode, person=person) as client:
            result, _ = await deciding(client, person, delete)
    assert outcome(result) == "deleted"
    assert "the user confirmed on the page in their browser" in text_of(result)
    assert [r.path.rsplit("/", 1)[1] for r in sent(sim, "DELETE")] == [SEED_ID]
    [state] = shown
    assert state["status"] == "pending"
    [row] = state["request"]["snapshots"]
    facts = (row["id"], row["name"], row["size"], row["region"])
    assert facts == (SEED_ID, "ubuntu-22.04-cuda-12.4", 64, "NORD-NO-KRS-1")
    assert 0 < state["expires_in"] <= settings.card_timeout
    assert [line.split(" outcome=")[1] for line in lines.lines] == ["deleting", "reported_deleted"]
    assert all("channel=browser" in line for line in lines.lines)


async def test_keep_deletes_nothing(settings: Settings, sim: Simulator) -> None:
    """Keep decides the request: the call says kept, nothing reaches the API."""
    person = Person()
    async with connect(settings, sim, person=person) as client:
        result, _ = await deciding(client, person, lambda address: person.click(address, "keep"))
    assert outcome(result) == "kept"
    assert sent(sim, "DELETE") == []


async def test_a_batch_lists_every_snapshot_and_deletes_them_once(settings: Settings, sim: Simulator) -> None:
    """delete_snapshots: one page listing all of them, with the total; Delete deletes each once."""
    person = Person()
    ids = [SEED_ID, OTHER_SEED_ID]
    shown: list[dict[str, Any]] = []

    async def delete(address: str) -> None:
        shown.append(await person.look(address))
        await person.click(address, "delete")

    async with connect(settings, sim, person=person) as client:
        result, _ = await deciding(client, person, delete, "delete_snapshots", snapshot_ids=ids)
    assert outcome(result) == "deleted"
    assert [row["id"] for row in shown[0]["request"]["snapshots"]] == ids
    assert shown[0]["request"]["total_size"] == 64 + 80
    assert sorted(r.path.rsplit("/", 1)[1] for r in sent(sim, "DELETE")) == sorted(ids)


async def test_a_replayed_or_second_click_does_nothing_more(settings: Settings, sim: Simulator) -> None:
    """Two clicks at once and a replay after the decision: one decision, one DELETE; the others already_decided."""
    person = Person()
    answers: list[str] = []

    async def twice(address: str) -> None:
        async with anyio.create_task_group() as group:
            for _ in range(2):
                group.start_soon(lambda: _click(person, address, answers))

    async with connect(settings, sim, person=person) as client:
        result, address = await deciding(client, person, twice)
        replay = await person.click(address, "delete")
    assert outcome(result) == "deleted"
    assert sorted(answers) == ["already_decided", "deleted"]
    assert replay.json()["outcome"] == "already_decided"
    assert len(sent(sim, "DELETE")) == 1


async def _click(person: Person, address: str, answers: list[str]) -> None:
    answers.append((await person.click(address, "delete")).json()["outcome"])


async def test_no_decision_in_time_answers_awaiting_and_a_later_call_reports(
    settings: Settings, sim: Simulator
) -> None:
    """Nobody clicks within the elicitation timeout: awaiting_confirmation, with progress; the page stays valid;
    after a click, the next call for the same snapshot reports the deletion (and opens nothing new)."""
    person = Person()
    seen = Seen()
    quick = fast(settings, elicitation_timeout=QUICK)
    async with connect(quick, sim, person=person) as client:
        waited, address = await deciding(client, person, nobody, seen=seen)
        assert outcome(waited) == "awaiting_confirmation"
        assert sent(sim, "DELETE") == []
        assert (await person.click(address, "delete")).json()["outcome"] == "deleted"
        later = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert "browser" in text_of(waited)
    assert waited.structured_content is not None
    assert waited.structured_content["request_id"] == Page.of(address).request_id
    assert seen.progress, "the waiting call sends progress"
    assert outcome(later) == "deleted"
    assert len(person.opened) == 1
    assert len(sent(sim, "DELETE")) == 1


async def test_a_wrong_secret_decides_nothing_and_three_void_the_request(settings: Settings, sim: Simulator) -> None:
    """Another secret for the same request: refused (403, audited); the third voids it for every face."""
    person = Person()
    codes: list[int] = []

    async def guess(address: str) -> None:
        page = Page.of(address)
        for secret in ("A" * 43, "B" * 43, "C" * 43):
            body = {"request_id": page.request_id, "secret": secret, "decision": "delete"}
            codes.append((await person.post(address, "/decide", body)).status_code)

    with audit_lines() as lines:
        async with connect(settings, sim, person=person) as client:
            result, address = await deciding(client, person, guess)
            late = await person.click(address, "delete")
    assert codes == [403, 403, 403]
    assert outcome(result) == "void"
    assert late.json()["outcome"] == "already_decided"
    assert sent(sim, "DELETE") == []
    assert [line.split(" outcome=")[1].split()[0] for line in lines.lines].count("bad_nonce") == 3


async def test_the_card_nonce_does_not_decide_on_the_page(settings: Settings, sim: Simulator) -> None:
    """Each face proves itself with its own secret: a request id with another secret is refused."""
    person = Person()
    answers: list[int] = []

    async def unknown(address: str) -> None:
        page = Page.of(address)
        body = {"request_id": "f" * 24, "secret": page.secret, "decision": "delete"}
        answers.append((await person.post(address, "/decide", body)).status_code)
        await person.click(address, "keep")

    async with connect(settings, sim, person=person) as client:
        result, _ = await deciding(client, person, unknown)
    assert answers == [404]
    assert outcome(result) == "kept"


async def test_the_address_and_secret_reach_no_result_notification_or_log(
    settings: Settings, sim: Simulator, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    """Neither the page's address nor its secret is in any result, progress message, or log record (DEBUG)."""
    person = Person()
    seen = Seen()
    quick = fast(settings, elicitation_timeout=QUICK)
    with caplog.at_level("DEBUG"), audit_lines() as lines:
        async with connect(quick, sim, mode=mode, person=person) as client:
            _, address = await deciding(client, person, nobody, seen=seen)
            seen.results.append(await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID}))
    page = Page.of(address)
    visible = seen.text() + "\n" + caplog.text + "\n" + "\n".join(lines.lines)
    assert page.secret not in visible
    assert f"127.0.0.1:{page.port}" not in visible
    assert page.request_id in visible, "the request id is not secret: the model may name it"


async def test_a_browser_that_cannot_start_refuses_and_deletes_nothing(settings: Settings, sim: Simulator) -> None:
    """The opener fails (no such program): an error saying so, one audit line, nothing deleted."""

    class Broken(Person):
        def hand_off(self, address: str) -> None:
            raise FileNotFoundError(2, "No such file or directory", "gone-browser")

    with audit_lines() as lines:
        async with connect(settings, sim, person=Broken()) as client:
            result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert result.is_error
    assert "could not start the user's browser" in text_of(result)
    assert sent(sim, "DELETE") == []
    assert [line.split(" outcome=")[1] for line in lines.lines] == ['refused detail="browser_failed"']


@pytest.mark.parametrize("transport", ["http"])
async def test_the_channel_is_absent_over_http(settings: Settings, sim: Simulator, transport: str) -> None:
    """Over HTTP the server is not on the person's machine: no browser rung, even with a desktop; refused."""
    person = Person()
    async with connect(fast(settings, transport=transport), sim, person=person) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        listed = json.dumps([tool.model_dump(by_alias=True) for tool in (await client.list_tools()).tools])
    assert result.is_error
    assert "Not deleted" in text_of(result)
    assert person.opened == []
    assert "ask_in_browser" not in listed


async def test_the_channel_is_absent_without_a_desktop(settings: Settings, sim: Simulator) -> None:
    """A machine with no display and no BROWSER (the suite's own): the default ladder refuses, as before."""
    async with connect(settings, sim) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        listed = json.dumps([tool.model_dump(by_alias=True) for tool in (await client.list_tools()).tools])
    assert result.is_error
    assert "Not deleted: this client can show neither" in text_of(result)
    assert "ask_in_browser" not in listed


# --------------------------------------------------------------------------- the second chance: ask_in_browser


async def test_ask_in_browser_after_a_card_opens_the_same_request(settings: Settings, sim: Simulator) -> None:
    """A card client whose person sees no card: ask_in_browser=true opens the card's own request in the browser
    (not a second one); a click there deletes once."""
    person = Person()
    async with connect(settings, sim, apps=True, person=person) as client:
        card = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        assert outcome(card) == "awaiting_confirmation"
        assert "ask_in_browser=true" in text_of(card)
        assert person.opened == [], "the card comes first; nothing opens unasked"
        result, address = await deciding(
            client, person, lambda address: person.click(address, "delete"), snapshot_id=SEED_ID, ask_in_browser=True
        )
    assert card.structured_content is not None
    assert Page.of(address).request_id == card.structured_content["request_id"]
    assert outcome(result) == "deleted"
    assert len(sent(sim, "DELETE")) == 1


async def test_a_request_decided_in_the_card_is_decided_on_the_page(
    settings: Settings, sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page open and waiting, the person clicks Delete in the card instead: the waiting call reports it, the
    page learns it (decided), and a click on the page then does nothing more.

    A decision in another face reaches the waiting call at its next look at the record, one tick later: the
    tick is shortened here so that the test does not wait out a second."""
    monkeypatch.setattr(browser_channel, "TICK_SECONDS", 0.05)
    person = Person()
    looks: list[dict[str, Any]] = []
    async with connect(settings, sim, apps=True, person=person) as client:
        card = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        assert card.meta is not None
        meta = card.meta["snapshot-mcp/confirmation"]

        async def decide_in_the_card(address: str) -> None:
            looks.append(await person.look(address))
            click = {"request_id": meta["request_id"], "nonce": meta["nonce"], "decision": "delete"}
            assert outcome(await client.call_tool("confirm_deletion", click)) == "deleted"
            looks.append(await person.look(address))

        result, address = await deciding(client, person, decide_in_the_card, snapshot_id=SEED_ID, ask_in_browser=True)
        late = await person.click(address, "delete")
    assert [look["status"] for look in looks] == ["pending", "deleted"]
    assert outcome(result) == "deleted"
    assert "in the card" in text_of(result), "worded for the face the person used"
    assert late.json()["outcome"] == "already_decided"
    assert len(sent(sim, "DELETE")) == 1


async def test_ask_in_browser_alone_deletes_nothing(settings: Settings, sim: Simulator) -> None:
    """The argument only chooses where the person is asked: with nobody answering, nothing is deleted; where no
    browser can open, the session's own channel answers (the card) and nothing opens."""
    person = Person()
    async with connect(fast(settings, elicitation_timeout=QUICK), sim, person=person) as client:
        waited, _ = await deciding(client, person, nobody, snapshot_id=SEED_ID, ask_in_browser=True)
    async with connect(settings, sim, apps=True) as client:
        card = await client.call_tool("delete_snapshot", {"snapshot_id": OTHER_SEED_ID, "ask_in_browser": True})
    assert outcome(waited) == "awaiting_confirmation"
    assert outcome(card) == "awaiting_confirmation"
    assert "confirmation card" in text_of(card)
    assert "ask_in_browser" not in text_of(card), "not offered where the browser cannot open"
    assert sent(sim, "DELETE") == []


async def test_a_snapshot_deleted_on_the_page_is_reported_as_such_not_as_not_found(settings: Settings) -> None:
    """Gone after the person's Delete in the browser: a later delete says so, naming the page, not "not found"."""
    sim = Simulator(delete_polls=0)  # the API forgets a deleted snapshot at once
    person = Person()
    async with connect(settings, sim, person=person) as client:
        await deciding(client, person, lambda address: person.click(address, "delete"))
        later = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert outcome(later) == "deleted"
    assert "after the user's confirmation in the browser page" in text_of(later)
    assert len(person.opened) == 1, "nothing is asked again"
    assert len(sent(sim, "DELETE")) == 1


async def test_an_open_page_polling_costs_no_api_request(settings: Settings, sim: Simulator) -> None:
    """The page asks for the request's state every few seconds: that reads the record, never the API (a batch of
    25 would otherwise eat the account's rate); Delete still re-reads each snapshot before deleting."""
    person = Person()
    reads: list[int] = []

    async def poll_then_delete(address: str) -> None:
        before = len(sent(sim, "GET"))
        for _ in range(5):
            assert (await person.look(address))["status"] == "pending"
        reads.append(len(sent(sim, "GET")) - before)
        await person.click(address, "delete")
        reads.append(len(sent(sim, "GET")) - before)

    async with connect(settings, sim, person=person) as client:
        result, _ = await deciding(client, person, poll_then_delete)
    assert outcome(result) == "deleted"
    assert reads[0] == 0
    assert reads[1] >= 1, "the decision re-reads the snapshot"


async def test_what_ends_the_server_arrives_unwrapped() -> None:
    """The pages' task group lives in the server's lifespan: an error ending the run comes out as itself."""
    requests = DeletionRequests(MemoryStore())

    async def run() -> None:
        async with browser_pages(requests, Decisions(requests, cast(Any, None)), Launcher(call=print)) as pages:
            assert pages is not None
            raise KeyError("the run ended")

    with pytest.raises(KeyError, match="the run ended"):
        await run()
