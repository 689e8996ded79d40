"""resources.py through the protocol: prompts, the snapshot resource, completions.

The prompt files: their arguments, their server placeholders, the loader's errors. The
snapshot resource template, and the exact JSON-RPC errors a client's mistakes get. The
completions of snapshot and instance ids (one read per 30 s, shared by concurrent
keystrokes). The README's and the manifest's copies are in scripts/test_catalog.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp.types import PromptReference, ResourceTemplateReference, TextResourceContents

from snapshot_mcp.models import KNOWN_REGIONS, KNOWN_STATUSES
from snapshot_mcp.resources import (
    MAX_COMPLETIONS,
    PromptFileError,
    default_prompts_dir,
    load_prompts,
    parse_prompt_file,
)
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import Faults, Simulator
from tests.support import FAST_RETRY, GPU_WORKER_1, GPU_WORKER_2, SEED_ID, TRAINING_BOX, UNKNOWN_ID, connect

TEMPLATE = "genesiscloud://snapshots/{snapshot_id}"


# -- prompts ---------------------------------------------------------------------------


@pytest.mark.slow
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


@pytest.mark.slow
async def test_prompt_get_substitutes_arguments(client: Client) -> None:
    """Declared {placeholders} are replaced; a missing optional argument becomes empty."""
    result = await client.get_prompt("import_image", {"url": "https://img.example/a.raw.zst", "region": "EUC-DE-MUC-1"})
    text = result.messages[0].content.text  # type: ignore[union-attr]
    assert "https://img.example/a.raw.zst" in text
    assert 'use "EUC-DE-MUC-1"' in text
    assert 'use ""' in text  # the name was not given
    assert "{url}" not in text
    assert "{name}" not in text


@pytest.mark.slow
async def test_prompt_missing_required_argument_is_an_error(client: Client) -> None:
    """A required argument left out is refused, not rendered with a hole."""
    with pytest.raises(MCPError):
        await client.get_prompt("import_image", {})


@pytest.mark.slow
async def test_prompt_unknown_argument_is_an_error(client: Client) -> None:
    """Arguments the prompt does not declare are refused."""
    with pytest.raises(MCPError):
        await client.get_prompt("inventory_report", {"regoin": "x"})


@pytest.mark.slow
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


@pytest.mark.slow
def test_malformed_prompt_stops_build_server(tmp_path: Path, settings: Settings) -> None:
    """build_server fails at once (not at the first prompts/get) on a bad prompt folder."""
    (tmp_path / "bad.md").write_text("oops\n", encoding="utf-8")
    from snapshot_mcp.resources import register_catalog

    server = build_server(settings)
    with pytest.raises(PromptFileError, match=r"bad\.md"):
        register_catalog(server, prompts_dir=tmp_path)


@pytest.mark.slow
def test_duplicate_prompt_names_rejected(tmp_path: Path) -> None:
    """Two files may not claim the same prompt name."""
    for file in ("a.md", "b.md"):
        (tmp_path / file).write_text('+++\nname = "same"\ndescription = "d"\n+++\nbody\n', encoding="utf-8")
    with pytest.raises(PromptFileError, match="already used"):
        load_prompts(tmp_path)


# -- resources -------------------------------------------------------------------------


@pytest.mark.slow
async def test_resource_template_listed(client: Client) -> None:
    """The snapshot template is advertised with its URI and JSON type."""
    templates = (await client.list_resource_templates()).resource_templates
    assert [(t.uri_template, t.mime_type) for t in templates] == [(TEMPLATE, "application/json")]


@pytest.mark.slow
async def test_resource_read_returns_the_snapshot(client: Client) -> None:
    """Reading genesiscloud://snapshots/<id> returns that snapshot as JSON."""
    result = await client.read_resource(f"genesiscloud://snapshots/{SEED_ID}")
    content = result.contents[0]
    assert isinstance(content, TextResourceContents)
    data = json.loads(content.text)
    assert data["id"] == SEED_ID
    assert data["name"] == "ubuntu-22.04-cuda-12.4"


@pytest.mark.slow
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


@pytest.mark.slow
async def test_region_completion(client: Client) -> None:
    """Regions complete from the known list by prefix, case-insensitively."""
    result = await client.complete(
        PromptReference(type="ref/prompt", name="import_image"), {"name": "region", "value": "na"}
    )
    assert result.completion.values == ["NA-CA-FTS-1", "NA-CA-MNZ-1", "NA-CA-PRG-1"]


@pytest.mark.slow
async def test_snapshot_id_completion_from_live_list(client: Client) -> None:
    """snapshot_id completes from the live list, by id prefix or by name prefix."""
    ref = ResourceTemplateReference(type="ref/resource", uri=TEMPLATE)
    by_name = await client.complete(ref, {"name": "snapshot_id", "value": "ubuntu-22"})
    assert by_name.completion.values == [SEED_ID]
    by_id = await client.complete(ref, {"name": "snapshot_id", "value": "ebc8"})
    assert by_id.completion.values == [SEED_ID]


@pytest.mark.slow
async def test_snapshot_id_completion_is_cached(
    settings: Settings, sim: Simulator, sim_http: httpx.AsyncClient
) -> None:
    """Completions within the cache window cost one API request in all."""
    ref = PromptReference(type="ref/prompt", name="review_snapshot")
    async with Client(build_server(settings, http=sim_http)) as c:
        for prefix in ("", "u", "ub", "ubu"):
            await c.complete(ref, {"name": "snapshot_id", "value": prefix})
    assert len([r for r in sim.requests if r.method == "GET"]) == 1


@pytest.mark.slow
async def test_completion_without_token_is_empty_not_an_error(sim_http: httpx.AsyncClient) -> None:
    """With no API token, snapshot_id completion offers nothing instead of failing."""
    async with Client(build_server(Settings(token=None), http=sim_http)) as c:
        ref = PromptReference(type="ref/prompt", name="review_snapshot")
        result = await c.complete(ref, {"name": "snapshot_id", "value": ""})
    assert result.completion.values == []


REGIONS = ", ".join(KNOWN_REGIONS)


REGION_SHAPE = re.compile(r"\b[A-Z]{2,5}(?:-[A-Z]{2,5})+-\d+\b")
"""What a region name looks like (NORD-NO-KRS-1, ARC-IS-HAF-1, a future one)."""


BULK_START = datetime(2026, 11, 2, tzinfo=UTC)
"""After every seeded instance, so instances added from here on follow them in the API's order."""


INSTANCE_WORDS = {"snapshot_before_change.md": {"active", "stopped"}}
"""Words in backticks that are an instance's statuses (the ones a snapshot may be taken in), not a snapshot's."""


BEFORE_CHANGE = PromptReference(type="ref/prompt", name="snapshot_before_change")


REVIEW = PromptReference(type="ref/prompt", name="review_snapshot")


@pytest.fixture(params=["auto", "legacy"])
async def client(
    request: pytest.FixtureRequest, settings: Settings, sim_http: httpx.AsyncClient
) -> AsyncIterator[Client]:
    """A fresh server per test: the completion cache lives as long as the server."""
    async with Client(build_server(settings, http=sim_http), mode=request.param) as c:
        yield c


def _prompt_files() -> list[Path]:
    files = sorted(default_prompts_dir().glob("*.md"))
    assert files
    return files


# -- one source of regions ------------------------------------------------------------------


@pytest.mark.parametrize("path", _prompt_files(), ids=lambda p: p.name)
def test_no_prompt_file_names_a_region_itself(path: Path) -> None:
    """Regions come from {known_regions} (models.KNOWN_REGIONS), never from a list or an example in the file."""
    text = path.read_text(encoding="utf-8")
    assert REGION_SHAPE.findall(text) == []
    assert [region for region in KNOWN_REGIONS if region in text] == []


async def test_known_regions_fill_the_text_and_the_argument_descriptions(client: Client) -> None:
    """Rendered prompts and prompts/list carry every known region, in order, and no placeholder."""
    listed = {p.name: p for p in (await client.list_prompts()).prompts}
    region = next(a for a in listed["import_image"].arguments or [] if a.name == "region")
    assert region.description == f"target region, one of {REGIONS}"
    for prompt in listed.values():
        assert "{known_regions}" not in (prompt.description or "")
        assert all("{known_regions}" not in (a.description or "") for a in prompt.arguments or [])
    result = await client.get_prompt("import_image", {"url": "https://img.example/a.raw.zst"})
    text = text_of_prompt(result.messages[0].content)
    assert f"ask me which region ({REGIONS})" in text
    assert "{known_regions}" not in text


async def test_an_argument_value_is_not_scanned_for_placeholders(client: Client) -> None:
    """A value that spells a placeholder stays as given: arguments and the server's values fill in one pass."""
    result = await client.get_prompt("import_image", {"url": "https://x.example/{known_regions}.raw"})
    assert "https://x.example/{known_regions}.raw" in text_of_prompt(result.messages[0].content)


def test_manifest_text_fills_regions_and_keeps_argument_placeholders() -> None:
    """`PromptFile.text` (the bundle manifest's copy) has the regions and still says {region} for the host."""
    [prompt] = [p for p in load_prompts() if p.name == "import_image"]
    assert REGIONS in prompt.text
    assert '"{region}"' in prompt.text
    assert "{known_regions}" in prompt.body


def test_an_argument_may_not_take_a_server_placeholders_name(tmp_path: Path) -> None:
    """An argument called known_regions would be ambiguous: the file is refused, named."""
    path = tmp_path / "clash.md"
    path.write_text('+++\nname = "x"\ndescription = "d"\n[[arguments]]\nname = "known_regions"\n+++\nb\n')
    with pytest.raises(PromptFileError, match=r"clash\.md.*known_regions"):
        parse_prompt_file(path)


# -- stale text ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", _prompt_files(), ids=lambda p: p.name)
def test_every_status_a_prompt_names_is_one_the_api_reports(path: Path) -> None:
    """Words in backticks are snapshot statuses the client knows; `active` (the legacy `created`) never alone."""
    quoted = set(re.findall(r"`([^`]+)`", path.read_text(encoding="utf-8"))) - INSTANCE_WORDS.get(path.name, set())
    assert quoted <= set(KNOWN_STATUSES)
    if "active" in quoted:
        assert "created" in quoted  # never `active` alone: today's API says created


async def test_cleanup_deletes_the_chosen_set_with_one_confirmation(client: Client) -> None:
    """The cleanup prompt sends the chosen ids to delete_snapshots (25 a call), not one delete_snapshot each."""
    result = await client.get_prompt("cleanup_snapshots", {"region": "NORD-NO-KRS-1"})
    text = text_of_prompt(result.messages[0].content)
    assert "delete_snapshots, up to 25 ids per call" in text
    assert "delete_snapshot " not in text
    assert "one by one" not in text
    assert "asks me once to confirm its whole set" in text
    listed = {p.name: p for p in (await client.list_prompts()).prompts}
    assert "one at a time" not in (listed["cleanup_snapshots"].description or "")


# -- snapshot_before_change -----------------------------------------------------------------


async def test_snapshot_before_change_is_listed_with_its_arguments(client: Client) -> None:
    """instance (name or id) is required, name is optional."""
    listed = {p.name: p for p in (await client.list_prompts()).prompts}
    prompt = listed["snapshot_before_change"]
    arguments = {a.name: a.required for a in prompt.arguments or []}
    assert arguments == {"instance": True, "name": False}


async def test_snapshot_before_change_walks_through_the_tools(client: Client) -> None:
    """Resolve with list_instances, snapshot_instance with wait=true, report, and what to do on error."""
    result = await client.get_prompt("snapshot_before_change", {"instance": "gpu-worker-1"})
    text = text_of_prompt(result.messages[0].content)
    assert 'Before I change instance "gpu-worker-1"' in text
    assert 'name_contains="gpu-worker-1"' in text
    steps = [text.index(word) for word in ("list_instances", "snapshot_instance", "wait=true", "`error`")]
    assert steps == sorted(steps)
    assert "id, status, size in GiB and region" in text
    assert "should not make the change yet" in text
    assert 'use "".' in text  # no name given: the prompt says how to make one


async def test_snapshot_before_change_without_an_instance_is_refused(client: Client) -> None:
    """The instance is required: prompts/get without it is an error, not a prompt with a hole."""
    from mcp.shared.exceptions import MCPError

    with pytest.raises(MCPError, match="instance"):
        await client.get_prompt("snapshot_before_change", {"name": "x"})


# -- instance completions -------------------------------------------------------------------


async def test_instance_completes_by_name_prefix(client: Client) -> None:
    """The prompt's `instance` completes to the ids of the instances whose name starts with the text."""
    result = await client.complete(BEFORE_CHANGE, {"name": "instance", "value": "GPU-worker"})
    assert result.completion.values == [GPU_WORKER_1, GPU_WORKER_2]
    assert result.completion.total == 2
    assert not result.completion.has_more


async def test_instance_id_completes_by_id_prefix(client: Client) -> None:
    """An argument named instance_id completes the same way, by id prefix."""
    ref = ResourceTemplateReference(type="ref/resource", uri="genesiscloud://snapshots/{snapshot_id}")
    result = await client.complete(ref, {"name": "instance_id", "value": "881a"})
    assert result.completion.values == [TRAINING_BOX]
    nothing = await client.complete(BEFORE_CHANGE, {"name": "instance_id", "value": "no-such"})
    assert nothing.completion.values == []


async def test_instance_completions_read_one_page_and_are_cached(
    settings: Settings, sim: Simulator, sim_http: httpx.AsyncClient
) -> None:
    """Several completions within 30 s cost one GET /instances?page=1&per_page=100; at most 100 values.

    Only the first page is offered, as for snapshot ids: a completion must answer fast.
    """
    seeds = len(sim.instances)
    for n in range(150):  # a second apart: the API orders by created_at, then id (random among equal times)
        sim.add_instance(name=f"bulk-{n:03d}", region=KNOWN_REGIONS[0], created_at=BULK_START + timedelta(seconds=n))
    async with Client(build_server(settings, http=sim_http)) as c:
        results = [await c.complete(BEFORE_CHANGE, {"name": "instance", "value": v}) for v in ("", "b", "bulk-05")]
    reads = [r for r in sim.requests if r.method == "GET"]
    assert [(r.path, r.query) for r in reads] == [("/compute/v1/instances", {"page": "1", "per_page": "100"})]
    assert len(results[0].completion.values) == MAX_COMPLETIONS
    assert sorted(sim.instances[i]["name"] for i in results[2].completion.values) == [f"bulk-05{n}" for n in range(10)]
    first_page = [sim.instances[i]["name"] for i in results[1].completion.values]  # the seeds are older
    assert first_page == [f"bulk-{n:03d}" for n in range(100 - seeds)]


TYPED = "ubuntu-22.04-cuda-12.4-training"[:30]
"""What a person types into a completing argument: 30 keystrokes, a completion request each."""


FAILING_READS = [
    pytest.param(REVIEW, "snapshot_id", "/compute/v1/snapshots", id="snapshot_id"),
    pytest.param(BEFORE_CHANGE, "instance", "/compute/v1/instances", id="instance"),
]


@pytest.mark.parametrize(("ref", "argument", "path"), FAILING_READS)
async def test_completions_against_a_failing_api_cost_one_request_per_30_seconds(
    settings: Settings, sim: Simulator, sim_http: httpx.AsyncClient, ref: PromptReference, argument: str, path: str
) -> None:
    """While the API answers 503, 30 keystrokes send one request (one attempt, no retry), and one more 30 s later.

    A failure is remembered as long as a success: the completions offer nothing meanwhile, and no error.
    """
    sim.faults = Faults(fail_when=lambda r: 503)
    now = [1_000.0]
    server = build_server(settings, http=sim_http, retry=FAST_RETRY, clock=lambda: now[0])
    async with Client(server) as c:
        offered = [(await c.complete(ref, {"name": argument, "value": TYPED[:n]})).completion for n in range(1, 31)]
        during = len(sim.requests)
        now[0] += 29.9
        await c.complete(ref, {"name": argument, "value": TYPED})
        within = len(sim.requests)
        now[0] += 0.2
        await c.complete(ref, {"name": argument, "value": TYPED})
    assert (during, within) == (1, 1)
    assert [(r.method, r.path) for r in sim.requests] == [("GET", path), ("GET", path)]
    assert all(c.values == [] and c.total == 0 for c in offered)


async def test_a_failed_read_keeps_what_was_read_before(
    settings: Settings, sim: Simulator, sim_http: httpx.AsyncClient
) -> None:
    """A failing API after a good read: completions still offer the first page read 30 s before, at one request."""
    now = [1_000.0]
    async with Client(build_server(settings, http=sim_http, retry=FAST_RETRY, clock=lambda: now[0])) as c:
        before = await c.complete(REVIEW, {"name": "snapshot_id", "value": "ubuntu-22"})
        sim.faults = Faults(fail_when=lambda r: 503)
        now[0] += 31
        after = [await c.complete(REVIEW, {"name": "snapshot_id", "value": "ubuntu-22"}) for _ in range(5)]
    assert before.completion.values == [SEED_ID]
    assert [a.completion.values for a in after] == [[SEED_ID]] * 5
    assert [r.query.get("page") for r in sim.requests] == ["1", "1"]


async def test_concurrent_completions_share_one_read(
    settings: Settings, sim: Simulator, sim_http: httpx.AsyncClient
) -> None:
    """Keystrokes that arrive while the first page is being read wait for that read instead of sending their own."""
    sim.faults = Faults(latency=0.05)
    async with Client(build_server(settings, http=sim_http)) as c:
        found: list[list[str]] = []

        async def type_one(prefix: str) -> None:
            found.append((await c.complete(REVIEW, {"name": "snapshot_id", "value": prefix})).completion.values)

        async with anyio.create_task_group() as tg:
            for n in range(1, 11):
                tg.start_soon(type_one, "ubuntu-22"[: n % 9 + 1])
    assert len(sim.requests) == 1
    assert [SEED_ID] in found


async def test_instance_completion_without_token_is_empty_not_an_error(sim_http: httpx.AsyncClient) -> None:
    """With no API token, instance completion offers nothing instead of failing."""
    async with Client(build_server(Settings(token=None), http=sim_http)) as c:
        result = await c.complete(BEFORE_CHANGE, {"name": "instance", "value": ""})
    assert result.completion.values == []


def text_of_prompt(content: object) -> str:
    text = getattr(content, "text", None)
    assert isinstance(text, str), content
    return text


@pytest.mark.parametrize(
    ("snapshot_id", "words"),
    [("not-an-id", "Not a snapshot id"), (UNKNOWN_ID, "no snapshot " + UNKNOWN_ID)],
    ids=["malformed", "unknown"],
)
async def test_reading_a_missing_snapshot_resource_says_why_with_invalid_params(
    settings: Settings, sim: Simulator, mode: str, snapshot_id: str, words: str
) -> None:
    """Item 14: -32602 and a sentence, not -32603 'Error creating resource from template'."""
    async with connect(settings, sim, mode=mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.read_resource(f"genesiscloud://snapshots/{snapshot_id}")
    assert caught.value.error.code == -32602
    assert words in caught.value.error.message
    assert "Error creating resource" not in caught.value.error.message


@pytest.mark.parametrize(
    ("name", "arguments", "words"),
    [
        ("review_snapshot", {}, "needs the argument 'snapshot_id'"),
        ("review_snapshot", {"snapshot_id": "  "}, "needs the argument 'snapshot_id'"),
        ("review_snapshot", {"snapshot_id": "x", "force": "1"}, "has no argument 'force'"),
        ("no_such_prompt", {}, "No such prompt"),
    ],
    ids=["missing", "blank", "unknown-argument", "unknown-prompt"],
)
async def test_prompt_mistakes_are_invalid_params_with_a_sentence(
    settings: Settings, sim: Simulator, mode: str, name: str, arguments: dict[str, str], words: str
) -> None:
    """Item 16: -32602 naming the argument, not code 0 with a Python set."""
    async with connect(settings, sim, mode=mode) as client:
        with pytest.raises(MCPError) as caught:
            await client.get_prompt(name, arguments)
    assert caught.value.error.code == -32602
    assert words in caught.value.error.message
    assert "{" not in caught.value.error.message
