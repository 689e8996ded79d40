"""The form channel: ask the person through MCP elicitation, in either protocol era.

- 2025 era: the server sends `elicitation/create` mid-call and waits at most
  `timeout` seconds (less when the call's budget would not leave room to delete and
  answer); no answer in time deletes nothing.
- 2026-07-28: the call returns an input-required result carrying the question; the
  client calls again with the answer and the request state. The SDK seals that state
  (and expires it after the same `timeout`), binding it to this tool and its
  arguments. The state records what the person was shown; an answer is judged only
  when the snapshots still look exactly as they did, otherwise the question is asked
  again. An answer without that state is never taken.

Only an accept carrying `confirm: true` deletes; decline, cancel, an accept without
that field, a malformed answer, or an answer that names another snapshot's id
delete nothing. Clients known to declare the form without showing it (see
`Settings.form_ignored_clients`) are not offered it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import anyio
from mcp.server.mcpserver import Context
from mcp.types import ElicitRequest, ElicitRequestFormParams, ElicitResult, InputRequiredResult
from mcp_types.version import is_version_at_least

from snapshot_mcp import messages
from snapshot_mcp.models import UUID_PATTERN
from snapshot_mcp.redact import redact

from .base import Approved, Channel, ChannelVerdict, DeletionCall, Replied
from .facts import fingerprint
from .ladder import client_name, declares_form, named

logger = logging.getLogger("snapshot_mcp.confirm")

INPUT_REQUIRED_VERSION = "2026-07-28"
DELETE_RESERVE = 8.0
"""Seconds of the call's budget kept for sending the DELETE after a late yes (and its retries)."""
QUESTION_KEY = "confirm_delete"
_UUID_RE = re.compile(UUID_PATTERN)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": messages.FORM_TITLE,
    "description": messages.FORM_DESCRIPTION,
    "properties": {
        "confirm": {
            "type": "boolean",
            "title": messages.FORM_FIELD_TITLE,
            "description": messages.FORM_FIELD_DESCRIPTION,
            "default": True,
        }
    },
    "required": ["confirm"],
}
"""The form: one flat boolean field, as elicitation requires."""


def judge_answer(answer: ElicitResult, snapshot_ids: tuple[str, ...]) -> str:
    """`accepted`, `declined`, `cancelled` or `malformed_answer` for the snapshots asked about.

    Only `confirm: true` (a JSON true, present) accepts; an accept without it, or with
    another snapshot's id anywhere in the answer (nested lists included), is malformed.
    """
    if answer.action == "decline":
        return "declined"
    if answer.action == "cancel":
        return "cancelled"
    content = answer.content
    if not isinstance(content, Mapping) or not isinstance(content.get("confirm"), bool):
        return "malformed_answer"
    if not set(_named_ids(content)) <= set(snapshot_ids):
        return "malformed_answer"  # an answer meant for another snapshot
    return "accepted" if content["confirm"] else "declined"


def _named_ids(value: object) -> list[str]:
    """Every snapshot id written anywhere in an answer (keys, values, nested lists and objects)."""
    if isinstance(value, str):
        candidate = value.strip().lower()
        return [candidate] if _UUID_RE.fullmatch(candidate) else []
    if isinstance(value, Mapping):
        return [found for key, item in value.items() for found in (*_named_ids(key), *_named_ids(item))]
    if isinstance(value, list | tuple):
        return [found for item in value for found in _named_ids(item)]
    return []


class FormChannel(Channel):
    """Ask with an elicitation form that names every snapshot completely."""

    name = "form"

    def __init__(self, *, timeout: float, ignored_clients: Sequence[str] = (), secrets: Sequence[str] = ()) -> None:
        self.timeout = timeout
        self.ignored_clients = tuple(ignored_clients)
        self.secrets = tuple(secrets)

    def available(self, ctx: Context[Any, Any]) -> bool:
        return declares_form(ctx) and not named(client_name(ctx), self.ignored_clients)

    async def confirm(self, call: DeletionCall) -> ChannelVerdict:
        # A 2025-era question is a request the response middleware never sees: no secret leaves in it.
        text = redact(messages.question_for(call.snapshots), self.secrets)
        version = call.ctx.protocol_version
        if version is not None and is_version_at_least(version, INPUT_REQUIRED_VERSION):
            return self._modern(call, text)
        return await self._legacy(call, text)

    async def _legacy(self, call: DeletionCall, text: str) -> ChannelVerdict:
        ctx = call.ctx
        # The answer must come in time for the delete to be sent and the call to return.
        patience = min(self.timeout, call.deadline - time.monotonic() - DELETE_RESERVE)
        with anyio.move_on_after(max(0.0, patience)) as scope:
            try:
                answer = await ctx.request_context.session.elicit_form(
                    message=text, requested_schema=SCHEMA, related_request_id=ctx.request_id
                )
            except Exception as exc:  # the client failed to answer: nothing is deleted
                logger.info("elicitation failed: %s", type(exc).__name__)
                return self.refuse(
                    call, "refused", messages.ELICITATION_FAILED, error=True, detail="elicitation_failed"
                )
        if scope.cancelled_caught:
            return self._verdict(call, "timed_out")
        return self._verdict(call, judge_answer(answer, call.ids), reread=True)  # the person may have taken a while

    def _modern(self, call: DeletionCall, text: str) -> ChannelVerdict:
        shown = _digest(text, call)
        answer = (call.ctx.input_responses or {}).get(QUESTION_KEY)
        if isinstance(answer, ElicitResult) and _state_digest(call.ctx.request_state) == shown:
            return self._verdict(call, judge_answer(answer, call.ids))
        request = ElicitRequest(params=ElicitRequestFormParams(message=text, requested_schema=SCHEMA))
        state = json.dumps({"shown": shown}, separators=(",", ":"))
        return Replied(InputRequiredResult(input_requests={QUESTION_KEY: request}, request_state=state))

    def _verdict(self, call: DeletionCall, outcome: str, *, reread: bool = False) -> ChannelVerdict:
        if outcome == "accepted":
            return Approved(call.snapshots, reread=reread)
        return self.refuse(call, outcome, messages.REFUSAL[outcome])


def _digest(text: str, call: DeletionCall) -> str:
    """What the person was shown: the question and the exact state of each snapshot."""
    seen = [text, *(fingerprint(snapshot) for snapshot in call.snapshots)]
    return hashlib.sha256(json.dumps(seen).encode()).hexdigest()[:32]


def _state_digest(request_state: str | None) -> str | None:
    """The digest recorded in our own (SDK-sealed) request state, if any."""
    if not request_state:
        return None
    try:
        state = json.loads(request_state)
    except ValueError:
        return None
    shown = state.get("shown") if isinstance(state, dict) else None
    return shown if isinstance(shown, str) else None
