"""The exception tree of snapshot-mcp.

Every error the package raises on purpose is a `SnapshotMCPError`:

    SnapshotMCPError
    ├── InvalidInput          bad arguments; nothing was sent (the caller must fix them)
    ├── MissingToken          no API token configured (the operator must set one)
    ├── ApiUnreachable        no answer from the API (network, DNS, time-out)
    ├── ApiError              the API answered with an error status
    │   ├── BadRequest        400/422: the API rejected the arguments
    │   ├── AuthError         401/403: the token is wrong or lacks rights
    │   ├── NotFound          404
    │   ├── Conflict          409: the snapshot's state does not allow it now
    │   ├── RateLimited       429
    │   ├── ServerError       5xx
    │   └── BadResponse       a success status with a body that is not the API's JSON
    │       └── UnusableResponse  an answer too large or too slow to read
    ├── WaitTimeout           a wait ended before the snapshot reached its goal
    ├── CreateMayHaveStarted  a create failed in a way that leaves open whether it was made
    ├── CreateBusy            an identical create is running on another instance
    └── StoreUnavailable      the shared state store (Redis) cannot be reached

Each error carries `retryable` (would the same call later likely succeed?) and `who`:
"model" (fix the arguments), "user" (a human must decide or act), "operator" (the
server's configuration) or "service" (the API or the network). No message ever
contains the API token: errors are built from status, the API's `code`/`message` and
our own words only.
"""

from __future__ import annotations

import json
from typing import Literal

from .safe_text import Secrets, one_line, shorten, visible

Who = Literal["model", "user", "operator", "service"]

_MAX_DETAIL = 300
_MAX_CODE = 40


class SnapshotMCPError(Exception):
    """Root of every error snapshot-mcp raises on purpose."""

    retryable: bool = False
    who: Who = "service"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(SnapshotMCPError):
    """The arguments are invalid; nothing was sent to the API."""

    who: Who = "model"


class MissingToken(SnapshotMCPError):
    """No API token is configured."""

    who: Who = "operator"

    def __init__(self) -> None:
        super().__init__(
            "No Genesis Cloud API token is configured: set GENESISCLOUD_TOKEN in the "
            "server's environment (or start it with --simulate to try the simulator)."
        )


class ApiUnreachable(SnapshotMCPError):
    """The API could not be reached, or did not answer in time.

    `may_have_acted` is False when no attempt can have reached the API (every
    connection was refused or never made), True when one may have arrived unanswered.
    """

    retryable = True

    def __init__(self, message: str, *, may_have_acted: bool = True) -> None:
        super().__init__(message)
        self.may_have_acted = may_have_acted


class WaitTimeout(SnapshotMCPError):
    """A wait ended before the API said where the snapshot stands."""

    retryable = True


class CreateMayHaveStarted(SnapshotMCPError):
    """A create failed in a way that leaves open whether the API made the snapshot.

    Raised from the client's error (its `__cause__`), whose text it keeps; an identical
    create retried within the dedupe window looks for that import before sending another.
    """

    retryable = True

    def __init__(self, name: str, cause: SnapshotMCPError) -> None:
        super().__init__(str(cause))
        self.name = name


class CreateBusy(SnapshotMCPError):
    """An identical create is running on another instance; asked again later, it returns that snapshot."""

    retryable = True


class StoreUnavailable(SnapshotMCPError):
    """The shared state store cannot be reached; what needs it to stay safe fails closed.

    Raised by the store with a plain message; the layer that knows what was refused
    (a create, a delete decision) raises its own with the cause chained.
    """

    retryable = True


class ApiError(SnapshotMCPError):
    """The API answered with an error status."""

    def __init__(self, status: int, code: str | None, message: str) -> None:
        self.status = status
        self.code = code
        self.api_message = message
        code_part = f" {code}" if code else ""
        super().__init__(f"[{status}]{code_part} {message}".rstrip())


class BadRequest(ApiError):
    """400 or 422: the API rejected the arguments (the model must fix them)."""

    who: Who = "model"


class AuthError(ApiError):
    """401 or 403: the token is invalid, expired or lacks the permission."""

    who: Who = "operator"


class NotFound(ApiError):
    """404: no such snapshot (or route)."""

    who: Who = "model"


class Conflict(ApiError):
    """409: the snapshot's current state does not allow this."""

    who: Who = "user"
    retryable = True


class RateLimited(ApiError):
    """429: too many requests."""

    retryable = True

    def __init__(self, status: int, code: str | None, message: str, retry_after: float | None = None) -> None:
        super().__init__(status, code, message)
        self.retry_after = retry_after


class ServerError(ApiError):
    """5xx: the API failed."""

    retryable = True


class BadResponse(ApiError):
    """A success status whose body is not the documented JSON (truncated, HTML, …)."""

    retryable = True


class UnusableResponse(BadResponse):
    """An answer too large or too slow to read: retrying would meet the same answer."""

    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(0, None, message)
        self.message = message


def _status_class(status: int) -> type[ApiError]:
    if status in (400, 422):
        return BadRequest
    if status in (401, 403):
        return AuthError
    if status == 404:
        return NotFound
    if status == 409:
        return Conflict
    if status == 429:
        return RateLimited
    if status >= 500:
        return ServerError
    return ApiError


def parse_error_body(body: bytes, content_type: str = "", secret: str | None = None) -> tuple[str | None, str]:
    """Read `{"code", "message"}` from an error body; cope with anything else.

    `code` may be a string or a number in the wild; it comes back as a string. A body
    that is not the documented JSON (an HTML page from a proxy, a truncated answer)
    yields no code and a short, single-line description instead of the raw page, so
    only `code` and `message` can carry the body's text. Each is made one line by the
    rules of `safe_text` (`secret` redacted, also where hidden characters split it;
    hidden characters escaped), its runs of spaces closed up, then shortened. A field
    with nothing visible but escapes counts as empty.
    """
    secrets = Secrets([secret])

    def clean(text: str, limit: int) -> str:
        if not visible(text).strip():
            return ""
        return shorten(" ".join(one_line(text, secrets).split()), limit)

    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        data = None
    if isinstance(data, dict):
        raw_code = data.get("code")
        code = None
        if isinstance(raw_code, str | int) and not isinstance(raw_code, bool):
            code = clean(str(raw_code), _MAX_CODE) or None
        raw_message = data.get("message")
        message = clean(raw_message, _MAX_DETAIL) if isinstance(raw_message, str) else ""
        return code, message or "no error message in the response"
    if not body.strip():
        return None, "empty response body"
    if "html" in content_type.lower() or body.lstrip()[:1] == b"<":
        return None, "the response was an HTML page, not the API's JSON (a proxy or gateway error?)"
    return None, "the response body was not the API's JSON"


def error_from_response(
    status: int,
    body: bytes,
    content_type: str = "",
    retry_after: float | None = None,
    *,
    secret: str | None = None,
) -> ApiError:
    """Build the `ApiError` subclass that fits an HTTP error response.

    `secret` (the API token) never reaches the error: see `parse_error_body`.
    """
    code, message = parse_error_body(body, content_type, secret)
    cls = _status_class(status)
    if cls is RateLimited:
        return RateLimited(status, code, message, retry_after)
    return cls(status, code, message)
