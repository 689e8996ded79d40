"""Instances: find one by name or region, and snapshot it."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from snapshot_mcp import messages
from snapshot_mcp.errors import SnapshotMCPError
from snapshot_mcp.models import InstanceId, InstanceSnapshotRequest, Region, SnapshotName
from snapshot_mcp.state import app_state
from snapshot_mcp.views import CreateResult, InstanceList, instance_text, tool_result

from .common import progress, tool_error
from .writing import created_result


async def list_instances(
    ctx: Context[Any, Any],
    region: Annotated[str | None, Field(max_length=40, description=messages.REGION_FILTER)] = None,
    name_contains: Annotated[
        str | None, Field(min_length=1, max_length=255, description=messages.NAME_CONTAINS)
    ] = None,
) -> Annotated[CallToolResult, InstanceList]:
    try:
        result = await app_state(ctx).ops.list_instances(region, name_contains)
    except SnapshotMCPError as exc:
        raise tool_error(exc) from exc
    filters = ", ".join(f"{k}={v}" for k, v in (("region", region), ("name_contains", name_contains)) if v)
    return tool_result(instance_text(result, f"({filters})" if filters else ""), result)


async def snapshot_instance(
    ctx: Context[Any, Any],
    instance_id: InstanceId,
    name: SnapshotName,
    replicated_region: Annotated[Region | None, Field(description=messages.REPLICATED_REGION)] = None,
    wait: Annotated[bool, Field(description=messages.WAIT_CREATE)] = False,
) -> Annotated[CallToolResult, CreateResult]:
    request = InstanceSnapshotRequest(name=name, replicated_region=replicated_region)
    try:
        created = await app_state(ctx).ops.snapshot_instance(instance_id, request, wait=wait, progress=progress(ctx))
    except SnapshotMCPError as exc:
        raise tool_error(exc, instance_id, kind="instance") from exc
    return tool_result(*created_result(created, made="Snapshot started"))
