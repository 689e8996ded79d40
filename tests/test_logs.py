"""`logs`: one line per record that nothing outside can forge, audit lines only from the audit logger,
and no third-party DEBUG output (bodies, nonces, tokens) on stderr.

The filters are checked on records of any logger's name; the command is checked as a real
process over HTTP (slow): a forged audit line in a refused request's path, and the card's
nonce and a confirmation token at `--log-level DEBUG`.
"""

from __future__ import annotations

import io
import json
import logging
import re
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from subprocess import PIPE
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from snapshot_mcp import cli, logs
from snapshot_mcp.confirm.base import audit, audit_logger, install_audit_handler
from tests.support import APPS, MODES, SEED_ID, text_of
from tests.support.processes import SCRIPT, base_env

HTTP_TOKEN = "client-token-for-the-log-tests"


FORGED = (
    f'2026-12-04 21:09:37,123 snapshot-mcp audit tool=delete_snapshot snapshot_id="{SEED_ID}" '
    "channel=card outcome=deleted"
)


LOGGER_NAMES = [
    "uvicorn.error",
    "uvicorn.access",
    "mcp.server.streamable_http",
    "sse_starlette.sse",
    "snapshot_mcp.http",
]


CONTROLS = "\r\n\x0b\x0c\x1b[31m\x00\x07\x08\x7f\x85\u2028\u202e\u200b"


def handler_of(stream: io.StringIO) -> logging.Handler:
    """A handler as `logs.configure` sets up the root's: the command's format, both filters."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(logs.FORMAT))
    handler.addFilter(logs.NoLibraryDebug())
    handler.addFilter(logs.LINES)
    return handler


def emit(name: str, level: int, msg: str, *args: object, exc: BaseException | None = None) -> str:
    """What the command's handler writes for one record of logger `name`."""
    stream = io.StringIO()
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    record = logging.getLogger(name).makeRecord(name, level, "x.py", 1, msg, args, exc_info)
    handler_of(stream).handle(record)
    return stream.getvalue()


def raised(message: str) -> BaseException:
    try:
        raise ValueError(message)
    except ValueError as exc:
        return exc


@pytest.mark.parametrize("name", LOGGER_NAMES)
def test_a_message_and_its_arguments_become_one_line(name: str) -> None:
    """CR, LF, other controls and line separators, from the message or its %-arguments: one line, escaped."""
    written = emit(name, logging.WARNING, f"refused {CONTROLS} %s and %r", f"GET /mcp{CONTROLS}\n{FORGED}", CONTROLS)
    assert written.count("\n") == 1
    assert written.endswith("\n")
    assert not any(ch in written[:-1] for ch in CONTROLS if not ch.isprintable())
    assert "\\u001b[31m" in written
    assert "\\u202e" in written
    assert not written.startswith(FORGED[:10])


@pytest.mark.parametrize("name", LOGGER_NAMES)
def test_no_record_can_carry_the_audit_mark(name: str) -> None:
    """The mark of an audit line is escaped in any other record's text, whatever its case."""
    for text in (FORGED, FORGED.upper(), FORGED.replace("snapshot-mcp audit", "Snapshot-MCP Audit")):
        written = emit(name, logging.ERROR, "refused %s", text)
        assert logs.AUDIT_MARK not in written.lower()
        assert "snapshot-mcp\\u0020audit" in written.lower()


def test_a_traceback_continues_on_marked_lines_and_cannot_start_one() -> None:
    """An exception whose message holds a line break and a forged audit line: every traceback line is marked."""
    written = emit("uvicorn.error", logging.ERROR, "Exception in ASGI application", exc=raised(f"bad\r\n{FORGED}\x1b"))
    first, *rest = written.rstrip("\n").split("\n")
    assert first.endswith("uvicorn.error: Exception in ASGI application")
    assert rest
    assert all(line.startswith(logs.CONTINUED) for line in rest)
    assert not any(ch in written for ch in "\r\x1b")
    assert logs.AUDIT_MARK not in written
    assert any("ValueError: bad" in line for line in rest)


def test_a_stack_continues_on_marked_lines() -> None:
    stream = io.StringIO()
    record = logging.getLogger("mcp.server").makeRecord("mcp.server", logging.WARNING, "x.py", 1, "m", (), None)
    record.stack_info = f"Stack (most recent call last):\n  File x\n{FORGED}"
    handler_of(stream).handle(record)
    _first, *rest = stream.getvalue().rstrip("\n").split("\n")
    assert len(rest) == 3
    assert all(line.startswith(logs.CONTINUED) for line in rest)


def test_a_record_passing_two_handlers_is_cleaned_once() -> None:
    """The filter marks what it cleaned: a second handler neither escapes the escapes nor marks lines twice."""
    one, two = io.StringIO(), io.StringIO()
    exc = raised("boom")
    record = logging.getLogger("x").makeRecord("x", logging.ERROR, "x.py", 1, "a\nb", (), (ValueError, exc, None))
    handler_of(one).handle(record)
    handler_of(two).handle(record)
    assert one.getvalue() == two.getvalue()
    assert f"{logs.CONTINUED}{logs.CONTINUED}" not in one.getvalue()


def test_the_audit_line_keeps_its_mark() -> None:
    """A real audit line, through the audit handler with the command's filters, is the one carrying the mark."""
    others = audit_logger.handlers[:]  # other tests' capturing handlers would keep the real one from being installed
    audit_logger.handlers.clear()
    try:
        install_audit_handler()
        [handler] = audit_logger.handlers
    finally:
        audit_logger.handlers[:] = others
    stream = io.StringIO()
    probe = logging.StreamHandler(stream)
    probe.setFormatter(handler.formatter)
    probe.addFilter(logs.LINES)
    audit_logger.addHandler(probe)
    try:
        audit("delete_snapshot", (SEED_ID,), channel="card", outcome="kept", detail=f"x\n{FORGED}")
    finally:
        audit_logger.removeHandler(probe)
    [line] = stream.getvalue().splitlines()
    assert f"snapshot-mcp audit tool=delete_snapshot snapshot_id={json.dumps(SEED_ID)} channel=card" in line
    assert line.count(logs.AUDIT_MARK) == 1


@pytest.mark.parametrize("name", ["sse_starlette.sse", "mcp.server.runner", "mcp.server.sse", "httpx", "uvicorn.error"])
def test_other_libraries_debug_records_are_dropped(name: str) -> None:
    """Below INFO only this server's records pass the handler, whatever level a library set for its logger."""
    assert emit(name, logging.DEBUG, "chunk: %s", '{"_meta": {"nonce": "n"}}') == ""
    assert emit(name, 5, "trace") == ""
    assert emit(name, logging.INFO, "fine").endswith("fine\n")
    assert emit("snapshot_mcp.operations", logging.DEBUG, "ours").endswith("ours\n")


@contextmanager
def configured(level: str) -> Iterator[logging.Logger]:
    """`cli.configure_logging(level)`, undone afterwards."""
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    names = ("httpx", "httpcore", "httpcore2", "mcp", "uvicorn.access", "snapshot_mcp", "snapshot_mcp.startup")
    levels = {name: logging.getLogger(name).level for name in names}
    cli.configure_logging(level)
    try:
        yield root
    finally:
        root.handlers[:] = handlers
        root.setLevel(root_level)
        for name, value in levels.items():
            logging.getLogger(name).setLevel(value)


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING"])
def test_configure_logging_keeps_libraries_at_info_at_most(level: str) -> None:
    """Our loggers follow the level; others never below INFO; httpcore never below WARNING; the filters are on."""
    with configured(level) as root:
        ours = logging.getLogger("snapshot_mcp.operations")
        assert ours.isEnabledFor(logging.DEBUG) is (level == "DEBUG")
        for name in ("sse_starlette.sse", "mcp.server.runner", "mcp.server.streamable_http", "starlette", "x"):
            assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
        assert not logging.getLogger("httpcore.http11").isEnabledFor(logging.INFO)
        [handler] = root.handlers
        assert logs.LINES in handler.filters
        assert any(isinstance(f, logs.NoLibraryDebug) for f in handler.filters)


# --------------------------------------------------------------------------- the command, over HTTP


async def drain(stream: Any, sink: bytearray) -> None:
    async for chunk in stream:
        sink.extend(chunk)


@asynccontextmanager
async def command(*options: str) -> AsyncIterator[tuple[str, bytearray]]:
    """`snapshot-mcp --simulate --transport http --port 0 <options>`; yields (MCP URL, stderr).

    stderr fills as the process writes, and is complete once the block has ended (the process stopped).
    """
    env = base_env(SNAPSHOT_MCP_HTTP_TOKEN=HTTP_TOKEN)
    argv = [str(SCRIPT), "--simulate", "--transport", "http", "--port", "0", *options]
    err = bytearray()
    async with await anyio.open_process(argv, stdin=PIPE, stdout=PIPE, stderr=PIPE, env=env) as process:
        assert process.stderr is not None
        assert process.stdout is not None
        while (found := re.search(rb"serving MCP at (http://\S+/mcp)", err)) is None:
            err.extend(await process.stderr.receive())  # EndOfStream here: it died at start-up
        async with anyio.create_task_group() as tg:
            tg.start_soon(drain, process.stderr, err)
            tg.start_soon(drain, process.stdout, bytearray())
            try:
                yield found.group(1).decode(), err
            finally:
                process.send_signal(signal.SIGINT)
                assert await process.wait() == 0, err.decode()


@asynccontextmanager
async def client_of(url: str, mode: str, *, apps: bool = False) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {HTTP_TOKEN}"}, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode, extensions=[APPS] if apps else None) as c,
    ):
        yield c


@pytest.mark.slow  # the console script over HTTP, in a subprocess
async def test_a_refused_request_cannot_forge_an_audit_line() -> None:
    """`GET /mcp%0A<an audit line>%0A` without the token: 401, and on stderr the forged line is no line of its own;
    the only line carrying the audit mark is the real one a delete wrote."""
    with anyio.fail_after(60):
        async with command("--delete-confirmation", "none", "--log-level", "WARNING") as (url, err):
            async with httpx.AsyncClient() as http:
                for wrapper in ("%0A{}%0A", "%0D%0A{}%0D%0A", "%0D{}%0B", "%E2%80%A8{}%C2%85"):
                    path = wrapper.format(quote(FORGED))
                    refused = await http.get(url + path)
                    assert refused.status_code == 401
            async with client_of(url, "legacy") as client:
                deleted = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
                assert not deleted.is_error, text_of(deleted)
    log = err.decode()
    lines = log.splitlines()
    refusals = [line for line in lines if "refused GET /mcp" in line]
    assert len(refusals) == 4
    assert all(FORGED.split(" audit ")[1] in line for line in refusals)  # the path is there, escaped
    assert not any(line.startswith(FORGED[:10]) and "WARNING" not in line for line in lines)
    assert not any(ch in log for ch in "\r\x0b\x85\u2028")
    [real] = [line for line in lines if logs.AUDIT_MARK in line]
    assert f"snapshot_id={json.dumps(SEED_ID)} channel=unconfirmed outcome=deleting" in real


@pytest.mark.slow  # the console script over HTTP, in a subprocess
@pytest.mark.parametrize("mode", MODES)
async def test_debug_logging_shows_no_nonce_and_no_confirmation_token(mode: str) -> None:
    """At --log-level DEBUG a card (nonce in `_meta`) and a token preview go out; neither reaches stderr."""
    with anyio.fail_after(60):
        async with command("--log-level", "DEBUG", "--confirm-channels", "card,token") as (url, err):
            async with client_of(url, mode, apps=True) as client:
                card = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
            async with client_of(url, mode) as client:
                preview = await client.call_tool("delete_snapshot", {"snapshot_id": SEED_ID})
    assert card.meta is not None
    nonce = card.meta["snapshot-mcp/confirmation"]["nonce"]
    assert preview.structured_content is not None
    token = preview.structured_content["confirmation_token"]
    assert isinstance(nonce, str)
    assert isinstance(token, str)
    assert len(nonce) > 20
    assert len(token) > 20
    log = err.decode()
    assert "HTTP Request: GET" in log  # DEBUG is on (httpx's request lines): the check looked at real output
    assert "audit tool=delete_snapshot" in log
    assert nonce not in log
    assert token not in log
