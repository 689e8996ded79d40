"""Delete confirmation: one channel object per way of asking a human.

Channels (chosen by the operator at start-up, never by the model):

- `FormChannel` (``elicit``, the default): an elicitation form names the snapshots;
  only an explicit accept deletes.
- `TokenChannel` (``token``): a preview and a single-use token bound to the
  snapshots' state; a second call with the token deletes if nothing changed.
- `Unconfirmed` (``none``): deletes directly (unattended pipelines); warned about.

Each channel answers `confirm(call) -> Verdict` and writes its own audit line.
"""

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
from .facts import fingerprint, session_digest
from .form import FormChannel
from .token import TOKEN_TTL_SECONDS, ConfirmationTokens, TokenChannel, TokenError
from .unconfirmed import Unconfirmed

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
    "session_digest",
]
