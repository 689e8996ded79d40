"""How one request is sent: bounded answers, what counts as success, and what is retried.

Issue 12: item 5 (a 600 MiB body, a gzip bomb and a slow drip end in a `BadResponse`
that says retrying will not help, without the memory or the time), item 7 (an answer
about another snapshot is refused) and item 8 (only 202/204 mean a DELETE succeeded).
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
import zlib
from collections.abc import AsyncIterator

import anyio
import httpx
import pytest
from pydantic import SecretStr

from snapshot_mcp.client import GenesisCloudClient
from snapshot_mcp.errors import ApiUnreachable, BadResponse
from snapshot_mcp.sending import MAX_ANSWER_BYTES, SUCCESS, Answered, Done, Lost, RetryPolicy, assess
from tests.support import OTHER_SEED_ID, SEED_ID

SNAPSHOT = {"id": SEED_ID, "name": "n", "size": 1, "region": "NORD-NO-KRS-1", "status": "created"}
FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, total_timeout=2.0)


class Endless(httpx.AsyncByteStream):
    """A body that never ends (a megabyte at a time), counting what was read."""

    def __init__(self) -> None:
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while True:
            self.sent += 1024 * 1024
            yield b"x" * (1024 * 1024)


class Chunks(httpx.AsyncByteStream):
    """A body streamed as the given chunks, as a network connection hands it over (nothing read ahead)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk


class Drip(httpx.AsyncByteStream):
    """A valid answer sent one byte at a time, each byte quick, all of them slow."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for byte in b'{"snapshot": {"id": "%s"}}' % SEED_ID.encode():
            await anyio.sleep(0.05)
            yield bytes([byte])


def client_for(handler: httpx.MockTransport, **kwargs: object) -> tuple[GenesisCloudClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=handler)
    client = GenesisCloudClient(http, token=SecretStr("token-12345678"), endpoint="http://api", retry=FAST, **kwargs)  # type: ignore[arg-type]
    return client, http


async def test_an_endless_body_is_cut_at_the_cap_and_not_retried() -> None:
    """Item 5: a body without end stops at MAX_ANSWER_BYTES decoded; one attempt; retrying won't help."""
    streams: list[Endless] = []

    def endless(request: httpx.Request) -> httpx.Response:
        streams.append(Endless())
        return httpx.Response(200, stream=streams[-1], headers={"content-type": "application/json"})

    client, http = client_for(httpx.MockTransport(endless))
    async with http:
        with pytest.raises(BadResponse, match="larger than 4 MiB; retrying will not help") as caught:
            await client.get(SEED_ID)
    assert caught.value.retryable is False
    assert len(streams) == 1
    assert streams[0].sent <= MAX_ANSWER_BYTES + 2 * 1024 * 1024


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compression_bomb_is_cut_while_it_is_decompressed(encoding: str) -> None:
    """Item 5: 64 MiB of zeros compressed to ~64 KiB, in one chunk, never becomes more than the cap in memory."""
    zeros = b"\0" * (64 * 1024 * 1024)
    bomb = gzip.compress(zeros) if encoding == "gzip" else zlib.compress(zeros)
    del zeros
    assert len(bomb) < 100 * 1024
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.headers["accept-encoding"])
        return httpx.Response(200, stream=Chunks([bomb]), headers={"content-encoding": encoding})

    client, http = client_for(httpx.MockTransport(handler))
    tracemalloc.start()
    try:
        async with http:
            with pytest.raises(BadResponse, match="larger than"):
                await client.list_page()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 3 * MAX_ANSWER_BYTES  # the capped body and its copy, not 64 MiB
    assert asked == ["gzip, deflate"]


async def test_a_small_compressed_answer_is_read_and_an_unasked_encoding_is_refused() -> None:
    body = json.dumps({"snapshots": [], "total_count": 0, "page": 1, "per_page": 50}).encode()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("page") == "1":
            return httpx.Response(200, stream=Chunks([gzip.compress(body)]), headers={"content-encoding": "gzip"})
        return httpx.Response(200, stream=Chunks([body]), headers={"content-encoding": "br"})

    client, http = client_for(httpx.MockTransport(handler))
    async with http:
        page = await client.list_page(1)
        with pytest.raises(ApiUnreachable, match="could not be decoded"):
            await client.list_page(2)
    assert page.total_count == 0


async def test_a_slow_drip_is_bounded_in_total_time() -> None:
    """Item 5: each byte arrives in time, the whole answer does not: the attempt ends at its bound."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=Drip())

    client, http = client_for(httpx.MockTransport(handler), attempt_seconds=0.2)
    async with http:
        with anyio.fail_after(5), pytest.raises(BadResponse, match="took longer than"):
            await client.get(SEED_ID)


@pytest.mark.parametrize(
    ("status", "body"),
    [(302, b""), (304, b""), (200, b'{"code": "x", "message": "not deleted"}'), (201, b""), (203, b"")],
    ids=["302", "304", "200-with-error-body", "201", "203"],
)
async def test_only_202_or_204_mean_a_delete_succeeded(status: int, body: bytes) -> None:
    """Item 8: a DELETE answered anything else under 400 is a BadResponse naming the status (retried, then given up)."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        return httpx.Response(status, content=body)

    client, http = client_for(httpx.MockTransport(handler))
    async with http:
        with pytest.raises(BadResponse, match=f"HTTP {status} does not mean success for DELETE"):
            await client.delete(SEED_ID)
    assert seen == ["DELETE"] * FAST.max_attempts


@pytest.mark.parametrize("status", [202, 204])
async def test_202_and_204_mean_the_delete_was_accepted(status: int) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status)

    client, http = client_for(httpx.MockTransport(handler))
    async with http:
        await client.delete(SEED_ID)


async def test_an_answer_about_another_snapshot_is_refused() -> None:
    """Item 7: GET /snapshots/A answered with snapshot B is a BadResponse, so nobody is asked about B."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"snapshot": {**SNAPSHOT, "id": OTHER_SEED_ID}})

    client, http = client_for(httpx.MockTransport(handler))
    async with http:
        with pytest.raises(BadResponse, match=f"request for snapshot {SEED_ID} with another snapshot"):
            await client.get(SEED_ID)


async def test_the_same_id_in_another_case_is_the_same_snapshot() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"snapshot": {**SNAPSHOT, "id": SEED_ID.upper()}})

    client, http = client_for(httpx.MockTransport(handler))
    async with http:
        assert (await client.get(SEED_ID)).id == SEED_ID.upper()


@pytest.mark.parametrize(
    ("method", "statuses"),
    [("GET", {200}), ("PATCH", {200}), ("POST", {200, 201}), ("DELETE", {202, 204})],
)
def test_success_statuses_per_method(method: str, statuses: set[int]) -> None:
    """The table `assess` uses: nothing else under 400 is success."""
    assert set(SUCCESS[method]) == statuses
    for status in range(200, 400):
        assessment = assess(method, Answered(status, b"", "", None), secret="s", maybe_acted=False)  # type: ignore[arg-type]
        assert isinstance(assessment, Done) is (status in statuses), status


def test_a_lost_post_is_never_retried_but_a_refused_connection_is() -> None:
    """A POST whose request may have arrived is not re-sent; one that never left may be."""
    timeout = assess("POST", Lost(httpx.ReadTimeout("slow")), secret="s", maybe_acted=False)
    refused = assess("POST", Lost(httpx.ConnectError("refused")), secret="s", maybe_acted=False)
    assert isinstance(timeout, ApiUnreachable)
    assert "not re-sent" in str(timeout)
    assert not isinstance(refused, ApiUnreachable | Done)


def test_a_404_after_a_lost_delete_is_the_deletion() -> None:
    assessment = assess("DELETE", Answered(404, b"", "", None), secret="s", maybe_acted=True)
    assert assessment == Done(None)
