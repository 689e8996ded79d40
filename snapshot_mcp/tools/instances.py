"""Instances: find one by name or region, and snapshot it."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field

from snapshot_mcp import messages
from snapshot_mcp.declaration import ADDS, READS, ToolDeclaration
from snapshot_mcp.models import InstanceId, InstanceSnapshotRequest, Region, SnapshotName
from snapshot_mcp.settings import Settings
from snapshot_mcp.state import app_state
from snapshot_mcp.views import CreateResult, InstanceList, InstanceView, cell, tool_result

from .common import progress
from .writing import created_result

INSTANCE_HEADER = "id\tname\tregion\tstatus\ttype"


async def list_instances(
    ctx: Context[Any, Any],
    region: Annotated[str | None, Field(max_length=40, description=messages.REGION_FILTER)] = None,
    name_contains: Annotated[
        str | None, Field(min_length=1, max_length=255, description=messages.NAME_CONTAINS)
    ] = None,
) -> Annotated[CallToolResult, InstanceList]:
    listing = await app_state(ctx).ops.list_instances(region, name_contains)
    result = InstanceList(
        instances=[InstanceView.of(instance) for instance in listing.instances],
        total_count=listing.total_count,
        complete=listing.complete,
    )
    filters = ", ".join(f"{k}={v}" for k, v in (("region", region), ("name_contains", name_contains)) if v)
    return tool_result(_instance_text(result, f"({filters})" if filters else ""), result)


def _instance_text(result: InstanceList, filters: str) -> str:
    head = f"{len(result.instances)} instance{'s' if len(result.instances) != 1 else ''} {filters}".rstrip()
    if not result.complete:
        head += f" (incomplete: {result.total_count} exist)"
    if not result.instances:
        return head
    rows = ("\t".join((v.id, cell(v.name), v.region or "-", v.status or "-", v.type or "-")) for v in result.instances)
    return "\n".join([head, INSTANCE_HEADER, *rows])


async def snapshot_instance(
    ctx: Context[Any, Any],
    instance_id: InstanceId,
    name: SnapshotName,
    replicated_region: Annotated[Region | None, Field(description="also copy it there")] = None,
    wait: Annotated[bool, Field(description=messages.WAIT_CREATE)] = False,
) -> Annotated[CallToolResult, CreateResult]:
    request = InstanceSnapshotRequest(name=name, replicated_region=replicated_region)
    created = await app_state(ctx).ops.snapshot_instance(instance_id, request, wait=wait, progress=progress(ctx))
    return tool_result(*created_result(created, made="Snapshot started"))


def _snapshot_instance_description(settings: Settings) -> str:
    return (
        "Use this to snapshot an instance (active or stopped). Returns at once, status creating; wait=true "
        f"polls up to ~{messages.seconds(settings.wait_timeout)}. An identical retry returns the same snapshot."
    )


LIST_INSTANCES = ToolDeclaration(
    name="list_instances",
    title="List instances",
    description="Use this to find instances (id, name, region, status, type) by region or name.",
    handler=list_instances,
    annotations=READS,
    scope="snapshots:read",
)
SNAPSHOT_INSTANCE = ToolDeclaration(
    name="snapshot_instance",
    title="Snapshot an instance",
    description=_snapshot_instance_description,
    handler=snapshot_instance,
    annotations=ADDS,
    scope="snapshots:write",
    subject="instance_id",
    subject_kind="instance",
    store_down=messages.STORE_DOWN_CREATE,
)
