"""The browser face of a deletion request: the person's own browser, on a page this server serves on loopback.

- `opener`: whether and how this machine opens the person's graphical browser, and
  opening it without lending it the server's stdio;
- `page`: the page's HTTP rules (routes, Host and Origin checks, headers) and `page.html`;
- `listener`: the loopback listener, started on first use and closed when nothing it
  served is pending.

What a decision means (the deletion request, its secret, the delete) is the
confirmation core's (`confirm.browser`).

`background_tasks` is the task group the listener runs in, open as long as the server
runs (the lifespan's); it is all the server loads of this package before a tool is
listed. `opener` is loaded to know whether a browser can open here (when the tools are
first listed), `page` with the first delete call, and `listener` when a page is first
shown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from anyio.abc import TaskGroup

GRACE_SECONDS = 15.0
"""How long the listener stays up after the last request it served was decided or expired."""


@asynccontextmanager
async def background_tasks() -> AsyncIterator[TaskGroup]:
    """A task group cancelled when the block ends; what ends the block arrives as itself, not wrapped in a group."""
    try:
        async with anyio.create_task_group() as tasks:
            yield tasks
            tasks.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise _sole(group) from None


def _sole(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception inside nested groups, or the group itself when there are several."""
    while len(group.exceptions) == 1 and isinstance(group.exceptions[0], BaseExceptionGroup):
        group = group.exceptions[0]
    return group.exceptions[0] if len(group.exceptions) == 1 else group
