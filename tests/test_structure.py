"""The package's shape: short functions, and a `build_server` that only wires."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "snapshot_mcp"
MAX_LINES = 60


def _functions() -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
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
