"""HTTP: requests/s of `get_snapshot` over streamable HTTP with 20 concurrent clients, and idle RSS.

    python -m bench.http_load [--clients 20] [--calls 10] [--rounds 12] [--max-seconds 10]

Both servers serve streamable HTTP on loopback (the project: `python -m snapshot_mcp
--transport http --rate-limit 1e9`, the API rate limit lifted, see below; the baseline:
`python bench/bare_server.py --http PORT`) and call one simulator served by uvicorn
on loopback. Each of `--clients` clients opens its own MCP session (2025-11-25
handshake) on its own connection and makes `--calls` sequential `tools/call`s; a round
ends when all are done or `--max-seconds` passed. Rounds alternate project and bare
(order swapping every pair); the ratio is the median over pairs of project/bare, beside
the median requests/s of each.

The client is raw JSON-RPC over httpx (SSE answers parsed by hand), so the load
generator, which shares the 2 cores, spends as little as possible. Each server's CPU
time per call (from /proc) is reported beside: on a shared machine it is steadier than
requests/s, which depend on what else runs. Idle RSS is read
from /proc after one session made one call and the server sat idle for a second.

The project's API rate limit (10 requests/s, shared by all sessions: the API key's
limit) is lifted for the comparison, since the baseline has none; the shipped rate is
measured too (a short round), for the record.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

import anyio
import httpx

from ._common import (
    BARE_CMD,
    PROJECT_CMD,
    PROJECT_UNTHROTTLED_CMD,
    PROTOCOL,
    SNAPSHOT_ID,
    Figure,
    at_most,
    cpu_seconds,
    free_port,
    initialize_params,
    median,
    print_figures,
    rss_kib,
    server_env,
    simulator_process,
    spawn,
    wait_port,
)

RPS_TARGET = 0.85
RSS_TARGET = 1.15
ACCEPT = "application/json, text/event-stream"


class Session:
    """One MCP client session over streamable HTTP, speaking raw JSON-RPC."""

    def __init__(self, http: httpx.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
        self._next = 0

    async def _post(self, message: dict[str, Any]) -> httpx.Response:
        response = await self.http.post(self.url, content=json.dumps(message), headers=self.headers)
        response.raise_for_status()
        return response

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        response = await self._post({"jsonrpc": "2.0", "id": ident, "method": method, "params": params})
        for reply in _messages(response):
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"JSON-RPC error: {reply['error']}")
                result: dict[str, Any] = reply["result"]
                return result
        raise RuntimeError(f"no answer to {method} in {response.text[:200]!r}")

    async def open(self) -> None:
        response = await self._post({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": initialize_params()})
        session = response.headers.get("mcp-session-id")
        if session:
            self.headers["mcp-session-id"] = session
        self.headers["mcp-protocol-version"] = PROTOCOL
        await self._post({"jsonrpc": "2.0", "method": "notifications/initialized"})

    async def close(self) -> None:
        if "mcp-session-id" in self.headers:
            await self.http.delete(self.url, headers=self.headers)

    async def get_snapshot(self) -> None:
        result = await self.request("tools/call", {"name": "get_snapshot", "arguments": {"snapshot_id": SNAPSHOT_ID}})
        if result.get("isError"):
            raise RuntimeError(f"get_snapshot failed: {result.get('content')}")


def _messages(response: httpx.Response) -> list[dict[str, Any]]:
    """JSON-RPC messages of a JSON or an SSE answer."""
    if response.headers.get("content-type", "").startswith("application/json"):
        return [response.json()]
    return [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]


async def load(url: str, clients: int, calls: int, max_seconds: float) -> tuple[int, float]:
    """(calls completed, seconds) for `clients` concurrent sessions of `calls` calls each."""
    sessions: list[Session] = []
    pools: list[httpx.AsyncClient] = []
    done = 0
    try:
        for _ in range(clients):
            pool = httpx.AsyncClient(timeout=30.0)
            pools.append(pool)
            session = Session(pool, url)
            await session.open()
            sessions.append(session)
        deadline = time.perf_counter() + max_seconds

        async def worker(session: Session) -> None:
            nonlocal done
            for _ in range(calls):
                if time.perf_counter() > deadline:
                    return
                await session.get_snapshot()
                done += 1

        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for session in sessions:
                group.start_soon(worker, session)
        elapsed = time.perf_counter() - started
        for session in sessions:
            await session.close()
    finally:
        for pool in pools:
            await pool.aclose()
    return done, elapsed


async def _one_call(url: str) -> None:
    async with httpx.AsyncClient(timeout=30.0) as pool:
        session = Session(pool, url)
        await session.open()
        await session.get_snapshot()
        await session.close()


def _serve(cmd: Sequence[str], port: int, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    if cmd == BARE_CMD:
        return [*cmd, "--http", str(port)], env
    return [*cmd, "--transport", "http", "--port", str(port)], env


def run(clients: int = 20, calls: int = 10, rounds: int = 12, max_seconds: float = 10.0) -> list[Figure]:
    rps: dict[str, list[float]] = {"project": [], "bare": []}
    cpu: dict[str, list[float]] = {"project": [], "bare": []}
    idle: dict[str, float] = {}
    busy: dict[str, float] = {}
    with simulator_process() as endpoint:
        p_port, b_port = free_port(), free_port()
        p_cmd, p_env = _serve(PROJECT_UNTHROTTLED_CMD, p_port, server_env(endpoint))
        b_cmd, b_env = _serve(BARE_CMD, b_port, server_env(endpoint))
        with spawn(p_cmd, p_env) as project, spawn(b_cmd, b_env) as bare:
            wait_port(p_port, project)
            wait_port(b_port, bare)
            urls = {"project": f"http://127.0.0.1:{p_port}/mcp", "bare": f"http://127.0.0.1:{b_port}/mcp"}
            pids = {"project": project.pid, "bare": bare.pid}
            for key in ("project", "bare"):
                anyio.run(_one_call, urls[key])
            time.sleep(1.0)
            idle = {key: rss_kib(pid) / 1024 for key, pid in pids.items()}
            for key in ("project", "bare"):  # warm-up round, not counted
                anyio.run(load, urls[key], clients, 5, max_seconds)
            for r in range(rounds):
                order = ["project", "bare"] if r % 2 == 0 else ["bare", "project"]
                for key in order:
                    before = cpu_seconds(pids[key])
                    done, elapsed = anyio.run(load, urls[key], clients, calls, max_seconds)
                    cpu[key].append((cpu_seconds(pids[key]) - before) / done)
                    rps[key].append(done / elapsed)
            busy = {key: rss_kib(pid) / 1024 for key, pid in pids.items()}
        s_port = free_port()
        s_cmd, s_env = _serve(PROJECT_CMD, s_port, server_env(endpoint))
        with spawn(s_cmd, s_env) as shipped:
            wait_port(s_port, shipped)
            done, elapsed = anyio.run(load, f"http://127.0.0.1:{s_port}/mcp", clients, 2, max_seconds)
            shipped_rps = done / elapsed
    p, b = median(rps["project"]), median(rps["bare"])
    pc, bc = median(cpu["project"]) * 1000, median(cpu["bare"]) * 1000
    # The ratio is the median of each round's ratio to its neighbour of the other server:
    # load from other processes drifts over seconds, and a pair shares the same moment.
    ratio = median([x / y for x, y in zip(rps["project"], rps["bare"], strict=True)])
    cpu_ratio = median([x / y for x, y in zip(cpu["project"], cpu["bare"], strict=True)])
    return [
        Figure(
            "http_rps",
            f"HTTP get_snapshot, {clients} concurrent clients",
            "req/s",
            p,
            b,
            ratio,
            f">= {RPS_TARGET:.2f}x",
            ratio >= RPS_TARGET,
            detail={"rounds": rps, "calls_per_client": calls},
        ),
        Figure(
            "http_server_cpu",
            "HTTP: server CPU time per call",
            "ms",
            pc,
            bc,
            cpu_ratio,
            detail={"rounds_ms": {k: [round(v * 1000, 3) for v in vs] for k, vs in cpu.items()}},
        ),
        Figure(
            "http_rps_shipped_limit",
            "HTTP get_snapshot, shipped 10 req/s API limit",
            "req/s",
            shipped_rps,
            b,
            shipped_rps / b,
            detail={"note": "the API rate limiter is shared by all sessions, by design"},
        ),
        Figure(
            "rss_http",
            "idle RSS (HTTP server, after one call)",
            "MiB",
            idle["project"],
            idle["bare"],
            idle["project"] / idle["bare"],
            f"<= {RSS_TARGET:.2f}x",
            at_most(idle["project"] / idle["bare"], RSS_TARGET),
            detail={"after_load_mib": busy},
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--calls", type=int, default=10, help="calls per client per round")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--max-seconds", type=float, default=10.0, help="time cap of one round")
    args = parser.parse_args()
    print_figures(run(args.clients, args.calls, args.rounds, args.max_seconds))


if __name__ == "__main__":
    main()
