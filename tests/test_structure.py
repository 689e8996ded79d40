"""The package's shape: short functions, a `build_server` that only wires, imports that go down the
layers without a cycle, and one declaration per tool, written in the tool's own module."""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import pytest

from snapshot_mcp.apps.tools import APP_TOOLS
from snapshot_mcp.declaration import ToolDeclaration
from snapshot_mcp.settings import Settings
from snapshot_mcp.tools import DECLARATIONS

PACKAGE = Path(__file__).resolve().parent.parent / "snapshot_mcp"
MAX_LINES = 60


def _functions() -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                length = node.end_lineno - node.lineno + 1
                found.append((f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name}", length))
    return found


def test_no_function_is_longer_than_sixty_lines() -> None:
    """Every function in snapshot_mcp/ (decorators excluded, docstring included) fits in 60 lines."""
    functions = _functions()
    assert len(functions) > 100  # the walk found the package
    too_long = [f"{where} ({length} lines)" for where, length in functions if length > MAX_LINES]
    assert too_long == []


@pytest.mark.parametrize("closure", [ast.FunctionDef, ast.AsyncFunctionDef])
def test_build_server_defines_no_tool(closure: type[ast.stmt]) -> None:
    """build_server wires: it defines no function of its own (no tool is a closure over settings)."""
    tree = ast.parse((PACKAGE / "server.py").read_text(encoding="utf-8"))
    [build] = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "build_server"]
    assert not [n for n in ast.walk(build) if isinstance(n, closure) and n is not build]


# -- the import graph --------------------------------------------------------------------------

LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("entry", ("__main__", "cli", "demo", "http", "oauth")),
    ("server", ("server",)),
    ("surface", ("scopes", "tools", "apps", "resources", "middleware", "declaration")),
    ("state", ("state",)),
    ("confirmation", ("confirm", "browser", "audit")),
    ("operations", ("operations", "dedupe")),
    ("client", ("client",)),
    ("transport", ("sending", "ratelimit", "store", "store_redis")),
    ("words", ("messages", "views")),
    ("base", ("", "models", "errors", "settings", "redact", "schema", "logs", "safe_text", "telemetry", "otel_export")),
    ("simulator", ("simulator",)),
)
"""Top to bottom: a module imports modules of its own layer or a lower one (`""` is the package itself)."""

NEVER: dict[str, tuple[str, ...]] = {
    "operations": ("messages", "views", "declaration", "tools", "apps", "confirm", "state", "mcp"),
    "dedupe": ("messages", "views", "declaration", "tools", "apps", "confirm", "state", "mcp"),
    "client": ("mcp",),
    "sending": ("mcp",),
    "ratelimit": ("mcp",),
    "messages": ("mcp",),
    "browser": ("mcp", "state", "tools", "apps"),
    "models": ("mcp",),
    "errors": ("mcp",),
    "telemetry": ("mcp",),
    "simulator": ("mcp", *(name for _, names in LAYERS for name in names if name not in ("", "simulator"))),
}
"""What a module (or package) must not import even where the layers would allow it: operations return
facts, not words or views; below the tools nothing speaks MCP (the browser page speaks HTTP to a person, and
decides through `confirm`, not through the server's state); the simulator is the API, not the server."""
OUTSIDE = frozenset({"mcp"})
"""The names in `NEVER` that are libraries, not modules of the package."""


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


@functools.cache
def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """What `name` imports: package modules (with the packages they sit in) and outside top-level names.

    Every import counts, also one inside a function or under TYPE_CHECKING: each is a dependency.
    """
    here = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom):
            base = ".".join(here.split(".")[: len(here.split(".")) - node.level + 1]) if node.level else ""
            target = ".".join(p for p in (base, node.module or "") if p)
            candidates = [f"{target}.{alias.name}" for alias in node.names]
            found |= {c for c in candidates if c in modules} or {target}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    packages = {".".join(m.split(".")[:i]) for m in found if m in modules for i in range(2, m.count(".") + 1)}
    ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
    internal = {m for m in found | packages if m in modules and m != name and m not in ancestors}
    return internal | {m.split(".")[0] for m in found if m.split(".")[0] != "snapshot_mcp"}


@functools.cache
def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _short(module: str) -> str:
    return module.removeprefix("snapshot_mcp").removeprefix(".")


def _layer(module: str) -> int:
    """The layer's index (0 is the top); a module no layer names fails the test that lists them."""
    short = _short(module)
    for index, (_, names) in enumerate(LAYERS):
        if any(short == n or (n and short.startswith(n + ".")) for n in names):
            return index
    return -1


def test_the_graph_is_read() -> None:
    """The reader finds the package's real edges, the implied package ones too, and outside libraries."""
    graph = _graph()
    assert len(graph) > 40
    assert "snapshot_mcp.client" in graph["snapshot_mcp.operations"]
    assert "snapshot_mcp.tools.writing" in graph["snapshot_mcp.tools.instances"]  # from .writing import …
    assert "snapshot_mcp.confirm" not in graph["snapshot_mcp.confirm.card"]  # its own package: not an edge
    assert "snapshot_mcp.confirm" in graph["snapshot_mcp.state"]  # importing confirm.card runs confirm/__init__
    assert {"httpx", "anyio"} <= graph["snapshot_mcp.client"]
    assert "mcp" in graph["snapshot_mcp.tools.reading"]


def test_every_module_has_a_layer() -> None:
    """A new module is placed in a layer here before anything may import it."""
    assert [name for name in _graph() if _layer(name) < 0] == []


def test_the_package_has_no_import_cycle() -> None:
    """No module depends on itself through others (Tarjan's strongly connected components)."""
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph[node] & graph.keys()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while (member := stack.pop()) != node:
                component.append(member)
            if component:
                cycles.append(sorted([node, *component]))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    assert cycles == []


def test_imports_go_down_the_layers_only() -> None:
    """tools → confirm → operations → client → sending → words → base, never back up."""
    graph = _graph()
    upward = [
        f"{_short(a)} ({LAYERS[_layer(a)][0]}) imports {_short(b)} ({LAYERS[_layer(b)][0]})"
        for a, targets in graph.items()
        for b in targets & graph.keys()
        if _layer(b) < _layer(a)
    ]
    assert upward == []


def test_no_module_imports_what_it_must_not() -> None:
    """Operations and dedupe build no words or views; below the tools nothing speaks MCP; the simulator stands alone."""
    graph = _graph()
    found = [
        f"{_short(a)} imports {_short(b) or b}"
        for a, targets in graph.items()
        for b in targets
        for owner, banned in NEVER.items()
        if _short(a) == owner or _short(a).startswith(owner + ".")
        if any(_banned(b, ban) for ban in banned)
    ]
    assert found == []


def _banned(module: str, ban: str) -> bool:
    if ban in OUTSIDE:
        return module == ban
    return module.startswith("snapshot_mcp") and (_short(module) == ban or _short(module).startswith(ban + "."))


# -- one declaration per tool ------------------------------------------------------------------

SETTINGS = (
    Settings(),
    Settings(confirm_channels=("card", "form", "token"), wait_timeout=90),
    Settings(confirm_channels=("form",)),
    Settings(confirm_channels=("token",)),
    Settings(delete_confirmation="token"),
    Settings(delete_confirmation="none"),
)
"""Settings that change what the descriptions say (the confirmation ladder, a duration)."""
CLIENTS = ("demo",)
"""Modules that call the tools by name as a client does (a call, not a list of tools)."""
NAMED_ELSEWHERE = {("confirm.decisions", "confirm_deletion")}
"""A tool name written outside its module: a decision's audit lines name the card's deciding tool, whichever
face (the card, the browser page) decided; `confirm` sits below `apps` and cannot read its declaration."""


def _declared() -> list[ToolDeclaration]:
    return [*DECLARATIONS, *APP_TOOLS]


def _declaration_calls() -> dict[str, list[ast.Call]]:
    """Every `ToolDeclaration(...)` written in the package, by module."""
    found: dict[str, list[ast.Call]] = {}
    for name, path in _modules().items():
        for node in ast.walk(_tree(path)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "ToolDeclaration":
                found.setdefault(_short(name), []).append(node)
    return found


def _home() -> dict[str, str]:
    """Each tool's name → the module that declares it."""
    return {
        str(keyword.value.value): module
        for module, calls in _declaration_calls().items()
        for call in calls
        for keyword in call.keywords
        if keyword.arg == "name" and isinstance(keyword.value, ast.Constant)
    }


@functools.cache
def _strings(path: Path) -> list[str]:
    """Every string literal of a module, and the literal parts of its f-strings."""
    return [
        node.value for node in ast.walk(_tree(path)) if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


def _words(declared: ToolDeclaration) -> list[str]:
    """The tool's title and each description it can have."""
    return [text for text in (declared.title, *(declared.describe(s) for s in SETTINGS)) if text]


def test_every_declaration_is_registered_and_written_in_its_module() -> None:
    """Each ToolDeclaration in the source is one the server registers; name and title are literals there."""
    calls = _declaration_calls()
    assert sum(len(c) for c in calls.values()) == len(_declared()) == len({d.name for d in _declared()})
    for module, found in calls.items():
        assert module.startswith(("tools.", "apps.")), module
        for call in found:
            values = {keyword.arg: keyword.value for keyword in call.keywords}
            assert isinstance(values["name"], ast.Constant), module
            assert isinstance(values["title"], ast.Constant), module  # a literal, or None for an app-only tool
            description = values["description"]
            local = {n.name for n in _tree(_modules()[f"snapshot_mcp.{module}"]).body if isinstance(n, ast.FunctionDef)}
            assert isinstance(description, ast.Constant) or (
                isinstance(description, ast.Name) and description.id in local
            ), f"{module}: a description is a literal or a function of this module"


def test_no_title_or_description_is_written_outside_its_module() -> None:
    """No module but the tool's own holds its title or a piece of its description.

    A literal of three words or more found inside a tool's title or any of its descriptions
    may only be in a module that declares a tool whose words hold it; each title is written once.
    """
    home = _home()
    words = {declared.name: _words(declared) for declared in _declared()}
    assert all(len(texts) >= 2 for name, texts in words.items() if home[name].startswith("tools."))
    misplaced = []
    for name, path in _modules().items():
        for literal in _strings(path):
            if sum(word.isalpha() for word in literal.split()) < 3:
                continue
            owners = {home[tool] for tool, texts in words.items() if any(literal in text for text in texts)}
            if owners and _short(name) not in owners:
                misplaced.append(f"{_short(name)}: {literal!r} (belongs to {', '.join(sorted(owners))})")
    titles = [
        (name, d.title) for d in _declared() if d.title for name in _modules() if d.title in _strings(_modules()[name])
    ]
    assert misplaced == []
    assert sorted(_short(module) for module, _ in titles) == sorted(home[d.name] for d in _declared() if d.title)


def test_no_tool_name_is_written_outside_its_module() -> None:
    """A tool's name is a literal only where it is declared: everything else reads the declaration."""
    home = _home()
    stray = [
        f"{_short(module)}: {literal!r}"
        for module, path in _modules().items()
        for literal in _strings(path)
        if literal in home
        and _short(module) != home[literal]
        and _short(module) not in CLIENTS
        and (_short(module), literal) not in NAMED_ELSEWHERE
    ]
    assert stray == []


def test_only_the_registrations_add_tools_and_only_from_declarations() -> None:
    """add_tool is called in `tools.register` and `apps.add_card_tools` only,
    in a loop over declarations, with every name, title and description read from the one the loop is at."""
    places = []
    for name, path in _modules().items():
        tree = _tree(path)
        loop_of = {
            id(call): loop.target.id
            for loop in ast.walk(tree)
            if isinstance(loop, ast.For) and isinstance(loop.target, ast.Name)
            for call in ast.walk(loop)
        }
        for call in ast.walk(tree):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                continue
            if call.func.attr not in ("add_tool", "tool", "from_function") or _root(call.func) == "super":
                continue
            places.append(_short(name))
            roots = {kw.arg: _root(kw.value) for kw in call.keywords if kw.arg in ("name", "title", "description")}
            assert roots == dict.fromkeys(("name", "title", "description"), loop_of.get(id(call))), _short(name)
    assert sorted(places) == ["apps", "tools"]


def _root(node: ast.expr) -> str | None:
    """The name an attribute chain or call starts from (`declared` of `declared.describe(settings)`)."""
    while isinstance(node, ast.Attribute | ast.Call):
        node = node.value if isinstance(node, ast.Attribute) else node.func
    return node.id if isinstance(node, ast.Name) else None


# -- the tests' layout -------------------------------------------------------------------------

ROOT = PACKAGE.parent
TESTS = ROOT / "tests"
APART = ("campaigns", "support")
"""Folders of tests/ that mirror no module: campaigns over the whole server, and what tests share."""
WHOLE_PACKAGE = {"test_structure.py"}
"""Test modules about the package as a whole, not one of its modules."""
MIRRORED = {"snapshot_mcp": PACKAGE, "scripts": ROOT / "scripts"}
"""tests/<path>/test_<module>.py mirrors snapshot_mcp/<path>/<module>.py; tests/scripts/ mirrors scripts/."""
UUID_TEXT = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _test_modules() -> list[Path]:
    return sorted(path for path in TESTS.rglob("test_*.py") if "node_modules" not in path.parts)


def _mirrored(test: Path) -> Path | None:
    """The module `test` mirrors, if it exists: `test_x.py` is `x.py` or `_x.py`, `test_init.py` is `__init__.py`."""
    parts = test.relative_to(TESTS).parts
    root, folders = (MIRRORED["scripts"], parts[1:-1]) if parts[0] == "scripts" else (PACKAGE, parts[:-1])
    name = test.name.removeprefix("test_").removesuffix(".py")
    candidates = ["__init__.py"] if name == "init" else [f"{name}.py", f"_{name}.py"]
    found = [root.joinpath(*folders, candidate) for candidate in candidates]
    return next((path for path in found if path.is_file()), None)


def test_every_unit_test_module_mirrors_a_module() -> None:
    """A unit test of snapshot_mcp/<path>/<module>.py is tests/<path>/test_<module>.py: found in one guess."""
    modules = _test_modules()
    assert len(modules) > 60  # the walk found the tests
    unit = [m for m in modules if m.relative_to(TESTS).parts[0] not in APART and m.name not in WHOLE_PACKAGE]
    assert [str(m.relative_to(ROOT)) for m in unit if _mirrored(m) is None] == []
    assert _mirrored(TESTS / "confirm" / "test_decisions.py") == PACKAGE / "confirm" / "decisions.py"
    assert _mirrored(TESTS / "simulator" / "test_core.py") == PACKAGE / "simulator" / "_core.py"


def test_every_test_folder_is_a_package() -> None:
    """Mirrored folders repeat basenames (test_card.py, confirm/test_card.py): as packages they never collide."""
    folders = {path.parent for path in TESTS.rglob("*.py") if "node_modules" not in path.parts}
    assert TESTS / "confirm" in folders
    assert sorted(str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").is_file()) == []


def test_no_test_module_imports_another() -> None:
    """What tests share lives in tests/support (or a conftest); a test module imports no other test module."""
    importing = re.compile(r"^\s*(?:from\s+[\w.]*\btest_\w*\s+import|import\s+[\w.]*\btest_\w*)", re.M)
    assert importing.search("from tests.confirm.test_card import card")
    found = [
        f"{module.relative_to(ROOT)}: {line.group(0).strip()}"
        for module in _test_modules()
        for line in importing.finditer(module.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_no_test_writes_a_seed_id_by_hand() -> None:
    """Every id the simulator's seed holds is named in tests/support and imported from there."""
    seed = set(re.findall(UUID_TEXT, (PACKAGE / "simulator" / "_data.py").read_text(encoding="utf-8")))
    assert len(seed) > 20  # the seed's snapshots, instances and what they name
    support = TESTS / "support"
    written = {
        f"{path.relative_to(ROOT)}: {found}"
        for path in TESTS.rglob("*.py")
        if support not in path.parents and "node_modules" not in path.parts
        for found in re.findall(UUID_TEXT, path.read_text(encoding="utf-8"))
        if found in seed
    }
    assert written == set()
    assert seed & set(re.findall(UUID_TEXT, (support / "__init__.py").read_text(encoding="utf-8")))


DOCS = ("README.md", "SECURITY.md", "ARCHITECTURE.md", "BENCHMARKS.md", "RELEASING.md", "stress/README.md")
"""The documents that name a test file (relative to tests/, or with `tests/`) as the proof of a claim."""


def test_every_test_the_documents_name_exists() -> None:
    """`tests/<path>.py` and `<path>.py::test_name` in the documents point at a file and a test that exist."""
    named: set[tuple[str, str, str]] = set()
    for doc in DOCS:
        text = (ROOT / doc).read_text(encoding="utf-8")
        for path, test in re.findall(r"(?<![\w/>])(?:tests/)?((?:[a-z_]+/)*test_[a-z0-9_]+\.py)(?:::(\w+))?", text):
            named.add((doc, path, test))
    assert len(named) > 50  # the documents were read
    missing = []
    for doc, path, test in sorted(named):
        file = TESTS / path
        if not file.is_file():
            missing.append(f"{doc}: {path}")
        elif test and not re.search(rf"^(?:async )?def {test}\(", file.read_text(encoding="utf-8"), re.M):
            missing.append(f"{doc}: {path}::{test}")
    assert missing == []
