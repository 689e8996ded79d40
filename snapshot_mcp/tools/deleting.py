"""The delete tool: fetch the snapshot, let the server's confirmation channel judge, delete once.

Two signatures, one behaviour: with the token channel the tool takes the
`confirmation_token` argument, with the others it does not (a model should not see
an argument that can never help). Which one is registered is wiring (`register`).
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Sequence
from typing import Annotated, Any, NoReturn, cast

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult
from pydantic import Field

from snapshot_mcp import messages, telemetry
from snapshot_mcp.confirm import Approved, Channel, ChannelVerdict, DeletionCall, Refused, Replied, audit
from snapshot_mcp.confirm.base import session_of
from snapshot_mcp.confirm.outcomes import delete_one
from snapshot_mcp.confirm.requests import DeletionRequest
from snapshot_mcp.declaration import CHANGES, ToolDeclaration
from snapshot_mcp.errors import NotFound, SnapshotMCPError, StoreUnavailable
from snapshot_mcp.models import Snapshot, SnapshotId
from snapshot_mcp.settings import Settings
from snapshot_mcp.state import app_state
from snapshot_mcp.views import DeleteResult, ResultOutcome, single_delete_result, tool_result

from .common import progress

WaitUntilGone = Annotated[bool, Field(description="poll until it is gone")]
Token = Annotated[str | None, Field(max_length=512, description="from the preview call, after the user agreed")]
InBrowser = bool
"""`ask_in_browser`: listed only where the browser channel is available (`server.HIDDEN_WITHOUT_BROWSER`);
the tool's description says when to use it."""
SingleDeleteAnswer = Annotated[CallToolResult, DeleteResult] | InputRequiredResult

_DONE: dict[str, str] = {
    "deleting": "Deletion accepted; the snapshot disappears once the API finishes (get_snapshot then says not found).",
    "deleted": "Deleted; it is gone.",
    "already_deleting": "This snapshot is already being deleted; nothing more was sent.",
}


async def delete_snapshot(
    ctx: Context[Any, Any], snapshot_id: SnapshotId, wait: WaitUntilGone = False, ask_in_browser: InBrowser = False
) -> SingleDeleteAnswer:
    return await _delete(ctx, snapshot_id, None, wait, ask_in_browser)


async def delete_snapshot_with_token(
    ctx: Context[Any, Any],
    snapshot_id: SnapshotId,
    confirmation_token: Token = None,
    wait: WaitUntilGone = False,
    ask_in_browser: InBrowser = False,
) -> SingleDeleteAnswer:
    return await _delete(ctx, snapshot_id, confirmation_token, wait, ask_in_browser)


def preferred(ask_in_browser: bool) -> str | None:
    """The rung the call asks for: the browser when the person saw no card; else the ladder's choice."""
    return "browser" if ask_in_browser else None


async def _delete(
    ctx: Context[Any, Any], snapshot_id: str, token: str | None, wait: bool, ask_in_browser: bool
) -> SingleDeleteAnswer:
    state = app_state(ctx)
    deadline = time.monotonic() + state.settings.call_timeout
    channel = state.ladder.choose(ctx, preferred(ask_in_browser))
    snapshot = await _fetch(ctx, channel, snapshot_id)
    if isinstance(snapshot, CallToolResult):
        return snapshot
    if channel is None:
        return nobody_can_ask(ctx, DELETE_SNAPSHOT.name, (snapshot.id,))
    call = DeletionCall(ctx, DELETE_SNAPSHOT.name, (snapshot,), deadline, token, report=single_delete_result)
    verdict = await ask_channel(channel, call)
    if isinstance(verdict, Replied):
        return verdict.result
    if isinstance(verdict, Refused):
        return refusal(call, verdict)
    assert isinstance(verdict, Approved)
    return await _perform(call, channel, wait, verdict.reread)


async def ask_channel(channel: Channel, call: DeletionCall) -> ChannelVerdict:
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


async def _fetch(ctx: Context[Any, Any], channel: Channel | None, snapshot_id: str) -> Snapshot | CallToolResult:
    """The snapshot as the API shows it now; if it is gone because a person's decision deleted it, that report."""
    name = channel.name if channel is not None else "-"
    try:
        return await app_state(ctx).ops.get(snapshot_id)
    except NotFound:
        earlier = (await deleted_earlier(ctx, (snapshot_id,))).get(snapshot_id)
        if earlier is None:
            audit(DELETE_SNAPSHOT.name, (snapshot_id,), channel=name, outcome="error", detail="NotFound")
            raise
        audit(DELETE_SNAPSHOT.name, (snapshot_id,), channel=earlier.face or name, outcome="reported_deleted")
        message = messages.confirmed_earlier(earlier.face, earlier.id)
        result = DeleteResult(
            snapshot_id=snapshot_id, outcome="deleted", deleted=True, message=message, request_id=earlier.id
        )
        return tool_result(f"deleted: {message}", result)
    except SnapshotMCPError as exc:
        audit(DELETE_SNAPSHOT.name, (snapshot_id,), channel=name, outcome="error", detail=type(exc).__name__)
        raise


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


async def _perform(call: DeletionCall, channel: Channel, wait: bool, reread: bool) -> CallToolResult:
    [snapshot] = call.snapshots
    # A wait after the delete gets only what is left of the call's budget.
    left = call.deadline - time.monotonic() - 1.0
    ops = app_state(call.ctx).ops
    outcome = await delete_one(
        ops,
        snapshot,
        tool=call.tool,
        channel=channel.name,
        wait=wait and left > 0,
        progress=progress(call.ctx),
        wait_timeout=left,
        reread=reread,
    )
    channel.audit(call, outcome.kind, outcome.error or "")
    if outcome.kind == "changed":  # the person said yes to a snapshot that is no longer what they saw
        return refusal(call, Refused("changed", messages.CHANGED_WHILE_ASKED))
    if outcome.reason is not None:
        raise ToolError(outcome.reason)
    result = DeleteResult(snapshot_id=snapshot.id, outcome=outcome.kind, deleted=True, message=_DONE[outcome.kind])
    return tool_result(f"{outcome.kind}: {result.message}", result)


def ladder_hints(ladder: Sequence[str], browser: bool = False) -> str:
    """What a delete tool's answers mean under the card, browser and token channels (`browser`: it can open)."""
    where = " or ".join(place for place, on in (("a card", "card" in ladder), ("their browser", browser)) if on)
    text = f" awaiting_confirmation: the user decides in {where}; call again for the outcome" if where else ""
    if "card" in ladder and browser:
        text += " (no card shown: ask_in_browser=true)"
    text += "." if where else ""
    if "token" in ladder:
        text += " confirmation_required: show the preview; call again with the token once they agree."
    return text


def _delete_snapshot_description(settings: Settings, browser: bool = False) -> str:
    """The description for the confirmation ladder the operator chose (`browser`: its rung can open here)."""
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
    text = f"Use this to delete a snapshot permanently, only after the user confirms. wait=true polls (~{wait} max)."
    return text + ladder_hints(ladder, browser)


DELETE_SNAPSHOT = ToolDeclaration(
    name="delete_snapshot",
    title="Delete snapshot",
    description=_delete_snapshot_description,
    in_browser=functools.partial(_delete_snapshot_description, browser=True),
    handler=delete_snapshot,
    with_token=delete_snapshot_with_token,
    links_card=True,
    annotations=CHANGES,
    scope="snapshots:delete",
    subject="snapshot_id",
    store_down=messages.STORE_DOWN_DELETE,
)
