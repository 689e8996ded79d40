"""Delete confirmation: one channel object per way of asking a human.

Channels (chosen by the operator at start-up, never by the model):

- `FormChannel` (``elicit``, the default): an elicitation form names the snapshots;
  only an explicit accept deletes.
- `TokenChannel` (``token``): a preview and a single-use token bound to the
  snapshots' state; a second call with the token deletes if nothing changed.
- `Unconfirmed` (``none``): deletes directly (unattended pipelines); warned about.

Each channel answers `confirm(call) -> Verdict` and writes its own audit line.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import (
        Approved,
        Channel,
        DeletionCall,
        Refused,
        Replied,
        Verdict,
        audit,
        audit_logger,
        install_audit_handler,
    )
    from .form import FormChannel
    from .token import TOKEN_TTL_SECONDS, ConfirmationTokens, TokenChannel, TokenError, fingerprint
    from .unconfirmed import Unconfirmed

_NAMES = {
    "base": (
        "Approved",
        "Channel",
        "DeletionCall",
        "Refused",
        "Replied",
        "Verdict",
        "audit",
        "audit_logger",
        "install_audit_handler",
    ),
    "form": ("FormChannel",),
    "token": ("TOKEN_TTL_SECONDS", "ConfirmationTokens", "TokenChannel", "TokenError", "fingerprint"),
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
    "ConfirmationTokens",
    "DeletionCall",
    "FormChannel",
    "Refused",
    "Replied",
    "TokenChannel",
    "TokenError",
    "Unconfirmed",
    "Verdict",
    "audit",
    "audit_logger",
    "fingerprint",
    "install_audit_handler",
]
