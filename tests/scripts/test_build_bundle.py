"""scripts/build_bundle.py: the bundle build refuses a manifest that drifted from how the server starts."""

from __future__ import annotations

import json
import re

import pytest

from scripts.build_bundle import check_manifest
from scripts.catalog import ROOT

pytestmark = pytest.mark.slow  # builds servers from prompt folders, renders the README and the manifest


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        (("manifest_version",), "0.3", "manifest_version"),
        (("server", "type"), "python", "manifest_version"),
        (("server", "mcp_config", "command"), "uvx", "mcp_config must run"),
        (("server", "mcp_config", "args"), ["run", "--directory", "${__dirname}", "snapshot-mcp"], "must run"),
        (("version",), "9.9.9", "version 9.9.9"),
    ],
)
def test_bundle_build_refuses_a_drifted_manifest(path: tuple[str, ...], value: object, complaint: str) -> None:
    """The build stops when the manifest no longer starts the server the way its comment explains."""
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    check_manifest(manifest)  # the committed one passes
    target = manifest
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(SystemExit, match=re.escape(complaint)):
        check_manifest(manifest)
