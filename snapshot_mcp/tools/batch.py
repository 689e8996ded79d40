"""Deleting several snapshots with one confirmation that lists every one of them completely.

A set with duplicates or an unknown id is refused before anybody is asked. The
session's channel asks once for the whole set (the card lets the person untick some;
the form and the token cover the whole set); only the confirmed snapshots are deleted,
each at most once, and the result reports each id's outcome.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult
from pydantic import Field

from snapshot_mcp import messages
from snapshot_mcp.audit import record_approval
from snapshot_mcp.confirm import Approved, Channel, DeletionCall, Refused, Replied, audit
from snapshot_mcp.declaration import CHANGES, ToolDeclaration
from snapshot_mcp.errors import NotFound, SnapshotMCPError
from snapshot_mcp.models import Snapshot, SnapshotId
from snapshot_mcp.settings import Settings
from snapshot_mcp.state import app_state
from snapshot_mcp.views import (
    BATCH_TOOL,
    BatchDeleteResult,
    DeletedItem,
    DeleteOutcome,
    batch_text,
    delete_result,
    tool_result,
)

from .deleting import Token, channel_verdict, ladder_hints, nobody_can_ask

MAX_BATCH = 25
SnapshotIds = Annotated[
    list[SnapshotId], Field(min_length=1, max_length=MAX_BATCH, description="1 to 25 distinct snapshot ids")
]
BatchDeleteAnswer = Annotated[CallToolResult, BatchDeleteResult] | InputRequiredResult


async def delete_snapshots(ctx: Context[Any, Any], snapshot_ids: SnapshotIds) -> BatchDeleteAnswer:
    return await _delete_many(ctx, snapshot_ids, None)


async def delete_snapshots_with_token(
    ctx: Context[Any, Any], snapshot_ids: SnapshotIds, confirmation_token: Token = None
) -> BatchDeleteAnswer:
    return await _delete_many(ctx, snapshot_ids, confirmation_token)


async def _delete_many(ctx: Context[Any, Any], snapshot_ids: list[str], token: str | None) -> BatchDeleteAnswer:
    state = app_state(ctx)
    deadline = time.monotonic() + state.settings.call_timeout
    twice = sorted(sid for sid, n in Counter(snapshot_ids).items() if n > 1)
    if twice:
        raise ToolError(_named_twice(twice))
    channel = state.ladder.choose(ctx)
    snapshots = await _fetch_all(ctx, channel, snapshot_ids)
    if channel is None:
        return nobody_can_ask(ctx, BATCH_TOOL, tuple(snapshot_ids))
    call = DeletionCall(ctx, BATCH_TOOL, snapshots, deadline, token)
    verdict = await channel_verdict(channel, call)
    if isinstance(verdict, Replied):
        return verdict.result
    if isinstance(verdict, Refused):
        if verdict.error:
            raise ToolError(verdict.message)
        result = delete_result(BATCH_TOOL, snapshots, cast(DeleteOutcome, verdict.outcome), verdict.message)
        return tool_result(messages.not_deleted(verdict.outcome, verdict.message), result)
    assert isinstance(verdict, Approved)
    return await _perform(call, channel, verdict.snapshots)


async def _fetch_all(ctx: Context[Any, Any], channel: Channel | None, snapshot_ids: list[str]) -> tuple[Snapshot, ...]:
    """Every snapshot as the API shows it now; an unknown id refuses the whole set, nobody asked."""
    ops = app_state(ctx).ops
    found: list[Snapshot] = []
    unknown: list[str] = []
    for snapshot_id in snapshot_ids:
        try:
            found.append(await ops.get(snapshot_id))
        except NotFound:
            unknown.append(snapshot_id)
        except SnapshotMCPError as exc:
            audit(BATCH_TOOL, tuple(snapshot_ids), channel=_name(channel), outcome="error", detail=type(exc).__name__)
            raise
    if unknown:
        audit(BATCH_TOOL, tuple(snapshot_ids), channel=_name(channel), outcome="error", detail="NotFound")
        raise ToolError(_unknown_ids(unknown))
    return tuple(found)


def _named_twice(snapshot_ids: Sequence[str]) -> str:
    return f"Nothing was asked or deleted: snapshot_ids names {', '.join(snapshot_ids)} more than once."


def _unknown_ids(snapshot_ids: Sequence[str]) -> str:
    return (
        f"Nothing was asked or deleted: no snapshot {', '.join(snapshot_ids)} (deleted already?). "
        "Use list_snapshots to find ids, then call again with existing ones."
    )


def _name(channel: Channel | None) -> str:
    return "-" if channel is None else channel.name


async def _perform(call: DeletionCall, channel: Channel, approved: tuple[Snapshot, ...]) -> CallToolResult:
    """Delete the approved snapshots, each at most once; report every id of the call."""
    ops = app_state(call.ctx).ops
    chosen = {snapshot.id for snapshot in approved}
    outcomes: dict[str, str] = {}
    for snapshot in call.snapshots:
        if snapshot.id not in chosen:
            outcomes[snapshot.id] = "kept"
            continue
        try:
            record_approval(call.tool, (snapshot.id,), channel=channel.name)
            outcomes[snapshot.id] = await ops.delete(snapshot, wait=False, progress=None)
        except SnapshotMCPError as exc:
            outcomes[snapshot.id] = f"failed: {DELETE_SNAPSHOTS.error_text(exc, snapshot.id)}"
        channel.audit(dataclasses.replace(call, snapshots=(snapshot,)), outcomes[snapshot.id].split(":")[0])
    accepted = sum(outcome in ("deleting", "already_deleting") for outcome in outcomes.values())
    outcome: DeleteOutcome = "deleting" if accepted == len(chosen) else "failed" if accepted == 0 else "partial"
    result = BatchDeleteResult(
        outcome=outcome,
        deleted=accepted,
        results=[DeletedItem(snapshot_id=sid, outcome=value) for sid, value in outcomes.items()],
        message=messages.batch_done(accepted, len(call.snapshots)),
        total_size=sum(s.size or 0 for s in call.snapshots),
    )
    return tool_result(batch_text(result), result)


def _delete_snapshots_description(settings: Settings) -> str:
    """The description for the confirmation ladder the operator chose."""
    if tuple(settings.ladder) == ("unconfirmed",):
        return "Use this to delete up to 25 snapshots permanently (no confirmation). Reports each id's outcome."
    text = (
        "Use this to delete up to 25 snapshots permanently, with one confirmation listing them all; only those "
        "the user confirms are deleted. Reports each id's outcome."
    )
    return text + ladder_hints(settings.ladder)


DELETE_SNAPSHOTS = ToolDeclaration(
    name="delete_snapshots",
    title="Delete several snapshots",
    description=_delete_snapshots_description,
    handler=delete_snapshots,
    with_token=delete_snapshots_with_token,
    links_card=True,
    annotations=CHANGES,
    scope="snapshots:delete",
    store_down=messages.STORE_DOWN_DELETE,
)
