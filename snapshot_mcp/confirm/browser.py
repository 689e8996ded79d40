"""The browser channel: the person's own browser, on a page this server serves on loopback.

For a server on the person's own machine (stdio) whose client shows neither a card nor
a form, or for a person whose card never appeared (`ask_in_browser`), the server opens
the person's default browser on a page it serves itself, as `gh auth login` does. The
page is another face of the same deletion request the card shows (`requests`): the
delete tool opens a request (or finds this session's pending one for the same
snapshots, the card's included), opens the page, and waits for the person's decision
at most `timeout` seconds (and never past the call's budget), sending progress. The
page decides through `decisions.Decisions`, the path every face shares, so a request
decided in the card is decided on the page and the other way round.

- No decision in time: the call answers `awaiting_confirmation`; the page stays valid
  until the request expires, and a later call for the same snapshots reports what
  the person decided (or shows the page again while it is pending).
- The page's address carries the request id and the browser face's secret in its
  fragment only (`#<request id>.<secret>`): it is never in a tool result, a
  notification or a log line, so the model never holds it. Another face's secret
  (the card's nonce) does not decide here.

`BrowserPages` owns the listener, the opener and, per request it opened, the session
that made it (the page has no MCP session of its own). It answers the page as its
`PageDesk`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from anyio.abc import TaskGroup
from mcp.server.mcpserver import Context
from mcp.types import CallToolResult

from snapshot_mcp import messages
from snapshot_mcp.browser import GRACE_SECONDS, background_tasks
from snapshot_mcp.browser.opener import Launcher, Opener
from snapshot_mcp.browser.page import AUDIT_TOOL, Choice, DeskAnswer, Page
from snapshot_mcp.errors import SnapshotMCPError, StoreUnavailable
from snapshot_mcp.models import Snapshot
from snapshot_mcp.views import tool_result

from .base import Channel, ChannelVerdict, DeletionCall, Replied, audit
from .card import CONFIRMATION_META, status_result
from .decisions import Decision, Decisions
from .ladder import declares_card
from .requests import MAX_BAD_SECRETS, DeletionRequest, DeletionRequests, Face, RequestStatus
from .shown import request_view

if TYPE_CHECKING:
    from snapshot_mcp.browser.listener import Listener

logger = logging.getLogger("snapshot_mcp.confirm")

FACE: Face = "browser"
TICK_SECONDS = 1.0
"""How often a waiting call looks at the request again (and sends progress)."""
ANSWER_RESERVE = 2.0
"""Seconds of the call's budget kept for answering after the wait."""


@asynccontextmanager
async def browser_pages(
    requests: DeletionRequests,
    decisions: Decisions,
    launcher: Launcher | None,
    *,
    grace: float = GRACE_SECONDS,
) -> AsyncIterator[BrowserPages | None]:
    """The server's pages while it runs (their listener's tasks end with it); None where no browser can be opened.

    What ends the server's run arrives as itself, not wrapped in the task group's exception group.
    """
    if launcher is None:
        yield None
        return
    async with background_tasks() as tasks:
        yield BrowserPages(requests, decisions, Opener(launcher), tasks, grace=grace)


class BrowserPages:
    """This server's confirmation pages: the loopback listener, the opener, and who asked for each request."""

    def __init__(
        self,
        requests: DeletionRequests,
        decisions: Decisions,
        opener: Opener,
        tasks: TaskGroup,
        *,
        grace: float = GRACE_SECONDS,
    ) -> None:
        self.requests = requests
        self.decisions = decisions
        self.opener = opener
        self.tasks = tasks
        self._grace = grace
        self._listener: Listener | None = None
        self._sessions: dict[str, tuple[str, float]] = {}
        self._decided: dict[str, anyio.Event] = {}

    @property
    def listener(self) -> Listener:
        """The loopback listener, made when a page is first shown (its module, and h11, load then)."""
        if self._listener is None:
            from snapshot_mcp.browser.listener import Listener

            self._listener = Listener(lambda port: Page(self, port).respond, self._still_pending, grace=self._grace)
        return self._listener

    async def show(self, request: DeletionRequest, session: str) -> bool:
        """Serve `request`'s page and open the person's browser on it; False when the browser cannot be started."""
        self._forget_expired()
        self._sessions[request.id] = (session, request.expires)
        port = await self.listener.ensure(self.tasks)
        self.listener.serve(request.id, request.expires - self.requests.clock())
        address = f"http://127.0.0.1:{port}/#{request.id}.{self.requests.secret(request.id, FACE)}"
        try:
            await anyio.to_thread.run_sync(self.opener.open, address)
        except OSError as exc:  # never the exception's text: it may hold the address
            logger.warning("could not start the browser (%s)", type(exc).__name__)
            return False
        return True

    def decided(self, request_id: str) -> anyio.Event:
        """Set the next time the page decides `request_id` (a decision in another face is found by looking again)."""
        return self._decided.setdefault(request_id, anyio.Event())

    def _pulse(self, request_id: str) -> None:
        """Wake whoever waits on `request_id`; the next wait gets a fresh event (no waiter spins on a set one)."""
        event = self._decided.pop(request_id, None)
        if event is not None:
            event.set()
        if self._listener is not None:
            self._listener.changed()

    def _forget_expired(self) -> None:
        now = self.requests.clock()
        for request_id, (_, expires) in list(self._sessions.items()):
            if expires < now - GRACE_SECONDS:
                self._sessions.pop(request_id, None)
                self._decided.pop(request_id, None)

    async def _still_pending(self, request_id: str) -> bool:
        session = self._sessions.get(request_id)
        request = None if session is None else await self.requests.load(request_id, session[0])
        return request is not None and request.status == "pending" and not self.requests.expired(request)

    # -- the page's desk ------------------------------------------------------------------

    async def look(self, request_id: str, secret: str) -> DeskAnswer:
        """The request as recorded (the page polls this: no API call; a Delete re-reads the snapshots)."""
        session = self._sessions.get(request_id)
        try:
            request = None if session is None else await self.requests.load(request_id, session[0])
            if request is not None and not self.requests.secret_matches(request_id, FACE, secret):
                tries = await self.requests.bad_secret(request)
                audit(AUDIT_TOOL, request.ids, channel=FACE, outcome="bad_nonce", detail=f"try {tries}")
                if tries >= MAX_BAD_SECRETS:
                    self._pulse(request_id)
                return DeskAnswer(403, {"status": "refused"})
        except StoreUnavailable as exc:
            return _unavailable(request_id, exc)
        if request is None:
            return _unknown(request_id)
        return DeskAnswer(200, self._payload(request, _status(self.requests, request), None))

    async def decide(self, request_id: str, secret: str, decision: Choice) -> DeskAnswer:
        session = self._sessions.get(request_id)
        if session is None:
            return _unknown(request_id)
        try:
            decided = await self.decisions.decide(request_id, secret, decision, None, face=FACE, session=session[0])
        except SnapshotMCPError:  # the API could not be read to check the snapshots; the decision path audited it
            return DeskAnswer(503, {"status": "unavailable"})
        return self._answer(request_id, decided)

    def _answer(self, request_id: str, decided: Decision) -> DeskAnswer:
        """The page's answer to a decision (the decision path wrote its audit line, whatever it was)."""
        if decided.outcome == "store_down":
            return DeskAnswer(503, {"status": "unavailable"})
        if decided.outcome == "unknown" or decided.request is None:
            return DeskAnswer(404, {"status": "unknown"})
        if decided.outcome == "bad_secret":
            if decided.void:
                self._pulse(request_id)
            return DeskAnswer(403, {"status": "refused"})
        self._pulse(request_id)
        payload = self._payload(decided.request, decided.request.status, decided.now)
        return DeskAnswer(200, {**payload, "outcome": decided.outcome})

    def _payload(
        self, request: DeletionRequest, status: RequestStatus, now: Mapping[str, Snapshot] | None
    ) -> dict[str, Any]:
        view = request_view(request, status, now).model_dump(mode="json", exclude_none=True)
        left = max(0.0, request.expires - self.requests.clock())
        return {"status": status, "request": view, "expires_in": round(left, 3)}


def _unknown(request_id: str) -> DeskAnswer:
    audit(AUDIT_TOOL, (request_id,), channel=FACE, outcome="refused", detail="unknown_request")
    return DeskAnswer(404, {"status": "unknown"})


def _unavailable(request_id: str, exc: Exception) -> DeskAnswer:
    audit(AUDIT_TOOL, (request_id,), channel=FACE, outcome="refused", detail=type(exc).__name__)
    return DeskAnswer(503, {"status": "unavailable"})


class BrowserChannel(Channel):
    """Open the request's page in the person's browser and wait, a bounded time, for their decision."""

    name = FACE

    def __init__(self, pages: BrowserPages | None, *, timeout: float) -> None:
        self.pages = pages
        self.timeout = timeout

    def available(self, ctx: Context[Any, Any]) -> bool:
        """Only where this server can open the person's own graphical browser (stdio, a desktop)."""
        return self.pages is not None

    async def confirm(self, call: DeletionCall) -> ChannelVerdict:
        assert self.pages is not None, "offered only where the browser can be opened"
        requests = self.pages.requests
        request = await requests.latest(call.session, call.ids)
        if request is not None:
            status = await self.pages.decisions.standing(
                request, {snapshot.id: snapshot for snapshot in call.snapshots}
            )
            if status != "pending":
                return await self._report(call, request, status)
        else:
            request = await requests.open(call.tool, call.snapshots, call.session)
        if not await self.pages.show(request, call.session):
            return self.refuse(call, "refused", messages.BROWSER_FAILED, error=True, detail="browser_failed")
        decided = await self._wait(call, request)
        if decided is not None:
            return await self._report(call, decided, decided.status)
        self.audit(call, "awaiting_confirmation")
        return Replied(waiting_result(call, request, requests.secret(request.id, "card")))

    async def _report(self, call: DeletionCall, request: DeletionRequest, status: RequestStatus) -> ChannelVerdict:
        assert self.pages is not None
        await self.pages.requests.forget(call.session, call.ids)  # the next delete of these asks anew
        self.audit(call, f"reported_{status}")
        return Replied(status_result(call, request, status, asked_in=FACE))

    async def _wait(self, call: DeletionCall, request: DeletionRequest) -> DeletionRequest | None:
        """The request once decided (or expired), or None when the person did not decide in time."""
        assert self.pages is not None
        started = time.monotonic()
        patience = max(0.0, min(self.timeout, call.deadline - started - ANSWER_RESERVE))
        with anyio.move_on_after(patience):
            while True:
                decided = self.pages.decided(request.id)  # taken before looking: a decision after it wakes us
                current = await self.pages.requests.load(request.id, call.session)
                if current is None:
                    return None
                if current.status not in ("pending", "deleting") or self.pages.requests.expired(current):
                    return current.model_copy(update={"status": _status(self.pages.requests, current)})
                elapsed = time.monotonic() - started
                await call.ctx.report_progress(elapsed, total=patience, message=messages.BROWSER_PROGRESS)
                with anyio.move_on_after(TICK_SECONDS):
                    await decided.wait()
        return None


def _status(requests: DeletionRequests, request: DeletionRequest) -> RequestStatus:
    return "expired" if request.status == "pending" and requests.expired(request) else request.status


def waiting_result(call: DeletionCall, request: DeletionRequest, card_nonce: str) -> CallToolResult:
    """The delete tool's answer when the person did not decide in time: pending, nothing deleted.

    No address and no browser secret in it. A client that shows the card gets the
    card's own nonce in `_meta`, as under the card channel: the card it shows for this
    result is the same request's other face.
    """
    snapshots = [facts.snapshot() for facts in request.snapshots]
    line = messages.question_for(snapshots).replace("\n", " · ")
    expires_at = request.expires_at()
    message = messages.BROWSER_STATUS_PENDING
    result = call.report(
        snapshots, "awaiting_confirmation", message, request_id=request.id, expires_at=expires_at, awaiting=True
    )
    answer = tool_result(messages.browser_waiting(line, expires_at, request.id, call.tool), result)
    if declares_card(call.ctx):
        answer.meta = {CONFIRMATION_META: {"request_id": request.id, "nonce": card_nonce, "expires_at": expires_at}}
    return answer
