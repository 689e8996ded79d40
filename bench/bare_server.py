"""The baseline: a bare `MCPServer` with one tool making the same single HTTP call.

    python bench/bare_server.py                 serve over stdio
    python bench/bare_server.py --http PORT     serve streamable HTTP on 127.0.0.1:PORT/mcp

`get_snapshot(snapshot_id)` sends `GET {GENESISCLOUD_ENDPOINT}/snapshots/{id}` with the
bearer token from `GENESISCLOUD_TOKEN` through one `httpx.AsyncClient` opened by the
lifespan (one shared connection pool, sized like the project's), and returns the
response body as text. Nothing else: no validation, retries, rate limit or formatting.
This is the floor the project's figures are divided by. It imports only what any stdio
MCP server must (the SDK, httpx).
"""

import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from mcp.server.mcpserver import Context, MCPServer

DEFAULT_ENDPOINT = "http://127.0.0.1:8089/compute/v1"
# The same pool and time-outs as the project's client (`snapshot_mcp.client.build_http_client`),
# so the comparison measures the server, not pool tuning. (httpx's default pool, 100
# connections / 20 kept alive, costs more per request under 20 concurrent calls.)
LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10)
TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=10.0, pool=5.0)


def build_bare_server(
    *, http: httpx.AsyncClient | None = None, endpoint: str | None = None, token: str | None = None
) -> MCPServer[httpx.AsyncClient]:
    """The baseline server; `http` replaces the lifespan's own client (in-memory benchmarks)."""
    base = (endpoint or os.environ.get("GENESISCLOUD_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")
    auth = {"Authorization": f"Bearer {token or os.environ.get('GENESISCLOUD_TOKEN', 'x')}"}

    @asynccontextmanager
    async def lifespan(_: MCPServer[httpx.AsyncClient]) -> AsyncIterator[httpx.AsyncClient]:
        if http is not None:
            yield http
            return
        async with httpx.AsyncClient(timeout=TIMEOUT, limits=LIMITS) as client:
            yield client

    server: MCPServer[httpx.AsyncClient] = MCPServer("bare", lifespan=lifespan, log_level="WARNING")

    @server.tool()
    async def get_snapshot(snapshot_id: str, ctx: Context[httpx.AsyncClient, Any]) -> str:
        """Get one snapshot by id."""
        client = ctx.request_context.lifespan_context
        response = await client.get(f"{base}/snapshots/{snapshot_id}", headers=auth)
        return response.text

    return server


def main(argv: list[str]) -> None:
    server = build_bare_server()
    if len(argv) == 2 and argv[0] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(argv[1]))
    elif not argv:
        server.run()
    else:
        raise SystemExit("usage: bare_server.py [--http PORT]")


if __name__ == "__main__":
    main(sys.argv[1:])
