"""The tools a model is offered, each declared in its own module, and the one place that registers them.

A tool module holds the tool's handler, its words and its `ToolDeclaration`; a new tool
is one more line in `DECLARATIONS`. `register` decides which of them a server offers
(read-only servers get no tool that writes; `--tools` names the ones wanted) and gives
each the variant its settings call for.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import MCPServer

from snapshot_mcp.apps import LINK_META
from snapshot_mcp.declaration import ToolDeclaration
from snapshot_mcp.settings import Settings

from .batch import DELETE_SNAPSHOTS
from .deleting import DELETE_SNAPSHOT
from .instances import LIST_INSTANCES, SNAPSHOT_INSTANCE
from .reading import GET_SNAPSHOT, LIST_SNAPSHOTS
from .writing import COPY_SNAPSHOT, CREATE_SNAPSHOT_FROM_URL, RENAME_SNAPSHOT

DECLARATIONS: tuple[ToolDeclaration, ...] = (
    LIST_SNAPSHOTS,
    GET_SNAPSHOT,
    LIST_INSTANCES,
    CREATE_SNAPSHOT_FROM_URL,
    SNAPSHOT_INSTANCE,
    COPY_SNAPSHOT,
    RENAME_SNAPSHOT,
    DELETE_SNAPSHOT,
    DELETE_SNAPSHOTS,
)
"""Every tool a model can be offered, in the order tools/list shows them."""


def offered(settings: Settings) -> list[ToolDeclaration]:
    """The declarations `settings` allow (read-only: none that writes; `tools`: only those named)."""
    return [
        declared
        for declared in DECLARATIONS
        if (not settings.tools or declared.name in settings.tools) and not (settings.read_only and declared.writes)
    ]


def register(server: MCPServer[Any], settings: Settings, *, browser: bool = False) -> None:
    """Add the tools `settings` allow to `server`, each as its declaration and the settings say.

    `browser`: the browser channel can open on this machine (the delete tools then say how to ask there).
    """
    for declared in offered(settings):
        server.add_tool(
            declared.function(settings),
            name=declared.name,
            title=declared.title,
            description=declared.describe(settings, browser),
            annotations=declared.annotations,
            meta=LINK_META if declared.links_card and "card" in settings.ladder else None,
        )
