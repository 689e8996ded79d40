"""confirm/ladder.py over stdio: each rung of `--confirm-channels`, in the real server process.

The in-memory tests (confirm/test_ladder.py, confirm/test_form.py, confirm/test_token.py,
confirm/test_card.py) hold the channels' rules. Here the installed `snapshot-mcp
--simulate` runs as a subprocess and the official client speaks to it over stdio, so
the rung the ladder picks comes from a real `initialize`: the elicitation capability
the client declares (by passing a callback) and the MCP Apps extension. What reached
the API is read from the server's stderr, where `--log-level DEBUG` writes one httpx
line per request, and where every delete attempt writes its audit line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.types import CallToolResult, ElicitResult

from tests.support import APPS, CONFIRMATION_META, MODES, OTHER_SEED_ID, SEED_ID, Asker, text_of
from tests.support.processes import ServerLog, base_env, stdio

pytestmark = pytest.mark.slow  # one server subprocess per test


@asynccontextmanager
async def rung(channels: str, log: ServerLog, *, mode: str = "auto", **client: Any) -> AsyncIterator[Client]:
    """`snapshot-mcp --simulate --confirm-channels <channels>` on stdio, its stderr into `log`."""
    args = ["--simulate", "--log-level", "DEBUG", "--confirm-channels", channels]
    with log.path.open("w") as errlog:
        async with stdio(args, base_env(), errlog, mode=mode, **client) as session:
            yield session
    assert "Traceback" not in log.path.read_text(encoding="utf-8")


@pytest.fixture
def log(tmp_path: Path) -> ServerLog:
    return ServerLog(tmp_path / "stderr.log")


async def status(client: Client, snapshot_id: str) -> str:
    """The snapshot's status as the API reports it now, or "gone"."""
    result = await client.call_tool("get_snapshot", {"snapshot_id": snapshot_id})
    if result.is_error:
        assert "Not found" in text_of(result), text_of(result)
        return "gone"
    assert result.structured_content is not None
    return str(result.structured_content["status"])


def outcome(result: CallToolResult) -> str:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return str(result.structured_content["outcome"])


async def test_token_rung_previews_first_and_deletes_with_the_token(log: ServerLog) -> None:
    """--confirm-channels token: a preview and a token, nothing deleted; the second call with it deletes."""
    async with rung("token", log) as client:
        preview = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        assert outcome(preview) == "confirmation_required"
        assert "ubuntu-22.04-cuda-12.4" in text_of(preview)
        assert await status(client, SEED_ID) == "created"
        assert preview.structured_content is not None
        token = preview.structured_content["confirmation_token"]
        done = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": token})
        assert outcome(done) == "deleting"
        assert await status(client, SEED_ID) in ("pending_delete", "deleting")
    assert log.deletes() == [SEED_ID]
    assert log.audit() == ["token_issued", "deleting"]


@pytest.mark.parametrize("mode", MODES)
async def test_form_rung_deletes_when_the_person_accepts(log: ServerLog, mode: str) -> None:
    """--confirm-channels form, a client that shows forms and says yes: asked once, naming it; deleted."""
    asker = Asker()
    async with rung("form", log, mode=mode, elicitation_callback=asker) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        assert outcome(result) == "deleting"
        assert await status(client, SEED_ID) in ("pending_delete", "deleting")
    assert [SEED_ID in question.message for question in asker.asked] == [True]
    assert log.deletes() == [SEED_ID]
    assert log.audit() == ["deleting"]


@pytest.mark.parametrize("mode", MODES)
async def test_form_rung_deletes_nothing_when_the_person_declines(log: ServerLog, mode: str) -> None:
    """--confirm-channels form, the person says no: declined, the snapshot stays, no DELETE sent."""
    asker = Asker(ElicitResult(action="decline"))
    async with rung("form", log, mode=mode, elicitation_callback=asker) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        assert outcome(result) == "declined"
        assert await status(client, SEED_ID) == "created"
    assert len(asker.asked) == 1
    assert log.deletes() == []
    assert log.audit() == ["declined"]


@pytest.mark.parametrize("mode", MODES)
async def test_card_rung_deletes_only_after_confirm_deletion(log: ServerLog, mode: str) -> None:
    """--confirm-channels card, a client declaring MCP Apps: awaiting_confirmation, nothing deleted until the click."""
    async with rung("card", log, mode=mode, extensions=[APPS]) as client:
        waiting = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        assert outcome(waiting) == "awaiting_confirmation"
        assert await status(client, SEED_ID) == "created"
        assert waiting.meta is not None
        request = waiting.meta[CONFIRMATION_META]
        click = {"request_id": request["request_id"], "nonce": request["nonce"], "decision": "delete"}
        decided = await client.call_tool("confirm_deletion", click)
        assert outcome(decided) == "deleted"
        assert await status(client, SEED_ID) in ("pending_delete", "deleting")
    assert log.deletes() == [SEED_ID]
    assert log.audit() == ["awaiting_confirmation", "deleting"]


async def test_form_rung_refuses_a_client_that_cannot_ask(log: ServerLog) -> None:
    """--confirm-channels form, a client without elicitation: refused with what to do; nothing deleted."""
    async with rung("form", log) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        assert result.is_error
        assert "Not deleted: this client can show neither" in text_of(result)
        assert await status(client, SEED_ID) == "created"
    assert log.deletes() == []
    assert log.audit() == ["refused"]


async def test_the_ladder_falls_through_to_the_first_rung_the_client_can_show(log: ServerLog) -> None:
    """card,form,token with a client declaring neither Apps nor elicitation: the token rung, for two at once."""
    ids = [SEED_ID, OTHER_SEED_ID]
    async with rung("card,form,token", log) as client:
        preview = await client.call_tool("delete_snapshots", {"snapshot_ids": ids})
        assert outcome(preview) == "confirmation_required"
        assert preview.structured_content is not None
        token = preview.structured_content["confirmation_token"]
        done = await client.call_tool("delete_snapshots", {"snapshot_ids": ids, "confirmation_token": token})
        assert outcome(done) == "deleting"
    assert sorted(log.deletes()) == sorted(ids)
