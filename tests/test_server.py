"""`server`: what `build_server` builds: short instructions, and no token in any repr."""

from __future__ import annotations

import json
from typing import Any

from mcp import Client
from pydantic import SecretStr

from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Simulator


def wire(tool: Any) -> dict[str, Any]:
    """A tool as it goes out on the wire (camelCase, no nulls)."""
    dumped: dict[str, Any] = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


async def test_instructions_are_short(idle: tuple[Client, Simulator]) -> None:
    """The server's instructions exist and stay short (a model pays for them every turn)."""
    instructions = idle[0].instructions
    assert instructions is not None
    assert 20 < len(instructions) < 400
    assert "list_snapshots" in instructions


# -- secrets --------------------------------------------------------------------------

CANARY = "canary-7f3c9e2a41b8-do-not-leak"


async def test_server_objects_do_not_show_the_token() -> None:
    """The settings and the built server never render the token in a repr."""
    settings = Settings(token=SecretStr(CANARY))
    server = build_server(settings)
    assert CANARY not in repr(settings)
    assert CANARY not in repr(server)
    async with Client(server) as client:
        tools = await client.list_tools()
    assert CANARY not in json.dumps([wire(tool) for tool in tools.tools])
