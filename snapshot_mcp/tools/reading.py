"""Read-only tools: list snapshots (one page, or a filtered scan of all) and look one up."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field, StrictInt

from snapshot_mcp import messages
from snapshot_mcp.declaration import READS, ToolDeclaration
from snapshot_mcp.models import InstanceId, SnapshotId, StatusFilter
from snapshot_mcp.operations import Filters, Listing
from snapshot_mcp.state import app_state
from snapshot_mcp.views import SNAPSHOT_HEADER, SnapshotList, SnapshotView, detail_text, snapshot_row, tool_result

from .common import progress


async def list_snapshots(
    ctx: Context[Any, Any],
    page: Annotated[StrictInt, Field(ge=1, le=100_000)] = 1,
    per_page: Annotated[StrictInt, Field(ge=1, le=100)] = 50,
    region: Annotated[str | None, Field(max_length=40, description=messages.REGION_FILTER)] = None,
    status: StatusFilter | None = None,
    name_contains: Annotated[
        str | None, Field(min_length=1, max_length=255, description=messages.NAME_CONTAINS)
    ] = None,
    instance_id: Annotated[InstanceId | None, Field(description="made from this instance")] = None,
) -> Annotated[CallToolResult, SnapshotList]:
    filters = Filters(region=region, status=status, name_contains=name_contains)
    listing = await app_state(ctx).ops.list(page, per_page, filters, progress(ctx), instance_id)
    result = _snapshot_list(listing)
    return tool_result(_list_text(result, filters), result)


def _snapshot_list(listing: Listing) -> SnapshotList:
    return SnapshotList(
        snapshots=[SnapshotView.of(s) for s in listing.snapshots],
        total_count=listing.total_count,
        page=listing.page,
        per_page=listing.per_page,
        scanned=listing.scanned,
        complete=listing.complete,
    )


def _list_text(result: SnapshotList, filters: Filters) -> str:
    if result.scanned is not None:
        given = ", ".join(f"{k}={v}" for k, v in filters.given().items())
        head = f"{len(result.snapshots)} match ({given}) of {result.scanned} scanned"
        if not result.complete:
            head += f" (incomplete: {result.total_count} exist)"
    else:
        head = f"page {result.page}: {len(result.snapshots)} of {result.total_count}"
        if not result.complete:
            head += f"; more: page={(result.page or 1) + 1}"
    if not result.snapshots:
        return head
    return "\n".join([head, SNAPSHOT_HEADER, *(snapshot_row(view) for view in result.snapshots)])


async def get_snapshot(ctx: Context[Any, Any], snapshot_id: SnapshotId) -> Annotated[CallToolResult, SnapshotView]:
    view = SnapshotView.of(await app_state(ctx).ops.get(snapshot_id))
    return tool_result(detail_text(view), view)


LIST_SNAPSHOTS = ToolDeclaration(
    name="list_snapshots",
    title="List snapshots",
    description=(
        "Use this to list snapshots. No filter: one page. With region/status/name_contains: every page is read "
        "and only matches returned (page/per_page ignored)."
    ),
    handler=list_snapshots,
    annotations=READS,
    scope="snapshots:read",
    subject="instance_id",
    subject_kind="instance",
)
GET_SNAPSHOT = ToolDeclaration(
    name="get_snapshot",
    title="Get snapshot",
    description="Use this to look up one snapshot's current state by id.",
    handler=get_snapshot,
    annotations=READS,
    scope="snapshots:read",
    subject="snapshot_id",
)
