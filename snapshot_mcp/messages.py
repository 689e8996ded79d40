"""The sentences that are not one tool's own: refusals, next steps, progress, error advice, what went wrong.

Where words live: a tool's own words (its title, description, argument help and the
result sentences only it says) are in its module under `tools/`, with its declaration.
Every other sentence a model or a person reads in a client is here: the ones several
tools say, the confirmation channels' and the prompts' words, and what the API client
says went wrong. Operations and dedupe build no words: they return facts and raise
typed errors, which the tools word with these. Texts that mention a duration take it
from the settings, so they stay true when the operator changes it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime

from .errors import (
    AuthError,
    CreateBusy,
    CreateMayHaveStarted,
    NotFound,
    RateLimited,
    SnapshotMCPError,
    StoreUnavailable,
)
from .models import Snapshot

INSTRUCTIONS = (
    "Manages Genesis Cloud compute snapshots (disk images). Snapshot ids are UUIDs: find them with "
    "list_snapshots. Deleting asks the user first; never delete without the user's request."
)

# -- argument help several tools share (static: shown in every tool definition, so kept short) --

REGION_FILTER = "e.g. NORD-NO-KRS-1"
NAME_CONTAINS = "case-insensitive"
WAIT_CREATE = "poll until created or error"

# -- what a finished call says -------------------------------------------------------------

REFUSAL = {
    "declined": "the user declined. Nothing was deleted; do not retry unless the user asks again.",
    "cancelled": "the user dismissed the prompt. Nothing was deleted.",
    "timed_out": "no answer came in time. Nothing was deleted.",
    "malformed_answer": "the confirmation answer was not understood. Nothing was deleted.",
}
"""Why a question that was asked deleted nothing (a plain result, not an error)."""

ELICITATION_FAILED = (
    "Not deleted: the client failed to show or answer the confirmation prompt. Nothing was deleted; ask the "
    "user whether to try again."
)
STATELESS_LEGACY = (
    "Not deleted: this server runs --stateless and the client speaks the 2025 protocol, which cannot carry a "
    "confirmation prompt there. Connect with protocol 2026-07-28, or use a stateful server."
)

NO_CHANNEL = (
    "Not deleted: this client can show neither a confirmation card (MCP Apps) nor a confirmation form (MCP "
    "elicitation) that this server trusts, and this server deletes only after the user confirms. Ask the user "
    "to delete it in the Genesis Cloud console or in a client that can ask (Claude Code, VS Code); the "
    "server's operator may instead enable the token channel (--confirm-channels card,form,token, or "
    "--delete-confirmation token)."
)
"""No rung of the confirmation ladder fits this client."""

CARD_STATUS = {
    "pending": "the user has not decided yet in the confirmation card. Nothing is deleted until they press "
    "Delete there.",
    "deleting": "the user confirmed in the card; the deletion is under way.",
    "deleted": "the user confirmed in the card; the deletion was accepted.",
    "kept": "the user chose Keep in the card. Nothing was deleted; do not retry unless the user asks again.",
    "expired": "no decision came before the request expired. Nothing was deleted; call again for a fresh card "
    "if the user still wants it.",
    "changed": "the snapshot changed after the card was shown. Nothing was deleted; call again for a fresh card.",
    "void": "the request was voided after wrong confirmation codes. Nothing was deleted.",
    "failed": "the user confirmed, but the API did not accept the deletion. Check with get_snapshot.",
}
"""Where a confirmation card's request stands, as the model learns it."""

BROWSER_STATUS = {
    "deleting": "the user confirmed on the page in their browser; the deletion is under way.",
    "deleted": "the user confirmed on the page in their browser; the deletion was accepted.",
    "kept": "the user chose Keep on the page in their browser. Nothing was deleted; do not retry unless the user "
    "asks again.",
    "expired": "no decision came before the request expired. Nothing was deleted; call again to ask anew if the "
    "user still wants it.",
    "changed": "the snapshot changed after the user was asked. Nothing was deleted; call again to ask anew.",
}
"""Where a request stands when the person decided it (or was asked) in their browser; the rest as `CARD_STATUS`."""


def request_status(status: str, face: str | None) -> str:
    """Where a deletion request stands, as the model learns it, in the words of the face the person used."""
    if face == "browser" and status in BROWSER_STATUS:
        return BROWSER_STATUS[status]
    return CARD_STATUS[status]


NO_SUCH_REQUEST = "No such deletion request in this session (it may have expired). Nothing was deleted."
ALREADY_DECIDED = "this request was already decided; nothing more was done."
NOT_IN_REQUEST = "snapshot_ids must name some of the snapshots this request asked about. Nothing was deleted."


CHANGED_WHILE_ASKED = (
    "changed while you were asked (renamed, resized or otherwise not what the user saw). Not deleted; ask again "
    "if the user still wants it."
)
UNRECORDED = (
    "The shared state store could not be reached afterwards, so this decision could not be recorded: asking again "
    "may not report it. get_snapshot shows where each snapshot stands."
)


FACE_NAMES = {"card": "the confirmation card", "browser": "the browser page"}
"""Where a person decided a deletion request, in words."""


def confirmed_earlier(face: str | None, request_id: str) -> str:
    """A delete of a snapshot that a person's earlier decision deleted: not merely "not found"."""
    where = FACE_NAMES.get(face or "card", "the confirmation card")
    return (
        f"deleted after the user's confirmation in {where} (request {request_id}); the snapshot is gone or going. "
        "Nothing more was sent."
    )


def confirmed_earlier_in_set(snapshot_ids: Sequence[str]) -> str:
    """A batch naming snapshots an earlier decision deleted, beside others that still exist."""
    return (
        f"Nothing was asked or deleted: {', '.join(snapshot_ids)} already deleted after the user's confirmation. "
        "Call again without them."
    )


def bad_nonce(tries: int) -> str:
    """A wrong confirmation code; the third voids the request."""
    if tries >= 3:
        return "Not deleted: the confirmation code was wrong three times; the request is void."
    return f"Not deleted: the confirmation code does not match this request (try {tries} of 3)."


FORM_TITLE = "Confirm deletion"
FORM_DESCRIPTION = "Deleting a snapshot cannot be undone: only a ticked box and Accept delete it."
FORM_FIELD_TITLE = "Delete permanently"
FORM_FIELD_DESCRIPTION = "Confirm deletion: untick (or decline) to keep the snapshot."
"""The 2026-07-28 wire has no place for a form's own title and description, so the field carries them too."""


def seconds(value: float) -> str:
    """`45s`: a duration for a sentence, rounded up (a shorter promise would not be kept)."""
    return f"{math.ceil(value)}s"


def age_text(created_at: datetime | None, now: datetime | None = None) -> str:
    """`created 2026-03-14 (258 days ago)`, or `creation date unknown`."""
    if created_at is None:
        return "creation date unknown"
    current = now or datetime.now(UTC)
    created = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
    days = max(0, (current - created).days)
    ago = "today" if days == 0 else "1 day ago" if days == 1 else f"{days} days ago"
    return f"created {created.date().isoformat()} ({ago})"


def question(snapshot: Snapshot, now: datetime | None = None) -> str:
    """The question a person reads before a delete: what is asked, then the id and facts, then the name.

    The name is API data: it comes last, quoted and already shortened where it was parsed,
    so no name can push the id or the facts out of sight or pose as a line of its own.
    """
    size = f"{snapshot.size} GiB" if snapshot.size is not None else "size unknown"
    return (
        "Delete this snapshot permanently? This cannot be undone.\n"
        f"id {snapshot.id} · {size} · {snapshot.region} · status {snapshot.status} · "
        f"{age_text(snapshot.created_at, now)}\n"
        f"name {json.dumps(snapshot.name.shown, ensure_ascii=False)}"
    )


def question_for(snapshots: Sequence[Snapshot], now: datetime | None = None) -> str:
    """The question for one snapshot, or for several: a header with the count and total, then each in full."""
    if len(snapshots) == 1:
        return question(snapshots[0], now)
    total = sum(snapshot.size or 0 for snapshot in snapshots)
    lines = [f"Delete these {len(snapshots)} snapshots permanently ({total} GiB in all)? This cannot be undone."]
    for number, snapshot in enumerate(snapshots, 1):
        size = f"{snapshot.size} GiB" if snapshot.size is not None else "size unknown"
        lines.append(
            f"{number}. id {snapshot.id} · {size} · {snapshot.region} · status {snapshot.status} · "
            f"{age_text(snapshot.created_at, now)} · {json.dumps(snapshot.name.shown)}"
        )
    return "\n".join(lines)


def token_preview(snapshots: Sequence[Snapshot], ttl: float) -> str:
    """The token channel's first answer: the question on one line, then what to do."""
    return (
        f"{question_for(snapshots).replace(chr(10), ' ')} Show this to the user; if they agree, call again with "
        f"confirmation_token (valid {math.ceil(ttl / 60)} minutes, once)."
    )


def card_waiting(snapshots_line: str, expires_at: str, request_id: str, tool: str, browser: bool = False) -> str:
    """The delete tool's answer under the card channel: what awaits the user, and how to learn the outcome.

    `browser`: the browser channel can open here, for a person who sees no card.
    """
    instead = (
        f" If the user sees no card, call {tool} with ask_in_browser=true to ask in their browser." if browser else ""
    )
    return (
        f"Awaiting the user's decision in the confirmation card: {snapshots_line}. Nothing is deleted until they "
        f"press Delete there. The request expires at {expires_at}. Call {tool} again with the same arguments "
        f"to learn the outcome.{instead}\nrequest_id={request_id}"
    )


BROWSER_STATUS_PENDING = (
    "the user has not decided yet on the page opened in their browser. Nothing is deleted until they press Delete "
    "there."
)
BROWSER_PROGRESS = "waiting for the user's decision in their browser"
BROWSER_FAILED = (
    "Not deleted: this server could not start the user's browser to ask them. Nothing was deleted; ask the user "
    "to delete it in the Genesis Cloud console, or in a client that can show a confirmation."
)


def browser_waiting(snapshots_line: str, expires_at: str, request_id: str, tool: str) -> str:
    """The delete tool's answer when the person did not decide in their browser in time."""
    return (
        f"Awaiting the user's decision on the page opened in their browser: {snapshots_line}. Nothing is deleted "
        f"until they press Delete there. The request expires at {expires_at}. Call {tool} again with the same "
        f"arguments to learn the outcome.\nrequest_id={request_id}"
    )


def card_status(status: str, request_id: str, face: str | None = "card") -> str:
    return f"{status}: {request_status(status, face)}\nrequest_id={request_id}"


def store_unreachable(where: str) -> str:
    """The shared store did not answer (`where`: its address, passwords masked)."""
    return f"The shared state store ({where}) cannot be reached"


TOKEN_REFUSED = {
    "invalid": "the confirmation token is not valid for this server",
    "other_snapshot": "the confirmation token was issued for another snapshot",
    "other_session": "the confirmation token was issued to another session",
    "expired": "the confirmation token has expired",
    "used": "the confirmation token was already used",
    "changed": "the snapshot changed since the token was issued",
}
"""Why the token channel refuses a token (never the token itself)."""


def token_issued(preview: str, token: str) -> str:
    """The token channel's first answer, with the token on a line of its own."""
    return f"Not deleted yet. {preview}\nconfirmation_token={token}"


def token_refused(reason: str) -> str:
    return f"Not deleted: {reason}. Call without a token for a fresh preview."


def not_deleted(outcome: str, reason: str) -> str:
    return f"Not deleted ({outcome}): {reason}"


def batch_done(accepted: int, asked: int) -> str:
    if accepted == asked:
        return f"the API accepted all {asked} deletions; each snapshot disappears once the API finishes."
    return f"the API accepted {accepted} of {asked} deletions; the others say why below."


def not_a_snapshot_id(reason: str) -> str:
    return f"Not a snapshot id: {reason}. Use list_snapshots to find ids."


def no_such_prompt(names: Sequence[str]) -> str:
    return f"No such prompt; this server has: {', '.join(names)}."


def prompt_arguments(prompt: str, missing: Sequence[str], unknown: Sequence[str], declared: Sequence[str]) -> str:
    """A prompts/get whose arguments do not fit the prompt: which are missing, which unknown."""
    parts = []
    if missing:
        parts.append(f"needs the argument{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))}")
    if unknown:
        parts.append(f"has no argument{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}")
    return f"Prompt {prompt!r} " + " and ".join(parts) + f" (its arguments: {', '.join(declared) or 'none'})."


def create_next(snapshot: Snapshot, *, waited: bool, can_wait: bool = True) -> str:
    """What to do after a create, from where the import stands (`can_wait`: the tool takes wait=true)."""
    if snapshot.status in ("created", "active"):
        return "ready: it can be used to create instances."
    if snapshot.status == "error":
        return (
            "the import failed: check that the URL is publicly reachable and is a raw (or zstd-compressed raw) "
            "image no larger than size GiB uncompressed; delete this snapshot, then try again."
        )
    if not can_wait:
        return (
            f"copying; copies take minutes. Check later with get_snapshot(snapshot_id={snapshot.id!r}) until it "
            "is created."
        )
    hint = "still importing after the wait" if waited else "importing"
    return (
        f"{hint}; imports take minutes. Check later with get_snapshot(snapshot_id={snapshot.id!r}), "
        "or call again with wait=true (returns the same import)."
    )


def create_heading(reused: bool, *, made: str, probable: bool = False) -> str:
    """The first words of a create's answer (`made`: what the tool says it started)."""
    if probable:
        return (
            "Found the probable earlier attempt (same name, size, region and OS, made since the failed call; "
            "the API does not show the URL, so check it is the right one)"
        )
    return "Reused the identical recent import" if reused else made


def lookup_incomplete(name: str) -> str:
    """A look-up for an earlier attempt stopped before the last page: a duplicate cannot be ruled out."""
    return (
        "The look-up for the earlier attempt could not read every page: if list_snapshots("
        f"name_contains={name!r}) shows two, delete the one you do not want."
    )


def scan_progress(read: int, pages: int) -> str:
    return f"scanned page {read} of {pages}"


def wait_progress(status: str | None, elapsed: float, *, gone: bool) -> str:
    """Where a wait stands: the status (or `gone`), the seconds so far, and what it waits for."""
    goal = "gone" if gone else "created or error"
    return f"{status or 'gone'} after {elapsed:.0f}s (waiting for {goal})"


STORE_DOWN_CREATE = (
    "Nothing was created: the shared state store cannot be reached, and without it a retried create "
    "could make a second snapshot"
)
STORE_DOWN_DELETE = (
    "Nothing was deleted: the shared state store cannot be reached, and it keeps each confirmation "
    "and each delete to one use"
)
STORE_DOWN_CARD = (
    "The shared state store cannot be reached: this decision was not recorded, and nothing more is deleted "
    "until it is back"
)
CREATE_BUSY = (
    "An identical create is still running on another instance of this server: call again in a moment "
    "and it returns that snapshot instead of making a second"
)


def create_maybe_started(name: str) -> str:
    """After a create whose answer was lost: the next step that makes no second import."""
    return (
        "The import may have started anyway. To continue, call create_snapshot_from_url again with the same "
        "arguments: it looks for that import first and does not make a second "
        f"(or look yourself with list_snapshots(name_contains={name!r}))"
    )


def error_text(exc: SnapshotMCPError, subject: str = "", kind: str = "snapshot") -> str:
    """Words for a model: what happened, whether retrying helps, what to do next."""
    if isinstance(exc, NotFound):
        return f"Not found: no {kind} {subject} (it may have been deleted). Use list_{kind}s to find ids."
    text = CREATE_BUSY if isinstance(exc, CreateBusy) else str(exc).rstrip(".")
    if isinstance(exc, CreateMayHaveStarted):
        text = f"{text}. {create_maybe_started(exc.name)}"
    if isinstance(exc, AuthError):
        text = f"The Genesis Cloud API rejected the token (GENESISCLOUD_TOKEN) or it lacks the permission: {text}"
    if isinstance(exc, StoreUnavailable):
        return f"{text}. Retry when it is back; the reading tools still work."
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        # Rounded up: "Retry after 0s" would invite an immediate retry into the same limit.
        return f"{text}. Retry after {math.ceil(exc.retry_after)}s."
    if exc.who == "operator":
        return f"{text}. Retrying will not help: the server's operator must fix the configuration."
    if exc.who == "model":
        return f"{text}. Fix the arguments; retrying unchanged will not help."
    if exc.retryable:
        return f"{text}. Retrying later may help."
    return text


def invalid_arguments(tool: str, problems: Sequence[str]) -> str:
    """A call whose arguments failed validation: one short line per field."""
    return f"Invalid arguments for {tool} (nothing was sent): " + "; ".join(problems)


# -- what went wrong with the API (the client's errors; `error_text` adds the advice) ------------

API_UNDECODABLE = "the API's answer could not be decoded"
API_SLOW = "the API did not answer in time"
API_NO_CONNECTION = "could not connect to the API"
API_NOT_JSON = "the response body was not valid JSON"
WAIT_NO_ANSWER = "the API did not answer within the wait; check again later"
UNSENDABLE_CREDENTIAL = (
    "GENESISCLOUD_TOKEN contains spaces or characters an HTTP header cannot carry; paste the token again without them"
)


def connection_failed(kind: str) -> str:
    return f"the connection to the API failed ({kind})"


def not_resent(what: str) -> str:
    """A create (POST) whose answer was lost: sending it again could make a second snapshot."""
    return f"{what}; the API may have acted on it, so it was not re-sent"


def tried(what: str, attempts: int) -> str:
    return f"{what} (tried {attempts} times)"


def not_success(status: int, method: str) -> str:
    return f"HTTP {status} does not mean success for {method}"


def answer_too_slow(seconds: float) -> str:
    return f"the API's answer took longer than {seconds:.0f}s; retrying will not help"


def answer_too_large(mebibytes: int) -> str:
    return f"the API's answer was larger than {mebibytes} MiB; retrying will not help"


def undocumented_shape(shape: str) -> str:
    return f"the API's answer did not have the documented shape ({shape})"


def another_snapshot(snapshot_id: str) -> str:
    return f"the API answered a request for snapshot {snapshot_id} with another snapshot"


def out_of_range(name: str, value: int, low: int, high: int | None = None) -> str:
    """A paging argument outside what the API takes (nothing was sent)."""
    if high is None:
        return f"{name} must be {low} or more, got {value}"
    return f"{name} must be between {low} and {high}, got {value}"
