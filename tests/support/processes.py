"""The installed console script in subprocesses: its path, a clean environment, a stdio client, an HTTP server.

Every helper waits on events (a response line, the server's "serving MCP at" line),
never on a clock; `TIMEOUT` bounds a hung child.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from subprocess import PIPE
from typing import Any, TextIO

import anyio
from anyio.abc import ByteReceiveStream
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

SCRIPT = Path(sys.executable).parent / "snapshot-mcp"


TIMEOUT = 30  # a bound for a hung child, never a wait


def base_env(**extra: str) -> dict[str, str]:
    """A minimal environment: none of the caller's GENESISCLOUD_* or SNAPSHOT_MCP_* settings."""
    # PYTHONDONTWRITEBYTECODE: a child leaves no bytecode behind where the caller writes none, so a test run
    # does not make later starts (and benchmarks) faster than they are.
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "PYTHONDONTWRITEBYTECODE")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@asynccontextmanager
async def stdio(
    args: list[str], env: dict[str, str], errlog: TextIO, *, mode: str = "auto", **kwargs: Any
) -> AsyncIterator[Client]:
    """The official client on the console script's stdin/stdout; its stderr into `errlog`."""
    params = StdioServerParameters(command=str(SCRIPT), args=args, env=env)
    with anyio.fail_after(TIMEOUT):
        async with Client(stdio_client(params, errlog=errlog), mode=mode, **kwargs) as client:
            yield client


# --------------------------------------------------------------------------- stdio, raw


async def drain(stream: ByteReceiveStream, sink: bytearray) -> None:
    async for chunk in stream:
        sink.extend(chunk)


# --------------------------------------------------------------------------- HTTP


@asynccontextmanager
async def http_server(
    *args: str, env: dict[str, str], stop: signal.Signals = signal.SIGINT
) -> AsyncIterator[tuple[str, bytearray]]:
    """`snapshot-mcp --transport http --port 0 ...`; yield (MCP URL, stderr so far) once it listens.

    Afterwards `stop` is sent: SIGINT (Ctrl+C) must end it with status 0, SIGTERM with
    0 or the signal's own status (uvicorn re-raises it after its graceful shutdown);
    either way without a traceback.
    """
    command = [str(SCRIPT), "--transport", "http", "--port", "0", *args]
    with anyio.fail_after(TIMEOUT):
        async with await anyio.open_process(command, stdin=PIPE, stdout=PIPE, stderr=PIPE, env=env) as process:
            assert process.stderr is not None
            assert process.stdout is not None
            err = bytearray()
            while (found := re.search(rb"serving MCP at (http://\S+/mcp)", err)) is None:
                chunk = await process.stderr.receive()  # EndOfStream here: it died at start-up
                err.extend(chunk)
            async with anyio.create_task_group() as tg:
                tg.start_soon(drain, process.stderr, err)
                tg.start_soon(drain, process.stdout, bytearray())
                try:
                    yield found.group(1).decode(), err
                finally:
                    process.send_signal(stop)
                    status = await process.wait()
    assert status in ((0,) if stop == signal.SIGINT else (0, -stop)), err.decode()
    assert b"Traceback" not in err, err.decode()


class ServerLog:
    """The server's stderr, read once the process has ended."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def lines(self) -> list[str]:
        return self.path.read_text(encoding="utf-8").splitlines()

    def deletes(self) -> list[str]:
        """The snapshot ids of the DELETE requests that reached the (simulated) API."""
        return [line.split("/snapshots/")[1].split()[0].strip('"') for line in self.lines if "Request: DELETE " in line]

    def audit(self) -> list[str]:
        """The outcome of each audit line, in order."""
        return [line.split(" outcome=")[1].split()[0] for line in self.lines if " audit tool=" in line]
