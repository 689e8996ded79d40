"""The audit trail: one record per delete attempt, on stderr and optionally in a JSON-lines file.

A record says which tool, which snapshots, through which confirmation channel, with what
outcome, and who: the OAuth access token's subject (`sub`) and client (`client_id`, or
`azp`) when the request carried one, and the JSON-RPC id of the request. Never a token,
nonce or secret: the fields are ids, names this server chose, and the token's two
identity claims.

- stderr: one line per record, whatever the log level (`logs.install_audit_handler`);
- `--audit-file PATH`: each record also appended to PATH as one JSON line and flushed.
  Before a confirmed DELETE is sent, an `approved` record is appended there
  (`record_approval`); when it cannot be written, `AuditUnavailable` stops the delete, so
  nothing is deleted that the file does not show. Other records that cannot be written
  are logged as errors and the call goes on (nothing irreversible follows them).

Who and which request come from the context of the MCP request being handled: the
SDK's `get_access_token()`, and `AuditScope`, the server middleware that knows the
request id and the server's file.
"""

from __future__ import annotations

import json
import logging
import os
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from .errors import SnapshotMCPError, Who
from .logs import audit_logger, install_audit_handler

__all__ = [
    "AuditFile",
    "AuditRecord",
    "AuditScope",
    "AuditUnavailable",
    "audit",
    "audit_logger",
    "caller",
    "install_audit_handler",
    "record_approval",
]

logger = logging.getLogger("snapshot_mcp")


class AuditUnavailable(SnapshotMCPError):
    """The audit file cannot be written, so a delete that must be recorded first is not sent."""

    who: Who = "operator"


@dataclass(frozen=True)
class AuditRecord:
    """One audit record; `line()` is its stderr form, `json()` its line in the audit file."""

    time: str
    tool: str
    snapshot_ids: tuple[str, ...]
    channel: str
    outcome: str
    detail: str
    subject: str | None
    client: str | None
    request_id: str | None

    def line(self) -> str:
        """``audit tool=… snapshot_id=… channel=… [subject=… client=…] outcome=… [detail=…]`` (values JSON-quoted)."""
        ids = self.snapshot_ids
        shown = json.dumps(ids[0]) if len(ids) == 1 else json.dumps(list(ids))
        who = f" subject={json.dumps(self.subject)} client={json.dumps(self.client)}" if self.subject else ""
        extra = f" detail={json.dumps(self.detail)}" if self.detail else ""
        return f"audit tool={self.tool} snapshot_id={shown} channel={self.channel}{who} outcome={self.outcome}{extra}"

    def json(self) -> str:
        return json.dumps({**asdict(self), "snapshot_ids": list(self.snapshot_ids)}, separators=(",", ":"))


class AuditFile:
    """The `--audit-file`: records appended as JSON lines, each flushed before `append` returns.

    The file is opened for each record, so a log rotation that moves it away is followed.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def check(self) -> None:
        """Raise `AuditUnavailable` unless the file can be appended to now (its directory must exist)."""
        if not self.path.parent.is_dir():
            raise AuditUnavailable(f"the directory {self.path.parent} does not exist")
        self._write("")

    def append(self, record: AuditRecord) -> None:
        self._write(record.json() + "\n")

    def _write(self, text: str) -> None:
        try:
            with self.path.open("a", encoding="utf-8") as file:
                file.write(text)
                file.flush()
        except OSError as exc:
            raise AuditUnavailable(f"{self.path} cannot be written ({exc.strerror or type(exc).__name__})") from None


@dataclass(frozen=True)
class _Request:
    file: AuditFile | None
    request_id: str | None


_current: ContextVar[_Request | None] = ContextVar("snapshot_mcp_audit", default=None)


class AuditScope:
    """Server middleware: the records written while handling a request name its id and go to this server's file."""

    def __init__(self, file: AuditFile | None) -> None:
        self.file = file

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        request_id = None if ctx.request_id is None else str(ctx.request_id)
        token = _current.set(_Request(self.file, request_id))
        try:
            return await call_next(ctx)
        finally:
            _current.reset(token)


def caller() -> tuple[str | None, str | None]:
    """(subject, client) of the current request's OAuth access token; (None, None) without one."""
    token = get_access_token()
    if token is None:
        return None, None
    return token.subject, token.client_id


def _record(tool: str, snapshot_ids: tuple[str, ...], channel: str, outcome: str, detail: str) -> AuditRecord:
    subject, client = caller()
    request = _current.get()
    return AuditRecord(
        time=datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        tool=tool,
        snapshot_ids=tuple(snapshot_ids),
        channel=channel,
        outcome=outcome,
        detail=detail,
        subject=subject,
        client=client,
        request_id=None if request is None else request.request_id,
    )


def audit(tool: str, snapshot_ids: tuple[str, ...], *, channel: str, outcome: str, detail: str = "") -> AuditRecord:
    """One record per delete attempt, allowed or refused: stderr, and the audit file if there is one."""
    record = _record(tool, snapshot_ids, channel, outcome, detail)
    audit_logger.info("%s", record.line())
    request = _current.get()
    if request is not None and request.file is not None:
        try:
            request.file.append(record)
        except AuditUnavailable as exc:
            logger.error("the audit record of %s (%s) is missing from the audit file: %s", tool, outcome, exc)
    return record


def record_approval(tool: str, snapshot_ids: tuple[str, ...], *, channel: str) -> None:
    """Append the `approved` record of a confirmed delete to the audit file; call it before sending the DELETE.

    Raises `AuditUnavailable` (and logs why) when it cannot be written: the DELETE must
    then not be sent. Without an audit file there is nothing to write first.
    """
    request = _current.get()
    if request is None or request.file is None:
        return
    record = _record(tool, snapshot_ids, channel, "approved", "")
    try:
        request.file.append(record)
    except AuditUnavailable as exc:
        logger.error("nothing deleted: the approved delete of %s could not be recorded first: %s", snapshot_ids, exc)
        refused = _record(tool, snapshot_ids, channel, "refused", "AuditUnavailable")
        audit_logger.info("%s", refused.line())
        raise AuditUnavailable(
            "The audit file cannot be written, so the delete was not sent (every delete is recorded there first)"
        ) from exc
