"""Delete confirmation: one channel object per way of asking a human, and what they share.

The operator sets the channels and their order (`--confirm-channels`;
`--delete-confirmation` token or none replaces the whole ladder); per session the
ladder (`ladder`) picks the first one the client can really show. The model never
chooses, and no argument of its means "confirmed".

- `CardChannel` (``card``): an MCP Apps card in the chat. The delete call records a
  deletion request (`requests`) and returns; the person decides it with a click, which
  reaches `decisions.Decisions`, the one decision path every face of a request shares
  (the card, the browser page).
- `FormChannel` (``form``): an elicitation form names the snapshots; only an explicit
  accept deletes.
- `TokenChannel` (``token``, operator opt-in): a preview and a single-use token bound to
  the snapshots' state; a second call with the token deletes if nothing changed.
- `Unconfirmed` (``none``): deletes directly (unattended pipelines); warned about.

Each channel answers `confirm(call) -> ChannelVerdict` and writes its own audit line
(`base`). Every yes is bound to the state the person saw (`facts.fingerprint`) and to
the asking session (`facts.session_digest`); what a confirmed delete did to each
snapshot is a typed `outcomes.SnapshotOutcome`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import (
        Approved,
        Channel,
        ChannelVerdict,
        DeletionCall,
        Refused,
        Replied,
        audit,
        audit_logger,
        install_audit_handler,
    )
    from .facts import fingerprint, session_digest
    from .form import FormChannel
    from .token import TOKEN_TTL_SECONDS, ConfirmationTokens, TokenChannel, TokenError
    from .unconfirmed import Unconfirmed

_NAMES = {
    "base": (
        "Approved",
        "Channel",
        "ChannelVerdict",
        "DeletionCall",
        "Refused",
        "Replied",
        "audit",
        "audit_logger",
        "install_audit_handler",
    ),
    "facts": ("fingerprint", "session_digest"),
    "form": ("FormChannel",),
    "token": ("TOKEN_TTL_SECONDS", "ConfirmationTokens", "TokenChannel", "TokenError"),
    "unconfirmed": ("Unconfirmed",),
}
_HOME = {name: module for module, names in _NAMES.items() for name in names}
"""The module each name lives in: a channel's module is imported when one of its names is first used, so a
server starts without loading channels before a call needs one."""


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "TOKEN_TTL_SECONDS",
    "Approved",
    "Channel",
    "ChannelVerdict",
    "ConfirmationTokens",
    "DeletionCall",
    "FormChannel",
    "Refused",
    "Replied",
    "TokenChannel",
    "TokenError",
    "Unconfirmed",
    "audit",
    "audit_logger",
    "fingerprint",
    "install_audit_handler",
    "session_digest",
]
