"""`build_server(settings)`: the MCP server and its four tools.

Tools are thin: typed arguments in, `Operations` underneath, every package error
turned into a `ToolError` whose text says what happened, whether retrying helps and
what to do next. Nothing is created at import time: each call of `build_server`
makes an independent server, and its lifespan opens one shared HTTP connection pool.
"""

import hashlib
import hmac
import logging
import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar, cast

import anyio
import httpx
from mcp.server.mcpserver import (
    CancelledElicitation,
    Context,
    DeclinedElicitation,
    Elicit,
    ElicitationResult,
    MCPServer,
    RequestStateSecurity,
    Resolve,
)
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, Tool, ToolAnnotations
from mcp_types.version import is_version_at_least
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from . import __version__
from .client import GenesisCloudClient, RetryPolicy, build_http_client
from .confirm import (
    ConfirmationTokens,
    DeleteConfirmation,
    TokenError,
    audit,
    confirmation_message,
    install_audit_handler,
)
from .errors import AuthError, NotFound, RateLimited, SnapshotMCPError
from .middleware import CompactArgumentErrors
from .models import CreateSnapshotRequest, ImageUrl, OsType, Region, Snapshot, SnapshotId, SnapshotName
from .operations import Filters, Operations, Progress
from .redact import RedactSecrets
from .resources import register_catalog
from .schema import lean
from .settings import Settings
from .views import (
    CreateResult,
    DeleteResult,
    SnapshotList,
    SnapshotView,
    create_text,
    detail_text,
    list_text,
)

logger = logging.getLogger("snapshot_mcp.server")

INSTRUCTIONS = (
    "Manages Genesis Cloud compute snapshots (disk images). Snapshot ids are UUIDs: find them with "
    "list_snapshots. Deleting asks the user first; never delete without the user's request."
)
MAX_SCAN_PAGES = 200
_INPUT_REQUIRED_VERSION = "2026-07-28"

StatusFilter = Literal["creating", "created", "active", "pending_delete", "deleting", "error"]


@dataclass
class AppState:
    """What one running server shares between calls."""

    settings: Settings
    ops: Operations
    tokens: ConfirmationTokens


def _state(ctx: Context[Any, Any]) -> AppState:
    return cast(AppState, ctx.request_context.lifespan_context)


def tool_error(exc: SnapshotMCPError, subject: str = "") -> ToolError:
    """Words for a model: what happened, whether retrying helps, what to do next."""
    if isinstance(exc, NotFound):
        text = f"Not found: no snapshot {subject} (it may have been deleted). Use list_snapshots to find ids."
    else:
        text = str(exc).rstrip(".")
        if isinstance(exc, AuthError):
            text = f"The Genesis Cloud API rejected the token (GENESISCLOUD_TOKEN) or it lacks the permission: {text}"
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            # Rounded up: "Retry after 0s" would invite an immediate retry into the same limit.
            text += f". Retry after {math.ceil(exc.retry_after)}s."
        elif exc.who == "operator":
            text += ". Retrying will not help: the server's operator must fix the configuration."
        elif exc.who == "model":
            text += ". Fix the arguments; retrying unchanged will not help."
        elif exc.retryable:
            text += ". Retrying later may help."
    return ToolError(text)


def _result(text: str, model: BaseModel) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=text)],
        structured_content=model.model_dump(mode="json"),
    )


def _progress(ctx: Context[Any, Any]) -> Progress:
    async def report(progress: float, total: float, message: str) -> None:
        await ctx.report_progress(progress, total=total, message=message)

    return report


class _Verdict(BaseModel):
    """The resolver's own answer when no question goes to the client."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    outcome: Literal["declined", "cancelled", "timed_out", "malformed_answer", "refused", "accepted"]
    detail: str = ""


class _Server(MCPServer[AppState]):
    """An `MCPServer` whose tools/list sends lean schemas (`schema.lean`): same constraints, fewer tokens."""

    async def list_tools(self) -> list[Tool]:
        return [
            tool.model_copy(
                update={
                    "input_schema": lean(tool.input_schema),
                    "output_schema": None
                    if tool.output_schema is None
                    else lean(tool.output_schema, descriptions=False),
                }
            )
            for tool in await super().list_tools()
        ]


def build_server(
    settings: Settings,
    *,
    http: httpx.AsyncClient | None = None,
    retry: RetryPolicy | None = None,
    poll_interval: float = 1.0,
) -> MCPServer[AppState]:
    """A ready MCP server for `settings`.

    `http` replaces the real HTTP client, `retry` the API client's retry policy and
    `poll_interval` the first pause between polls of a wait (tests shrink these).
    """
    install_audit_handler()
    policy = settings.delete_confirmation
    running: list[AppState] = []  # the live lifespan states; completions use the newest

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        own_http = http is None
        token = settings.token
        client_http = http
        if client_http is None:
            transport: httpx.AsyncBaseTransport | None = None
            if settings.simulate:
                from pydantic import SecretStr

                from .simulator import DEFAULT_TOKEN, Faults, Simulator

                faults = Faults(latency=settings.simulate_latency)
                transport = Simulator(create_seconds=2.0, faults=faults).transport()
                token = SecretStr(DEFAULT_TOKEN)
            client_http = build_http_client(transport)
        client = GenesisCloudClient(
            client_http, token=token, endpoint=settings.endpoint, retry=retry, rate_limit=settings.rate_limit
        )
        key = None
        if settings.state_key is not None:  # a key of its own, derived from the shared secret
            secret = settings.state_key.get_secret_value().encode()
            key = hmac.new(secret, b"snapshot-mcp confirmation tokens", hashlib.sha256).digest()
        state = AppState(
            settings=settings,
            ops=Operations(client, wait_timeout=settings.wait_timeout, poll_interval=poll_interval),
            tokens=ConfirmationTokens(key),
        )
        running.append(state)
        try:
            yield state
        finally:
            running.remove(state)
            if own_http:
                await client_http.aclose()

    # A 2026-07-28 confirmation rides the client's retry in a sealed request state. It
    # lives as long as a 2025 client may take to answer (elicitation_timeout), so an
    # answer that comes later is refused in either era and deletes nothing.
    ttl = settings.elicitation_timeout
    if settings.state_key is not None:
        # Instances behind one balancer share this key, so a confirmation round trip
        # may land on any of them; a state sealed with another key is refused.
        security = RequestStateSecurity(keys=[settings.state_key.get_secret_value()], ttl=ttl)
    else:
        security = RequestStateSecurity.ephemeral(ttl=ttl)
    server: MCPServer[AppState] = _Server(
        "snapshot-mcp",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        request_state_security=security,
        middleware=[RedactSecrets(settings.secret_values), CompactArgumentErrors()],
    )

    register_catalog(server, _state, current=lambda: running[-1] if running else None)

    # openWorldHint (true) and idempotentHint false are the spec's defaults: not repeated in every turn.
    read_only = ToolAnnotations(read_only_hint=True, idempotent_hint=True)

    @server.tool(
        title="List snapshots",
        description=(
            "Use this to list snapshots (id, name, GiB, region, status, created). Without filters: one "
            "page as the API returns it. With region/status/name_contains: the server reads every page "
            "and returns only matches (page/per_page then ignored)."
        ),
        annotations=read_only,
    )
    async def list_snapshots(
        ctx: Context[AppState, Any],
        page: Annotated[StrictInt, Field(ge=1, le=100_000, description="1-based page")] = 1,
        per_page: Annotated[StrictInt, Field(ge=1, le=100)] = 50,
        region: Annotated[str | None, Field(max_length=40, description="exact region, e.g. NORD-NO-KRS-1")] = None,
        status: StatusFilter | None = None,
        name_contains: Annotated[
            str | None, Field(min_length=1, max_length=255, description="case-insensitive")
        ] = None,
    ) -> Annotated[CallToolResult, SnapshotList]:
        filters = Filters(region=region, status=status, name_contains=name_contains)
        try:
            result = await _state(ctx).ops.list(
                page, per_page, filters, max_pages=MAX_SCAN_PAGES, progress=_progress(ctx)
            )
        except SnapshotMCPError as exc:
            raise tool_error(exc) from exc
        return _result(list_text(result, filters.describe()), result)

    @server.tool(
        title="Get snapshot",
        description="Use this to look up one snapshot by id (current status, size, region, dates).",
        annotations=read_only,
    )
    async def get_snapshot(
        ctx: Context[AppState, Any], snapshot_id: SnapshotId
    ) -> Annotated[CallToolResult, SnapshotView]:
        try:
            view = SnapshotView.of(await _state(ctx).ops.get(snapshot_id))
        except SnapshotMCPError as exc:
            raise tool_error(exc, snapshot_id) from exc
        return _result(detail_text(view), view)

    if settings.read_only:
        return server

    @server.tool(
        title="Import snapshot from URL",
        description=(
            "Use this to import a disk image (raw, or raw compressed with zstd) from an http(s) URL as a new "
            "snapshot. Not for snapshotting a running instance. Returns at once with status creating; "
            "wait=true polls up to ~45s. Repeating an identical call returns the same import."
        ),
        annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False),
    )
    async def create_snapshot_from_url(
        ctx: Context[AppState, Any],
        name: SnapshotName,
        size: Annotated[StrictInt, Field(ge=1, le=1_000_000, description="GiB of the uncompressed image")],
        url: ImageUrl,
        region: Region,
        os_type: OsType | None = None,
        wait: Annotated[bool, Field(description="poll until created/error, up to ~45s")] = False,
    ) -> Annotated[CallToolResult, CreateResult]:
        request = CreateSnapshotRequest(name=name, size=size, url=url, region=region, os_type=os_type)
        try:
            result = await _state(ctx).ops.create(request, wait=wait, progress=_progress(ctx))
        except SnapshotMCPError as exc:
            raise tool_error(exc) from exc
        return _result(create_text(result), result)

    delete_annotations = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True)
    delete_description = {
        "elicit": "Use this to delete a snapshot permanently. The user is asked to confirm first; "
        "only their yes deletes. wait=true polls until it is gone (~45s max).",
        "token": "Use this to delete a snapshot permanently. Call once for a preview and a confirmation_token, "
        "show the preview to the user, and call again with the token only after they agree.",
        "none": "Use this to delete a snapshot permanently (no confirmation: this server runs unattended). "
        "wait=true polls until it is gone (~45s max).",
    }[policy]

    async def fetch_snapshot(snapshot_id: str, ctx: Context[AppState, Any]) -> Snapshot:
        try:
            return await _state(ctx).ops.get(snapshot_id)
        except SnapshotMCPError as exc:
            audit("error", snapshot_id, policy=policy, detail=type(exc).__name__)
            raise tool_error(exc, snapshot_id) from exc

    async def perform(ctx: Context[AppState, Any], snapshot: Snapshot, wait: bool) -> CallToolResult:
        try:
            result = await _state(ctx).ops.delete(snapshot, wait=wait, progress=_progress(ctx))
        except SnapshotMCPError as exc:
            audit("failed", snapshot.id, policy=policy, detail=type(exc).__name__)
            raise tool_error(exc, snapshot.id) from exc
        audit(result.outcome, snapshot.id, policy=policy)
        return _result(f"{result.outcome}: {result.message}", result)

    def refusal(snapshot: Snapshot, outcome: str, message: str) -> CallToolResult:
        audit(outcome, snapshot.id, policy=policy)
        result = DeleteResult(snapshot_id=snapshot.id, outcome=cast(Any, outcome), deleted=False, message=message)
        return _result(f"Not deleted ({outcome}): {message}", result)

    delete_tool = server.tool(
        name="delete_snapshot", title="Delete snapshot", description=delete_description, annotations=delete_annotations
    )
    wait_field = Annotated[bool, Field(description="poll until it is gone, up to ~45s")]

    if policy == "elicit":

        async def ask_user(
            ctx: Context[AppState, Any], snapshot: Annotated[Snapshot, Resolve(fetch_snapshot)]
        ) -> _Verdict | Elicit[DeleteConfirmation]:
            caps = ctx.client_capabilities
            if caps is None and settings.stateless:
                return _Verdict(outcome="refused", detail="stateless_legacy")
            elicitation = caps.elicitation if caps is not None else None
            if elicitation is None or (elicitation.form is None and elicitation.url is not None):
                return _Verdict(outcome="refused", detail="no_elicitation")
            message = confirmation_message(snapshot)
            version = ctx.protocol_version
            if version is not None and is_version_at_least(version, _INPUT_REQUIRED_VERSION):
                return Elicit(message, DeleteConfirmation)
            # The 2025 protocol asks mid-call: bound the wait, fail closed.
            with anyio.move_on_after(settings.elicitation_timeout) as scope:
                try:
                    answer = await ctx.elicit(message, DeleteConfirmation)
                except ValueError:
                    return _Verdict(outcome="malformed_answer")
                except Exception as exc:  # the client failed to answer: nothing is deleted
                    logger.info("elicitation failed: %s", type(exc).__name__)
                    return _Verdict(outcome="refused", detail="elicitation_failed")
            if scope.cancelled_caught:
                return _Verdict(outcome="timed_out")
            return _verdict_of(answer, snapshot.id)

        @delete_tool
        @_named("delete_snapshot")
        async def delete_with_elicitation(
            ctx: Context[AppState, Any],
            snapshot_id: SnapshotId,
            snapshot: Annotated[Snapshot, Resolve(fetch_snapshot)],
            answer: Annotated[ElicitationResult[Any], Resolve(ask_user)],
            wait: wait_field = False,
        ) -> Annotated[CallToolResult, DeleteResult]:
            verdict = _verdict_of(answer, snapshot.id)
            if verdict.outcome == "accepted":
                return await perform(ctx, snapshot, wait)
            if verdict.outcome == "refused":
                audit("refused", snapshot.id, policy=policy, detail=verdict.detail)
                raise ToolError(_REFUSALS[verdict.detail])
            messages = {
                "declined": "the user declined. Nothing was deleted; do not retry unless the user asks again.",
                "cancelled": "the user dismissed the prompt. Nothing was deleted.",
                "timed_out": "no answer came in time. Nothing was deleted.",
                "malformed_answer": "the confirmation answer was not understood. Nothing was deleted.",
            }
            return refusal(snapshot, verdict.outcome, messages[verdict.outcome])

    elif policy == "token":

        @delete_tool
        @_named("delete_snapshot")
        async def delete_with_token(
            ctx: Context[AppState, Any],
            snapshot_id: SnapshotId,
            confirmation_token: Annotated[
                str | None, Field(max_length=512, description="from the preview call, after the user agreed")
            ] = None,
            wait: wait_field = False,
        ) -> Annotated[CallToolResult, DeleteResult]:
            snapshot = await fetch_snapshot(snapshot_id, ctx)
            state = _state(ctx)
            session = (ctx.headers or {}).get("mcp-session-id", "local")
            if confirmation_token is None:
                token = state.tokens.issue(snapshot, session)
                audit("token_issued", snapshot.id, policy=policy)
                preview = confirmation_message(snapshot).replace("\n", " ")
                result = DeleteResult(
                    snapshot_id=snapshot.id,
                    outcome="confirmation_required",
                    deleted=False,
                    message=f"{preview} Show this to the user; if they agree, call again with "
                    "confirmation_token (valid 5 minutes, once).",
                    confirmation_token=token,
                )
                return _result(f"Not deleted yet. {result.message}\nconfirmation_token={token}", result)
            try:
                state.tokens.redeem(confirmation_token, snapshot, session)
            except TokenError as exc:
                audit("refused", snapshot.id, policy=policy, detail=str(exc))
                raise ToolError(f"Not deleted: {exc}. Call without a token for a fresh preview.") from exc
            return await perform(ctx, snapshot, wait)

    else:

        @delete_tool
        @_named("delete_snapshot")
        async def delete_directly(
            ctx: Context[AppState, Any], snapshot_id: SnapshotId, wait: wait_field = False
        ) -> Annotated[CallToolResult, DeleteResult]:
            return await perform(ctx, await fetch_snapshot(snapshot_id, ctx), wait)

    return server


_REFUSALS = {
    "no_elicitation": "Not deleted: this client cannot show a confirmation prompt (MCP elicitation), and this "
    "server deletes only after the user confirms. Ask the user to delete it in a client that supports "
    "elicitation (e.g. Claude Code) or in the Genesis Cloud console; the server's operator may instead start "
    "it with --delete-confirmation token.",
    "elicitation_failed": "Not deleted: the client failed to show or answer the confirmation prompt. Nothing "
    "was deleted; ask the user whether to try again.",
    "stateless_legacy": "Not deleted: this server runs --stateless and the client speaks the 2025 protocol, "
    "which cannot carry a confirmation prompt there. Connect with protocol 2026-07-28, or use a stateful "
    "server.",
}

_F = TypeVar("_F", bound=Callable[..., Any])


def _named(name: str) -> Callable[[_F], _F]:
    """Give a policy variant the tool's own name (its argument schema is titled after it)."""

    def rename(fn: _F) -> _F:
        fn.__name__ = fn.__qualname__ = name
        return fn

    return rename


def _verdict_of(answer: ElicitationResult[Any], snapshot_id: str) -> _Verdict:
    """One verdict from either protocol era's outcome, for the snapshot asked about."""
    if isinstance(answer, DeclinedElicitation):
        return _Verdict(outcome="declined")
    if isinstance(answer, CancelledElicitation):
        return _Verdict(outcome="cancelled")
    data = answer.data
    if isinstance(data, _Verdict):
        return data
    if isinstance(data, DeleteConfirmation):
        if data.malformed or not data.answers_for(snapshot_id):
            return _Verdict(outcome="malformed_answer")
        return _Verdict(outcome="accepted" if data.confirm else "declined")
    return _Verdict(outcome="malformed_answer")
