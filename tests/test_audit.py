"""The audit trail: one JSON line per record in `--audit-file`, and no DELETE that it does not show first.

Over stdio (here: in memory) nobody is named; who asked comes from an OAuth token,
checked here through the app `build_http_app` serves (and against a real identity
provider in campaigns/test_identity_provider.py).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any

import pytest
from mcp.types import CallToolResult

from snapshot_mcp.audit import AuditFile, AuditRecord, AuditScope, AuditUnavailable
from snapshot_mcp.confirm.card import CONFIRMATION_META
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator
from tests.support import (
    OTHER_SEED_ID,
    SEED_ID,
    Asker,
    accept,
    audit_lines,
    connect,
    deleted_ids,
    text_of,
)
from tests.support.oauth import (
    Legacy,
    LocalIssuer,
    message_of,
    oauth_app,
    oauth_settings,
)


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_each_record_is_one_json_line_and_the_approval_comes_before_the_delete(
    settings: Settings, sim: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "audit.jsonl"
    configured = settings.model_copy(update={"audit_file": str(path), "confirm_channels": ("form",)})
    with audit_lines() as audit:
        async with connect(configured, sim, elicit=Asker(accept(confirm=True))) as client:
            result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert not result.is_error, text_of(result)
    written = records(path)
    assert [r["outcome"] for r in written] == ["approved", "deleting"]
    assert [line.split(" outcome=")[1] for line in audit.lines] == ["deleting"]  # stderr: one line per attempt
    assert all((r["tool"], r["channel"], r["snapshot_ids"]) == ("delete_snapshot", "form", [SEED_ID]) for r in written)
    assert all(r["subject"] is None and r["client"] is None and r["request_id"] for r in written)
    assert written[0]["time"].endswith("Z")
    assert written[0]["time"] <= written[1]["time"]
    assert deleted_ids(sim) == [SEED_ID]


def _gone(path: Path) -> None:
    shutil.rmtree(path.parent)


@pytest.mark.parametrize("tool", ["delete_snapshot", "delete_snapshots"])
async def test_no_delete_is_sent_when_the_approval_cannot_be_written(
    settings: Settings, sim: Simulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, tool: str
) -> None:
    """The audit file's directory vanished after the start: nothing is deleted, and the log says why."""
    path = tmp_path / "logs" / "audit.jsonl"
    path.parent.mkdir()
    configured = settings.model_copy(update={"audit_file": str(path), "delete_confirmation": "none"})
    arguments: dict[str, Any] = (
        {"snapshot_id": SEED_ID} if tool == "delete_snapshot" else {"snapshot_ids": [SEED_ID, OTHER_SEED_ID]}
    )
    with audit_lines() as audit, caplog.at_level(logging.ERROR, logger="snapshot_mcp"):
        async with connect(configured, sim) as client:
            _gone(path)
            result: CallToolResult = await client.call_tool(tool, arguments)
    assert deleted_ids(sim) == []
    assert result.is_error
    assert "audit file cannot be written, so the delete was not sent" in text_of(result)
    assert "nothing deleted: the approved delete" in caplog.text
    assert [line.split(" outcome=")[1] for line in audit.lines] == ['refused detail="AuditUnavailable"']


async def test_a_card_click_sends_no_delete_when_the_approval_cannot_be_written(
    settings: Settings, sim: Simulator, tmp_path: Path
) -> None:
    path = tmp_path / "logs" / "audit.jsonl"
    path.parent.mkdir()
    configured = settings.model_copy(update={"audit_file": str(path)})
    async with connect(configured, sim, apps=True) as client:
        asked = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
        meta = (asked.meta or {})[CONFIRMATION_META]
        _gone(path)
        args = {"request_id": meta["request_id"], "nonce": meta["nonce"], "decision": "delete"}
        clicked = await client.call_tool("confirm_deletion", args)
    assert deleted_ids(sim) == []
    assert clicked.is_error
    assert "audit file cannot be written, so the delete was not sent" in text_of(clicked)


def test_the_file_check_and_record_shapes(tmp_path: Path) -> None:
    with pytest.raises(AuditUnavailable, match="does not exist"):
        AuditFile(tmp_path / "missing" / "a.jsonl").check()
    file = AuditFile(tmp_path / "a.jsonl")
    file.check()
    record = AuditRecord("2026-01-01T00:00:00.000Z", "delete_snapshot", ("a", "b"), "card", "kept", "", "u", "c", "7")
    file.append(record)
    assert records(tmp_path / "a.jsonl") == [
        {
            "time": "2026-01-01T00:00:00.000Z",
            "tool": "delete_snapshot",
            "snapshot_ids": ["a", "b"],
            "channel": "card",
            "outcome": "kept",
            "detail": "",
            "subject": "u",
            "client": "c",
            "request_id": "7",
        }
    ]
    assert (
        record.line()
        == 'audit tool=delete_snapshot snapshot_id=["a", "b"] channel=card subject="u" client="c" outcome=kept'
    )


def test_the_request_scope_is_in_the_chain_only_with_an_audit_file(settings: Settings, tmp_path: Path) -> None:
    """The stderr line needs no request id: without --audit-file the scope is left out, not passed through."""
    plain = build_server(settings)
    filed = build_server(settings.model_copy(update={"audit_file": str(tmp_path / "audit.jsonl")}))
    assert not any(isinstance(layer, AuditScope) for layer in plain.middleware)
    assert sum(isinstance(layer, AuditScope) for layer in filed.middleware) == 1


# -- who did it -----------------------------------------------------------------------


async def test_the_audit_line_and_file_name_the_subject_and_client(sim: Simulator, tmp_path: Path) -> None:
    """A delete with the token channel: each record carries sub and client; `approved` precedes the DELETE."""

    audit_file = tmp_path / "audit.jsonl"
    settings = oauth_settings(delete_confirmation="token", audit_file=str(audit_file))
    issuer = LocalIssuer()
    with audit_lines() as audit:
        async with oauth_app(issuer, sim, settings) as client:
            session = await Legacy(client, issuer.token(sub="alice", client_id="claude-code")).open()
            preview = message_of(await session.call("delete_snapshot", {"snapshot_id": SEED_ID}))["result"]
            token = preview["structuredContent"]["confirmation_token"]
            done = await session.call("delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": token})
    assert message_of(done)["result"]["structuredContent"]["deleted"] is True
    assert [line.split(" outcome=")[1] for line in audit.lines] == ["token_issued", "deleting"]
    assert all('subject="alice" client="claude-code"' in line for line in audit.lines)
    records = [json.loads(line) for line in audit_file.read_text().splitlines()]
    assert [r["outcome"] for r in records] == ["token_issued", "approved", "deleting"]
    assert {(r["subject"], r["client"], r["channel"]) for r in records} == {("alice", "claude-code", "token")}
    assert all(r["snapshot_ids"] == [SEED_ID] and r["request_id"] for r in records)
    assert set(records[0]) == {
        "time", "tool", "snapshot_ids", "channel", "outcome", "detail", "subject", "client", "request_id"
    }  # fmt: skip
    assert token not in audit_file.read_text()
