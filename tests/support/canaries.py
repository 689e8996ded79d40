"""The secret canaries and what hunts for them: the three secrets, a fake API that echoes them, and checks of
everything the server emits."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from mcp.types import CallToolResult
from pydantic import SecretStr

from snapshot_mcp import cli
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator
from tests.support import SEED_ID

API_CANARY = "gcapi-canary-4f9d2b7e1a60"


HTTP_CANARY = "mcphttp-canary-8c3e5a0d77"


STATE_CANARY = "statekey-canary-0123456789abcdef0123456789"


CANARIES = (API_CANARY, HTTP_CANARY, STATE_CANARY)


LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def canary_id(code: int) -> str:
    return f"00000000-0000-4000-8000-000000000{code:03d}"


# What the fake API does, by snapshot id (GET/DELETE) or by name (POST).
ECHO_401, ECHO_403, ECHO_404, ECHO_500 = canary_id(401), canary_id(403), canary_id(404), canary_id(500)


BAD_SHAPE, TOKEN_IN_DATA, REFUSED = canary_id(201), canary_id(202), canary_id(111)


CREATE_502, CREATE_GARBLED, CREATE_400 = "echo-502-html", "echo-garbled", "echo-400"


def json_escaped(text: str) -> str:
    """`text` as JSON `\\uXXXX` escapes, letter by letter: no byte of it appears verbatim."""
    return "".join(f"\\u{ord(ch):04x}" for ch in text)


def fake_api() -> Any:
    """An ASGI app: the simulator (accepting only the canary), plus error answers that echo the credential."""
    sim = Simulator(tokens=[API_CANARY])
    inner = sim.asgi_app()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        auth = dict(scope["headers"]).get(b"authorization", b"").decode()
        credential = auth.removeprefix("Bearer ")
        sid = scope["path"].rsplit("/", 1)[-1]
        body = b""
        if scope["method"] == "POST":
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
        name = json.loads(body).get("name") if body.startswith(b"{") else None
        reply: tuple[int, str, bytes] | None = None
        if sid == ECHO_401:
            reply = 401, "application/json", json.dumps({"code": "01001", "message": f"bad credential {auth}"}).encode()
        elif sid == ECHO_403:
            raw = '{"code": "01002", "message": "token ' + json_escaped(credential) + ' lacks rights"}'
            reply = 403, "application/json", raw.encode()
        elif sid == ECHO_404:
            reply = (
                404,
                "application/json",
                json.dumps({"code": "04001", "message": f"no such thing for {auth}"}).encode(),
            )
        elif sid == ECHO_500:
            reply = 500, "application/json", json.dumps({"code": "09001", "message": f"upstream died: {auth}"}).encode()
        elif sid == BAD_SHAPE:
            reply = 200, "application/json", json.dumps({"snapshot": {"id": credential, "size": auth}}).encode()
        elif sid == TOKEN_IN_DATA:
            snapshot = {**sim.snapshots[SEED_ID], "id": TOKEN_IN_DATA, "name": f"named-{credential}"}
            reply = 200, "application/json", json.dumps({"snapshot": snapshot}).encode()
        elif name == CREATE_502:
            reply = 502, "text/html", f"<html><body>502 for {auth}</body></html>".encode()
        elif name == CREATE_GARBLED:
            reply = 201, "application/json", f'{{"snapshot": {{"id": {credential}'.encode()
        elif name == CREATE_400:
            reply = 400, "application/json", json.dumps({"code": "03001", "message": f"bad field; {auth}"}).encode()
        if reply is None:
            replayed = False

            async def replay() -> dict[str, Any]:
                nonlocal replayed
                if scope["method"] == "POST" and not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                message: dict[str, Any] = await receive()
                return message

            await inner(scope, replay if scope["method"] == "POST" else receive, send)
            return
        status, content_type, payload = reply
        headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


class Refusing(httpx.AsyncBaseTransport):
    """In process: the fake API, except that REFUSED cannot be reached at all."""

    def __init__(self) -> None:
        self._inner = httpx.ASGITransport(app=fake_api())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(REFUSED):
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return await self._inner.handle_async_request(request)


def assert_clean(where: str, text: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{canary} leaked into {where}: ...{around(text, canary)}..."


def around(text: str, needle: str) -> str:
    at = text.index(needle)
    return text[max(0, at - 120) : at + 40]


def dump(result: CallToolResult) -> str:
    """Everything a client receives of a result: text, structured content, meta."""
    return result.model_dump_json(by_alias=True)


def every_exception(error: BaseException) -> Iterator[BaseException]:
    """`error` and everything chained to it (cause, context, group members)."""
    seen: set[int] = set()
    todo = [error]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
        if isinstance(current, BaseExceptionGroup):
            todo += list(current.exceptions)


def assert_exception_clean(error: BaseException) -> None:
    """No canary in the formatted chain, nor in any member's str() or repr()."""
    assert_clean("a formatted traceback", "".join(traceback.format_exception(error)))
    for member in every_exception(error):
        assert_clean(f"str({type(member).__name__})", str(member))
        assert_clean(f"repr({type(member).__name__})", repr(member))


# --------------------------------------------------------------------------- logging, as the CLI sets it up


class Records(logging.Handler):
    """Every record that passes the configured levels, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.records: list[logging.LogRecord] = []
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@contextmanager
def cli_logging(level: str) -> Iterator[Records]:
    """`cli.configure_logging(level)` (stderr, noisy loggers tamed), plus a capturing handler; undone after."""
    root = logging.getLogger()
    handlers, root_level = root.handlers[:], root.level
    names = ("httpx", "httpcore", "mcp", "uvicorn", "uvicorn.access", "uvicorn.error", "snapshot_mcp")
    levels = {name: logging.getLogger(name).level for name in names}
    audit_handlers = logging.getLogger("snapshot_mcp.audit").handlers
    audit_filters = [handler.filters[:] for handler in audit_handlers]
    cli.configure_logging(level)
    records = Records()
    root.addHandler(records)
    cli.protect_logs(leak_settings().secret_values)  # as cli.main does once the server is built
    try:
        yield records
    finally:
        for handler, filters in zip(audit_handlers, audit_filters, strict=True):
            handler.filters[:] = filters
        root.handlers[:] = handlers
        root.setLevel(root_level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)


def create(name: str, **changes: Any) -> dict[str, Any]:
    return {"name": name, "size": 1, "url": "https://e.example/a.raw", "region": "NORD-NO-KRS-1", **changes}


def leak_settings(**changes: Any) -> Settings:
    values: dict[str, Any] = {
        "token": SecretStr(API_CANARY),
        "endpoint": "https://api.example.test/compute/v1",
        "http_token": SecretStr(HTTP_CANARY),
        "state_key": SecretStr(STATE_CANARY),
        "rate_limit": 100_000.0,
    }
    return Settings(**{**values, **changes})
