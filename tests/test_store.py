"""`store.Store`: one contract, two stores — the in-memory default and Redis (slow: a real redis-server).

Every case runs against both, so whatever the safety code relies on (a claim taken
once, a swap that loses when the value moved, expiry) holds in either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import pytest
from redis.asyncio import Redis

from snapshot_mcp.store import MemoryStore, Store, StoreUnavailable
from snapshot_mcp.store_redis import RedisStore, open_redis
from tests.support import VirtualClock

PREFIX = "snapshot-mcp:test:"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.slow)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def opened(kind: str, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    if kind == "memory":
        store: Store = MemoryStore()
    else:
        store = await open_redis(request.getfixturevalue("redis_url"), password=None, prefix=PREFIX)
    try:
        yield store
    finally:
        await store.aclose()


async def test_get_of_an_absent_key_is_none(kind: str, request: pytest.FixtureRequest) -> None:
    async with opened(kind, request) as store:
        assert await store.get("nothing") is None


async def test_put_replaces_and_delete_removes(kind: str, request: pytest.FixtureRequest) -> None:
    async with opened(kind, request) as store:
        await store.put("k", "one", 60)
        await store.put("k", "two", 60)
        assert await store.get("k") == "two"
        await store.delete("k")
        await store.delete("k")  # absent: no error
        assert await store.get("k") is None


async def test_put_once_is_taken_by_exactly_one_of_many_racers(kind: str, request: pytest.FixtureRequest) -> None:
    """The claim every single-use rule stands on: twenty concurrent claims, one winner."""
    async with opened(kind, request) as store:
        wins: list[str] = []

        async def claim(who: str) -> None:
            if await store.put_once("claim", who, 60):
                wins.append(who)

        async with anyio.create_task_group() as tg:
            for index in range(20):
                tg.start_soon(claim, f"racer-{index}")
        assert len(wins) == 1
        assert await store.get("claim") == wins[0]


async def test_swap_replaces_only_the_expected_value(kind: str, request: pytest.FixtureRequest) -> None:
    async with opened(kind, request) as store:
        assert not await store.swap("s", "pending", "decided", 60)  # absent
        await store.put("s", "pending", 60)
        assert await store.swap("s", "pending", "decided", 60)
        assert not await store.swap("s", "pending", "again", 60)  # a second decision loses
        assert await store.get("s") == "decided"


async def test_delete_if_removes_only_the_expected_value(kind: str, request: pytest.FixtureRequest) -> None:
    """A claim given back only by its holder: another value (a later claim) stays."""
    async with opened(kind, request) as store:
        assert not await store.delete_if("c", "mine")  # absent
        await store.put("c", "theirs", 60)
        assert not await store.delete_if("c", "mine")
        assert await store.get("c") == "theirs"
        await store.put("c", "mine", 60)
        assert await store.delete_if("c", "mine")
        assert await store.get("c") is None
        assert await store.put_once("c", "next", 60)  # free again at once


async def test_incr_counts_from_one(kind: str, request: pytest.FixtureRequest) -> None:
    async with opened(kind, request) as store:
        assert [await store.incr("n", 60) for _ in range(3)] == [1, 2, 3]


def test_memory_store_values_expire_with_their_ttl() -> None:
    clock = VirtualClock()
    store = MemoryStore(clock=clock)

    async def run() -> None:
        await store.put("a", "1", 10)
        assert await store.put_once("b", "1", 5)
        assert await store.incr("c", 5) == 1
        clock.now += 5
        assert await store.get("a") == "1"
        assert await store.get("b") is None
        assert await store.put_once("b", "2", 5)  # expired: free to claim again
        assert await store.incr("c", 5) == 1
        assert len(store) == 3
        clock.now += 5
        assert await store.get("a") is None
        assert len(store) == 0

    anyio.run(run)


@pytest.mark.slow
async def test_redis_keys_carry_the_prefix_and_a_ttl(redis_url: str) -> None:
    """Every key is under the deployment's prefix and expires; nothing else is written."""
    store = await open_redis(redis_url, password=None, prefix=PREFIX)
    await store.put("a", "1", 30)
    await store.put_once("b", "1", 20)
    await store.put("c", "x", 30)
    await store.swap("c", "x", "y", 40)
    await store.incr("d", 50)
    async with Redis.from_url(redis_url, decode_responses=True) as raw:
        keys = sorted(await raw.keys("*"))
        ttls = {key: await raw.pttl(key) for key in keys}
    await store.aclose()
    assert keys == [PREFIX + name for name in "abcd"]
    assert all(0 < ttls[PREFIX + name] <= limit * 1000 for name, limit in zip("abcd", (30, 20, 40, 50), strict=True))
    assert ttls[PREFIX + "c"] > 30_000  # the swap set the new TTL


@pytest.mark.slow
async def test_an_unreachable_redis_raises_store_unavailable_everywhere(redis_url: str) -> None:
    """Refused at start (`open_redis`), and every operation of a store whose Redis went away."""
    with pytest.raises(StoreUnavailable, match="cannot be reached"):
        await open_redis("redis://127.0.0.1:9/0", password=None, prefix=PREFIX)
    store = RedisStore.from_url("redis://127.0.0.1:9/0", password=None, prefix=PREFIX)
    operations = [
        store.get("k"),
        store.put("k", "v", 1),
        store.put_once("k", "v", 1),
        store.swap("k", "v", "w", 1),
        store.incr("k", 1),
        store.delete("k"),
        store.delete_if("k", "v"),
    ]
    for operation in operations:
        with pytest.raises(StoreUnavailable):
            await operation
    await store.aclose()
