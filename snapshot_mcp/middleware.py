"""Short, exact argument errors for a model.

When a tool's arguments fail validation, the SDK answers with pydantic's full report:
every rejected value repeated back (a 10 kB string costs 10 kB of tokens again), the
error type, and a documentation link per field. This middleware rewrites such a result
to one line per field — `size: Input should be greater than or equal to 1` — and says
that nothing was sent. Every other message passes through untouched.
"""

import re
from collections.abc import Mapping
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from pydantic import BaseModel

from . import messages, telemetry

_HEADER = re.compile(r"^Error executing tool (?P<tool>[\w-]+): \d+ validation errors? for \w+\n")
_MAX_MESSAGE = 240


def compact_validation_error(text: str) -> str | None:
    """The compact form of the SDK's argument-validation error text, or None if it is not one."""
    match = _HEADER.match(text)
    if match is None:
        return None
    problems: list[str] = []
    field = ""
    for line in text[match.end() :].splitlines():
        if not line.startswith(" "):
            field = line.strip()
        elif line.startswith("  ") and not line.startswith("    "):
            message = re.sub(r" \[type=.*$", "", line.strip())
            message = message.removeprefix("Value error, ")
            if len(message) > _MAX_MESSAGE:
                message = message[: _MAX_MESSAGE - 1] + "…"
            problems.append(f"{field}: {message}" if field else message)
    if not problems:
        return None
    return messages.invalid_arguments(match["tool"], problems)


class CompactArgumentErrors:
    """Server middleware that shortens argument-validation errors of tool calls."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method != "tools/call":
            return result
        # The runner hands middleware the wire form (a dict); a model is read the same way.
        wire = (
            result.model_dump(by_alias=True, mode="json", exclude_none=True)
            if isinstance(result, BaseModel)
            else result
        )
        if not isinstance(wire, dict) or wire.get("isError") is not True:
            return result
        content = wire.get("content")
        if not (isinstance(content, list) and len(content) == 1 and isinstance(content[0], dict)):
            return result
        text = content[0].get("text")
        compact = compact_validation_error(text) if isinstance(text, str) else None
        if compact is None:
            return result
        return {**wire, "content": [{**content[0], "text": compact}]}


class ToolCallMetrics:
    """Server middleware: counts tools/call by tool and outcome (ok, error, input_required), when telemetry is on."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call" or not telemetry.enabled():
            return await call_next(ctx)
        outcome = "exception"
        try:
            result = await call_next(ctx)
            outcome = _outcome(result)
            return result
        finally:
            telemetry.tool_call(str((ctx.params or {}).get("name")), outcome)


def _outcome(result: object) -> str:
    if isinstance(result, Mapping):
        is_error, kind = result.get("isError"), result.get("resultType")
    else:
        is_error, kind = getattr(result, "is_error", None), getattr(result, "result_type", None)
    if kind == "input_required" or type(result).__name__ == "InputRequiredResult":
        return "input_required"
    return "error" if is_error else "ok"
