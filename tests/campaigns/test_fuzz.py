"""Fuzzing every tool's arguments through the protocol (hypothesis, in memory).

Arbitrary JSON goes to each tool as its arguments: wrong types, nulls, nested objects,
huge strings and numbers, any unicode, extra keys (`confirm`, `force`, ...), and ids
built from path fragments (`../`, `%2F`, `?x=`, `#`, newlines, NUL) around real UUIDs.
One connected client per test serves every example; the simulator behind it is reset
and its request log inspected after each call. Invariants, for every example:

- the call returns a `CallToolResult` (success or `isError`) or raises a clean
  JSON-RPC `MCPError`: never another exception, never a crash result, never a hang;
- every HTTP request goes to `https://api.genesiscloud.com/compute/v1/snapshots` or
  `.../snapshots/<uuid>` (full URL and decoded path both checked), with no query
  beyond `page`/`per_page` digits on the list, and no fragment;
- a POST only comes from the create tool, with exactly the documented body fields
  of the documented types;
- no DELETE unless the user accepted: the callback here declines, cancels or answers
  "no" or garbage; a variant accepts, and then every DELETE targets a snapshot that
  existed and that the user was asked about; under the `token` policy an invented
  `confirmation_token` never deletes.

Profiles: `ci` (default: ~150 examples per test, derandomized so CI is stable) and
`thorough` (`HYPOTHESIS_PROFILE=thorough`, 2,000 examples per test, random).
"""

from __future__ import annotations

import json
import logging
import os
import re
import unicodedata
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote

import anyio
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS, CallToolResult, ElicitRequestParams, ElicitResult, ErrorData, Request
from pydantic import BaseModel, ConfigDict, SecretStr

from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, KNOWN_REGIONS, Simulator
from tests.support import ERROR_SEED_ID, FAST_RETRY, MODES, OTHER_SEED_ID, SEED_ID, UNKNOWN_ID, fast, text_of

# hypothesis: hundreds of examples per property
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("fuzz")]


_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture]


settings.register_profile(
    "ci", max_examples=150, deadline=None, derandomize=True, database=None, suppress_health_check=_HEALTH
)


settings.register_profile("thorough", max_examples=2_000, deadline=None, database=None, suppress_health_check=_HEALTH)


FUZZ = settings(settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci")))
"""The chosen profile, applied to this module's tests only."""


UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


PATH_RE = re.compile(rf"/compute/v1/snapshots(?:/{UUID})?")


RAW_PATH_RE = re.compile(rf"/compute/v1/snapshots(?:/{UUID})?(?:\?page=[0-9]+&per_page=[0-9]+)?".encode())


CRASH_RE = re.compile(r"Error executing tool [a-z_]+")


REGION_RE = re.compile(r"[A-Z0-9]+(?:-[A-Z0-9]+)+")


CREATE_FIELDS = {"name", "size", "url", "region", "os_type"}


TOOLS = ("list_snapshots", "get_snapshot", "create_snapshot_from_url", "delete_snapshot")


CALL_TIMEOUT = 10.0


# -- strategies ----------------------------------------------------------------------------

FRAGMENTS = [
    "../", "..", "/", "//", "\\", "%2F", "%2f", "%2e%2e%2f", "%252F", "?x=1", "?page=2&per_page=100",
    "&per_page=1000", "#", "#frag", "\n", "\r\n", "\t", " ", "\x00", "%00", ";", "/delete", "/../../admin",
    "snapshots", "\u202e", "\u2028", "\ufeff", "\u0301", "\U0001f642", "ǅ", "İ", "ﬀ", "ｅ", "٩", "${jndi:x}",
    "<script>", "'; DROP TABLE x; --", "\"}", "{{7*7}}",
]  # fmt: skip


POOL = [str(uuid.UUID(int=0xF022 << 64 | k, version=4)) for k in range(40)]
"""Snapshots added at every reset: the server remembers what it deleted, so the accept variant needs many."""


REAL_IDS = [SEED_ID, OTHER_SEED_ID, UNKNOWN_ID, ERROR_SEED_ID, *POOL]


text = st.text(max_size=40)  # any unicode except surrogates (hypothesis excludes them by default)


huge_text = st.builds(lambda ch, n: ch * n, st.characters(), st.integers(1_000, 200_000))


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
    huge_text,
    st.sampled_from(FRAGMENTS),
)


json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(text, children, max_size=4),
    max_leaves=12,
)


ids = st.one_of(
    st.sampled_from(REAL_IDS),
    st.sampled_from(REAL_IDS),
    st.sampled_from(REAL_IDS),
    st.uuids().map(str),
    st.sampled_from(REAL_IDS).map(str.upper),
    st.builds(
        lambda before, fragment, after: before + fragment + after,
        st.sampled_from(["", *REAL_IDS]),
        st.sampled_from(FRAGMENTS),
        st.sampled_from(["", *REAL_IDS, "x"]),
    ),
    st.builds("{0}{1}{0}".format, st.sampled_from([" ", "\n", "\t", "\u00a0", "\u3000"]), st.sampled_from(REAL_IDS)),
    text,
    json_values,
)  # fmt: skip


extra_keys = st.dictionaries(
    st.one_of(st.sampled_from(["confirm", "force", "confirmation_token", "id", "path", "_meta", "", "page"]), text),
    json_values,
    max_size=3,
)


def _maybe(good: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value (3 in 4), sometimes anything."""
    return st.one_of(good, good, good, json_values)


def _arguments(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    """A tool's arguments: each key present or not, plausible or arbitrary, plus extra keys."""
    present = st.fixed_dictionaries(
        {k: _maybe(v) for k, v in required.items()}, optional={k: _maybe(v) for k, v in optional.items()}
    )
    missing = st.fixed_dictionaries({}, optional={k: _maybe(v) for k, v in {**required, **optional}.items()})
    named = st.one_of(present, present, present, missing)
    return st.builds(lambda extra, given: {**extra, **given}, extra_keys, named)


LIST_ARGS = _arguments(
    {},
    {
        "page": st.integers(-5, 200_000),
        "per_page": st.integers(-5, 200),
        "region": st.one_of(st.sampled_from(KNOWN_REGIONS), st.sampled_from(KNOWN_REGIONS).map(str.lower), text),
        "status": st.sampled_from(["creating", "created", "active", "pending_delete", "deleting", "error", "x"]),
        "name_contains": st.one_of(text, st.sampled_from(["cuda", "win", "%", "_", "*", ".."])),
    },
)


GET_ARGS = _arguments({"snapshot_id": ids}, {})


CREATE_ARGS = _arguments(
    {
        "name": st.one_of(st.just("fuzz-image"), text, st.sampled_from(FRAGMENTS)),
        "size": st.one_of(st.integers(1, 1_000_000), st.integers(-5, 2_000_000)),
        "url": st.one_of(
            st.just("https://example.com/image.raw.zst"),
            st.builds("https://{}.example/{}.raw".format, st.text("abc-", min_size=1), st.text(min_size=1).map(quote)),
            st.builds("{}://example.com/{}".format, st.sampled_from(["http", "HTTPS", "ftp", "file"]), text),
            st.sampled_from(["https://", "javascript:alert(1)", "https://a b", "//example.com/x", "https://[::1]/x"]),
        ),
        "region": st.one_of(st.sampled_from(KNOWN_REGIONS), st.sampled_from(KNOWN_REGIONS).map(str.lower), text),
    },
    {"os_type": st.sampled_from(["linux", "windows", "Linux", "macos", None]), "wait": st.booleans()},
)  # fmt: skip


DELETE_ARGS = _arguments({"snapshot_id": ids}, {"wait": st.booleans(), "confirm": st.just(True)})


TOKEN_DELETE_ARGS = _arguments(
    {"snapshot_id": ids},
    {
        "confirmation_token": st.one_of(text, st.text(alphabet="0123456789abcdef.-_", min_size=20)),
        "wait": st.booleans(),
    },
)


ANY_CALL = st.tuples(st.sampled_from(TOOLS), st.one_of(json_values, extra_keys, LIST_ARGS, CREATE_ARGS, DELETE_ARGS))


# -- the fuzzed server -----------------------------------------------------------------------


class _Recording(httpx.AsyncBaseTransport):
    """Passes requests on and keeps each full URL (the simulator sees only the decoded path)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, urls: list[httpx.URL]) -> None:
        self._inner = inner
        self._urls = urls

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._urls.append(request.url)
        return await self._inner.handle_async_request(request)


class FuzzApi(Simulator):
    """The simulator behind the fuzzed server: resettable between examples, recording full URLs."""

    def __init__(self) -> None:
        self.urls: list[httpx.URL] = []
        self.reset()

    def transport(self) -> httpx.AsyncBaseTransport:
        return _Recording(super().transport(), self.urls)

    def reset(self) -> None:
        """Back to the twelve seed snapshots and the pool, no requests seen."""
        Simulator.__init__(self, delete_polls=0, create_polls=1)
        for k, sid in enumerate(POOL):
            self.add_snapshot(id=sid, name=f"pool-{k:02d}", size=10 + k, region=KNOWN_REGIONS[k % len(KNOWN_REGIONS)])
        self.urls.clear()


class Answers:
    """An elicitation callback that never says yes: decline, cancel, 'no', and malformed answers in turn."""

    CYCLE = (
        ElicitResult(action="decline"),
        ElicitResult(action="cancel"),
        ElicitResult(action="accept", content={"confirm": False}),
        ElicitResult(action="accept", content={"confirm": "yes please"}),
        ElicitResult(action="accept", content={"confirm": None}),
    )

    def __init__(self, accept: bool = False) -> None:
        self.accept = accept
        self.asked: list[str] = []

    async def __call__(self, context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
        self.asked.append(params.message)
        if self.accept:
            return ElicitResult(action="accept", content={"confirm": True})
        return self.CYCLE[len(self.asked) % len(self.CYCLE)]


class _Errors(logging.Handler):
    """Collects ERROR records: the SDK logs a tool crash that way."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(f"{record.name}: {record.getMessage()}")


@dataclass
class Fuzz:
    client: Client
    api: FuzzApi
    answers: Answers
    errors: _Errors
    calls: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    sent: Counter[str] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Module-scoped, so one connected client serves every example of a test."""
    return "asyncio"


@pytest.fixture(scope="module")
def _errors() -> Iterator[_Errors]:
    handler = _Errors()
    loggers = [logging.getLogger(name) for name in ("mcp", "snapshot_mcp", "httpx")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger in loggers:
            logger.removeHandler(handler)


async def _fuzz(errors: _Errors, mode: str, *, accept: bool = False, policy: str = "elicit") -> AsyncIterator[Fuzz]:
    api = FuzzApi()
    answers = Answers(accept=accept)
    chosen = Settings(
        token=SecretStr(DEFAULT_TOKEN),
        delete_confirmation=policy,  # type: ignore[arg-type]
        wait_timeout=2.0,
        elicitation_timeout=5.0,
    )
    # A server of its own over this simulator (not support.connect, whose simulator is picked
    # per context: with several module-scoped clients alive, a call would reach the wrong one).
    async with httpx.AsyncClient(transport=api.transport()) as http:
        server = build_server(fast(chosen), http=http, retry=FAST_RETRY, poll_interval=0.001)
        async with Client(server, mode=mode, elicitation_callback=answers) as client:
            fuzz = Fuzz(client, api, answers, errors)
            yield fuzz
    print(f"fuzz[{mode}, {policy}, accept={accept}]: {fuzz.calls} calls, {fuzz.outcomes}, sent {dict(fuzz.sent)}")
    # Not vacuous: a fair share of the examples got through validation to the API.
    assert fuzz.outcomes.get("ok", 0) >= fuzz.calls // 10, fuzz.outcomes
    assert fuzz.sent["GET"] >= fuzz.calls // 10, fuzz.sent
    if accept:
        assert fuzz.sent["DELETE"] >= 10, fuzz.sent


@pytest.fixture(scope="module")
async def declining(_errors: _Errors) -> AsyncIterator[Fuzz]:
    """A client whose user never agrees (2026 era)."""
    async for fuzz in _fuzz(_errors, "auto"):
        yield fuzz


@pytest.fixture(scope="module", params=MODES)
async def declining_each_era(request: pytest.FixtureRequest, _errors: _Errors) -> AsyncIterator[Fuzz]:
    """A client whose user never agrees, in both protocol eras."""
    async for fuzz in _fuzz(_errors, str(request.param)):
        yield fuzz


@pytest.fixture(scope="module", params=MODES)
async def accepting(request: pytest.FixtureRequest, _errors: _Errors) -> AsyncIterator[Fuzz]:
    """A client whose user agrees to every delete, in both protocol eras."""
    async for fuzz in _fuzz(_errors, str(request.param), accept=True):
        yield fuzz


@pytest.fixture(scope="module")
async def token_policy(_errors: _Errors) -> AsyncIterator[Fuzz]:
    """A server under the token policy (the confirmation is a token from a preview call)."""
    async for fuzz in _fuzz(_errors, "auto", policy="token"):
        yield fuzz


# -- the invariants --------------------------------------------------------------------------


def _check_body(body: bytes) -> None:
    """A create's body: exactly the documented fields, of the documented types."""
    data = json.loads(body)
    assert isinstance(data, dict), data
    assert {"name", "size", "url", "region"} <= set(data) <= CREATE_FIELDS, data
    name, size, url, region = data["name"], data["size"], data["url"], data["region"]
    assert isinstance(name, str), name
    assert 0 < len(name) <= 255, name
    assert name == name.strip(), name
    assert not any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name), name  # no line breaks/controls
    assert type(size) is int, size
    assert 1 <= size <= 1_000_000, size
    assert isinstance(url, str), url
    assert re.fullmatch(r"https?://\S+", url), url
    assert len(url) <= 2048, url
    assert isinstance(region, str), region
    assert REGION_RE.fullmatch(region), region
    if "os_type" in data:
        assert data["os_type"] in ("linux", "windows"), data


async def call(fuzz: Fuzz, tool: str, arguments: Any) -> tuple[CallToolResult | None, set[str]]:
    """One fuzzed call on a fresh simulator; checks every invariant but the DELETE rule (the caller's)."""
    fuzz.api.reset()
    fuzz.answers.asked.clear()
    fuzz.errors.records.clear()
    before = set(fuzz.api.snapshots)
    fuzz.calls += 1
    result: CallToolResult | None = None
    with anyio.fail_after(CALL_TIMEOUT):
        try:
            result = await fuzz.client.call_tool(tool, arguments)
        except MCPError as exc:  # a clean JSON-RPC error is an acceptable answer to junk
            fuzz.outcomes["jsonrpc_error"] = fuzz.outcomes.get("jsonrpc_error", 0) + 1
            message = exc.error.message
            assert message
    if result is not None:
        assert isinstance(result, CallToolResult)
        shown = text_of(result)
        key = "error" if result.is_error else "ok"
        fuzz.outcomes[key] = fuzz.outcomes.get(key, 0) + 1
        if result.is_error:
            assert not CRASH_RE.fullmatch(shown.strip()), f"a crash: {tool}({arguments!r:.300})"
            assert shown
        assert len(shown) < 20_000, "a result a model can afford"
    assert fuzz.errors.records == [], fuzz.errors.records
    fuzz.sent.update(request.method for request in fuzz.api.requests)
    for url in fuzz.api.urls:
        assert (url.scheme, url.host, url.port, url.fragment) == ("https", "api.genesiscloud.com", None, ""), url
        assert RAW_PATH_RE.fullmatch(url.raw_path), url.raw_path
    for request in fuzz.api.requests:
        assert PATH_RE.fullmatch(request.path), request.path
        if request.method == "POST":
            assert tool == "create_snapshot_from_url"
            assert request.headers["content-type"] == "application/json"
            _check_body(request.body)
        if request.method == "GET" and request.path == "/compute/v1/snapshots":
            assert set(request.query) == {"page", "per_page"}
            assert 1 <= int(request.query["per_page"]) <= 100
        elif request.method != "POST":
            assert request.query == {}
    return result, before


def deletes(fuzz: Fuzz) -> list[str]:
    return [request.path.rsplit("/", 1)[1] for request in fuzz.api.requests if request.method == "DELETE"]


# -- the tests -------------------------------------------------------------------------------


@FUZZ
@given(arguments=LIST_ARGS)
async def test_fuzz_list_snapshots(declining: Fuzz, arguments: dict[str, Any]) -> None:
    """list_snapshots with arbitrary arguments: a result or a clean error; only GETs of the list."""
    await call(declining, "list_snapshots", arguments)
    assert {request.method for request in declining.api.requests} <= {"GET"}


@FUZZ
@given(arguments=GET_ARGS)
async def test_fuzz_get_snapshot(declining: Fuzz, arguments: dict[str, Any]) -> None:
    """get_snapshot with arbitrary ids: at most one GET, and only of a UUID path."""
    await call(declining, "get_snapshot", arguments)
    assert [request.method for request in declining.api.requests] in ([], ["GET"])


@FUZZ
@given(arguments=CREATE_ARGS)
async def test_fuzz_create_snapshot(declining: Fuzz, arguments: dict[str, Any]) -> None:
    """create_snapshot_from_url with arbitrary arguments: at most one POST, with exactly the documented body."""
    result, _ = await call(declining, "create_snapshot_from_url", arguments)
    posts = [request for request in declining.api.requests if request.method == "POST"]
    assert len(posts) <= 1
    assert deletes(declining) == []
    if posts and result is not None and not result.is_error:
        assert result.structured_content is not None
        assert result.structured_content["snapshot"]["id"] in declining.api.snapshots


@FUZZ
@given(arguments=DELETE_ARGS)
async def test_fuzz_delete_never_without_a_yes(declining_each_era: Fuzz, arguments: dict[str, Any]) -> None:
    """delete_snapshot with arbitrary arguments while the user never agrees: never a DELETE."""
    fuzz = declining_each_era
    result, before = await call(fuzz, "delete_snapshot", arguments)
    assert deletes(fuzz) == []
    assert set(fuzz.api.snapshots) == before
    if result is not None and not result.is_error:
        assert result.structured_content is not None
        assert result.structured_content["deleted"] is False


@FUZZ
@given(arguments=DELETE_ARGS)
async def test_fuzz_delete_accepted_only_hits_what_the_user_saw(accepting: Fuzz, arguments: dict[str, Any]) -> None:
    """The user agrees: at most one DELETE, of a snapshot that existed and that the question named."""
    result, before = await call(accepting, "delete_snapshot", arguments)
    targets = deletes(accepting)
    assert len(targets) <= 1
    for target in targets:
        assert target in before
        assert any(f"id {target} " in question for question in accepting.answers.asked), accepting.answers.asked
        assert result is not None
        assert not result.is_error, result
        assert result.structured_content is not None
        assert result.structured_content["snapshot_id"] == target


@FUZZ
@given(arguments=TOKEN_DELETE_ARGS)
async def test_fuzz_token_policy_invented_tokens_never_delete(token_policy: Fuzz, arguments: dict[str, Any]) -> None:
    """Under the token policy, a confirmation_token the server never issued deletes nothing."""
    await call(token_policy, "delete_snapshot", arguments)
    assert deletes(token_policy) == []


class RawToolCall(Request[dict[str, Any], Literal["tools/call"]]):
    """A tools/call whose params are sent as given (mcp.Client refuses non-object arguments itself)."""

    method: Literal["tools/call"] = "tools/call"
    params: dict[str, Any]
    name_param = "name"


class RawResult(BaseModel):
    """Whatever result comes back, kept as sent."""

    model_config = ConfigDict(extra="allow")


RAW_RESULT = RawResult


@FUZZ
@given(tool_and_arguments=ANY_CALL)
async def test_fuzz_any_tool_any_arguments(declining: Fuzz, tool_and_arguments: tuple[str, Any]) -> None:
    """Any tool with any JSON as arguments: the same invariants; a non-object goes raw and gets a clean error."""
    tool, arguments = tool_and_arguments
    if arguments is None or isinstance(arguments, dict):
        await call(declining, tool, arguments)
    else:
        declining.api.reset()
        declining.errors.records.clear()
        with anyio.fail_after(CALL_TIMEOUT), pytest.raises(MCPError) as info:
            await declining.client.session.send_request(
                RawToolCall(params={"name": tool, "arguments": arguments}), RAW_RESULT
            )
        assert info.value.error.code == INVALID_PARAMS
        assert declining.api.requests == []
        assert declining.errors.records == []
    assert deletes(declining) == []


@FUZZ
@given(tool=st.sampled_from(TOOLS), params=st.dictionaries(text, json_values, max_size=3), arguments=json_values)
async def test_fuzz_raw_tools_call_params(declining: Fuzz, tool: str, params: dict[str, Any], arguments: Any) -> None:
    """A raw tools/call with junk params around a real tool name: a JSON-RPC error or a result, nothing sent amiss."""
    declining.api.reset()
    declining.errors.records.clear()
    raw = {**params, "name": tool, "arguments": arguments}
    with anyio.fail_after(CALL_TIMEOUT):
        try:
            answer = await declining.client.session.send_request(RawToolCall(params=raw), RAW_RESULT)
        except MCPError as exc:
            message = exc.error.message
            assert message
        else:
            extra = answer.model_extra or {}
            if extra.get("isError"):
                [block] = extra["content"]
                assert not CRASH_RE.fullmatch(block["text"].strip()), block
    assert declining.errors.records == []
    assert deletes(declining) == []
    for request in declining.api.requests:
        assert PATH_RE.fullmatch(request.path), request.path
        assert request.method in ("GET", "POST")
        if request.method == "POST":
            _check_body(request.body)


async def test_the_fuzz_reached_the_api(declining: Fuzz) -> None:
    """Control: valid calls through the fuzz harness do reach the API, so the invariants above are not vacuous."""
    result, _ = await call(declining, "get_snapshot", {"snapshot_id": SEED_ID})
    assert result is not None
    assert not result.is_error
    assert [(r.method, r.path) for r in declining.api.requests] == [("GET", f"/compute/v1/snapshots/{SEED_ID}")]
    result, _ = await call(
        declining,
        "create_snapshot_from_url",
        {"name": "x", "size": 1, "url": "https://example.com/x.raw", "region": "NORD-NO-KRS-1"},
    )
    assert result is not None
    assert not result.is_error, text_of(result)
    result, _ = await call(declining, "delete_snapshot", {"snapshot_id": SEED_ID})
    assert declining.answers.asked, "the user was asked"
    assert deletes(declining) == []
