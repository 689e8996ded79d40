"""What a tool is, declared once: `ToolDeclaration`, and the one place its errors become tool errors.

Each tool's module declares it: name, title, description (from the settings it depends
on), annotations, the OAuth scope it needs, its handler (whose signature gives the
argument and result types), and its variants (a second signature under the token
channel, the card's link). Registration (`tools.register`, `apps.add_card_tools`), the
README table, the manifest and the tests' tool sets read these declarations; no other
list of tool names is kept by hand.

A handler raises domain errors (`SnapshotMCPError`); `ToolDeclaration.function` wraps it
so they reach the model worded once, by `messages.error_text`, about the subject the
declaration names. The wrapper keeps the handler's signature (`functools.wraps`: the SDK
reads the arguments, the `Context` parameter and the return type through `__wrapped__`).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

from . import messages
from .errors import SnapshotMCPError, StoreUnavailable
from .settings import Settings

OAuthScope = Literal["snapshots:read", "snapshots:write", "snapshots:delete"]
"""The OAuth scope a call of the tool needs."""
Handler = Callable[..., Awaitable[Any]]
Describe = Callable[[Settings], str]

READS = ToolAnnotations(read_only_hint=True)
"""Changes nothing. openWorldHint true is the spec's default, and idempotentHint means something only
for writing tools: neither is repeated in every turn."""
ADDS = ToolAnnotations(destructive_hint=False)
"""Additive: a new snapshot; nothing that exists is changed or removed."""
CHANGES = ToolAnnotations(destructive_hint=True, idempotent_hint=True)
"""Overwrites or removes something that exists (a name, a snapshot)."""


@dataclass(frozen=True, kw_only=True)
class ToolDeclaration:
    """Everything one tool is. Its words are written in the module that declares it."""

    name: str
    title: str | None
    """What a client shows a person (None: a tool only an app calls, which no person picks)."""
    description: str | Describe
    """What a model reads; a function of the settings when it names a duration or the confirmation ladder."""
    handler: Handler
    """The tool: typed arguments (and a `Context`) in, a typed result out, domain errors raised."""
    annotations: ToolAnnotations
    scope: OAuthScope
    subject: str | None = None
    """The argument naming what the call is about, for an error's words ("no snapshot <id>")."""
    subject_kind: Literal["snapshot", "instance"] = "snapshot"
    store_down: str | None = None
    """What a call refuses when the shared store cannot be reached (None: the store's own words)."""
    with_token: Handler | None = None
    """The handler under the token channel: the same tool, taking `confirmation_token` too."""
    links_card: bool = False
    """Carries the confirmation card's link (`_meta`) when the card channel is on."""
    in_browser: Describe | None = None
    """The description where the browser channel can open (the tool then lists `ask_in_browser`)."""

    def __post_init__(self) -> None:
        # A writing tool never needs only the read scope; a reading tool never a write scope (it may need the
        # delete scope when it belongs to a deletion, as the card's view of a deletion request does).
        if (self.scope == "snapshots:read" and self.writes) or (self.scope == "snapshots:write" and not self.writes):
            raise ValueError(f"{self.name}: the scope {self.scope} disagrees with readOnlyHint")

    @property
    def writes(self) -> bool:
        """Whether a call may change the account (a read-only server leaves such a tool out)."""
        return not self.annotations.read_only_hint  # readOnlyHint false is the spec's default

    def describe(self, settings: Settings, browser: bool = False) -> str:
        """What a model reads, for `settings`; `browser`: the browser channel can open here."""
        if browser and self.in_browser is not None:
            return self.in_browser(settings)
        return self.description if isinstance(self.description, str) else self.description(settings)

    def function(self, settings: Settings) -> Handler:
        """The handler these settings call for, with its domain errors turned into tool errors."""
        handler = self.with_token if self.with_token is not None and "token" in settings.ladder else self.handler

        @functools.wraps(handler)
        async def tool(*args: Any, **kwargs: Any) -> Any:
            try:
                return await handler(*args, **kwargs)
            except SnapshotMCPError as exc:
                subject = kwargs.get(self.subject) if self.subject is not None else None
                raise ToolError(self.error_text(exc, subject if isinstance(subject, str) else "")) from exc

        return tool

    def error_text(self, exc: SnapshotMCPError, subject: str = "") -> str:
        """What a model reads about `exc` in a call of this tool about `subject`."""
        if isinstance(exc, StoreUnavailable) and self.store_down is not None:
            exc = StoreUnavailable(self.store_down)
        return messages.error_text(exc, subject, self.subject_kind)
