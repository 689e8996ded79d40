"""`store_redis`: the key namespace, the rate window every instance shares, and what a password-protected Redis shows.

The window and the fall-back run against a real redis-server (slow); the store's
contract is in tests/test_store.py.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from pydantic import SecretStr

from snapshot_mcp import cli
from snapshot_mcp.settings import Settings
from snapshot_mcp.store import StoreUnavailable
from snapshot_mcp.store_redis import JITTER_MARGIN, RedisStore, SharedWindow, namespace, open_redis
from tests.support import RedisServer, most_in_any_window

# Real-time windows: in a whole run these tests wait for the other workers to finish (tests/conftest.py).
pytestmark = pytest.mark.xdist_group("alone")

TOKEN = "tok-" + "x" * 40


def test_the_namespace_separates_deployments_and_hides_the_token() -> None:
    """One account's instances share keys; another token or endpoint never meets them; no token in a key."""
    one = namespace("https://api.genesiscloud.com/compute/v1", TOKEN)
    assert one == namespace("https://api.genesiscloud.com/compute/v1", TOKEN)
    assert one != namespace("https://api.genesiscloud.com/compute/v1", TOKEN + "y")
    assert one != namespace("http://127.0.0.1:8089/compute/v1", TOKEN)
    assert one.startswith("snapshot-mcp:")
    assert one.endswith(":")
    assert TOKEN not in one
    assert "x" * 8 not in one


@pytest.mark.slow
async def test_two_instances_together_stay_within_the_rate_in_every_second(redis_url: str) -> None:
    """Two windows (two instances) on one Redis, 15 requests each at once: never more than 10 in any second."""
    stores = [await open_redis(redis_url, password=None, prefix="snapshot-mcp:t:") for _ in range(2)]
    windows = [SharedWindow(store, 10.0) for store in stores]
    sent: list[float] = []

    async def burst(window: SharedWindow) -> None:
        for _ in range(15):
            await window.acquire()
            sent.append(time.monotonic())

    async with anyio.create_task_group() as tg:
        for window in windows:
            tg.start_soon(burst, window)
    for store in stores:
        await store.aclose()
    assert len(sent) == 30
    assert most_in_any_window(sent, 1.0) <= 10
    assert most_in_any_window(sent, 1.0 + JITTER_MARGIN) <= 10
    assert most_in_any_window(sent[:10], 1.0) == 10  # the first ten leave at once: no wait below the limit


@pytest.mark.slow
async def test_a_pause_on_one_instance_holds_the_other(redis_url: str) -> None:
    """A 429's Retry-After is the account's: the other instance's next request must wait too."""
    first, second = [await open_redis(redis_url, password=None, prefix="snapshot-mcp:t:") for _ in range(2)]
    await SharedWindow(first, 10.0).pause(30.0)
    wait_us = await SharedWindow(second, 10.0).ask()
    assert 29_000_000 <= wait_us <= 30_000_000
    await first.aclose()
    await second.aclose()


async def test_without_redis_the_window_paces_this_instance_alone_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Reads keep working through an outage: the local window admits, one warning says why."""
    store = RedisStore.from_url("redis://127.0.0.1:9/0", password=None, prefix="snapshot-mcp:t:")
    window = SharedWindow(store, 10.0)
    with caplog.at_level(logging.WARNING, logger="snapshot_mcp.state"):
        for _ in range(3):
            await window.acquire()
    await store.aclose()
    warnings = [r.getMessage() for r in caplog.records if "pacing this instance alone" in r.getMessage()]
    assert len(warnings) == 1
    assert window.local_admitted == 3


@pytest.mark.slow
async def test_a_password_from_the_url_or_the_setting_opens_a_protected_redis(tmp_path: Path) -> None:
    """`--state-url redis://:pw@…` or SNAPSHOT_MCP_STATE_PASSWORD; a wrong or missing one is refused at start."""
    redis = RedisServer(tmp_path, password="s3cret-redis-pw")
    redis.start()
    try:
        in_url = await open_redis(
            redis.url.replace("redis://", "redis://:s3cret-redis-pw@"), password=None, prefix="t:"
        )
        await in_url.put("k", "v", 30)
        given = await open_redis(redis.url, password="s3cret-redis-pw", prefix="t:")
        assert await given.get("k") == "v"
        await in_url.aclose()
        await given.aclose()
        for wrong in (None, "not-it"):
            with pytest.raises(StoreUnavailable, match="cannot be reached") as refused:
                await open_redis(redis.url, password=wrong, prefix="t:")
            assert "s3cret-redis-pw" not in str(refused.value)
    finally:
        redis.stop()


QUERY_PASSWORD = "q-s3cret-redis-pw"


@pytest.fixture
def protected_redis(tmp_path: Path) -> Iterator[RedisServer]:
    redis = RedisServer(tmp_path, password=QUERY_PASSWORD)
    redis.start()
    try:
        yield redis
    finally:
        redis.stop()


@pytest.mark.slow
def test_a_password_in_the_urls_query_is_never_in_the_start_up_refusal(
    protected_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """`?password=` opens Redis (redis-py reads it); a wrong one stops the start, and neither is shown or logged."""
    wrong = "wrong-" + QUERY_PASSWORD
    for password in (wrong, f"x&username=default&password={wrong}"):
        settings = Settings(simulate=True, state_url=SecretStr(f"{protected_redis.url}?password={password}"))
        assert wrong in settings.secret_values
        with pytest.raises(SystemExit) as stopped:
            cli.check_state(settings)
        message = str(stopped.value.code)
        assert message.startswith(f"snapshot-mcp: The shared state store ({protected_redis.url}?password=***")
        assert wrong not in message
    cli.check_state(Settings(simulate=True, state_url=SecretStr(f"{protected_redis.url}?password={QUERY_PASSWORD}")))
    assert all(QUERY_PASSWORD not in record.getMessage() for record in caplog.records)


@pytest.mark.slow
async def test_a_password_in_the_urls_query_is_never_in_the_unreachable_warning(
    protected_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The store opened with `?password=` loses Redis: the warning and the error show the URL without it."""
    url = f"{protected_redis.url}?password={QUERY_PASSWORD}"
    store = await open_redis(url, password=None, prefix="t:")
    await store.put("k", "v", 30)
    protected_redis.stop()
    with caplog.at_level(logging.WARNING, logger="snapshot_mcp.state"), pytest.raises(StoreUnavailable) as lost:
        await store.get("k")
    await store.aclose()
    [warning] = [r.getMessage() for r in caplog.records if "unreachable" in r.getMessage()]
    assert warning.startswith(f"shared state store {protected_redis.url}?password=*** unreachable")
    assert QUERY_PASSWORD not in warning
    assert QUERY_PASSWORD not in str(lost.value)
    assert "?password=***" in str(lost.value)
