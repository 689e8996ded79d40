"""What goes over the wire: the recorded request, replies, error bodies, timestamps."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime

Reply = tuple[int, dict[str, str], bytes]
"""``(status, headers, body)`` as ``Simulator.handle`` answers it."""

JSON_TYPE = "application/json"
HTML_PAGE = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
GARBAGE = b'{"snapshot": {"id": undefined, \'name\': "x",}'
"""A 200 body that claims to be JSON and is not (a broken proxy or serializer)."""


@dataclass
class SimRequest:
    """One request as received: method, path, query, lowercase headers, raw body."""

    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    fault: str | None = None
    """The randomly drawn fault this request met (``Faults.fail_rate``), if any."""


def iso(dt: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``: ``2020-04-06T10:47:46.786Z``."""
    dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def json_reply(status: int, payload: object, extra: dict[str, str] | None = None) -> Reply:
    return status, {"content-type": JSON_TYPE, **(extra or {})}, json.dumps(payload).encode()


def error(status: int, code: str, message: str, extra: dict[str, str] | None = None) -> Reply:
    return json_reply(status, {"code": code, "message": message}, extra)


def bad(message: str) -> Reply:
    return error(400, "03001", message)


def html_502() -> Reply:
    return 502, {"content-type": "text/html"}, HTML_PAGE
