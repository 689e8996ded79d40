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
from snapshot_mcp.declaration import ADDS, CHANGES, ToolDeclaration
from snapshot_mcp.errors import InvalidInput
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
from snapshot_mcp.settings import Settings
from snapshot_mcp.state import app_state
from snapshot_mcp.views import CreateResult, SnapshotView, detail_text, tool_result

from .common import progress


async def create_snapshot_from_url(
    ctx: Context[Any, Any],
    name: SnapshotName,
    size: Annotated[StrictInt, Field(ge=1, le=1_000_000, description="GiB of the uncompressed image")],
    url: ImageUrl,
    region: Region,
    os_type: OsType | None = None,
    wait: Annotated[bool, Field(description=messages.WAIT_CREATE)] = False,
) -> Annotated[CallToolResult, CreateResult]:
    request = CreateSnapshotRequest(name=name, size=size, url=url, region=region, os_type=os_type)
    state = app_state(ctx)
    problem = None if state.settings.allow_private_image_urls else private_host_problem(url)
    if problem is not None:
        raise InvalidInput(_private_url(problem))
    created = await state.ops.create(request, wait=wait, progress=progress(ctx))
    return tool_result(*created_result(created, made="Import started"))


def _private_url(reason: str) -> str:
    return (
        f"url refused: {reason}. Genesis Cloud fetches images from the public internet; if this host is meant, "
        "the server's operator can allow it (--allow-private-image-urls). Nothing was sent"
    )


async def copy_snapshot(
    ctx: Context[Any, Any],
    snapshot_id: SnapshotId,
    region: Region,
    name: Annotated[SnapshotName | None, Field(description="default: the source's name")] = None,
) -> Annotated[CallToolResult, CreateResult]:
    created = await app_state(ctx).ops.copy(snapshot_id, region, name)
    return tool_result(*created_result(created, made="Copy started", can_wait=False))


async def rename_snapshot(
    ctx: Context[Any, Any], snapshot_id: SnapshotId, name: SnapshotName
) -> Annotated[CallToolResult, SnapshotView]:
    view = SnapshotView.of(await app_state(ctx).ops.rename(snapshot_id, name))
    return tool_result(f"Renamed: {detail_text(view)}", view)


def created_result(created: Created, *, made: str, can_wait: bool = True) -> tuple[str, CreateResult]:
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
    heading = messages.create_heading(result.reused, made=made, probable=bool(result.probable))
    text = f"{heading}: {detail_text(result.snapshot)}\nNext: {result.next}"
    if result.lookup_complete is False:
        text += "\n" + messages.lookup_incomplete(result.snapshot.name)
    return text, result


def _import_description(settings: Settings) -> str:
    return (
        "Use this to import a raw (or zstd-compressed raw) disk image from an http(s) URL as a snapshot "
        "(not an instance: see snapshot_instance). Returns at once, status creating; wait=true polls up to "
        f"~{messages.seconds(settings.wait_timeout)}. An identical retry returns the same import."
    )


CREATE_SNAPSHOT_FROM_URL = ToolDeclaration(
    name="create_snapshot_from_url",
    title="Import snapshot from URL",
    description=_import_description,
    handler=create_snapshot_from_url,
    annotations=ADDS,
    scope="snapshots:write",
    store_down=messages.STORE_DOWN_CREATE,
)
COPY_SNAPSHOT = ToolDeclaration(
    name="copy_snapshot",
    title="Copy snapshot to a region",
    description=(
        "Use this to copy a snapshot to another region. Returns at once, status creating. An identical "
        "retry returns the same copy."
    ),
    handler=copy_snapshot,
    annotations=ADDS,
    scope="snapshots:write",
    subject="snapshot_id",
    store_down=messages.STORE_DOWN_CREATE,
)
RENAME_SNAPSHOT = ToolDeclaration(
    name="rename_snapshot",
    title="Rename snapshot",
    description="Use this to rename a snapshot.",
    handler=rename_snapshot,
    annotations=CHANGES,
    scope="snapshots:write",
    subject="snapshot_id",
)
