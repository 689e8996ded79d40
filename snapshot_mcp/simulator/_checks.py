"""Strict input checks shared by the endpoints: JSON bodies, fields, paging.

Each check answers the 400 message, or the parsed value when the input is good.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ._data import KNOWN_REGIONS

MAX_NAME = 255
_DIGITS_RE = re.compile(r"[0-9]{1,18}")


def json_object(raw: bytes, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any] | str:
    """The body as a JSON object with no unknown and no missing key, or the message why not."""
    try:
        data = json.loads(raw)
    except ValueError:
        return "Request body must be a JSON object"
    if not isinstance(data, dict):
        return "Request body must be a JSON object"
    if unknown := sorted(set(data) - {*required, *optional}):
        return f"Unknown field(s): {', '.join(unknown)}"
    if missing := [key for key in required if key not in data]:
        return f"Missing required field(s): {', '.join(missing)}"
    return data


def name_problem(value: object) -> str | None:
    """Why ``value`` is not a snapshot name (1..255 chars, not blank), or None."""
    if isinstance(value, str) and value.strip() and len(value) <= MAX_NAME:
        return None
    return f"Invalid field 'name': must be a non-empty string of at most {MAX_NAME} chars"


def region_problem(value: object, field: str = "region") -> str | None:
    """Why ``value`` is not a region new snapshots may go to, or None."""
    if value in KNOWN_REGIONS:
        return None
    return f"Invalid field '{field}': must be one of {', '.join(KNOWN_REGIONS)}"


def paging(query: dict[str, str]) -> tuple[int, int] | str:
    """``(page, per_page)`` of a list query (``per_page`` 1..100, default 50; ``page`` >= 1)."""
    values: dict[str, int] = {}
    for name, default, upper in (("per_page", 50, 100), ("page", 1, None)):
        raw = query.get(name)
        if raw is None:
            values[name] = default
            continue
        number = int(raw) if _DIGITS_RE.fullmatch(raw) else 0
        if number < 1 or (upper is not None and number > upper):
            bounds = f"between 1 and {upper}" if upper else ">= 1"
            return f"Invalid query parameter '{name}': must be an integer {bounds}"
        values[name] = number
    return values["page"], values["per_page"]
