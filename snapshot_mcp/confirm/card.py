"""The card channel: an MCP Apps view in the chat, where only a person's click deletes.

Under this channel a delete tool deletes nothing. It records a pending deletion
request (`requests`) and returns at once; the host shows the confirmation card
(`apps/`), and the card's Delete button calls the app-only tool `confirm_deletion`,
which decides the request through `decisions.Decisions` (the one path every face of a
request shares). The card proves itself with its own secret, a nonce that travels only
in result `_meta` and, once within two minutes, in the reply of the app-only
`deletion_request` (for hosts that strip `_meta`).

When the model calls a delete tool again for snapshots with a request, it gets that
request's status instead of a second card: pending (again, with its card), or — once
— deleted, kept, expired, changed, void or failed; the call after that asks anew.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult

from snapshot_mcp import messages
from snapshot_mcp.views import DeleteOutcome, delete_result, tool_result

from .base import Channel, DeletionCall, Replied, Verdict
from .decisions import standing
from .ladder import client_name, declares_card, named
from .requests import DeletionRequest, DeletionRequests, RequestStatus

CONFIRMATION_META = "snapshot-mcp/confirmation"
"""The result `_meta` key that carries the request id, nonce and expiry to the card (and nowhere else)."""

_OUTCOME: dict[RequestStatus, DeleteOutcome] = {
    "pending": "awaiting_confirmation",
    "deleting": "deleting",
    "deleted": "deleted",
    "kept": "kept",
    "expired": "expired",
    "changed": "changed",
    "void": "void",
    "failed": "failed",
}


def card_result(request: DeletionRequest, nonce: str) -> CallToolResult:
    """A delete tool's answer under the card channel: pending, nothing deleted; the nonce only in `_meta`."""
    snapshots = [facts.snapshot() for facts in request.snapshots]
    line = messages.question_for(snapshots).replace("\n", " · ")
    result = delete_result(
        request.tool,
        snapshots,
        "awaiting_confirmation",
        messages.CARD_STATUS["pending"],
        request_id=request.id,
        expires_at=request.expires_at(),
        awaiting=True,
    )
    answer = tool_result(messages.card_waiting(line, request.expires_at(), request.id, request.tool), result)
    answer.meta = {CONFIRMATION_META: {"request_id": request.id, "nonce": nonce, "expires_at": request.expires_at()}}
    return answer


def status_result(request: DeletionRequest, status: RequestStatus) -> CallToolResult:
    """What became of an earlier request, for a delete call that asks again."""
    snapshots = [facts.snapshot() for facts in request.snapshots]
    result = delete_result(
        request.tool,
        snapshots,
        _OUTCOME[status],
        messages.CARD_STATUS[status],
        deleted=status in ("deleting", "deleted"),
        request_id=request.id,
    )
    return tool_result(messages.card_status(_OUTCOME[status], request.id), result)


class CardChannel(Channel):
    """Record a pending request; the person decides in the card."""

    name = "card"

    def __init__(self, requests: DeletionRequests, *, ignored_clients: Sequence[str] = ()) -> None:
        self.requests = requests
        self.ignored_clients = tuple(ignored_clients)

    def available(self, ctx: Context[Any, Any]) -> bool:
        return declares_card(ctx) and not named(client_name(ctx), self.ignored_clients)

    async def confirm(self, call: DeletionCall) -> Verdict:
        latest = await self.requests.latest(call.session, call.ids)
        if latest is not None:
            status = standing(self.requests, latest, {snapshot.id: snapshot for snapshot in call.snapshots})
            if status == "pending":
                self.audit(call, "awaiting_confirmation", detail="already_pending")
                return Replied(card_result(latest, self.requests.secret(latest.id, "card")))
            await self.requests.forget(call.session, call.ids)
            self.audit(call, f"reported_{status}")
            return Replied(status_result(latest, status))
        request = await self.requests.open(call.tool, call.snapshots, call.session)
        self.audit(call, "awaiting_confirmation")
        return Replied(card_result(request, self.requests.secret(request.id, "card")))
