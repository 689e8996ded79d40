"""`tools`: the declared tools as tools/list shows them, and which of them a server offers.

Names, titles, annotations and schemas on the wire, in both protocol eras; `--read-only`
and `--tools`. Each tool's calls are in its own module's tests (tools/test_reading.py,
tools/test_writing.py, tools/test_instances.py, tools/test_deleting.py, tools/test_batch.py).

The tools/list snapshot: `tests/snapshots/tools_list.json` pins the wire form of every
tool. After a deliberate change, regenerate it and review the diff:

    UPDATE_SNAPSHOTS=1 python -m pytest tests/tools/test_init.py -k tools_list_snapshot
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from mcp import Client
from pydantic import SecretStr

from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, Simulator
from tests.support import (
    GOOD_BODY,
    MODEL_TOOLS,
    MODES,
    OTHER_SEED_ID,
    PINS,
    READING_TOOLS,
    SEED_ID,
    Asker,
    Person,
    assert_error_result,
    connect,
    fast,
)

# -- which tools are offered ------------------------------------------------------------------


async def test_read_only_offers_no_writing_tool(settings: Settings, sim: Simulator) -> None:
    """--read-only: only the reading tools, new ones included."""
    async with connect(fast(settings, read_only=True), sim) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
    assert names == READING_TOOLS


async def test_the_operator_can_offer_only_some_tools(settings: Settings, sim: Simulator) -> None:
    """--tools list_snapshots,get_snapshot,delete_snapshots: exactly those; others are unknown."""
    chosen = ("list_snapshots", "get_snapshot", "delete_snapshots")
    async with connect(fast(settings, tools=chosen), sim) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        refused = await client.call_tool("rename_snapshot", {"snapshot_id": OTHER_SEED_ID, "name": "x"})
    assert names == set(chosen)
    assert refused.is_error
    assert sim.requests == []


SNAPSHOT_FILE = PINS / "tools_list.json"


TOOL_NAMES = MODEL_TOOLS


def wire(tool: Any) -> dict[str, Any]:
    """A tool as it goes out on the wire (camelCase, no nulls)."""
    dumped: dict[str, Any] = tool.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


async def wire_tools(client: Client) -> dict[str, dict[str, Any]]:
    return {tool.name: wire(tool) for tool in (await client.list_tools()).tools}


# -- tools/list -------------------------------------------------------------------------


async def test_exactly_these_tools_with_titles_and_descriptions(idle: tuple[Client, Simulator]) -> None:
    """The model is offered these tools, each with a title and a short description."""
    tools = await wire_tools(idle[0])
    assert set(tools) == TOOL_NAMES
    for tool in tools.values():
        assert tool["title"]
        assert 20 < len(tool["description"]) < 400
        assert tool["description"].startswith("Use this to")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("list_snapshots", {"readOnlyHint": True}),
        ("get_snapshot", {"readOnlyHint": True}),
        ("list_instances", {"readOnlyHint": True}),
        ("create_snapshot_from_url", {"destructiveHint": False}),
        ("snapshot_instance", {"destructiveHint": False}),
        ("copy_snapshot", {"destructiveHint": False}),
        ("rename_snapshot", {"destructiveHint": True, "idempotentHint": True}),
        ("delete_snapshot", {"destructiveHint": True, "idempotentHint": True}),
        ("delete_snapshots", {"destructiveHint": True, "idempotentHint": True}),
    ],
)
async def test_annotations_on_the_wire(idle: tuple[Client, Simulator], name: str, expected: dict[str, bool]) -> None:
    """Each tool's hints go out in camelCase with the promised values."""
    annotations = (await wire_tools(idle[0]))[name]["annotations"]
    assert annotations.items() >= expected.items()
    assert not any("_" in key for key in annotations)
    assert annotations.get("readOnlyHint", False) is (name in READING_TOOLS)  # false is the spec's default
    assert ("destructiveHint" in annotations) is (name not in READING_TOOLS)  # every writer says which it is


@pytest.mark.parametrize("name", sorted(TOOL_NAMES))
async def test_every_tool_has_an_output_schema(idle: tuple[Client, Simulator], name: str) -> None:
    """outputSchema is an object schema for list, get, create and delete."""
    schema = (await wire_tools(idle[0]))[name]["outputSchema"]
    assert schema["type"] == "object"
    assert schema["properties"]


@pytest.mark.parametrize(
    ("tool", "argument", "expected", "required"),
    [
        ("list_snapshots", "per_page", {"type": "integer", "minimum": 1, "maximum": 100, "default": 50}, False),
        ("list_snapshots", "page", {"type": "integer", "minimum": 1, "default": 1}, False),
        ("get_snapshot", "snapshot_id", {"type": "string"}, True),
        ("create_snapshot_from_url", "size", {"type": "integer", "minimum": 1}, True),
        ("create_snapshot_from_url", "name", {"type": "string", "minLength": 1, "maxLength": 255}, True),
        ("create_snapshot_from_url", "url", {"type": "string"}, True),
        ("create_snapshot_from_url", "region", {"type": "string"}, True),
        ("create_snapshot_from_url", "os_type", {"type": "string", "enum": ["linux", "windows"]}, False),
        ("delete_snapshot", "snapshot_id", {"type": "string"}, True),
    ],
)
async def test_input_schema_constraints(
    idle: tuple[Client, Simulator], tool: str, argument: str, expected: dict[str, Any], required: bool
) -> None:
    """The inputSchema states each argument's type, bounds and whether it is required."""
    schema = (await wire_tools(idle[0]))[tool]["inputSchema"]
    prop = schema["properties"][argument]
    assert prop.items() >= expected.items()
    assert (argument in schema.get("required", [])) is required


async def test_os_type_is_an_enum(idle: tuple[Client, Simulator]) -> None:
    """os_type offers exactly linux and windows (leaving it out means none)."""
    prop = (await wire_tools(idle[0]))["create_snapshot_from_url"]["inputSchema"]["properties"]["os_type"]
    assert prop["enum"] == ["linux", "windows"]


async def test_status_filter_is_an_enum(idle: tuple[Client, Simulator]) -> None:
    """The list's status filter names the API's statuses."""
    prop = (await wire_tools(idle[0]))["list_snapshots"]["inputSchema"]["properties"]["status"]
    assert prop["enum"] == ["creating", "created", "active", "pending_delete", "deleting", "error"]


async def _listings() -> dict[str, Any]:
    """tools/list under the default policy, the delete tool under the other two, and both delete tools where the
    browser channel can open (the default ladder on a person's own computer)."""
    settings = Settings(token=SecretStr(DEFAULT_TOKEN))
    listing: dict[str, Any] = {}
    for policy in ("elicit", "token", "none"):
        async with connect(settings.model_copy(update={"delete_confirmation": policy}), Simulator()) as client:
            tools = await wire_tools(client)
        if policy == "elicit":
            listing["tools"] = [tools[name] for name in sorted(tools)]
        else:
            listing[f"delete_snapshot[{policy}]"] = tools["delete_snapshot"]
    async with connect(settings, Simulator(), person=Person()) as client:
        tools = await wire_tools(client)
    for name in ("delete_snapshot", "delete_snapshots"):
        listing[f"{name}[browser]"] = tools[name]
    return listing


async def test_tools_list_snapshot(mode: str) -> None:
    """tools/list matches the pinned snapshot (UPDATE_SNAPSHOTS=1 regenerates it)."""
    listing = await _listings()
    if os.environ.get("UPDATE_SNAPSHOTS") == "1" and mode == "auto":
        SNAPSHOT_FILE.parent.mkdir(exist_ok=True)
        SNAPSHOT_FILE.write_text(json.dumps(listing, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    pinned = json.loads(SNAPSHOT_FILE.read_text())
    assert listing == pinned, "tools/list changed: if deliberate, rerun with UPDATE_SNAPSHOTS=1 and review the diff"


async def test_tools_list_is_the_same_in_both_eras(settings: Settings) -> None:
    """Both protocol eras see exactly the same tool definitions."""
    seen = []
    for mode in MODES:
        async with connect(settings, Simulator(), mode=mode) as client:
            seen.append(await wire_tools(client))
    assert seen[0] == seen[1]


# -- read-only ------------------------------------------------------------------------


async def test_read_only_registers_only_list_and_get(settings: Settings, sim: Simulator, mode: str) -> None:
    """--read-only: list and get are the only tools."""
    async with connect(fast(settings, read_only=True), sim, mode=mode) as client:
        tools = await wire_tools(client)
    assert set(tools) == READING_TOOLS


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("create_snapshot_from_url", GOOD_BODY),
        ("delete_snapshot", {"snapshot_id": SEED_ID}),
        ("delete_snapshot", {"snapshot_id": SEED_ID, "confirm": True}),
    ],
)
async def test_read_only_refuses_writes(
    settings: Settings, sim: Simulator, mode: str, tool: str, arguments: dict[str, Any]
) -> None:
    """--read-only: calling create or delete is an error and nothing reaches the API."""
    asker = Asker()
    async with connect(fast(settings, read_only=True), sim, mode=mode, elicit=asker) as client:
        result = await client.call_tool(tool, arguments)
    assert_error_result(result, tool)
    assert sim.requests == []
    assert asker.asked == []
