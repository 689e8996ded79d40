"""Prompts, the snapshot resource template, completions, and the generated docs."""

import json
import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import get_args

import httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import PromptReference, ResourceTemplateReference, TextResourceContents

from scripts.build_bundle import check_manifest
from scripts.catalog import ROOT, render_manifest, render_readme, server_catalog
from snapshot_mcp import __version__
from snapshot_mcp.resources import PromptFileError, load_prompts, parse_prompt_file
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import ChannelName, Settings
from snapshot_mcp.simulator import Simulator
from tests.support import SEED_ID

pytestmark = pytest.mark.slow  # builds servers from prompt folders, renders the README and the manifest

TEMPLATE = "genesiscloud://snapshots/{snapshot_id}"


@pytest.fixture(params=["auto", "legacy"])
async def client(
    request: pytest.FixtureRequest, settings: Settings, sim_http: httpx.AsyncClient
) -> AsyncIterator[Client]:
    async with Client(build_server(settings, http=sim_http), mode=request.param) as c:
        yield c


# -- prompts ---------------------------------------------------------------------------


async def test_prompts_listed_with_arguments(client: Client) -> None:
    """Every prompt file is served with its declared arguments."""
    prompts = {p.name: p for p in (await client.list_prompts()).prompts}
    assert set(prompts) == {
        "cleanup_snapshots",
        "import_image",
        "inventory_report",
        "review_snapshot",
        "snapshot_before_change",
    }
    url_arg = next(a for a in prompts["import_image"].arguments or [] if a.name == "url")
    assert url_arg.required is True
    assert all(p.description for p in prompts.values())


def test_readme_names_every_prompt() -> None:
    """The README's Prompts section names each prompt file's prompt."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Prompts\n", 1)[1].split("\n## ", 1)[0]
    assert [p.name for p in load_prompts() if f"`{p.name}`" not in section] == []


async def test_prompt_get_substitutes_arguments(client: Client) -> None:
    """Declared {placeholders} are replaced; a missing optional argument becomes empty."""
    result = await client.get_prompt("import_image", {"url": "https://img.example/a.raw.zst", "region": "EUC-DE-MUC-1"})
    text = result.messages[0].content.text  # type: ignore[union-attr]
    assert "https://img.example/a.raw.zst" in text
    assert 'use "EUC-DE-MUC-1"' in text
    assert 'use ""' in text  # the name was not given
    assert "{url}" not in text
    assert "{name}" not in text


async def test_prompt_missing_required_argument_is_an_error(client: Client) -> None:
    """A required argument left out is refused, not rendered with a hole."""
    with pytest.raises(MCPError):
        await client.get_prompt("import_image", {})


async def test_prompt_unknown_argument_is_an_error(client: Client) -> None:
    """Arguments the prompt does not declare are refused."""
    with pytest.raises(MCPError):
        await client.get_prompt("inventory_report", {"regoin": "x"})


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no header at all\n", "must start with a TOML header"),
        ('+++\nname = "x"\n', "must start with a TOML header"),
        ("+++\nname = \n+++\nbody\n", "not valid TOML"),
        ('+++\nname = "Bad Name"\ndescription = "d"\n+++\nbody\n', "'name'"),
        ('+++\nname = "ok"\n+++\nbody\n', "'description' is required"),
        ('+++\nname = "ok"\ndescription = "d"\ncolour = "red"\n+++\nbody\n', "unknown header keys"),
        ('+++\nname = "ok"\ndescription = "d"\n+++\n\n', "empty"),
        ('+++\nname = "ok"\ndescription = "d"\n[[arguments]]\nname = "a"\nrequired = "yes"\n+++\nb\n', "argument a"),
        (
            '+++\nname = "ok"\ndescription = "d"\n[[arguments]]\nname = "a"\n[[arguments]]\nname = "a"\n+++\nb\n',
            "unique",
        ),
    ],
)
def test_malformed_prompt_file_names_the_file(tmp_path: Path, text: str, problem: str) -> None:
    """A malformed prompt file is a start-up error that names the file and the problem."""
    path = tmp_path / "broken.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PromptFileError) as caught:
        parse_prompt_file(path)
    assert str(path) in str(caught.value)
    assert problem in str(caught.value)


def test_malformed_prompt_stops_build_server(tmp_path: Path, settings: Settings) -> None:
    """build_server fails at once (not at the first prompts/get) on a bad prompt folder."""
    (tmp_path / "bad.md").write_text("oops\n", encoding="utf-8")
    from snapshot_mcp.resources import register_catalog

    server = build_server(settings)
    with pytest.raises(PromptFileError, match=r"bad\.md"):
        register_catalog(server, prompts_dir=tmp_path)


def test_duplicate_prompt_names_rejected(tmp_path: Path) -> None:
    """Two files may not claim the same prompt name."""
    for file in ("a.md", "b.md"):
        (tmp_path / file).write_text('+++\nname = "same"\ndescription = "d"\n+++\nbody\n', encoding="utf-8")
    with pytest.raises(PromptFileError, match="already used"):
        load_prompts(tmp_path)


# -- resources -------------------------------------------------------------------------


async def test_resource_template_listed(client: Client) -> None:
    """The snapshot template is advertised with its URI and JSON type."""
    templates = (await client.list_resource_templates()).resource_templates
    assert [(t.uri_template, t.mime_type) for t in templates] == [(TEMPLATE, "application/json")]


async def test_resource_read_returns_the_snapshot(client: Client) -> None:
    """Reading genesiscloud://snapshots/<id> returns that snapshot as JSON."""
    result = await client.read_resource(f"genesiscloud://snapshots/{SEED_ID}")
    content = result.contents[0]
    assert isinstance(content, TextResourceContents)
    data = json.loads(content.text)
    assert data["id"] == SEED_ID
    assert data["name"] == "ubuntu-22.04-cuda-12.4"


@pytest.mark.parametrize(
    "tail",
    ["not-a-uuid", "..%2f..%2fetc", "00000000-0000-0000-0000-000000000000"],
)
async def test_resource_read_bad_or_unknown_id_is_an_error(
    settings: Settings, sim: Simulator, sim_http: httpx.AsyncClient, tail: str
) -> None:
    """A bad or unknown id is a protocol error; a non-UUID never reaches the API."""
    async with Client(build_server(settings, http=sim_http)) as c:
        with pytest.raises(MCPError):
            await c.read_resource(f"genesiscloud://snapshots/{tail}")
    paths = [r.path for r in sim.requests]
    if tail.count("-") != 4:
        assert paths == []


# -- completions -----------------------------------------------------------------------


async def test_region_completion(client: Client) -> None:
    """Regions complete from the known list by prefix, case-insensitively."""
    result = await client.complete(
        PromptReference(type="ref/prompt", name="import_image"), {"name": "region", "value": "na"}
    )
    assert result.completion.values == ["NA-CA-FTS-1", "NA-CA-MNZ-1", "NA-CA-PRG-1"]


async def test_snapshot_id_completion_from_live_list(client: Client) -> None:
    """snapshot_id completes from the live list, by id prefix or by name prefix."""
    ref = ResourceTemplateReference(type="ref/resource", uri=TEMPLATE)
    by_name = await client.complete(ref, {"name": "snapshot_id", "value": "ubuntu-22"})
    assert by_name.completion.values == [SEED_ID]
    by_id = await client.complete(ref, {"name": "snapshot_id", "value": "ebc8"})
    assert by_id.completion.values == [SEED_ID]


async def test_snapshot_id_completion_is_cached(
    settings: Settings, sim: Simulator, sim_http: httpx.AsyncClient
) -> None:
    """Completions within the cache window cost one API request in all."""
    ref = PromptReference(type="ref/prompt", name="review_snapshot")
    async with Client(build_server(settings, http=sim_http)) as c:
        for prefix in ("", "u", "ub", "ubu"):
            await c.complete(ref, {"name": "snapshot_id", "value": prefix})
    assert len([r for r in sim.requests if r.method == "GET"]) == 1


async def test_completion_without_token_is_empty_not_an_error(sim_http: httpx.AsyncClient) -> None:
    """With no API token, snapshot_id completion offers nothing instead of failing."""
    async with Client(build_server(Settings(token=None), http=sim_http)) as c:
        ref = PromptReference(type="ref/prompt", name="review_snapshot")
        result = await c.complete(ref, {"name": "snapshot_id", "value": ""})
    assert result.completion.values == []


# -- generated docs and the bundle manifest ---------------------------------------------


async def test_readme_tool_table_is_current() -> None:
    """The README's tool table matches tools/list (regenerate: python -m scripts.catalog)."""
    tools, _ = await server_catalog()
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert render_readme(readme, tools) == readme


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


async def test_manifest_lists_what_the_server_lists() -> None:
    """manifest.json's version, tools and prompts equal the server's own (python -m scripts.catalog)."""
    tools, prompts = await server_catalog()
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == __version__
    assert render_manifest(manifest, tools, prompts) == manifest
    assert [t["name"] for t in manifest["tools"]] == [t.name for t in tools]
    assert [p["name"] for p in manifest["prompts"]] == [p.name for p in prompts]


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


def test_manifest_defaults_are_the_servers() -> None:
    """Each optional user_config default, as a host passes it, gives the server's own default."""
    manifest = json.loads((ROOT / "manifest.json").read_text(encoding="utf-8"))
    given = {var: str(manifest["user_config"][key].get("default", "")).lower() for var, key in _manifest_env().items()}
    assert Settings.from_env(given) == Settings.from_env({})
    assert manifest["user_config"]["confirm_channels"]["default"] == ",".join(Settings().confirm_channels)
    assert manifest["user_config"]["delete_confirmation"]["default"] == Settings().delete_confirmation


@pytest.mark.parametrize("variable", sorted(_manifest_env()))
def test_an_empty_user_config_value_means_the_default(variable: str) -> None:
    """A host passes an emptied field as "": the server then uses its default, never an empty list or an error."""
    assert Settings.from_env({variable: ""}) == Settings.from_env({})
    assert Settings.from_env({variable: "  "}) == Settings.from_env({})


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
