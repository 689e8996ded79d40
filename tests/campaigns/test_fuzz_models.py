"""Fuzzing the models' checks (hypothesis): whatever they accept is clean, of the region's shape, a canonical UUID.

The same checks' examples, accepted and refused, are in test_models.py.
"""

from __future__ import annotations

import re
import unicodedata
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from snapshot_mcp.models import (
    CreateSnapshotRequest,
    check_snapshot_id,
)
from tests.support import GOOD_BODY

pytestmark = pytest.mark.slow  # hypothesis: hundreds of examples each

CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_accepted_names_are_clean(name: str) -> None:
    """Any accepted name is trimmed, non-empty and free of control characters."""
    try:
        request = CreateSnapshotRequest.model_validate({**GOOD_BODY, "name": name})
    except ValidationError:
        return
    assert request.name == request.name.strip() != ""
    assert not any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in request.name)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_accepted_regions_have_the_region_shape(region: str) -> None:
    """Any accepted region is upper-case ASCII letters and digits joined by dashes."""
    try:
        request = CreateSnapshotRequest.model_validate({**GOOD_BODY, "region": region})
    except ValidationError:
        return
    assert re.fullmatch(r"[A-Z0-9]+(-[A-Z0-9]+)+", request.region)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=60), st.uuids().map(str).map(lambda u: u + "\x00"), st.uuids().map(str)))
def test_check_snapshot_id_only_ever_returns_a_canonical_uuid(value: str) -> None:
    """Whatever goes in, what comes out is a canonical UUID or a ValueError."""
    try:
        result = check_snapshot_id(value)
    except ValueError:
        return
    assert CANONICAL_UUID.fullmatch(result)


@settings(max_examples=500, deadline=None)
@given(st.uuids(), st.lists(st.booleans(), min_size=36, max_size=36))
def test_check_snapshot_id_is_what_the_uuid_module_writes(value: uuid.UUID, upper: list[bool]) -> None:
    """Any UUID, in any mix of cases, comes back exactly as `str(uuid.UUID(...))` writes it."""
    written = "".join(ch.upper() if up else ch for ch, up in zip(str(value), upper, strict=True))
    assert check_snapshot_id(written) == str(uuid.UUID(written)) == str(value)
