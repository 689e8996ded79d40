"""Secrets never leave the server: the API token, the HTTP client token, the state key.

Three canaries are configured and then hunted for in everything the server emits —
stdout, stderr, log records (tracebacks included), tool results (text and
structuredContent), audit lines, HTTP error responses, exception reprs and chains — at
every log level, through every error path:

- the API answers 401/403/404/400/500/502 whose bodies echo the credential (raw, and
  JSON-escaped letter by letter, as a careless proxy might), a body that is not JSON, a
  body of the wrong shape, and a success whose data carries the token;
- the API cannot be reached (connection refused);
- arguments fail validation; a tool hits an unexpected exception (its traceback logged);
- HTTP mode refuses requests: 401 (no, wrong, or a longer token), 421 (Host), 403
  (Origin), 413 (body).

In process (fast, every level, both protocol eras) the server is `build_server` over an
httpx transport to a fake API; as a subprocess (every level) it is the installed
`snapshot-mcp --transport http` talking over real sockets to the same fake API on
loopback. Already covered elsewhere and not repeated: stdout stays pure JSON-RPC over
stdio with an unreachable API at DEBUG (`test_e2e.py::test_stdout_is_only_jsonrpc_and_the_token_never_leaks`),
refused bearer tokens are not logged (`test_http.py::test_bearer_token_required`),
settings reprs and validation errors (`test_settings.py`).
"""

from __future__ import annotations

import json
import logging
import re
import signal
import traceback
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from subprocess import PIPE
from typing import Any, cast

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, ErrorData, TextContent
from pydantic import SecretStr

from snapshot_mcp import cli
from snapshot_mcp.client import GenesisCloudClient
from snapshot_mcp.errors import SnapshotMCPError
from snapshot_mcp.http import MAX_BODY_BYTES, make_uvicorn_server
from snapshot_mcp.models import CreateSnapshotRequest
from snapshot_mcp.operations import Operations
from snapshot_mcp.redact import RedactingFilter, RedactSecrets, redact
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator
from stress.load import unexpected_tracebacks
from tests.support import FAST_RETRY, SEED_ID, audit_lines
from tests.support.processes import SCRIPT, base_env

API_CANARY = "gcapi-canary-4f9d2b7e1a60"
HTTP_CANARY = "mcphttp-canary-8c3e5a0d77"
STATE_CANARY = "statekey-canary-0123456789abcdef0123456789"
CANARIES = (API_CANARY, HTTP_CANARY, STATE_CANARY)
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
MODES = ("auto", "legacy")


def _id(code: int) -> str:
    return f"00000000-0000-4000-8000-000000000{code:03d}"


# What the fake API does, by snapshot id (GET/DELETE) or by name (POST).
ECHO_401, ECHO_403, ECHO_404, ECHO_500 = _id(401), _id(403), _id(404), _id(500)
BAD_SHAPE, TOKEN_IN_DATA, REFUSED = _id(201), _id(202), _id(111)
CREATE_502, CREATE_GARBLED, CREATE_400 = "echo-502-html", "echo-garbled", "echo-400"


def _escaped(text: str) -> str:
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
            raw = '{"code": "01002", "message": "token ' + _escaped(credential) + ' lacks rights"}'
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


class _Refusing(httpx.AsyncBaseTransport):
    """In process: the fake API, except that REFUSED cannot be reached at all."""

    def __init__(self) -> None:
        self._inner = httpx.ASGITransport(app=fake_api())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith(REFUSED):
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return await self._inner.handle_async_request(request)


def assert_clean(where: str, text: str) -> None:
    for canary in CANARIES:
        assert canary not in text, f"{canary} leaked into {where}: ...{_around(text, canary)}..."


def _around(text: str, needle: str) -> str:
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
    cli.protect_logs(_settings().secret_values)  # as cli.main does once the server is built
    try:
        yield records
    finally:
        for handler, filters in zip(audit_handlers, audit_filters, strict=True):
            handler.filters[:] = filters
        root.handlers[:] = handlers
        root.setLevel(root_level)
        for name, old in levels.items():
            logging.getLogger(name).setLevel(old)


# --------------------------------------------------------------------------- in process, every level


async def _accept(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
    return ElicitResult(action="accept", content={"confirm": True})


def create(name: str, **changes: Any) -> dict[str, Any]:
    return {"name": name, "size": 1, "url": "https://e.example/a.raw", "region": "NORD-NO-KRS-1", **changes}


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("list_snapshots", {"per_page": 3}),
    ("get_snapshot", {"snapshot_id": ECHO_401}),
    ("get_snapshot", {"snapshot_id": ECHO_403}),
    ("get_snapshot", {"snapshot_id": ECHO_404}),
    ("get_snapshot", {"snapshot_id": ECHO_500}),
    ("get_snapshot", {"snapshot_id": BAD_SHAPE}),
    ("get_snapshot", {"snapshot_id": TOKEN_IN_DATA}),
    ("get_snapshot", {"snapshot_id": REFUSED}),
    ("get_snapshot", {"snapshot_id": "../../etc/passwd"}),
    ("list_snapshots", {"per_page": 1000, "status": "bogus"}),
    ("create_snapshot_from_url", create(CREATE_502)),
    ("create_snapshot_from_url", create(CREATE_GARBLED)),
    ("create_snapshot_from_url", create(CREATE_400)),
    ("create_snapshot_from_url", create("x", size=0, url="ftp://nope", region="??")),
    ("delete_snapshot", {"snapshot_id": ECHO_401}),
    ("delete_snapshot", {"snapshot_id": SEED_ID}),
]
"""Every tool, through every error path the API or the arguments can take (and two successes)."""


def _settings(**changes: Any) -> Settings:
    values: dict[str, Any] = {
        "token": SecretStr(API_CANARY),
        "endpoint": "https://api.example.test/compute/v1",
        "http_token": SecretStr(HTTP_CANARY),
        "state_key": SecretStr(STATE_CANARY),
        "rate_limit": 100_000.0,
    }
    return Settings(**{**values, **changes})


@pytest.mark.slow  # a campaign: every log level x era x error path
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("level", LEVELS)
async def test_no_secret_in_results_logs_or_audit_in_process(
    level: str, mode: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every error path at `level`: results, log records (tracebacks too), audit lines, stdout/stderr stay clean."""
    results: list[CallToolResult] = []
    async with httpx.AsyncClient(transport=_Refusing()) as http:
        server = build_server(_settings(), http=http, retry=FAST_RETRY, poll_interval=0.001)
        with cli_logging(level) as logs, audit_lines() as audit:
            async with Client(server, mode=mode, elicitation_callback=_accept) as client:
                for name, arguments in CALLS:
                    results.append(await client.call_tool(name, arguments))

                async def explode(self: Operations, snapshot_id: str) -> None:
                    raise RuntimeError(f"something unexpected happened to {snapshot_id}")

                monkeypatch.setattr(Operations, "get", explode)
                crashed = await client.call_tool("get_snapshot", {"snapshot_id": SEED_ID})

    errors = [name for (name, _), result in zip(CALLS, results, strict=True) if result.is_error]
    assert len(errors) == len(CALLS) - 3  # all but the listing, the echoed-name look-up and the accepted delete
    assert crashed.is_error
    for result in [*results, crashed]:
        assert_clean("a tool result", dump(result))
    assert len(audit.lines) == 2
    assert_clean("the audit lines", "\n".join(audit.lines))
    assert_clean("the log", "\n".join(logs.lines))
    for record in logs.records:
        if record.exc_info and record.exc_info[1] is not None:
            assert_exception_clean(record.exc_info[1])
    if logging.getLevelName(level) <= logging.ERROR:  # the unexpected exception was logged, with its traceback
        assert any("Traceback" in line and "something unexpected" in line for line in logs.lines)
    out, err = capsys.readouterr()
    assert_clean("stdout", out)
    assert_clean("stderr", err)
    if level == "DEBUG":
        assert "GET /snapshots/" in err  # the check looked at real output


CLIENT_CALLS = [
    ("get", ECHO_401, "AuthError"),
    ("get", ECHO_403, "AuthError"),
    ("get", ECHO_404, "NotFound"),
    ("get", ECHO_500, "ServerError"),
    ("get", BAD_SHAPE, "BadResponse"),
    ("get", REFUSED, "ApiUnreachable"),
    ("create", CREATE_502, "ServerError"),
    ("create", CREATE_GARBLED, "BadResponse"),
    ("create", CREATE_400, "BadRequest"),
]


@pytest.mark.parametrize(("method", "subject", "kind"), CLIENT_CALLS)
async def test_no_secret_in_client_exceptions(method: str, subject: str, kind: str) -> None:
    """Each error the API client raises: str, repr and the whole formatted chain are free of the token."""
    async with httpx.AsyncClient(transport=_Refusing()) as http:
        client = GenesisCloudClient(
            http, token=SecretStr(API_CANARY), endpoint="https://api.example.test/compute/v1", retry=FAST_RETRY
        )

        async def attempt() -> object:
            if method == "get":
                return await client.get(subject)
            return await client.create(CreateSnapshotRequest.model_validate(create(subject)))

        with pytest.raises(SnapshotMCPError) as caught:
            await attempt()
    assert type(caught.value).__name__ == kind
    assert_clean("the client's repr", repr(client))
    assert_exception_clean(caught.value)


@pytest.mark.parametrize("token", ["with space-" + API_CANARY, API_CANARY + "\x00", "ünïcode-" + API_CANARY])
async def test_a_token_no_header_can_carry_is_not_echoed(token: str) -> None:
    """A pasted token with a space, a control character or non-ASCII: the error names the variable, not the value."""
    async with httpx.AsyncClient(transport=_Refusing()) as http:
        server = build_server(_settings(token=SecretStr(token)), http=http, retry=FAST_RETRY)
        async with Client(server) as client:
            result = await client.call_tool("get_snapshot", {"snapshot_id": SEED_ID})
    assert result.is_error
    assert "GENESISCLOUD_TOKEN" in dump(result)
    assert_clean("a tool result", dump(result))


@pytest.mark.parametrize(
    "argv",
    [
        ["--state-key", "short-" + API_CANARY[:8]],
        ["--http-token", HTTP_CANARY, "--port", "99999"],
        ["--http-token", HTTP_CANARY, "--log-level", "LOUD"],
    ],
    ids=["short-state-key", "bad-port", "bad-level"],
)
def test_configuration_errors_do_not_echo_secrets(argv: list[str]) -> None:
    """A refused configuration names the problem, never a secret given with it."""
    with pytest.raises(SystemExit) as caught:
        cli.main(argv, environ={"GENESISCLOUD_TOKEN": API_CANARY})
    message = str(caught.value.code)
    assert "invalid configuration" in message
    assert_clean("a start-up error", message)
    assert "short-" + API_CANARY[:8] not in message


# --------------------------------------------------------------------------- the console script over HTTP, every level


@asynccontextmanager
async def fake_api_on_loopback() -> AsyncIterator[str]:
    """The fake API under uvicorn on 127.0.0.1; yields its endpoint (…/compute/v1)."""
    bound: list[tuple[str, int]] = []
    ready = anyio.Event()

    def started(addresses: list[tuple[str, int]]) -> None:
        bound.extend(addresses)
        ready.set()

    uv = make_uvicorn_server(fake_api(), Settings(port=0, log_level="WARNING"), on_started=started)
    async with anyio.create_task_group() as tg:
        tg.start_soon(uv.serve)
        with anyio.fail_after(10):
            await ready.wait()
        try:
            yield f"http://127.0.0.1:{bound[0][1]}/compute/v1"
        finally:
            uv.should_exit = True


async def _drain(stream: Any, sink: bytearray) -> None:
    async for chunk in stream:
        sink.extend(chunk)


@asynccontextmanager
async def http_console_script(level: str, endpoint: str) -> AsyncIterator[tuple[str, bytearray, bytearray]]:
    """`snapshot-mcp --transport http --port 0` with all three secrets from the environment.

    Yields (MCP URL, stdout, stderr); both keep filling until the server stopped (SIGINT).
    """
    env = base_env(
        GENESISCLOUD_TOKEN=API_CANARY,
        GENESISCLOUD_ENDPOINT=endpoint,
        SNAPSHOT_MCP_HTTP_TOKEN=HTTP_CANARY,
        SNAPSHOT_MCP_STATE_KEY=STATE_CANARY,
        SNAPSHOT_MCP_LOG_LEVEL=level,
        SNAPSHOT_MCP_RATE_LIMIT="1000",
    )
    command = [str(SCRIPT), "--transport", "http", "--port", "0"]
    out, err = bytearray(), bytearray()
    async with await anyio.open_process(command, stdin=PIPE, stdout=PIPE, stderr=PIPE, env=env) as process:
        assert process.stderr is not None
        assert process.stdout is not None
        while (found := re.search(rb"serving MCP at (http://\S+/mcp)", err)) is None:
            err.extend(await process.stderr.receive())  # EndOfStream here: it died at start-up
        async with anyio.create_task_group() as tg:
            tg.start_soon(_drain, process.stderr, err)
            tg.start_soon(_drain, process.stdout, out)
            try:
                yield found.group(1).decode(), out, err
            finally:
                process.send_signal(signal.SIGINT)
                assert await process.wait() == 0, err.decode()


async def _http_refusals(url: str) -> list[httpx.Response]:
    """401 (none, wrong, longer), 421, 403 and 413 — each must refuse, none may echo a secret."""
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    good = {**headers, "authorization": f"Bearer {HTTP_CANARY}"}
    big = b'{"jsonrpc":"2.0","id":1,"method":"ping","pad":"' + HTTP_CANARY.encode() * (MAX_BODY_BYTES // 20) + b'"}'
    async with httpx.AsyncClient() as http:
        responses = [
            await http.post(url, json=ping, headers=headers),
            await http.post(url, json=ping, headers={**headers, "authorization": "Bearer wrong"}),
            await http.post(url, json=ping, headers={**headers, "authorization": f"Bearer {HTTP_CANARY}x"}),
            await http.post(url, json=ping, headers={**good, "host": "evil.example"}),
            await http.post(url, json=ping, headers={**good, "origin": "http://evil.example"}),
            await http.post(url, content=big, headers=good),
        ]
    assert [r.status_code for r in responses] == [401, 401, 401, 421, 403, 413]
    return responses


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.slow  # the console script over HTTP, in a subprocess
async def test_no_secret_leaves_the_http_console_script(level: str) -> None:
    """The installed script at `level`: HTTP refusals, every API error path, both eras; stdout/stderr clean."""
    dumps: list[str] = []
    with anyio.fail_after(60):
        async with fake_api_on_loopback() as endpoint, http_console_script(level, endpoint) as (url, out, err):
            for response in await _http_refusals(url):
                dumps.append(f"{response.status_code} {response.headers} {response.text}")
            for mode in MODES:
                async with (
                    httpx2.AsyncClient(headers={"Authorization": f"Bearer {HTTP_CANARY}"}) as authed,
                    Client(streamable_http_client(url, http_client=authed), mode=mode) as client,
                ):
                    for name, arguments in CALLS:
                        if arguments.get("snapshot_id") == REFUSED:
                            continue  # connection refused takes the full retry budget: in process above, and test_e2e
                        dumps.append(dump(await client.call_tool(name, arguments)))
    for text in dumps:
        assert_clean("an HTTP response or tool result", text)
    assert_clean("stdout", out.decode())
    log = err.decode()
    assert_clean("stderr", log)
    assert ("audit tool=delete_snapshot" in log) is True  # audit lines go out at every level
    assert not unexpected_tracebacks(log)
    if level == "DEBUG":
        assert "HTTP Request: GET" in log  # httpx's request lines: the check looked at real output


# --------------------------------------------------------------------------- the redaction layer itself


def test_redact_walks_text_and_data() -> None:
    """Strings anywhere in JSON-like data lose every secret; short 'secrets' are left alone."""
    data = {"a": [f"x{API_CANARY}y", {"k": HTTP_CANARY}], "n": 5, API_CANARY: None}
    assert redact(data, CANARIES) == {"a": ["x[redacted]y", {"k": "[redacted]"}], "n": 5, "[redacted]": None}
    assert redact("token x here", ["x"]) == "token x here"  # under MIN_SECRET_LENGTH: never searched for


async def test_redact_secrets_middleware_cleans_results_and_errors() -> None:
    """A model result, a wire mapping and a JSON-RPC error each leave without the secret; clean ones untouched."""
    middleware = RedactSecrets([API_CANARY])
    leaky = CallToolResult(
        content=[TextContent(type="text", text=f"name {API_CANARY}")], structured_content={"name": API_CANARY}
    )
    clean = CallToolResult(content=[TextContent(type="text", text="fine")])

    async def answer(result: Any) -> Any:
        async def call_next(ctx: Any) -> Any:
            if isinstance(result, Exception):
                raise result
            return result

        return await middleware(cast(Any, None), call_next)

    assert_clean("a model result", dump(await answer(leaky)))
    assert await answer(clean) is clean
    wire = await answer({"content": [{"type": "text", "text": API_CANARY}], "isError": True})
    assert wire == {"content": [{"type": "text", "text": "[redacted]"}], "isError": True}
    with pytest.raises(MCPError) as caught:
        await answer(MCPError(code=-32602, message=f"bad {API_CANARY}", data={"echo": API_CANARY}))
    assert_clean("a JSON-RPC error", caught.value.error.model_dump_json())
    assert caught.value.error.code == -32602


def test_redacting_filter_cleans_messages_arguments_and_tracebacks() -> None:
    """A record's formatted message, %-arguments and traceback text lose the secret before any handler writes."""
    records = Records()
    records.addFilter(RedactingFilter([API_CANARY]))
    logger = logging.getLogger("snapshot_mcp.test_redaction")
    logger.addHandler(records)
    logger.propagate = False
    try:
        logger.warning("argument %s", API_CANARY)
        try:
            raise ValueError(f"inner {API_CANARY}")
        except ValueError:
            logger.exception("failed")
        logger.warning("nothing secret here")
    finally:
        logger.removeHandler(records)
        logger.propagate = True
    assert records.lines[0] == "WARNING snapshot_mcp.test_redaction: argument [redacted]"
    assert "ValueError: inner [redacted]" in records.lines[1]
    assert records.lines[2].endswith("nothing secret here")
    assert_clean("the log", "\n".join(records.lines))
