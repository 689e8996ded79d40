"""Long operations show progress and stay bounded: filtered scans and waits."""

import httpx
import pytest
from pydantic import SecretStr

from snapshot_mcp import client as client_module
from snapshot_mcp.client import GenesisCloudClient
from snapshot_mcp.errors import WaitTimeout
from snapshot_mcp.settings import Settings
from snapshot_mcp.simulator import DEFAULT_TOKEN, Faults, Simulator
from tests.support import FAST_RETRY, MODES, SEED_ID, connect, text_of

ENDPOINT = "https://api.genesiscloud.com/compute/v1"


async def test_scan_reports_each_page() -> None:
    """scan() calls on_page after every page, counting up to the pages it reads."""
    sim = Simulator()
    sim.add_many(238)  # 250 in all: three pages of 100
    seen: list[tuple[int, int]] = []

    async def on_page(read: int, pages: int) -> None:
        seen.append((read, pages))

    async with httpx.AsyncClient(transport=sim.transport()) as http:
        api = GenesisCloudClient(http, token=SecretStr(DEFAULT_TOKEN), endpoint=ENDPOINT, rate_limit=1e6)
        result = await api.scan(api.snapshot_pages(), on_page=on_page)
    assert len(result.items) == 250
    assert seen[0] == (1, 3)
    assert sorted(seen) == [(1, 3), (2, 3), (3, 3)]


@pytest.mark.parametrize("mode", MODES)
async def test_filtered_list_sends_progress(settings: Settings, mode: str) -> None:
    """A filtered list_snapshots reports scan progress to a client that asked for it."""
    sim = Simulator()
    sim.add_many(238)
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with connect(settings, sim, mode=mode) as client:
        result = await client.call_tool("list_snapshots", {"name_contains": "bulk"}, progress_callback=on_progress)
    assert not result.is_error, text_of(result)
    assert [u[0] for u in updates] == sorted(u[0] for u in updates)
    assert updates[-1][:2] == (3, 3)
    assert updates[-1][2] == "scanned page 3 of 3"


async def test_wait_stops_a_poll_that_outlives_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """A poll still waiting on the API at the deadline is cut after the grace: the last state is reported."""
    monkeypatch.setattr(client_module, "POLL_GRACE", 0.05)
    sim = Simulator(create_polls=1_000)
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        api = GenesisCloudClient(http, token=SecretStr(DEFAULT_TOKEN), endpoint=ENDPOINT, retry=FAST_RETRY)
        first = await api.get(SEED_ID)
        polls: list[int] = []

        async def hang_after_first(snapshot: object, count: int, elapsed: float) -> None:
            polls.append(count)
            sim.faults = Faults(latency=30.0)  # every later answer takes longer than the whole wait

        result = await api.wait(SEED_ID, until={"never"}, timeout=0.05, interval=0.01, on_progress=hang_after_first)
    assert result.reached is False
    assert result.snapshot == first
    assert polls == [1]
    assert result.elapsed < 5.0  # not the 30 s the API would have taken


async def test_wait_without_any_answer_raises_wait_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """If no poll ever answers within the wait and its grace, the wait says so instead of hanging."""
    monkeypatch.setattr(client_module, "POLL_GRACE", 0.05)
    sim = Simulator(faults=Faults(latency=30.0))
    async with httpx.AsyncClient(transport=sim.transport()) as http:
        api = GenesisCloudClient(http, token=SecretStr(DEFAULT_TOKEN), endpoint=ENDPOINT, retry=FAST_RETRY)
        with pytest.raises(WaitTimeout, match="did not answer within the wait"):
            await api.wait(SEED_ID, timeout=0.05)
