"""Load: many concurrent streamable-HTTP sessions against the real console script, loopback only.

    python stress/load.py [--sessions 50] [--calls 20] [--latency 0.05] [--rate-limit 1000]
                          [--mode legacy|auto] [--stateless-workers 10] [--json]
    python stress/load.py --instances 2 --state-url redis://127.0.0.1:6379/0 [--shared-workers 8]

Phase 1 — one `snapshot-mcp --transport http --simulate` subprocess on 127.0.0.1 whose
embedded simulator waits `--latency` seconds before every answer (`--simulate-latency`,
like a real API). `--sessions` MCP clients connect at once (2025 handshake by default:
one `Mcp-Session-Id` each), wait until all are connected, then each makes `--calls`
calls, a seeded mix of `list_snapshots` (a page) and `get_snapshot`. Reported: errors
(error results and exceptions), call latency p50/p90/p99/max, throughput over the call
phase, session set-up time, and the server's resident memory before and after.
`--rate-limit` is the server's own pacing of API requests (its default, 10/s, the real
API's quota, would alone stretch 1,000 calls over 100 s): raised here so the MCP server
itself is what gets measured.

Phase 2 — two instances `--stateless` with one shared `--state-key`, and a third with a
foreign key, all in front of ONE shared API (`snapshot-mcp simulator`), the way several
replicas sit behind a balancer. Workers alternate their calls between the two instances;
then a delete is asked on instance A and its confirmed retry (2026-07-28: the answer and
the sealed request state) is sent to instance B — it must delete — and another delete's
retry is sent to the foreign-key instance — it must be refused, with the snapshot intact.

Phase 3 — with `--instances N --state-url URL`, instead of phases 1 and 2: N instances
sharing one Redis at the real rate limit (`stress/shared.py` says what is measured).

Exit status 0 only with zero errors and both cross-instance outcomes as expected. Every
process is a child of this script, bound to 127.0.0.1, and stopped at the end; every
wait is bounded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from subprocess import PIPE
from typing import Any

import anyio
from anyio.abc import ByteReceiveStream, Process
from mcp import Client
from mcp.client.session import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, ErrorData, InputRequiredResult

from snapshot_mcp.simulator import Simulator

SCRIPT = Path(sys.executable).parent / "snapshot-mcp"
STARTUP_TIMEOUT = 30.0
CALL_TIMEOUT = 60.0
SERVING = rb"serving MCP at (http://127\.0\.0\.1:\d+/mcp)"
SIMULATOR_UP = rb"Uvicorn running on http://127\.0\.0\.1:(\d+)"
SHARED_KEY = "load-shared-state-key-0123456789abcdef"
FOREIGN_KEY = "load-foreign-state-key-fedcba9876543210"
API_TOKEN = "load-test"  # noqa: S105 - the shared simulator accepts any non-empty token
ACCEPT = ElicitResult(action="accept", content={"confirm": True})

_SEED = Simulator().snapshots
IDS = sorted(sid for sid, snap in _SEED.items() if snap["status"] in ("created", "active"))
"""Seed snapshots a look-up finds (the same in every simulator)."""
DELETE_ACROSS, DELETE_FOREIGN = IDS[0], IDS[1]
READ_IDS = IDS[2:]
"""Look-ups avoid the two snapshots the cross-instance deletes use."""


@dataclass
class Stats:
    """Latencies (seconds) and errors of one phase."""

    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    setup: list[float] = field(default_factory=list)
    wall: float = 0.0

    def summary(self) -> dict[str, Any]:
        calls = len(self.latencies)
        return {
            "calls": calls,
            "errors": len(self.errors),
            "first_errors": self.errors[:5],
            "p50_ms": _ms(percentile(self.latencies, 50)),
            "p90_ms": _ms(percentile(self.latencies, 90)),
            "p99_ms": _ms(percentile(self.latencies, 99)),
            "max_ms": _ms(max(self.latencies, default=0.0)),
            "throughput_per_s": round(calls / self.wall, 1) if self.wall > 0 else 0.0,
            "wall_s": round(self.wall, 2),
            "setup_p50_ms": _ms(percentile(self.setup, 50)),
            "setup_p99_ms": _ms(percentile(self.setup, 99)),
        }


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


@dataclass
class Report:
    sessions: int
    calls_per_session: int
    mode: str
    latency_s: float
    rate_limit: float
    phase1: dict[str, Any]
    rss_kib: dict[str, int]
    phase2: dict[str, Any]
    delete_across_instances: str
    delete_with_foreign_key: str
    ok: bool


# --------------------------------------------------------------------------- processes


def _env(**extra: str) -> dict[str, str]:
    """A minimal environment: none of the caller's GENESISCLOUD_* or SNAPSHOT_MCP_* settings."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {key: os.environ[key] for key in keep if key in os.environ}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


async def _drain(stream: ByteReceiveStream, sink: bytearray) -> None:
    async for chunk in stream:
        sink.extend(chunk)


@asynccontextmanager
async def child(command: list[str], env: dict[str, str], ready: bytes) -> AsyncIterator[tuple[str, Process]]:
    """Run `command`; yield (the first group of `ready` on its stderr, the process); SIGINT it after."""
    async with await anyio.open_process(command, stdin=PIPE, stdout=PIPE, stderr=PIPE, env=env) as process:
        assert process.stderr is not None
        assert process.stdout is not None
        err = bytearray()
        with anyio.fail_after(STARTUP_TIMEOUT):
            while (found := re.search(ready, err)) is None:
                try:
                    err.extend(await process.stderr.receive())
                except anyio.EndOfStream:
                    raise RuntimeError(f"{' '.join(command[1:])} died at start-up:\n{err.decode()}") from None
        async with anyio.create_task_group() as tg:
            tg.start_soon(_drain, process.stderr, err)
            tg.start_soon(_drain, process.stdout, bytearray())
            try:
                yield found.group(1).decode(), process
            finally:
                process.send_signal(signal.SIGINT)
                with anyio.move_on_after(15, shield=True):
                    await process.wait()
                if process.returncode is None:
                    process.kill()
        if unexpected := unexpected_tracebacks(err.decode()):
            raise RuntimeError(f"{' '.join(command[1:])} logged a traceback:\n" + "\n".join(unexpected))


def unexpected_tracebacks(log: str) -> list[str]:
    """The log records of `log` that carry a traceback, except mcp 2.3's known client-disconnect race.

    The race: a notification POST already answered 202, whose session the client terminates a moment
    later, raises ClosedResourceError inside the SDK, which then tries to send a 500 on the finished
    response (uvicorn logs that too). The client is gone and nothing is lost.
    """
    records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} )", log)
    return [
        record
        for record in records
        if "Traceback" in record
        and not (
            "_handle_post_request" in record and ("ClosedResourceError" in record or "already completed" in record)
        )
    ]


def server_command(*args: str) -> list[str]:
    return [str(SCRIPT), "--transport", "http", "--host", "127.0.0.1", "--port", "0", *args]


def rss_kib(pid: int) -> int:
    """Resident memory of a process (Linux /proc), 0 where unknown."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) if found else 0


# --------------------------------------------------------------------------- calls


def _pick(rng: random.Random) -> tuple[str, dict[str, Any]]:
    if rng.random() < 0.5:
        return "list_snapshots", {"per_page": rng.choice((5, 10, 20)), "page": 1}
    return "get_snapshot", {"snapshot_id": rng.choice(READ_IDS)}


async def timed_call(client: Client, name: str, arguments: dict[str, Any], stats: Stats) -> None:
    started = time.perf_counter()
    try:
        with anyio.fail_after(CALL_TIMEOUT):
            result = await client.call_tool(name, arguments)
    except Exception as exc:  # a load test counts failures, whatever they are
        stats.errors.append(f"{name}: {type(exc).__name__}: {exc}")
        return
    finally:
        stats.latencies.append(time.perf_counter() - started)
    if result.is_error:
        stats.errors.append(f"{name}: error result: {_text(result)[:200]}")


def _text(result: CallToolResult) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


async def phase1(url: str, sessions: int, calls: int, mode: str, seed: int) -> Stats:
    """`sessions` clients connect at once, then each makes `calls` calls; all overlap."""
    stats = Stats()
    connected = 0
    everyone = anyio.Event()
    go_started = 0.0

    async def session(index: int) -> None:
        nonlocal connected, go_started
        rng = random.Random(seed * 100_003 + index)  # noqa: S311 - a reproducible mix, not security
        started = time.perf_counter()
        try:
            with anyio.fail_after(CALL_TIMEOUT * (calls + 1)):
                async with Client(url, mode=mode) as client:
                    stats.setup.append(time.perf_counter() - started)
                    connected += 1
                    if connected == sessions:
                        go_started = time.perf_counter()
                        everyone.set()
                    await everyone.wait()
                    for _ in range(calls):
                        name, arguments = _pick(rng)
                        await timed_call(client, name, arguments, stats)
        except Exception as exc:
            stats.errors.append(f"session {index}: {type(exc).__name__}: {exc}")
            connected += 1  # never leave the others waiting
            if connected >= sessions:
                everyone.set()

    async with anyio.create_task_group() as tg:
        for index in range(sessions):
            tg.start_soon(session, index)
    stats.wall = time.perf_counter() - go_started if go_started else 0.0
    return stats


async def _accept(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
    return ACCEPT


async def phase2(a: str, b: str, workers: int, calls: int, seed: int) -> Stats:
    """Workers alternate their calls between two stateless instances (2026-07-28, no sessions)."""
    stats = Stats()
    started = time.perf_counter()

    async def worker(index: int) -> None:
        rng = random.Random(seed * 7919 + index)  # noqa: S311 - a reproducible mix, not security
        try:
            async with Client(a) as on_a, Client(b) as on_b:
                for call in range(calls):
                    name, arguments = _pick(rng)
                    await timed_call(on_a if (index + call) % 2 == 0 else on_b, name, arguments, stats)
        except Exception as exc:
            stats.errors.append(f"worker {index}: {type(exc).__name__}: {exc}")

    async with anyio.create_task_group() as tg:
        for index in range(workers):
            tg.start_soon(worker, index)
    stats.wall = time.perf_counter() - started
    return stats


async def delete_across(first_url: str, second_url: str, snapshot_id: str) -> CallToolResult | MCPError:
    """Ask on `first_url`, send the accepted retry to `second_url`; the retry's outcome."""
    async with Client(first_url, elicitation_callback=_accept) as first:
        asked = await first.session.call_tool(
            "delete_snapshot", {"snapshot_id": snapshot_id}, allow_input_required=True
        )
    if not isinstance(asked, InputRequiredResult) or not asked.input_requests:
        raise RuntimeError(f"expected a confirmation question, got {asked!r}")
    answers: dict[str, Any] = dict.fromkeys(asked.input_requests, ACCEPT)
    async with Client(second_url, elicitation_callback=_accept) as second:
        try:
            result = await second.session.call_tool(
                "delete_snapshot",
                {"snapshot_id": snapshot_id},
                input_responses=answers,
                request_state=asked.request_state,
                allow_input_required=True,
            )
        except MCPError as exc:
            return exc
    if not isinstance(result, CallToolResult):
        raise RuntimeError(f"the retry asked again: {result!r}")
    return result


async def status_of(url: str, snapshot_id: str) -> str:
    async with Client(url) as client:
        result = await client.call_tool("get_snapshot", {"snapshot_id": snapshot_id})
    if result.is_error:
        return "gone" if "not found" in _text(result).lower() else f"error: {_text(result)}"
    assert result.structured_content is not None
    return str(result.structured_content["status"])


# --------------------------------------------------------------------------- the run


async def run(options: argparse.Namespace) -> Report:
    tuning = ["--rate-limit", str(options.rate_limit)]
    async with AsyncExitStack() as stack:
        url, server = await stack.enter_async_context(
            child(
                server_command("--simulate", "--simulate-latency", str(options.latency), *tuning),
                _env(),
                SERVING,
            )
        )
        rss_before = rss_kib(server.pid)
        stats1 = await phase1(url, options.sessions, options.calls, options.mode, options.seed)
        rss_after = rss_kib(server.pid)

    async with AsyncExitStack() as stack:
        port, _ = await stack.enter_async_context(
            child([str(SCRIPT), "simulator", "--host", "127.0.0.1", "--port", "0"], _env(), SIMULATOR_UP)
        )
        api = _env(GENESISCLOUD_ENDPOINT=f"http://127.0.0.1:{port}/compute/v1", GENESISCLOUD_TOKEN=API_TOKEN)
        stateless = server_command(*tuning, "--stateless")  # keys via the environment: not in `ps`
        shared, foreign = {**api, "SNAPSHOT_MCP_STATE_KEY": SHARED_KEY}, {**api, "SNAPSHOT_MCP_STATE_KEY": FOREIGN_KEY}
        a, _ = await stack.enter_async_context(child(stateless, shared, SERVING))
        b, _ = await stack.enter_async_context(child(stateless, shared, SERVING))
        c, _ = await stack.enter_async_context(child(stateless, foreign, SERVING))
        stats2 = await phase2(a, b, options.stateless_workers, options.calls, options.seed)
        with anyio.fail_after(CALL_TIMEOUT):
            across = await delete_across(a, b, DELETE_ACROSS)
            across_status = await status_of(a, DELETE_ACROSS)
            refused = await delete_across(a, c, DELETE_FOREIGN)
            refused_status = await status_of(b, DELETE_FOREIGN)

    across_ok = (
        isinstance(across, CallToolResult)
        and not across.is_error
        and across.structured_content is not None
        and across.structured_content.get("deleted") is True
        and across_status in ("pending_delete", "deleting", "gone")
    )
    refused_ok = isinstance(refused, MCPError) and refused_status == "created"
    return Report(
        sessions=options.sessions,
        calls_per_session=options.calls,
        mode=options.mode,
        latency_s=options.latency,
        rate_limit=options.rate_limit,
        phase1=stats1.summary(),
        rss_kib={"before": rss_before, "after": rss_after},
        phase2=stats2.summary(),
        delete_across_instances=f"{_outcome(across)}; then {across_status}",
        delete_with_foreign_key=f"{_outcome(refused)}; snapshot {refused_status}",
        ok=not stats1.errors and not stats2.errors and across_ok and refused_ok,
    )


def _outcome(result: CallToolResult | MCPError) -> str:
    if isinstance(result, MCPError):
        return f"refused ({result.error.message})"
    if result.is_error:
        return f"error ({_text(result)[:120]})"
    data = result.structured_content or {}
    return f"{data.get('outcome')} (deleted={data.get('deleted')})"


def _print(report: Report) -> None:
    one, two = report.phase1, report.phase2
    print(
        f"phase 1: {report.sessions} sessions × {report.calls_per_session} calls ({report.mode}), "
        f"API latency {report.latency_s * 1000:.0f} ms, rate limit {report.rate_limit:g}/s"
    )
    print(
        f"  {one['calls']} calls, {one['errors']} errors; p50 {one['p50_ms']} ms, p90 {one['p90_ms']} ms, "
        f"p99 {one['p99_ms']} ms, max {one['max_ms']} ms; {one['throughput_per_s']} calls/s over {one['wall_s']} s"
    )
    print(f"  session set-up p50 {one['setup_p50_ms']} ms, p99 {one['setup_p99_ms']} ms")
    print(f"  server RSS {report.rss_kib['before']} KiB before, {report.rss_kib['after']} KiB after")
    print("phase 2: two --stateless instances with a shared key (plus one with a foreign key), one shared API")
    print(
        f"  {two['calls']} alternating calls, {two['errors']} errors; p50 {two['p50_ms']} ms, "
        f"p99 {two['p99_ms']} ms; {two['throughput_per_s']} calls/s"
    )
    print(f"  delete asked on A, confirmed on B: {report.delete_across_instances}")
    print(f"  delete asked on A, confirmed on the foreign-key instance: {report.delete_with_foreign_key}")
    for error in one["first_errors"] + two["first_errors"]:
        print(f"  error: {error}")
    print("OK" if report.ok else "FAILED")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sessions", type=int, default=50, choices=range(1, 201), metavar="1..200")
    parser.add_argument("--calls", type=int, default=20, choices=range(1, 1001), metavar="1..1000")
    parser.add_argument("--latency", type=float, default=0.05, help="simulated API latency, seconds (default 0.05)")
    parser.add_argument("--rate-limit", type=float, default=1000.0, help="the server's API requests/s (default 1000)")
    parser.add_argument("--mode", choices=("legacy", "auto"), default="legacy", help="legacy: one session each")
    parser.add_argument("--stateless-workers", type=int, default=10, choices=range(1, 101), metavar="1..100")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--instances", type=int, default=0, choices=range(0, 9), metavar="0..8")
    parser.add_argument("--state-url", default="", help="with --instances: the Redis every instance shares")
    parser.add_argument("--shared-workers", type=int, default=8, choices=range(1, 101), metavar="1..100")
    parser.add_argument("--shared-rate", type=float, default=10.0, help="with --instances: their rate limit")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


@asynccontextmanager
async def instance(args: list[str], env: dict[str, str]) -> AsyncIterator[str]:
    """One `snapshot-mcp --transport http` with `args` and `env`; its MCP URL."""
    async with child(server_command(*args), _env(**env), SERVING) as (url, _):
        yield url


def main_shared(options: argparse.Namespace) -> int:
    from stress.shared import print_shared, run_shared

    if not options.state_url:
        raise SystemExit("--instances needs --state-url redis://host:port/db")
    report = anyio.run(run_shared, options, instance)
    if options.json:
        print(json.dumps({**asdict(report), "ok": report.ok}, indent=2))
    else:
        print_shared(report)
        print("OK" if report.ok else "FAILED")
    return 0 if report.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_args(argv)
    if options.instances:
        return main_shared(options)
    report = anyio.run(run, options)
    if options.json:
        print(json.dumps(asdict(report), indent=2))
    else:
        _print(report)
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
