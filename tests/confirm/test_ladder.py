"""The confirmation ladder through the protocol: which channel each client gets, and what never deletes.

Per session: card → form → the operator's fallback (token, if enabled) → refuse, in the
operator's order, skipping a declared channel for clients named in the ignore lists.
Also here: the form's stricter answers, and every call answering within its budget.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from mcp.types import ElicitResult

from snapshot_mcp.settings import FORM_IGNORED_CLIENTS, Settings
from snapshot_mcp.simulator import Simulator
from tests.support import (
    OTHER_SEED_ID,
    SEED_ID,
    UNKNOWN_ID,
    Asker,
    accept,
    audit_lines,
    connect,
    fast,
    sent,
    text_of,
)


def outcome_of(result: Any) -> str:
    """The result's outcome, or its error text."""
    if result.is_error:
        return "error: " + text_of(result)
    data: dict[str, Any] = result.structured_content
    return str(data["outcome"])


def ladder(settings: Settings, *channels: str, **changes: Any) -> Settings:
    return fast(settings, confirm_channels=channels, **changes)


@pytest.mark.parametrize(
    ("channels", "apps", "form", "expected"),
    [
        (("card", "form"), True, True, "awaiting_confirmation"),
        (("card", "form"), True, False, "awaiting_confirmation"),
        (("card", "form"), False, True, "deleting"),
        (("form", "card"), True, True, "deleting"),
        (("card",), False, True, "error: Not deleted: this client can show neither"),
        (("card", "form", "token"), False, False, "confirmation_required"),
        (("token",), True, True, "confirmation_required"),
        (("form", "token"), True, False, "confirmation_required"),
        (("card", "form"), False, False, "error: Not deleted: this client can show neither"),
    ],
    ids=[
        "apps+form->card",
        "apps->card",
        "form->form",
        "operator-prefers-form",
        "card-only-refuses-a-form-client",
        "neither->token",
        "token-only",
        "form-first-without-form->token",
        "neither-without-token->refused",
    ],
)
async def test_each_client_gets_the_first_channel_it_can_show(
    settings: Settings,
    sim: Simulator,
    mode: str,
    channels: tuple[str, ...],
    apps: bool,
    form: bool,
    expected: str,
) -> None:
    """The rung is chosen from what the client declares, in the operator's order; nothing deletes unasked."""
    asker = Asker(accept(confirm=True)) if form else None
    async with connect(ladder(settings, *channels), sim, mode=mode, apps=apps, elicit=asker) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    got = outcome_of(result).replace("Error executing tool delete_snapshot: ", "")
    assert got.startswith(expected), got
    assert len(sent(sim, "DELETE")) == (1 if expected == "deleting" else 0)


@pytest.mark.parametrize(
    "name", ["claude-ai", "Anthropic/ClaudeAI", "CLAUDE-AI", "local-agent-mode-7f3e", "Local-Agent-Mode-x"]
)
async def test_form_is_not_offered_to_clients_that_declare_it_without_showing_it(
    settings: Settings, sim: Simulator, mode: str, name: str
) -> None:
    """Claude Desktop / claude.ai / Cowork declare elicitation but never show it: skipped, by name, any case."""
    asker = Asker(accept(confirm=True))
    async with connect(ladder(settings, "form", "token"), sim, mode=mode, elicit=asker, name=name) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert outcome_of(result) == "confirmation_required"
    assert asker.asked == []
    assert sent(sim, "DELETE") == []


async def test_the_same_form_client_under_another_name_is_asked(settings: Settings, sim: Simulator) -> None:
    """The ignore list matches names, not capabilities: claude-code is asked by form."""
    asker = Asker(accept(confirm=True))
    async with connect(ladder(settings, "form", "token"), sim, elicit=asker, name="claude-code") as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert outcome_of(result) == "deleting"
    assert len(asker.asked) == 1


async def test_the_operator_can_ignore_the_card_for_a_client(settings: Settings, sim: Simulator) -> None:
    """card_ignored_clients: an Apps client so named falls through to the form."""
    asker = Asker(accept(confirm=True))
    changed = ladder(settings, "card", "form", card_ignored_clients=("codex*",))
    async with connect(changed, sim, apps=True, elicit=asker, name="Codex-CLI") as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert outcome_of(result) == "deleting"
    assert len(asker.asked) == 1


def test_the_shipped_defaults_follow_the_field_reports() -> None:
    """Card, then form, then the browser; form ignored for Claude Desktop's, claude.ai's and Cowork's names;
    bounded waits."""
    defaults = Settings()
    assert defaults.confirm_channels == ("card", "form", "browser")
    assert defaults.form_ignored_clients == FORM_IGNORED_CLIENTS
    assert {"claude-ai", "anthropic/claudeai", "local-agent-mode-*"} <= set(FORM_IGNORED_CLIENTS)
    assert defaults.elicitation_timeout <= 45
    assert defaults.call_timeout <= 55
    assert defaults.wait_timeout <= defaults.call_timeout


@pytest.mark.parametrize(
    "content",
    [
        {},
        {"note": "accepted without the field"},
        {"confirm": "true"},
        {"confirm": 1},
        {"confirm": True, "targets": [OTHER_SEED_ID]},
        {"confirm": True, "ids": [SEED_ID, f" {UNKNOWN_ID.upper()} "]},
        {"confirm": True, OTHER_SEED_ID: "as a key"},
    ],
    ids=[
        "empty",
        "no-field",
        "string-true",
        "one",
        "list-of-other-id",
        "list-with-this-and-another",
        "other-id-as-key",
    ],
)
async def test_only_an_explicit_confirm_true_for_this_snapshot_deletes(
    settings: Settings, sim: Simulator, mode: str, content: dict[str, Any]
) -> None:
    """An accept without confirm: true, or naming another snapshot anywhere, is malformed: nothing deleted."""
    asker = Asker(ElicitResult(action="accept", content=content))
    async with connect(ladder(settings, "form"), sim, mode=mode, elicit=asker) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert outcome_of(result) == "malformed_answer"
    assert sent(sim, "DELETE") == []


async def test_the_form_carries_its_title_and_description_in_both_eras(
    settings: Settings, sim: Simulator, mode: str
) -> None:
    """Both eras: the field says what it confirms (title and description); confirm is required.

    The 2026-07-28 wire drops a schema's top-level title and description, so the field carries
    "Confirm deletion" itself; the 2025 form also keeps the top-level ones.
    """
    asker = Asker(ElicitResult(action="decline"))
    async with connect(ladder(settings, "form"), sim, mode=mode, elicit=asker) as client:
        await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    [question] = asker.asked
    schema = question.requested_schema  # type: ignore[union-attr]
    field = schema["properties"]["confirm"]
    assert field["type"] == "boolean"
    assert field["title"] == "Delete permanently"
    assert "Confirm deletion" in field["description"]
    assert schema["required"] == ["confirm"]
    if mode == "legacy":
        assert schema["title"] == "Confirm deletion"
        assert "cannot be undone" in schema["description"]


@pytest.mark.slow  # waits on real time by design
async def test_an_unanswered_question_ends_within_the_call_budget(settings: Settings, sim: Simulator) -> None:
    """2025 era: the client never answers; the call says timed_out before its budget, leaving room to delete."""
    never = anyio.Event()
    changed = ladder(settings, "form", elicitation_timeout=30.0, call_timeout=9.0)
    started = time.monotonic()
    with anyio.fail_after(8):
        async with connect(changed, sim, mode="legacy", elicit=Asker(block=never)) as client:
            result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    elapsed = time.monotonic() - started
    assert outcome_of(result) == "timed_out"
    assert "Nothing was deleted" in text_of(result)
    assert elapsed < changed.call_timeout - 5  # the question got what was left after the delete's reserve
    assert sent(sim, "DELETE") == []


@pytest.mark.slow  # waits on real time by design
async def test_a_wait_after_the_delete_gets_only_what_is_left_of_the_budget(settings: Settings, mode: str) -> None:
    """A snapshot that never disappears: wait=true returns deleting within the call's budget, not the wait's."""
    sim = Simulator(delete_polls=10_000)
    changed = fast(settings, delete_confirmation="none", call_timeout=1.5, wait_timeout=45.0)
    started = time.monotonic()
    with audit_lines():
        async with connect(changed, sim, mode=mode) as client:
            result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID, "wait": True})
    assert outcome_of(result) == "deleting"
    assert time.monotonic() - started < changed.call_timeout + 1.0
    assert len(sent(sim, "DELETE")) == 1
