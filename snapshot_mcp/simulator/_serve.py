"""The simulator as a real HTTP server: its ASGI app under uvicorn, logs on stderr."""

from __future__ import annotations

import copy
import sys

from ._core import Simulator


def serve(
    host: str = "127.0.0.1",
    port: int = 8089,
    *,
    simulator: Simulator | None = None,
    log_level: str = "info",
) -> None:
    """Run the simulator as a real HTTP server with uvicorn; all logs go to stderr."""
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    log_config = copy.deepcopy(LOGGING_CONFIG)
    for handler in log_config.get("handlers", {}).values():
        handler["stream"] = "ext://sys.stderr"
    sim = simulator if simulator is not None else Simulator()
    print(f"snapshot simulator on http://{host}:{port}/compute/v1", file=sys.stderr)
    uvicorn.run(sim.asgi_app(), host=host, port=port, log_level=log_level, log_config=log_config)
