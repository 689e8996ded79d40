"""Every sentence a model or a person reads, in one place.

Tool descriptions, argument help, result texts, next steps, refusals and error advice
are written here and nowhere else (the API's own error text and the confirmation
token's refusal reasons live with the classes that own them). Texts that mention a
duration take it from `Settings`, so they stay true when the operator changes it.
`Words(settings)` builds the per-server texts once, at start-up.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from .errors import AuthError, CreateMayHaveStarted, NotFound, RateLimited, SnapshotMCPError, StoreUnavailable
from .models import Snapshot
from .settings import Settings

INSTRUCTIONS = (
    "Manages Genesis Cloud compute snapshots (disk images). Snapshot ids are UUIDs: find them with "
    "list_snapshots. Deleting asks the user first; never delete without the user's request."
)

TITLES = {
    "list_snapshots": "List snapshots",
    "get_snapshot": "Get snapshot",
    "create_snapshot_from_url": "Import snapshot from URL",
    "delete_snapshot": "Delete snapshot",
    "list_instances": "List instances",
    "snapshot_instance": "Snapshot an instance",
    "copy_snapshot": "Copy snapshot to a region",
    "rename_snapshot": "Rename snapshot",
    "delete_snapshots": "Delete several snapshots",
    "card": "Confirm snapshot deletion",
}
"""Each tool's title, as a client shows it to a person."""

# -- argument help (static: shown in every tool definition, so kept short) --------------------

REGION_FILTER = "e.g. NORD-NO-KRS-1"
NAME_CONTAINS = "case-insensitive"
SIZE = "GiB of the uncompressed image"
WAIT_CREATE = "poll until created or error"
WAIT_DELETE = "poll until it is gone"
REPLICATED_REGION = "also copy it there"
COPY_NAME = "default: the source's name"
INSTANCE_ID_FILTER = "made from this instance"
SNAPSHOT_IDS = "1 to 25 distinct snapshot ids"
CONFIRMATION_TOKEN = "from the preview call, after the user agreed"  # noqa: S105 - help text, not a secret

# -- what a finished call says -------------------------------------------------------------

ALREADY_DELETING = "This snapshot is already being deleted; nothing more was sent."
DELETED = "Deleted; it is gone."
DELETING = "Deletion accepted; the snapshot disappears once the API finishes (get_snapshot then says not found)."

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


CARD_DESCRIPTION = "Asks the user to confirm or keep a pending snapshot deletion; shows every snapshot in full."
DELETION_REQUEST = "For the confirmation card: a deletion request's snapshots (as they are now) and its status."
CONFIRM_DELETION = "For the confirmation card: the user's decision (delete or keep) on a deletion request."
NO_SUCH_REQUEST = "No such deletion request in this session (it may have expired). Nothing was deleted."
ALREADY_DECIDED = "this request was already decided; nothing more was done."
NOT_IN_REQUEST = "snapshot_ids must name some of the snapshots this request asked about. Nothing was deleted."


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
        f"name {json.dumps(snapshot.name, ensure_ascii=False)}"
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
            f"{age_text(snapshot.created_at, now)} · {json.dumps(snapshot.name)}"
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


def token_refused(reason: str) -> str:
    return f"Not deleted: {reason}. Call without a token for a fresh preview."


def not_deleted(outcome: str, reason: str) -> str:
    return f"Not deleted ({outcome}): {reason}"


def delete_text(outcome: str, message: str) -> str:
    return f"{outcome}: {message}"


def named_twice(snapshot_ids: Sequence[str]) -> str:
    return f"Nothing was asked or deleted: snapshot_ids names {', '.join(snapshot_ids)} more than once."


def unknown_ids(snapshot_ids: Sequence[str]) -> str:
    return (
        f"Nothing was asked or deleted: no snapshot {', '.join(snapshot_ids)} (deleted already?). "
        "Use list_snapshots to find ids, then call again with existing ones."
    )


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


def private_url(reason: str) -> str:
    return (
        f"url refused: {reason}. Genesis Cloud fetches images from the public internet; if this host is meant, "
        "the server's operator can allow it (--allow-private-image-urls). Nothing was sent"
    )


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


def create_heading(reused: bool, *, probable: bool = False, made: str = "Import started") -> str:
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


def wait_progress(state: str, elapsed: float, goal: str) -> str:
    return f"{state} after {elapsed:.0f}s (waiting for {goal})"


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
    text = str(exc).rstrip(".")
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


def delete_description(ladder: Sequence[str], wait: str, browser: bool = False) -> str:
    """delete_snapshot's description for the confirmation ladder the operator chose (`browser`: its rung can open)."""
    if tuple(ladder) == ("unconfirmed",):
        return (
            "Use this to delete a snapshot permanently (no confirmation: this server runs unattended). "
            f"wait=true polls until it is gone (~{wait} max)."
        )
    if tuple(ladder) == ("token",):
        return (
            "Use this to delete a snapshot permanently. Call once for a preview and a confirmation_token, show the "
            "preview to the user, and call again with the token only after they agree."
        )
    text = f"Use this to delete a snapshot permanently, only after the user confirms. wait=true polls (~{wait} max)."
    return text + _ladder_hints(ladder, browser)


def _ladder_hints(ladder: Sequence[str], browser: bool) -> str:
    """What a delete tool's answers mean under the card, browser and token channels."""
    where = " or ".join(place for place, on in (("a card", "card" in ladder), ("their browser", browser)) if on)
    text = f" awaiting_confirmation: the user decides in {where}; call again for the outcome" if where else ""
    if "card" in ladder and browser:
        text += " (no card shown: ask_in_browser=true)"
    text += "." if where else ""
    if "token" in ladder:
        text += " confirmation_required: show the preview; call again with the token once they agree."
    return text


def delete_many_description(ladder: Sequence[str], browser: bool = False) -> str:
    """delete_snapshots' description for the confirmation ladder the operator chose (`browser`: its rung can open)."""
    if tuple(ladder) == ("unconfirmed",):
        return "Use this to delete up to 25 snapshots permanently (no confirmation). Reports each id's outcome."
    text = (
        "Use this to delete up to 25 snapshots permanently, with one confirmation listing them all; only the ones "
        "the user confirms go. Reports each id's outcome."
    )
    return text + _ladder_hints(ladder, browser)


@dataclass(frozen=True)
class Words:
    """The texts of one server, built once from its settings."""

    list_snapshots: str
    get_snapshot: str
    create_snapshot_from_url: str
    delete_snapshot: str
    list_instances: str
    snapshot_instance: str
    copy_snapshot: str
    rename_snapshot: str
    delete_snapshots: str

    @classmethod
    def of(cls, settings: Settings, *, browser: bool = False) -> Words:
        """The texts for `settings`; `browser`: the browser channel can open here (its hints are given)."""
        wait = seconds(settings.wait_timeout)
        return cls(
            list_instances="Use this to find instances (id, name, region, status, type) by region or name.",
            snapshot_instance=(
                "Use this to snapshot an instance (active or stopped). Returns at once, status creating; wait=true "
                f"polls up to ~{wait}. An identical retry returns the same snapshot."
            ),
            copy_snapshot=(
                "Use this to copy a snapshot to another region. Returns at once, status creating. An identical "
                "retry returns the same copy."
            ),
            rename_snapshot="Use this to rename a snapshot.",
            delete_snapshots=delete_many_description(settings.ladder, browser),
            list_snapshots=(
                "Use this to list snapshots. No filter: one page. With region/status/name_contains: every page is read "
                "and only matches returned (page/per_page ignored)."
            ),
            get_snapshot="Use this to look up one snapshot's current state by id.",
            create_snapshot_from_url=(
                "Use this to import a raw (or zstd-compressed raw) disk image from an http(s) URL as a snapshot "
                f"(not an instance: see snapshot_instance). Returns at once, status creating; wait=true polls up to "
                f"~{wait}. An identical retry returns the same import."
            ),
            delete_snapshot=delete_description(settings.ladder, wait, browser),
        )
