"""What every tool shares: its context's state, progress reporting, error conversion."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from snapshot_mcp import messages
from snapshot_mcp.errors import SnapshotMCPError
from snapshot_mcp.operations import Progress
from snapshot_mcp.redact import redact
from snapshot_mcp.state import app_state

READ_ONLY = ToolAnnotations(read_only_hint=True)
"""openWorldHint true is the spec's default, and idempotentHint means something only for writing tools:
neither is repeated in every turn."""


def progress(ctx: Context[Any, Any]) -> Progress:
    """Progress notifications for this call (a no-op unless the client sent a progress token).

    A notification is a message the response middleware never sees: its text (API data,
    such as a status) loses the configured secrets here.
    """
    secrets = app_state(ctx).settings.secret_values

    async def report(done: float, total: float, message: str) -> None:
        await ctx.report_progress(done, total=total, message=redact(message, secrets))

    return report


def tool_error(exc: SnapshotMCPError, subject: str = "", kind: str = "snapshot") -> ToolError:
    """The error result a model reads: what happened, whether retrying helps, what to do next."""
    return ToolError(messages.error_text(exc, subject, kind))
