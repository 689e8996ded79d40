"""scripts/icon.py and the committed icon.png: the repository root is a bundle directory as checked out."""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image

from scripts.build_bundle import stage
from scripts.catalog import ROOT
from scripts.icon import ICON, SIZE, draw_icon


def test_the_manifest_names_the_committed_icon() -> None:
    """manifest.json's icon is the file at the root that scripts/icon.py writes by default."""
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    assert ROOT / manifest["icon"] == ICON
    assert ICON.is_file()


def test_the_committed_icon_is_what_the_script_draws() -> None:
    """Same size, mode and pixels as `draw_icon()` (after changing the drawing: python -m scripts.icon)."""
    drawn = draw_icon()
    with Image.open(ICON) as committed:
        assert (committed.format, committed.size, committed.mode) == ("PNG", (SIZE, SIZE), "RGBA")
        assert committed.tobytes() == drawn.tobytes()


def test_the_bundle_packs_the_committed_icon(tmp_path: Path) -> None:
    """The bundle's staging copies icon.png byte for byte: nothing is redrawn at build time."""
    manifest = stage(tmp_path)
    assert (tmp_path / manifest["icon"]).read_bytes() == ICON.read_bytes()
