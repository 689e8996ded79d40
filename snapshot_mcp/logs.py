"""What reaches stderr as log lines: one line per record that nothing outside can forge, and no bodies.

The command (`cli.configure_logging`, `cli.protect_logs`) sets this up on the handlers it
writes through; an embedding program keeps its own logging.

- **One line per record.** A record's message (after its arguments are filled in) is
  made one line by `safe_text.one_line`: CR, LF and other line breaks become spaces,
  every other control, bidi or invisible character is escaped — from any logger (ours,
  uvicorn's, the SDK's), at any level. A traceback or stack continues on lines of its
  own, each escaped the same way and each beginning with `CONTINUED`, so a line break
  inside an exception's message cannot start a line that looks like a record.
- **Audit lines cannot be imitated.** An audit line is the only line that carries
  `AUDIT_MARK` (``snapshot-mcp audit``): its handler's format writes it, and in any
  record's text the mark is escaped (``snapshot-mcp\\u0020audit``). Whatever a request
  or the API puts into a record, a search for the mark finds real audit lines only.
- **No third-party bodies.** Libraries log message bodies at DEBUG: sse_starlette every
  SSE chunk (tool results with their `_meta`: a card's nonce, a confirmation token), the
  SDK's runner and legacy SSE transport their frames, httpcore every header (the API
  token). So `--log-level DEBUG` means this server's own debug lines: every other
  logger stays at INFO at most (httpcore and httpcore2 at WARNING), and the handler
  drops any other library's DEBUG record (`NoLibraryDebug`) — also from a logger whose
  library sets its own level (uvicorn does), or one not yet written.
"""

from __future__ import annotations

import logging
import re
import sys

from .safe_text import one_line

__all__ = [
    "AUDIT_MARK",
    "CONTINUED",
    "LINES",
    "NoLibraryDebug",
    "OneLine",
    "audit_logger",
    "configure",
    "install_audit_handler",
]

AUDIT_MARK = "snapshot-mcp audit"
CONTINUED = "  | "
"""How each line of a traceback or stack begins."""
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

audit_logger = logging.getLogger("snapshot_mcp.audit")
"""Where the audit records are written (`audit.audit`); its handler's format alone writes `AUDIT_MARK`."""

_MARK = re.compile(r"snapshot-mcp audit", re.IGNORECASE)
_DONE = "_snapshot_mcp_one_line"
_HEADER_LOGGERS = ("httpcore", "httpcore2")
"""Log every request's and response's headers at DEBUG (the request's carry the API token)."""
_REQUEST_LOGGERS = ("httpx", "mcp", "uvicorn.access")
"""One line per request or session event: shown at DEBUG only."""


def _unmarked(text: str) -> str:
    return _MARK.sub(lambda match: match.group().replace(" ", "\\u0020"), text)


def _continued(text: str) -> str:
    return "\n".join(CONTINUED + _unmarked(one_line(line)) for line in text.splitlines())


class OneLine(logging.Filter):
    """A handler filter: each record's message one line, its traceback and stack continued, the audit mark escaped."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _DONE, False):
            return True
        setattr(record, _DONE, True)
        message = record.getMessage()
        cleaned = _unmarked(one_line(message))
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _continued(record.exc_text)
        if record.stack_info:
            record.stack_info = _continued(record.stack_info)
        return True


class NoLibraryDebug(logging.Filter):
    """A handler filter: below INFO, only this server's own records pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        ours = record.name == "snapshot_mcp" or record.name.startswith("snapshot_mcp.")
        return ours or record.levelno >= logging.INFO


LINES = OneLine()
"""The one filter every handler the command writes through carries (added once, however often configured)."""
_QUIET = NoLibraryDebug()


def configure(level: str) -> None:
    """stderr at `level` for this server's loggers, INFO at most for every other; `LINES` on the handler."""
    number = logging.getLevelName(level)
    logging.basicConfig(level=max(logging.INFO, number), stream=sys.stderr, format=FORMAT, force=True)
    for handler in logging.getLogger().handlers:
        handler.addFilter(_QUIET)
        handler.addFilter(LINES)
    logging.getLogger("snapshot_mcp").setLevel(number)
    quiet = max(logging.WARNING, number)
    for name in _HEADER_LOGGERS:
        logging.getLogger(name).setLevel(quiet)
    for name in _REQUEST_LOGGERS:  # set again on each call; NOTSET: the root's INFO
        logging.getLogger(name).setLevel(logging.NOTSET if level == "DEBUG" else quiet)


def install_audit_handler() -> None:
    """Audit lines always reach stderr, whatever the log level, each beginning with `AUDIT_MARK`."""
    if not audit_logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s snapshot-mcp %(message)s"))
        audit_logger.addHandler(handler)
    audit_logger.setLevel(logging.INFO)
    audit_logger.propagate = False
