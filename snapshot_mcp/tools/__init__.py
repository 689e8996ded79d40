"""The tools, as plain module-level async functions, and the one place that registers them.

Each tool reads the server's `AppState` from its context; none holds settings or a
policy of its own. `register` decides which tools a server offers (read-only servers
get no writing tool) and gives each its title, description and annotations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

from snapshot_mcp.apps import LINK_META
from snapshot_mcp.messages import TITLES, Words
from snapshot_mcp.settings import Settings

from .batch import delete_snapshots, delete_snapshots_with_token
from .common import READ_ONLY
from .deleting import delete_snapshot, delete_snapshot_with_token
from .instances import list_instances, snapshot_instance
from .reading import get_snapshot, list_snapshots
from .writing import copy_snapshot, create_snapshot_from_url, rename_snapshot

Meta = dict[str, Any] | None
WRITES = ToolAnnotations(destructive_hint=False)
"""Additive: a new snapshot; nothing that exists is changed or removed."""
CHANGES = ToolAnnotations(destructive_hint=True, idempotent_hint=True)
"""Overwrites or removes something that exists (a name, a snapshot)."""


def register(server: MCPServer[Any], settings: Settings, words: Words) -> None:
    """Add the tools `settings` allow to `server` (read-only: no writing tool; `tools`: only those named)."""
    for fn, name, description, hints, meta in _catalog(settings, words):
        if settings.tools and name not in settings.tools:
            continue
        if settings.read_only and not hints.read_only_hint:  # readOnlyHint false is the spec's default
            continue
        server.add_tool(fn, name=name, title=TITLES[name], description=description, annotations=hints, meta=meta)


def _catalog(settings: Settings, words: Words) -> list[tuple[Callable[..., Any], str, str, ToolAnnotations, Meta]]:
    """Every tool this server can offer, in the order tools/list shows them."""
    ladder = settings.ladder
    one = delete_snapshot_with_token if "token" in ladder else delete_snapshot
    many = delete_snapshots_with_token if "token" in ladder else delete_snapshots
    card = LINK_META if "card" in ladder else None
    return [
        (list_snapshots, "list_snapshots", words.list_snapshots, READ_ONLY, None),
        (get_snapshot, "get_snapshot", words.get_snapshot, READ_ONLY, None),
        (list_instances, "list_instances", words.list_instances, READ_ONLY, None),
        (create_snapshot_from_url, "create_snapshot_from_url", words.create_snapshot_from_url, WRITES, None),
        (snapshot_instance, "snapshot_instance", words.snapshot_instance, WRITES, None),
        (copy_snapshot, "copy_snapshot", words.copy_snapshot, WRITES, None),
        (rename_snapshot, "rename_snapshot", words.rename_snapshot, CHANGES, None),
        (one, "delete_snapshot", words.delete_snapshot, CHANGES, card),
        (many, "delete_snapshots", words.delete_snapshots, CHANGES, card),
    ]
