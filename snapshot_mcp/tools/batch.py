"""Deleting several snapshots with one confirmation that lists every one of them completely.

A set with duplicates or an unknown id is refused before anybody is asked. The
session's channel asks once for the whole set (the card lets the person untick some;
the form and the token cover the whole set); only the confirmed snapshots are deleted,
each at most once, and the result reports each id's outcome.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections import Counter
from collections.abc import Sequence
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult
from pydantic import Field

from snapshot_mcp import messages
from snapshot_mcp.confirm import Approved, Channel, DeletionCall, Refused, Replied, audit
from snapshot_mcp.confirm.outcomes import SnapshotOutcome, accepted, delete_each
from snapshot_mcp.confirm.requests import DeletionRequest
from snapshot_mcp.declaration import CHANGES, ToolDeclaration
from snapshot_mcp.errors import NotFound, SnapshotMCPError
from snapshot_mcp.models import Snapshot, SnapshotId
from snapshot_mcp.settings import Settings
from snapshot_mcp.state import app_state
from snapshot_mcp.views import (
    BatchDeleteResult,
    DeletedItem,
    ResultOutcome,
    batch_delete_result,
    batch_text,
    tool_result,
)

from .deleting import InBrowser, Token, ask_channel, deleted_earlier, ladder_hints, nobody_can_ask, preferred, refusal

MAX_BATCH = 25
SnapshotIds = Annotated[
    list[SnapshotId], Field(min_length=1, max_length=MAX_BATCH, description="1 to 25 distinct snapshot ids")
]
BatchDeleteAnswer = Annotated[CallToolResult, BatchDeleteResult] | InputRequiredResult


async def delete_snapshots(
    ctx: Context[Any, Any], snapshot_ids: SnapshotIds, ask_in_browser: InBrowser = False
) -> BatchDeleteAnswer:
    return await _delete_many(ctx, snapshot_ids, None, ask_in_browser)


async def delete_snapshots_with_token(
    ctx: Context[Any, Any],
    snapshot_ids: SnapshotIds,
    confirmation_token: Token = None,
    ask_in_browser: InBrowser = False,
) -> BatchDeleteAnswer:
    return await _delete_many(ctx, snapshot_ids, confirmation_token, ask_in_browser)


async def _delete_many(
    ctx: Context[Any, Any], snapshot_ids: list[str], token: str | None, ask_in_browser: bool
) -> BatchDeleteAnswer:
    state = app_state(ctx)
    deadline = time.monotonic() + state.settings.call_timeout
    twice = sorted(sid for sid, n in Counter(snapshot_ids).items() if n > 1)
    if twice:
        raise ToolError(_named_twice(twice))
    channel = state.ladder.choose(ctx, preferred(ask_in_browser))
    snapshots = await _fetch_all(ctx, channel, snapshot_ids)
    if isinstance(snapshots, CallToolResult):
        return snapshots
    if channel is None:
        return nobody_can_ask(ctx, DELETE_SNAPSHOTS.name, tuple(snapshot_ids))
    call = DeletionCall(ctx, DELETE_SNAPSHOTS.name, snapshots, deadline, token, report=batch_delete_result)
    verdict = await ask_channel(channel, call)
    if isinstance(verdict, Replied):
        return verdict.result
    if isinstance(verdict, Refused):
        return refusal(call, verdict)
    assert isinstance(verdict, Approved)
    return await _perform(call, channel, verdict)


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
            audit(
                DELETE_SNAPSHOTS.name,
                tuple(snapshot_ids),
                channel=_name(channel),
                outcome="error",
                detail=type(exc).__name__,
            )
            raise
    if not unknown:
        return tuple(found)
    earlier = await deleted_earlier(ctx, unknown)
    if len(earlier) < len(unknown):
        audit(DELETE_SNAPSHOTS.name, tuple(snapshot_ids), channel=_name(channel), outcome="error", detail="NotFound")
        raise ToolError(_unknown_ids([sid for sid in unknown if sid not in earlier]))
    if found:
        audit(
            DELETE_SNAPSHOTS.name,
            tuple(snapshot_ids),
            channel=_name(channel),
            outcome="refused",
            detail="deleted_earlier",
        )
        raise ToolError(messages.confirmed_earlier_in_set(unknown))
    return _reported_earlier(earlier)


def _reported_earlier(earlier: dict[str, DeletionRequest]) -> CallToolResult:
    """Every snapshot of the call was deleted after a person's decision: say so, per id."""
    first = next(iter(earlier.values()))
    audit(DELETE_SNAPSHOTS.name, tuple(earlier), channel=first.face or "card", outcome="reported_deleted")
    message = messages.confirmed_earlier(first.face, first.id)
    result = BatchDeleteResult(
        outcome="deleted",
        deleted=len(earlier),
        results=[DeletedItem(snapshot_id=sid, outcome="deleted") for sid in earlier],
        message=message,
        request_id=first.id,
    )
    return tool_result(batch_text(result), result)


def _named_twice(snapshot_ids: Sequence[str]) -> str:
    return f"Nothing was asked or deleted: snapshot_ids names {', '.join(snapshot_ids)} more than once."


def _unknown_ids(snapshot_ids: Sequence[str]) -> str:
    return (
        f"Nothing was asked or deleted: no snapshot {', '.join(snapshot_ids)} (deleted already?). "
        "Use list_snapshots to find ids, then call again with existing ones."
    )


def _name(channel: Channel | None) -> str:
    return "-" if channel is None else channel.name


async def _perform(call: DeletionCall, channel: Channel, approved: Approved) -> CallToolResult:
    """Delete the approved snapshots, each at most once (if still as shown, when asked to re-read); report each id."""

    def audited(snapshot: Snapshot, outcome: SnapshotOutcome) -> None:
        channel.audit(dataclasses.replace(call, snapshots=(snapshot,)), outcome.kind, outcome.error or "")

    chosen = {snapshot.id for snapshot in approved.snapshots}
    ops = app_state(call.ctx).ops
    outcomes = await delete_each(
        ops, call.snapshots, chosen, audited, tool=call.tool, channel=channel.name, reread=approved.reread
    )
    done = accepted(outcomes)
    outcome: ResultOutcome = "deleting" if done == len(chosen) else "failed" if done == 0 else "partial"
    if all(outcomes[snapshot_id].kind == "changed" for snapshot_id in chosen):
        outcome = "changed"
    each = {snapshot_id: value.text() for snapshot_id, value in outcomes.items()}
    message = messages.batch_done(done, len(call.snapshots))
    result = batch_delete_result(call.snapshots, outcome, message, accepted=done, each=each)
    return tool_result(batch_text(result), result)


def _delete_snapshots_description(settings: Settings, browser: bool = False) -> str:
    """The description for the confirmation ladder the operator chose (`browser`: its rung can open here)."""
    if tuple(settings.ladder) == ("unconfirmed",):
        return "Use this to delete up to 25 snapshots permanently (no confirmation). Reports each id's outcome."
    text = (
        "Use this to delete up to 25 snapshots permanently, with one confirmation listing them all; only the ones "
        "the user confirms go. Reports each id's outcome."
    )
    return text + ladder_hints(settings.ladder, browser)


DELETE_SNAPSHOTS = ToolDeclaration(
    name="delete_snapshots",
    title="Delete several snapshots",
    description=_delete_snapshots_description,
    in_browser=functools.partial(_delete_snapshots_description, browser=True),
    handler=delete_snapshots,
    with_token=delete_snapshots_with_token,
    links_card=True,
    annotations=CHANGES,
    scope="snapshots:delete",
    store_down=messages.STORE_DOWN_DELETE,
)
