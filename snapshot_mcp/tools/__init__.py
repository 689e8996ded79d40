"""The tools, as plain module-level async functions, and the one place that registers them.

Each tool reads the server's `AppState` from its context; none holds settings or a
policy of its own. `register` decides which tools a server offers (read-only servers
get no writing tool) and gives each its title, description and annotations.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

from snapshot_mcp.apps import LINK_META
from snapshot_mcp.messages import TITLES, Words
from snapshot_mcp.settings import Settings

from .common import READ_ONLY
from .deleting import delete_snapshot, delete_snapshot_with_token
from .reading import get_snapshot, list_snapshots
from .writing import create_snapshot_from_url

WRITES = ToolAnnotations(read_only_hint=False, destructive_hint=False)
DELETES = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True)


def register(server: MCPServer[Any], settings: Settings, words: Words) -> None:
    """Add the tools `settings` allow to `server`."""
    server.add_tool(
        list_snapshots, title=TITLES["list_snapshots"], description=words.list_snapshots, annotations=READ_ONLY
    )
    server.add_tool(get_snapshot, title=TITLES["get_snapshot"], description=words.get_snapshot, annotations=READ_ONLY)
    if settings.read_only:
        return
    server.add_tool(
        create_snapshot_from_url,
        title=TITLES["create_snapshot_from_url"],
        description=words.create_snapshot_from_url,
        annotations=WRITES,
    )
    channels = settings.ladder
    server.add_tool(
        delete_snapshot_with_token if "token" in channels else delete_snapshot,
        name="delete_snapshot",
        title=TITLES["delete_snapshot"],
        description=words.delete_snapshot,
        annotations=DELETES,
        meta=LINK_META if "card" in channels else None,
    )
