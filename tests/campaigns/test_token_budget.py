"""Token budget: what a model pays to read the tools and a listing stays within its figures.

The counts are deterministic (o200k_base from the `bpe-openai` package, which ships its
BPE file: no download), so CI compares them with the committed
`tests/snapshots/token_figures.json`. After an intended change, run
`python -m bench.tokens --write` and commit the new figures with it (see BENCHMARKS.md).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench.tokens import FIGURES_PATH, RATIO_TARGET, TOOLS_TARGET, figures_data
from snapshot_mcp.tools import DECLARATIONS

# loads the tokenizer and counts every tool definition and a 100-snapshot listing
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("token-budget")]


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIGURES_PATH.read_text())
    return data


@pytest.fixture(scope="module")
def measured() -> dict[str, Any]:
    return figures_data()


def test_tools_list_tokens_within_committed_figure(measured: dict[str, Any], committed: dict[str, Any]) -> None:
    """Every model-visible tool definition together costs no more tokens than the committed figure."""
    assert measured["tools_list_tokens"] <= committed["tools_list_tokens"], (
        f"tools/list grew to {measured['tools_list_tokens']} tokens (committed: {committed['tools_list_tokens']}); "
        f"per tool now: {measured['per_tool']}"
    )


def test_tools_list_tokens_within_target(measured: dict[str, Any]) -> None:
    """Every model-visible tool definition together costs at most 2,000 tokens (app-only tools are not shown)."""
    assert measured["tools_list_tokens"] <= TOOLS_TARGET, (
        f"tools/list is {measured['tools_list_tokens']} tokens, over the {TOOLS_TARGET} budget; "
        f"per tool: {measured['per_tool']}"
    )


def test_the_figure_counts_every_declared_tool(measured: dict[str, Any]) -> None:
    """Each tool a model can be offered is in the count, and nothing else is."""
    assert list(measured["per_tool"]) == [declared.name for declared in DECLARATIONS]


def test_list_text_ratio_within_committed_figure(measured: dict[str, Any], committed: dict[str, Any]) -> None:
    """A 100-snapshot list_snapshots text costs no more per snapshot, against the seed-field JSON, than committed."""
    assert measured["list_ratio"] <= committed["list_ratio"]


def test_list_text_ratio_within_target(measured: dict[str, Any]) -> None:
    """The list text costs at most 1.15x the compact JSON of the six seed fields, per snapshot."""
    assert measured["list_ratio"] <= RATIO_TARGET


def test_figures_are_counted_over_the_whole_listing(measured: dict[str, Any]) -> None:
    """The ratio is over 100 listed snapshots, and both sides were actually counted."""
    assert measured["list_snapshots"] == 100
    assert measured["list_text_tokens"] > 100
    assert measured["list_seed_json_tokens"] > 100
