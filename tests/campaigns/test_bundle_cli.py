"""The bundle as a host gets it, checked by the MCP Bundle CLI (through npx).

The tests build the `.mcpb` once, unpack it, and launch the server exactly as its manifest's
`mcp_config` says (with the `${__dirname}` and `${user_config.*}` substitutions a host
makes) in simulator mode. npx needs Node.js and the npm registry; a missing npx fails
loudly rather than skipping.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, StdioServerParameters
from PIL import Image

from scripts.build_bundle import MCPB
from scripts.catalog import ROOT, server_catalog
from snapshot_mcp import __version__
from tests.support import SEED_ID

# the bundle is built once for the module, so the module runs whole on one worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("bundle")]


BIN = Path(sys.executable).parent


USER_CONFIG = {
    "api_token": "bundle-test-token",
    "read_only": "false",
    "delete_confirmation": "elicit",
    "confirm_channels": "",  # emptied by the user: the server's default
    "tools": "",  # every tool
    "endpoint": "",
}


def _npx() -> str:
    npx = shutil.which("npx")
    if npx is None:
        pytest.fail("npx (Node.js) is required for the third-party checks")
    return npx


def _substitute(value: str, dirname: Path, user_config: dict[str, str]) -> str:
    value = value.replace("${__dirname}", str(dirname))
    return re.sub(r"\$\{user_config\.([a-z_]+)\}", lambda m: user_config[m.group(1)], value)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundle built by scripts/build_bundle.py, unpacked."""
    _npx()
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "scripts.build_bundle", "--out", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    built = out / f"snapshot-mcp-{__version__}.mcpb"
    assert built.is_file()
    unpacked = tmp_path_factory.mktemp("bundle")
    with zipfile.ZipFile(built) as archive:
        archive.extractall(unpacked)
    return unpacked


def test_bundle_holds_a_uv_project_and_nothing_installed(bundle: Path) -> None:
    """The "uv" type's layout: pyproject.toml and uv.lock at the root, no bundled packages or venv."""
    names = {path.relative_to(bundle).as_posix() for path in bundle.rglob("*")}
    assert {"manifest.json", "pyproject.toml", "uv.lock", "README.md", "LICENSE", "icon.png"} <= names
    assert "snapshot_mcp/__init__.py" in names
    assert not {name for name in names if name.split("/")[0] in {"server", "lib", "venv", ".venv", "dist"}}
    assert not [name for name in names if "__pycache__" in name]
    assert (bundle / "uv.lock").read_bytes() == (ROOT / "uv.lock").read_bytes()


def test_bundle_icon_is_a_512_png(bundle: Path) -> None:
    """The icon the manifest names is the committed PNG, 512 × 512 with a transparent corner."""
    manifest: dict[str, Any] = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    with Image.open(bundle / manifest["icon"]) as icon:
        assert (icon.format, icon.size, icon.mode) == ("PNG", (512, 512), "RGBA")
        assert icon.getpixel((0, 0)) == (0, 0, 0, 0)
        assert len(set(icon.get_flattened_data())) > 100


def test_mcpb_validate_accepts_the_04_manifest(bundle: Path) -> None:
    """The published MCP Bundle CLI validates the unpacked manifest (version 0.4, type uv)."""
    done = subprocess.run(
        [_npx(), "-y", MCPB, "validate", str(bundle / "manifest.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Manifest schema validation passes!" in done.stdout


async def test_bundle_server_starts_as_its_manifest_says(bundle: Path) -> None:
    """The unpacked bundle's mcp_config, run with uv, serves the server's tools and answers get_snapshot."""
    manifest: dict[str, Any] = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == __version__
    config = manifest["server"]["mcp_config"]
    command = config["command"]
    resolved = shutil.which(command, path=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    assert resolved is not None, f"{command} is not installed (it comes with the dev extra)"
    # The machine's environment (certificates, proxies), then what the manifest sets.
    env = {**os.environ, **{key: _substitute(value, bundle, USER_CONFIG) for key, value in config["env"].items()}}
    env.update(PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", SNAPSHOT_MCP_SIMULATE="true")
    # uv installs the locked dependencies from PyPI, as on a user's machine: the one
    # download these tests make (uv's cache keeps it for later runs). A Python is never
    # downloaded: the machine's own must satisfy requires-python.
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    args = [_substitute(a, bundle, USER_CONFIG) for a in config["args"]]
    async with Client(StdioServerParameters(command=resolved, args=args, env=env), read_timeout_seconds=240) as client:
        tools = (await client.list_tools()).tools
        result = await client.call_tool("get_snapshot", {"snapshot_id": SEED_ID})
    expected, _ = await server_catalog()
    assert [t.name for t in tools] == [t.name for t in expected]
    assert result.is_error is False
    assert SEED_ID in json.dumps(result.structured_content)
