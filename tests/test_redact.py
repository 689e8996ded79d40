"""`redact`: secrets out of data, results, errors and log records (messages, arguments, tracebacks)."""

from __future__ import annotations

import logging
from typing import Any, cast

import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent

from snapshot_mcp.redact import RedactingFilter, RedactSecrets, redact
from tests.support.canaries import (
    API_CANARY,
    CANARIES,
    HTTP_CANARY,
    Records,
    assert_clean,
    dump,
)

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
