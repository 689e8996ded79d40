"""The delete tool: fetch the snapshot, let the server's confirmation channel judge, delete once.

Two signatures, one behaviour: with the token channel the tool takes the
`confirmation_token` argument, with the others it does not (a model should not see
an argument that can never help). The declaration names both (`with_token`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult
from pydantic import Field

from snapshot_mcp import messages, telemetry
from snapshot_mcp.audit import record_approval
from snapshot_mcp.confirm import Approved, Channel, DeletionCall, Refused, Replied, Verdict, audit
from snapshot_mcp.declaration import CHANGES, ToolDeclaration
from snapshot_mcp.errors import SnapshotMCPError, StoreUnavailable
from snapshot_mcp.models import Snapshot, SnapshotId
from snapshot_mcp.operations import DeleteOutcome
from snapshot_mcp.settings import Settings
from snapshot_mcp.state import app_state
from snapshot_mcp.views import DeleteOutcome as ResultOutcome
from snapshot_mcp.views import DeleteResult, tool_result

from .common import progress

WaitUntilGone = Annotated[bool, Field(description="poll until it is gone")]
Token = Annotated[str | None, Field(max_length=512, description="from the preview call, after the user agreed")]
SingleDeleteAnswer = Annotated[CallToolResult, DeleteResult] | InputRequiredResult

_DONE: dict[DeleteOutcome, str] = {
    "deleting": "Deletion accepted; the snapshot disappears once the API finishes (get_snapshot then says not found).",
    "deleted": "Deleted; it is gone.",
    "already_deleting": "This snapshot is already being deleted; nothing more was sent.",
}


async def delete_snapshot(
    ctx: Context[Any, Any], snapshot_id: SnapshotId, wait: WaitUntilGone = False
) -> SingleDeleteAnswer:
    return await _delete(ctx, snapshot_id, None, wait)


async def delete_snapshot_with_token(
    ctx: Context[Any, Any], snapshot_id: SnapshotId, confirmation_token: Token = None, wait: WaitUntilGone = False
) -> SingleDeleteAnswer:
    return await _delete(ctx, snapshot_id, confirmation_token, wait)


async def _delete(ctx: Context[Any, Any], snapshot_id: str, token: str | None, wait: bool) -> SingleDeleteAnswer:
    state = app_state(ctx)
    deadline = time.monotonic() + state.settings.call_timeout
    channel = state.ladder.choose(ctx)
    snapshot = await _fetch(ctx, channel, snapshot_id)
    if channel is None:
        return nobody_can_ask(ctx, DELETE_SNAPSHOT.name, (snapshot.id,))
    call = DeletionCall(ctx, DELETE_SNAPSHOT.name, (snapshot,), deadline, token)
    verdict = await channel_verdict(channel, call)
    if isinstance(verdict, Replied):
        return verdict.result
    if isinstance(verdict, Refused):
        return _refusal(snapshot, verdict)
    assert isinstance(verdict, Approved)
    return await _perform(call, channel, wait)


async def channel_verdict(channel: Channel, call: DeletionCall) -> Verdict:
    """The channel's verdict; without the shared store it keeps its records in, a refusal (fail closed)."""
    with telemetry.confirmation(channel.name) as span:
        try:
            verdict = await channel.confirm(call)
        except StoreUnavailable:
            span.outcome = "refused"
            channel.audit(call, "refused", "StoreUnavailable")
            raise
        span.outcome = verdict.outcome if isinstance(verdict, Refused) else type(verdict).__name__.lower()
        return verdict


def nobody_can_ask(ctx: Context[Any, Any], tool: str, snapshot_ids: tuple[str, ...]) -> NoReturn:
    """No rung of the ladder fits this client: refuse, saying what the user can do."""
    stateless_legacy = app_state(ctx).settings.stateless and ctx.client_capabilities is None
    detail = "stateless_legacy" if stateless_legacy else "no_channel"
    audit(tool, snapshot_ids, channel="-", outcome="refused", detail=detail)
    raise ToolError(messages.STATELESS_LEGACY if stateless_legacy else messages.NO_CHANNEL)


async def _fetch(ctx: Context[Any, Any], channel: Channel | None, snapshot_id: str) -> Snapshot:
    try:
        return await app_state(ctx).ops.get(snapshot_id)
    except SnapshotMCPError as exc:
        name = channel.name if channel is not None else "-"
        audit(DELETE_SNAPSHOT.name, (snapshot_id,), channel=name, outcome="error", detail=type(exc).__name__)
        raise


def _refusal(snapshot: Snapshot, refused: Refused) -> CallToolResult:
    if refused.error:
        raise ToolError(refused.message)
    outcome = cast(ResultOutcome, refused.outcome)
    result = DeleteResult(snapshot_id=snapshot.id, outcome=outcome, deleted=False, message=refused.message)
    return tool_result(messages.not_deleted(refused.outcome, refused.message), result)


async def _perform(call: DeletionCall, channel: Channel, wait: bool) -> CallToolResult:
    [snapshot] = call.snapshots
    # A wait after the delete gets only what is left of the call's budget.
    left = call.deadline - time.monotonic() - 1.0
    try:
        record_approval(call.tool, call.ids, channel=channel.name)
        outcome = await app_state(call.ctx).ops.delete(
            snapshot, wait=wait and left > 0, progress=progress(call.ctx), wait_timeout=left
        )
    except SnapshotMCPError as exc:
        channel.audit(call, "failed", type(exc).__name__)
        raise
    channel.audit(call, outcome)
    result = DeleteResult(snapshot_id=snapshot.id, outcome=outcome, deleted=True, message=_DONE[outcome])
    return tool_result(f"{outcome}: {result.message}", result)


def ladder_hints(ladder: Sequence[str]) -> str:
    """What a delete tool's answers mean under the card and token channels."""
    text = ""
    if "card" in ladder:
        text += " awaiting_confirmation: the user decides in a card; call again later for the outcome."
    if "token" in ladder:
        text += " confirmation_required: show the preview; call again with the token once they agree."
    return text


def _delete_snapshot_description(settings: Settings) -> str:
    """The description for the confirmation ladder the operator chose."""
    ladder, wait = tuple(settings.ladder), messages.seconds(settings.wait_timeout)
    if ladder == ("unconfirmed",):
        return (
            "Use this to delete a snapshot permanently (no confirmation: this server runs unattended). "
            f"wait=true polls until it is gone (~{wait} max)."
        )
    if ladder == ("token",):
        return (
            "Use this to delete a snapshot permanently. Call once for a preview and a confirmation_token, show the "
            "preview to the user, and call again with the token only after they agree."
        )
    text = (
        "Use this to delete a snapshot permanently. The user is asked to confirm first; only their yes deletes. "
        f"wait=true polls until it is gone (~{wait} max)."
    )
    return text + ladder_hints(ladder)


DELETE_SNAPSHOT = ToolDeclaration(
    name="delete_snapshot",
    title="Delete snapshot",
    description=_delete_snapshot_description,
    handler=delete_snapshot,
    with_token=delete_snapshot_with_token,
    links_card=True,
    annotations=CHANGES,
    scope="snapshots:delete",
    subject="snapshot_id",
    store_down=messages.STORE_DOWN_DELETE,
)
