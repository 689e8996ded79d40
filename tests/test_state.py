"""`state`: what a running server is built from; here, which rungs the confirmation ladder holds."""

from __future__ import annotations

from typing import Any

import pytest

from snapshot_mcp.settings import Settings
from snapshot_mcp.state import browser_possible


@pytest.mark.parametrize(
    ("changes", "possible"),
    [
        ({}, True),
        ({"transport": "http"}, False),
        ({"read_only": True}, False),
        ({"confirm_channels": ("card", "form")}, False),
        ({"delete_confirmation": "token"}, False),
        ({"confirm_channels": ("browser",)}, True),
    ],
    ids=["defaults", "http", "read-only", "not-on-the-ladder", "token-policy", "browser-only"],
)
def test_the_browser_rung_exists_only_on_stdio_for_a_writing_server_that_lists_it(
    changes: dict[str, Any], possible: bool
) -> None:
    """Over HTTP never; nor read-only, nor when the operator's ladder leaves it out."""
    assert browser_possible(Settings(**changes)) is possible
