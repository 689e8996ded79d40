"""The writing tools through the protocol, in both eras: create_snapshot_from_url (its body, waits,
retries never made twice, image URLs it refuses), copy_snapshot and rename_snapshot.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from mcp import Client
from pydantic import SecretStr

from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, Faults, Simulator
from tests.support import (
    CREATING_SEED_ID,
    GOOD_BODY,
    PREFIX,
    SEED_ID,
    UNKNOWN_ID,
    assert_error_result,
    connect,
    fast,
    sent,
    structured,
    text_of,
)

CANARY = "canary-6f1e2d3c4b5a-never-leak"


def canary_settings(**changes: Any) -> Settings:
    return Settings(token=SecretStr(CANARY), rate_limit=100_000.0, **changes)


@pytest.mark.slow  # waits on real time by design
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_token_echoed_in_a_status_never_reaches_a_progress_notification(mode: str) -> None:
    """Item 1: progress notifications of a wait carry the snapshot's status: never an echoed token."""
    sim = Simulator(tokens=[CANARY])
    seen: list[str] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append(message or "")

    create = {"name": "x", "size": 1, "url": "https://images.example.com/x.raw", "region": "NORD-NO-KRS-1"}
    async with connect(canary_settings(wait_timeout=0.3), sim, mode=mode) as client:
        made = await client.call_tool("create_snapshot_from_url", create)
        assert made.structured_content is not None
        snapshot_id = made.structured_content["snapshot"]["id"]
        sim._life.pop(snapshot_id)
        sim.snapshots[snapshot_id]["status"] = f"importing-{CANARY}"
        result = await client.call_tool(
            "create_snapshot_from_url", {**create, "wait": True}, progress_callback=on_progress
        )
    assert seen
    assert not any(CANARY in message for message in seen)
    assert any("[redacted]" in message for message in seen)
    assert CANARY not in text_of(result)


PRIVATE_URLS = [
    "https://127.0.0.1/img.raw",
    "https://localhost/img.raw",
    "https://[::1]/img.raw",
    "http://127.1/img.raw",
    "http://2130706433/img.raw",
    "http://0x7f000001/img.raw",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/img.raw",
    "http://192.168.1.1/img.raw",
    "http://172.16.3.4/img.raw",
    "http://[fd00::1]/img.raw",
    "http://[::ffff:10.0.0.1]/img.raw",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://nas/img.raw",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_image_urls_on_non_public_hosts_are_refused(settings: Settings, sim: Simulator, url: str) -> None:
    """Item 13: a model cannot aim the API's fetch at loopback, private, link-local or internal hosts."""
    create = {"name": "x", "size": 1, "url": url, "region": "NORD-NO-KRS-1"}
    async with connect(settings, sim) as client:
        result = await client.call_tool("create_snapshot_from_url", create)
    assert result.is_error
    assert "url refused" in text_of(result)
    assert "--allow-private-image-urls" in text_of(result)
    assert sim.requests == []


@pytest.mark.parametrize("url", ["http://10.0.0.5/img.raw", "http://nas/img.raw"])
async def test_the_operator_may_allow_private_image_hosts(settings: Settings, sim: Simulator, url: str) -> None:
    """Item 13: with --allow-private-image-urls such a URL is sent."""
    create = {"name": "x", "size": 1, "url": url, "region": "NORD-NO-KRS-1"}
    allowed = settings.model_copy(update={"allow_private_image_urls": True})
    async with connect(allowed, sim) as client:
        result = await client.call_tool("create_snapshot_from_url", create)
    assert not result.is_error, text_of(result)
    assert [r.method for r in sim.requests] == ["POST"]


@pytest.mark.parametrize(
    "url", ["https://user:pass@images.example.com/a.raw", "https://token@images.example.com/a.raw"]
)
async def test_credentials_in_an_image_url_are_always_refused(settings: Settings, sim: Simulator, url: str) -> None:
    """Item 13: user:password@ never reaches the API, whatever the operator allows; the input is not echoed."""
    create = {"name": "x", "size": 1, "url": url, "region": "NORD-NO-KRS-1"}
    allowed = settings.model_copy(update={"allow_private_image_urls": True})
    async with connect(allowed, sim) as client:
        result = await client.call_tool("create_snapshot_from_url", create)
    assert result.is_error
    assert "credentials" in text_of(result)
    assert "pass" not in text_of(result).replace("password", "")
    assert sim.requests == []


def writes(sim: Simulator) -> list[tuple[str, str, Any]]:
    """(method, path, JSON body) of every request that was not a GET."""
    return [(r.method, r.path, json.loads(r.body) if r.body else None) for r in sim.requests if r.method != "GET"]


# -- copy_snapshot ----------------------------------------------------------------------------


async def test_copy_sends_the_source_name_and_the_region(settings: Settings, sim: Simulator, mode: str) -> None:
    """POST /snapshots/{id}/clone with {"name": the source's name, "region"}; the copy names its source."""
    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool("copy_snapshot", {"snapshot_id": SEED_ID, "region": "NA-CA-FTS-1"})
        again = await client.call_tool("copy_snapshot", {"snapshot_id": SEED_ID, "region": "NA-CA-FTS-1"})
    assert writes(sim) == [
        ("POST", f"{PREFIX}/{SEED_ID}/clone", {"name": "ubuntu-22.04-cuda-12.4", "region": "NA-CA-FTS-1"})
    ]
    snapshot = structured(result)["snapshot"]
    assert (snapshot["region"], snapshot["source"], snapshot["status"]) == ("NA-CA-FTS-1", SEED_ID, "creating")
    assert text_of(result).startswith("Copy started")
    assert "wait=true" not in text_of(result)  # copy_snapshot has no wait: the next step is get_snapshot
    assert f"get_snapshot(snapshot_id={snapshot['id']!r})" in structured(result)["next"]
    assert (structured(again)["reused"], structured(again)["snapshot"]["id"]) == (True, snapshot["id"])


@pytest.mark.parametrize(
    "name", ["bell\x07in-the-name", "two\nlines", "para\u2029graph"], ids=["bel", "newline", "U+2029"]
)
async def test_copy_without_a_name_sends_a_source_name_no_tool_would_accept(
    settings: Settings, sim: Simulator, mode: str, name: str
) -> None:
    """The API's own name goes back as it holds it (the copy is named like its source); the result shows it escaped."""
    sim.snapshots[SEED_ID]["name"] = name
    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool("copy_snapshot", {"snapshot_id": SEED_ID, "region": "NA-CA-FTS-1"})
    assert not result.is_error, text_of(result)
    assert writes(sim) == [("POST", f"{PREFIX}/{SEED_ID}/clone", {"name": name, "region": "NA-CA-FTS-1"})]
    assert "\x07" not in text_of(result)
    assert "two\nlines" not in text_of(result)


async def test_copy_with_a_new_name(settings: Settings, sim: Simulator, mode: str) -> None:
    """An explicit name is sent as given; the source is not read."""
    async with connect(settings, sim, mode=mode) as client:
        await client.call_tool("copy_snapshot", {"snapshot_id": SEED_ID, "region": "EUC-DE-MUC-1", "name": "de"})
    assert writes(sim) == [("POST", f"{PREFIX}/{SEED_ID}/clone", {"name": "de", "region": "EUC-DE-MUC-1"})]
    assert [r.method for r in sim.requests] == ["POST"]


@pytest.mark.parametrize(
    ("source", "region", "words"),
    [
        (CREATING_SEED_ID, "EUC-DE-MUC-1", "[409]"),
        (UNKNOWN_ID, "EUC-DE-MUC-1", "Not found"),
        (SEED_ID, "ARC-IS-HAF-1", "[400]"),
    ],
    ids=["source-creating", "unknown-source", "dropped-region"],
)
async def test_copy_errors_say_what_to_do(
    settings: Settings, sim: Simulator, mode: str, source: str, region: str, words: str
) -> None:
    """A source still creating, unknown, or a region the API no longer offers: an error, nothing made."""
    before = len(sim.snapshots)
    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool("copy_snapshot", {"snapshot_id": source, "region": region, "name": "c"})
    assert result.is_error
    assert words in text_of(result)
    assert len(sim.snapshots) == before


# -- rename_snapshot ---------------------------------------------------------------------------


async def test_rename_sends_a_patch_with_the_name(settings: Settings, sim: Simulator, mode: str) -> None:
    """PATCH /snapshots/{id} with {"name"}; the result shows the new name."""
    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool("rename_snapshot", {"snapshot_id": SEED_ID, "name": "ubuntu-golden"})
    assert writes(sim) == [("PATCH", f"{PREFIX}/{SEED_ID}", {"name": "ubuntu-golden"})]
    assert structured(result)["name"] == "ubuntu-golden"
    assert text_of(result).startswith(f"Renamed: {SEED_ID} name=ubuntu-golden")


@pytest.mark.parametrize(
    ("snapshot_id", "name", "words"),
    [(CREATING_SEED_ID, "x", "[409]"), (UNKNOWN_ID, "x", "Not found"), (SEED_ID, "  ", "name")],
    ids=["creating", "unknown", "blank-name"],
)
async def test_rename_errors(
    settings: Settings, sim: Simulator, mode: str, snapshot_id: str, name: str, words: str
) -> None:
    """A snapshot still creating, an unknown one, or a blank name: an error; a blank name sends nothing."""
    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool("rename_snapshot", {"snapshot_id": snapshot_id, "name": name})
    assert result.is_error
    assert words in text_of(result)
    if not name.strip():
        assert sim.requests == []


# -- create_snapshot_from_url ---------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "body_extra"),
    [({}, {}), ({"os_type": "linux"}, {"os_type": "linux"}), ({"os_type": "windows"}, {"os_type": "windows"})],
)
async def test_create_sends_exactly_the_documented_body(
    settings: Settings, sim: Simulator, mode: str, extra: dict[str, Any], body_extra: dict[str, Any]
) -> None:
    """One POST whose body is exactly name, size, url, region (+ os_type only when given)."""
    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool("create_snapshot_from_url", {**GOOD_BODY, **extra})
    assert not result.is_error, text_of(result)
    [request] = sim.requests
    assert (request.method, request.path, request.query) == ("POST", PREFIX, {})
    assert request.headers["authorization"] == f"Bearer {DEFAULT_TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.body) == {**GOOD_BODY, **body_extra}
    data = result.structured_content
    assert data is not None
    assert data["snapshot"]["status"] == "creating"
    assert data["snapshot"]["id"] in sim.snapshots
    assert (data["reused"], data["settled"]) == (False, False)
    assert text_of(result).startswith("Import started: ")
    assert "get_snapshot" in data["next"]


@pytest.mark.parametrize(
    "changes",
    [
        {"url": "ftp://example.com/image.raw"},
        {"url": "file:///etc/passwd"},
        {"url": "javascript:alert(1)"},
        {"url": "https://"},
        {"url": "not a url"},
        {"url": "https://example.com/a b.raw"},
        {"size": 0},
        {"size": -1},
        {"size": 1.5},
        {"size": "10"},
        {"size": True},
        {"size": 10**7},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 256},
        {"name": "line\nbreak"},
        {"region": "norway"},
        {"region": "NORD NO KRS 1"},
        {"region": "../NORD-NO-KRS-1"},
        {"os_type": "macos"},
        {"os_type": "Linux "},
    ],
    ids=repr,
)
async def test_create_rejects_bad_input_without_posting(
    idle: tuple[Client, Simulator], changes: dict[str, Any]
) -> None:
    """Bad URLs, sizes, names, regions and os types are an error result naming the field; no POST."""
    client, sim = idle
    result = await client.call_tool("create_snapshot_from_url", {**GOOD_BODY, **changes})
    assert_error_result(result, next(iter(changes)))
    assert sim.requests == []


@pytest.mark.parametrize("missing", ["name", "size", "url", "region"])
async def test_create_requires_every_field(idle: tuple[Client, Simulator], missing: str) -> None:
    """Leaving out a required field is an error result; no POST."""
    client, sim = idle
    result = await client.call_tool("create_snapshot_from_url", {k: v for k, v in GOOD_BODY.items() if k != missing})
    assert_error_result(result, missing)
    assert sim.requests == []


class Progress:
    """A progress callback that records what arrives."""

    def __init__(self) -> None:
        self.seen: list[tuple[float, float | None, str | None]] = []

    async def __call__(self, progress: float, total: float | None, message: str | None) -> None:
        self.seen.append((progress, total, message))


async def test_create_wait_polls_until_created_with_progress(settings: Settings, mode: str) -> None:
    """wait=true polls until created, sending several increasing progress notifications."""
    sim = Simulator(create_polls=4)
    progress = Progress()
    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool(
            "create_snapshot_from_url", {**GOOD_BODY, "wait": True}, progress_callback=progress
        )
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data is not None
    sid = data["snapshot"]["id"]
    assert (data["snapshot"]["status"], data["settled"]) == ("created", True)
    assert "ready" in text_of(result)
    assert [(r.method, r.path) for r in sim.requests] == [("POST", PREFIX)] + [("GET", f"{PREFIX}/{sid}")] * 5
    values = [value for value, _, _ in progress.seen]
    assert len(values) == 6  # one per poll, then the end of the wait
    assert values == sorted(values)
    assert values[-1] == settings.wait_timeout  # a wait that reached its goal ends the bar at 100 %
    assert values[-2] < values[-1]
    assert all(total == settings.wait_timeout for _, total, _ in progress.seen)
    assert progress.seen[-1][2] is not None
    assert progress.seen[-1][2].startswith("created")


async def test_create_wait_reports_an_import_error(settings: Settings, mode: str) -> None:
    """wait=true ending in status error says the import failed and what to do."""
    sim = Simulator(create_polls=1, fail_create_names={"broken"})
    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool("create_snapshot_from_url", {**GOOD_BODY, "name": "broken", "wait": True})
    assert not result.is_error
    data = result.structured_content
    assert data is not None
    assert (data["snapshot"]["status"], data["settled"]) == ("error", True)
    assert "import failed" in text_of(result)
    assert "status=error" in text_of(result)


async def test_create_wait_is_bounded(settings: Settings, mode: str) -> None:
    """wait=true stops at the wait timeout and says the import is still running and what to call."""
    sim = Simulator(create_polls=10_000)
    started = time.monotonic()
    async with connect(fast(settings, wait_timeout=0.05), sim, mode=mode) as client:
        result = await client.call_tool("create_snapshot_from_url", {**GOOD_BODY, "wait": True})
    assert time.monotonic() - started < 2
    data = result.structured_content
    assert data is not None
    assert (data["snapshot"]["status"], data["settled"]) == ("creating", False)
    assert "still importing" in data["next"]
    assert "get_snapshot" in data["next"]


async def test_identical_create_returns_the_first_snapshot(settings: Settings, sim: Simulator, mode: str) -> None:
    """Repeating an identical create returns the same snapshot with exactly one POST; a different one posts."""
    async with connect(settings, sim, mode=mode) as client:
        first = await client.call_tool("create_snapshot_from_url", GOOD_BODY)
        again = await client.call_tool("create_snapshot_from_url", GOOD_BODY)
        assert len(sent(sim, "POST")) == 1
        other = await client.call_tool("create_snapshot_from_url", {**GOOD_BODY, "size": 21})
    assert first.structured_content is not None
    assert again.structured_content is not None
    assert other.structured_content is not None
    assert again.structured_content["snapshot"]["id"] == first.structured_content["snapshot"]["id"]
    assert again.structured_content["reused"] is True
    assert text_of(again).startswith("Reused the identical recent import")
    assert other.structured_content["snapshot"]["id"] != first.structured_content["snapshot"]["id"]
    assert len(sent(sim, "POST")) == 2


async def test_create_answered_500_is_sent_once_and_a_retry_checks_first(settings: Settings, mode: str) -> None:
    """A 500 on create is an error after one POST; the identical retry scans, then creates exactly one."""
    sim = Simulator(faults=Faults(fail_first=1, fail_status=500, fail_methods=frozenset({"POST"})))
    async with connect(settings, sim, mode=mode) as client:
        failed = await client.call_tool("create_snapshot_from_url", GOOD_BODY)
        assert_error_result(failed, "500", "may have started")
        assert len(sent(sim, "POST")) == 1
        retried = await client.call_tool("create_snapshot_from_url", GOOD_BODY)
    assert not retried.is_error, text_of(retried)
    methods = [r.method for r in sim.requests]
    assert methods == ["POST", "GET", "POST"]
    assert sim.requests[1].path == PREFIX
    assert [s["name"] for s in sim.snapshots.values()].count(GOOD_BODY["name"]) == 1


async def test_create_whose_answer_was_lost_is_not_duplicated(settings: Settings, mode: str) -> None:
    """The API created it but the answer was lost: the retry finds that snapshot; one POST in all."""
    sim = Simulator(faults=Faults(read_timeout_first=1, fail_methods=frozenset({"POST"})))
    async with connect(settings, sim, mode=mode) as client:
        failed = await client.call_tool("create_snapshot_from_url", GOOD_BODY)
        assert_error_result(failed, "did not answer in time", "list_snapshots")
        [made] = [sid for sid, s in sim.snapshots.items() if s["name"] == GOOD_BODY["name"]]
        retried = await client.call_tool("create_snapshot_from_url", GOOD_BODY)
    assert not retried.is_error, text_of(retried)
    assert retried.structured_content is not None
    assert retried.structured_content["snapshot"]["id"] == made
    assert retried.structured_content["reused"] is True
    assert len(sent(sim, "POST")) == 1


async def test_create_is_not_retried_on_503(settings: Settings, mode: str) -> None:
    """A 503 on create is not re-sent (the API may have acted): one POST, an error result."""
    sim = Simulator(faults=Faults(fail_first=1000, fail_methods=frozenset({"POST"})))
    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool("create_snapshot_from_url", GOOD_BODY)
    assert_error_result(result, "503")
    assert len(sent(sim, "POST")) == 1


async def test_create_is_retried_on_429(settings: Settings, mode: str) -> None:
    """A 429 on create cannot have acted: it is retried, and one snapshot is made."""
    sim = Simulator(faults=Faults(fail_first=1, fail_status=429, retry_after=0.01, fail_methods=frozenset({"POST"})))
    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool("create_snapshot_from_url", GOOD_BODY)
    assert not result.is_error, text_of(result)
    assert len(sent(sim, "POST")) == 2
    assert [s["name"] for s in sim.snapshots.values()].count(GOOD_BODY["name"]) == 1
