"""The delete tool: fetch the snapshot, let the server's confirmation channel judge, delete once.

Two signatures, one behaviour: with the token channel the tool takes the
`confirmation_token` argument, with the others it does not (a model should not see
an argument that can never help). Which one is registered is wiring (`register`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult
from pydantic import Field

from snapshot_mcp import messages
from snapshot_mcp.confirm import Approved, Channel, ChannelVerdict, DeletionCall, Refused, Replied, audit
from snapshot_mcp.confirm.base import session_of
from snapshot_mcp.confirm.outcomes import delete_one
from snapshot_mcp.confirm.requests import DeletionRequest
from snapshot_mcp.errors import NotFound, SnapshotMCPError, StoreUnavailable
from snapshot_mcp.models import Snapshot, SnapshotId
from snapshot_mcp.state import app_state
from snapshot_mcp.views import DeleteResult, ResultOutcome, single_delete_result, tool_result

from .common import progress, tool_error

TOOL = "delete_snapshot"
WaitUntilGone = Annotated[bool, Field(description=messages.WAIT_DELETE)]
Token = Annotated[str | None, Field(max_length=512, description=messages.CONFIRMATION_TOKEN)]
InBrowser = bool
"""`ask_in_browser`: listed only where the browser channel is available (`server.HIDDEN_WITHOUT_BROWSER`);
the tool's description says when to use it."""
DeleteAnswer = Annotated[CallToolResult, DeleteResult] | InputRequiredResult

_DONE: dict[str, str] = {
    "deleting": messages.DELETING,
    "deleted": messages.DELETED,
    "already_deleting": messages.ALREADY_DELETING,
}


async def delete_snapshot(
    ctx: Context[Any, Any], snapshot_id: SnapshotId, wait: WaitUntilGone = False, ask_in_browser: InBrowser = False
) -> DeleteAnswer:
    return await _delete(ctx, snapshot_id, None, wait, ask_in_browser)


async def delete_snapshot_with_token(
    ctx: Context[Any, Any],
    snapshot_id: SnapshotId,
    confirmation_token: Token = None,
    wait: WaitUntilGone = False,
    ask_in_browser: InBrowser = False,
) -> DeleteAnswer:
    return await _delete(ctx, snapshot_id, confirmation_token, wait, ask_in_browser)


def preferred(ask_in_browser: bool) -> str | None:
    """The rung the call asks for: the browser when the person saw no card; else the ladder's choice."""
    return "browser" if ask_in_browser else None


async def _delete(
    ctx: Context[Any, Any], snapshot_id: str, token: str | None, wait: bool, ask_in_browser: bool
) -> DeleteAnswer:
    state = app_state(ctx)
    deadline = time.monotonic() + state.settings.call_timeout
    channel = state.ladder.choose(ctx, preferred(ask_in_browser))
    snapshot = await _fetch(ctx, channel, snapshot_id)
    if isinstance(snapshot, CallToolResult):
        return snapshot
    if channel is None:
        return nobody_can_ask(ctx, TOOL, (snapshot.id,))
    call = DeletionCall(ctx, TOOL, (snapshot,), deadline, token, report=single_delete_result)
    verdict = await ask_channel(channel, call)
    if isinstance(verdict, Replied):
        return verdict.result
    if isinstance(verdict, Refused):
        return refusal(call, verdict)
    assert isinstance(verdict, Approved)
    return await _perform(call, channel, wait)


async def ask_channel(channel: Channel, call: DeletionCall) -> ChannelVerdict:
    """The channel's verdict; without the shared store it keeps its records in, a refusal (fail closed)."""
    try:
        return await channel.confirm(call)
    except StoreUnavailable as exc:
        channel.audit(call, "refused", "StoreUnavailable")
        raise ToolError(messages.error_text(StoreUnavailable(messages.STORE_DOWN_DELETE))) from exc


def nobody_can_ask(ctx: Context[Any, Any], tool: str, snapshot_ids: tuple[str, ...]) -> NoReturn:
    """No rung of the ladder fits this client: refuse, saying what the user can do."""
    stateless_legacy = app_state(ctx).settings.stateless and ctx.client_capabilities is None
    detail = "stateless_legacy" if stateless_legacy else "no_channel"
    audit(tool, snapshot_ids, channel="-", outcome="refused", detail=detail)
    raise ToolError(messages.STATELESS_LEGACY if stateless_legacy else messages.NO_CHANNEL)


async def _fetch(ctx: Context[Any, Any], channel: Channel | None, snapshot_id: str) -> Snapshot | CallToolResult:
    """The snapshot as the API shows it now; if it is gone because a person's decision deleted it, that report."""
    name = channel.name if channel is not None else "-"
    try:
        return await app_state(ctx).ops.get(snapshot_id)
    except NotFound as exc:
        earlier = (await deleted_earlier(ctx, (snapshot_id,))).get(snapshot_id)
        if earlier is None:
            audit(TOOL, (snapshot_id,), channel=name, outcome="error", detail="NotFound")
            raise tool_error(exc, snapshot_id) from exc
        audit(TOOL, (snapshot_id,), channel=earlier.face or name, outcome="reported_deleted")
        message = messages.confirmed_earlier(earlier.face, earlier.id)
        result = DeleteResult(
            snapshot_id=snapshot_id, outcome="deleted", deleted=True, message=message, request_id=earlier.id
        )
        return tool_result(messages.delete_text("deleted", message), result)
    except SnapshotMCPError as exc:
        audit(TOOL, (snapshot_id,), channel=name, outcome="error", detail=type(exc).__name__)
        raise tool_error(exc, snapshot_id) from exc


async def deleted_earlier(ctx: Context[Any, Any], snapshot_ids: Sequence[str]) -> dict[str, DeletionRequest]:
    """Which of these (gone) snapshots a person's decision in this session deleted, and through which request.

    Best effort: without the shared store nothing is remembered, and the call says "not found".
    """
    requests, session = app_state(ctx).requests, session_of(ctx)
    found: dict[str, DeletionRequest] = {}
    with contextlib.suppress(StoreUnavailable):
        for snapshot_id in snapshot_ids:
            request = await requests.remembered(session, snapshot_id)
            if request is not None:
                found[snapshot_id] = request
    return found


def refusal(call: DeletionCall, refused: Refused) -> CallToolResult:
    """A channel's refusal, in the calling tool's shape: nothing was deleted (an error result if it says so)."""
    if refused.error:
        raise ToolError(refused.message)
    result = call.report(call.snapshots, cast(ResultOutcome, refused.outcome), refused.message)
    return tool_result(messages.not_deleted(refused.outcome, refused.message), result)


async def _perform(call: DeletionCall, channel: Channel, wait: bool) -> CallToolResult:
    [snapshot] = call.snapshots
    # A wait after the delete gets only what is left of the call's budget.
    left = call.deadline - time.monotonic() - 1.0
    ops = app_state(call.ctx).ops
    outcome = await delete_one(ops, snapshot, wait=wait and left > 0, progress=progress(call.ctx), wait_timeout=left)
    channel.audit(call, outcome.kind, outcome.error or "")
    if outcome.reason is not None:
        raise ToolError(outcome.reason)
    result = DeleteResult(snapshot_id=snapshot.id, outcome=outcome.kind, deleted=True, message=_DONE[outcome.kind])
    return tool_result(messages.delete_text(outcome.kind, result.message), result)
