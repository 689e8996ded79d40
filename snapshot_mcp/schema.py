"""Lean JSON Schemas for tools/list: the same constraints in fewer tokens.

Every client, and often the model, reads each tool definition in every turn. The
schemas pydantic generates carry words that add nothing; `lean` removes them and keeps
every constraint (types, enums, bounds, patterns, required):

- generated ``title`` keywords (the property name title-cased, ``list_snapshotsArguments``);
- ``"default": null`` (that a field is optional is already said by ``required``);
- ``anyOf: [X, {"type": "null"}]``, written as X with ``"type": [X's type, "null"]``;
- a ``$defs`` entry used once, written in place of its ``$ref``;
- with ``descriptions=False`` (output schemas: a model reads the text block, not
  these), every ``description``.

Arguments are still validated against the full pydantic models.
"""

from collections import Counter
from typing import Any

_NAME_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties"})
_NULL = {"type": "null"}
_DEFS = "#/$defs/"


def lean(schema: dict[str, Any], *, descriptions: bool = True) -> dict[str, Any]:
    """`schema` without the redundant keywords listed in the module docstring."""
    result: dict[str, Any] = _inline_single_defs(_lean(schema, descriptions))
    return result


def _lean(node: Any, descriptions: bool) -> Any:
    if isinstance(node, list):
        return [_lean(item, descriptions) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "default" and value is None:
            continue
        if key == "description" and not descriptions and isinstance(value, str):
            continue
        if key in _NAME_MAPS and isinstance(value, dict):
            out[key] = {name: _lean(sub, descriptions) for name, sub in value.items()}
        else:
            out[key] = _lean(value, descriptions)
    return _nullable(out)


def _nullable(node: dict[str, Any]) -> dict[str, Any]:
    options = node.get("anyOf")
    if not (isinstance(options, list) and len(options) == 2 and _NULL in options):
        return node
    other = options[0] if options[1] == _NULL else options[1]
    kind = other.get("type") if isinstance(other, dict) else None
    if not isinstance(kind, str) or kind == "null" or set(other) & (set(node) - {"anyOf"}):
        return node
    merged = {**other, "type": [kind, "null"]}
    if "enum" in other:
        merged["enum"] = [*other["enum"], None]
    merged.update((k, v) for k, v in node.items() if k != "anyOf")
    return merged


def _inline_single_defs(schema: dict[str, Any]) -> dict[str, Any]:
    defs = schema.get("$defs")
    if not isinstance(defs, dict):
        return schema
    uses = Counter(_refs(schema))
    once = {f"{_DEFS}{name}": body for name, body in defs.items() if uses[f"{_DEFS}{name}"] == 1}
    once = {ref: body for ref, body in once.items() if ref not in _refs(body)}  # never a recursive one
    if not once:
        return schema

    def substitute(node: Any) -> Any:
        if isinstance(node, list):
            return [substitute(item) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if len(node) == 1 and isinstance(ref, str) and ref in once:
            return substitute(once[ref])
        return {key: substitute(value) for key, value in node.items()}

    rest = substitute({key: value for key, value in schema.items() if key != "$defs"})
    kept = {name: substitute(body) for name, body in defs.items() if f"{_DEFS}{name}" not in once}
    if kept:
        rest["$defs"] = kept
    result: dict[str, Any] = rest
    return result


def _refs(node: Any) -> list[str]:
    if isinstance(node, list):
        return [ref for item in node for ref in _refs(item)]
    if not isinstance(node, dict):
        return []
    found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
    return found + [ref for value in node.values() for ref in _refs(value)]
