"""`schema.lean`: fewer tokens, the same constraints."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs installed

from snapshot_mcp.schema import lean

NULLABLE_ENUM: dict[str, Any] = {"anyOf": [{"enum": ["a", "b"], "type": "string"}, {"type": "null"}], "default": None}


def test_generated_titles_go_but_a_property_called_title_stays() -> None:
    """`title` keywords are dropped; a property named "title" is data and stays."""
    schema = {"title": "fArguments", "type": "object", "properties": {"title": {"title": "Title", "type": "string"}}}
    assert lean(schema) == {"type": "object", "properties": {"title": {"type": "string"}}}


def test_nullable_becomes_its_own_type_and_default_null_goes() -> None:
    """anyOf [X, null] is written as X (no type list, which some providers reject); other defaults stay."""
    schema = {"anyOf": [{"maxLength": 40, "type": "string"}, {"type": "null"}], "default": None, "description": "d"}
    assert lean(schema) == {"maxLength": 40, "type": "string", "description": "d"}
    assert lean({"type": ["integer", "null"], "minimum": 1}) == {"type": "integer", "minimum": 1}
    assert lean({"type": "integer", "default": 1}) == {"type": "integer", "default": 1}


def test_a_nullable_enum_loses_null() -> None:
    """A nullable enum lists only its real values."""
    assert lean(NULLABLE_ENUM) == {"enum": ["a", "b"], "type": "string"}


def test_a_nullable_property_leaves_required() -> None:
    """An output field that may be null becomes optional: results leave such fields out instead of null."""
    schema = {
        "type": "object",
        "properties": {"page": {"anyOf": [{"type": "integer"}, {"type": "null"}]}, "n": {"type": "integer"}},
        "required": ["page", "n"],
    }
    assert lean(schema, descriptions=False) == {
        "type": "object",
        "properties": {"page": {"type": "integer"}, "n": {"type": "integer"}},
        "required": ["n"],
    }


def test_no_type_list_and_no_null_anywhere_in_the_tools() -> None:
    """The whole tools/list is free of `type: [..., "null"]` and of null enum members (the Inspector warns on them)."""
    import anyio
    from mcp import Client

    from snapshot_mcp.server import build_server
    from snapshot_mcp.settings import Settings

    async def listed() -> str:
        async with Client(build_server(Settings(simulate=True, confirm_channels=("card", "form", "token")))) as c:
            return json.dumps([t.model_dump(by_alias=True, exclude_none=True) for t in (await c.list_tools()).tools])

    text = anyio.run(listed)
    assert '"null"' not in text
    assert "null" not in text.replace('"nullable"', "")


def test_single_use_defs_are_inlined_recursive_ones_kept() -> None:
    """A $defs entry used once is written in place; a recursive one stays a reference."""
    schema = {
        "type": "object",
        "properties": {"one": {"$ref": "#/$defs/One"}, "tree": {"$ref": "#/$defs/Tree"}},
        "$defs": {
            "One": {"type": "object", "properties": {"x": {"type": "integer"}}},
            "Tree": {"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#/$defs/Tree"}}}},
        },
    }
    out = lean(schema)
    assert out["properties"]["one"] == {"type": "object", "properties": {"x": {"type": "integer"}}}
    assert out["properties"]["tree"] == {"$ref": "#/$defs/Tree"}
    assert list(out["$defs"]) == ["Tree"]


def test_descriptions_false_drops_every_description() -> None:
    """Output schemas lose their descriptions (a model reads the text block), nothing else."""
    schema = {
        "description": "One.",
        "type": "object",
        "properties": {"size": {"description": "GiB", "type": "integer"}},
    }
    assert lean(schema, descriptions=False) == {"type": "object", "properties": {"size": {"type": "integer"}}}


@pytest.mark.parametrize(("value", "valid"), [("a", True), ("c", False), (1, False)], ids=["a", "c", "int"])
def test_lean_schema_accepts_exactly_what_the_original_accepts(value: object, valid: bool) -> None:
    """Validation is unchanged for every value; "no value" is written by leaving the field out."""
    for schema in (NULLABLE_ENUM, lean(NULLABLE_ENUM)):
        assert Draft202012Validator(schema).is_valid(value) is valid
    wrapped = {"type": "object", "properties": {"x": NULLABLE_ENUM}, "required": ["x"]}
    assert Draft202012Validator(lean(wrapped)).is_valid({})
