"""Creates never silently made twice, and never a different snapshot passed off as "the same import".

Through the protocol against the simulator; what was made is read from the simulator.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx
import pytest
from pydantic import SecretStr

from snapshot_mcp.client import GenesisCloudClient
from snapshot_mcp.dedupe import BUSY_POLL, BUSY_WAIT, LOOKUP_PAGES, Dedupe, Intent
from snapshot_mcp.errors import CreateBusy, CreateMayHaveStarted, ServerError, StoreUnavailable
from snapshot_mcp.models import CreateSnapshotRequest, Snapshot
from snapshot_mcp.operations import Operations
from snapshot_mcp.sending import RetryPolicy
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, Faults, SimRequest, Simulator
from snapshot_mcp.store import MemoryStore
from snapshot_mcp.tools.writing import CREATE_SNAPSHOT_FROM_URL
from tests.support import (
    GOOD_BODY,
    PREFIX,
    SEED_ID,
    FlakyStore,
    VirtualClock,
    connect,
    sent,
    text_of,
)

IMPORT: dict[str, Any] = {
    "name": "img-a",
    "size": 10,
    "url": "https://images.example.com/a.raw",
    "region": "NORD-NO-KRS-1",
    "os_type": "linux",
}


def fail_next_post(sim: Simulator, status: int = 500) -> None:
    """The next POST is answered `status` without anything made (the API refused, or a proxy failed)."""
    state = {"left": 1}

    def once(request: SimRequest) -> int | None:
        if request.method == "POST" and state["left"]:
            state["left"] -= 1
            return status
        return None

    sim.faults.fail_when = once


def named(sim: Simulator, name: str) -> list[dict[str, Any]]:
    return [s for s in sim.snapshots.values() if s["name"] == name]


async def test_a_retry_after_a_failed_create_is_not_answered_with_another_import(
    settings: Settings, sim: Simulator, mode: str
) -> None:
    """img-a 10 GiB made; img-a 20 GiB from another URL fails (nothing made); its retry imports, not "reuses" 10 GiB."""
    other = {**IMPORT, "size": 20, "url": "https://images.example.com/b.raw"}
    async with connect(settings, sim, mode=mode) as client:
        await client.call_tool("create_snapshot_from_url", IMPORT)
        fail_next_post(sim)
        failed = await client.call_tool("create_snapshot_from_url", other)
        retried = await client.call_tool("create_snapshot_from_url", other)
    assert failed.is_error
    assert "may have started" in text_of(failed)
    data = retried.structured_content
    assert data is not None
    assert (data["reused"], data["snapshot"]["size"]) == (False, 20)
    assert len(sent(sim, "POST")) == 3
    assert sorted(s["size"] for s in named(sim, "img-a")) == [10, 20]


async def test_a_snapshot_made_by_another_request_is_never_taken_for_a_retry(
    settings: Settings, sim: Simulator, mode: str
) -> None:
    """Same name, size, region and OS from another URL: the first import belongs to its own request."""
    other = {**IMPORT, "url": "https://images.example.com/b.raw"}
    async with connect(settings, sim, mode=mode) as client:
        first = await client.call_tool("create_snapshot_from_url", IMPORT)
        fail_next_post(sim)
        await client.call_tool("create_snapshot_from_url", other)
        retried = await client.call_tool("create_snapshot_from_url", other)
    assert first.structured_content is not None
    assert retried.structured_content is not None
    assert retried.structured_content["snapshot"]["id"] != first.structured_content["snapshot"]["id"]
    assert retried.structured_content["reused"] is False
    assert len(named(sim, "img-a")) == 2


@pytest.mark.parametrize("status", ["pending_delete", "deleting", "error"])
async def test_an_import_being_deleted_or_failed_is_never_reused(
    settings: Settings, sim: Simulator, mode: str, status: str
) -> None:
    """Repeating a create whose import is being deleted (or failed) makes a new one, and says "started"."""
    async with connect(settings, sim, mode=mode) as client:
        first = await client.call_tool("create_snapshot_from_url", IMPORT)
        assert first.structured_content is not None
        sim.snapshots[first.structured_content["snapshot"]["id"]]["status"] = status
        sim._life.pop(first.structured_content["snapshot"]["id"], None)
        again = await client.call_tool("create_snapshot_from_url", IMPORT)
    assert again.structured_content is not None
    assert again.structured_content["reused"] is False
    assert again.structured_content["snapshot"]["id"] != first.structured_content["snapshot"]["id"]
    assert text_of(again).startswith("Import started")
    assert len(sent(sim, "POST")) == 2


async def test_a_lost_answer_is_found_as_a_probable_match_and_said_so(settings: Settings, mode: str) -> None:
    """The API made it but the answer was lost: the retry finds it, and says it matched by echoed fields."""
    sim = Simulator(faults=Faults(read_timeout_first=1, fail_methods=frozenset({"POST"})))
    async with connect(settings, sim, mode=mode) as client:
        await client.call_tool("create_snapshot_from_url", IMPORT)
        retried = await client.call_tool("create_snapshot_from_url", IMPORT)
    data = retried.structured_content
    assert data is not None
    assert (data["reused"], data["probable"]) == (True, True)
    assert "probable earlier attempt" in text_of(retried)
    assert "lookup_complete" not in data
    assert len(sent(sim, "POST")) == 1


class Endless(httpx.AsyncBaseTransport):
    """An API that claims 30 million snapshots (300,000 pages); every page is empty of matches."""

    def __init__(self) -> None:
        self.pages: list[int] = []
        self.posts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            self.posts += 1
            if self.posts == 1:
                return httpx.Response(500, json={"code": "x", "message": "boom"})
            snapshot = {"id": "2f0f8c3e-4a7e-4c49-9a66-c1d9e4c0b7a1", "name": "img-a", "status": "creating"}
            return httpx.Response(201, json={"snapshot": snapshot})
        page = int(request.url.params.get("page", "1"))
        self.pages.append(page)
        return httpx.Response(200, json={"snapshots": [], "total_count": 30_000_000, "page": page, "per_page": 100})


async def test_the_lookup_reads_a_bounded_number_of_pages_and_says_it_is_incomplete() -> None:
    """300,000 pages claimed: the look-up reads at most LOOKUP_PAGES of them, then says it could not read all."""
    api = Endless()
    async with httpx.AsyncClient(transport=api, base_url="http://api") as http:
        retry = RetryPolicy(base_delay=0.001)
        client = GenesisCloudClient(http, token=SecretStr(DEFAULT_TOKEN), endpoint="http://api", retry=retry)
        dedupe = Dedupe(client, MemoryStore())
        intent = Intent("import", ("img-a",), "img-a", lambda s: s.name.raw == "img-a")

        async def make() -> Snapshot:
            if api.posts == 0:
                api.posts += 1
                raise ServerError(500, "x", "boom")
            return Snapshot.model_validate(
                {"id": "2f0f8c3e-4a7e-4c49-9a66-c1d9e4c0b7a1", "name": "img-a", "status": "creating"}
            )

        with pytest.raises(CreateMayHaveStarted):
            await dedupe.run(intent, make)
        outcome = await dedupe.run(intent, make)
    assert len(api.pages) <= LOOKUP_PAGES
    assert api.pages[0] == 1
    assert api.pages[1] == 300_000  # the newest end comes next
    assert outcome.lookup_complete is False
    assert outcome.reused is False


async def test_an_incomplete_lookup_is_said_in_the_result(settings: Settings, mode: str) -> None:
    """Through the tool: a look-up that could not read every page says so next to what it made."""
    sim = Simulator()
    sim.add_many(LOOKUP_PAGES * 100 + 50)
    async with connect(settings, sim, mode=mode) as client:
        fail_next_post(sim)
        await client.call_tool("create_snapshot_from_url", IMPORT)
        retried = await client.call_tool("create_snapshot_from_url", IMPORT)
    data = retried.structured_content
    assert data is not None
    assert data["lookup_complete"] is False
    assert "could not read every page" in text_of(retried)
    reads = [r for r in sim.requests if r.method == "GET" and r.path == PREFIX]
    assert len(reads) == LOOKUP_PAGES


async def test_without_the_shared_store_nothing_is_created(settings: Settings, sim: Simulator, mode: str) -> None:
    """Issue 14: a create whose retry could not be recognised is not sent at all."""
    store = FlakyStore()
    store.down = True
    async with connect(settings, sim, mode=mode, store=store) as client:
        refused = await client.call_tool("create_snapshot_from_url", IMPORT)
        listed = await client.call_tool("list_snapshots", {"per_page": 5})
    assert refused.is_error
    assert "Nothing was created: the shared state store cannot be reached" in text_of(refused)
    assert not listed.is_error
    assert sent(sim, "POST") == []


def _dedupe(sim: Simulator, http: httpx.AsyncClient, store: MemoryStore, clock: VirtualClock) -> Dedupe:
    client = GenesisCloudClient(http, token=SecretStr(DEFAULT_TOKEN), rate_limit=1000.0)
    return Dedupe(client, store, sleep=clock.sleep)


def _import_intent() -> Intent:
    return Intent("import", ("img-a", 10), "img-a", lambda s: s.name.raw == "img-a")


async def test_an_identical_create_on_another_instance_is_waited_for_and_reused(sim: Simulator) -> None:
    """Two instances (two `Dedupe`s, one store): the second waits for the first's claim, then returns its snapshot."""
    store, clock = MemoryStore(), VirtualClock()
    intent = _import_intent()
    made: list[Snapshot] = []
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        first, second = _dedupe(sim, http, store, clock), _dedupe(sim, http, store, clock)

        async def make_slowly() -> Snapshot:
            made.append(await first.client.create(_request()))
            await clock.sleep(1.0)  # its answer takes a (virtual) second to arrive
            return made[-1]

        async with anyio.create_task_group() as tg:
            tg.start_soon(first.run, intent, make_slowly)
            while not made:  # the first holds the claim and its POST is done; its answer is on the way
                await anyio.lowlevel.checkpoint()
            outcome = await second.run(intent, make_slowly)
    assert outcome.reused is True
    assert len(made) == 1
    assert outcome.snapshot.id == made[0].id
    assert 1.0 <= clock.elapsed < BUSY_WAIT
    assert len(sent(sim, "POST")) == 1


async def test_a_claim_never_released_ends_in_create_busy(sim: Simulator) -> None:
    store, clock = MemoryStore(), VirtualClock()
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        this = _dedupe(sim, http, store, clock)
        intent = _import_intent()
        await store.put_once(f"create-busy:{intent.key}", "other-instance", 600)
        with pytest.raises(CreateBusy, match="another instance"):
            await this.run(intent, _never)
    assert clock.elapsed == pytest.approx(BUSY_WAIT, abs=BUSY_POLL)
    assert sent(sim, "POST") == []


async def test_a_snapshot_made_just_before_the_store_failed_is_reported_as_made(sim: Simulator) -> None:
    store, clock = FlakyStore(), VirtualClock()
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        this = _dedupe(sim, http, store, clock)

        async def make() -> Snapshot:
            snapshot = await this.client.create(_request())
            store.down = True  # gone between the POST and the record of it
            return snapshot

        outcome = await this.run(_import_intent(), make)
    assert outcome.snapshot.name.raw == "img-a"
    assert outcome.reused is False
    assert len(sent(sim, "POST")) == 1


async def test_a_store_down_before_the_claim_sends_nothing(sim: Simulator) -> None:
    store, clock = FlakyStore(), VirtualClock()
    store.down = True
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        with pytest.raises(StoreUnavailable) as refused:
            await _dedupe(sim, http, store, clock).run(_import_intent(), _never)
    assert sent(sim, "POST") == []
    assert CREATE_SNAPSHOT_FROM_URL.error_text(refused.value).startswith("Nothing was created")  # as the tool words it


async def _never() -> Snapshot:
    raise AssertionError("nothing may be sent")


def _request() -> Any:
    from snapshot_mcp.models import CreateSnapshotRequest

    return CreateSnapshotRequest(name="img-a", size=10, url="https://images.example.com/a.raw", region="NORD-NO-KRS-1")


# -- names whose display form differs from what was sent -----------------------------------------------

AWKWARD_NAMES = {
    "255-characters": "L" * 255,
    "zero-width": "nightly\u200bbuild",
    "bidi-override": "invoice-\u202egpj.exe",
}
"""Names the tools accept whose shown form is not the name: cut with a marker, or with escapes written out."""


def lose_the_first_post() -> Simulator:
    """The API makes the first POST's snapshot, but its answer is lost (a read time-out)."""
    return Simulator(faults=Faults(read_timeout_first=1, fail_methods=frozenset({"POST"})))


def an_active_instance(sim: Simulator) -> str:
    return next(iid for iid, instance in sim.instances.items() if instance["status"] == "active")


async def retried_after_a_lost_answer(client: Any, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """Call `tool` (its answer lost), then again as the error says: the retry's structured result."""
    failed = await client.call_tool(tool, arguments)
    assert failed.is_error
    assert "may have started" in text_of(failed)
    retried = await client.call_tool(tool, arguments)
    assert retried.structured_content is not None, text_of(retried)
    data: dict[str, Any] = retried.structured_content
    return data


@pytest.mark.parametrize("name", AWKWARD_NAMES.values(), ids=AWKWARD_NAMES.keys())
async def test_a_lost_import_is_found_whatever_its_name(settings: Settings, mode: str, name: str) -> None:
    """The look-up compares the name the API echoed with the name sent, both raw: one POST, one snapshot."""
    sim = lose_the_first_post()
    async with connect(settings, sim, mode=mode) as client:
        data = await retried_after_a_lost_answer(client, "create_snapshot_from_url", {**IMPORT, "name": name})
    assert (data["reused"], data["probable"]) == (True, True)
    assert (len(sent(sim, "POST")), len(named(sim, name))) == (1, 1)


@pytest.mark.parametrize("name", AWKWARD_NAMES.values(), ids=AWKWARD_NAMES.keys())
async def test_a_lost_instance_snapshot_is_found_whatever_its_name(settings: Settings, mode: str, name: str) -> None:
    """The same for `snapshot_instance`: one POST, one snapshot."""
    sim = lose_the_first_post()
    arguments = {"instance_id": an_active_instance(sim), "name": name}
    async with connect(settings, sim, mode=mode) as client:
        data = await retried_after_a_lost_answer(client, "snapshot_instance", arguments)
    assert (data["reused"], data["probable"]) == (True, True)
    assert (len(sent(sim, "POST")), len(named(sim, name))) == (1, 1)


@pytest.mark.parametrize("name", AWKWARD_NAMES.values(), ids=AWKWARD_NAMES.keys())
async def test_a_lost_copy_is_found_whatever_its_name(settings: Settings, mode: str, name: str) -> None:
    """The same for `copy_snapshot` with a name given: one POST, one copy."""
    sim = lose_the_first_post()
    arguments = {"snapshot_id": SEED_ID, "region": "NA-CA-FTS-1", "name": name}
    async with connect(settings, sim, mode=mode) as client:
        data = await retried_after_a_lost_answer(client, "copy_snapshot", arguments)
    assert (data["reused"], data["probable"]) == (True, True)
    assert (len(sent(sim, "POST")), len(named(sim, name))) == (1, 1)


@pytest.mark.parametrize("name", AWKWARD_NAMES.values(), ids=AWKWARD_NAMES.keys())
async def test_a_copy_without_a_name_takes_the_source_name_as_it_is(settings: Settings, mode: str, name: str) -> None:
    """The copy is named exactly like its source (never the shown form), and a lost answer still makes one."""
    sim = lose_the_first_post()
    sim.snapshots[SEED_ID]["name"] = name
    async with connect(settings, sim, mode=mode) as client:
        await retried_after_a_lost_answer(client, "copy_snapshot", {"snapshot_id": SEED_ID, "region": "NA-CA-FTS-1"})
    [post] = sent(sim, "POST")
    assert json.loads(post.body)["name"] == name
    assert len(named(sim, name)) == 2  # the source and one copy


GOOD_CREATE: dict[str, Any] = {**GOOD_BODY, "name": "fault-matrix-image"}


@pytest.mark.slow
async def test_concurrent_identical_creates_still_share_one_post() -> None:
    """Dropping idle locks keeps the guarantee: identical creates racing make one POST, and no lock is left."""
    sim = Simulator(faults=Faults(latency=0.01))
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        client = GenesisCloudClient(http, token=SecretStr(DEFAULT_TOKEN), rate_limit=1e9)
        ops = Operations(client, MemoryStore())
        request = CreateSnapshotRequest.model_validate(GOOD_CREATE)
        ids: list[str] = []

        async def create() -> None:
            ids.append((await ops.create(request, wait=False, progress=None)).snapshot.id)

        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(create)
    assert len(set(ids)) == 1
    assert len(ids) == 5
    assert len(sent(sim, "POST")) == 1
    assert ops.dedupe._locks == {}
