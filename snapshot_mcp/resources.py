"""Prompts, the snapshot resource template and argument completions."""

from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import Context, MCPServer


def register_catalog(server: MCPServer[Any], state: Callable[[Context[Any, Any]], Any]) -> None:
    """Register prompts, resources and completions on `server`."""
