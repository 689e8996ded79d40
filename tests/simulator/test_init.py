"""`simulator`: the package imports only what an API needs (uvicorn only to serve)."""

from __future__ import annotations

import ast
from pathlib import Path

from snapshot_mcp import simulator as simulator_module


def test_module_imports_are_light() -> None:
    """Top-level imports are stdlib, httpx, anyio and the package's own modules (uvicorn only in serve)."""
    files = sorted(Path(simulator_module.__file__).parent.glob("*.py"))
    assert len(files) >= 2
    top: set[str] = set()
    for file in files:
        for node in ast.parse(file.read_text()).body:
            if isinstance(node, ast.Import):
                top.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                top.add(node.module.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 1, "relative imports stay inside the simulator package"
    assert "snapshot_mcp" not in top
    assert {"httpx", "anyio"} <= top
    assert not top & {"uvicorn", "starlette", "pydantic", "mcp"}
