"""`confirm.token`: the token channel: a preview issues a token bound to the server's key, the session,
the snapshot and its state; a second call deletes with it, once, before it expires.
"""

from __future__ import annotations

from typing import Any

import pytest

from snapshot_mcp.confirm import TOKEN_TTL_SECONDS, ConfirmationTokens, TokenError
from snapshot_mcp.models import Snapshot
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Faults, Simulator
from snapshot_mcp.store import MemoryStore
from tests.support import (
    OTHER_SEED_ID,
    SEED_ID,
    SEED_PATH,
    UNKNOWN_ID,
    Asker,
    AuditLines,
    VirtualClock,
    connect,
    delete_paths,
    one_audit_line,
    policy,
    structured,
    text_of,
)

# -- policy token ----------------------------------------------------------------------


async def test_token_first_call_previews_and_deletes_nothing(
    settings: Settings, sim: Simulator, mode: str, audit: AuditLines
) -> None:
    """The first call returns a preview naming the snapshot and a token; nothing is deleted."""
    asker = Asker()
    async with connect(policy(settings, "token"), sim, mode=mode, elicit=asker) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert not result.is_error
    data = structured(result)
    token = data["confirmation_token"]
    assert isinstance(token, str)
    assert len(token) > 20
    assert (data["outcome"], data["deleted"]) == ("confirmation_required", False)
    assert "ubuntu-22.04-cuda-12.4" in data["message"]
    assert "64 GiB" in data["message"]
    assert token in text_of(result)
    assert delete_paths(sim) == []
    assert asker.asked == []
    line = one_audit_line(audit, "token_issued")
    assert token not in line
    assert "channel=token" in line


async def _preview(client: Any, snapshot_id: str = SEED_ID) -> str:
    result = await client.call_tool("delete_snapshot", {"snapshot_id": snapshot_id})
    token = structured(result)["confirmation_token"]
    assert isinstance(token, str)
    return token


async def test_token_second_call_deletes_once_and_the_token_is_single_use(
    settings: Settings, sim: Simulator, mode: str, audit: AuditLines
) -> None:
    """The token deletes once; the same token again is refused and sends nothing."""
    async with connect(policy(settings, "token"), sim, mode=mode) as client:
        token = await _preview(client)
        first = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": token})
        again = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": token})
    assert not first.is_error, text_of(first)
    assert (structured(first)["outcome"], structured(first)["deleted"]) == ("deleting", True)
    assert again.is_error
    assert "already used" in text_of(again)
    assert delete_paths(sim) == [SEED_PATH]
    assert [line.split(" outcome=")[1].split()[0] for line in audit.lines] == ["token_issued", "deleting", "refused"]
    assert not any(token in line for line in audit.lines)


async def test_token_for_another_snapshot_is_refused(settings: Settings, sim: Simulator, mode: str) -> None:
    """A token issued for one snapshot does not delete another."""
    async with connect(policy(settings, "token"), sim, mode=mode) as client:
        token = await _preview(client, OTHER_SEED_ID)
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": token})
    assert result.is_error
    assert "another snapshot" in text_of(result)
    assert delete_paths(sim) == []


@pytest.mark.parametrize(("field", "value"), [("name", "renamed"), ("size", 65), ("status", "error")])
async def test_token_for_a_changed_snapshot_is_refused(
    settings: Settings, sim: Simulator, mode: str, field: str, value: Any
) -> None:
    """If the snapshot changed after the preview, its token is refused."""
    async with connect(policy(settings, "token"), sim, mode=mode) as client:
        token = await _preview(client)
        sim.snapshots[SEED_ID][field] = value
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": token})
    assert result.is_error
    assert "changed" in text_of(result)
    assert delete_paths(sim) == []


def _foreign_token(sim: Simulator) -> str:
    """A well-formed token signed by another server's key."""
    return ConfirmationTokens(MemoryStore(), b"another server").issue(
        [Snapshot.model_validate(sim.snapshots[SEED_ID])], "local"
    )


@pytest.mark.parametrize(
    "make_token",
    [
        lambda sim, token: "garbage",
        lambda sim, token: "",
        lambda sim, token: "a.b",
        lambda sim, token: token[:-1] + ("0" if token[-1] != "0" else "1"),
        lambda sim, token: "e30." + token.partition(".")[2],
        lambda sim, token: _foreign_token(sim),
        lambda sim, token: token + token,
    ],
    ids=["garbage", "empty", "dotted", "bad-signature", "forged-body", "other-server", "doubled"],
)
async def test_garbage_tokens_are_refused(settings: Settings, sim: Simulator, mode: str, make_token: Any) -> None:
    """Malformed, tampered or foreign tokens are refused and delete nothing."""
    async with connect(policy(settings, "token"), sim, mode=mode) as client:
        token = await _preview(client)
        result = await client.call_tool(
            "delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": make_token(sim, token)}
        )
    assert result.is_error
    assert "Not deleted" in text_of(result)
    assert delete_paths(sim) == []


async def test_overlong_token_is_rejected_before_any_request(settings: Settings, sim: Simulator) -> None:
    """A token longer than 512 characters fails argument validation: no request at all."""
    async with connect(policy(settings, "token"), sim) as client:
        result = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": "x" * 513})
    assert result.is_error
    assert sim.requests == []


# -- confirmation tokens, unit -----------------------------------------------------------


def _snapshot(**changes: Any) -> Snapshot:
    return Snapshot.model_validate(
        {"id": SEED_ID, "name": "n", "size": 1, "region": "NORD-NO-KRS-1", "status": "created", **changes}
    )


@pytest.mark.parametrize(
    ("elapsed", "accepted"), [(0.0, True), (TOKEN_TTL_SECONDS - 1, True), (TOKEN_TTL_SECONDS, False), (1e6, False)]
)
async def test_tokens_expire(elapsed: float, accepted: bool) -> None:
    """A token is accepted until its time-to-live has passed, never after."""
    clock = VirtualClock(start=1_000_000.0)
    tokens = ConfirmationTokens(MemoryStore(), b"k", clock=clock)
    token = tokens.issue([_snapshot()], "s")
    clock.now += elapsed
    if accepted:
        await tokens.redeem(token, [_snapshot()], "s")
    else:
        with pytest.raises(TokenError, match="expired"):
            await tokens.redeem(token, [_snapshot()], "s")


@pytest.mark.parametrize(
    ("snapshot", "session", "key", "reason"),
    [
        (_snapshot(), "other session", b"k", "another session"),
        (_snapshot(), "s", b"other key", "not valid"),
        (_snapshot(id=UNKNOWN_ID), "s", b"k", "another snapshot"),
        (_snapshot(name="m"), "s", b"k", "changed"),
        (_snapshot(updated_at="2026-01-01T00:00:00Z"), "s", b"k", "changed"),
    ],
)
async def test_tokens_are_bound(snapshot: Snapshot, session: str, key: bytes, reason: str) -> None:
    """A token is bound to its server's key, the session, the snapshot and its state."""
    token = ConfirmationTokens(MemoryStore(), b"k").issue([_snapshot()], "s")
    with pytest.raises(TokenError, match=reason) as caught:
        await ConfirmationTokens(MemoryStore(), key).redeem(token, [snapshot], session)
    assert token not in str(caught.value)


async def test_a_used_token_is_remembered() -> None:
    """Redeeming twice fails the second time."""
    tokens = ConfirmationTokens(MemoryStore(), b"k")
    token = tokens.issue([_snapshot()], "s")
    await tokens.redeem(token, [_snapshot()], "s")
    with pytest.raises(TokenError, match="already used"):
        await tokens.redeem(token, [_snapshot()], "s")


async def test_a_token_whose_delete_failed_cannot_be_used_again(settings: Settings, mode: str) -> None:
    """Issue 12, item 12: the DELETE fails (the API refuses); the same token is then refused, nothing more is sent."""
    sim = Simulator(faults=Faults(fail_first=1000, fail_status=409, fail_methods=frozenset({"DELETE"})))
    async with connect(policy(settings, "token"), sim, mode=mode) as client:
        token = await _preview(client)
        failed = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": token})
        sim.faults.fail_first = 0
        again = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": token})
    assert failed.is_error
    assert again.is_error
    assert "already used" in text_of(again)
    assert delete_paths(sim) == [SEED_PATH]
