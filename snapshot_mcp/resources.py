"""Prompts from `prompts/*.md`, the snapshot resource template, argument completions.

A prompt file is Markdown with a TOML header between `+++` lines:

    +++
    name = "import_image"
    title = "Import a disk image as a snapshot"
    description = "One sentence for the prompt picker."

    [[arguments]]
    name = "url"
    description = "http(s) URL of the image"
    required = true
    +++
    The prompt text; {url} is replaced by the argument's value.

Only declared argument names in braces are replaced, so other braces stay as they
are. The server fills its own placeholders too (`SERVER_PLACEHOLDERS`): `{known_regions}`
becomes the regions this version knows (`models.KNOWN_REGIONS`), in the text when the
prompt is rendered and in the header's descriptions when the file is loaded, so no
prompt carries a list of regions of its own. A malformed file stops start-up with an
error naming the file.
"""

import contextlib
import re
import time
import tomllib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument
from mcp.shared.exceptions import MCPError
from mcp.types import (
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
)
from mcp_types.jsonrpc import INVALID_PARAMS

from . import messages
from .errors import NotFound, SnapshotMCPError
from .models import KNOWN_REGIONS, check_snapshot_id
from .sending import RetryPolicy
from .state import AppState, app_state, current_state

SNAPSHOT_URI = "genesiscloud://snapshots/{snapshot_id}"
MAX_ARGUMENT_LENGTH = 2048
COMPLETION_CACHE_SECONDS = 30.0
MAX_COMPLETIONS = 100
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
SERVER_PLACEHOLDERS: dict[str, str] = {"known_regions": ", ".join(KNOWN_REGIONS)}
"""What the server itself fills in a prompt: `{known_regions}` from the one list of known regions."""
_SERVER_RE = re.compile(r"\{(" + "|".join(map(re.escape, SERVER_PLACEHOLDERS)) + r")\}")


def fill_server_placeholders(text: str) -> str:
    """`text` with the server's own placeholders (`{known_regions}`) filled; argument placeholders left as they are."""
    return _SERVER_RE.sub(lambda m: SERVER_PLACEHOLDERS[m.group(1)], text)


class PromptFileError(SnapshotMCPError):
    """A prompt file cannot be loaded; the message names the file."""

    who = "operator"


@dataclass(frozen=True)
class PromptFile:
    """One parsed prompt file."""

    path: Path
    name: str
    title: str | None
    description: str
    arguments: tuple[PromptArgument, ...]
    body: str

    @property
    def text(self) -> str:
        """The body with the server's placeholders filled and the arguments' left (the bundle manifest's text)."""
        return fill_server_placeholders(self.body)

    def render(self, values: dict[str, str]) -> str:
        declared = {a.name for a in self.arguments}
        unknown = set(values) - declared
        if unknown:
            raise ValueError(f"unknown arguments for prompt {self.name}: {', '.join(sorted(unknown))}")
        for key, value in values.items():
            if len(value) > MAX_ARGUMENT_LENGTH:
                raise ValueError(f"argument {key} is longer than {MAX_ARGUMENT_LENGTH} characters")
        names = [*declared, *SERVER_PLACEHOLDERS]
        pattern = re.compile(r"\{(" + "|".join(map(re.escape, names)) + r")\}")

        def fill(match: re.Match[str]) -> str:  # one pass: an argument's value is never scanned again
            name = match.group(1)
            return values.get(name, "").strip() if name in declared else SERVER_PLACEHOLDERS[name]

        return pattern.sub(fill, self.body)


def default_prompts_dir() -> Path:
    """`snapshot_mcp/prompts` in an installed wheel; the repository's `prompts/` otherwise."""
    packaged = Path(str(resources.files("snapshot_mcp"))) / "prompts"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parent.parent / "prompts"


def parse_prompt_file(path: Path) -> PromptFile:
    """Parse one prompt file or raise `PromptFileError` naming it."""

    def fail(problem: str) -> PromptFileError:
        return PromptFileError(f"prompt file {path}: {problem}")

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise fail(f"cannot be read ({type(exc).__name__})") from exc
    parts = text.split("+++\n", 2)
    if len(parts) != 3 or parts[0].strip():
        raise fail("must start with a TOML header between two '+++' lines")
    try:
        header = tomllib.loads(parts[1])
    except tomllib.TOMLDecodeError as exc:
        raise fail(f"header is not valid TOML ({exc})") from exc
    unknown = set(header) - {"name", "title", "description", "arguments"}
    if unknown:
        raise fail(f"unknown header keys: {', '.join(sorted(unknown))}")
    name, description, title = header.get("name"), header.get("description"), header.get("title")
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise fail("'name' must be lower-case letters, digits and underscores")
    if not isinstance(description, str) or not description.strip():
        raise fail("'description' is required")
    if title is not None and not isinstance(title, str):
        raise fail("'title' must be text")
    raw_arguments = header.get("arguments", [])
    if not isinstance(raw_arguments, list):
        raise fail("'arguments' must be a list of [[arguments]] tables")
    arguments = [_argument(raw, fail) for raw in raw_arguments]
    if len({a.name for a in arguments}) != len(arguments):
        raise fail("argument names must be unique")
    body = parts[2].strip()
    if not body:
        raise fail("the prompt text after the header is empty")
    about = fill_server_placeholders(description.strip())
    return PromptFile(path, name, title, about, tuple(arguments), body + "\n")


def _argument(raw: object, fail: Callable[[str], PromptFileError]) -> PromptArgument:
    """One `[[arguments]]` table; its description gets the server's placeholders filled."""
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str) or not _NAME_RE.fullmatch(raw["name"]):
        raise fail("each argument needs a 'name' of lower-case letters, digits and underscores")
    name: str = raw["name"]
    extra = set(raw) - {"name", "description", "required"}
    if extra or not isinstance(raw.get("required", False), bool):
        raise fail(f"argument {name}: only name, description and required (true/false) are allowed")
    if name in SERVER_PLACEHOLDERS:
        raise fail(f"argument {name}: the name is taken by the server's own placeholder {{{name}}}")
    about = raw.get("description")
    if about is not None and not isinstance(about, str):
        raise fail(f"argument {name}: 'description' must be text")
    described = None if about is None else fill_server_placeholders(about)
    return PromptArgument(name=name, description=described, required=raw.get("required", False))


def load_prompts(directory: Path | None = None) -> list[PromptFile]:
    """Every `*.md` prompt in `directory`, sorted by name; names must be unique."""
    folder = directory or default_prompts_dir()
    if not folder.is_dir():
        raise PromptFileError(f"prompt folder {folder} does not exist")
    prompts = [parse_prompt_file(path) for path in sorted(folder.glob("*.md"))]
    seen: dict[str, Path] = {}
    for prompt in prompts:
        if prompt.name in seen:
            raise PromptFileError(
                f"prompt file {prompt.path}: name {prompt.name!r} is already used by {seen[prompt.name]}"
            )
        seen[prompt.name] = prompt.path
    return sorted(prompts, key=lambda p: p.name)


def _as_prompt(prompt: PromptFile) -> Prompt:
    def render(**values: str) -> str:
        return prompt.render(values)

    return Prompt(
        name=prompt.name,
        title=prompt.title,
        description=prompt.description,
        arguments=list(prompt.arguments),
        fn=render,
        context_kwarg=None,
    )


def _match(candidates: Iterable[str], prefix: str) -> Completion:
    needle = prefix.strip().casefold()
    values = [c for c in candidates if c.casefold().startswith(needle)]
    return Completion(values=values[:MAX_COMPLETIONS], total=len(values), has_more=len(values) > MAX_COMPLETIONS)


async def snapshot_resource(snapshot_id: str, ctx: Context[Any, Any]) -> str:
    """`genesiscloud://snapshots/{snapshot_id}`: one snapshot as JSON.

    A malformed or unknown id is "resource not found" (-32602, SEP-2164) with a sentence
    saying which; an API failure is a resource error (-32603) saying whether retrying helps.
    """
    try:
        checked = check_snapshot_id(snapshot_id)
    except ValueError as exc:
        raise ResourceNotFoundError(messages.not_a_snapshot_id(str(exc))) from None
    try:
        snapshot = await app_state(ctx).ops.get(checked)
    except NotFound:
        raise ResourceNotFoundError(messages.error_text(NotFound(404, None, ""), checked)) from None
    except SnapshotMCPError as exc:
        raise ResourceError(messages.error_text(exc, checked)) from exc
    from .views import SnapshotView  # the result models load with the first read, not with the server

    return SnapshotView.of(snapshot).model_dump_json(exclude_none=True)


ONE_ATTEMPT = RetryPolicy(max_attempts=1)
"""A completion answers while the person types: one attempt, never a retry's back-off."""


async def _first_snapshots(app: AppState) -> list[tuple[str, str]]:
    page = await app.ops.client.list_page(1, 100, retry=ONE_ATTEMPT)
    return [(snapshot.id, snapshot.name.raw) for snapshot in page.snapshots]


async def _first_instances(app: AppState) -> list[tuple[str, str]]:
    page = await app.ops.client.list_instances(1, 100, retry=ONE_ATTEMPT)
    return [(instance.id, instance.name.raw) for instance in page.instances]


@dataclass
class _FirstPage:
    """The (id, name) pairs of one listing's first page of 100, read at most once every 30 s.

    A failed read (no token, the API away or failing) counts as a read: for 30 s the
    completions offer what was read before, and no error reaches the client. So keystrokes
    against a failing API cost one request per 30 s, not one (and its retries) each.
    Concurrent completions wait for the one read in flight instead of starting their own.
    """

    read: Callable[[AppState], Awaitable[list[tuple[str, str]]]]
    clock: Callable[[], float] = time.monotonic
    at: float | None = None
    entries: list[tuple[str, str]] = field(default_factory=list)
    lock: anyio.Lock = field(default_factory=anyio.Lock)

    def _due(self) -> bool:
        """No read yet, or the last one is 30 s old (or the clock went back)."""
        return self.at is None or not 0 <= self.clock() - self.at < COMPLETION_CACHE_SECONDS

    async def complete(self, prefix: str) -> Completion:
        """The ids whose id or name starts with `prefix` (case-insensitive), at most `MAX_COMPLETIONS`."""
        app = current_state()  # completions have no tool context: the middleware exposes the state
        if app is None:
            return Completion(values=[], total=0, has_more=False)
        async with self.lock:
            if self._due():
                self.at = self.clock()
                with contextlib.suppress(SnapshotMCPError):
                    self.entries = await self.read(app)
        needle = prefix.strip().casefold()
        ids = [id_ for id_, name in self.entries if id_.startswith(needle) or name.casefold().startswith(needle)]
        return Completion(values=ids[:MAX_COMPLETIONS], total=len(ids), has_more=len(ids) > MAX_COMPLETIONS)


INSTANCE_ARGUMENTS = ("instance_id", "instance")
"""Argument names completed with instance ids (a prompt's `instance` takes a name or an id)."""


class Completions:
    """Argument completions: regions from the known list; snapshot and instance ids from the first page of each."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.snapshots = _FirstPage(_first_snapshots, clock)
        self.instances = _FirstPage(_first_instances, clock)

    async def complete(
        self,
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        if argument.name == "region":
            return _match(KNOWN_REGIONS, argument.value)
        if argument.name == "snapshot_id":
            return await self.snapshots.complete(argument.value)
        if argument.name in INSTANCE_ARGUMENTS:
            return await self.instances.complete(argument.value)
        return None


def register_catalog(
    server: MCPServer[Any], *, prompts_dir: Path | None = None, clock: Callable[[], float] = time.monotonic
) -> None:
    """Register the prompts (and their argument check), the snapshot resource template and completions.

    `clock` times the completions' 30 s memory of the first pages.
    """
    prompts = load_prompts(prompts_dir)
    for prompt in prompts:
        server.add_prompt(_as_prompt(prompt))
    server.middleware.append(PromptArguments(prompts))
    server.resource(
        SNAPSHOT_URI,
        name="snapshot",
        title="Snapshot",
        description="One snapshot as JSON (read-only).",
        mime_type="application/json",
    )(snapshot_resource)
    server.completion()(Completions(clock).complete)  # type: ignore[no-untyped-call]  # the SDK leaves it untyped


class PromptArguments:
    """Server middleware: prompts/get with a missing, empty or unknown argument is -32602 with a sentence.

    The SDK answers a missing argument with code 0 and a Python set in the text.
    """

    def __init__(self, prompts: Iterable[PromptFile]) -> None:
        self._prompts = {prompt.name: prompt for prompt in prompts}

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method == "prompts/get":
            params = ctx.params or {}
            problem = self._problem(params.get("name"), params.get("arguments"))
            if problem is not None:
                raise MCPError(code=INVALID_PARAMS, message=problem)
        return await call_next(ctx)

    def _problem(self, name: object, arguments: object) -> str | None:
        prompt = self._prompts.get(name) if isinstance(name, str) else None
        if prompt is None:
            return messages.no_such_prompt(sorted(self._prompts))
        given = arguments if isinstance(arguments, dict) else {}
        declared = {argument.name for argument in prompt.arguments}
        unknown = sorted(set(given) - declared)
        missing = [a.name for a in prompt.arguments if a.required and not str(given.get(a.name) or "").strip()]
        if missing or unknown:
            return messages.prompt_arguments(prompt.name, missing, unknown, sorted(declared))
        return None
