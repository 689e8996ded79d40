"""The PyPI package as users get it: the wheel and sdist built from this tree, installed fresh.

The build runs without build isolation, on the hatchling of the dev extra, so it needs
no download. Installing the wheel into a fresh virtual environment, and `uvx`, do fetch
the dependencies from PyPI, as they would on a user's machine: that is the one network
access these tests allow themselves, constrained to the versions in uv.lock so that uv's
cache serves every later run.
"""

from __future__ import annotations

import ast
import email.parser
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from email.message import Message
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from scripts.build_bundle import MCPB
from scripts.catalog import ROOT, server_catalog
from snapshot_mcp import __version__

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("packaging")]


BIN = Path(sys.executable).parent


WHEEL = f"snapshot_mcp-{__version__}-py3-none-any.whl"


SDIST = f"snapshot_mcp-{__version__}.tar.gz"


PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _run(*command: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run a command to completion (uv never downloads a Python here: the machine's must do)."""
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{command}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sdist, and the wheel uv builds from that sdist (so the sdist is proven complete)."""
    out = tmp_path_factory.mktemp("dist")
    _run(BIN / "uv", "build", "--no-build-isolation", "--python", sys.executable, "--out-dir", out)
    assert sorted(p.name for p in out.iterdir() if p.suffix in {".whl", ".gz"}) == sorted([WHEEL, SDIST])
    return out


@pytest.fixture(scope="module")
def constraints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The locked runtime versions, as a constraints file for uv pip and uvx."""
    path = tmp_path_factory.mktemp("lock") / "constraints.txt"
    _run(BIN / "uv", "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "-q", "-o", path)
    return path


def _name(requirement: str) -> str:
    """The distribution name a requirement string starts with."""
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None
    return match.group(0).lower()


def _metadata(wheel: Path) -> Message:
    with zipfile.ZipFile(wheel) as archive:
        return email.parser.Parser().parsestr(archive.read(f"snapshot_mcp-{__version__}.dist-info/METADATA").decode())


def test_wheel_carries_the_package_and_not_the_tools(dist: Path) -> None:
    """The package, its prompts, py.typed and the licence; no scripts, tests, bench or stress."""
    with zipfile.ZipFile(dist / WHEEL) as archive:
        names = archive.namelist()
        entry_points = archive.read(f"snapshot_mcp-{__version__}.dist-info/entry_points.txt").decode()
    prompts = sorted(f"snapshot_mcp/prompts/{p.name}" for p in (ROOT / "prompts").glob("*.md"))
    assert prompts
    assert sorted(n for n in names if n.startswith("snapshot_mcp/prompts/")) == prompts
    assert {"snapshot_mcp/__init__.py", "snapshot_mcp/py.typed"} <= set(names)
    assert f"snapshot_mcp-{__version__}.dist-info/licenses/LICENSE" in names
    assert {n.split("/")[0] for n in names} == {"snapshot_mcp", f"snapshot_mcp-{__version__}.dist-info"}
    assert not [n for n in names if n.endswith("catalog.py") or "__pycache__" in n]
    assert "snapshot-mcp = snapshot_mcp.cli:main" in entry_points


def test_wheel_metadata_is_what_pypi_shows(dist: Path) -> None:
    """Name, version, licence, URLs, the README as Markdown with the registry's mcp-name line, the dependencies."""
    meta = _metadata(dist / WHEEL)
    assert (meta["Name"], meta["Version"]) == ("snapshot-mcp", __version__)
    assert (meta["License-Expression"], meta["Requires-Python"]) == ("MIT", PROJECT["requires-python"])
    assert meta["Description-Content-Type"] == "text/markdown"
    assert sorted(meta.get_all("Project-URL") or []) == sorted(f"{k}, {v}" for k, v in PROJECT["urls"].items())
    requires = meta.get_all("Requires-Dist") or []
    assert {_name(r) for r in requires if "extra ==" not in r} == {_name(d) for d in PROJECT["dependencies"]}
    body = meta.get_payload()
    assert isinstance(body, str)
    assert "<!-- mcp-name: io.github.snapshot-mcp/snapshot-mcp -->" in body


def _top_level_imports_of_tests() -> set[str]:
    """Top-level names the test files import that are folders of this repository."""
    names: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return {name for name in names if (ROOT / name).is_dir()}


def test_sdist_carries_what_its_tests_need(dist: Path) -> None:
    """Every repository folder the tests import, the lock, both registry files; nothing built or cached."""
    with tarfile.open(dist / SDIST) as archive:
        names = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    top = {n.split("/")[0] for n in names}
    assert _top_level_imports_of_tests() | {"tests", "prompts"} <= top
    assert {"pyproject.toml", "uv.lock", "LICENSE", "README.md", "CHANGELOG.md", "manifest.json", "server.json"} <= top
    assert not top & {".venv", "dist", ".git", ".github"}
    assert not [n for n in names if "__pycache__" in n]


def test_twine_check_passes(dist: Path) -> None:
    """PyPI will render the long description and accept the metadata (twine check --strict)."""
    done = _run(BIN / "twine", "check", "--strict", dist / WHEEL, dist / SDIST)
    assert done.stdout.count("PASSED") == 2


async def test_built_wheel_serves_from_a_fresh_venv(dist: Path, constraints: Path, tmp_path: Path) -> None:
    """`pip install snapshot-mcp` as a user gets it: the console script answers initialize and tools/list."""
    venv = tmp_path / "venv"
    _run(BIN / "uv", "venv", "-q", "--python", sys.executable, venv)
    python = venv / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    _run(BIN / "uv", "pip", "install", "-q", "--python", python, dist / WHEEL, "-c", constraints)
    command = python.parent / "snapshot-mcp"
    assert not (python.parent / "pytest").exists()  # the dev extra stayed out
    params = StdioServerParameters(command=str(command), args=["--simulate"], env={"PATH": os.environ["PATH"]})
    async with Client(params, read_timeout_seconds=120) as client:
        info = client.server_info
        tools = (await client.list_tools()).tools
    expected, _ = await server_catalog()
    assert info is not None
    assert info.version == __version__
    assert [t.name for t in tools] == [t.name for t in expected]


def test_uvx_runs_the_built_wheel(dist: Path, constraints: Path) -> None:
    """`uvx --from <wheel> snapshot-mcp --version`, the way the README and the registry entry run it."""
    done = _run(BIN / "uvx", "-q", "-c", constraints, "--from", dist / WHEEL, "snapshot-mcp", "--version")
    assert done.stdout.strip() == f"snapshot-mcp {__version__}"


def test_lock_is_current() -> None:
    """uv.lock matches pyproject.toml (after adding a dependency, run `uv lock` and commit both)."""
    _run(BIN / "uv", "lock", "--check", "--offline")


def _fresh_checkout(into: Path) -> Path:
    """The repository as a fresh `git clone` gives it (its committed files only); an unpacked sdist as it is."""
    if not (ROOT / ".git").exists():
        shutil.copytree(ROOT, into, ignore=shutil.ignore_patterns(".venv", "__pycache__", "node_modules"))
        return into
    _run("git", "clone", "--quiet", "--no-hardlinks", ROOT, into)
    return into


def test_a_fresh_clone_is_a_valid_bundle_directory(tmp_path: Path) -> None:
    """`npx @anthropic-ai/mcpb validate manifest.json` passes at the root of a fresh clone: the icon is committed."""
    npx = shutil.which("npx")
    if npx is None:
        pytest.fail("npx (Node.js) is required for the MCP Bundle CLI")
    clone = _fresh_checkout(tmp_path / "clone")
    done = subprocess.run(
        [npx, "-y", MCPB, "validate", "manifest.json"],
        cwd=clone,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Manifest schema validation passes!" in done.stdout
    assert "not found" not in done.stdout + done.stderr
