"""What the tools return: typed results (`structuredContent`) and the compact forms of their text.

The structured result is complete; the text block a model reads is short: one line
per snapshot, tab-separated, with a header naming the columns (`snapshot_row`), or one
`key=value` line (`detail_text`). The sentences around them are the tools' own. Names
are data, not instructions: control characters are folded so a name cannot forge
extra lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal, Protocol

from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from .models import Instance, Snapshot

ResultOutcome = Literal[
    "deleted",
    "deleting",
    "already_deleting",
    "declined",
    "cancelled",
    "timed_out",
    "malformed_answer",
    "confirmation_required",
    "awaiting_confirmation",
    "kept",
    "expired",
    "changed",
    "void",
    "failed",
    "partial",
]


class SnapshotView(BaseModel):
    """One snapshot."""

    id: str
    name: str
    size: int | None = Field(default=None, description="GiB")
    region: str
    status: str
    os_type: str | None = None
    source: str | None = Field(default=None, description="snapshotted instance/snapshot id; absent for URL imports")
    created_at: str | None = None
    updated_at: str | None = None

    @classmethod
    def of(cls, snapshot: Snapshot) -> SnapshotView:
        return cls(
            id=snapshot.id,
            name=snapshot.name.shown,
            size=snapshot.size,
            region=snapshot.region,
            status=snapshot.status,
            os_type=snapshot.os_type,
            source=snapshot.source,
            created_at=_iso(snapshot.created_at),
            updated_at=_iso(snapshot.updated_at),
        )


class SnapshotList(BaseModel):
    """A page of snapshots, or the matches of a filtered scan over all pages."""

    snapshots: list[SnapshotView]
    total_count: int = Field(description="snapshots in the account")
    page: int | None = Field(default=None, description="absent for a filtered scan")
    per_page: int | None = None
    scanned: int | None = Field(default=None, description="snapshots examined by a filtered scan")
    complete: bool = Field(description="false if more pages exist (unfiltered) or the scan stopped early")


class CreateResult(BaseModel):
    """A snapshot import that was started (or found already started)."""

    snapshot: SnapshotView
    reused: bool = Field(description="true if an earlier identical request's snapshot was returned, none made")
    probable: bool | None = Field(
        default=None, description="true: found by the fields the API echoes after a failed call, not by identity"
    )
    lookup_complete: bool | None = Field(
        default=None, description="false: the look-up for an earlier attempt could not read every page"
    )
    settled: bool = Field(description="true once the status is created or error")
    next: str


class DeleteResult(BaseModel):
    """What happened to a delete request."""

    snapshot_id: str
    outcome: ResultOutcome
    deleted: bool = Field(description="true once the API accepted the deletion")
    message: str
    confirmation_token: str | None = None
    request_id: str | None = Field(default=None, description="a pending confirmation card's request")
    expires_at: str | None = None
    awaiting: SnapshotView | None = Field(default=None, description="what awaits the user's decision")


class InstanceView(BaseModel):
    """One instance, compact: what a model needs to pick it by name."""

    id: str
    name: str
    region: str
    status: str
    type: str | None = None

    @classmethod
    def of(cls, instance: Instance) -> InstanceView:
        return cls(
            id=instance.id, name=instance.name.shown, region=instance.region, status=instance.status, type=instance.type
        )


class InstanceList(BaseModel):
    """The instances that match (every page read, up to a bound)."""

    instances: list[InstanceView]
    total_count: int = Field(description="instances in the account")
    complete: bool = Field(description="false if the listing stopped before the last page")


class DeletedItem(BaseModel):
    """What happened to one snapshot of a batch delete."""

    snapshot_id: str
    outcome: str


class BatchDeleteResult(BaseModel):
    """What happened to a request to delete several snapshots."""

    outcome: ResultOutcome
    deleted: int = Field(description="how many deletions the API accepted")
    results: list[DeletedItem]
    message: str
    total_size: int | None = Field(default=None, description="GiB of the snapshots asked about")
    confirmation_token: str | None = None
    request_id: str | None = Field(default=None, description="a pending confirmation card's request")
    expires_at: str | None = None


class DeleteReport(Protocol):
    """Builds a delete tool's result in that tool's own shape (one snapshot's, or a batch's)."""

    def __call__(
        self,
        snapshots: Sequence[Snapshot],
        outcome: ResultOutcome,
        message: str,
        *,
        accepted: int = 0,
        each: Mapping[str, str] | None = None,
        request_id: str | None = None,
        expires_at: str | None = None,
        token: str | None = None,
        awaiting: bool = False,
    ) -> DeleteResult | BatchDeleteResult: ...


def single_delete_result(
    snapshots: Sequence[Snapshot],
    outcome: ResultOutcome,
    message: str,
    *,
    accepted: int = 0,
    each: Mapping[str, str] | None = None,
    request_id: str | None = None,
    expires_at: str | None = None,
    token: str | None = None,
    awaiting: bool = False,
) -> DeleteResult:
    """`delete_snapshot`'s result; `accepted`: deletions the API accepted (`each` is a batch's only)."""
    [snapshot] = snapshots
    return DeleteResult(
        snapshot_id=snapshot.id,
        outcome=outcome,
        deleted=accepted > 0,
        message=message,
        confirmation_token=token,
        request_id=request_id,
        expires_at=expires_at,
        awaiting=SnapshotView.of(snapshot) if awaiting else None,
    )


def batch_delete_result(
    snapshots: Sequence[Snapshot],
    outcome: ResultOutcome,
    message: str,
    *,
    accepted: int = 0,
    each: Mapping[str, str] | None = None,
    request_id: str | None = None,
    expires_at: str | None = None,
    token: str | None = None,
    awaiting: bool = False,
) -> BatchDeleteResult:
    """`delete_snapshots`' result: every id with its own outcome (`each`), else the call's (`awaiting` is one's)."""
    each = each or {}
    return BatchDeleteResult(
        outcome=outcome,
        deleted=accepted,
        results=[DeletedItem(snapshot_id=s.id, outcome=each.get(s.id, outcome)) for s in snapshots],
        message=message,
        total_size=sum(s.size or 0 for s in snapshots),
        confirmation_token=token,
        request_id=request_id,
        expires_at=expires_at,
    )


class CardSnapshot(BaseModel):
    """One snapshot of a deletion request, as the card shows it."""

    id: str
    name: str
    size: int | None = None
    region: str
    status: str
    created_at: str | None = None
    changed: bool = Field(description="its state differs from when the request was made")
    outcome: str | None = Field(default=None, description="what happened to it, once decided")


class DeletionRequestView(BaseModel):
    """A deletion request for the confirmation card (app-only)."""

    request_id: str
    status: str
    expires_at: str
    snapshots: list[CardSnapshot]
    total_size: int
    can_delete: bool = Field(description="pending, unexpired and unchanged: the Delete button may be enabled")
    outcome: str | None = Field(default=None, description="what a decision just did (confirm_deletion)")


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def cell(text: str | None) -> str:
    """A value as one cell of a tab-separated row: no tabs or line breaks, `-` when empty."""
    if text is None:
        return "-"
    return " ".join(text.replace("\t", " ").split()) or "-"


SNAPSHOT_HEADER = "id\tname\tGiB\tregion\tstatus\tcreated"


def snapshot_row(view: SnapshotView) -> str:
    """One snapshot as a row under `SNAPSHOT_HEADER`."""
    size = "-" if view.size is None else str(view.size)
    created = (view.created_at or "-")[:10]
    return "\t".join((view.id, cell(view.name), size, view.region or "-", view.status or "-", created))


def detail_text(view: SnapshotView) -> str:
    parts = [
        f"{view.id}",
        f"name={cell(view.name)}",
        f"size={view.size if view.size is not None else '-'}GiB",
        f"region={view.region}",
        f"status={view.status}",
    ]
    if view.os_type:
        parts.append(f"os={view.os_type}")
    if view.source:
        parts.append(f"source={view.source}")
    parts.append(f"created={view.created_at or '-'}")
    return " ".join(parts)


def tool_result(text: str, model: BaseModel) -> CallToolResult:
    """A tool's answer: the compact text a model reads, and the complete typed data.

    A field without a value is left out rather than sent as null (`schema.lean` writes
    such fields as optional, in the form every client accepts).
    """
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=model.model_dump(mode="json", exclude_none=True),
    )


def batch_text(result: BatchDeleteResult) -> str:
    lines = [f"{result.outcome}: {result.message}"]
    lines += [f"{item.snapshot_id}\t{item.outcome}" for item in result.results]
    if result.request_id:
        lines.append(f"request_id={result.request_id}")
    if result.confirmation_token:
        lines.append(f"confirmation_token={result.confirmation_token}")
    return "\n".join(lines)
