"""`ToolDeclaration`: the wrapper keeps what the SDK reads, words domain errors once (a missing or
rejected token too), and picks the variant.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import pytest
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp.types import CallToolResult
from pydantic import Field, SecretStr

from snapshot_mcp import messages
from snapshot_mcp.apps.tools import APP_TOOLS
from snapshot_mcp.declaration import ADDS, READS, ToolDeclaration
from snapshot_mcp.errors import InvalidInput, NotFound, StoreUnavailable
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, Simulator
from snapshot_mcp.tools import DECLARATIONS, offered
from snapshot_mcp.tools.deleting import DELETE_SNAPSHOT
from snapshot_mcp.views import SnapshotView
from tests.support import (
    GOOD_BODY,
    SEED_ID,
    Asker,
    assert_error_result,
    connect,
    text_of,
)

DEFAULT = Settings()


async def _lookup(
    ctx: Context[Any, Any], instance_id: Annotated[str, Field(max_length=40)], wait: bool = False
) -> Annotated[CallToolResult, SnapshotView]:
    raise NotFound(404, None, "no such instance")


def _declared(handler: Any = _lookup, **changes: Any) -> ToolDeclaration:
    fields: dict[str, Any] = {
        "name": "look_up",
        "title": "Look up",
        "description": "Use this to look something up.",
        "handler": handler,
        "annotations": READS,
        "scope": "snapshots:read",
        "subject": "instance_id",
        "subject_kind": "instance",
    }
    return ToolDeclaration(**{**fields, **changes})


@pytest.mark.parametrize("declared", [*DECLARATIONS, *APP_TOOLS], ids=lambda d: d.name)
def test_the_sdk_reads_the_same_tool_through_the_wrapper(declared: ToolDeclaration) -> None:
    """Arguments, their schema, the Context parameter and the output schema are the handler's own."""
    for settings in (DEFAULT, Settings(confirm_channels=("token",))):
        handler = declared.with_token if declared.with_token and "token" in settings.ladder else declared.handler
        raw = Tool.from_function(handler, name=declared.name)
        wrapped = declared.function(settings)
        tool = Tool.from_function(wrapped, name=declared.name)
        assert inspect.signature(wrapped) == inspect.signature(raw.fn)
        assert tool.parameters == raw.parameters
        assert tool.output_schema == raw.output_schema
        assert tool.context_kwarg == raw.context_kwarg == "ctx"
        assert tool.is_async


def test_the_token_channel_gets_the_signature_with_the_token() -> None:
    """confirmation_token is an argument only where the token channel can use it."""
    with_token = Tool.from_function(DELETE_SNAPSHOT.function(Settings(confirm_channels=("form", "token"))))
    without = Tool.from_function(DELETE_SNAPSHOT.function(DEFAULT))
    assert "confirmation_token" in with_token.parameters["properties"]
    assert "confirmation_token" not in without.parameters["properties"]


async def test_a_domain_error_is_worded_once_about_the_declared_subject() -> None:
    """A NotFound names the argument the declaration points at, and its kind; the cause is kept."""
    with pytest.raises(ToolError) as raised:
        await _declared().function(DEFAULT)(ctx=None, instance_id="inst-7")
    assert str(raised.value) == messages.error_text(NotFound(404, None, "x"), "inst-7", "instance")
    assert str(raised.value).startswith("Not found: no instance inst-7")
    assert isinstance(raised.value.__cause__, NotFound)


async def test_the_store_down_sentence_is_the_declarations() -> None:
    """An unreachable store says what this tool refuses, not the store's own words."""

    async def store_down(ctx: Context[Any, Any]) -> str:
        raise StoreUnavailable("The shared state store (redis://x) cannot be reached")

    declared = _declared(store_down, annotations=ADDS, scope="snapshots:write", store_down=messages.STORE_DOWN_CREATE)
    with pytest.raises(ToolError, match=r"^Nothing was created: the shared state store cannot be reached"):
        await declared.function(DEFAULT)(ctx=None)
    plain = _declared(store_down)
    with pytest.raises(ToolError, match=r"^The shared state store \(redis://x\) cannot be reached"):
        await plain.function(DEFAULT)(ctx=None)


async def test_refusals_and_crashes_pass_through_untouched() -> None:
    """A ToolError the tool words itself stays as it is; an exception that is no domain error stays a crash."""

    async def refuses(ctx: Context[Any, Any]) -> str:
        raise ToolError("Not deleted: the user said no")

    async def crashes(ctx: Context[Any, Any]) -> str:
        raise KeyError("bug")

    with pytest.raises(ToolError, match=r"^Not deleted: the user said no$"):
        await _declared(refuses).function(DEFAULT)(ctx=None)
    with pytest.raises(KeyError):
        await _declared(crashes).function(DEFAULT)(ctx=None)


async def test_advice_follows_who_must_act() -> None:
    """A model's mistake says to fix the arguments (the words of messages.error_text)."""

    async def bad(ctx: Context[Any, Any]) -> str:
        raise InvalidInput("url refused: it names a local host")

    with pytest.raises(ToolError, match="Fix the arguments; retrying unchanged will not help"):
        await _declared(bad).function(DEFAULT)(ctx=None)


def test_a_scope_that_disagrees_with_the_hints_is_refused() -> None:
    """A tool that writes cannot need only the read scope, nor a reading tool a write scope; a reading tool that
    belongs to a deletion (the card's view of a deletion request) may need the delete scope."""
    with pytest.raises(ValueError, match="disagrees"):
        _declared(annotations=ADDS)
    with pytest.raises(ValueError, match="disagrees"):
        _declared(scope="snapshots:write")
    assert _declared(scope="snapshots:delete").scope == "snapshots:delete"


def test_read_only_and_named_tools_follow_the_declarations() -> None:
    """--read-only keeps exactly the tools that do not write; --tools keeps the named ones, in declared order."""
    reading = [d.name for d in offered(Settings(read_only=True))]
    assert reading == [d.name for d in DECLARATIONS if not d.writes] != []
    assert [d.name for d in offered(Settings(tools=("delete_snapshot", "get_snapshot")))] == [
        "get_snapshot",
        "delete_snapshot",
    ]
    assert offered(Settings(read_only=True, tools=("delete_snapshot",))) == []


def test_every_model_tool_has_a_title_and_a_description_for_every_ladder() -> None:
    """Titles and descriptions are built from the settings without failing, for each confirmation ladder."""
    ladders = (DEFAULT, Settings(delete_confirmation="none"), Settings(delete_confirmation="token"))
    for declared in DECLARATIONS:
        assert declared.title
        assert all(declared.describe(settings).startswith("Use this to") for settings in ladders)


# -- errors ---------------------------------------------------------------------------

CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("elicit", "list_snapshots", {}),
    ("elicit", "list_snapshots", {"region": "NORD-NO-KRS-1"}),
    ("elicit", "get_snapshot", {"snapshot_id": SEED_ID}),
    ("elicit", "create_snapshot_from_url", GOOD_BODY),
    ("elicit", "delete_snapshot", {"snapshot_id": SEED_ID}),
    ("token", "delete_snapshot", {"snapshot_id": SEED_ID}),
    ("none", "delete_snapshot", {"snapshot_id": SEED_ID}),
]


@pytest.mark.parametrize(("policy", "tool", "arguments"), CALLS)
async def test_missing_token_names_the_variable(
    sim: Simulator, mode: str, policy: str, tool: str, arguments: dict[str, Any]
) -> None:
    """Without a token every tool answers an error naming GENESISCLOUD_TOKEN; nothing is sent."""
    settings = Settings(token=None, delete_confirmation=policy)  # type: ignore[arg-type]
    asker = Asker()
    async with connect(settings, sim, mode=mode, elicit=asker) as client:
        result = await client.call_tool(tool, arguments)
    assert_error_result(result, "GENESISCLOUD_TOKEN", "retrying will not help")
    assert sim.requests == []
    assert asker.asked == []


@pytest.mark.parametrize(("policy", "tool", "arguments"), CALLS)
async def test_rejected_token(mode: str, policy: str, tool: str, arguments: dict[str, Any]) -> None:
    """A token the API rejects: an error saying so and that retrying will not help; sent once."""
    sim = Simulator(tokens=["other"])
    settings = Settings(token=SecretStr(DEFAULT_TOKEN), delete_confirmation=policy)  # type: ignore[arg-type]
    async with connect(settings, sim, mode=mode, elicit=Asker()) as client:
        result = await client.call_tool(tool, arguments)
    assert_error_result(result, "rejected the token", "GENESISCLOUD_TOKEN", "retrying will not help")
    assert len(sim.requests) == 1
    assert DEFAULT_TOKEN not in text_of(result)
