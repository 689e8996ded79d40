"""A CI-sized soak (stress/soak.py): 300 calls through one server at 20 % faults, and how the soak sorts
the errors it meets.
"""

from __future__ import annotations

import random

import pytest

from stress.soak import SoakReport, error_kind, soak
from tests.support import (
    MODES,
)

pytestmark = pytest.mark.slow  # campaigns: every tool x every fault, a soak, seeded random faults


# -- the soak, CI-sized ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.slow  # a thousand calls with faults
async def test_soak_ci_sized(mode: str) -> None:
    """300 calls through one server at 20 % faults: no crash, no JSON-RPC error, no duplicate import."""
    state = random.getstate()
    try:
        report: SoakReport = await soak(300, 0.2, seed=3, mode=mode)
    finally:
        random.setstate(state)
    assert report.calls == 300
    assert report.unhandled == 0, report.unhandled_samples
    assert report.protocol_errors == 0, report.unhandled_samples
    assert report.duplicate_creates == 0
    assert report.ok + report.error_results == 300
    assert report.clean
    assert set(report.by_tool) == {"list_snapshots", "get_snapshot", "create_snapshot_from_url", "delete_snapshot"}
    assert "other" not in report.errors, report.errors
    assert 0.12 < sum(report.faults_drawn.values()) / report.http_requests < 0.28
    assert report.ok > 200  # retries absorb most faults
    assert report.deletes_sent > 0
    assert report.rss_start_kib > 0
    assert report.rss_end_kib > 0


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (
            "Error executing tool get_snapshot: [503] 09001 Simulated fault. Retrying later may help.",
            "server_error_5xx",
        ),
        ("Error executing tool x: [502] the response was an HTML page, not the API's JSON", "html_page"),
        ("Error executing tool x: [429] 09001 Too Many Requests. Retry after 1s.", "rate_limited_429"),
        ("Error executing tool x: could not connect to the API (tried 4 times)", "connect_refused"),
        ("Error executing tool get_snapshot: Not found: no snapshot x", "not_found"),
        ("Error executing tool x: something new", "other"),
    ],
)
def test_soak_error_kinds(text: str, kind: str) -> None:
    """The soak sorts error results by what they say."""
    assert error_kind(text) == kind
