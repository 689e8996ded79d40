"""A hostile or broken API: what it sends reaches the model and the person only cleaned and bounded.

Issue 12, items 1 and 6: a token the API echoes never leaves in a request or a
notification (not only in responses); names are normalised once where API data is
parsed (controls and bidi overrides escaped, shortened with a marker), and the id
and the facts come first in every question.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from mcp.types import ElicitResult
from pydantic import SecretStr

from snapshot_mcp.models import MAX_SHOWN_NAME, Snapshot
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator
from tests.support import SEED_ID, Asker, connect, text_of

CANARY = "canary-6f1e2d3c4b5a-never-leak"
HOSTILE_CHARACTERS = ["\x1b[31m", "\x00", "\x07", "\x08", "\u202e", "\u200b", "\ufeff", "\u2066", "\r\n"]


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


@pytest.mark.parametrize("character", HOSTILE_CHARACTERS, ids=repr)
def test_control_and_bidi_characters_are_escaped_where_api_data_is_parsed(character: str) -> None:
    """Item 6: ESC, NUL, BEL, backspace, RLO, zero-width, BOM, isolates: never raw in a parsed name."""
    snapshot = Snapshot.model_validate({"id": SEED_ID, "name": f"a{character}b", "status": f"created{character}"})
    for text in (snapshot.name.shown, snapshot.status):
        assert not any(ch in text for ch in character if not ch.isprintable())
        assert text.startswith(("a", "created"))


async def test_hostile_characters_reach_neither_list_nor_error_text(settings: Settings, sim: Simulator) -> None:
    """Item 6: the list text and an error naming the snapshot carry the escaped form only."""
    name = "evil" + "".join(HOSTILE_CHARACTERS)
    sim.add_snapshot(name=name, size=1, region="EUC-DE-MUC-1")
    async with connect(settings, sim) as client:
        listed = await client.call_tool("list_snapshots", {"name_contains": "evil"})
    structured = json.dumps(listed.structured_content, ensure_ascii=False)
    assert "\\u202e" in text_of(listed)
    for text in (text_of(listed), structured):
        assert all(ch not in text for ch in "\x1b\x00\x07\x08\u202e\u200b\ufeff\u2066")


@pytest.mark.slow  # a 200,000-character name through every layer
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_a_huge_name_cannot_push_the_id_out_of_sight(sim: Simulator, mode: str) -> None:
    """Item 6: a 200,000-character name is cut where parsed; the question's id line comes before it."""
    sim.snapshots[SEED_ID]["name"] = "A" * 200_000
    asker = Asker(ElicitResult(action="decline"))
    settings = Settings(token=SecretStr("sim-token-long-enough"), rate_limit=1e5, confirm_channels=("form",))
    async with connect(settings, sim, mode=mode, elicit=asker) as client:
        got = await client.call_tool("get_snapshot", {"snapshot_id": SEED_ID})
        await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    [question] = asker.asked
    lines = question.message.splitlines()
    assert lines[1].startswith(f"id {SEED_ID} · 64 GiB")
    assert lines[2].startswith('name "AAAA')
    assert "more characters]" in lines[2]
    assert len(question.message) < MAX_SHOWN_NAME + 300
    assert len(text_of(got)) < MAX_SHOWN_NAME + 300
    assert got.structured_content is not None
    assert len(got.structured_content["name"]) < MAX_SHOWN_NAME + 40


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
