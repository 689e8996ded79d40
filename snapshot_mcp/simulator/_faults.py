"""Fault injection: what ``Faults`` does before routing and to a successful answer."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus

from ._wire import GARBAGE, JSON_TYPE, Reply, SimRequest, error, html_502

RANDOM_FAULT_KINDS: tuple[str, ...] = (
    "429",
    "500",
    "502",
    "503",
    "504",
    "connect",
    "timeout",
    "reset",
    "garbage",
    "html",
    "truncated",
)
"""What ``Faults.fail_rate`` draws from: a status, a transport failure, or a broken body."""
TRANSPORT_KINDS = frozenset({"connect", "timeout", "reset"})


@dataclass
class Faults:
    """Deterministic fault injection; everything off by default, counters decrement as used."""

    latency: float = 0.0
    fail_first: int = 0
    fail_status: int = 503
    retry_after: float | None = None
    fail_methods: frozenset[str] | None = None
    malformed_first: int = 0
    html_error_first: int = 0
    fail_when: Callable[[SimRequest], int | None] | None = None
    connect_error_first: int = 0
    read_timeout_first: int = 0
    reset_first: int = 0
    garbage_first: int = 0
    fail_rate: float = 0.0
    rng: random.Random | None = None
    random_kinds: tuple[str, ...] = RANDOM_FAULT_KINDS
    drawn: dict[str, int] = field(default_factory=dict)

    def applies_to(self, method: str) -> bool:
        """Whether injected faults (all but latency) apply to this HTTP method."""
        return self.fail_methods is None or method.upper() in self.fail_methods

    def draw(self, method: str) -> str | None:
        """A random fault kind for one request (``fail_rate`` of the time), or None."""
        if self.fail_rate <= 0 or not self.random_kinds or not self.applies_to(method):
            return None
        if self.rng is None:
            self.rng = random.Random(0)  # noqa: S311 - reproducible fault injection, not security
        if self.rng.random() >= self.fail_rate:
            return None
        kind = self.rng.choice(self.random_kinds)
        self.drawn[kind] = self.drawn.get(kind, 0) + 1
        return kind

    def transport_fault(self, method: str, kind: str | None) -> str | None:
        """The transport failure (``connect``/``timeout``/``reset``) this request meets, if any."""
        after = kind if kind in TRANSPORT_KINDS else None
        if self.applies_to(method):
            if self.connect_error_first > 0:
                self.connect_error_first -= 1
                after = "connect"
            elif self.read_timeout_first > 0:
                self.read_timeout_first -= 1
                after = "timeout"
            elif self.reset_first > 0:
                self.reset_first -= 1
                after = "reset"
        return after

    def before(self, req: SimRequest) -> Reply | None:
        """The injected answer that replaces routing (HTML page, status), or None."""
        kind = req.fault
        if kind == "html":
            return html_502()
        if kind is not None and kind.isdigit():
            return self.status_reply(int(kind))
        if not self.applies_to(req.method):
            return None
        if self.html_error_first > 0:
            self.html_error_first -= 1
            return html_502()
        status: int | None = None
        if self.fail_first > 0:
            self.fail_first -= 1
            status = self.fail_status
        elif self.fail_when is not None:
            status = self.fail_when(req)
        return None if status is None else self.status_reply(status)

    def after(self, req: SimRequest, reply: Reply) -> Reply:
        """A 2xx answer as the client gets it: cut in half, replaced by garbage, or intact."""
        status, headers, body = reply
        kind = req.fault
        if not 200 <= status < 300 or not self.applies_to(req.method):
            return reply
        if body and (kind == "truncated" or (kind is None and self.malformed_first > 0)):
            if kind is None:
                self.malformed_first -= 1
            return status, headers, body[: len(body) // 2]
        if kind == "garbage" or (kind is None and self.garbage_first > 0):
            if kind is None:
                self.garbage_first -= 1
            return 200, {"content-type": JSON_TYPE}, GARBAGE
        return reply

    def status_reply(self, status: int) -> Reply:
        """An injected error status (code ``09001``); 429/503 carry ``Retry-After`` when set."""
        extra: dict[str, str] = {}
        after = self.retry_after
        if status in (429, 503) and after is not None:
            extra["retry-after"] = str(int(after)) if float(after).is_integer() else str(after)
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        return error(status, "09001", f"Simulated fault: {status} {phrase}", extra)
