"""The confirmation page's HTTP side: what each request may ask, and what it is answered.

The page (`page.html`) is one static, network-free document. The request's id and
secret reach it only in the address's fragment (`#<request id>.<secret>`), which a
browser never sends to a server; its script sends them in the JSON body of a POST:

- ``GET /``: the page (never decides anything);
- ``POST /state``: the request's facts and status, for the page to show and to poll;
- ``POST /decide``: the person's decision, ``delete`` or ``keep``.

Before any of that, every request must name this listener exactly (``Host:
127.0.0.1:<port>``, against DNS rebinding); an ``Origin``, if sent, must be this
listener's, and a POST must send it and a JSON body (against cross-site forms). Every
answer forbids framing (``frame-ancestors 'none'``, ``X-Frame-Options: DENY``),
caching and referrers; the page's CSP allows its own inline script and style by hash
and nothing else. Every refusal writes one audit line (``channel=browser``).

What the secret unlocks is the confirmation core's business (`PageDesk`): this module
knows HTTP, not deletion requests.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Literal, Protocol

from snapshot_mcp.confirm.base import audit

PAGE_PATH = "/"
STATE_PATH = "/state"
DECIDE_PATH = "/decide"
QUIET_PATHS = frozenset({"/favicon.ico"})
"""Asked for by the browser itself, not by anyone deciding: answered empty, no audit line."""
MAX_BODY = 4096
AUDIT_TOOL = "browser_page"
REQUEST_ID = re.compile(r"[0-9a-f]{24}")
SECRET = re.compile(r"[A-Za-z0-9_-]{16,200}")

Choice = Literal["delete", "keep"]
"""What the person chose on the page."""


@dataclass(frozen=True)
class Incoming:
    """One HTTP request as the listener read it (header names in lower case)."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes = b""

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


@dataclass(frozen=True)
class Outgoing:
    """One HTTP answer."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = field(default=())


@dataclass(frozen=True)
class DeskAnswer:
    """What the confirmation core answers the page: an HTTP status and a JSON object."""

    status: int
    payload: dict[str, Any]


class PageDesk(Protocol):
    """The confirmation core, as the page reaches it (implemented in `confirm.browser`)."""

    async def look(self, request_id: str, secret: str) -> DeskAnswer:
        """The request's facts and status, if the secret is its own."""
        ...

    async def decide(self, request_id: str, secret: str, decision: Choice) -> DeskAnswer:
        """The person's decision, if the secret is the request's own; decided once, in every face."""
        ...


def page_html() -> str:
    return resources.files("snapshot_mcp.browser").joinpath("page.html").read_text(encoding="utf-8")


def _inline_hashes(html: str, tag: str) -> list[str]:
    """CSP source expressions for each inline `<tag>` block of `html`, by SHA-256."""
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
    return [f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'" for b in blocks]


def page_policy(html: str) -> str:
    """The page's Content-Security-Policy: its own inline style and script (by hash), its own origin for fetch."""
    scripts = " ".join(_inline_hashes(html, "script"))
    styles = " ".join(_inline_hashes(html, "style"))
    return (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
COMMON_HEADERS = (
    ("X-Frame-Options", "DENY"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cross-Origin-Resource-Policy", "same-origin"),
)


def _json(status: int, payload: Mapping[str, Any]) -> Outgoing:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Outgoing(status, body, "application/json", (("Content-Security-Policy", DATA_POLICY), *COMMON_HEADERS))


def refusal(status: int, reason: str, request_id: str | None = None) -> Outgoing:
    """A refusal, with its one audit line. The reason is a fixed word: never a header's or body's text."""
    audit(AUDIT_TOOL, (request_id,) if request_id else (), channel="browser", outcome="refused", detail=reason)
    return _json(status, {"status": "refused"})


class Page:
    """Answers the requests that reach one listener on `127.0.0.1:<port>`."""

    def __init__(self, desk: PageDesk, port: int) -> None:
        self.desk = desk
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.html = page_html().encode()
        self.policy = page_policy(page_html())

    async def respond(self, incoming: Incoming) -> Outgoing:
        refused = self.refused(incoming)
        if refused is not None:
            return refused
        if incoming.method == "GET" and incoming.path in QUIET_PATHS:
            return Outgoing(204, b"", "text/plain", COMMON_HEADERS)
        if incoming.method == "GET":
            return self.page()
        return await self.post(incoming)

    def refused(self, incoming: Incoming) -> Outgoing | None:
        """The checks every request passes before anything is read or answered."""
        headers = incoming.headers
        if headers.get("host") != f"127.0.0.1:{self.port}":
            return refusal(421, "foreign_host")
        origin = headers.get("origin")
        if origin is not None and origin != self.origin:
            return refusal(403, "foreign_origin")
        if incoming.path in (STATE_PATH, DECIDE_PATH) and incoming.method != "POST":
            return refusal(405, "not_a_post")
        if incoming.method == "GET" and (incoming.path == PAGE_PATH or incoming.path in QUIET_PATHS):
            return None
        if incoming.method not in ("GET", "POST") or incoming.path not in (STATE_PATH, DECIDE_PATH):
            return refusal(404, "no_such_path")
        if origin is None:
            return refusal(403, "no_origin")
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return refusal(415, "not_json")
        return None

    def page(self) -> Outgoing:
        return Outgoing(
            200, self.html, "text/html; charset=utf-8", (("Content-Security-Policy", self.policy), *COMMON_HEADERS)
        )

    async def post(self, incoming: Incoming) -> Outgoing:
        try:
            body = json.loads(incoming.body)
        except ValueError:
            return refusal(400, "bad_body")
        if not isinstance(body, dict):
            return refusal(400, "bad_body")
        request_id, secret = body.get("request_id"), body.get("secret")
        if not isinstance(request_id, str) or not REQUEST_ID.fullmatch(request_id):
            return refusal(400, "bad_body")
        if not isinstance(secret, str) or not secret:
            return refusal(403, "no_secret", request_id)
        if not SECRET.fullmatch(secret):
            return refusal(403, "bad_secret", request_id)
        if incoming.path == STATE_PATH:
            answer = await self.desk.look(request_id, secret)
        else:
            decision = body.get("decision")
            if decision not in ("delete", "keep"):
                return refusal(400, "bad_decision", request_id)
            answer = await self.desk.decide(request_id, secret, decision)
        return _json(answer.status, answer.payload)
