"""`schema.lean`: fewer tokens, the same constraints."""

from typing import Any

import pytest
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs installed

from snapshot_mcp.schema import lean

NULLABLE_ENUM: dict[str, Any] = {"anyOf": [{"enum": ["a", "b"], "type": "string"}, {"type": "null"}], "default": None}


def test_generated_titles_go_but_a_property_called_title_stays() -> None:
    """`title` keywords are dropped; a property named "title" is data and stays."""
    schema = {"title": "fArguments", "type": "object", "properties": {"title": {"title": "Title", "type": "string"}}}
    assert lean(schema) == {"type": "object", "properties": {"title": {"type": "string"}}}


def test_nullable_becomes_a_type_list_and_default_null_goes() -> None:
    """anyOf [X, null] is written as X with type [X, "null"]; a null default is dropped, others stay."""
    schema = {"anyOf": [{"maxLength": 40, "type": "string"}, {"type": "null"}], "default": None, "description": "d"}
    assert lean(schema) == {"maxLength": 40, "type": ["string", "null"], "description": "d"}
    assert lean({"type": "integer", "default": 1}) == {"type": "integer", "default": 1}


def test_a_nullable_enum_admits_null() -> None:
    """A nullable enum keeps null among its values."""
    assert lean(NULLABLE_ENUM) == {"enum": ["a", "b", None], "type": ["string", "null"]}


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


@pytest.mark.parametrize(
    ("value", "valid"), [("a", True), (None, True), ("c", False), (1, False)], ids=["a", "null", "c", "int"]
)
def test_lean_schema_accepts_exactly_what_the_original_accepts(value: object, valid: bool) -> None:
    """Validation is unchanged: the lean schema accepts and rejects the same values."""
    for schema in (NULLABLE_ENUM, lean(NULLABLE_ENUM)):
        assert Draft202012Validator(schema).is_valid(value) is valid
