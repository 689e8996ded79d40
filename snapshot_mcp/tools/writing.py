"""Tools that make or change snapshots: import from an image URL, copy to a region, rename.

Annotations: an import and a copy only add a snapshot (destructiveHint false: nothing
that exists is changed or removed); a rename overwrites a name (destructiveHint true).
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult
from pydantic import Field, StrictInt

from snapshot_mcp import messages
from snapshot_mcp.errors import InvalidInput, SnapshotMCPError
from snapshot_mcp.models import (
    CreateSnapshotRequest,
    ImageUrl,
    OsType,
    Region,
    SnapshotId,
    SnapshotName,
    private_host_problem,
)
from snapshot_mcp.operations import Created
from snapshot_mcp.state import app_state
from snapshot_mcp.views import CreateResult, SnapshotView, create_text, detail_text, tool_result

from .common import progress, tool_error


async def create_snapshot_from_url(
    ctx: Context[Any, Any],
    name: SnapshotName,
    size: Annotated[StrictInt, Field(ge=1, le=1_000_000, description=messages.SIZE)],
    url: ImageUrl,
    region: Region,
    os_type: OsType | None = None,
    wait: Annotated[bool, Field(description=messages.WAIT_CREATE)] = False,
) -> Annotated[CallToolResult, CreateResult]:
    request = CreateSnapshotRequest(name=name, size=size, url=url, region=region, os_type=os_type)
    state = app_state(ctx)
    problem = None if state.settings.allow_private_image_urls else private_host_problem(url)
    try:
        if problem is not None:
            raise InvalidInput(messages.private_url(problem))
        created = await state.ops.create(request, wait=wait, progress=progress(ctx))
    except SnapshotMCPError as exc:
        raise tool_error(exc) from exc
    return tool_result(*created_result(created))


async def copy_snapshot(
    ctx: Context[Any, Any],
    snapshot_id: SnapshotId,
    region: Region,
    name: Annotated[SnapshotName | None, Field(description=messages.COPY_NAME)] = None,
) -> Annotated[CallToolResult, CreateResult]:
    try:
        created = await app_state(ctx).ops.copy(snapshot_id, region, name)
    except SnapshotMCPError as exc:
        raise tool_error(exc, snapshot_id) from exc
    return tool_result(*created_result(created, made="Copy started", can_wait=False))


async def rename_snapshot(
    ctx: Context[Any, Any], snapshot_id: SnapshotId, name: SnapshotName
) -> Annotated[CallToolResult, SnapshotView]:
    try:
        renamed = await app_state(ctx).ops.rename(snapshot_id, name)
    except SnapshotMCPError as exc:
        raise tool_error(exc, snapshot_id) from exc
    view = SnapshotView.of(renamed)
    return tool_result(f"Renamed: {detail_text(view)}", view)


def created_result(
    created: Created, *, made: str = "Import started", can_wait: bool = True
) -> tuple[str, CreateResult]:
    """The text and structured result of anything that makes a snapshot (`can_wait`: the tool takes wait)."""
    outcome = created.outcome
    result = CreateResult(
        snapshot=SnapshotView.of(created.snapshot),
        reused=outcome.reused,
        probable=outcome.probable or None,
        lookup_complete=None if outcome.lookup_complete else False,
        settled=created.settled,
        next=messages.create_next(created.snapshot, waited=created.waited, can_wait=can_wait),
    )
    return create_text(result, made), result
