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
from typing import Annotated, Any, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult
from pydantic import Field

from snapshot_mcp import messages
from snapshot_mcp.confirm import Approved, Channel, DeletionCall, Refused, Replied, audit
from snapshot_mcp.confirm.requests import DeletionRequest
from snapshot_mcp.errors import NotFound, SnapshotMCPError
from snapshot_mcp.models import Snapshot, SnapshotId
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

from .common import tool_error
from .deleting import Token, deleted_earlier, judge, nobody_can_ask

MAX_BATCH = 25
SnapshotIds = Annotated[list[SnapshotId], Field(min_length=1, max_length=MAX_BATCH, description=messages.SNAPSHOT_IDS)]
Answer = Annotated[CallToolResult, BatchDeleteResult] | InputRequiredResult


async def delete_snapshots(ctx: Context[Any, Any], snapshot_ids: SnapshotIds) -> Answer:
    return await _delete_many(ctx, snapshot_ids, None)


async def delete_snapshots_with_token(
    ctx: Context[Any, Any], snapshot_ids: SnapshotIds, confirmation_token: Token = None
) -> Answer:
    return await _delete_many(ctx, snapshot_ids, confirmation_token)


async def _delete_many(ctx: Context[Any, Any], snapshot_ids: list[str], token: str | None) -> Answer:
    state = app_state(ctx)
    deadline = time.monotonic() + state.settings.call_timeout
    twice = sorted(sid for sid, n in Counter(snapshot_ids).items() if n > 1)
    if twice:
        raise ToolError(messages.named_twice(twice))
    channel = state.ladder.choose(ctx)
    snapshots = await _fetch_all(ctx, channel, snapshot_ids)
    if isinstance(snapshots, CallToolResult):
        return snapshots
    if channel is None:
        return nobody_can_ask(ctx, BATCH_TOOL, tuple(snapshot_ids))
    call = DeletionCall(ctx, BATCH_TOOL, snapshots, deadline, token)
    verdict = await judge(channel, call)
    if isinstance(verdict, Replied):
        return verdict.result
    if isinstance(verdict, Refused):
        if verdict.error:
            raise ToolError(verdict.message)
        result = delete_result(BATCH_TOOL, snapshots, cast(DeleteOutcome, verdict.outcome), verdict.message)
        return tool_result(messages.not_deleted(verdict.outcome, verdict.message), result)
    assert isinstance(verdict, Approved)
    return await _perform(call, channel, verdict.snapshots)


async def _fetch_all(
    ctx: Context[Any, Any], channel: Channel | None, snapshot_ids: list[str]
) -> tuple[Snapshot, ...] | CallToolResult:
    """Every snapshot as the API shows it now; an unknown id refuses the whole set, nobody asked.

    Ids that are gone because a person's decision deleted them are reported as such: the whole
    set when every id is, otherwise a refusal that names them.
    """
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
            raise tool_error(exc, snapshot_id) from exc
    if not unknown:
        return tuple(found)
    earlier = await deleted_earlier(ctx, unknown)
    if len(earlier) < len(unknown):
        audit(BATCH_TOOL, tuple(snapshot_ids), channel=_name(channel), outcome="error", detail="NotFound")
        raise ToolError(messages.unknown_ids([sid for sid in unknown if sid not in earlier]))
    if found:
        audit(BATCH_TOOL, tuple(snapshot_ids), channel=_name(channel), outcome="refused", detail="deleted_earlier")
        raise ToolError(messages.confirmed_earlier_in_set(unknown))
    return _reported_earlier(earlier)


def _reported_earlier(earlier: dict[str, DeletionRequest]) -> CallToolResult:
    """Every snapshot of the call was deleted after a person's decision: say so, per id."""
    first = next(iter(earlier.values()))
    audit(BATCH_TOOL, tuple(earlier), channel=first.face or "card", outcome="reported_deleted")
    message = messages.confirmed_earlier(first.face, first.id)
    result = BatchDeleteResult(
        outcome="deleted",
        deleted=len(earlier),
        results=[DeletedItem(snapshot_id=sid, outcome="deleted") for sid in earlier],
        message=message,
        request_id=first.id,
    )
    return tool_result(batch_text(result), result)


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
            outcomes[snapshot.id] = await ops.delete(snapshot, wait=False, progress=None)
        except SnapshotMCPError as exc:
            outcomes[snapshot.id] = f"failed: {messages.error_text(exc, snapshot.id)}"
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
