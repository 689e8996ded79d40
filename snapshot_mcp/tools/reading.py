"""Read-only tools: list snapshots (one page, or a filtered scan of all) and look one up."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field, StrictInt

from snapshot_mcp import messages
from snapshot_mcp.errors import SnapshotMCPError
from snapshot_mcp.models import InstanceId, SnapshotId, StatusFilter
from snapshot_mcp.operations import Filters
from snapshot_mcp.state import app_state
from snapshot_mcp.views import SnapshotList, SnapshotView, detail_text, list_text, tool_result

from .common import progress, tool_error


async def list_snapshots(
    ctx: Context[Any, Any],
    page: Annotated[StrictInt, Field(ge=1, le=100_000)] = 1,
    per_page: Annotated[StrictInt, Field(ge=1, le=100)] = 50,
    region: Annotated[str | None, Field(max_length=40, description=messages.REGION_FILTER)] = None,
    status: StatusFilter | None = None,
    name_contains: Annotated[
        str | None, Field(min_length=1, max_length=255, description=messages.NAME_CONTAINS)
    ] = None,
    instance_id: Annotated[InstanceId | None, Field(description=messages.INSTANCE_ID_FILTER)] = None,
) -> Annotated[CallToolResult, SnapshotList]:
    filters = Filters(region=region, status=status, name_contains=name_contains)
    try:
        result = await app_state(ctx).ops.list(page, per_page, filters, progress(ctx), instance_id)
    except SnapshotMCPError as exc:
        raise tool_error(exc, instance_id or "", kind="instance") from exc
    return tool_result(list_text(result, filters.describe()), result)


async def get_snapshot(ctx: Context[Any, Any], snapshot_id: SnapshotId) -> Annotated[CallToolResult, SnapshotView]:
    try:
        view = SnapshotView.of(await app_state(ctx).ops.get(snapshot_id))
    except SnapshotMCPError as exc:
        raise tool_error(exc, snapshot_id) from exc
    return tool_result(detail_text(view), view)
