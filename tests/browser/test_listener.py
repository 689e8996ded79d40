"""browser/listener.py over a real loopback socket: how it binds, answers, refuses, and when it closes.

The handler is the real `Page` with a recording desk; requests are sent with httpx (the
Host header it sends is the listener's own) or as raw bytes, for what no well-behaved
client sends.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from anyio.abc import TaskGroup

from snapshot_mcp.browser.listener import Listener
from snapshot_mcp.browser.page import MAX_BODY, Incoming, Outgoing, Page
from snapshot_mcp.confirm import install_audit_handler
from tests.support import REQUEST_ID, SECRET, Desk, audit_lines

pytestmark = pytest.mark.slow  # a real network listener on loopback


class Pending:
    """Which requests the store would call pending (a test flips them)."""

    def __init__(self) -> None:
        self.open: set[str] = set()

    async def __call__(self, request_id: str) -> bool:
        return request_id in self.open


@pytest.fixture
async def tasks() -> AsyncIterator[TaskGroup]:
    install_audit_handler()
    async with anyio.create_task_group() as group:
        yield group
        group.cancel_scope.cancel()


def listener_for(desk: Desk, pending: Pending, *, grace: float = 0.0) -> Listener:
    return Listener(lambda port: Page(desk, port).respond, pending, grace=grace, tick=0.01)


async def raw(port: int, data: bytes) -> bytes:
    """Send `data` as is and read the whole answer (the listener closes after one)."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(data)
        answer = b""
        with anyio.fail_after(15):
            while True:
                try:
                    answer += await stream.receive()
                except anyio.EndOfStream:
                    return answer


async def test_it_binds_loopback_and_answers_the_page(tasks: TaskGroup) -> None:
    """127.0.0.1 on a port the system chose; GET / is the page, POST /state reaches the desk; one request each."""
    desk, pending = Desk(), Pending()
    pending.open.add(REQUEST_ID)
    listener = listener_for(desk, pending, grace=60)
    port = await listener.ensure(tasks)
    listener.serve(REQUEST_ID, 60)
    assert port > 0
    assert await listener.ensure(tasks) == port, "a second use finds the running listener"
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base) as http:
        page = await http.get("/")
        state = await http.post("/state", json={"request_id": REQUEST_ID, "secret": SECRET}, headers={"Origin": base})
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    assert page.headers["connection"] == "close"
    assert "<title>Confirm snapshot deletion" in page.text
    assert state.json() == {"status": "pending"}
    assert desk.looks == [(REQUEST_ID, SECRET)]


async def test_a_foreign_host_is_refused_on_the_wire(tasks: TaskGroup) -> None:
    """A DNS-rebinding request (Host: evil.example:<port>) is refused before anything is read; one audit line."""
    desk, pending = Desk(), Pending()
    listener = listener_for(desk, pending, grace=60)
    port = await listener.ensure(tasks)
    listener.serve(REQUEST_ID, 60)
    pending.open.add(REQUEST_ID)
    body = json.dumps({"request_id": REQUEST_ID, "secret": SECRET, "decision": "delete"}).encode()
    with audit_lines() as lines:
        answer = await raw(
            port,
            b"POST /decide HTTP/1.1\r\nHost: evil.example:%d\r\nOrigin: http://evil.example:%d\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (port, port, len(body), body),
        )
    assert answer.startswith(b"HTTP/1.1 421 ")
    assert desk.decisions == []
    assert [line.split(" detail=")[1] for line in lines.lines] == ['"foreign_host"']


@pytest.mark.parametrize(
    ("request_bytes", "status", "reason"),
    [
        (b"GARBAGE\r\n\r\n", b"400", '"bad_request"'),
        (
            b"POST /decide HTTP/1.1\r\nHost: 127.0.0.1:%(port)d\r\nContent-Length: %(big)d\r\n\r\n"
            + b"x" * (MAX_BODY + 1),
            b"413",
            '"too_large"',
        ),
    ],
    ids=["malformed", "too-large"],
)
async def test_malformed_and_oversized_requests_are_refused(
    tasks: TaskGroup, request_bytes: bytes, status: bytes, reason: str
) -> None:
    """What h11 cannot parse, and a body over the limit: refused with one audit line each, desk untouched."""
    desk, pending = Desk(), Pending()
    listener = listener_for(desk, pending, grace=60)
    port = await listener.ensure(tasks)
    with audit_lines() as lines:
        answer = await raw(port, request_bytes % {b"port": port, b"big": MAX_BODY + 1})
    assert answer.split(b" ")[1] == status
    assert desk.looks == []
    assert desk.decisions == []
    assert [line.split(" detail=")[1] for line in lines.lines] == [reason]


async def test_it_stays_up_while_pending_and_closes_after_the_grace_period(tasks: TaskGroup) -> None:
    """Pending: it answers; decided: after the grace period it closes, and the port refuses connections."""
    desk, pending = Desk(), Pending()
    pending.open.add(REQUEST_ID)
    listener = listener_for(desk, pending, grace=0.2)
    port = await listener.ensure(tasks)
    listener.serve(REQUEST_ID, 60)
    closed = listener.closed
    with anyio.move_on_after(0.5):
        await closed.wait()
    assert not closed.is_set(), "a pending request keeps the listener up past the grace period"
    pending.open.clear()
    listener.changed()
    with anyio.fail_after(10):
        await closed.wait()
    assert listener.port is None
    with pytest.raises(OSError, match=r"connect|refused"):
        await anyio.connect_tcp("127.0.0.1", port)


async def test_an_expired_request_no_longer_holds_it_up(tasks: TaskGroup) -> None:
    """A request past its expiry counts as settled even if the store still says pending."""
    desk, pending = Desk(), Pending()
    pending.open.add(REQUEST_ID)
    listener = listener_for(desk, pending)
    await listener.ensure(tasks)
    listener.serve(REQUEST_ID, 0.05)
    with anyio.fail_after(10):
        await listener.closed.wait()


async def test_a_new_request_after_closing_starts_a_new_listener(tasks: TaskGroup) -> None:
    """Once closed, the next use binds again (a fresh port) and serves."""
    desk, pending = Desk(), Pending()
    listener = listener_for(desk, pending)
    await listener.ensure(tasks)
    with anyio.fail_after(10):
        await listener.closed.wait()
    pending.open.add(REQUEST_ID)
    port = await listener.ensure(tasks)
    listener.serve(REQUEST_ID, 60)
    assert not listener.closed.is_set()
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"http://127.0.0.1:{port}/")).status_code == 200


async def test_a_handler_that_fails_answers_500_and_the_listener_goes_on(tasks: TaskGroup) -> None:
    """A bug answering one request costs that request only: 500, and the next request is answered."""
    desk, pending = Desk(), Pending()
    calls: list[str] = []

    async def handler(incoming: Incoming) -> Outgoing:
        calls.append(incoming.path)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return Outgoing(200, b"{}")

    listener = Listener(lambda port: handler, pending, grace=60, tick=0.01)
    port = await listener.ensure(tasks)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        failed = await http.get("/")
        answered = await http.get("/")
    assert (failed.status_code, answered.status_code) == (500, 200)
    assert not listener.closed.is_set()
    assert desk.looks == []
