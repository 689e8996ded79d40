"""scripts/catalog.py's output as committed: the README's tool, prompt and option tables and the bundle
manifest agree with what the server lists (regenerate: `python -m scripts.catalog`).
"""

from __future__ import annotations

import json
import re
import tomllib
from typing import get_args

import pytest

from scripts.catalog import ROOT, render_manifest, render_readme, server_catalog
from snapshot_mcp import __version__, cli
from snapshot_mcp.resources import load_prompts
from snapshot_mcp.settings import ChannelName, Settings


@pytest.mark.slow
def test_readme_names_every_prompt() -> None:
    """The README's Prompts section names each prompt file's prompt."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Prompts\n", 1)[1].split("\n## ", 1)[0]
    assert [p.name for p in load_prompts() if f"`{p.name}`" not in section] == []


# -- generated docs and the bundle manifest ---------------------------------------------


@pytest.mark.slow
async def test_readme_tool_table_is_current() -> None:
    """The README's tool table matches tools/list (regenerate: python -m scripts.catalog)."""
    tools, _ = await server_catalog()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert render_readme(readme, tools) == readme


@pytest.mark.slow
async def test_readme_says_why_the_additive_writers_are_not_destructive() -> None:
    """The paragraph after the table names, from tools/list, exactly the writers marked non-destructive and the others.

    Its sentence with `destructiveHint: false` names the tools that write (not read-only)
    without being destructive; its sentence with `destructiveHint: true` the destructive ones.
    """
    tools, _ = await server_catalog()
    writers = [t for t in tools if t.annotations is not None and not t.annotations.read_only_hint]
    additive = {t.name for t in writers if t.annotations is not None and t.annotations.destructive_hint is False}
    destructive = {t.name for t in writers} - additive
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    after_table = readme.split("<!-- tools:end -->", 1)[1]
    paragraph = after_table.split("**Which writing tools are marked destructive.**", 1)[1].split("\n\n", 1)[0]
    sentences = re.split(r"(?<=[.)])\s+(?=[A-Z`(])", " ".join(paragraph.split()))

    def named(hint: str) -> set[str]:
        [sentence] = [s for s in sentences if f"`destructiveHint: {hint}`" in s]
        return set(re.findall(r"`([a-z_]+)`", sentence)) & {t.name for t in tools}

    assert additive
    assert destructive
    assert named("false") == additive
    assert named("true") == destructive


@pytest.mark.slow
async def test_manifest_lists_what_the_server_lists() -> None:
    """manifest.json's version, tools and prompts equal the server's own (python -m scripts.catalog)."""
    tools, prompts = await server_catalog()
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == __version__
    assert render_manifest(manifest, tools, prompts) == manifest
    assert [t["name"] for t in manifest["tools"]] == [t.name for t in tools]
    assert [p["name"] for p in manifest["prompts"]] == [p.name for p in prompts]


@pytest.mark.slow
def test_manifest_passes_user_config_through_env() -> None:
    """Each user_config entry reaches the server through mcp_config.env; the token is sensitive."""
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    env = manifest["server"]["mcp_config"]["env"]
    assert env == {
        "GENESISCLOUD_TOKEN": "${user_config.api_token}",
        "GENESISCLOUD_ENDPOINT": "${user_config.endpoint}",
        "SNAPSHOT_MCP_READ_ONLY": "${user_config.read_only}",
        "SNAPSHOT_MCP_DELETE_CONFIRMATION": "${user_config.delete_confirmation}",
        "SNAPSHOT_MCP_CONFIRM_CHANNELS": "${user_config.confirm_channels}",
        "SNAPSHOT_MCP_TOOLS": "${user_config.tools}",
    }
    assert manifest["user_config"]["api_token"]["sensitive"] is True
    assert manifest["user_config"]["api_token"]["required"] is True
    assert set(manifest["user_config"]) == {
        "api_token",
        "read_only",
        "delete_confirmation",
        "confirm_channels",
        "tools",
        "endpoint",
    }


def _manifest_env() -> dict[str, str]:
    """Each environment variable the manifest sets, and the user_config entry it comes from."""
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    env: dict[str, str] = manifest["server"]["mcp_config"]["env"]
    return {var: re.fullmatch(r"\$\{user_config\.([a-z_]+)\}", value).group(1) for var, value in env.items()}  # type: ignore[union-attr]


@pytest.mark.slow
def test_manifest_defaults_are_the_servers() -> None:
    """Each optional user_config default, as a host passes it, gives the server's own default."""
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    given = {var: str(manifest["user_config"][key].get("default", "")).lower() for var, key in _manifest_env().items()}
    assert Settings.from_env(given) == Settings.from_env({})
    assert manifest["user_config"]["confirm_channels"]["default"] == ",".join(Settings().confirm_channels)
    assert manifest["user_config"]["delete_confirmation"]["default"] == Settings().delete_confirmation


@pytest.mark.slow
@pytest.mark.parametrize("variable", sorted(_manifest_env()))
def test_an_empty_user_config_value_means_the_default(variable: str) -> None:
    """A host passes an emptied field as "": the server then uses its default, never an empty list or an error."""
    assert Settings.from_env({variable: ""}) == Settings.from_env({})
    assert Settings.from_env({variable: "  "}) == Settings.from_env({})


@pytest.mark.slow
def test_confirm_channels_description_names_each_channel() -> None:
    """The bundle's settings explain every channel the server accepts, and the defaults."""
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    described = manifest["user_config"]["confirm_channels"]["description"]
    explained = (("card", "card in the chat"), ("form", "question dialog"), ("browser", "own browser"))
    for channel, meaning in (*explained, ("token", "preview")):
        assert f"{channel} (" in described
        assert meaning in described
    assert set(get_args(ChannelName)) == {"card", "form", "browser", "token"}
    assert "Leave empty for card,form,browser." in described


@pytest.mark.slow
def test_manifest_runs_on_the_hosts_uv_with_directory_metadata() -> None:
    """Manifest 0.4, server type uv, and what Anthropic's directory asks for (icon, links, privacy policy)."""
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert manifest["manifest_version"] == "0.4"
    assert manifest["server"]["type"] == "uv"
    assert manifest["compatibility"]["runtimes"]["python"] == pyproject["requires-python"]
    assert manifest["icon"] == "icon.png"
    assert manifest["repository"]["url"] == pyproject["urls"]["Repository"]
    assert manifest["homepage"] == pyproject["urls"]["Homepage"]
    assert manifest["documentation"] == pyproject["urls"]["Documentation"]
    assert manifest["support"] == pyproject["urls"]["Issues"]
    assert manifest["privacy_policies"] == ["https://www.genesiscloud.com/privacy-policy"]
    assert manifest["license"] == pyproject["license"]


def test_options_table_in_readme_is_current() -> None:
    """README's Options table is generated from Settings (regenerate with the command in its marker)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- options:start")
    body = readme[readme.index("-->", start) + 3 : readme.index("<!-- options:end -->")]
    assert body.strip() == cli.options_table()
