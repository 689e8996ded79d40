"""The exception tree: status → class, sane messages from any body, who must act."""

from __future__ import annotations

import json

import pytest

from snapshot_mcp.errors import (
    ApiError,
    ApiUnreachable,
    AuthError,
    BadRequest,
    BadResponse,
    Conflict,
    InvalidInput,
    MissingToken,
    NotFound,
    RateLimited,
    ServerError,
    SnapshotMCPError,
    WaitTimeout,
    error_from_response,
    parse_error_body,
)

NGINX_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


def body(code: object = "02001", message: object = "Invalid route") -> bytes:
    return json.dumps({"code": code, "message": message}).encode()


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        pytest.param(400, BadRequest, id="400-bad-request"),
        pytest.param(401, AuthError, id="401-auth"),
        pytest.param(403, AuthError, id="403-auth"),
        pytest.param(404, NotFound, id="404-not-found"),
        pytest.param(405, ApiError, id="405-plain"),
        pytest.param(409, Conflict, id="409-conflict"),
        pytest.param(418, ApiError, id="418-plain"),
        pytest.param(422, BadRequest, id="422-bad-request"),
        pytest.param(429, RateLimited, id="429-rate-limited"),
        pytest.param(500, ServerError, id="500-server"),
        pytest.param(502, ServerError, id="502-server"),
        pytest.param(503, ServerError, id="503-server"),
        pytest.param(504, ServerError, id="504-server"),
        pytest.param(599, ServerError, id="599-server"),
    ],
)
def test_status_maps_to_class(status: int, cls: type[ApiError]) -> None:
    """Each status gets exactly its class, keeping status, code and message."""
    error = error_from_response(status, body("07001", "went wrong"), "application/json")
    assert type(error) is cls
    assert isinstance(error, ApiError)
    assert isinstance(error, SnapshotMCPError)
    assert (error.status, error.code, error.api_message) == (status, "07001", "went wrong")
    assert str(error) == f"[{status}] 07001 went wrong"


@pytest.mark.parametrize(
    ("raw", "code", "message"),
    [
        pytest.param(body("02001", "Invalid route"), "02001", "Invalid route", id="documented"),
        pytest.param(body(2001, "Invalid route"), "2001", "Invalid route", id="numeric-code"),
        pytest.param(body(0, "zero"), "0", "zero", id="numeric-zero-code"),
        pytest.param(body("", "m"), None, "m", id="empty-code"),
        pytest.param(body(None, "m"), None, "m", id="null-code"),
        pytest.param(body(True, "m"), None, "m", id="bool-code-ignored"),
        pytest.param(body({"x": 1}, "m"), None, "m", id="object-code-ignored"),
        pytest.param(b'{"code": "01001"}', "01001", "no error message in the response", id="missing-message"),
        pytest.param(body("01001", ""), "01001", "no error message in the response", id="empty-message"),
        pytest.param(body("01001", "   "), "01001", "no error message in the response", id="blank-message"),
        pytest.param(body("01001", None), "01001", "no error message in the response", id="null-message"),
        pytest.param(body("01001", ["a"]), "01001", "no error message in the response", id="list-message"),
        pytest.param(body("01001", "\x1b\x07"), "01001", "no error message in the response", id="only-controls"),
        pytest.param(b"{}", None, "no error message in the response", id="empty-object"),
        pytest.param(b"", None, "empty response body", id="empty-body"),
        pytest.param(b"  \r\n", None, "empty response body", id="blank-body"),
        pytest.param(b'{"code": "02001", "mess', None, "the response body was not the API's JSON", id="truncated"),
        pytest.param(b'["code", "message"]', None, "the response body was not the API's JSON", id="json-list"),
        pytest.param(b'"just a string"', None, "the response body was not the API's JSON", id="json-string"),
        pytest.param(b"Service Unavailable", None, "the response body was not the API's JSON", id="plain-text"),
        pytest.param(b"\xff\xfe\x00garbage", None, "the response body was not the API's JSON", id="not-utf8"),
        pytest.param(b"[" * 100_000, None, "the response body was not the API's JSON", id="deeply-nested"),
    ],
)
def test_parse_error_body(raw: bytes, code: str | None, message: str) -> None:
    """Code as text or None; a message always, in our words when the body has none."""
    assert parse_error_body(raw, "application/json") == (code, message)


@pytest.mark.parametrize(
    ("raw", "content_type"),
    [
        pytest.param(NGINX_502, "text/html", id="html-content-type"),
        pytest.param(NGINX_502, "", id="html-sniffed"),
        pytest.param(b"  <!DOCTYPE html><p>Bad gateway</p>", "application/octet-stream", id="doctype-sniffed"),
        pytest.param(b"oops", "text/html; charset=utf-8", id="html-by-header-only"),
    ],
)
def test_html_body_is_described_not_echoed(raw: bytes, content_type: str) -> None:
    """A proxy's HTML page becomes one short sentence, not markup."""
    error = error_from_response(502, raw, content_type)
    assert type(error) is ServerError
    assert error.code is None
    assert "HTML page" in error.message
    assert "<" not in str(error)


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        pytest.param("line one\nline two", "line one line two", id="newline"),
        pytest.param("a\r\nb\tc", "a b c", id="crlf-tab"),
        pytest.param("a\u2028b\x85c", "a b c", id="unicode-line-breaks"),
        pytest.param("  padded  ", "padded", id="padding"),
        pytest.param("red \x1b[31malert\x1b[0m", "red \\u001b[31malert\\u001b[0m", id="terminal-escape-escaped"),
        pytest.param("nul\x00byte", "nul\\u0000byte", id="nul-escaped"),
        pytest.param("a\u202eb\u200bc", "a\\u202eb\\u200bc", id="bidi-and-zero-width-escaped"),
    ],
)
def test_message_is_one_clean_line(message: str, expected: str) -> None:
    """The API's message is reduced to one printable line."""
    error = error_from_response(400, body("03001", message))
    assert error.api_message == expected
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("raw", "limit"),
    [
        pytest.param(body("03001", "x" * 10_000), 300, id="long-message"),
        pytest.param(body("x" * 10_000, "m"), 40, id="long-code"),
        pytest.param(body("a\nb" * 100, "m"), 40, id="multiline-code"),
        pytest.param(body(10**200, "m"), 40, id="huge-number-code"),
    ],
)
def test_message_and_code_are_bounded(raw: bytes, limit: int) -> None:
    """Neither a long message nor a long code makes an unbounded, multi-line error."""
    error = error_from_response(400, raw)
    assert len(error.api_message) <= 300
    assert error.code is None or len(error.code) <= 40
    assert len(str(error)) <= 300 + 40 + 10
    assert "\n" not in str(error)
    assert max(len(error.api_message), len(error.code or "")) == limit
    assert str(error).count("…") == 1


def test_message_without_code_has_no_double_space() -> None:
    """'[404] message' when there is no code."""
    assert str(error_from_response(404, b'{"message": "gone"}')) == "[404] gone"


@pytest.mark.parametrize(("retry_after", "expected"), [(None, None), (0.0, 0.0), (12.5, 12.5)])
def test_rate_limited_keeps_retry_after(retry_after: float | None, expected: float | None) -> None:
    """A 429 carries the parsed Retry-After (or None)."""
    error = error_from_response(429, body("09001", "slow down"), retry_after=retry_after)
    assert isinstance(error, RateLimited)
    assert error.retry_after == expected


def test_retry_after_is_ignored_for_other_statuses() -> None:
    """Only a 429 becomes RateLimited, whatever Retry-After says."""
    assert type(error_from_response(503, body(), retry_after=3.0)) is ServerError


@pytest.mark.parametrize(
    ("error", "retryable", "who"),
    [
        pytest.param(InvalidInput("bad"), False, "model", id="invalid-input"),
        pytest.param(MissingToken(), False, "operator", id="missing-token"),
        pytest.param(ApiUnreachable("down"), True, "service", id="unreachable"),
        pytest.param(WaitTimeout("slow"), True, "service", id="wait-timeout"),
        pytest.param(BadRequest(400, "03001", "bad"), False, "model", id="bad-request"),
        pytest.param(AuthError(401, None, "no"), False, "operator", id="auth"),
        pytest.param(NotFound(404, None, "gone"), False, "model", id="not-found"),
        pytest.param(Conflict(409, None, "busy"), True, "user", id="conflict"),
        pytest.param(RateLimited(429, None, "slow"), True, "service", id="rate-limited"),
        pytest.param(ServerError(503, None, "down"), True, "service", id="server-error"),
        pytest.param(BadResponse(200, None, "garbled"), True, "service", id="bad-response"),
        pytest.param(ApiError(418, None, "teapot"), False, "service", id="plain-api-error"),
    ],
)
def test_retryable_and_who(error: SnapshotMCPError, retryable: bool, who: str) -> None:
    """Each error says whether retrying helps and who must act."""
    assert error.retryable is retryable
    assert error.who == who


def test_missing_token_says_what_to_set() -> None:
    """The operator is told which variable to set."""
    assert "GENESISCLOUD_TOKEN" in str(MissingToken())


def test_wait_timeout_says_retrying_may_help() -> None:
    """A wait that heard nothing from the API is retryable and says so in its own words."""
    error = WaitTimeout("the API did not answer within the wait; check again later")
    assert (error.retryable, error.who, str(error)) == (True, "service", error.message)


def test_errors_chain_with_raise_from() -> None:
    """Errors can carry their cause (the tree is raised `from` lower-level exceptions)."""
    cause = ValueError("low level")
    with pytest.raises(ApiUnreachable) as info:
        raise ApiUnreachable("could not connect to the API") from cause
    assert info.value.__cause__ is cause


def test_secret_is_replaced_before_the_message_is_shortened() -> None:
    """A token the API echoes at the cut-off point leaves no fragment behind."""
    secret = "canary-TOKEN-abcdefghijklmnopqrstuvwxyz"
    body = json.dumps({"code": "01001", "message": "x" * 290 + secret}).encode()
    error = error_from_response(401, body, "application/json", secret=secret)
    assert "canary-T" not in str(error)  # the old order kept "canary-TO…" after the cut
    assert "[redacted]" in str(error)


@pytest.mark.parametrize(
    ("token", "echo"),
    [
        ("abcdefgh", "ab\x00cdefgh"),
        ("abcdefgh", "abcd\u200befgh"),
        ("abcdefgh", "a\u202ebcdefgh"),
        ("abcdefgh", "abc\x1b[0mdefgh"),
        ("s3cr3t-x", "s\x073cr3t-x"),
    ],
    ids=["nul", "zero-width", "rlo", "escape-sequence", "shortest-token"],
)
def test_a_token_split_by_invisible_characters_is_still_redacted(token: str, echo: str) -> None:
    """Issue 12, item 9: normalise first, then redact: the echo cannot be put back together in our text."""
    body = json.dumps({"code": echo, "message": f"token {echo} is invalid"}).encode()
    code, message = parse_error_body(body, "application/json", secret=token)
    assert token not in f"{code} {message}"
    assert all(ch.isprintable() for ch in message)
    if "\x1b[" not in echo:  # an escape sequence leaves printable "[0m" between the halves; the rest rejoin
        assert "[redacted]" in message
