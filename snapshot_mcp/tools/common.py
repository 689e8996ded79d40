"""What every tool shares: its context's state and progress reporting."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context

from snapshot_mcp import messages
from snapshot_mcp.operations import Progress, ScanStep, WaitStep
from snapshot_mcp.redact import redact
from snapshot_mcp.state import app_state


def progress(ctx: Context[Any, Any]) -> Progress:
    """Progress notifications for this call (a no-op unless the client sent a progress token).

    A notification is a message the response middleware never sees: its text (API data,
    such as a status) loses the configured secrets here.
    """
    secrets = app_state(ctx).settings.secret_values

    async def report(step: ScanStep | WaitStep) -> None:
        if isinstance(step, ScanStep):
            done, total = float(step.read), float(step.pages)
            message = messages.scan_progress(step.read, step.pages)
        else:
            done, total = step.done, step.total
            message = messages.wait_progress(step.status, step.elapsed, gone=step.gone)
        await ctx.report_progress(done, total=total, message=redact(message, secrets))

    return report
