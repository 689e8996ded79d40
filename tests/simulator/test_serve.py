"""`simulator._serve`: the simulator as a real HTTP server, its logs on stderr."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from snapshot_mcp.simulator import (
    Simulator,
    serve,
)


def test_serve_uses_uvicorn_with_stderr_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve() hands the ASGI app to uvicorn.run with every log handler on stderr."""
    uvicorn = pytest.importorskip("uvicorn")
    calls: list[tuple[Callable[..., Any], dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    serve("127.0.0.1", 9999, simulator=Simulator(seed=False), log_level="warning")
    (app, kwargs), *_ = calls
    assert callable(app)
    assert (kwargs["host"], kwargs["port"], kwargs["log_level"]) == ("127.0.0.1", 9999, "warning")
    streams = {h["stream"] for h in kwargs["log_config"]["handlers"].values()}
    assert streams == {"ext://sys.stderr"}
