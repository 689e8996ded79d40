"""Load on several instances sharing one Redis: no error, no duplicate create, never over the API's rate.

    python stress/load.py --instances 2 --state-url redis://127.0.0.1:6379/0 [--shared-workers 8] [--calls 20]

(phase 3 of `stress/load.py`; run on its own when `--instances` is given). `--instances`
`snapshot-mcp --transport http --stateless` processes share one `--state-key` and one
`--state-url`, with the server's real rate limit (10 requests/s unless `--shared-rate`),
in front of ONE simulated API served from this process (`stress.api`), which stamps
every request as it arrives. Workers spread their calls over the instances in turn:
mostly `get_snapshot` and `list_snapshots`, and creates from a small pool of identical
requests (every worker imports the same few images, on whichever instance it reaches),
with the answers to the first two imports the API makes lost (a proxy's 502 after the
API acted), so their retries, on any instance, must find them instead of importing again.

Reported: calls and errors (a lost answer's "may have started" counts as expected, not
as an error), how many snapshots each create request made (must be one), and the most
API requests that arrived in any one-second window (must not exceed the limit).
"""

from __future__ import annotations

import argparse
import math
import random
import time
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client
from mcp.types import CallToolResult

from snapshot_mcp.simulator import Simulator
from stress.api import RecordingApi, most_in_any_window, serve_api

STATE_KEY = "load-shared-state-key-0123456789abcdef"
IMAGES = 4
"""Distinct create requests; every worker sends each of them, on any instance."""
LOST_ANSWERS = 2
"""The first imports whose answers are lost after the API acted."""
CALL_TIMEOUT = 60.0


@dataclass
class SharedReport:
    instances: int
    workers: int
    calls: int
    rate_limit: float
    errors: list[str] = field(default_factory=list)
    lost_answers: int = 0
    snapshots_per_create: dict[str, int] = field(default_factory=dict)
    api_requests: int = 0
    most_in_one_second: int = 0
    wall_s: float = 0.0

    @property
    def ok(self) -> bool:
        within = self.most_in_one_second <= max(1, math.floor(self.rate_limit))
        once = all(count == 1 for count in self.snapshots_per_create.values())
        complete = len(self.snapshots_per_create) == IMAGES and self.lost_answers == LOST_ANSWERS
        return not self.errors and once and within and complete


def _image(index: int) -> dict[str, Any]:
    return {
        "name": f"load-image-{index}",
        "url": f"https://images.example.com/load-{index}.raw.zst",
        "size": 10 + index,
        "region": "NORD-NO-KRS-1",
    }


def _pick(rng: random.Random, ids: list[str]) -> tuple[str, dict[str, Any]]:
    draw = rng.random()
    if draw < 0.25:
        return "create_snapshot_from_url", _image(rng.randrange(IMAGES))
    if draw < 0.45:
        return "list_snapshots", {"per_page": 10}
    return "get_snapshot", {"snapshot_id": rng.choice(ids)}


class _Load:
    def __init__(self, api: RecordingApi, urls: list[str], report: SharedReport, seed: int) -> None:
        self.api, self.urls, self.report, self.seed = api, urls, report, seed
        self.ids = sorted(sid for sid, snap in api.sim.snapshots.items() if snap["status"] == "created")

    async def worker(self, index: int) -> None:
        rng = random.Random(self.seed * 7919 + index)  # noqa: S311 - a reproducible mix, not security
        clients = [Client(url, mode="auto") for url in self.urls]
        async with AsyncExitStack() as stack:
            opened = [await stack.enter_async_context(client) for client in clients]
            calls = [("create_snapshot_from_url", _image(i)) for i in range(IMAGES)]
            calls += [_pick(rng, self.ids) for _ in range(max(0, self.report.calls - IMAGES))]
            rng.shuffle(calls)
            for turn, (name, arguments) in enumerate(calls):
                await self.call(opened[(index + turn) % len(opened)], name, arguments)

    async def call(self, client: Client, name: str, arguments: dict[str, Any]) -> None:
        try:
            with anyio.fail_after(CALL_TIMEOUT):
                result = await client.call_tool(name, arguments)
        except Exception as exc:  # a load test counts failures, whatever they are
            self.report.errors.append(f"{name}: {type(exc).__name__}: {exc}")
            return
        if result.is_error and "may have started" in _text(result):
            self.report.lost_answers += 1  # expected once per answer the API lost (checked at the end)
        elif result.is_error:
            self.report.errors.append(f"{name}: {_text(result)[:200]}")


def _text(result: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def run_shared(options: argparse.Namespace, start: Any) -> SharedReport:
    """Phase 3; `start(command_args, env)` starts one instance and yields its MCP URL (`stress.load.child`)."""
    report = SharedReport(options.instances, options.shared_workers, options.calls, options.shared_rate)
    api = RecordingApi(Simulator(), lose_creates=LOST_ANSWERS)
    async with serve_api(api) as endpoint, AsyncExitStack() as stack:
        env = {
            "GENESISCLOUD_ENDPOINT": endpoint,
            "GENESISCLOUD_TOKEN": "load-test",
            "SNAPSHOT_MCP_STATE_KEY": STATE_KEY,
            "SNAPSHOT_MCP_STATE_URL": options.state_url,
        }
        args = ["--stateless", "--rate-limit", str(options.shared_rate)]
        urls = [await stack.enter_async_context(start(args, env)) for _ in range(options.instances)]
        load = _Load(api, urls, report, options.seed)
        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for index in range(options.shared_workers):
                tg.start_soon(load.worker, index)
        report.wall_s = round(time.perf_counter() - started, 2)
    made = Counter(snap["name"] for snap in api.sim.snapshots.values() if snap["name"].startswith("load-image-"))
    report.snapshots_per_create = dict(sorted(made.items()))
    if report.lost_answers != len(api.lost):
        report.errors.append(f"{report.lost_answers} 'may have started' answers for {len(api.lost)} lost answers")
    report.api_requests = len(api.log)
    report.most_in_one_second = most_in_any_window(api.times(), 1.0)
    return report


def print_shared(report: SharedReport) -> None:
    print(
        f"phase 3: {report.instances} --stateless instances sharing Redis, {report.workers} workers × "
        f"{report.calls} calls, rate limit {report.rate_limit:g}/s, one shared API"
    )
    print(
        f"  {report.workers * report.calls} calls, {len(report.errors)} errors, {report.lost_answers} create "
        f"answers lost on purpose; {report.wall_s} s"
    )
    print(f"  snapshots made per create request: {report.snapshots_per_create}")
    print(f"  API requests: {report.api_requests}; most in any 1-second window: {report.most_in_one_second}")
    for error in report.errors[:5]:
        print(f"  error: {error}")
