"""The MCP Registry entry (server.json) and the release checks in scripts/release.py."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scripts.build_bundle import bundle_name
from scripts.release import (
    PLACEHOLDER_SHA256,
    ROOT,
    changelog_section,
    consistency_problems,
    fill_sha256,
    load_json,
    main,
    registry_problems,
    release_problems,
)
from snapshot_mcp import __version__

Edit = Callable[[dict[str, Any]], None]


MCP_LINE = re.compile(r"<!-- mcp-name: [^ ]+ -->")


CONSISTENCY_FILES = ("server.json", "manifest.json", "pyproject.toml", "README.md", "CHANGELOG.md")


@pytest.fixture
def server() -> dict[str, Any]:
    return load_json(ROOT / "server.json")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of the files the consistency checks read."""
    for name in CONSISTENCY_FILES:
        shutil.copy2(ROOT / name, tmp_path / name)
    return tmp_path


_DROP = object()


def _set(path: str, value: Any = _DROP) -> Edit:
    """An edit that sets `value` at the slash-separated `path` (list indexes as numbers), or removes it."""

    def edit(data: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split("/")]
        target: Any = data
        for part in parents:
            target = target[part]
        if value is _DROP:
            del target[last]
        else:
            target[last] = value

    return edit


def _drop(path: str) -> Edit:
    return _set(path)


def test_committed_server_json_meets_the_registry_rules(server: dict[str, Any]) -> None:
    """The committed entry passes every rule the registry applies at publish time."""
    assert registry_problems(server) == []


def test_committed_server_json_waits_for_the_release_hash(server: dict[str, Any]) -> None:
    """The mcpb hash is the placeholder the release workflow replaces; a real one would be stale."""
    (mcpb,) = [p for p in server["packages"] if p["registryType"] == "mcpb"]
    assert mcpb["fileSha256"] == PLACEHOLDER_SHA256


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        (_set("name", "snapshot-mcp"), "name: 'snapshot-mcp' does not match"),
        (_set("name", "io.github.snapshot-mcp/a/b"), "does not match"),
        (_set("name", "io.github.someone-else/snapshot-mcp"), "only under io.github.snapshot-mcp/"),
        (_set("description", "x" * 101), "description: " + repr("x" * 101) + " is too long"),
        (_set("description", ""), "description: '' should be non-empty"),
        (_set("$schema", "https://static.modelcontextprotocol.io/schemas/2025-07-09/server.schema.json"), "$schema"),
        (_set("version", "latest"), "version: 'latest' should not be valid"),
        (_set("version", "^0.1.0"), "version: '^0.1.0' is not one exact version"),
        (_set("version", "0.x"), "version: '0.x' is not one exact version"),
        (_set("packages/0/version", ">=0.1"), "packages/0/version: '>=0.1' is not one exact version"),
        (_drop("packages/0/version"), "packages/0: 'version' is a required property"),
        (_drop("packages/1/fileSha256"), "packages/1: 'fileSha256' is a required property"),
        (_set("packages/1/fileSha256", "AB" * 32), "packages/1/fileSha256"),
        (_set("packages/1/identifier", "https://example.com/snapshot-mcp.mcpb"), "GitHub release asset"),
        (_set("packages/0/transport/type", "websocket"), "packages/0/transport/type"),
        (_set("packages/0/registryBaseUrl", "https://test.pypi.org"), "must come from https://pypi.org"),
        (_set("packages/0/registryType", "pip"), "packages/0/registryType"),
        (_drop("packages/0/environmentVariables/0/name"), "'name' is a required property"),
        (_drop("repository/source"), "repository: 'source' is a required property"),
    ],
)
def test_registry_rules_catch_each_break(server: dict[str, Any], edit: Edit, complaint: str) -> None:
    """One broken rule, one complaint that names it."""
    broken = copy.deepcopy(server)
    edit(broken)
    assert [p for p in registry_problems(broken) if complaint in p], registry_problems(broken)


def test_server_json_agrees_with_the_package() -> None:
    """Version, package name, release asset, repository, README line and env vars agree everywhere."""
    assert consistency_problems(ROOT) == []


@pytest.mark.parametrize(
    ("file", "edit", "complaint"),
    [
        ("server.json", _set("version", "9.9.9"), "server.json version is '9.9.9'"),
        ("server.json", _set("packages/0/version", "9.9.9"), "the pypi package's version"),
        ("server.json", _set("packages/0/identifier", "snapshot-mcp-server"), "the pypi package is"),
        ("server.json", _set("packages/1/identifier", "https://github.com/x/y/releases/download/v1/a.mcpb"), "asset"),
        ("server.json", _set("repository/url", "https://github.com/someone/else"), "repository"),
        ("server.json", _set("packages/0/environmentVariables/0/name", "GC_TOKEN"), "environmentVariables are"),
        ("server.json", _set("packages/0/environmentVariables/0/isSecret", False), "isRequired and isSecret"),
        ("server.json", _set("packages/0/environmentVariables/0/isRequired", False), "isRequired and isSecret"),
        ("server.json", _set("packages/0/environmentVariables/1/default", "https://x.example/v1"), "default"),
        ("manifest.json", _set("version", "9.9.9"), "manifest.json version is '9.9.9'"),
        ("manifest.json", _drop("server/mcp_config/env/GENESISCLOUD_ENDPOINT"), "mcp_config.env does not set"),
        ("manifest.json", _set("repository/url", "https://github.com/someone/else"), "repository"),
    ],
)
def test_consistency_catches_each_disagreement(root: Path, file: str, edit: Edit, complaint: str) -> None:
    """A field that drifts in one file is reported against the package's own value."""
    data = load_json(root / file)
    edit(data)
    (root / file).write_text(json.dumps(data), encoding="utf-8")
    assert [p for p in consistency_problems(root) if complaint in p], consistency_problems(root)


@pytest.mark.parametrize(
    "readme_edit",
    [
        lambda text: MCP_LINE.sub("", text),
        lambda text: MCP_LINE.sub("<!-- mcp-name: io.github.snapshot-mcp/other -->", text),
        lambda text: text + "\n<!-- mcp-name: io.github.snapshot-mcp/snapshot-mcp -->\n",
    ],
    ids=["missing", "another-name", "twice"],
)
def test_readme_must_carry_the_mcp_name_once(root: Path, readme_edit: Callable[[str], str]) -> None:
    """The registry's PyPI ownership proof names exactly this server, exactly once."""
    readme = root / "README.md"
    readme.write_text(readme_edit(readme.read_text(encoding="utf-8")), encoding="utf-8")
    assert [p for p in consistency_problems(root) if "mcp-name" in p]


CHANGELOG = """# Changelog

## [Unreleased]

## [1.2.0] - 2026-11-02

### Added
- Something new.

## [1.1.0] - 2026-10-01

### Fixed
- Something old.

[1.2.0]: https://github.com/snapshot-mcp/snapshot-mcp/compare/v1.1.0...v1.2.0
"""


@pytest.mark.parametrize(
    ("version", "body"),
    [("1.2.0", "### Added\n- Something new."), ("1.1.0", "### Fixed\n- Something old.")],
)
def test_changelog_section_is_the_release_notes(version: str, body: str) -> None:
    """A release's section runs to the next heading or the link references."""
    assert changelog_section(CHANGELOG, version) == body


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (CHANGELOG, "no '## [1.3.0] - YYYY-MM-DD' section"),
        (CHANGELOG.replace("## [1.2.0] - 2026-11-02", "## [1.3.0]"), "no '## [1.3.0] - YYYY-MM-DD' section"),
        (
            CHANGELOG.replace("## [1.2.0] - 2026-11-02\n\n### Added\n- Something new.\n", "## [1.3.0] - 2026-11-02\n"),
            "section for 1.3.0 is empty",
        ),
    ],
    ids=["absent", "undated", "empty"],
)
def test_changelog_section_missing_or_empty_stops_the_release(text: str, message: str) -> None:
    """No dated, non-empty entry for the version: no release."""
    with pytest.raises(SystemExit, match=re.escape(message)):
        changelog_section(text, "1.3.0")


def test_changelog_keeps_an_unreleased_section() -> None:
    """Changes land under [Unreleased] until a release dates them."""
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(r"^## \[Unreleased\]$", text, re.MULTILINE)


def _release_changelog(root: Path) -> None:
    path = root / "CHANGELOG.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("## [Unreleased]", f"## [Unreleased]\n\n## [{__version__}] - 2026-12-01", 1))


def test_release_is_ready_when_tag_version_and_changelog_agree(root: Path) -> None:
    """With a dated CHANGELOG entry and the matching tag, nothing stands in the way."""
    _release_changelog(root)
    assert release_problems(f"v{__version__}", root) == []


@pytest.mark.parametrize("tag", ["v9.9.9", __version__, f"v{__version__}rc1"])
def test_release_refuses_a_tag_that_is_not_the_version(root: Path, tag: str) -> None:
    """The tag must be exactly v<version>, or the uploads would carry another version."""
    _release_changelog(root)
    assert release_problems(tag, root) == [f"tag {tag} is not v{__version__}, the package's version"]


def test_release_refuses_an_undated_changelog(root: Path) -> None:
    """Without a section for this version, the release check fails."""
    assert any("CHANGELOG.md has no" in p for p in release_problems(f"v{__version__}", root))


def test_fill_sha256_writes_hash_file_and_server_json(root: Path) -> None:
    """The bundle's hash lands in server.json's mcpb package and in a sha256sum-style file."""
    bundle = root / bundle_name(__version__)
    bundle.write_bytes(b"a bundle")
    expected = hashlib.sha256(b"a bundle").hexdigest()
    assert fill_sha256(bundle, root) == expected
    server = load_json(root / "server.json")
    assert [p.get("fileSha256") for p in server["packages"]] == [None, expected]
    assert (root / f"{bundle.name}.sha256").read_text(encoding="utf-8") == f"{expected}  {bundle.name}\n"
    assert registry_problems(server) == []


def test_fill_sha256_refuses_a_bundle_server_json_does_not_point_at(root: Path) -> None:
    """Hashing a file of another name would publish a hash for the wrong download."""
    before = (root / "server.json").read_text(encoding="utf-8")
    bundle = root / "snapshot-mcp-0.0.1.mcpb"
    bundle.write_bytes(b"old")
    with pytest.raises(SystemExit, match=re.escape("does not point at snapshot-mcp-0.0.1.mcpb")):
        fill_sha256(bundle, root)
    assert (root / "server.json").read_text(encoding="utf-8") == before


def test_check_command_passes_on_the_repository(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m scripts.release check` exits 0 and says nothing when all is well."""
    assert main(["check"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_server_reports_the_registry_version() -> None:
    """The installed command's --version is the version server.json publishes."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "snapshot-mcp"), "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == f"snapshot-mcp {load_json(ROOT / 'server.json')['version']}"


WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


USES = re.compile(r"^\s*(?:- )?uses:\s*(\S+)(.*)$", re.MULTILINE)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_workflow_pins_third_party_actions_by_commit(workflow: Path) -> None:
    """Every action outside this repository is pinned to a full commit, with its version beside it."""
    uses = USES.findall(workflow.read_text(encoding="utf-8"))
    assert uses
    for ref, rest in uses:
        if ref.startswith("./"):
            continue
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", ref), ref
        assert re.fullmatch(r"\s*# v\d+\.\d+\.\d+", rest), f"{ref}: no '# vX.Y.Z' comment"


def test_release_workflow_installs_the_pinned_uv() -> None:
    """The release builds with the uv the dev extra pins (and so the one the tests ran)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    (pinned,) = [d.split("#")[0].strip() for d in project["optional-dependencies"]["dev"] if d.startswith("uv~=")]
    assert f'"{pinned}"' in (ROOT / ".github" / "workflows" / "release.yml").read_text(encoding="utf-8")
