"""What every confirmation channel shares: the call it judges, its verdict, its audit line.

A channel decides whether a human said yes to deleting some snapshots. It answers
with one of three verdicts:

- `Approved`: delete these snapshots (all or some of those asked about);
- `Refused`: delete nothing, for a reason the channel words (a plain result, or an
  error result when the call itself cannot proceed);
- `Replied`: the channel answers this call itself (a preview with a token, a
  question that rides the 2026-07-28 input-required round trip); nothing is deleted.

Every delete attempt writes exactly one audit line on stderr, whatever the log
level: the tool, the snapshot ids, the channel, the outcome, and who asked (the OAuth
token's subject and client, when there is one). Never a token or nonce. The record
itself (and the audit file) is `snapshot_mcp.audit`'s.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from mcp.server.mcpserver import Context
from mcp.types import CallToolResult, InputRequiredResult

from snapshot_mcp.audit import audit, audit_logger, install_audit_handler
from snapshot_mcp.models import Snapshot
from snapshot_mcp.views import DeleteReport

__all__ = [
    "Approved",
    "Channel",
    "ChannelVerdict",
    "DeletionCall",
    "Refused",
    "Replied",
    "audit",
    "audit_logger",
    "install_audit_handler",
    "session_of",
]


def session_of(ctx: Context[Any, Any]) -> str:
    """The MCP session a request came in (HTTP), or "local" (stdio, memory, the 2026-07-28 era)."""
    return (ctx.headers or {}).get("mcp-session-id", "local")


@dataclass(frozen=True)
class DeletionCall:
    """One call of a delete tool, with the snapshots it names, as the API shows them now."""

    ctx: Context[Any, Any]
    tool: str
    snapshots: tuple[Snapshot, ...]
    deadline: float
    """`time.monotonic()` by which the whole call must have answered (the client's patience)."""
    confirmation_token: str | None = None
    report: DeleteReport = field(kw_only=True)
    """Builds this tool's result, in its own shape, whichever channel answers."""

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(snapshot.id for snapshot in self.snapshots)

    @property
    def session(self) -> str:
        return session_of(self.ctx)


@dataclass(frozen=True)
class Approved:
    """A human (or the operator's policy) approved deleting these snapshots."""

    snapshots: tuple[Snapshot, ...]
    reread: bool = False
    """The yes came a while after the snapshots were read: read each again, delete only the unchanged."""


@dataclass(frozen=True)
class Refused:
    """Nothing is deleted. `error`: answer with an error result rather than a plain one."""

    outcome: str
    message: str
    error: bool = False


@dataclass(frozen=True)
class Replied:
    """The channel answers the call itself; nothing is deleted by this call."""

    result: CallToolResult | InputRequiredResult


ChannelVerdict = Approved | Refused | Replied


class Channel(ABC):
    """One way of asking a human before a delete."""

    name: ClassVar[str]
    """The channel's name in audit lines and settings."""

    def available(self, ctx: Context[Any, Any]) -> bool:
        """Whether this client can really show this channel (see `ladder`)."""
        return True

    @abstractmethod
    async def confirm(self, call: DeletionCall) -> ChannelVerdict:
        """Ask (or look up the answer) and judge it."""

    def audit(self, call: DeletionCall, outcome: str, detail: str = "") -> None:
        audit(call.tool, call.ids, channel=self.name, outcome=outcome, detail=detail)

    def refuse(
        self, call: DeletionCall, outcome: str, message: str, *, error: bool = False, detail: str = ""
    ) -> Refused:
        """A refusal, with its audit line."""
        self.audit(call, outcome, detail)
        return Refused(outcome, message, error)
