"""Lean, portable JSON Schemas for tools/list: the same constraints in fewer tokens.

Every client, and often the model, reads each tool definition in every turn. The
schemas pydantic generates carry words that add nothing, and a form some clients and
model providers reject (``"type": ["string", "null"]``, which the MCP Inspector warns
about). `lean` keeps every constraint (types, enums, bounds, patterns) and writes:

- no generated ``title`` keywords (the property name title-cased, ``list_snapshotsArguments``);
- no ``"default": null``;
- an optional value as its own type: ``anyOf: [X, {"type": "null"}]`` (or a type list
  with ``"null"``) becomes X, and the property leaves ``required``: "no value" is
  written by leaving it out. Results follow the same rule (`views.tool_result` drops
  null fields), and tool arguments still accept an explicit null;
- a ``$defs`` entry used once, written in place of its ``$ref``;
- with ``descriptions=False`` (output schemas: a model reads the text block, not
  these): no ``description``, no ``enum`` (the values are named in the tool's
  description and the text), and an object nested in the result (a snapshot inside a
  create result, the snapshots of a listing) written as ``{"type": "object"}``: still a
  true schema of the result, in a fraction of the tokens; `get_snapshot`'s schema
  states a snapshot's fields.
"""

from collections import Counter
from typing import Any

_NAME_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties"})
_NULL = {"type": "null"}
_DEFS = "#/$defs/"


def lean(schema: dict[str, Any], *, descriptions: bool = True) -> dict[str, Any]:
    """`schema` without the redundant keywords listed in the module docstring."""
    inlined = _inline_single_defs(schema)
    result: dict[str, Any] = _lean(inlined, descriptions)[0]
    if not descriptions:
        result = _shallow(result)
    return result


def _shallow(schema: dict[str, Any]) -> dict[str, Any]:
    """An output schema whose object-valued properties are just objects, and without enums."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return schema
    out = dict(schema)
    out["properties"] = {name: _flat(sub) for name, sub in properties.items()}
    return out


def _flat(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node.get("type") == "object" and "properties" in node:
        return {"type": "object"}
    flat = {key: value for key, value in node.items() if key != "enum"}
    if isinstance(flat.get("items"), dict):
        flat["items"] = _flat(flat["items"])
    return flat


def _lean(node: Any, descriptions: bool) -> tuple[Any, bool]:
    """The lean node, and whether it admitted null (so its property becomes optional)."""
    if isinstance(node, list):
        return [_lean(item, descriptions)[0] for item in node], False
    if not isinstance(node, dict):
        return node, False
    out: dict[str, Any] = {}
    optional: set[str] = set()
    for key, value in node.items():
        if _dropped(key, value, descriptions):
            continue
        if key == "properties" and isinstance(value, dict):
            leaned = {name: _lean(sub, descriptions) for name, sub in value.items()}
            out[key] = {name: sub for name, (sub, _) in leaned.items()}
            optional = {name for name, (_, nullable) in leaned.items() if nullable}
        elif key in _NAME_MAPS and isinstance(value, dict):
            out[key] = {name: _lean(sub, descriptions)[0] for name, sub in value.items()}
        else:
            out[key] = _lean(value, descriptions)[0]
    if optional and isinstance(out.get("required"), list):
        out["required"] = [name for name in out["required"] if name not in optional]
        if not out["required"]:
            del out["required"]
    return _without_null(out)


def _dropped(key: str, value: Any, descriptions: bool) -> bool:
    if key == "title" and isinstance(value, str):
        return True
    if key == "default" and value is None:
        return True
    return key == "description" and not descriptions and isinstance(value, str)


def _without_null(node: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """X for `anyOf: [X, null]` or `type: [X, "null"]` (with null left out of an enum), and True; else node, False."""
    kind = node.get("type")
    if isinstance(kind, list) and "null" in kind and len(kind) == 2:
        other = next(k for k in kind if k != "null")
        stripped = {**node, "type": other}
        if isinstance(node.get("enum"), list):
            stripped["enum"] = [v for v in node["enum"] if v is not None]
        return stripped, True
    options = node.get("anyOf")
    if not (isinstance(options, list) and len(options) == 2 and _NULL in options):
        return node, False
    other = options[0] if options[1] == _NULL else options[1]
    # The property's own words win over its type's (a region field's help over the Region type's).
    if not isinstance(other, dict) or set(other) & (set(node) - {"anyOf", "description"}):
        return node, False
    merged = {**other, **{k: v for k, v in node.items() if k != "anyOf"}}
    if isinstance(merged.get("enum"), list):
        merged["enum"] = [v for v in merged["enum"] if v is not None]
    return merged, True


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
