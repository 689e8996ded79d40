"""Delete confirmation: the form a person answers, single-use tokens, the audit line.

Policies (chosen by the operator at start-up, never by the model):

- ``elicit`` (default): the server asks the user through MCP elicitation with a form
  that names the snapshot; only an explicit accept deletes.
- ``token``: the first call returns a preview and a short-lived token bound to the
  snapshot's current state; a second call with the token deletes if nothing changed.
  The human check is then the client's own approval dialog for a destructive tool.
- ``none``: deletes directly (unattended pipelines); the server warns at start-up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from .models import UUID_PATTERN, Snapshot

_UUID_RE = re.compile(UUID_PATTERN)

TOKEN_TTL_SECONDS = 300.0

audit_logger = logging.getLogger("snapshot_mcp.audit")


def install_audit_handler() -> None:
    """Audit lines always reach stderr, whatever the log level."""
    if not audit_logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s snapshot-mcp %(message)s"))
        audit_logger.addHandler(handler)
    audit_logger.setLevel(logging.INFO)
    audit_logger.propagate = False


def audit(outcome: str, snapshot_id: str, *, policy: str, detail: str = "") -> None:
    """One line per delete attempt, allowed or refused. Never carries a token."""
    extra = f" detail={json.dumps(detail)}" if detail else ""
    audit_logger.info(
        "audit tool=delete_snapshot snapshot_id=%s policy=%s outcome=%s%s",
        json.dumps(snapshot_id),
        policy,
        outcome,
        extra,
    )


class DeleteConfirmation(BaseModel):
    """The form shown to the person before a delete (flat, one field)."""

    # (The docstring above goes to the client as the form's description.) Unknown fields
    # are ignored, so a client that adds its own keys still works; but an answer that
    # names a snapshot id other than the one asked about counts as malformed.
    model_config = ConfigDict(extra="ignore", title="Confirm deletion")

    confirm: bool = Field(default=True, title="Delete permanently", description="Untick to keep the snapshot.")
    _malformed: bool = PrivateAttr(default=False)
    _named_ids: frozenset[str] = PrivateAttr(default=frozenset())

    @model_validator(mode="wrap")
    @classmethod
    def _tolerate(cls, value: Any, handler: Callable[[Any], DeleteConfirmation]) -> DeleteConfirmation:
        """A malformed answer becomes a refusal, not a crash: it never deletes."""
        try:
            answer = handler(value)
        except ValidationError:
            answer = cls.model_construct(confirm=False)
            answer._malformed = True
        if isinstance(value, dict):
            answer._named_ids = frozenset(
                v.strip().lower()
                for v in value.values()
                if isinstance(v, str) and _UUID_RE.fullmatch(v.strip().lower())
            )
        return answer

    @property
    def malformed(self) -> bool:
        return self._malformed

    def answers_for(self, snapshot_id: str) -> bool:
        """False if the answer names another snapshot's id (an answer meant elsewhere)."""
        return self._named_ids <= {snapshot_id}


def age_text(created_at: datetime | None, now: datetime | None = None) -> str:
    """`created 2026-03-14 (258 days ago)`, or `creation date unknown`."""
    if created_at is None:
        return "creation date unknown"
    current = now or datetime.now(UTC)
    created = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    days = max(0, (current - created).days)
    ago = "today" if days == 0 else "1 day ago" if days == 1 else f"{days} days ago"
    return f"created {created.date().isoformat()} ({ago})"


def confirmation_message(snapshot: Snapshot, now: datetime | None = None) -> str:
    """The question the person reads: it names the snapshot completely."""
    size = f"{snapshot.size} GiB" if snapshot.size is not None else "size unknown"
    return (
        f"Delete snapshot {json.dumps(snapshot.name)} permanently?\n"
        f"id {snapshot.id} · {size} · {snapshot.region} · status {snapshot.status} · "
        f"{age_text(snapshot.created_at, now)}\n"
        "This cannot be undone."
    )


def fingerprint(snapshot: Snapshot) -> str:
    """A digest of the state a person saw; any change invalidates a token."""
    state = [
        snapshot.id,
        snapshot.name,
        snapshot.size,
        snapshot.region,
        snapshot.status,
        str(snapshot.updated_at),
    ]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:32]


class TokenError(Exception):
    """A confirmation token was refused; the message says why (never the token)."""


class ConfirmationTokens:
    """Single-use, short-lived tokens, signed so they cannot be forged.

    A token names the snapshot, a fingerprint of its state, the caller's session and
    an expiry; it is HMAC-signed with the server's key (shared between instances when
    the operator configures one). Used tokens are remembered until they expire; a
    deleted snapshot's state changes, so a token cannot be replayed elsewhere either.
    """

    def __init__(
        self,
        key: bytes | None = None,
        *,
        ttl: float = TOKEN_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key or secrets.token_bytes(32)
        self._ttl = ttl
        self._clock = clock
        self._used: dict[str, float] = {}

    def issue(self, snapshot: Snapshot, session: str) -> str:
        payload = {
            "s": snapshot.id,
            "f": fingerprint(snapshot),
            "u": hashlib.sha256(session.encode()).hexdigest()[:16],
            "e": round(self._clock() + self._ttl, 3),
            "n": secrets.token_hex(8),
        }
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{body}.{self._sign(body)}"

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]

    def redeem(self, token: str, snapshot: Snapshot, session: str) -> None:
        """Accept the token for this snapshot in its current state, once; else `TokenError`."""
        body, _, signature = token.strip().partition(".")
        if not body or not hmac.compare_digest(signature, self._sign(body)):
            raise TokenError("the confirmation token is not valid for this server")
        try:
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError as exc:
            raise TokenError("the confirmation token is not valid for this server") from exc
        now = self._clock()
        self._used = {nonce: exp for nonce, exp in self._used.items() if exp > now}
        if payload.get("s") != snapshot.id:
            raise TokenError("the confirmation token was issued for another snapshot")
        if payload.get("u") != hashlib.sha256(session.encode()).hexdigest()[:16]:
            raise TokenError("the confirmation token was issued to another session")
        if float(payload.get("e", 0)) <= now:
            raise TokenError("the confirmation token has expired")
        if payload.get("n") in self._used:
            raise TokenError("the confirmation token was already used")
        if payload.get("f") != fingerprint(snapshot):
            raise TokenError("the snapshot changed since the token was issued")
        self._used[str(payload.get("n"))] = float(payload["e"])
