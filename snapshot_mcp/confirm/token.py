"""The token channel: a preview and a single-use token, for clients that cannot ask.

The first call returns a preview naming the snapshots and a short-lived token bound
to their current state; a second call with the token deletes if nothing changed. The
human check is the client's own approval dialog for a destructive tool, which this
server cannot see: the operator opts into this channel knowing that.

A token names the snapshots, a fingerprint of their state, the caller's session and
an expiry, and is HMAC-signed with the server's key (shared between instances when the
operator configures one). Its single use is recorded in the store, as a hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Sequence
from typing import Any

from snapshot_mcp import messages
from snapshot_mcp.models import Snapshot
from snapshot_mcp.store import Store
from snapshot_mcp.views import tool_result

from .base import Approved, Channel, ChannelVerdict, DeletionCall, Replied
from .facts import fingerprint, session_digest

TOKEN_TTL_SECONDS = 300.0


def _set_fingerprint(snapshots: Sequence[Snapshot]) -> str:
    return hashlib.sha256("".join(fingerprint(s) for s in snapshots).encode()).hexdigest()[:32]


class TokenError(Exception):
    """A confirmation token was refused; the message says why (never the token)."""


class ConfirmationTokens:
    """Issues and redeems signed, single-use, short-lived confirmation tokens."""

    def __init__(
        self,
        store: Store,
        key: bytes | None = None,
        *,
        ttl: float = TOKEN_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._key = key or secrets.token_bytes(32)
        self.ttl = ttl
        self._clock = clock

    def issue(self, snapshots: Sequence[Snapshot], session: str) -> str:
        payload = {
            "s": [snapshot.id for snapshot in snapshots],
            "f": _set_fingerprint(snapshots),
            "u": session_digest(session),
            "e": round(self._clock() + self.ttl, 3),
            "n": secrets.token_hex(16),
        }
        body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
        return f"{body}.{self._sign(body)}"

    def _sign(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()[:32]

    def _payload(self, token: str) -> dict[str, Any]:
        body, _, signature = token.strip().partition(".")
        if not body or not hmac.compare_digest(signature, self._sign(body)):
            raise TokenError(messages.TOKEN_REFUSED["invalid"])
        try:
            payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError as exc:
            raise TokenError(messages.TOKEN_REFUSED["invalid"]) from exc
        if not isinstance(payload, dict):
            raise TokenError(messages.TOKEN_REFUSED["invalid"])
        return payload

    async def redeem(self, token: str, snapshots: Sequence[Snapshot], session: str) -> None:
        """Accept the token for these snapshots in their current state, once; else `TokenError`."""
        payload = self._payload(token)
        if payload.get("s") != [snapshot.id for snapshot in snapshots]:
            raise TokenError(messages.TOKEN_REFUSED["other_snapshot"])
        if payload.get("u") != session_digest(session):
            raise TokenError(messages.TOKEN_REFUSED["other_session"])
        remaining = float(payload.get("e", 0)) - self._clock()
        if remaining <= 0:
            raise TokenError(messages.TOKEN_REFUSED["expired"])
        used = "token-used:" + hashlib.sha256(str(payload.get("n")).encode()).hexdigest()
        if await self._store.get(used) is not None:
            raise TokenError(messages.TOKEN_REFUSED["used"])
        if payload.get("f") != _set_fingerprint(snapshots):
            raise TokenError(messages.TOKEN_REFUSED["changed"])
        if not await self._store.put_once(used, "1", remaining + 1.0):  # the atomic claim: one redeem wins
            raise TokenError(messages.TOKEN_REFUSED["used"])


class TokenChannel(Channel):
    """Preview first; delete on the second call that brings the token back."""

    name = "token"

    def __init__(self, tokens: ConfirmationTokens) -> None:
        self.tokens = tokens

    async def confirm(self, call: DeletionCall) -> ChannelVerdict:
        if call.confirmation_token is None:
            return self._preview(call)
        try:
            await self.tokens.redeem(call.confirmation_token, call.snapshots, call.session)
        except TokenError as exc:
            return self.refuse(call, "refused", messages.token_refused(str(exc)), error=True, detail=str(exc))
        return Approved(call.snapshots)

    def _preview(self, call: DeletionCall) -> Replied:
        token = self.tokens.issue(call.snapshots, call.session)
        self.audit(call, "token_issued")
        message = messages.token_preview(call.snapshots, self.tokens.ttl)
        result = call.report(call.snapshots, "confirmation_required", message, token=token)
        return Replied(tool_result(messages.token_issued(message, token), result))
