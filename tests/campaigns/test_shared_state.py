"""Several instances, one truth: two console-script instances over HTTP sharing one Redis and one API.

Each test starts a real redis-server (the session's, emptied), a simulated API on a
loopback port (`stress.api`: it stamps every request and can lose one create's answer
or refuse one DELETE) and two `snapshot-mcp --transport http --stateless` processes with
the same `--state-key` and `--state-url`, as behind a balancer. Clients speak to one
instance and then the other; the API's log says what really happened.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult

from snapshot_mcp.simulator import DEFAULT_TOKEN, Simulator
from stress.api import RecordingApi, serve_api
from tests.support import APPS, OTHER_SEED_ID, SEED_ID, RedisServer, most_in_any_window, structured, text_of
from tests.support.processes import base_env, http_server

pytestmark = pytest.mark.slow  # redis-server, two server processes, real sockets


STATE_KEY = "shared-state-key-" + "k" * 32


CREATES = "/compute/v1/snapshots"


IMPORT = {
    "name": "shared-image",
    "url": "https://images.example.com/shared.raw.zst",
    "size": 10,
    "region": "NORD-NO-KRS-1",
}


@asynccontextmanager
async def deployment(state_url: str, *args: str, api: RecordingApi | None = None) -> AsyncIterator[Any]:
    """(api, [url of instance A, url of instance B]) — both stateless, one state key, one Redis, one API."""
    api = api or RecordingApi(Simulator())
    async with serve_api(api) as endpoint, AsyncExitStack() as stack:
        env = base_env(
            GENESISCLOUD_TOKEN=DEFAULT_TOKEN,
            GENESISCLOUD_ENDPOINT=endpoint,
            SNAPSHOT_MCP_STATE_KEY=STATE_KEY,
            SNAPSHOT_MCP_STATE_URL=state_url,
        )
        urls = []
        for _ in range(2):
            url, _ = await stack.enter_async_context(http_server("--stateless", *args, env=env))
            urls.append(url)
        yield api, urls


async def call(url: str, tool: str, arguments: dict[str, Any], *, apps: bool = False) -> CallToolResult:
    async with Client(url, mode="auto", extensions=[APPS] if apps else None) as client:
        return await client.call_tool(tool, arguments)


async def test_a_create_retried_on_the_other_instance_after_a_lost_answer_makes_one_import(redis_url: str) -> None:
    async with deployment(redis_url) as (api, (a, b)):
        api.lose_creates = 1
        first = await call(a, "create_snapshot_from_url", IMPORT)
        second = await call(b, "create_snapshot_from_url", IMPORT)
        made = [r for r in api.sent("POST") if r.path == CREATES]
    assert first.is_error, text_of(first)
    assert "may have started" in text_of(first), text_of(first)
    assert not second.is_error, text_of(second)
    assert structured(second)["reused"] is True
    assert structured(second)["snapshot"]["name"] == "shared-image"
    assert len(made) == 1


async def test_identical_creates_at_once_on_both_instances_make_one_import(redis_url: str) -> None:
    results: list[CallToolResult] = []

    async def create(url: str) -> None:
        results.append(await call(url, "create_snapshot_from_url", IMPORT))

    async with deployment(redis_url) as (api, (a, b)):
        async with anyio.create_task_group() as tg:
            tg.start_soon(create, a)
            tg.start_soon(create, b)
        made = [r for r in api.sent("POST") if r.path == CREATES]
    assert [r.is_error for r in results] == [False, False], [text_of(r) for r in results]
    assert sorted(structured(r)["reused"] for r in results) == [False, True]
    assert len({structured(r)["snapshot"]["id"] for r in results}) == 1
    assert len(made) == 1


async def test_a_token_redeemed_on_one_instance_is_refused_on_the_other(redis_url: str) -> None:
    """Single use across instances, including after the DELETE it allowed failed."""
    async with deployment(redis_url, "--delete-confirmation", "token") as (api, (a, b)):
        token = structured(await call(a, "delete_snapshot", {"snapshot_id": SEED_ID}))["confirmation_token"]
        api.refuse_next_delete = True
        failed = await call(a, "delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": token})
        replayed = await call(b, "delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": token})
        other = structured(await call(b, "delete_snapshot", {"snapshot_id": OTHER_SEED_ID}))["confirmation_token"]
        deleted = await call(b, "delete_snapshot", {"snapshot_id": OTHER_SEED_ID, "confirmation_token": other})
        again = await call(a, "delete_snapshot", {"snapshot_id": OTHER_SEED_ID, "confirmation_token": other})
        deletes = [r.path.rsplit("/", 1)[1] for r in api.sent("DELETE")]
    assert failed.is_error, text_of(failed)
    assert replayed.is_error, text_of(replayed)
    assert "already used" in text_of(replayed), text_of(replayed)
    assert not deleted.is_error, text_of(deleted)
    assert structured(deleted)["deleted"] is True, text_of(deleted)
    assert again.is_error, text_of(again)
    assert "already used" in text_of(again), text_of(again)
    assert deletes == [SEED_ID, OTHER_SEED_ID]  # the refused DELETE, then the one that worked; no replay


async def test_a_card_decision_on_one_instance_is_seen_by_the_other(redis_url: str) -> None:
    async with deployment(redis_url) as (api, (a, b)):
        asked = await call(a, "delete_snapshot", {"snapshot_id": SEED_ID}, apps=True)
        meta = (asked.meta or {})["snapshot-mcp/confirmation"]
        decision = {"request_id": meta["request_id"], "nonce": meta["nonce"], "decision": "delete"}
        decided = await call(b, "confirm_deletion", decision, apps=True)
        seen = await call(a, "deletion_request", {"request_id": meta["request_id"]}, apps=True)
        replay = await call(a, "confirm_deletion", decision, apps=True)
        deletes = api.sent("DELETE")
    assert structured(asked)["outcome"] == "awaiting_confirmation"
    assert structured(decided)["outcome"] == "deleted", text_of(decided)
    assert structured(seen)["status"] == "deleted"
    assert structured(replay)["outcome"] == "already_decided"
    assert len(deletes) == 1


async def test_both_instances_together_stay_within_the_rate_limit(redis_url: str) -> None:
    """40 reads split over both instances at once: never more than 10 API requests in any second."""
    async with deployment(redis_url) as (api, (a, b)):

        async def reads(url: str) -> None:
            async with Client(url, mode="auto") as client:
                for _ in range(20):
                    result = await client.call_tool("get_snapshot", {"snapshot_id": SEED_ID})
                    assert not result.is_error, text_of(result)

        start = len(api.log)
        async with anyio.create_task_group() as tg:
            for url in (a, b, a, b):
                tg.start_soon(reads, url)
        times = api.times()[start:]
    assert len(times) >= 80
    assert most_in_any_window(times, 1.0) <= 10


async def test_redis_stopped_mid_run_fails_deletes_and_creates_closed_and_reads_go_on(tmp_path: Any) -> None:
    redis = RedisServer(tmp_path)
    redis.start()
    try:
        async with deployment(redis.url, "--delete-confirmation", "token") as (api, (a, b)):
            token = structured(await call(a, "delete_snapshot", {"snapshot_id": SEED_ID}))["confirmation_token"]
            redis.stop()
            refused = await call(b, "delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": token})
            created = await call(a, "create_snapshot_from_url", IMPORT)
            listed = await call(b, "list_snapshots", {"per_page": 5})
            redis.start()  # back on the same port: the next delete goes through
            deleted = await call(a, "delete_snapshot", {"snapshot_id": SEED_ID, "confirmation_token": token})
            writes = [r for r in api.log if r[1].method in ("DELETE", "POST")]
    finally:
        redis.stop()
    assert refused.is_error, text_of(refused)
    assert "Nothing was deleted" in text_of(refused), text_of(refused)
    assert "shared state store" in text_of(refused)
    assert created.is_error, text_of(created)
    assert "Nothing was created" in text_of(created), text_of(created)
    assert not listed.is_error, text_of(listed)
    assert not deleted.is_error, text_of(deleted)
    assert structured(deleted)["deleted"] is True, text_of(deleted)
    assert [r.method for _, r in writes] == ["DELETE"]
