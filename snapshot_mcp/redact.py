"""The last line of defence for secrets: nothing the server emits carries one.

The API client already keeps its token out of what it builds, and scrubs error bodies
that echo it. But an answer can carry the token in ways a byte search misses (a proxy
that JSON-escapes every letter) or in success data (a compromised API naming a snapshot
after it). So the server also redacts its configured secrets — the API token, the HTTP
client token and the state key — from:

- every MCP response (`RedactSecrets`, server middleware: results and JSON-RPC errors);
- every log record (`RedactingFilter`, on the handlers: message, arguments, traceback).

Secrets shorter than `MIN_LENGTH` are not searched for: redacting a one-letter demo
token ("x") would mangle every answer, and such a value protects nothing anyway.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Iterable, Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel

__all__ = ["MIN_LENGTH", "REDACTED", "RedactSecrets", "RedactingFilter", "redact"]

MIN_LENGTH = 8
REDACTED = "[redacted]"


class _Secrets:
    def __init__(self, secrets: Iterable[str]) -> None:
        self.values = tuple(sorted({s for s in secrets if len(s) >= MIN_LENGTH}, key=len, reverse=True))
        # How each looks inside JSON text (quotes, backslashes and control characters escaped).
        self._encoded = tuple({form for s in self.values for form in (s, json.dumps(s)[1:-1])})

    def __bool__(self) -> bool:
        return bool(self.values)

    def found_in(self, text: str) -> bool:
        return any(form in text for form in self._encoded)

    def scrub(self, text: str) -> str:
        for secret in self.values:
            text = text.replace(secret, REDACTED)
        return text


def redact(value: Any, secrets: Iterable[str]) -> Any:
    """`value` (text, or JSON-like data) with every secret replaced by `[redacted]`."""
    return _walk(value, _Secrets(secrets))


def _walk(value: Any, secrets: _Secrets) -> Any:
    if isinstance(value, str):
        return secrets.scrub(value)
    if isinstance(value, Mapping):
        return {_walk(k, secrets): _walk(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(item, secrets) for item in value]
    return value


class RedactSecrets:
    """Server middleware: no configured secret leaves in a response or a JSON-RPC error."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = _Secrets(secrets)

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if not self._secrets:
            return await call_next(ctx)
        try:
            result = await call_next(ctx)
        except MCPError as exc:
            error = exc.error
            if self._secrets.found_in(error.model_dump_json()):
                raise MCPError(
                    code=error.code,
                    message=self._secrets.scrub(error.message),
                    data=_walk(error.data, self._secrets),
                ) from None
            raise
        return self._clean(result)

    def _clean(self, result: HandlerResult) -> HandlerResult:
        if isinstance(result, BaseModel):
            if not self._secrets.found_in(result.model_dump_json(by_alias=True)):
                return result
            cleaned = _walk(result.model_dump(mode="json", by_alias=True), self._secrets)
            return type(result).model_validate(cleaned)
        if isinstance(result, Mapping):
            if not self._secrets.found_in(json.dumps(result, default=str)):
                return result
            return _walk(result, self._secrets)  # type: ignore[no-any-return]
        return result


class RedactingFilter(logging.Filter):
    """A handler filter: a record's message, arguments and traceback lose every secret."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = _Secrets(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        if self._secrets.found_in(message):
            record.msg, record.args = self._secrets.scrub(message), None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            text = "".join(traceback.format_exception(record.exc_info[1])).rstrip("\n")
            if self._secrets.found_in(text):
                record.exc_text = self._secrets.scrub(text)
        elif record.exc_text and self._secrets.found_in(record.exc_text):
            record.exc_text = self._secrets.scrub(record.exc_text)
        if record.stack_info and self._secrets.found_in(record.stack_info):
            record.stack_info = self._secrets.scrub(record.stack_info)
        return True
