"""Soak: thousands of tool calls through ONE MCP server while the API fails a share of requests.

    python stress/soak.py [--calls 10000] [--fault-rate 0.2] [--seed 1] [--mode auto|legacy] [--json]

The server is the real `build_server(...)`, driven in memory by `mcp.Client`; its API is
the embedded simulator, whose `Faults(fail_rate=..., rng=Random(seed))` gives a random
fault (429, 500, 502, 503, 504, connection refused, read time-out, connection reset,
malformed JSON, an HTML error page, a truncated body) to that share of the HTTP requests.
The calls follow a seeded, realistic mix: listings (one page, or filtered scans), look-ups,
imports with unique names (an import that errors is repeated with the same arguments,
as the error text advises), and deletes, each confirmed through elicitation.

Reported: calls, successes, error results by kind, unhandled exceptions (a crash
result, an ERROR log record, any exception out of the client other than a JSON-RPC
error, a hang), JSON-RPC errors, duplicate imports, and resident memory (VmRSS) at
start, after warm-up and at the end. The run fails (exit 1) on any unhandled exception,
JSON-RPC error or duplicate import. Everything happens in memory: no socket is opened.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import random
import re
import sys
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
from mcp import Client
from mcp.client import ClientRequestContext
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, ElicitRequestParams, ElicitResult, ErrorData
from pydantic import SecretStr

from snapshot_mcp.sending import RetryPolicy
from snapshot_mcp.server import build_server
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, KNOWN_REGIONS, Faults, Simulator

SOAK_RETRY = RetryPolicy(max_attempts=4, base_delay=0.0005, max_delay=0.002, total_timeout=1.0)
"""The real retry logic with sub-millisecond pauses, so 10,000 calls take well under a minute."""
MAX_POPULATION = 80
"""Deletes take over above this many snapshots, so a filtered scan stays one page (deterministic)."""
CALL_TIMEOUT = 30.0
STATUSES = ("creating", "created", "active", "pending_delete", "deleting", "error")
_CRASH_RE = re.compile(r"^Error executing tool [a-z_]+$")


def rss_kib() -> int:
    """This process's resident set size (VmRSS) in KiB, after a full garbage collection."""
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0  # pragma: no cover - not Linux


def error_kind(text: str) -> str:
    """Which kind of error an error result reports (read from its text)."""
    rules = (
        ("rate_limited_429", r"\[429\]"),
        ("html_page", r"HTML page"),
        ("server_error_5xx", r"\[5\d\d\]"),
        ("timeout", r"did not answer in time"),
        ("connect_refused", r"could not connect"),
        ("connection_reset", r"connection to the API failed"),
        ("bad_json", r"not valid JSON|documented shape"),
        ("not_found", r"^(Error executing tool \w+: )?Not found"),
        ("conflict_409", r"\[409\]"),
        ("not_deleted", r"Not deleted"),
    )
    for kind, pattern in rules:
        if re.search(pattern, text):
            return kind
    return "other"


class _Crashes(logging.Handler):
    """Counts ERROR (and worse) log records: the SDK logs a tool crash that way."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}")


class _Audit(logging.Handler):
    """Takes the audit lines (one per delete attempt) instead of stderr, and counts outcomes."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.outcomes: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        match = re.search(r"outcome=(\w+)", record.getMessage())
        self.outcomes[match.group(1) if match else "?"] += 1


async def _accept(context: ClientRequestContext, params: ElicitRequestParams) -> ElicitResult | ErrorData:
    """The user says yes to every delete."""
    return ElicitResult(action="accept", content={"confirm": True})


@dataclass
class SoakReport:
    """What a soak run saw."""

    calls: int = 0
    ok: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    by_tool: Counter[str] = field(default_factory=Counter)
    unhandled: int = 0
    unhandled_samples: list[str] = field(default_factory=list)
    protocol_errors: int = 0
    duplicate_creates: int = 0
    http_requests: int = 0
    faults_drawn: dict[str, int] = field(default_factory=dict)
    audit: dict[str, int] = field(default_factory=dict)
    deletes_sent: int = 0
    rss_start_kib: int = 0
    rss_warm_kib: int = 0
    rss_end_kib: int = 0
    seconds: float = 0.0
    seed: int = 0
    fault_rate: float = 0.0
    mode: str = "auto"

    @property
    def error_results(self) -> int:
        return sum(self.errors.values())

    @property
    def growth_pct(self) -> float:
        """Resident memory growth from after warm-up to the end, in percent."""
        return 100.0 * (self.rss_end_kib - self.rss_warm_kib) / max(1, self.rss_warm_kib)

    @property
    def clean(self) -> bool:
        """No crash, no JSON-RPC error, no duplicate import; every call a success or a clean error."""
        return (
            self.unhandled == 0
            and self.protocol_errors == 0
            and self.duplicate_creates == 0
            and self.ok + self.error_results == self.calls
        )

    def lines(self) -> list[str]:
        drawn = sum(self.faults_drawn.values())
        kinds = ", ".join(f"{kind} {count}" for kind, count in sorted(self.errors.items())) or "none"
        faults = ", ".join(f"{kind} {count}" for kind, count in sorted(self.faults_drawn.items())) or "none"
        return [
            f"soak: {self.calls} tool calls through one server (mode={self.mode}, fault rate {self.fault_rate:.0%}, "
            f"seed {self.seed}) in {self.seconds:.1f} s ({self.calls / max(self.seconds, 1e-9):.0f} calls/s)",
            f"  by tool: {', '.join(f'{tool} {n}' for tool, n in sorted(self.by_tool.items()))}",
            f"  successes: {self.ok}; error results: {self.error_results} ({kinds})",
            f"  unhandled exceptions: {self.unhandled}; JSON-RPC errors: {self.protocol_errors}; "
            f"duplicate imports: {self.duplicate_creates}",
            f"  HTTP requests: {self.http_requests}; faults injected: {drawn} ({faults})",
            f"  DELETEs sent: {self.deletes_sent}; audit outcomes: "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.audit.items())),
            f"  RSS: start {self.rss_start_kib / 1024:.1f} MiB, after warm-up {self.rss_warm_kib / 1024:.1f} MiB, "
            f"end {self.rss_end_kib / 1024:.1f} MiB (growth after warm-up {self.growth_pct:+.1f} %)",
            *(f"  unhandled: {sample}" for sample in self.unhandled_samples[:10]),
        ]

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(growth_pct=round(self.growth_pct, 2), clean=self.clean, error_results=self.error_results)
        return data


class _Workload:
    """A seeded, realistic sequence of tool calls, tracking what the 'agent' knows."""

    def __init__(self, rng: random.Random, sim: Simulator) -> None:
        self.rng = rng
        self.sim = sim
        self.mine: set[str] = set()  # ids of snapshots this run made, as far as the agent knows
        self.gone: list[str] = []  # ids the agent deleted
        self.seeds = sorted(sim.snapshots)
        self.made = 0
        self.retry: tuple[str, dict[str, Any], int] | None = None

    def next_call(self) -> tuple[str, dict[str, Any]]:
        rng = self.rng
        if self.retry is not None:  # the error said: call again with the same arguments
            tool, arguments, _ = self.retry
            return tool, arguments
        crowded = len(self.sim.snapshots) > MAX_POPULATION
        roll = rng.random()
        if (crowded or roll < 0.15) and self.mine:
            snapshot_id = rng.choice(sorted(self.mine))
            return "delete_snapshot", {"snapshot_id": snapshot_id, "wait": rng.random() < 0.05}
        if roll < 0.30 and not crowded:
            self.made += 1
            create: dict[str, Any] = {
                "name": f"soak-{self.made:05d}-{rng.getrandbits(32):08x}",
                "size": rng.randint(1, 500),
                "url": f"https://images.example.com/{rng.getrandbits(48):012x}.raw.zst",
                "region": rng.choice(KNOWN_REGIONS),
            }
            if rng.random() < 0.5:
                create["os_type"] = rng.choice(("linux", "windows"))
            if rng.random() < 0.05:
                create["wait"] = True
            return "create_snapshot_from_url", create
        if roll < 0.60:
            pick = rng.random()
            if pick < 0.1:
                snapshot_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            elif pick < 0.2 and self.gone:
                snapshot_id = rng.choice(self.gone)
            else:
                snapshot_id = rng.choice(sorted(self.mine) + self.seeds)
            return "get_snapshot", {"snapshot_id": snapshot_id}
        if roll < 0.80:
            return "list_snapshots", {"page": rng.randint(1, 3), "per_page": rng.choice((5, 10, 20, 50, 100))}
        filters: list[dict[str, Any]] = [
            {"region": rng.choice(KNOWN_REGIONS)},
            {"status": rng.choice(STATUSES)},
            {"name_contains": "soak-"},
            {"name_contains": rng.choice(("cuda", "win", "llm", "SOAK"))},
        ]
        return "list_snapshots", rng.choice(filters)

    def saw(self, tool: str, arguments: dict[str, Any], result: CallToolResult) -> None:
        """Learn from a result: what exists, what is gone; repeat an import that errored (twice at most)."""
        data = result.structured_content or {}
        if tool == "create_snapshot_from_url":
            if result.is_error:
                tries = self.retry[2] + 1 if self.retry is not None else 1
                self.retry = (tool, arguments, tries) if tries <= 2 else None
            else:
                self.retry = None
                self.mine.add(data["snapshot"]["id"])
            return
        if tool == "list_snapshots" and not result.is_error:
            for listed in data.get("snapshots", []):
                if listed["name"].startswith("soak-") and listed["status"] not in ("pending_delete", "deleting"):
                    self.mine.add(listed["id"])
        elif tool == "delete_snapshot":
            snapshot_id = arguments["snapshot_id"]
            text = "\n".join(block.text for block in result.content if block.type == "text")
            if data.get("deleted") or (result.is_error and error_kind(text) == "not_found"):
                self.mine.discard(snapshot_id)
                self.gone = [*self.gone[-49:], snapshot_id]


_BEFORE_ROUTING = frozenset({"429", "500", "502", "503", "504", "html"})
"""Drawn faults answered before the API acted (like a proxy or a rate limiter would)."""


def _tally(report: SoakReport, sim: Simulator, imported: Counter[str]) -> None:
    """Count the requests the last call made, then empty the simulator's log (it would grow)."""
    for request in sim.requests:
        report.http_requests += 1
        if request.method == "DELETE":
            report.deletes_sent += 1
        elif request.method == "POST" and request.fault not in _BEFORE_ROUTING:
            imported[json.loads(request.body)["name"]] += 1
    sim.requests.clear()


def _text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


async def soak(
    calls: int = 10_000,
    fault_rate: float = 0.2,
    seed: int = 1,
    *,
    mode: str = "auto",
    warmup: int | None = None,
    progress: bool = False,
) -> SoakReport:
    """Run `calls` tool calls through one server with `fault_rate` of the API requests failing."""
    report = SoakReport(seed=seed, fault_rate=fault_rate, mode=mode)
    warm_at = warmup if warmup is not None else max(1, min(1000, calls // 10))
    report.rss_start_kib = rss_kib()
    random.seed(seed)  # the client's retry jitter uses the module's generator
    # Seeded generators (S311: reproducible test data, not secrets).
    faults = Faults(fail_rate=fault_rate, rng=random.Random(seed), retry_after=0.001)  # noqa: S311
    ids = random.Random(seed + 2)  # noqa: S311
    sim = Simulator(faults=faults, id_factory=lambda: str(uuid.UUID(int=ids.getrandbits(128), version=4)))
    # Waits end on the snapshot's state (a few polls), never on the clock: the run stays deterministic.
    settings = Settings(token=SecretStr(DEFAULT_TOKEN), rate_limit=1e9, wait_timeout=10.0, elicitation_timeout=10.0)
    audit = _Audit()
    audit_logger = logging.getLogger("snapshot_mcp.audit")
    audit_logger.addHandler(audit)  # before build_server: no audit handler to stderr then
    crashes = _Crashes()
    root = logging.getLogger()
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        server = build_server(settings, http=http, retry=SOAK_RETRY, poll_interval=0.001)
        old_level = root.level
        root.setLevel(logging.WARNING)  # the SDK sets INFO: one line per HTTP request otherwise
        root.addHandler(crashes)
        workload = _Workload(random.Random(seed + 1), sim)  # noqa: S311
        imported: Counter[str] = Counter()  # how many POSTs the API applied, per name
        started = time.perf_counter()
        try:
            async with Client(server, mode=mode, elicitation_callback=_accept) as client:
                for number in range(1, calls + 1):
                    tool, arguments = workload.next_call()
                    report.calls += 1
                    report.by_tool[tool] += 1
                    try:
                        with anyio.fail_after(CALL_TIMEOUT):
                            result = await client.call_tool(tool, arguments)
                    except MCPError as exc:
                        report.protocol_errors += 1
                        report.unhandled_samples.append(f"{tool} JSON-RPC error {exc.error.code}: {exc}")
                        workload.retry = None
                        _tally(report, sim, imported)
                        continue
                    except Exception as exc:
                        report.unhandled += 1
                        report.unhandled_samples.append(f"{tool} raised {exc!r}")
                        workload.retry = None
                        _tally(report, sim, imported)
                        continue
                    text = _text(result)
                    if result.is_error:
                        if _CRASH_RE.fullmatch(text):
                            report.unhandled += 1
                            report.unhandled_samples.append(f"{tool} crashed: {text}")
                        report.errors[error_kind(text)] += 1
                    else:
                        report.ok += 1
                    workload.saw(tool, arguments, result)
                    _tally(report, sim, imported)
                    if number == warm_at:
                        report.rss_warm_kib = rss_kib()
                    if progress and number % 1000 == 0:
                        print(f"  {number} calls, {time.perf_counter() - started:.1f} s", file=sys.stderr)
                report.seconds = time.perf_counter() - started
                report.rss_end_kib = rss_kib()  # the server still up, with all it kept
        finally:
            root.removeHandler(crashes)
            root.setLevel(old_level)
            audit_logger.removeHandler(audit)
    report.unhandled += len(crashes.messages)
    report.unhandled_samples.extend(crashes.messages)
    report.duplicate_creates = sum(n - 1 for n in imported.values() if n > 1)
    report.faults_drawn = dict(sorted(faults.drawn.items()))
    report.audit = dict(sorted(audit.outcomes.items()))
    if not report.rss_warm_kib:
        report.rss_warm_kib = report.rss_end_kib
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--fault-rate", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--mode", choices=("auto", "legacy"), default="auto")
    parser.add_argument("--warmup", type=int, default=None, help="calls before the warm RSS figure (default 10%%)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    report = anyio.run(
        lambda: soak(args.calls, args.fault_rate, args.seed, mode=args.mode, warmup=args.warmup, progress=True)
    )
    if args.json:
        print(json.dumps(report.as_dict(), indent=2, sort_keys=True))
    else:
        print("\n".join(report.lines()))
    return 0 if report.clean else 1


if __name__ == "__main__":
    sys.exit(main())
