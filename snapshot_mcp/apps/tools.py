"""The confirmation card's app-only tools: read a deletion request, and decide it.

Hosts show these to the card, never to the model (`_meta.ui.visibility == ["app"]`),
and this server also hides and refuses them for sessions that did not negotiate MCP
Apps (`AppOnlyGate`). Both are the card's face of a deletion request: they read and
decide it through `confirm.decisions.Decisions`, and only turn its typed answers
into tool results.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, ToolAnnotations
from pydantic import Field

from snapshot_mcp import messages
from snapshot_mcp.confirm.base import session_of
from snapshot_mcp.confirm.card import CONFIRMATION_META
from snapshot_mcp.confirm.decisions import Decision, Look
from snapshot_mcp.confirm.shown import request_view
from snapshot_mcp.declaration import READS, ToolDeclaration
from snapshot_mcp.errors import StoreUnavailable
from snapshot_mcp.models import SnapshotId
from snapshot_mcp.state import app_state
from snapshot_mcp.views import DeletionRequestView, tool_result

RequestId = Annotated[str, Field(pattern=r"^[0-9a-f]{24}$")]
Nonce = Annotated[str, Field(max_length=100)]


async def deletion_request(
    ctx: Context[Any, Any], request_id: RequestId
) -> Annotated[CallToolResult, DeletionRequestView]:
    look = await app_state(ctx).decisions.look(request_id, session_of(ctx))
    if look is None:
        raise ToolError(messages.NO_SUCH_REQUEST)
    return await _shown(ctx, look)


async def _shown(ctx: Context[Any, Any], look: Look) -> CallToolResult:
    """The card's view of a request; the nonce once, for a pending one (hosts may have stripped `_meta`)."""
    view = request_view(look.request, look.status, look.now)
    result = tool_result(messages.card_status(look.status, look.request.id), view)
    nonce = await app_state(ctx).requests.reveal(look.request, "card") if look.status == "pending" else None
    if nonce is not None:
        meta = {"request_id": look.request.id, "nonce": nonce, "expires_at": view.expires_at}
        result.meta = {CONFIRMATION_META: meta}
    return result


async def confirm_deletion(
    ctx: Context[Any, Any],
    request_id: RequestId,
    nonce: Nonce,
    decision: Literal["delete", "keep"],
    snapshot_ids: Annotated[list[SnapshotId] | None, Field(max_length=25)] = None,
) -> Annotated[CallToolResult, DeletionRequestView]:
    decisions, session = app_state(ctx).decisions, session_of(ctx)
    decided = await decisions.decide(request_id, nonce, decision, snapshot_ids, face="card", session=session)
    return _reply(decided)


_TEXT = {
    "already_decided": messages.ALREADY_DECIDED,
    **{status: messages.CARD_STATUS[status] for status in ("deleted", "failed", "kept", "changed", "expired")},
}


def _reply(decided: Decision) -> CallToolResult:
    """confirm_deletion's reply: what this decision did and where the request stands (refusals are errors)."""
    if decided.outcome == "store_down":
        raise StoreUnavailable(messages.STORE_DOWN_CARD)
    if decided.outcome == "unknown" or decided.request is None:
        raise ToolError(messages.NO_SUCH_REQUEST)
    if decided.outcome == "bad_secret":
        raise ToolError(messages.bad_nonce(decided.tries))
    if decided.outcome == "not_in_request":
        raise ToolError(messages.NOT_IN_REQUEST)
    request = decided.request
    view = request_view(request, request.status, decided.now)
    view = view.model_copy(update={"can_delete": False, "outcome": decided.outcome})
    text = f"{decided.outcome}: {_TEXT[decided.outcome]}"
    return tool_result(text if decided.recorded else f"{text} {messages.UNRECORDED}", view)


DELETION_REQUEST = ToolDeclaration(
    name="deletion_request",
    title=None,
    description="The card's view of a deletion request: its snapshots (as they are now) and its status.",
    handler=deletion_request,
    annotations=READS,
    scope="snapshots:delete",
    store_down=messages.STORE_DOWN_CARD,
)
CONFIRM_DELETION = ToolDeclaration(
    name="confirm_deletion",
    title=None,
    description="The card's answer to a deletion request: the user's decision, delete or keep.",
    handler=confirm_deletion,
    annotations=ToolAnnotations(read_only_hint=False, destructive_hint=True),
    scope="snapshots:delete",
    store_down=messages.STORE_DOWN_CARD,
)
APP_TOOLS = (DELETION_REQUEST, CONFIRM_DELETION)
"""The card's app-only tools."""
