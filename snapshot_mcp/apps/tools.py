"""The confirmation card's app-only tools: read a deletion request, and decide it.

Hosts show these to the card, never to the model (`_meta.ui.visibility == ["app"]`),
and this server also hides and refuses them for sessions that did not negotiate MCP
Apps (`AppOnlyGate`). `confirm_deletion` is the only code path that deletes under the
card channel.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult
from pydantic import Field

from snapshot_mcp import messages
from snapshot_mcp.confirm.base import audit, session_of
from snapshot_mcp.confirm.card import (
    CONFIRMATION_META,
    DeletionRequest,
    DeletionRequests,
    RequestStatus,
    current_status,
)
from snapshot_mcp.confirm.token import fingerprint
from snapshot_mcp.errors import NotFound, SnapshotMCPError, StoreUnavailable
from snapshot_mcp.models import Snapshot, SnapshotId
from snapshot_mcp.operations import Operations
from snapshot_mcp.state import app_state
from snapshot_mcp.views import CardSnapshot, DeletionRequestView, tool_result

RequestId = Annotated[str, Field(pattern=r"^[0-9a-f]{24}$")]
Nonce = Annotated[str, Field(max_length=100)]


async def _now(ops: Operations, request: DeletionRequest) -> dict[str, Snapshot]:
    """The request's snapshots as the API shows them now (gone ones are left out)."""
    found: dict[str, Snapshot] = {}
    for snapshot_id in request.ids:
        try:
            found[snapshot_id] = await ops.get(snapshot_id)
        except NotFound:
            continue
    return found


def _view(request: DeletionRequest, status: str, now: dict[str, Snapshot] | None) -> DeletionRequestView:
    """The card's rows: each snapshot as it is `now` (None: not looked up again, as it was asked about)."""
    rows = []
    for facts in request.snapshots:
        current = None if now is None else now.get(facts.id)
        changed = now is not None and (current is None or fingerprint(current) != facts.fingerprint)
        shown = current or facts
        gone = now is not None and current is None
        rows.append(
            CardSnapshot(
                id=facts.id,
                name=current.name.shown if current is not None else facts.name,
                size=shown.size,
                region=shown.region,
                status="gone" if gone else shown.status,
                created_at=facts.created_at,
                changed=changed and status == "pending",
                outcome=request.outcomes.get(facts.id),
            )
        )
    return DeletionRequestView(
        request_id=request.id,
        status=status,
        expires_at=request.expires_at(),
        snapshots=rows,
        total_size=sum(facts.size or 0 for facts in request.snapshots),
        can_delete=status == "pending",
    )


async def _load(ctx: Context[Any, Any], request_id: str) -> tuple[DeletionRequests, DeletionRequest]:
    requests = app_state(ctx).requests
    request = await requests.load(request_id, session_of(ctx))
    if request is None:
        raise ToolError(messages.NO_SUCH_REQUEST)
    return requests, request


async def deletion_request(
    ctx: Context[Any, Any], request_id: RequestId
) -> Annotated[CallToolResult, DeletionRequestView]:
    try:
        return await _show(ctx, request_id)
    except StoreUnavailable as exc:
        raise ToolError(messages.error_text(StoreUnavailable(messages.STORE_DOWN_CARD))) from exc


async def _show(ctx: Context[Any, Any], request_id: str) -> CallToolResult:
    requests, request = await _load(ctx, request_id)
    try:
        now = await _now(app_state(ctx).ops, request)
    except SnapshotMCPError as exc:
        raise ToolError(messages.error_text(exc)) from exc
    status = current_status(requests, request, list(now.values()))
    if len(now) < len(request.ids) and status == "pending":
        status = "changed"
    view = _view(request, status, now)
    result = tool_result(messages.card_status(status, request.id), view)
    nonce = await requests.reveal(request) if status == "pending" else None
    if nonce is not None:
        result.meta = {CONFIRMATION_META: {"request_id": request.id, "nonce": nonce, "expires_at": view.expires_at}}
    return result


async def confirm_deletion(
    ctx: Context[Any, Any],
    request_id: RequestId,
    nonce: Nonce,
    decision: Literal["delete", "keep"],
    snapshot_ids: Annotated[list[SnapshotId] | None, Field(max_length=25)] = None,
) -> Annotated[CallToolResult, DeletionRequestView]:
    try:
        return await _decide(ctx, request_id, nonce, decision, snapshot_ids)
    except StoreUnavailable as exc:
        audit("confirm_deletion", (), channel="card", outcome="refused", detail="StoreUnavailable")
        raise ToolError(messages.error_text(StoreUnavailable(messages.STORE_DOWN_CARD))) from exc


async def _decide(
    ctx: Context[Any, Any], request_id: str, nonce: str, decision: str, snapshot_ids: list[str] | None
) -> CallToolResult:
    requests, request = await _load(ctx, request_id)
    if request.status != "pending":
        return _answer(request, "already_decided", None, messages.ALREADY_DECIDED)
    if requests.expired(request):
        decided = await requests.decide(request, "expired")
        return _answer(decided or request, "expired", None, messages.CARD_STATUS["expired"])
    if not requests.nonce_matches(request.id, nonce):
        bad = await requests.bad_nonce(request)
        audit("confirm_deletion", request.ids, channel="card", outcome="bad_nonce", detail=f"try {bad}")
        raise ToolError(messages.bad_nonce(bad))
    chosen = _chosen(request, snapshot_ids)
    if decision == "keep":
        return await _keep(ctx, requests, request)
    return await _delete(ctx, requests, request, chosen)


def _chosen(request: DeletionRequest, snapshot_ids: list[str] | None) -> tuple[str, ...]:
    if snapshot_ids is None:
        return request.ids
    picked = tuple(dict.fromkeys(snapshot_ids))
    if not picked or not set(picked) <= set(request.ids):
        raise ToolError(messages.NOT_IN_REQUEST)
    return picked


async def _keep(ctx: Context[Any, Any], requests: DeletionRequests, request: DeletionRequest) -> CallToolResult:
    decided = await requests.decide(request, "kept", dict.fromkeys(request.ids, "kept"))
    if decided is None:
        current = await requests.load(request.id, session_of(ctx)) or request
        return _answer(current, "already_decided", None, messages.ALREADY_DECIDED)
    audit("confirm_deletion", request.ids, channel="card", outcome="kept")
    return _answer(decided, "kept", None, messages.CARD_STATUS["kept"])


async def _delete(
    ctx: Context[Any, Any], requests: DeletionRequests, request: DeletionRequest, chosen: tuple[str, ...]
) -> CallToolResult:
    ops = app_state(ctx).ops
    try:
        now = await _now(ops, request)
    except SnapshotMCPError as exc:
        raise ToolError(messages.error_text(exc)) from exc
    if current_status(requests, request, list(now.values())) != "pending" or len(now) < len(request.ids):
        decided = await requests.decide(request, "changed")
        audit("confirm_deletion", request.ids, channel="card", outcome="changed")
        return _answer(decided or request, "changed", now, messages.CARD_STATUS["changed"])
    claimed = await requests.decide(request, "deleting")  # the one decision: a second click finds it taken
    if claimed is None:
        current = await requests.load(request.id, session_of(ctx)) or request
        return _answer(current, "already_decided", now, messages.ALREADY_DECIDED)
    outcomes = dict.fromkeys(request.ids, "kept")
    for snapshot_id in chosen:
        outcomes[snapshot_id] = await _delete_one(ops, now[snapshot_id])
    ok = all(outcomes[s] in ("deleting", "already_deleting") for s in chosen)
    status: RequestStatus = "deleted" if ok else "failed"
    decided = await requests.decide(claimed, status, outcomes)
    return _answer(decided or claimed, status, now, messages.CARD_STATUS[status])


async def _delete_one(ops: Operations, snapshot: Snapshot) -> str:
    try:
        outcome: str = await ops.delete(snapshot, wait=False, progress=None)
    except SnapshotMCPError as exc:
        outcome = f"failed ({type(exc).__name__})"
    audit("confirm_deletion", (snapshot.id,), channel="card", outcome=outcome.split(" ")[0])
    return outcome


def _answer(request: DeletionRequest, outcome: str, now: dict[str, Snapshot] | None, text: str) -> CallToolResult:
    """confirm_deletion's reply: what this decision did (`outcome`) and where the request stands."""
    view = _view(request, request.status, now).model_copy(update={"can_delete": False, "outcome": outcome})
    return tool_result(f"{outcome}: {text}", view)
