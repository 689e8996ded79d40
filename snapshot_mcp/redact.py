"""The last line of defence for secrets: nothing the server emits carries one.

The API client already keeps its token out of what it builds, and scrubs error bodies
that echo it. But an answer can carry the token in ways a byte search misses (a proxy
that JSON-escapes every letter) or in success data (a compromised API naming a snapshot
after it). So the server also redacts its configured secrets — the API token, the HTTP
client token, the state key and the Redis password — from:

- every MCP response (`RedactSecrets`, server middleware: results and JSON-RPC errors);
- every log record (`RedactingFilter`, on the handlers: message, arguments, traceback).

What counts as a secret, and how one is found (also split by hidden characters), is
`safe_text.Secrets`.
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

from .safe_text import Secrets

__all__ = ["RedactSecrets", "RedactingFilter", "redact"]

_WIRE = json.JSONEncoder(default=str, check_circular=False)
"""A response as JSON text, to look for secrets in (made once: a response is data the SDK serialises, never a cycle)."""


def redact(value: Any, secrets: Iterable[str]) -> Any:
    """`value` (text, or JSON-like data) with every secret replaced by `[redacted]`."""
    return _walk(value, Secrets(secrets))


def _walk(value: Any, secrets: Secrets) -> Any:
    if isinstance(value, str):
        return secrets.redact(value)
    if isinstance(value, Mapping):
        return {_walk(k, secrets): _walk(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_walk(item, secrets) for item in value]
    return value


class RedactSecrets:
    """Server middleware: no configured secret leaves in a response or a JSON-RPC error."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = Secrets(secrets)

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
                    message=self._secrets.redact(error.message),
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
            if not self._secrets.found_in(_WIRE.encode(result)):
                return result
            return _walk(result, self._secrets)  # type: ignore[no-any-return]
        return result


class RedactingFilter(logging.Filter):
    """A handler filter: a record's message, arguments and traceback lose every secret."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = Secrets(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        if self._secrets.found_in(message):
            record.msg, record.args = self._secrets.redact(message), None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            text = "".join(traceback.format_exception(record.exc_info[1])).rstrip("\n")
            if self._secrets.found_in(text):
                record.exc_text = self._secrets.redact(text)
        elif record.exc_text and self._secrets.found_in(record.exc_text):
            record.exc_text = self._secrets.redact(record.exc_text)
        if record.stack_info and self._secrets.found_in(record.stack_info):
            record.stack_info = self._secrets.redact(record.stack_info)
        return True
