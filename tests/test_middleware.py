"""middleware.py: argument errors in one line per field, compact error results, and a client's mistakes
costing the log at most one INFO line each.
"""

from __future__ import annotations

import logging

import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult

from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator
from tests.support import (
    connect,
)


async def test_mistakes_cost_at_most_an_info_line_each(
    settings: Settings, sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """Item 15: no WARNING, no ERROR, no traceback for a client's mistakes; at most one INFO line each."""
    caplog.set_level(logging.INFO)
    async with connect(settings, sim) as client:
        for call in (
            client.read_resource("genesiscloud://snapshots/not-an-id"),
            client.get_prompt("review_snapshot", {}),
        ):
            with pytest.raises(MCPError):
                await call
        await client.call_tool("nope", {})
        await client.call_tool("get_snapshot", {"snapshot_id": "bad"})
    ours = [r for r in caplog.records if not r.name.startswith("httpx")]
    assert all(r.levelno <= logging.INFO for r in ours), [(r.name, r.getMessage()) for r in ours]
    assert not any(r.exc_info for r in ours)
    assert len(ours) <= 4


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"snapshot_id": "../x"}, "snapshot_id: a snapshot id is a UUID"),
        ({"snapshot_id": "x" * 10_000}, "snapshot_id: String should have at most 64 characters"),
        ({}, "snapshot_id: Field required"),
    ],
)
async def test_argument_errors_are_one_line_per_field(
    settings: Settings, sim: Simulator, arguments: dict[str, object], expected: str
) -> None:
    """Argument errors name the field and the rule, never echo the input, and say nothing was sent."""
    async with connect(settings, sim) as client:
        result = await client.call_tool("get_snapshot", arguments)
    text = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error is True
    assert text.startswith("Invalid arguments for get_snapshot (nothing was sent): ")
    assert expected in text
    assert "xxxxxxxxxx" not in text
    assert "pydantic" not in text
    assert "\n" not in text
    assert sim.requests == []


async def test_compact_errors_middleware_reads_a_model_result_like_a_dict() -> None:
    """Given a CallToolResult model instead of the wire dict, the middleware rewrites it the same way."""
    from types import SimpleNamespace

    from mcp.types import TextContent

    from snapshot_mcp.middleware import CompactArgumentErrors

    raw = (
        "Error executing tool get_snapshot: 1 validation error for get_snapshotArguments\n"
        "snapshot_id\n  Field required [type=missing, input_value={}, input_type=dict]\n"
    )
    model = CallToolResult(content=[TextContent(type="text", text=raw)], is_error=True)

    async def call_next(_: object) -> CallToolResult:
        return model

    rewritten = await CompactArgumentErrors()(SimpleNamespace(method="tools/call"), call_next)  # type: ignore[arg-type]
    assert isinstance(rewritten, dict)
    assert rewritten["isError"] is True
    assert rewritten["content"] == [
        {"type": "text", "text": "Invalid arguments for get_snapshot (nothing was sent): snapshot_id: Field required"}
    ]
