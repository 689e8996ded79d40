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
from snapshot_mcp.views import ResultOutcome, tool_result

from .base import Channel, ChannelVerdict, DeletionCall, Replied
from .decisions import Decisions
from .ladder import client_name, declares_card, named
from .requests import DeletionRequest, Face, RequestStatus

CONFIRMATION_META = "snapshot-mcp/confirmation"
"""The result `_meta` key that carries the request id, nonce and expiry to the card (and nowhere else)."""

_OUTCOME: dict[RequestStatus, ResultOutcome] = {
    "pending": "awaiting_confirmation",
    "deleting": "deleting",
    "deleted": "deleted",
    "kept": "kept",
    "expired": "expired",
    "changed": "changed",
    "void": "void",
    "failed": "failed",
}


def card_result(call: DeletionCall, request: DeletionRequest, nonce: str, browser: bool = False) -> CallToolResult:
    """The delete tool's answer under the card channel, in its own shape: pending, nothing deleted.

    The nonce travels only in `_meta`, where only the card reads it.
    """
    snapshots = [facts.snapshot() for facts in request.snapshots]
    line = messages.question_for(snapshots).replace("\n", " · ")
    expires_at = request.expires_at()
    message = messages.CARD_STATUS["pending"]
    result = call.report(
        snapshots, "awaiting_confirmation", message, request_id=request.id, expires_at=expires_at, awaiting=True
    )
    answer = tool_result(messages.card_waiting(line, expires_at, request.id, call.tool, browser), result)
    answer.meta = {CONFIRMATION_META: {"request_id": request.id, "nonce": nonce, "expires_at": expires_at}}
    return answer


def status_result(
    call: DeletionCall, request: DeletionRequest, status: RequestStatus, asked_in: Face = "card"
) -> CallToolResult:
    """What became of an earlier request, for a delete call that asks again: each snapshot's own outcome.

    Worded for the face the person decided in, or else for the one they were asked in (`asked_in`).
    """
    face = request.face or asked_in
    snapshots = [facts.snapshot() for facts in request.snapshots]
    each = {snapshot_id: outcome.text() for snapshot_id, outcome in request.outcomes.items()}
    if request.outcomes:
        accepted = sum(outcome.accepted for outcome in request.outcomes.values())
    else:  # claimed, and its DELETEs under way
        accepted = len(snapshots) if status in ("deleting", "deleted") else 0
    message = messages.request_status(status, face)
    result = call.report(snapshots, _OUTCOME[status], message, accepted=accepted, each=each, request_id=request.id)
    return tool_result(messages.card_status(_OUTCOME[status], request.id, face), result)


class CardChannel(Channel):
    """Record a pending request; the person decides in the card."""

    name = "card"

    def __init__(
        self, decisions: Decisions, *, ignored_clients: Sequence[str] = (), offer_browser: bool = False
    ) -> None:
        self.decisions = decisions
        self.requests = decisions.requests
        self.ignored_clients = tuple(ignored_clients)
        self.offer_browser = offer_browser
        """The browser channel can open here: the answer says how to ask there instead."""

    def available(self, ctx: Context[Any, Any]) -> bool:
        return declares_card(ctx) and not named(client_name(ctx), self.ignored_clients)

    async def confirm(self, call: DeletionCall) -> ChannelVerdict:
        latest = await self.requests.latest(call.session, call.ids)
        if latest is not None:
            status = await self.decisions.standing(latest, {snapshot.id: snapshot for snapshot in call.snapshots})
            if status == "pending":
                self.audit(call, "awaiting_confirmation", detail="already_pending")
                return Replied(card_result(call, latest, self.requests.secret(latest.id, "card"), self.offer_browser))
            await self.requests.forget(call.session, call.ids)
            self.audit(call, f"reported_{status}")
            return Replied(status_result(call, latest, status))
        request = await self.requests.open(call.tool, call.snapshots, call.session)
        self.audit(call, "awaiting_confirmation")
        return Replied(card_result(call, request, self.requests.secret(request.id, "card"), self.offer_browser))
